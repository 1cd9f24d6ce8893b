"""Bitaxe / AxeOS (ESP-Miner) and NerdQAxe++ (NerdOS) over HTTP on port 80.

Facts (reference section 3): no login, but an access rule answers 401 to any
client outside 10/8, 172.16/12 and 192.168/16; hashrates are GH/s, input
voltage mV, current mA; PATCH /api/system answers 200 with an empty body and
silently ignores keys it does not know, so every write is read back; setting
names changed with the version (fanspeed -> manualFanSpeed at v2.12, flat
stratum keys -> pools[] at v2.15); pause/resume exist from v2.14 only.

Modes (eco/standard/turbo/overclock) are frequency + core-voltage presets per
ASIC, derived by one rule from the firmware's own option lists (see
``mode_presets``); NerdOS has no pause: its ``/api/system/shutdown`` stops the
ASICs until the next restart, so waking a NerdQAxe restarts it.
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from . import http
from .base import (
    CHIPS,
    FAN,
    FREQUENCY,
    MODE,
    POOLS,
    RESTART,
    SLEEP,
    WAKE,
    BoardStatus,
    ChipStatus,
    MinerAuthError,
    MinerDriver,
    MinerError,
    MinerProtocolError,
    MinerStatus,
    NotSupported,
    PoolConfig,
    PoolStatus,
)
from .stratum import validate_pools
from .values import difficulty, integer, mac_address, num, positive

log = logging.getLogger(__name__)

GH = 1e9
Version = tuple[int, int, int]

AXEOS_401 = ("AxeOS refused this controller's address (401): AxeOS only answers clients in 10/8, "
             "172.16/12, 192.168/16; run the controller on the miner's LAN")
NERDOS_401 = ("NerdQAxe refused this request (401): NerdOS only answers clients on its LAN (10/8, 172.16/12, "
              "192.168/16), and needs a TOTP code for writes when OTP is enabled")
NERDOS_OTP = ("NerdQAxe++ has OTP enabled: NerdOS accepts settings, restart and shutdown only with a 6-digit TOTP "
              "code (X-TOTP header) or an OTP session token, which this controller does not hold; disable OTP in "
              "the NerdOS web UI to control it from here")

# First digit of boardVersion -> product line (ESP-Miner config-<board>.cvs devicemodel:
# 2xx ultra, 302/303 hex, 4xx supra, 6xx gamma, 800x gamma turbo; BM1397 Max boards are "0.11"/"2.2").
_BOARD_LINES = {"2": "Ultra", "3": "Hex", "4": "Supra", "6": "Gamma", "8": "Gamma Turbo"}
_MAX_BOARDS = {"0.11", "2.2"}

V2_9: Version = (2, 9, 0)  # asicCount moved to /api/system/asic (pyasic PR #352)
V2_12: Version = (2, 12, 0)  # manual fan setting renamed fanspeed -> manualFanSpeed
V2_14: Version = (2, 14, 0)  # POST /api/system/pause and /resume added
V2_15: Version = (2, 15, 0)  # pools only through pools[]; flat stratum keys no longer settable

MODES = ("eco", "standard", "turbo", "overclock")
OVERCLOCK_STEP_MHZ = 50


@dataclass(frozen=True, slots=True)
class AsicOptions:
    """What the firmware offers for one ASIC: option lists (MHz, mV), defaults, NerdOS eco/abs-max values."""

    frequencies: tuple[int, ...]
    voltages: tuple[int, ...]
    default_mhz: int
    default_mv: int
    eco_mhz: int = 0
    eco_mv: int = 0
    max_mhz: int = 0  # NerdOS absMaxFrequency (0: none given)
    max_mv: int = 0


# bitaxeorg/ESP-Miner main/device_config.h @ 0831a13 (ASIC_BM13xx: default_frequency_mhz,
# *_FREQUENCY_OPTIONS, default_voltage_mv, *_VOLTAGE_OPTIONS): what AxeOS v2.9+ also serves in
# GET /api/system/asic. Used where that endpoint is missing (AxeOS < v2.9).
ASIC_OPTIONS: dict[str, AsicOptions] = {
    "BM1397": AsicOptions((400, 425, 450, 475, 485, 500, 525, 550, 575, 600),
                          (1100, 1150, 1200, 1250, 1300, 1350, 1400, 1450, 1500), 425, 1400),
    "BM1366": AsicOptions((400, 425, 450, 475, 485, 500, 525, 550, 575), (1100, 1150, 1200, 1250, 1300), 485, 1200),
    "BM1368": AsicOptions((400, 425, 450, 475, 485, 490, 500, 525, 550, 575), (1100, 1150, 1166, 1200, 1250, 1300),
                          490, 1166),
    "BM1370": AsicOptions((400, 490, 525, 550, 600, 625), (1000, 1060, 1100, 1150, 1200, 1250), 525, 1150),
}


def mode_presets(options: AsicOptions) -> dict[str, tuple[int, int]]:
    """(MHz, mV) per mode, from the firmware's option lists by one documented rule.

    - eco: NerdOS ecoFrequency/ecoVoltage when set; else the lowest frequency
      option at the voltage option one step below the default;
    - standard: the firmware default (defaultFrequency/defaultVoltage);
    - turbo: the highest frequency option at one voltage step above the default;
    - overclock: 50 MHz above the highest option at two voltage steps above the
      default (outside the options: AxeOS only with overclockEnabled; NerdOS
      capped at absMaxFrequency/absMaxVoltage).

    With ESP-Miner's lists this gives BM1397 400/1350, 425/1400, 600/1450,
    650/1500; BM1366 400/1150, 485/1200, 575/1250, 625/1300; BM1368 400/1150,
    490/1166, 575/1200, 625/1250; BM1370 400/1100, 525/1150, 625/1200, 675/1250.
    """
    freqs = sorted(options.frequencies) or [options.default_mhz]
    volts = sorted(options.voltages) or [options.default_mv]
    at = bisect.bisect_left(volts, options.default_mv)
    if at >= len(volts) or volts[at] != options.default_mv:
        volts.insert(at, options.default_mv)  # the default is always a valid point

    def step(n: int) -> int:
        return volts[min(max(at + n, 0), len(volts) - 1)]

    eco = (options.eco_mhz, options.eco_mv) if options.eco_mhz > 0 and options.eco_mv > 0 else (freqs[0], step(-1))
    oc_mhz, oc_mv = freqs[-1] + OVERCLOCK_STEP_MHZ, step(2)
    if options.max_mhz > 0:
        oc_mhz = min(oc_mhz, options.max_mhz)
    if options.max_mv > 0:
        oc_mv = min(oc_mv, options.max_mv)
    return {"eco": eco, "standard": (options.default_mhz, options.default_mv), "turbo": (freqs[-1], step(1)),
            "overclock": (oc_mhz, oc_mv)}


def asic_options(info: dict[str, Any], asic: dict[str, Any] | None) -> AsicOptions | None:
    """The firmware's own lists (/api/system/asic, NerdOS defaults in info), else ESP-Miner's table by ASICModel."""
    asic = asic if isinstance(asic, dict) else {}
    chip = info.get("ASICModel") or asic.get("ASICModel")
    table = ASIC_OPTIONS.get(chip) if isinstance(chip, str) else None
    freqs = tuple(int(f) for f in asic.get("frequencyOptions") or () if positive(f))
    volts = tuple(int(v) for v in asic.get("voltageOptions") or () if positive(v))
    default_mhz = positive(asic.get("defaultFrequency")) or positive(info.get("defaultFrequency"))
    default_mv = positive(asic.get("defaultVoltage")) or positive(info.get("defaultCoreVoltage"))
    if table is None and not (freqs and volts and default_mhz and default_mv):
        return None
    return AsicOptions(
        frequencies=freqs or (table.frequencies if table else ()),
        voltages=volts or (table.voltages if table else ()),
        default_mhz=int(default_mhz or table.default_mhz),  # type: ignore[union-attr]
        default_mv=int(default_mv or table.default_mv),  # type: ignore[union-attr]
        eco_mhz=int(num(asic.get("ecoFrequency")) or 0), eco_mv=int(num(asic.get("ecoVoltage")) or 0),
        max_mhz=int(num(asic.get("absMaxFrequency")) or 0), max_mv=int(num(asic.get("absMaxVoltage")) or 0),
    )


# --- pure helpers ------------------------------------------------------------------------
def parse_version(text: Any) -> Version | None:
    """(major, minor, patch) from "v2.13.0b1", "2.2.0", "v1.1.0-beta1"; None if there is none."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text) if isinstance(text, str) else None
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def is_nerdqaxe(info: dict[str, Any]) -> bool:
    """NerdQAxe++/NerdOctaxe firmware puts ``deviceModel`` ("NerdQAxe++") into /api/system/info itself."""
    model = info.get("deviceModel")
    return isinstance(model, str) and "nerd" in model.lower()


