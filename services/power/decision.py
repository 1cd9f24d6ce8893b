"""The controller's inputs (a battery reading) and its output (a Decision with reason and timers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol


class BatteryReading(Protocol):
    """One reading from any battery source (services.battery's readings fit; so does BatterySample)."""

    soc_pct: float | None
    pv_w: float | None
    load_w: float | None
    battery_w: float | None  # + = discharging, - = charging
    grid_w: float | None  # + = import, - = export; None = not metered
    measured_at: float  # epoch seconds when the device measured it


@dataclass(frozen=True)
class BatterySample:
    """A plain BatteryReading (tests, the bench)."""

    soc_pct: float | None
    pv_w: float | None = None
    load_w: float | None = None
    battery_w: float | None = None
    grid_w: float | None = None
    measured_at: float = 0.0


def fmt_duration(seconds: float) -> str:
    """90 -> "1:30", 4000 -> "1:06:40"."""
    s = max(0, int(round(seconds)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_pct(value: float) -> str:
    """54.0 -> "54%", 54.5 -> "54.5%"."""
    return f"{value:.0f}%" if abs(value - round(value)) < 0.05 else f"{value:.1f}%"


@dataclass(frozen=True)
class Timer:
    """A pending change: what, to which level, and when ("raising to 70% in 1:20")."""

    action: str  # "raise", "lower", "start", "stop", "failsafe_off"
    target_percent: float
    at: float  # epoch seconds when it happens at the earliest
    remaining_sec: float
    text: str


@dataclass(frozen=True)
class PriceBand:
    """The price layer's limits on the solar policy: never below ``floor``, never above ``ceiling`` (percent).

    floor: the share of the fleet that mining from the grid pays for at today's price (or 100 %
    while the price is below ``always_below`` or among the cheapest hours); ceiling: the share
    still worth running on PV when its export price is given up. The reasons name the prices.
    """

    floor: float
    ceiling: float
    floor_reason: str
    ceiling_reason: str


@dataclass(frozen=True)
class Decision:
    """One tick's result: the fleet's power and why."""

    at: float  # epoch seconds of the tick
    enabled: bool  # autocontrol switched on (when off the runtime must not apply target_percent)
    policy: str  # "ratchet" or "surplus"
    target_percent: float  # fleet power, 0-100 % of the fleet's rated watts
    target_w: float | None  # target_percent of rated_w, when rated_w was given
    cap_percent: float | None  # the ratchet latch (None under the surplus policy)
    reason: str  # "SOC 54% -> cap 60%", "battery data 11 min old -> fail-safe"
    source: str  # what decided: "safety", "override", "ems", "rules", "price" or "policy" (= layer)
    failsafe: bool  # stale or missing battery data: the configured fail-safe is in force
    emergency: bool  # battery emergency (SOC at or below emergency_soc) latched
    lowest: bool  # fail-safe "lowest" stage: every running miner to its own lowest setting
    alert: str | None  # something a human should know (stale data), else None
    changed: bool  # target differs from the previous tick's
    battery_age_sec: float | None  # age of the reading used (None = no reading)
    soc_pct: float | None
    night: bool | None  # None = not evaluated
    timers: tuple[Timer, ...] = ()
    next_change_at: float | None = None  # earliest time a non-emergency change is allowed
    # The precedence layer that decided (services/control: safety > override > ems > rules > price >
    # policy; ``source`` says the same, kept for old clients) and the rule that fired, if any.
    layer: str = "policy"
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the API and the event log."""
        return asdict(self)
