"""Driver interface shared by every miner family: status model, capabilities, errors.

Units live in the field names (``hashrate_hs`` is hashes per second, ``power_w``
watts, ``temp_c`` degrees Celsius) and every driver converts once, here-bound,
so nothing downstream converts again. A value the firmware does not report is
``None``, never a made-up 0 (a false 0 W or 0 H/s draws lies on the charts).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .tuning import Tuning

# --- capabilities -----------------------------------------------------------
# Names of the control actions a driver may support. The API answers 409 for an
# action that is not in a driver's ``capabilities``, and the UI hides it.
RESTART = "restart"
SLEEP = "sleep"
WAKE = "wake"
POWER_WATTS = "power_watts"
POWER_PERCENT = "power_percent"
MODE = "mode"
FREQUENCY = "frequency"
FAN = "fan"
POOLS = "pools"
CHIPS = "chips"  # a read, not an action: per-chip data via read_chips()
REBOOT = "reboot"  # reboot the whole device, where RESTART only restarts the mining process (Vnish)
AUTODOWNSCALE = "autodownscale"  # Vnish 3.x automatic frequency downscaling settings
THERMAL = "thermal"  # a thermal (fan-control target) temperature via set_thermal_target(); tuning() reads it
ALL_CAPABILITIES = (RESTART, REBOOT, SLEEP, WAKE, POWER_WATTS, POWER_PERCENT, MODE, FREQUENCY, FAN, POOLS, CHIPS,
                    AUTODOWNSCALE, THERMAL)

SHA256D = "sha256d"
SCRYPT = "scrypt"


# --- errors -----------------------------------------------------------------
class MinerError(Exception):
    """Any failure talking to a miner; the message is safe to show to a user."""


class MinerUnreachable(MinerError):
    """No answer: connection refused, reset, timed out, or the deadline passed."""


class MinerAuthError(MinerError):
    """The miner refused us: wrong credentials, or an access rule such as AxeOS's private-range check."""


class MinerProtocolError(MinerError):
    """The miner answered, but not in the shape its firmware is known to use."""


class NotSupported(MinerError):
    """The firmware cannot do this action; the message says why."""


# --- status model -----------------------------------------------------------
@dataclass(slots=True)
class BoardStatus:
    """One hash board / chain / ASIC group as the firmware reports it."""

    index: int
    hashrate_hs: float | None = None
    expected_hashrate_hs: float | None = None
    temp_c: float | None = None  # board (PCB) temperature
    chip_temp_c: float | None = None  # hottest chip on the board
    chips: int | None = None  # chips the firmware found
    frequency_mhz: float | None = None
    voltage_mv: float | None = None
    chip_states: str | None = None  # e.g. Antminer chain_acs: "oooo oooo", 'o' = answering
    hardware_errors: int | None = None


@dataclass(slots=True)
class ChipStatus:
    """One ASIC chip, for the firmwares that report chips (Vnish, Antminer chain_acs, LuxOS)."""

    board: int
    index: int
    hashrate_hs: float | None = None
    state: str | None = None  # "ok", or the firmware's word/letter for a problem chip
    temp_c: float | None = None
    frequency_mhz: float | None = None
    voltage_mv: float | None = None
    errors: int | None = None


@dataclass(slots=True)
class PoolStatus:
    """One configured pool; never carries the pool password."""

    url: str
    user: str = ""
    status: str = ""  # firmware words: "Alive", "Dead", "connected", ...
    active: bool = False
    priority: int | None = None
    accepted: int | None = None
    rejected: int | None = None


@dataclass(slots=True)
class PoolConfig:
    """A pool to write to a miner (the password goes to the miner, never back out)."""

    url: str
    user: str
    password: str = field(default="x", repr=False)  # secrets never in reprs or logs


@dataclass(slots=True)
class MinerStatus:
    """Everything one read of a miner returned, in explicit units."""

    hashrate_hs: float | None = None
    expected_hashrate_hs: float | None = None
    algorithm: str = SHA256D
    power_w: float | None = None
    temp_c: float | None = None  # hottest chip or board temperature reported
    fan_rpm: list[int] = field(default_factory=list)
    fan_percent: float | None = None
    boards: list[BoardStatus] = field(default_factory=list)
    pools: list[PoolStatus] = field(default_factory=list)
    uptime_s: int | None = None
    shares_accepted: int | None = None
    shares_rejected: int | None = None
    # Best share difficulty, as the firmware reports it (docs/miners.md "Best difficulty" says
    # which field each family fills). best_difficulty: the firmware's all-time counter (AxeOS
    # NVS, NerdOS, LuxOS "Best Share", NMAxe's second value); best_session_difficulty: since the last
    # boot or mining-process restart (every cgminer-API "Best Share"). A block is found when a
    # share reaches the network difficulty.
    best_difficulty: float | None = None
    best_session_difficulty: float | None = None
    model: str | None = None
    firmware: str | None = None  # firmware name, e.g. "AxeOS", "cgminer", "bmminer"
    firmware_version: str | None = None
    mac: str | None = None
    hostname: str | None = None
    frequency_mhz: float | None = None
    voltage_mv: float | None = None  # core voltage setting
    state: str = "mining"  # "mining", "paused", "sleeping", "idle", "error"
    errors: list[str] = field(default_factory=list)

    @property
    def efficiency_j_th(self) -> float | None:
        """Joules per terahash, or None when power or hashrate is unknown or zero."""
        if self.power_w is None or not self.hashrate_hs:
            return None
        return self.power_w / (self.hashrate_hs / 1e12)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, with the computed efficiency."""
        data = asdict(self)
        data["efficiency_j_th"] = self.efficiency_j_th
        return data


@dataclass(slots=True)
class Credentials:
    """Login for a miner's control interface; repr never shows the password."""

    username: str = ""
    password: str = ""

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