def model_name(info: dict[str, Any], asic: dict[str, Any] | None = None) -> str | None:
    """"Bitaxe Supra BM1368", "Bitaxe Hex BM1366", "NerdQAxe++ BM1370" from deviceModel/boardVersion + ASICModel."""
    asic = asic or {}
    chip = info.get("ASICModel") or asic.get("ASICModel")
    device = info.get("deviceModel") or asic.get("deviceModel")
    if isinstance(device, str) and device.strip() and device.strip().lower() not in ("invalid", "unknown"):
        device = device.strip()
        name = device if re.search(r"axe|miner", device, re.IGNORECASE) else f"Bitaxe {device[:1].upper()}{device[1:]}"
    else:
        board = str(info.get("boardVersion") or "").strip()
        line = "Max" if board in _MAX_BOARDS else _BOARD_LINES.get(board[:1]) if len(board) == 3 else None
        name = f"Bitaxe {line}" if line else ("Bitaxe" if board or chip else None)
    parts = [p for p in (name, chip if isinstance(chip, str) else None) if p]
    return " ".join(parts) or None


def _pool_url(host: Any, port: Any, tls: Any = False) -> str | None:
    if not isinstance(host, str) or not host.strip():
        return None
    host = host.strip()
    if "://" in host:  # some users store the whole URL in stratumURL
        return host
    scheme = "stratum+ssl" if tls else "stratum+tcp"
    port_num = num(port)
    return f"{scheme}://{host}:{int(port_num)}" if port_num else f"{scheme}://{host}"


