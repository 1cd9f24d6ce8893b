"""Avalon (Canaan) over the cgminer API on 4028: Nano 3 / 3S, Avalon Q / Mini 3 and the A10-A15 series.

Wire facts (reference section 6; Canaan-Creative/Avalon_Nano3s @ 04c84d3
cg_miner/cgminer/driver-avalon.c; Canaan A10 API manual v0.3):

- cgminer 4.11.1 API, no authentication for reads or ``ascset``. Everything the
  miner knows lives in one long ``Name[value]`` string per module in ``estats``:
  ``"MM ID0"`` (A-series, Nano 3/3S) or ``"MM ID0:Summary"`` wrapped as
  ``'STATS':{...}`` (Avalon Q, fw 25052801), plus ``"HBinfo"`` with per-chip
  arrays on the Q.
- ``ascset`` replies: S/119 "ASC 0 set OK" (handler returned nothing), I/118
  "ASC 0 set info: <text>" (handler wrote text), E/120 "ASC 0 set failed: <text>"
  (handler refused; "Unknown option: x" when the firmware lacks the option).
- ``ascset|0,help`` lists the options a build implements; capabilities are
  narrowed per instance from it (the Nano 3S source has no softoff/softon, the
  Avalon Q help list has them).

Model families (the write forms differ):

- "home" = Nano 3S, Avalon Q, Mini 3 (MM319 firmware): ``workmode,set,<n>`` with
  0 eco/low, 1 standard/medium, 2 super/high (Canaan Nano3s source
  ``set_avalon_device_workmode``; mode names from LW10583/AvalonMinerTools and
  gbechtel-beck/avalon-q-controller), ``reboot,<0..300 s>``, soft-off/on as
  ``softoff,1:<unix ts>`` (pyasic, asic-rs avalon_q), pools with the top-level
  ``setpool`` command ``admin,<web password>,<slot>,<url>,<worker>,<pass>``.
- "nano3" = the original Nano 3 (fw nano3-24071801): its stats carry only
  ``WORKLEVEL`` (levels 0/1/2 = ATA0..2, MPO 60/90/125 W in the recorded
  string), so the mode is written with ``worklevel,set,<n>``; its ``PS[...]``
  does not follow the Canaan layout, so power is None.
- "a-series" = AvalonMiner 10xx..15xx: ``workmode,<0|1>`` (0 normal, 1
  performance) which takes effect only after a reboot, ``hashpower,0`` cuts the
  hash boards (only a reboot brings them back), ``ascset|0,setpool,<user>,<pass>,
  <url>,<worker>,<workerpass>`` sets one pool, effective after reboot.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from . import cgminer_api
from .base import (
    CHIPS,
    FAN,
    MODE,
    POOLS,
    REBOOT,
    RESTART,
    SLEEP,
    WAKE,
    BoardStatus,
    ChipStatus,
    Credentials,
    MinerAuthError,
    MinerDriver,
    MinerError,
    MinerProtocolError,
    MinerStatus,
    NotSupported,
    PoolConfig,
)
from .cgminer import GH, best_share, parse_pools, parse_summary, parse_version, section
from .cgminer_api import APIError, CGMinerClient, EmptyReply, reply_guard
from .stratum import validate_pools
from .values import mac_address, num, scrub, stripped

log = logging.getLogger(__name__)

HOME, NANO3, A_SERIES = "home", "nano3", "a-series"
MODE_NUMBERS = {"low": 0, "medium": 1, "high": 2}
A_SERIES_MODES = {"low": 0, "high": 1}  # A10 manual 2.4: 0 normal, 1 high performance
SOFT_DELAY_S = 5  # pyasic and asic-rs schedule softoff/softon 5 s ahead

_TOKEN = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\[([^\]]*)\]")
_HB_BLOCK = re.compile(r"'([^']+)':\{([^}]*)\}")
_SET_INFO = re.compile(r"ASC \d+ set (?:info|failed): ?", re.IGNORECASE)
_TEXT_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9 %._-]*=")
# PS[] wall-power ceilings per product line: a value above it is not watts (Nano 3).
_WATT_CEILINGS = (("nano", 250.0), ("mini", 1200.0), ("avalon q", 2500.0))
_PS_ERRORS = {1: "input under-voltage", 2: "over-temperature", 4: "over-temperature", 8: "over-temperature",
              16: "input over-current", 32: "output under-voltage", 64: "output over-current",
              2048: "fan failure"}  # Canaan A10 API manual, appendix 1


# --- the Name[value] strings -------------------------------------------------------------
def parse_mm(text: Any) -> dict[str, str]:
    """``Name[value]`` tokens of one MM string (``'STATS':{...}`` wrapper allowed); first wins."""
    if not isinstance(text, str):
        return {}
    tokens: dict[str, str] = {}
    for key, value in _TOKEN.findall(text):
        tokens.setdefault(key, value.strip())
    return tokens


def parse_hbinfo(text: Any) -> dict[int, dict[str, str]]:
    """Avalon Q ``HBinfo`` = ``'HB0':{PVT_T0[...] PVT_V0[...] MW0[...]}`` -> {0: {"PVT_T0": "...", ...}}."""
    boards: dict[int, dict[str, str]] = {}
    if not isinstance(text, str):
        return boards
    for name, body in _HB_BLOCK.findall(text):
        digits = re.sub(r"\D", "", name)
        if digits:
            boards[int(digits)] = parse_mm(body)
    return boards


def values(token: str | None) -> list[float | None]:
    """The numbers of a multi-value token ("0 1209 1187 297" or "41%"); non-numbers become None."""
    if not token:
        return []
    return [num(part.rstrip("%")) for part in token.split()]


def first(mm: Mapping[str, str], key: str) -> float | None:
    """The first number of token ``key`` ("41%" -> 41.0), or None."""
    found = values(mm.get(key))
    return found[0] if found else None


def mm_data(reply: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[int, dict[str, str]]]:
    """(tokens of module 0, per-board HBinfo) from a ``stats``/``estats`` reply; ({}, {}) if absent.

    Only module 0 is read: every home miner and every A-series controller
    captured so far reports "MM Count":1.
    """
    for block in section(reply, "STATS"):
        keys = [k for k in block if isinstance(k, str) and k.startswith("MM ID")]
        if not keys:
            continue
        key = next((k for k in keys if k.split(":")[0] == "MM ID0"), keys[0])
        return parse_mm(block.get(key)), parse_hbinfo(block.get("HBinfo"))
    return {}, {}


# --- cgminer plain-text replies ----------------------------------------------------------
def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def parse_text_reply(text: str) -> dict[str, Any]:
    """A ``cmd|param`` (plain-text) reply -> the JSON shape: {"STATUS": [...], "<SECTION>": [...]}.

    Sections are separated by ``|``, fields by ``,`` as ``Key=Value``; a section
    that is one record starts with its bare name ("VERSION,CGMiner=4.11.1,...").
    cgminer escapes ``,|=\\`` in values with a backslash; the Canaan A10 manual
    prints the MM string's "Work: In Work, Hash Board: 3" unescaped, so a piece
    without a ``Key=`` of its own is glued back onto the previous value.
    """
    out: dict[str, Any] = {}
    for part in _split_unescaped(text.replace("\x00", "").strip(), "|"):
        if not part.strip():
            continue
        fields: list[tuple[str, str | None]] = []
        for piece in _split_unescaped(part, ","):
            if _TEXT_FIELD.match(piece.lstrip()):
                key, _, value = piece.partition("=")
                fields.append((key.strip(), value))
            elif fields:
                key, value = fields[-1]
                fields[-1] = (key, f"{value or ''},{piece}")
            else:
                fields.append((piece.strip(), None))
        name = fields[0][0]
        if fields[0][1] is None:
            fields = fields[1:]
        name = {"POOL": "POOLS", "ASC": "DEVS", "PGA": "DEVS"}.get(name, name)
        out.setdefault(name, []).append({key: _text_value(value) for key, value in fields if value is not None})
    return out


def _text_value(value: str) -> str:
    # Text mode has no types: keep strings (the parsers accept numeric strings), so a
    # DNA "0000000000000000" or a MAC "123456789012" is not turned into a number.
    return value.strip()


# --- model and power -----------------------------------------------------------------------
def model_kind(model: str | None, mm: Mapping[str, str]) -> str:
    """HOME, NANO3 or A_SERIES from the VERSION PROD/MODEL or the MM ``Ver`` prefix."""
    ver = (mm.get("Ver") or "").lower()
    text = (model or "").lower()
    if ver.startswith("nano3-") or re.search(r"nano ?3(?!s)", text):
        return NANO3
    if re.search(r"nano|avalon q|\bq\b|mini", text) or re.match(r"(nano3s|q|mini3)-", ver):
        return HOME
    if re.search(r"avalonminer|\d{3,4}", text) or re.match(r"\d", ver):
        return A_SERIES
    return HOME


def model_from_mm(mm: Mapping[str, str]) -> str | None:
    """"Avalon Nano3s" / "AvalonMiner 15-194" from ``Ver[Nano3s-25021401_...]`` when no VERSION was read."""
    ver = mm.get("Ver") or ""
    match = re.match(r"(.+?)-\d{8}", ver)
    if not match:
        return None
    prefix = match.group(1)
    if prefix[:1].isdigit():
        return f"AvalonMiner {prefix}"
    return f"Avalon {prefix[:1].upper()}{prefix[1:]}"


def power_from_mm(mm: Mapping[str, str], kind: str, model: str | None) -> float | None:
    """Wall watts: WALLPOWER, else PS[6] (7 values, plausible), else PS[4] (hash-board output).

    The Nano 3 (fw 24071801) PS[] does not follow Canaan's layout (``PS[0 0 0 3
    2792 89 324]`` next to MPO[90] on a ~90 W unit): no power there. MPO is the
    mode's power target, never a reading.
    """
    if kind == NANO3:
        return None
    ceiling = next((w for name, w in _WATT_CEILINGS if name in (model or "").lower()), 6000.0)
    target = first(mm, "MPO")

    def plausible(watts: float | None) -> bool:
        if watts is None or not 0 < watts <= ceiling:
            return False
        return target is None or target <= 0 or watts <= 2 * target + 100

    wall = first(mm, "WALLPOWER")
    if plausible(wall):
        return wall
    ps = values(mm.get("PS"))
    if len(ps) >= 7 and plausible(ps[6]):
        return ps[6]
    if len(ps) >= 5 and plausible(ps[4]):
        return ps[4]
    return None


def _chip_values(mm: Mapping[str, str], hb: Mapping[int, Mapping[str, str]], board: int, stem: str) -> list[float]:
    token = mm.get(f"{stem}{board}")
    if token is None and board in hb:
        token = next((v for k, v in hb[board].items() if k.startswith(stem)), None)
    return [v for v in values(token) if v is not None]


def board_count(mm: Mapping[str, str], hb: Mapping[int, Mapping[str, str]]) -> int:
    """Hash boards: entries of MGHS, else PVT_T<n> tokens, else HBinfo blocks, else 1 when there is an MM string."""
    count = len(values(mm.get("MGHS")))
    count = max(count, len([k for k in mm if re.fullmatch(r"PVT_T\d+", k)]), len(hb))
    return count or (1 if mm else 0)


def parse_chips(mm: Mapping[str, str], hb: Mapping[int, Mapping[str, str]]) -> list[ChipStatus]:
    """Per-chip temperature (PVT_T, degrees C) and voltage (PVT_V, mV per A10 manual) for every board.

    MW<n> (a per-chip counter) is not mapped: its meaning is unverified.
    """
    chips = []
    for board in range(board_count(mm, hb)):
        temps = _chip_values(mm, hb, board, "PVT_T")
        volts = _chip_values(mm, hb, board, "PVT_V")
        for index in range(max(len(temps), len(volts))):
            temp = temps[index] if index < len(temps) else None
            chips.append(ChipStatus(
                board=board, index=index,
                temp_c=temp if temp is not None and temp > -273 else None,  # -273 = not read yet (Nano3s source)
                voltage_mv=volts[index] if index < len(volts) and volts[index] > 0 else None,
            ))
    return chips


def _boards(mm: Mapping[str, str], hb: Mapping[int, Mapping[str, str]], realtime: float | None) -> list[BoardStatus]:
    per_board = values(mm.get("MGHS"))
    tmax = values(mm.get("MTmax"))
    count = board_count(mm, hb)
    freq = first(mm, "Freq")
    hbo = first(mm, "HBOTemp")
    boards = []
    for i in range(count):
        temps = [t for t in _chip_values(mm, hb, i, "PVT_T") if t > 0]
        if count == 1 and realtime is not None:
            rate = realtime  # single-board units: GHSspd is the board (pyasic Nano 3S does the same)
        else:
            rate = per_board[i] * GH if i < len(per_board) and per_board[i] is not None else None
        hottest = tmax[i] if i < len(tmax) and tmax[i] else (max(temps) if temps else None)
        boards.append(BoardStatus(
            index=i, hashrate_hs=rate,
            chip_temp_c=hottest if hottest and hottest > 0 else None,
            temp_c=hbo if count == 1 and hbo and hbo > 0 else None,  # Q: hash board outlet sensor
            chips=len(temps) or None,
            frequency_mhz=freq if freq and freq > 0 else None,
        ))
    return boards


def _state(mm: Mapping[str, str], status: MinerStatus) -> None:
    system = (mm.get("SYSTEMSTATU") or "").lower()
    softoff = first(mm, "SoftOFF") or 0
    if "in idle" in system or softoff > 0:
        status.state = "sleeping"  # soft-off (Avalon Q: STATE[2], "Work: In Idle")
    elif "in fault" in system:
        status.state = "error"
        status.errors.append("the miner reports a fault (SYSTEMSTATU: In Fault)")
    elif "in init" in system:
        status.state = "idle"
    elif status.hashrate_hs == 0:
        status.state = "idle"
    ps = values(mm.get("PS"))
    code = int(ps[0]) if ps and ps[0] else 0
    if code > 0:
        names = sorted({name for bit, name in _PS_ERRORS.items() if code & bit})
        status.errors.append(f"power supply error code {code}" + (f" ({', '.join(names)})" if names else ""))


def parse_avalon(replies: Mapping[str, Mapping[str, Any] | None]) -> MinerStatus:
    """Combine version/summary/pools/estats (or stats) replies into one MinerStatus (pure)."""
    stats_reply = replies.get("estats") or replies.get("stats")
    mm, hb = mm_data(stats_reply)
    summary = parse_summary(replies.get("summary"))
    version = parse_version(replies.get("version"))
    vblock = (section(replies.get("version"), "VERSION") or [{}])[0]
    status = MinerStatus()
    status.model = version.get("model") or model_from_mm(mm)
    kind = model_kind(status.model, mm)
    realtime = first(mm, "GHSspd")
    realtime_hs = realtime * GH if realtime is not None else None
    status.hashrate_hs = realtime_hs if realtime_hs is not None else summary.get("hashrate_hs")
    expected = first(mm, "GHSmm")
    status.expected_hashrate_hs = expected * GH if expected and expected > 0 else None
    status.power_w = power_from_mm(mm, kind, status.model)
    status.boards = _boards(mm, hb, realtime_hs)
    tmax = first(mm, "TMax")
    chip_temps = [b.chip_temp_c for b in status.boards if b.chip_temp_c is not None]
    status.temp_c = tmax if tmax and tmax > 0 else (max(chip_temps) if chip_temps else None)
    status.fan_rpm = [int(v) for v in (first(mm, f"Fan{i}") for i in range(1, 5)) if v is not None]
    status.fan_percent = first(mm, "FanR")
    freq = first(mm, "Freq")
    status.frequency_mhz = freq if freq and freq > 0 else None
    status.uptime_s = summary.get("uptime_s")
    if status.uptime_s is None:
        elapsed = first(mm, "Elapsed")
        status.uptime_s = int(elapsed) if elapsed is not None else None
    status.shares_accepted = summary.get("shares_accepted")
    status.shares_rejected = summary.get("shares_rejected")
    # Avalon runs Canaan's cgminer: "Best Share" is its in-memory best_diff, a session value.
    status.best_session_difficulty = best_share(replies.get("summary"), replies.get("pools"))
    status.pools = parse_pools(replies.get("pools"))  # never copies "Password" (Avalon Q sends it)
    status.firmware = version.get("firmware") or ("cgminer" if mm else None)
    status.firmware_version = (version.get("firmware_version") or stripped(vblock.get("LVERSION"))
                               or _ver_suffix(mm.get("Ver")))
    status.mac = mac_address(vblock.get("MAC"))  # VERSION "MAC": "e0e1a93f3053" (A1566: no separators)
    _state(mm, status)
    if status.state == "sleeping" and realtime is None:
        status.hashrate_hs = 0.0  # summary "MHS av" stays high while soft-off (Avalon Q)
    return status


def _ver_suffix(ver: str | None) -> str | None:
    match = re.search(r"(\d{8}_[0-9a-f]+)", ver or "")
    return match.group(1) if match else None


def help_options(reply: Mapping[str, Any]) -> frozenset[str]:
    """Option names from the ``ascset|0,help`` reply "ASC 0 set info: help|voltage|...|"."""
    msg = next((str(s.get("Msg", "")) for s in section(reply, "STATUS")), "")
    text = _SET_INFO.sub("", msg, count=1)
    return frozenset(part.strip() for part in text.split("|") if part.strip())


# --- the driver ----------------------------------------------------------------------------
class AvalonDriver(MinerDriver):
    """Canaan Avalon miners on the cgminer API (4028); capabilities narrowed per model and help list."""

    family: ClassVar[str] = "avalon"
    default_port: ClassVar[int] = cgminer_api.DEFAULT_PORT
    capabilities: ClassVar[frozenset[str]] = frozenset({RESTART, REBOOT, SLEEP, WAKE, MODE, FAN, POOLS, CHIPS})
    modes: ClassVar[tuple[str, ...]] = ("low", "medium", "high")
    # The web login the pool write needs: root/root per the A10 manual (and pyasic's
    # Nano 3 web default); an Avalon Q ships with password "admin" (see _web_password).
    default_credentials: ClassVar[Credentials | None] = Credentials("root", "root")
    read_commands: ClassVar[tuple[str, ...]] = ("summary", "pools", "estats")

    def __init__(self, host: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.api = CGMinerClient(self.host, self.port, self.timeout)
        self._options: frozenset[str] | None = None  # the ascset help list; None = not known
        self._options_tried = False
        self._kind: str | None = None
        self._model: str | None = None
        self._mm: dict[str, str] = {}
        self._hb: dict[int, dict[str, str]] = {}
        self._pending_workmode: int | None = None

    # --- transport ---
    def _ascset(self, *args: str) -> dict[str, Any]:
        """``ascset`` on device 0; E/120 "set failed" becomes NotSupported or a MinerError with the firmware's words."""
        parameter = ",".join(("0",) + args)
        try:
            return self.api.send("ascset", parameter)
        except APIError as exc:
            raise _ascset_error(args[0], exc) from None

    # --- read ---
    @reply_guard
    def read(self) -> MinerStatus:
        """summary + pools + estats in one joined request (version once, help list once)."""
        results = self.api.read(self.read_commands)
        if "summary" not in results.replies and "estats" not in results.replies:
            raise results.errors.get("summary") or MinerProtocolError("no summary or estats in the reply")
        replies = dict(results.replies)
        if "estats" in results.errors:  # a build without estats: the same strings come with stats
            try:
                replies["estats"] = self.api.send("stats")
                del results.errors["estats"]
            except APIError as exc:
                results.errors["stats"] = exc
        status = parse_avalon(replies)
        self._mm, self._hb = mm_data(replies.get("estats"))
        if not self._options_tried:
            self._learn_options()
        self._learn(status)
        if self._pending_workmode is not None:
            current = first(self._mm, "WORKMODE")
            if current is not None and int(current) == self._pending_workmode:
                self._pending_workmode = None
            else:
                status.errors.append(f"work mode {self._pending_workmode} is set and takes effect after a reboot "
                                     "(Canaan A10 API manual 2.4)")
        status.errors.extend(f"{cmd}: {err.msg}" for cmd, err in results.errors.items())
        return status

    def _learn_options(self) -> None:
        """Ask ``ascset|0,help`` once (read-only: it lists the options, changes nothing).

        A firmware answer (list or refusal) is final; a timeout is retried on the next read.
        """
        try:
            self._options = help_options(self.api.send("ascset", "0,help"))
        except (APIError, EmptyReply) as exc:
            log.debug("%s: ascset help not available (%s); using the model's defaults", self.host, exc)
            self._options = None
        self._options_tried = True

    def _has(self, option: str, default: bool) -> bool:
        return default if self._options is None else option in self._options

    def _learn(self, status: MinerStatus) -> None:
        """Narrow this instance's capabilities and modes to the model and its help list."""
        self._model = status.model
        self._kind = kind = model_kind(status.model, self._mm)
        caps = {RESTART, POOLS}
        if kind == A_SERIES or self._has("reboot", True):
            caps.add(REBOOT)
        if any(c.temp_c is not None or c.voltage_mv is not None for c in parse_chips(self._mm, self._hb)):
            caps.add(CHIPS)
        if kind == A_SERIES:
            if self._has("workmode", True):
                caps.add(MODE)
            if self._has("hashpower", True):
                caps |= {SLEEP, WAKE}
            self.modes = tuple(A_SERIES_MODES)
        else:
            if self._has(self._mode_option(), True):
                caps.add(MODE)
            # Soft-off only where the firmware lists it: the Nano 3S source has no
            # softoff/softon in device_cmds[], the Avalon Q help list has both.
            if self._has("softoff", False) and self._has("softon", False):
                caps |= {SLEEP, WAKE}
            self.modes = type(self).modes
        if self._has("fan-spd", False):
            caps.add(FAN)
        self.capabilities = frozenset(caps)

    def _mode_option(self) -> str:
        """``worklevel`` where the stats carry only WORKLEVEL (Nano 3, fw 24071801), else ``workmode``."""
        if self._kind == NANO3 or ("WORKMODE" not in self._mm and "WORKLEVEL" in self._mm):
            return "worklevel"
        return "workmode"

    def _ensure_learned(self) -> str:
        if self._kind is None:
            self.read()
        assert self._kind is not None
        return self._kind

    def _require(self, capability: str, action: str) -> str:
        kind = self._ensure_learned()
        if capability not in self.capabilities:
            model = self._model or "this Avalon"
            raise NotSupported(f"{model} firmware cannot {action} (not in its ascset help list)")
        return kind

    # --- control ---
    def restart(self) -> None:
        """cgminer ``restart``: restarts the mining process only (reply {"STATUS":"RESTART"}; pyasic's reboot)."""
        try:
            self.api.send("restart")
        except EmptyReply:
            pass  # going down before the reply was written is the restart itself
        self.api.forget_version()

    def reboot(self) -> None:
        """``ascset|0,reboot,0``: reboots the whole controller (A10 manual 2.2; Nano3s source, delay 0..300 s)."""
        self._require(REBOOT, "reboot the device")
        try:
            self._ascset("reboot", "0")
        except EmptyReply:
            pass  # going down before the reply was written is the reboot itself
        self.api.forget_version()

    def set_mode(self, mode: str) -> None:
        """low/medium/high: ``workmode,set,<n>`` (Nano 3S/Q/Mini 3), ``worklevel,set,<n>`` (Nano 3),
        A-series ``workmode,<0|1>``.

        On the A-series the new mode takes effect only after a reboot (A10 API
        manual 2.4); the next reads say so in ``errors`` until it does.
        """
        kind = self._require(MODE, "change mode")
        if mode not in self.modes:
            raise ValueError(f"unknown mode {mode!r}; this miner has {', '.join(self.modes)}")
        if kind == A_SERIES:
            number = A_SERIES_MODES[mode]
            self._ascset("workmode", str(number))
            self._pending_workmode = number
            log.info("%s: work mode %d set; it takes effect after a reboot", self.host, number)
            return
        self._ascset(self._mode_option(), "set", str(MODE_NUMBERS[mode]))

    def sleep(self) -> None:
        """Soft-off 5 s from now (``softoff,1:<ts>``, Avalon Q/Mini 3); A-series ``hashpower,0``."""
        kind = self._require(SLEEP, "sleep")
        if kind == A_SERIES:
            self._ascset("hashpower", "0")
            return
        reply = self._ascset("softoff", f"1:{int(time.time()) + SOFT_DELAY_S}")
        _expect_success(reply, "softoff")

    def wake(self) -> None:
        """Soft-on (``softon,1:<ts>``); the Q may close without a reply, which is success (asic-rs avalon_q).

        A-series: the hash boards cut by ``hashpower,0`` only come back with a
        reboot (A10 API manual 2.6), so waking reboots the miner (unless it hashes).
        """
        kind = self._require(WAKE, "wake")
        if kind == A_SERIES:
            if self.read().hashrate_hs:
                return  # hashing already: a reboot would only interrupt it
            self.reboot()
            return
        try:
            reply = self._ascset("softon", f"1:{int(time.time()) + SOFT_DELAY_S}")
        except EmptyReply:
            return
        _expect_success(reply, "softon")

    def set_fan(self, percent: int | None) -> None:
        """``fan-spd,<15..100>`` or ``fan-spd,-1`` for automatic (Nano3s source set_avalon_device_fan_spd)."""
        self._require(FAN, "set the fan")
        if percent is not None and not 15 <= int(percent) <= 100:
            raise ValueError(f"fan speed {percent} % is outside 15..100 (Avalon firmware range)")
        self._ascset("fan-spd", "-1" if percent is None else str(int(percent)))

    def _web_password(self) -> str:
        if self.credentials is type(self).default_credentials and (self._model or "").lower() == "avalon q":
            return "admin"  # Avalon Q (fw 25052801) ships with web password "admin"
        return self.credentials.password

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Write pool slots with ``setpool`` (web login needed), then reboot so cgminer loads them.

        Nano 3/3S/Q/Mini 3: ``setpool|admin,<web password>,<slot>,<url>,<worker>,<pass>``
        per slot (LW10583/AvalonMinerTools on a Nano 3S, Gr33nDrag0n69/AvalonPS7);
        slots not given are left as they are. A-series: one pool with
        ``ascset|0,setpool,<user>,<pass>,<url>,<worker>,<workerpass>``. Both are
        "effective after reboot" (A10 API manual 2.5), so the miner is rebooted.
        """
        kind = self._ensure_learned()
        checked = validate_pools(pools, max_pools=1 if kind == A_SERIES else 3)
        password = self._web_password()
        for _, _, pool in checked:
            named = ((pool.user, "worker name"), (pool.password, "pool password"), (password, "web password"))
            for value, what in named:
                if "," in value:
                    raise ValueError(f"the {what} cannot contain a comma: Avalon firmware splits setpool on commas")
        secrets = [p.password for p in pools if p.password] + [password]
        try:
            for slot, (_, _, pool) in enumerate(checked):
                url = pool.url.strip()
                if kind == A_SERIES:
                    self.api.send("ascset", ",".join(("0", "setpool", self.credentials.username, password, url,
                                                   pool.user, pool.password)))
                else:
                    self.api.send("setpool", ",".join(("admin", password, str(slot), url, pool.user, pool.password)))
        except APIError as exc:
            msg = scrub(exc.msg, secrets)
            if re.search(r"auth|pass|denied|login|permission", msg, re.IGNORECASE):
                raise MinerAuthError(f"the Avalon refused the web password for setpool: {msg}; set the miner's "
                                     "web login with its credentials") from None
            raise MinerError(f"setpool: {msg} (STATUS {exc.status}, Code {exc.code})") from None
        try:
            self._ascset("reboot", "0")  # cgminer reads the pool file at start
        except EmptyReply:
            pass
        self.api.forget_version()

    @reply_guard
    def read_chips(self) -> list[ChipStatus]:
        """Per-chip temperature and voltage from ``estats`` (PVT_T/PVT_V, or HBinfo on the Q)."""
        reply = self.api.send("estats")
        mm, hb = mm_data(reply)
        chips = parse_chips(mm, hb)
        if not chips:
            raise NotSupported("this Avalon firmware reports no per-chip data")
        return chips


def _ascset_error(option: str, exc: APIError) -> MinerError:
    text = _SET_INFO.sub("", exc.msg)
    if "unknown option" in text.lower():
        return NotSupported(f"this Avalon firmware has no ascset option {option!r} ({text})")
    if "caling" in text.lower():  # Canaan: "current mode 2 is caling Don't permit switch mode"
        return MinerError(f"the miner is still calibrating and refuses the change; try again later ({text})")
    return MinerError(f"ascset {option}: {text or 'refused'} (STATUS {exc.status}, Code {exc.code})")


def _expect_success(reply: Mapping[str, Any], what: str) -> None:
    """S/119 "set OK", or I/118 "set info: success ..." (recorded Avalon Q softoff/softon replies)."""
    head = (section(reply, "STATUS") or [{}])[0]
    letter, msg = str(head.get("STATUS", "")), str(head.get("Msg", ""))
    if letter == "S" or "success" in msg.lower():
        return
    raise MinerProtocolError(f"{what}: unexpected reply {_SET_INFO.sub('', msg)!r}")


__all__ = ["AvalonDriver", "parse_avalon", "parse_mm", "parse_hbinfo", "parse_text_reply", "parse_chips",
           "power_from_mm", "model_kind", "help_options"]
