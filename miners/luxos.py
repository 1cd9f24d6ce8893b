"""LuxOS (Luxor's LUXminer) on the cgminer-style API, port 4028.

Facts (reference section 9; LuxorLabs/luxos-tooling ``api.json``/``api.py``/
``asyncops.py``; pyasic ``rpc/luxminer.py``; asic-rs ``luxminer/backends/v1``):

- Reads need no login: ``summary`` (GH/s), ``devs`` (per board, MH/s, ``Nominal MHS``),
  ``devdetails`` (Chips, Frequency MHz, Voltage V), ``config`` (Model, Profile,
  CurtailMode, IsAtmEnabled, ...), ``power`` (``POWER[0].Watts``; ``PSU`` false means
  LUXminer estimated it), ``temps`` (four sensors per board), ``fans``, ``profiles``
  (name, Watts, Hashrate TH/s), ``pools``, ``healthchipget <board>`` (``CHIPS``).
- Writes that change the miner need a session (Luxor's api.json ``logon_required``):
  ``session`` gives the open one ("" if none; pyasic reuses it), else ``logon`` ->
  ``SESSION[0].SessionID`` ("Another session is active", Code 402, while one is
  open); the id is the FIRST parameter: ``curtail <sid>,sleep|wakeup``,
  ``profileset <sid>,<profile>``, ``rebootdevice <sid>`` (the whole miner; ``reboot``
  reboots one hash board), ``logoff <sid>``. Sessions expire after 60 s idle.
- ``addpool``/``removepool``/``switchpool`` take NO session (Luxor's api.json says
  logon_required false, and pyasic/asic-rs send them without one): the brief listed them
  under session commands; the firmware's own tooling is followed here.
- The API has no password, so the app's credentials for a LuxOS miner are unused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from . import cgminer_api
from .base import (
    CHIPS,
    MODE,
    POOLS,
    POWER_WATTS,
    RESTART,
    SLEEP,
    WAKE,
    BoardStatus,
    ChipStatus,
    MinerAuthError,
    MinerDriver,
    MinerProtocolError,
    MinerStatus,
    PoolConfig,
)
from .cgminer import GH, MH, added_pool_id, parse_pools, parse_summary, section
from .cgminer_api import APIError, CGMinerClient, EmptyReply, escape_parameter, reply_guard
from .stratum import validate_pools
from .values import difficulty, integer, num, positive, scrub

log = logging.getLogger(__name__)

_READ_COMMANDS = ("summary", "pools", "devs", "devdetails", "config", "power", "temps", "fans")
_TEMP_POSITIONS = ("TopLeft", "TopRight", "BottomLeft", "BottomRight")
CODE_SESSION_ACTIVE = 402  # luxos-tooling asyncops.logon: "Another session is active"
MAX_POOLS = 3


# --- pure parsers ---------------------------------------------------------------------------
def _first(reply: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    items = section(reply, name)
    return items[0] if items else {}


def parse_profiles(reply: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """PROFILES -> [{"name", "watts", "hashrate_ths", "frequency_mhz"}] sorted by watts, then name."""
    profiles = []
    for entry in section(reply, "PROFILES"):
        name = entry.get("Profile Name")
        if not isinstance(name, str) or not name:
            continue
        profiles.append({"name": name, "watts": num(entry.get("Watts")), "hashrate_ths": num(entry.get("Hashrate")),
                         "frequency_mhz": num(entry.get("Frequency"))})
    profiles.sort(key=lambda p: (p["watts"] if p["watts"] is not None else float("inf"), p["name"]))
    return profiles


def profile_for_watts(profiles: list[dict[str, Any]], watts: float) -> dict[str, Any] | None:
    """The highest-power profile whose Watts are at or below ``watts`` (None when even the lowest is above)."""
    fitting = [p for p in profiles if p["watts"] is not None and p["watts"] <= watts]
    return max(fitting, key=lambda p: p["watts"]) if fitting else None


def parse_luxos(replies: Mapping[str, Mapping[str, Any] | None]) -> MinerStatus:
    """summary/devs/devdetails/config/power/temps/fans/pools/version of LUXminer -> MinerStatus (pure)."""
    status = MinerStatus()
    summary = parse_summary(replies.get("summary"))  # "GHS 5s" ... GH/s
    status.hashrate_hs = summary.get("hashrate_hs")
    status.uptime_s = summary.get("uptime_s")
    status.shares_accepted = summary.get("shares_accepted")
    status.shares_rejected = summary.get("shares_rejected")
    # LUXminer's summary has both: "Best Session Share" (since luxminer started) and "Best
    # Share", kept across restarts: the recorded LUXminer 2026.9.21 summary has 415192685
    # there beside a session best (and the pool's "Best Share") of 9741461.
    lux_summary = _first(replies.get("summary"), "SUMMARY")
    status.best_difficulty = difficulty(lux_summary.get("Best Share"))
    status.best_session_difficulty = difficulty(lux_summary.get("Best Session Share"))

    version = _first(replies.get("version"), "VERSION")
    config = _first(replies.get("config"), "CONFIG")
    status.firmware = "LuxOS"
    lux = version.get("LUXminer")
    status.firmware_version = lux if isinstance(lux, str) and lux else None
    for value in (version.get("Type"), config.get("Model")):
        if isinstance(value, str) and value.strip():
            status.model = value.strip()
            break
    host = config.get("Hostname")
    status.hostname = host if isinstance(host, str) and host else None
    mac = config.get("MACAddr")
    status.mac = mac.upper() if isinstance(mac, str) and mac and mac != "00:00:00:00:00:00" else None

    power = _first(replies.get("power"), "POWER")
    status.power_w = num(power.get("Watts"))
    if status.power_w is not None and power.get("PSU") is False:
        status.errors.append("note: power is LUXminer's estimate (PSU false: no reading from the power supply)")

    devs = {integer(d.get("ID")): d for d in section(replies.get("devs"), "DEVS")}
    details = {integer(d.get("ID")): d for d in section(replies.get("devdetails"), "DEVDETAILS")}
    temps = {integer(t.get("ID")): t for t in section(replies.get("temps"), "TEMPS")}
    expected = 0.0
    for board_id in sorted(i for i in set(devs) | set(details) if i is not None):
        dev, detail, temp = devs.get(board_id, {}), details.get(board_id, {}), temps.get(board_id, {})
        rate = num(dev.get("MHS 5s"))
        if rate is None:
            rate = num(dev.get("MHS 1m"))
        nominal = positive(dev.get("Nominal MHS"))
        if nominal is not None:
            expected += nominal * MH
        sensors = [positive(temp.get(k)) for k in _TEMP_POSITIONS]
        sensors = [t for t in sensors if t is not None] or [t for t in [positive(dev.get("Temperature"))] if t]
        volt = positive(detail.get("Voltage"))
        status.boards.append(BoardStatus(
            index=board_id,  # LUXminer's board id: the same number in devs, temps and healthchipget
            hashrate_hs=rate * MH if rate is not None else None,
            expected_hashrate_hs=nominal * MH if nominal is not None else None,
            temp_c=max(sensors) if sensors else None,
            chips=integer(detail.get("Chips")),
            frequency_mhz=positive(detail.get("Frequency")),  # MHz ("145" with the 145MHz profile)
            voltage_mv=round(volt * 1000.0, 1) if volt is not None else None,
            hardware_errors=integer(dev.get("Hardware Errors")),
        ))
    status.expected_hashrate_hs = expected or None
    freqs = [b.frequency_mhz for b in status.boards if b.frequency_mhz]
    status.frequency_mhz = round(sum(freqs) / len(freqs), 2) if freqs else None
    temps_seen = [b.temp_c for b in status.boards if b.temp_c is not None]
    status.temp_c = max(temps_seen) if temps_seen else None

    fans = section(replies.get("fans"), "FANS")
    status.fan_rpm = [r for r in (integer(f.get("RPM")) for f in fans) if r is not None]
    status.fan_percent = num(fans[0].get("Speed")) if fans else None
    status.pools = parse_pools(replies.get("pools"))

    profile = config.get("Profile")
    if isinstance(profile, str) and profile:
        status.errors.append(f"note: profile {profile}")
    curtail = str(config.get("CurtailMode") or "None")
    if curtail.lower() not in ("", "none") or config.get("IsPowerSupplyOn") is False:
        status.state = "sleeping"
    elif status.hashrate_hs == 0:
        status.state = "idle"
    return status


def parse_chips(reply: Mapping[str, Any] | None, board: int) -> list[ChipStatus]:
    """healthchipget CHIPS -> ChipStatus ("Healthy" Y/N/Unknown; "GHS 1m" GH/s; Frequency MHz)."""
    chips = []
    for position, entry in enumerate(section(reply, "CHIPS")):
        healthy = str(entry.get("Healthy") or "Unknown").strip()
        rate = num(entry.get("GHS 1m"))
        if rate is None:
            rate = num(entry.get("GHS 5m"))
        index = integer(entry.get("Chip"))
        chips.append(ChipStatus(
            board=integer(entry.get("Board")) if entry.get("Board") is not None else board,
            index=index if index is not None else position,
            hashrate_hs=rate * GH if rate is not None else None,
            state={"Y": "ok", "N": "unhealthy"}.get(healthy, healthy.lower() or "unknown"),
            temp_c=positive(entry.get("ChipTemp")),  # S21-class only
            frequency_mhz=positive(entry.get("Frequency")),
        ))
    return chips


def _is_session_error(exc: APIError) -> bool:
    """A refusal about the session id (wording not captured from a real LUXminer; any 'session' message)."""
    return "session" in exc.msg.lower() and exc.code != CODE_SESSION_ACTIVE


# --- the driver -------------------------------------------------------------------------------
class LuxOSDriver(MinerDriver):
    """LuxOS: reads on 4028; sleep/wake, profiles (as modes and power targets), reboot, pools, chips."""

    family: ClassVar[str] = "luxos"
    default_port: ClassVar[int] = cgminer_api.DEFAULT_PORT
    capabilities: ClassVar[frozenset[str]] = frozenset({RESTART, SLEEP, WAKE, POWER_WATTS, MODE, POOLS, CHIPS})

    def __init__(self, host: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.api = CGMinerClient(self.host, self.port, self.timeout)
        self._profiles: list[dict[str, Any]] | None = None
        self._board_ids: list[int] = []
        # (profile, text): what the last power target turned into, shown while that profile runs
        self._note: tuple[str, str] | None = None
        self.modes: tuple[str, ...] = ()  # instance: this unit's profile names, least power first
        self.power_steps_w: tuple[float, ...] = ()  # instance: this unit's profile watts

    # --- transport ---
    def _send(self, command: str, params: list[str] | None = None) -> dict[str, Any]:
        """One command with its parameters comma-joined (the session id first where one is needed)."""
        return self.api.send(command, ",".join(params) if params else None)

    # --- read ---
    @reply_guard
    def read(self) -> MinerStatus:
        """summary/pools/devs/devdetails/config/power/temps/fans (+ version and profiles once)."""
        results = self.api.read(_READ_COMMANDS, extra=("profiles",) if self._profiles is None else ())
        if "summary" not in results.replies:
            raise results.errors.get("summary") or MinerProtocolError("no summary in the reply")
        if "profiles" in results.replies:
            self._learn_profiles(results.replies["profiles"])
        replies: dict[str, Any] = dict(results.replies)
        status = parse_luxos(replies)
        self._board_ids = [b.index for b in status.boards]
        status.errors.extend(f"{cmd}: {err.msg}" for cmd, err in results.errors.items())
        if self._note and f"note: profile {self._note[0]}" in status.errors:
            status.errors.append(self._note[1])
        return status

    def _learn_profiles(self, reply: Mapping[str, Any]) -> None:
        self._profiles = parse_profiles(reply)
        self.modes = tuple(p["name"] for p in self._profiles)
        self.power_steps_w = tuple(sorted({float(p["watts"]) for p in self._profiles if p["watts"] is not None}))
        caps = set(type(self).capabilities)
        if not self._profiles:  # no profile ladder: nothing to switch to
            caps -= {MODE, POWER_WATTS}
        self.capabilities = frozenset(caps)

    def _need_profiles(self) -> list[dict[str, Any]]:
        if self._profiles is None:
            self._learn_profiles(self._send("profiles"))
        return self._profiles or []

    # --- sessions ---
    def _session_id(self, fresh: bool = False) -> tuple[str, bool]:
        """(session id, opened by us). Reuses the open session unless ``fresh``; else logon."""
        if not fresh:
            try:
                current = _first(self._send("session"), "SESSION").get("SessionID")
            except APIError:  # a build without `session` (pyasic tolerates that too): log on instead
                current = None
            if isinstance(current, str) and current:
                return current, False
        try:
            sid = _first(self._send("logon"), "SESSION").get("SessionID")
        except APIError as exc:
            if exc.code != CODE_SESSION_ACTIVE:
                raise
            # Another session is open (ours expired in between, or another tool's): use it.
            current = _first(self._send("session"), "SESSION").get("SessionID")
            if isinstance(current, str) and current:
                return current, False
            raise MinerAuthError("LuxOS refused a new session (another session is active) and named none") from None
        if not isinstance(sid, str) or not sid:
            raise MinerProtocolError("logon: no SessionID in the reply")
        return sid, True

    def _privileged(self, command: str, *args: str, reboots: bool = False) -> dict[str, Any]:
        """Run ``command <sid>,args...``; a refused (stale) session gets one new logon and one retry."""
        sid, ours = self._session_id()
        logoff: list[str] = [sid] if ours else []
        try:
            try:
                return self._send(command, [sid, *args])
            except APIError as exc:
                if not _is_session_error(exc):
                    raise type(exc)(exc.command, exc.code, exc.msg.replace(sid, "***"), exc.status) from None
                log.info("%s: LuxOS refused the session for %s; logging on again", self.host, command)
            sid, ours = self._session_id(fresh=True)
            if ours:
                logoff.append(sid)
            try:
                return self._send(command, [sid, *args])
            except APIError as exc:
                if _is_session_error(exc):
                    raise MinerAuthError(f"LuxOS refused the session for {command} twice "
                                         f"({exc.msg.replace(sid, '***')}); nothing was changed") from None
                raise
        except EmptyReply:
            if reboots:
                logoff.clear()  # the miner went down while answering: that is the reboot
                return {}
            raise
        finally:
            for own in logoff:
                self._logoff(own)

    def _logoff(self, sid: str) -> None:
        try:
            self._send("logoff", [sid])
        except Exception as exc:  # noqa: BLE001 - a failed logoff must not hide the command's outcome
            log.debug("%s: logoff failed: %s", self.host, type(exc).__name__)

    # --- control ---
    def sleep(self) -> None:
        """curtail <sid>,sleep."""
        self._privileged("curtail", "sleep")

    def wake(self) -> None:
        """curtail <sid>,wakeup."""
        self._privileged("curtail", "wakeup")

    def restart(self) -> None:
        """rebootdevice <sid>: reboots the whole miner (``reboot`` would reboot one hash board)."""
        self._privileged("rebootdevice", reboots=True)
        self.api.forget_version()
        self._profiles = None

    def set_mode(self, mode: str) -> None:
        """profileset <sid>,<profile>; ``mode`` is one of this unit's profile names."""
        names = [p["name"] for p in self._need_profiles()]
        if mode not in names:
            raise ValueError(f"unknown LuxOS profile {mode!r}; this miner has {', '.join(names) or 'none'}")
        self._privileged("profileset", mode)
        self._note = None

    def set_power_watts(self, watts: int) -> None:
        """LuxOS sets power by profile: the highest profile whose Watts are at or below ``watts``."""
        profiles = self._need_profiles()
        choice = profile_for_watts(profiles, watts)
        if choice is None:
            lowest = min((p["watts"] for p in profiles if p["watts"] is not None), default=None)
            shown = f"; the lowest profile uses {lowest:g} W" if lowest is not None else ""
            raise ValueError(f"no LuxOS profile at or below {watts} W{shown}")
        self._privileged("profileset", choice["name"])
        text = (f"note: power target {watts} W -> LuxOS profile {choice['name']} ({choice['watts']:g} W), "
                "the highest profile at or below the target")
        self._note = (choice["name"], text)
        log.info("%s: %s", self.host, text)

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """addpool each new pool, switchpool to the first, removepool the old ones (no session needed)."""
        checked = validate_pools(pools, max_pools=MAX_POOLS)
        secrets = [p.password for p in pools if p.password]
        try:
            self._replace_pools([pool for _, _, pool in checked])
        except APIError as exc:
            raise type(exc)(exc.command, exc.code, scrub(exc.msg, secrets), exc.status) from None
        after = parse_pools(self._send("pools"))
        wanted = [(p.url.strip().lower(), p.user) for _, _, p in checked]
        if sorted((p.url.lower(), p.user) for p in after) != sorted(wanted):
            raise MinerProtocolError("LuxOS accepted the pools but lists a different set")

    def _replace_pools(self, pools: list[PoolConfig]) -> None:
        old = section(self._send("pools"), "POOLS")
        old_ids = sorted((i for i in (integer(p.get("POOL")) for p in old) if i is not None), reverse=True)
        new_ids: list[int] = []
        for pool in pools:
            reply = self._send("addpool", [escape_parameter(v) for v in (pool.url.strip(), pool.user, pool.password)])
            # LUXminer's addpool wording is not captured: cgminer's "Added pool 3: 'url'" is assumed.
            new_ids.append(added_pool_id(reply, fallback=len(old) + len(new_ids)))
        self._send("switchpool", [str(new_ids[0])])
        for pool_id in old_ids:  # highest first: a removal may renumber the pools after it
            try:
                self._send("removepool", [str(pool_id)])
            except APIError as exc:
                log.warning("%s: could not remove old pool %d: %s", self.host, pool_id, exc.msg)

    @reply_guard
    def read_chips(self) -> list[ChipStatus]:
        """healthchipget <board> for every board the last read saw."""
        if not self._board_ids:
            self.read()
        chips: list[ChipStatus] = []
        for board in self._board_ids:
            chips.extend(parse_chips(self._send("healthchipget", [str(board)]), board))
        return chips