def _pools(info: dict[str, Any]) -> list[PoolStatus]:
    using_fallback = bool(info.get("isUsingFallbackStratum"))
    listed = info.get("pools")
    if isinstance(listed, list) and listed:  # AxeOS >= v2.15
        primary = num(info.get("primaryPoolIndex"))
        secondary = num(info.get("secondaryPoolIndex"))
        current = secondary if using_fallback else primary
        pools = []
        for entry in listed:
            if not isinstance(entry, dict):
                continue
            url = _pool_url(entry.get("stratumURL"), entry.get("stratumPort"), entry.get("stratumTLS"))
            if url is None:
                continue
            pool_id = num(entry.get("id"))
            priority = 0 if pool_id == primary else 1 if pool_id == secondary else None
            pools.append(PoolStatus(url=url, user=str(entry.get("stratumUser") or ""),
                                    active=pool_id is not None and pool_id == current, priority=priority))
        return sorted(pools, key=lambda p: p.priority if p.priority is not None else 99)
    pools = []
    for prefix, priority in (("stratum", 0), ("fallbackStratum", 1)):
        url = _pool_url(info.get(f"{prefix}URL"), info.get(f"{prefix}Port"), info.get(f"{prefix}TLS"))
        if url is not None:
            pools.append(PoolStatus(url=url, user=str(info.get(f"{prefix}User") or ""), priority=priority,
                                    active=(priority == 1) == using_fallback))
    return pools