# --- driver interface -------------------------------------------------------
class MinerDriver(ABC):
    """One miner of one firmware family. Synchronous; every call has a timeout.

    A driver instance is used by one thread at a time (the FleetManager never
    polls the same miner twice at once), so HTTP drivers may keep a
    ``requests.Session`` of their own.
    """

    family: ClassVar[str] = ""
    default_port: ClassVar[int] = 0
    capabilities: ClassVar[frozenset[str]] = frozenset()
    # Named modes accepted by set_mode(), in order from least to most power.
    modes: ClassVar[tuple[str, ...]] = ()
    # Watts set_power_watts() can land on where the firmware sets power by discrete steps
    # (Vnish 1.x autotune presets, LuxOS profiles), least first; () = any whole watt.
    power_steps_w: ClassVar[tuple[float, ...]] = ()
    # (lowest, highest) watts set_power_watts() accepts, where the firmware publishes its range
    # (BOS+ /configuration/constraints); None = unknown. One tuple, so a reader never sees half an update.
    power_range_w: ClassVar[tuple[float, float] | None] = None
    # Used when the user gave none: the firmware's factory login (e.g. Antminer root/root).
    default_credentials: ClassVar[Credentials | None] = None

    def __init__(
        self,
        host: str,
        *,
        port: int | None = None,
        timeout: float = 3.0,
        credentials: Credentials | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else self.default_port
        self.timeout = timeout
        self.credentials = credentials or self.default_credentials or Credentials()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host}:{self.port})"

    @abstractmethod
    def read(self) -> MinerStatus:
        """Read the miner's current status (raises MinerError on failure)."""

    def close(self) -> None:
        """Release pooled connections; the driver stays usable."""

    # Control actions. A family overrides what it supports and lists it in
    # ``capabilities``; the defaults say clearly that it cannot.
    def _unsupported(self, action: str) -> NotSupported:
        return NotSupported(f"{self.family or type(self).__name__} firmware cannot {action}")

    def restart(self) -> None:
        """Restart the miner (or its mining process, where that is all the firmware offers)."""
        raise self._unsupported("restart")

    def sleep(self) -> None:
        """Stop hashing, staying reachable."""
        raise self._unsupported("sleep")

    def wake(self) -> None:
        """Resume hashing after sleep()."""
        raise self._unsupported("wake")

    def set_power_watts(self, watts: int) -> None:
        """Set a power target or limit in watts."""
        raise self._unsupported("set a power target in watts")

    def set_power_percent(self, percent: int) -> None:
        """Set power as a percent of nominal."""
        raise self._unsupported("set power in percent")

    def set_mode(self, mode: str) -> None:
        """Switch to one of ``modes``."""
        raise self._unsupported("change mode")

    def set_frequency(self, mhz: int, voltage_mv: int | None = None, board: int | None = None) -> None:
        """Set the ASIC frequency (and core voltage where given)."""
        raise self._unsupported("set frequency")

    def set_fan(self, percent: int | None) -> None:
        """Set a fixed fan speed in percent; None returns to automatic control."""
        raise self._unsupported("set the fan")

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Replace the pool list, first = highest priority."""
        raise self._unsupported("change pools")

    def reboot(self) -> None:
        """Reboot the whole device (REBOOT capability)."""
        raise self._unsupported("reboot the device")

    def set_autodownscale(self, enabled: bool, **settings: int | None) -> None:
        """Vnish-style automatic frequency downscaling (AUTODOWNSCALE capability)."""
        raise self._unsupported("change auto-downscale settings")

    def read_chips(self) -> list[ChipStatus]:
        """Per-chip hashrate and state (CHIPS capability)."""
        raise self._unsupported("report per-chip data")

    def tuning(self) -> "Tuning":
        """Per-board frequency/voltage and thermal target with their limits (FREQUENCY or THERMAL drivers)."""
        raise self._unsupported("report its tuning settings")

    def set_thermal_target(self, celsius: int) -> str | None:
        """Set the temperature the firmware's fan control holds (THERMAL capability)."""
        raise self._unsupported("set a thermal target")