def _best_difficulties(info: dict[str, Any]) -> tuple[float | None, float | None]:
    """(all-time, session) best share difficulty from /api/system/info.

    AxeOS: ``bestDiff`` is the NVS-stored best (kept across reboots, NVS_CONFIG_BEST_DIFF),
    ``bestSessionDiff`` the best since boot (system.c SYSTEM_init_system sets it to 0). Up
    to v2.10 both are cgminer suffix strings ("4.29G", 3 significant digits) with the exact
    numbers beside them in ``bestNonceDiff``/``bestSessionNonceDiff`` (recorded v2.6.0), which
    win; from v2.11 ``bestDiff``/``bestSessionDiff`` are the numbers. NerdOS: the same two
    names (strings such as "270M" until ~1.0.35, numbers since; recorded v1.1.0-beta1), with
    the all-time value also in ``stratum.totalBestDiff``.
    """
    stratum = info.get("stratum") if isinstance(info.get("stratum"), dict) else {}
    best = difficulty(info.get("bestNonceDiff"))
    if best is None:
        best = difficulty(info.get("bestDiff"))
    if best is None:
        best = difficulty(stratum.get("totalBestDiff"))
    session = difficulty(info.get("bestSessionNonceDiff"))
    if session is None:
        session = difficulty(info.get("bestSessionDiff"))
    return best, session


def parse_system_info(info: dict[str, Any], asic: dict[str, Any] | None = None) -> MinerStatus:
    """GET /api/system/info (+ /api/system/asic) -> MinerStatus in H/s, W, degrees C, mV, MHz (pure)."""
    if not isinstance(info, dict):
        raise MinerProtocolError("/api/system/info did not return a JSON object")
    asic = asic if isinstance(asic, dict) else {}
    nerd = is_nerdqaxe(info)
    status = MinerStatus()
    hashrate = num(info.get("hashRate"))
    status.hashrate_hs = hashrate * GH if hashrate is not None else None
    expected = positive(info.get("expectedHashrate"))  # >= ~v2.9; never computed here
    status.expected_hashrate_hs = expected * GH if expected is not None else None
    status.power_w = num(info.get("power"))
    # temp: AxeOS average of the chips, NerdOS the hottest chip; temp2 is -1 without a
    # second sensor and NerdOS asicTemps are 0 until read, so only positive readings count.
    chip_temps = [positive(info.get("temp")), positive(info.get("temp2"))]
    if isinstance(info.get("asicTemps"), list):
        chip_temps += [positive(t) for t in info["asicTemps"]]
    readings = [t for t in chip_temps if t is not None]
    status.temp_c = max(readings) if readings else None
    fans = []
    first = integer(info.get("fanrpm"))
    if first is not None:  # the one fan of a Bitaxe: 0 RPM is reported, it means stopped
        fans.append(first)
    second = integer(info.get("fanrpm2", info.get("fan2rpm")))  # NerdOS fanrpm2, AxeOS fan2rpm
    count = num(info.get("fanCount")) or 0
    if second is not None and (second > 0 or count >= 2):  # AxeOS reports 0 when there is no second fan
        fans.append(second)
    status.fan_rpm = fans
    status.fan_percent = num(info.get("fanspeed"))
    status.frequency_mhz = positive(info.get("frequency"))
    status.voltage_mv = positive(info.get("coreVoltage"))
    status.uptime_s = integer(info.get("uptimeSeconds"))
    status.shares_accepted = integer(info.get("sharesAccepted"))
    status.shares_rejected = integer(info.get("sharesRejected"))
    status.best_difficulty, status.best_session_difficulty = _best_difficulties(info)
    status.model = model_name(info, asic)
    status.firmware = "NerdOS" if nerd else "AxeOS"
    version = info.get("version")
    status.firmware_version = version if isinstance(version, str) and version else None
    status.mac = mac_address(info.get("macAddr"))
    hostname = info.get("hostname")
    status.hostname = hostname if isinstance(hostname, str) and hostname else None
    chips = num(info.get("asicCount")) or num(asic.get("asicCount"))
    status.boards = [BoardStatus(
        index=0,
        hashrate_hs=status.hashrate_hs,
        expected_hashrate_hs=status.expected_hashrate_hs,
        chip_temp_c=status.temp_c,
        temp_c=positive(info.get("vrTemp")),  # the regulator is the hottest part of the PCB
        chips=int(chips) if chips else None,
        frequency_mhz=status.frequency_mhz,
        voltage_mv=positive(info.get("coreVoltageActual")) or status.voltage_mv,
    )]
    status.pools = _pools(info)
    if info.get("miningPaused") is True:  # AxeOS >= v2.14: pause/resume
        status.state = "paused"
    if info.get("shutdown") is True:  # NerdOS: ASICs powered down until the next restart, hashrates forced to 0
        status.state = "sleeping"
    fault = info.get("power_fault")
    if isinstance(fault, str) and fault.strip():
        status.errors.append(f"power fault: {fault.strip()}")
        status.state = "error"
    if num(info.get("overheat_mode")):
        status.errors.append("overheat protection active: fan forced to 100 %, frequency lowered")
    if info.get("hardware_fault"):
        status.errors.append(f"hardware fault: {info['hardware_fault']}")
    return status


def parse_chips(info: dict[str, Any]) -> list[ChipStatus]:
    """Per-chip data where the firmware has it (pure).

    AxeOS >= v2.11: ``hashrateMonitor.asics[]`` (``total`` GH/s, ``errorCount``).
    NerdOS: ``asicTemps[]`` per chip in degrees C; all 0 until the sensors were
    read (recorded NerdQAxe++ v1.1.0-beta1), and 0 means "no reading", so such a
    list yields nothing.
    """
    chips: dict[int, ChipStatus] = {}
    monitor = info.get("hashrateMonitor")
    asics = monitor.get("asics") if isinstance(monitor, dict) else None
    if isinstance(asics, list):
        for index, entry in enumerate(asics):
            if not isinstance(entry, dict):
                continue
            total = num(entry.get("total"))
            chips[index] = ChipStatus(board=0, index=index, hashrate_hs=total * GH if total is not None else None,
                                      errors=integer(entry.get("errorCount")))
    temps = info.get("asicTemps")
    if isinstance(temps, list) and any(positive(t) for t in temps):
        for index, temp in enumerate(temps):
            chip = chips.setdefault(index, ChipStatus(board=0, index=index))
            chip.temp_c = positive(temp)
    return [chips[i] for i in sorted(chips)]


# --- the driver ------------------------------------------------------------------------------
class BitaxeDriver(MinerDriver):
    """AxeOS (Bitaxe and ESP-Miner forks) and NerdOS (NerdQAxe++) over HTTP, one Session per instance.

    ``capabilities`` on the class is the family's maximum; after the first read an
    instance narrows its own to what the firmware it found can do (sleep/wake need
    AxeOS v2.14+; NerdOS: no fan, sleep = shutdown and wake = restart).
    """

    family: ClassVar[str] = "bitaxe"
    default_port: ClassVar[int] = 80
    capabilities: ClassVar[frozenset[str]] = frozenset({RESTART, SLEEP, WAKE, FREQUENCY, FAN, POOLS, MODE, CHIPS})
    modes: ClassVar[tuple[str, ...]] = MODES

    def __init__(self, host: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._session = http.new_session()
        self._session.headers["Accept"] = "application/json"
        self._asic: dict[str, Any] | None = None
        self._asic_done = False
        self._version: Version | None = None
        self._nerd = False
        self._otp = False  # NerdOS "otp": writes need a TOTP code
        self._last_info: dict[str, Any] = {}
        self._nerd_asic: dict[str, Any] | None = None
        self._nerd_asic_done = False

    # --- transport ---
    def _url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}" if self.port != 80 else f"http://{host}{path}"

    def _call(self, method: str, path: str, body: Any = None) -> http.HttpReply:
        reply = http.request(self._session, method, self._url(path), timeout=self.timeout, json_body=body)
        if reply.status == 401 or (self._nerd and reply.status == 403):
            text = reply.text.lower()
            # NerdOS validateOTP(): 401 "OTP/Session required", or "blocked for 5 minutes" after 5 bad codes.
            if self._nerd and method != "GET" and ("otp" in text or "totp" in text or "blocked" in text):
                locked = " (NerdOS says: blocked for 5 minutes after failed codes)" if "blocked" in text else ""
                raise MinerAuthError(NERDOS_OTP + locked)
            raise MinerAuthError(NERDOS_401 if self._nerd else AXEOS_401)
        return reply

    def _guard_write(self) -> None:
        """NerdOS with OTP on refuses every write without a code: say so before sending anything."""
        if self._nerd and self._otp:
            raise MinerAuthError(NERDOS_OTP)

    def _expect_ok(self, reply: http.HttpReply, what: str) -> None:
        if reply.status == 400:  # v2.11+: "Invalid JSON" / "Wrong API input"
            raise MinerError(f"{what}: the firmware rejected the values ({reply.text.strip()[:80] or 'HTTP 400'})")
        if not 200 <= reply.status < 300:
            raise MinerProtocolError(f"{what}: HTTP {reply.status}")

    def close(self) -> None:
        """Close the pooled HTTP connection."""
        self._session.close()

    # --- read ---
    def _info(self) -> dict[str, Any]:
        reply = self._call("GET", "/api/system/info")
        self._expect_ok(reply, "GET /api/system/info")
        info = reply.json()
        if not isinstance(info, dict):
            raise MinerProtocolError("/api/system/info did not return a JSON object")
        self._learn(info)
        return info

    def _learn(self, info: dict[str, Any]) -> None:
        """Narrow this instance's capabilities to the firmware just read."""
        self._nerd = is_nerdqaxe(info)
        self._version = parse_version(info.get("version"))
        self._otp = info.get("otp") is True
        self._last_info = info
        caps = set(type(self).capabilities)
        if self._nerd:
            # NerdOS: its fan modes (autofanspeed 0/1/2, per-channel PID) differ from AxeOS;
            # sleep is POST /api/system/shutdown, and only a restart resumes (docs/API.md:
            # "Stops mining until restarted"), so wake restarts the device.
            caps = {RESTART, FREQUENCY, POOLS, SLEEP, WAKE, MODE, CHIPS}
        elif self._version is None or self._version < V2_14:
            caps -= {SLEEP, WAKE}
        if asic_options(info, self._asic) is None:
            caps.discard(MODE)  # unknown ASIC and no option lists: no presets to apply
        if not parse_chips(info):
            caps.discard(CHIPS)
        self.capabilities = frozenset(caps)  # instance attribute shadows the class maximum

    def _asic_info(self, info: dict[str, Any]) -> dict[str, Any] | None:
        """GET /api/system/asic once per instance, on AxeOS >= v2.9 (asicCount, deviceModel live there)."""
        if self._asic_done or self._nerd:
            return self._asic
        if "asicCount" in info and (self._version is None or self._version < V2_9):
            self._asic_done = True
            return None
        try:
            reply = self._call("GET", "/api/system/asic")
        except MinerAuthError:
            raise
        except MinerError as exc:  # transient: try again on the next read
            log.debug("%s: /api/system/asic: %s", self.host, exc)
            return None
        self._asic_done = True
        if reply.status == 200:
            try:
                data = reply.json()
            except MinerProtocolError:
                data = None
            self._asic = data if isinstance(data, dict) else None
        return self._asic

    def read(self) -> MinerStatus:
        """GET /api/system/info (and /api/system/asic once) -> MinerStatus."""
        info = self._info()
        return parse_system_info(info, self._asic_info(info))

    # --- control ---
    def restart(self) -> None:
        """POST /api/system/restart (reply is plain text up to v2.12, JSON from v2.13)."""
        self._guard_write()
        self._expect_ok(self._call("POST", "/api/system/restart"), "restart")

    def _need_version(self) -> Version | None:
        if self._version is None and not self._nerd:
            self._info()
        return self._version

    def sleep(self) -> None:
        """POST /api/system/pause (AxeOS v2.14+); NerdOS: POST /api/system/shutdown (stops until restarted)."""
        self._pause_resume("pause")

    def wake(self) -> None:
        """POST /api/system/resume (AxeOS v2.14+); NerdOS has no resume: POST /api/system/restart when shut down."""
        self._pause_resume("resume")

    def _pause_resume(self, action: str) -> None:
        version = self._need_version()
        if self._nerd:
            self._guard_write()
            if action == "pause":  # NerdOS POST_shutdown: plain text "System will shutdown shortly."
                self._expect_ok(self._call("POST", "/api/system/shutdown"), "shutdown")
            elif self._info().get("shutdown") is True:  # only a restart resumes a shut-down NerdQAxe
                self._expect_ok(self._call("POST", "/api/system/restart"), "restart to resume mining")
            return
        if version is None or version < V2_14:
            shown = "v%d.%d.%d" % version if version else "this AxeOS build"
            raise NotSupported(f"AxeOS {shown} cannot pause mining: pause/resume were added in v2.14.0; "
                               "update the firmware to use sleep/wake")
        self._expect_ok(self._call("POST", f"/api/system/{action}"), action)

    def _patch_and_verify(self, settings: dict[str, Any], expect: dict[str, Any], what: str) -> None:
        self._guard_write()
        self._expect_ok(self._call("PATCH", "/api/system", settings), what)
        info = self._info()
        wrong = [key for key, want in expect.items() if not _same(info.get(key), want, key)]
        if wrong:
            raise MinerProtocolError(f"{what}: the firmware answered OK but did not apply {', '.join(wrong)} "
                                     "(this build ignores those setting names)")

    def set_frequency(self, mhz: int, voltage_mv: int | None = None, board: int | None = None) -> None:
        """PATCH frequency (and coreVoltage), then read back: unknown keys are ignored silently."""
        if board not in (None, 0):
            raise ValueError("a Bitaxe has one board (0)")
        if not 50 <= int(mhz) <= 1500:
            raise ValueError(f"frequency {mhz} MHz is outside 50..1500")
        settings: dict[str, Any] = {"frequency": int(mhz)}
        if voltage_mv is not None:
            if not 700 <= int(voltage_mv) <= 1800:
                raise ValueError(f"core voltage {voltage_mv} mV is outside 700..1800")
            settings["coreVoltage"] = int(voltage_mv)
        self._need_version()
        self._patch_and_verify(settings, settings, "set frequency")

    def set_fan(self, percent: int | None) -> None:
        """Fixed fan percent (fanspeed before v2.12, manualFanSpeed from v2.12) or automatic (None)."""
        version = self._need_version()
        if self._nerd:
            raise NotSupported("NerdOS fan modes (autofanspeed 0/1/2) differ from AxeOS; set the fan in its web UI")
        if percent is None:
            self._patch_and_verify({"autofanspeed": 1}, {"autofanspeed": 1}, "set fan to automatic")
            return
        if not 0 <= int(percent) <= 100:
            raise ValueError(f"fan speed {percent} % is outside 0..100")
        key = "manualFanSpeed" if version is not None and version >= V2_12 else "fanspeed"
        settings = {"autofanspeed": 0, key: int(percent)}
        self._patch_and_verify(settings, settings, "set fan")

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Primary (+ fallback) pool: flat stratum* keys up to v2.14, pools[] from v2.15; read back.

        With one pool given, the fallback pool is left as it is. AxeOS applies new
        pools after a restart, which is left to the caller.
        """
        checked = validate_pools(pools, max_pools=2)
        version = self._need_version()
        expect: dict[str, Any] = {}
        for (host, port, pool), prefix in zip(checked, ("stratum", "fallbackStratum")):
            expect.update({f"{prefix}URL": host, f"{prefix}Port": port, f"{prefix}User": pool.user})
        if not self._nerd and version is not None and version >= V2_15:
            settings: dict[str, Any] = {
                "pools": [{"id": i, "stratumURL": host, "stratumPort": port, "stratumUser": pool.user,
                           "stratumPassword": pool.password} for i, (host, port, pool) in enumerate(checked)],
                "primaryPoolIndex": 0,
            }
            if len(checked) > 1:
                settings["secondaryPoolIndex"] = 1
        else:
            settings = dict(expect)
            for (_, _, pool), prefix in zip(checked, ("stratum", "fallbackStratum")):
                settings[f"{prefix}Password"] = pool.password
        self._patch_and_verify(settings, expect, "set pools")  # passwords are never echoed: not compared

    def _options(self, info: dict[str, Any]) -> AsicOptions | None:
        if self._nerd:
            if not self._nerd_asic_done:  # newer NerdOS builds serve /api/system/asic (issue #242)
                self._nerd_asic_done = True
                try:
                    reply = self._call("GET", "/api/system/asic")
                    data = reply.json() if reply.status == 200 else None
                except MinerAuthError:
                    raise
                except MinerError:
                    data = None
                self._nerd_asic = data if isinstance(data, dict) else None
            return asic_options(info, self._nerd_asic)
        return asic_options(info, self._asic_info(info))

    def mode_settings(self, mode: str) -> tuple[int, int]:
        """(MHz, mV) the preset ``mode`` means on this miner (reads the miner's option lists)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        info = self._info()
        options = self._options(info)
        if options is None:
            raise NotSupported(f"no frequency/voltage options known for ASIC {info.get('ASICModel')!r}")
        return mode_presets(options)[mode]

    def set_mode(self, mode: str) -> None:
        """Apply a frequency + core-voltage preset (see ``mode_presets``) with PATCH /api/system and read it back.

        "overclock" leaves the firmware's options: AxeOS gates that behind its
        "overclockEnabled" setting (as its web UI does); NerdOS caps it at absMax.
        """
        mhz, mv = self.mode_settings(mode)
        if mode == "overclock":
            if self._nerd:
                if not (self._nerd_asic or {}).get("absMaxFrequency"):
                    raise NotSupported("this NerdOS build gives no absMaxFrequency, so no safe overclock limit")
            elif not num(self._last_info.get("overclockEnabled")):
                raise NotSupported("AxeOS allows frequencies outside its options only with overclocking enabled "
                                   "(overclockEnabled in the AxeOS settings); enable it there first")
        settings = {"frequency": mhz, "coreVoltage": mv}
        self._patch_and_verify(settings, settings, f"set mode {mode}")

    def read_chips(self) -> list[ChipStatus]:
        """Per-chip hashrate/errors (AxeOS hashrateMonitor) or temperatures (NerdOS asicTemps)."""
        chips = parse_chips(self._info())
        if not chips:
            raise NotSupported("this firmware reports no per-chip data (AxeOS >= v2.11 or NerdOS asicTemps)")
        return chips


def _same(actual: Any, wanted: Any, key: str) -> bool:
    if isinstance(wanted, str):  # host names compare case-insensitively, worker names exactly
        if not isinstance(actual, str):
            return False
        return actual.strip().lower() == wanted.lower() if key.endswith("URL") else actual.strip() == wanted
    a, w = num(actual), num(wanted)
    return a is not None and w is not None and abs(a - w) < 0.5
