"""Vnish 1.x ("AnthillOS" web UI; S19/S21/L7/L9...): the REST API under /api/v1 with an unlock token.

Wire facts (reference section 7, the device-exported OpenAPI documents of Vnish
1.2.6 and 1.3.4 kept in asic-rs forks, pyasic ``web/vnish.py``, asic-rs
``vnish/src/backends/v1_2_0`` and ``v1_3_0``):

- ``POST /api/v1/unlock {"pw": ...}`` answers ``{"token": ...}``; 403 is a wrong
  password, 429 too many tries (both carry ``{"unlock_timeout": n}``). The token
  goes in ``Authorization: Bearer <token>``; an expired token gets 401 on a
  protected path, and the driver unlocks once more and retries (asic-rs does the same).
- Reads without auth: ``/info`` (``hr_measure`` names the unit of every hashrate:
  "GH/s", or "MH/s" on scrypt models), ``/summary`` (``miner{}``), per-chip data
  on ``/chains`` (1.2.x; ``/chips`` is its deprecated older form) or ``/boards`` (1.3.x).
- Writes (auth): ``/mining/{stop,start,restart,pause,resume}``, ``/system/reboot``,
  ``/mining/throttle {"percent": 20..100}`` (1.3.x only: the 1.2.6 spec has no
  ``throttled`` and no throttle path), ``POST /settings`` with ``miner.pools``
  (exactly three ``{url,user,pass}``) or ``miner.overclock.preset``. Success is
  HTTP 200 with an empty body; refusals are ``{"err": "..."}``. The settings reply
  is the same whether or not anything changed (pyasic), so every settings write is
  read back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from . import http
from .base import (
    CHIPS,
    FREQUENCY,
    REBOOT,
    MODE,
    POOLS,
    POWER_PERCENT,
    POWER_WATTS,
    RESTART,
    SCRYPT,
    SHA256D,
    SLEEP,
    THERMAL,
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
    PoolStatus,
)
from .cgminer import integer, model_from_type, num, positive
from .stratum import validate_pools
from .tuning import Tuning
from .values import difficulty, scrub
from .vnish_rest_tuning import MANUAL_PRESET, miner_settings, model_limits, overclock_change, parse_tuning

log = logging.getLogger(__name__)

Version = tuple[int, int, int]
V1_3: Version = (1, 3, 0)  # /mining/throttle, miner_status.throttled and /boards appear in the 1.3.x OpenAPI
_UNIT = {"H/s": 1.0, "KH/s": 1e3, "MH/s": 1e6, "GH/s": 1e9, "TH/s": 1e12}
THROTTLE_MIN, THROTTLE_MAX = 20, 100  # ThrottleSettings.percent bounds in the 1.3.4 OpenAPI
POOL_SLOTS = 3  # MinerConfigRaw.pools is a fixed three-item tuple in both specs


# --- pure helpers ------------------------------------------------------------------------
def parse_version(text: Any) -> Version | None:
    """(1, 2, 0) from "1.2.0-beta10", "Antminer S19 (Vnish 1.2.6)"; None when there is no x.y."""
    if not isinstance(text, str):
        return None
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def hashrate_scale(info: Mapping[str, Any] | None) -> float:
    """H/s per unit of every Vnish hashrate figure, from /info ``hr_measure`` ("GH/s" or "MH/s").

    The 1.3.4 spec also allows "N/A": then the algorithm decides (scrypt models
    report MH/s, SHA-256 ones GH/s), which is what asic-rs falls back to as well.
    """
    info = info or {}
    unit = info.get("hr_measure")
    if isinstance(unit, str) and unit.strip() in _UNIT:
        return _UNIT[unit.strip()]
    return 1e6 if str(info.get("algorithm", "")).lower() == SCRYPT else 1e9


def parse_uptime(text: Any) -> int | None:
    """Seconds from /info ``system.uptime``: "9 days,  3:58", "1 day, 0:01", "0:06" (hours:minutes)."""
    if not isinstance(text, str) or not text.strip():
        return None
    days = 0
    rest = text.strip()
    match = re.match(r"(\d+)\s+days?,?\s*(.*)$", rest)
    if match:
        days, rest = int(match.group(1)), match.group(2).strip()
    clock = re.fullmatch(r"(\d+):(\d{2})", rest)
    if clock:
        return days * 86400 + int(clock.group(1)) * 3600 + int(clock.group(2)) * 60
    if not rest and match:
        return days * 86400
    return None


def _range_max(value: Any) -> float | None:
    """``max`` of a {"min","max"} TempRange; 0 is how Vnish says "no reading" (summary of a failed miner)."""
    return positive(value.get("max")) if isinstance(value, Mapping) else None


def _sensor_max(sensors: Any) -> float | None:
    """Hottest sensor that measures: 1.2.0 chains list ``pcb_temp_sens[{status,temp}]``, "error" ones skipped."""
    if not isinstance(sensors, list):
        return None
    temps = [positive(s.get("temp")) for s in sensors if isinstance(s, Mapping) and s.get("status") != "error"]
    temps = [t for t in temps if t is not None]
    return max(temps) if temps else None


def _system(summary: Mapping[str, Any], info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    # 1.2.0 puts "system" into /summary too; the 1.3.4 Summary schema has only "miner".
    for source in (info or {}, summary):
        system = source.get("system")
        if isinstance(system, Mapping):
            return system
    return {}


def _chip_states(statuses: Any) -> str | None:
    """"2 red, 1 orange" from ChainChipStatuses; None when every chip is grey (grey = no problem)."""
    if not isinstance(statuses, Mapping):
        return None
    parts = [f"{n} {color}" for color in ("red", "orange") if (n := integer(statuses.get(color)) or 0) > 0]
    return ", ".join(parts) or None


def parse_boards(chains: Any, scale: float) -> list[BoardStatus]:
    """``miner.chains[]`` of /summary -> boards (chain ids start at 1, boards at 0)."""
    boards = []
    for position, chain in enumerate(c for c in (chains or []) if isinstance(c, Mapping)):
        chain_id = integer(chain.get("id"))
        rate, ideal = num(chain.get("hashrate_rt")), positive(chain.get("hashrate_ideal"))
        statuses = chain.get("chip_statuses")
        chips = None
        if isinstance(statuses, Mapping):
            counts = [integer(statuses.get(k)) for k in ("red", "orange", "grey")]
            chips = sum(c for c in counts if c is not None) or None
        boards.append(BoardStatus(
            index=chain_id - 1 if chain_id is not None and chain_id >= 1 else position,
            hashrate_hs=rate * scale if rate is not None else None,
            expected_hashrate_hs=ideal * scale if ideal is not None else None,
            # 1.3.x AntmBoard: pcb_temp{min,max}; the 1.2.0 capture: pcb_temp_sens[] per sensor.
            temp_c=_range_max(chain.get("pcb_temp")) or _sensor_max(chain.get("pcb_temp_sens")),
            chip_temp_c=_range_max(chain.get("chip_temp")) or _sensor_max(chain.get("chip_temp_sens")),
            chips=chips,
            frequency_mhz=positive(chain.get("frequency")),
            voltage_mv=positive(chain.get("voltage")),  # mV: 14000 on an S19 (1.2.0 capture)
            chip_states=_chip_states(statuses),
            hardware_errors=integer(chain.get("hw_errors")),
        ))
    return boards


def parse_pools(pools: Any) -> list[PoolStatus]:
    """``miner.pools[]`` -> the user's pools; the DevFee/Refund entries Vnish appends are left out."""
    out = []
    for entry in pools or []:
        if not isinstance(entry, Mapping) or entry.get("pool_type", "UserPool") != "UserPool":
            continue
        url = entry.get("url")
        if not isinstance(url, str) or not url.strip():
            continue
        status = str(entry.get("status") or "")
        out.append(PoolStatus(url=url.strip(), user=str(entry.get("user") or ""), status=status,
                              active=status == "active", priority=integer(entry.get("id")),
                              accepted=integer(entry.get("accepted")), rejected=integer(entry.get("rejected"))))
    return sorted(out, key=lambda p: p.priority if p.priority is not None else 99)


# MinerState (both specs) -> MinerStatus.state. "auto-tuning" hashes while it tunes.
_STATES = {"mining": "mining", "auto-tuning": "mining", "initializing": "idle", "starting": "idle",
           "restarting": "idle", "shutting-down": "idle", "stopped": "sleeping", "failure": "error"}


def parse_summary(summary: Mapping[str, Any], info: Mapping[str, Any] | None = None) -> MinerStatus:
    """GET /summary (+ /info for the unit and identity) -> MinerStatus in H/s, W, degrees C, mV (pure)."""
    if not isinstance(summary, Mapping) or not isinstance(summary.get("miner"), Mapping):
        raise MinerProtocolError("/api/v1/summary has no \"miner\" object")
    miner: Mapping[str, Any] = summary["miner"]
    info = info if isinstance(info, Mapping) else {}
    scale = hashrate_scale(info)
    status = MinerStatus()
    status.boards = parse_boards(miner.get("chains"), scale)
    realtime = num(miner.get("hr_realtime"))
    board_rates = [b.hashrate_hs for b in status.boards if b.hashrate_hs is not None]
    if realtime is not None:
        status.hashrate_hs = realtime * scale
    elif board_rates:
        # Vnish 1.2.0 has no hr_realtime; its deprecated instant_hashrate is documented
        # as "MG/s" and disagrees with the chains in the 1.2.0-beta10 capture, so the
        # chains' hashrate_rt (in hr_measure units) are summed instead.
        status.hashrate_hs = sum(board_rates)
    nominal = positive(miner.get("hr_nominal"))
    ideal = [b.expected_hashrate_hs for b in status.boards if b.expected_hashrate_hs is not None]
    status.expected_hashrate_hs = nominal * scale if nominal is not None else (sum(ideal) if ideal else None)
    # Watts: power_consumption (1.2.6+). 1.2.0-beta10 has only power_usage, in watts there
    # (3733.0, with power_efficiency 55.4 J/TH); the 1.3.4 spec redefines power_usage as a
    # deprecated copy of power_efficiency, so it is read only when power_consumption is absent.
    power = miner.get("power_consumption") if "power_consumption" in miner else miner.get("power_usage")
    status.power_w = positive(power)
    temps = [t for t in (_range_max(miner.get("chip_temp")), _range_max(miner.get("pcb_temp"))) if t is not None]
    temps += [t for b in status.boards for t in (b.chip_temp_c, b.temp_c) if t is not None]
    status.temp_c = max(temps) if temps else None
    cooling = miner.get("cooling") if isinstance(miner.get("cooling"), Mapping) else {}
    status.fan_rpm = [rpm for fan in cooling.get("fans") or [] if isinstance(fan, Mapping)
                      and (rpm := integer(fan.get("rpm"))) is not None]
    status.fan_percent = num(cooling.get("fan_duty"))
    freqs = [b.frequency_mhz for b in status.boards if b.frequency_mhz is not None]
    status.frequency_mhz = max(freqs) if freqs else None
    volts = [b.voltage_mv for b in status.boards if b.voltage_mv is not None]
    status.voltage_mv = max(volts) if volts else None
    status.pools = parse_pools(miner.get("pools"))
    if status.pools:
        status.shares_accepted = sum(p.accepted or 0 for p in status.pools)
        status.shares_rejected = sum(p.rejected or 0 for p in status.pools)
    # "best_share" (with "found_blocks"): the mining process's best since it started; the
    # API spec gives no lifetime, and the same process's cgminer API "Best Share" is the
    # session's, so it is read as a session value.
    status.best_session_difficulty = difficulty(miner.get("best_share"))
    miner_type = miner.get("miner_type") if isinstance(miner.get("miner_type"), str) else None
    model = info.get("miner") if isinstance(info.get("miner"), str) and info.get("miner") else None
    status.model = model or (model_from_type(miner_type) if miner_type else None)
    status.firmware = "Vnish"
    version = info.get("fw_version")
    if not (isinstance(version, str) and version.strip()) and miner_type:
        match = re.search(r"\(vnish\s+([^)]+)\)", miner_type, re.IGNORECASE)
        version = match.group(1) if match else None
    status.firmware_version = version.strip() if isinstance(version, str) and version.strip() else None
    algorithm = str(info.get("algorithm") or "").lower()
    status.algorithm = SCRYPT if algorithm == SCRYPT or info.get("hr_measure") == "MH/s" else SHA256D
    system = _system(summary, info)
    status.uptime_s = parse_uptime(system.get("uptime"))
    network = system.get("network_status") if isinstance(system.get("network_status"), Mapping) else {}
    mac, hostname = network.get("mac"), network.get("hostname")
    status.mac = mac.strip().upper() if isinstance(mac, str) and mac.strip() else None
    status.hostname = hostname.strip() if isinstance(hostname, str) and hostname.strip() else None
    miner_status = miner.get("miner_status") if isinstance(miner.get("miner_status"), Mapping) else {}
    state = str(miner_status.get("miner_state") or "")
    status.state = _STATES.get(state, "mining" if status.hashrate_hs else "idle")
    if state == "failure":
        detail = miner_status.get("description") or "failure"
        code = miner_status.get("failure_code")
        status.errors.append(f"miner failure: {detail}" + (f" (code {code})" if code is not None else ""))
    for board, chain in zip(status.boards, [c for c in miner.get("chains") or [] if isinstance(c, Mapping)]):
        chain_state = chain.get("status") if isinstance(chain.get("status"), Mapping) else {}
        if chain_state.get("state") == "failure":
            status.errors.append(f"board {board.index}: {chain_state.get('description') or 'failure'}")
    throttled = integer(miner_status.get("throttled"))
    if throttled is not None and throttled < 100:
        status.errors.append(f"throttled to {throttled} %")
    return status


def _chip_grade(grade: Any) -> str | None:
    # ChipGrade is grey/orange/red; every chip of a healthy S19 is "grey" (1.2.0
    # capture: chip_statuses grey 76 per chain, red/orange 0), so grey means fine.
    if not isinstance(grade, str) or not grade:
        return None
    return "ok" if grade == "grey" else grade


def parse_chain_chips(chains: Any, scale: float) -> list[ChipStatus]:
    """``/chains`` (1.2.x) or ``/boards`` (1.3.x): [{id, chips:[{id, hr, freq, volt, temp, errs, grade}]}]."""
    out = []
    for chain in chains if isinstance(chains, list) else []:
        if not isinstance(chain, Mapping):
            continue
        board = (integer(chain.get("id")) or 1) - 1
        for position, chip in enumerate(c for c in chain.get("chips") or [] if isinstance(c, Mapping)):
            rate = num(chip.get("hr"))
            index = integer(chip.get("id"))
            out.append(ChipStatus(
                board=board, index=index if index is not None else position,
                hashrate_hs=rate * scale if rate is not None else None, state=_chip_grade(chip.get("grade")),
                temp_c=num(chip.get("temp")), frequency_mhz=num(chip.get("freq")),
                voltage_mv=num(chip.get("volt")),  # asic-rs reads AntmChip.volt as mV (not verified on a device)
                errors=integer(chip.get("errs"))))
    return out


def parse_chips_stats(reply: Any, scale: float) -> list[ChipStatus]:
    """Deprecated 1.2.x ``/chips``: {chips_per_chain, chains:[{id, chips:[{id, status, hashrate, freq, temp, errors}]}]}."""
    chains = reply.get("chains") if isinstance(reply, Mapping) else None
    out = []
    for chain in chains if isinstance(chains, list) else []:
        if not isinstance(chain, Mapping):
            continue
        board = (integer(chain.get("id")) or 1) - 1
        for position, chip in enumerate(c for c in chain.get("chips") or [] if isinstance(c, Mapping)):
            rate = num(chip.get("hashrate"))
            index = integer(chip.get("id"))
            out.append(ChipStatus(
                board=board, index=index if index is not None else position,
                hashrate_hs=rate * scale if rate is not None else None, state=_chip_grade(chip.get("status")),
                temp_c=num(chip.get("temp")), frequency_mhz=num(chip.get("freq")), errors=integer(chip.get("errors"))))
    return out


def preset_watts(preset: Mapping[str, Any]) -> int | None:
    """Watts of an autotune preset: its ``name`` is the bare watt number ("3250"); "disabled" has none."""
    name = preset.get("name")
    return int(name) if isinstance(name, str) and name.strip().isdigit() else None


def pick_preset(presets: list[Mapping[str, Any]], watts: int) -> Mapping[str, Any]:
    """The preset with the most watts at or below ``watts`` (ValueError when none is that low)."""
    named = [(w, p) for p in presets if (w := preset_watts(p)) is not None]
    if not named:
        raise ValueError("this Vnish miner lists no watt presets (autotune presets are named by watts)")
    fitting = [(w, p) for w, p in named if w <= watts]
    if not fitting:
        lowest = min(w for w, _ in named)
        raise ValueError(f"no Vnish preset at or below {watts} W; the lowest is {lowest} W")
    return max(fitting, key=lambda item: item[0])[1]


# --- the driver ------------------------------------------------------------------------------
class VnishRestDriver(MinerDriver):
    """Vnish 1.x over its REST API; one Session and one unlock token per instance.

    ``modes`` are the miner's own autotune preset names, learnt on the first read
    that can unlock (reading the presets needs the token); ``capabilities`` lose
    POWER_PERCENT below 1.3.0.
    """

    family: ClassVar[str] = "vnish"
    default_port: ClassVar[int] = 80
    capabilities: ClassVar[frozenset[str]] = frozenset({RESTART, REBOOT, SLEEP, WAKE, POWER_WATTS, POWER_PERCENT, MODE,
                                                        POOLS, CHIPS, FREQUENCY, THERMAL})
    # The web password; user names do not exist on Vnish 1.x. "admin" is the factory
    # password (pyasic settings default_vnish_web_password, asic-rs VnishV120::default_auth).
    default_credentials: ClassVar[Credentials | None] = Credentials("", "admin")

    def __init__(self, host: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._session = http.new_session()
        self._token: str | None = None
        self._version: Version | None = None
        self._scale: float = 1e9
        self._presets: list[dict[str, Any]] | None = None
        self._unlock_refused: str | None = None  # why the last unlock failed; reads do not retry it
        self._model: dict[str, Any] | None = None  # GET /model: fixed per device, read once
        self.modes: tuple[str, ...] = ()
        self.power_steps_w: tuple[float, ...] = ()

    # --- transport ---
    def _url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = host if self.port == 80 else f"{host}:{self.port}"
        return f"http://{netloc}/api/v1/{path.lstrip('/')}"

    def _send(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> http.HttpReply:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return http.request(self._session, method, self._url(path), timeout=self.timeout, json_body=body,
                            headers=headers)

    def unlock(self) -> str:
        """POST /unlock with the web password; MinerAuthError on 403 (wrong password) or 429 (locked out)."""
        reply = self._send("POST", "unlock", {"pw": self.credentials.password})
        if reply.status == 200:
            try:
                token = reply.json().get("token")
            except (MinerProtocolError, AttributeError):
                token = None
            if not isinstance(token, str) or not token:
                raise MinerProtocolError("Vnish /unlock answered 200 without a token")
            self._token, self._unlock_refused = token, None
            return token
        if reply.status in (403, 429):
            wait = _unlock_timeout(reply)
            if reply.status == 403:
                message = ("Vnish refused the web password (403 wrong password); set this miner's password "
                           "(the Vnish web UI password, factory default 'admin')")
            else:
                message = "Vnish locked the login after too many wrong passwords (429 too many requests)"
            if wait:
                message += f"; the miner accepts a new try in {wait} s"
            self._token, self._unlock_refused = None, message
            raise MinerAuthError(message)
        raise MinerProtocolError(f"Vnish /unlock answered HTTP {reply.status}")

    def _authed(self, method: str, path: str, body: Any = None) -> http.HttpReply:
        """A request with the token; on 401 (expired or revoked token) unlock once more and retry."""
        token = self._token or self.unlock()
        reply = self._send(method, path, body, token=token)
        if reply.status == 401:
            log.debug("%s: Vnish token expired; unlocking again", self.host)
            self._token = None
            reply = self._send(method, path, body, token=self.unlock())
            if reply.status == 401:
                raise MinerAuthError("Vnish rejected a fresh token (401); the web password may have changed")
        return reply

    def _command(self, path: str, body: Any = None, what: str | None = None) -> Any:
        """A write: 200 (empty body) is success; {"err": ...} or another status raises with the firmware's words."""
        reply = self._authed("POST", path, body)
        return _checked(reply, what or path)

    def close(self) -> None:
        """Close the pooled HTTP connection."""
        self._session.close()

    # --- read ---
    def _get(self, path: str) -> Any:
        reply = self._send("GET", path, token=self._token)
        if reply.status == 401 and self._token:  # an optional-auth path refusing a stale token
            self._token = None
            reply = self._send("GET", path)
        if reply.status != 200:
            raise MinerProtocolError(f"Vnish GET /api/v1/{path}: HTTP {reply.status}")
        return reply.json()

    def _learn(self, info: Mapping[str, Any]) -> None:
        """Narrow this instance's capabilities to the firmware version just read."""
        self._version = parse_version(info.get("fw_version"))
        self._scale = hashrate_scale(info)
        caps = set(type(self).capabilities)
        if self._version is None or self._version < V1_3:
            caps.discard(POWER_PERCENT)
        self.capabilities = frozenset(caps)

    def info(self) -> dict[str, Any]:
        """GET /info (no auth), and learn the version and unit from it."""
        info = self._get("info")
        if not isinstance(info, dict):
            raise MinerProtocolError("Vnish /api/v1/info is not a JSON object")
        self._learn(info)
        return info

    def read(self) -> MinerStatus:
        """GET /info and /summary (no auth needed); the preset list once, when the password unlocks."""
        info = self.info()
        summary = self._get("summary")
        status = parse_summary(summary, info)
        if self._presets is None and self._unlock_refused is None:
            try:
                self._load_presets()
            except MinerAuthError as exc:
                status.errors.append(f"autotune presets: {exc}")
            except MinerError as exc:  # try again on the next read
                log.debug("%s: Vnish presets: %s", self.host, exc)
        elif self._unlock_refused is not None and self._presets is None:
            # Do not retry the login on every poll: Vnish answers 429 after a few wrong passwords.
            status.errors.append(f"autotune presets unknown: {self._unlock_refused}")
        return status

    def _load_presets(self) -> list[dict[str, Any]]:
        reply = self._authed("GET", "autotune/presets")
        data = _checked(reply, "autotune/presets")
        items = data.get("presets") if isinstance(data, dict) else data  # pyasic accepts both shapes
        presets = [p for p in items if isinstance(p, dict) and isinstance(p.get("name"), str)] if isinstance(
            items, list) else []
        self._presets = presets
        self.modes = tuple(p["name"] for p in presets)
        self.power_steps_w = tuple(sorted(float(w) for p in presets if (w := preset_watts(p)) is not None))
        return presets

    def _need_version(self) -> Version | None:
        if self._version is None:
            self.info()
        return self._version

    # --- control ---
    def restart(self) -> None:
        """POST /mining/restart (restarts the mining process; the web API stays up)."""
        self._command("mining/restart", what="restart")

    def reboot(self) -> None:
        """POST /system/reboot (the whole controller; back after about a minute)."""
        self._command("system/reboot", what="reboot")

    def sleep(self) -> None:
        """POST /mining/stop: the chains stop, the web API stays reachable (asic-rs pause)."""
        self._command("mining/stop", what="stop mining")

    def wake(self) -> None:
        """POST /mining/start."""
        self._command("mining/start", what="start mining")

    def set_power_percent(self, percent: int) -> None:
        """POST /mining/throttle {"percent": 20..100} (Vnish 1.3.x only)."""
        version = self._need_version()
        if version is None or version < V1_3:
            shown = "%d.%d.%d" % version if version else "this Vnish build"
            raise NotSupported(f"Vnish {shown} cannot throttle: /mining/throttle exists from 1.3.0; "
                               "use a watt preset instead")
        if not THROTTLE_MIN <= int(percent) <= THROTTLE_MAX:
            raise ValueError(f"Vnish throttles between {THROTTLE_MIN} and {THROTTLE_MAX} %, got {percent}")
        self._command("mining/throttle", {"percent": int(percent)}, what="throttle")

    def presets(self) -> list[dict[str, Any]]:
        """The miner's autotune presets (GET /autotune/presets, auth), fetched fresh."""
        return self._load_presets()

    def set_power_watts(self, watts: int) -> str:
        """Select the watt preset nearest at or below ``watts`` and return which one was chosen.

        Vnish power targets are discrete autotune presets (pyasic, asic-rs); an untuned
        preset is accepted too, the miner tunes it first.
        """
        chosen = pick_preset(self._load_presets(), int(watts))
        name = chosen["name"]
        self._apply_preset(name)
        pretty = chosen.get("pretty") or f"{name} W"
        note = "" if chosen.get("status") == "tuned" else "; it is not tuned yet, the miner tunes it first"
        message = f"Vnish preset {name!r} ({pretty}) selected: the nearest at or below {int(watts)} W{note}"
        log.info("%s: %s", self.host, message)
        return message

    def set_mode(self, mode: str) -> None:
        """Select an autotune preset by its name (one of ``modes``, e.g. "disabled" or "3250")."""
        names = self.modes or tuple(p["name"] for p in self._load_presets())
        if mode not in names:
            raise ValueError(f"unknown Vnish preset {mode!r}; this miner has {', '.join(names)}")
        self._apply_preset(mode)

    def _settings(self) -> dict[str, Any]:
        # The OpenAPI lists only x-api-key for GET /settings; pyasic and asic-rs read it
        # with the unlock token, so the token is what is sent here.
        data = _checked(self._authed("GET", "settings"), "settings")
        if not isinstance(data, dict) or not isinstance(data.get("miner"), dict):
            raise MinerProtocolError("Vnish /api/v1/settings has no \"miner\" object")
        return data

    def _apply_preset(self, name: str) -> None:
        overclock = dict(self._settings()["miner"].get("overclock") or {})
        overclock["preset"] = name
        self._command("settings", {"miner": {"overclock": overclock}}, what="set preset")
        applied = (self._settings()["miner"].get("overclock") or {}).get("preset")
        if str(applied) != name:
            raise MinerProtocolError(f"set preset: Vnish answered OK but kept preset {applied!r}")

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """POST /settings with exactly three pools (unused slots empty), then read them back."""
        checked = validate_pools(pools, max_pools=POOL_SLOTS)
        entries = [{"url": pool.url.strip(), "user": pool.user, "pass": pool.password} for _, _, pool in checked]
        entries += [{"url": "", "user": "", "pass": ""}] * (POOL_SLOTS - len(entries))
        secrets = [p.password for p in pools if p.password]
        try:
            self._command("settings", {"miner": {"pools": entries}}, what="set pools")
        except MinerError as exc:
            raise type(exc)(scrub(str(exc), secrets)) from None
        stored = self._settings()["miner"].get("pools") or []
        got = [(_url_key(p.get("url")), str(p.get("user", ""))) for p in stored if isinstance(p, dict)]
        if got[:POOL_SLOTS] != [(_url_key(e["url"]), e["user"]) for e in entries]:
            raise MinerProtocolError("set pools: Vnish answered OK but the stored pools differ")

    # --- tuning (miners/vnish_rest_tuning.py has the wire facts) ---
    def model_info(self) -> dict[str, Any]:
        """GET /model (no auth): the overclock and cooling limits, read once per driver."""
        if self._model is None:
            reply = self._send("GET", "model")
            if reply.status == 404:  # a build without it: no limits, so no manual values (NotSupported later)
                self._model = {}
                return self._model
            if reply.status != 200:
                raise MinerProtocolError(f"Vnish GET /api/v1/model: HTTP {reply.status}")
            model = reply.json()
            if not isinstance(model, dict):
                raise MinerProtocolError("Vnish /api/v1/model is not a JSON object")
            self._model = model
        return self._model

    def tuning(self) -> Tuning:
        """Global and per-chain frequency, global voltage, the thermal target and the /model limits."""
        return parse_tuning(self._settings(), self.model_info())

    def set_frequency(self, mhz: int, voltage_mv: int | None = None, board: int | None = None) -> str | None:
        """Manual frequency (global or one chain) and global voltage via POST /settings, checked against /model.

        Vnish 1.x has one chain voltage for all boards (overclock.globals.volt): a
        voltage with a board is refused. The values are in effect with the autotune
        preset "disabled", which this selects; the note says when it changed.
        """
        settings = self._settings()
        overclock = dict(_mapping(miner_settings(settings).get("overclock")))
        limits = model_limits(self.model_info(), modded_psu=overclock.get("modded_psu") is True)
        if limits["frequency"] is None:
            raise NotSupported("this Vnish build reports no overclock limits (/api/v1/model); use a preset")
        if board is not None and voltage_mv is not None:
            raise NotSupported("Vnish 1.x sets one chain voltage for all boards; send the voltage without a board")
        limits["frequency"].check(int(mhz), "frequency", "MHz")
        if voltage_mv is not None:
            if limits["voltage"] is None:
                raise NotSupported("this Vnish build reports no voltage limits (/api/v1/model)")
            limits["voltage"].check(int(voltage_mv), "voltage", "mV")
        chains = limits["chains"] or len(overclock.get("chains") or [])
        if board is not None and not 0 <= int(board) < chains:
            raise ValueError(f"this miner has boards 0..{chains - 1}, got board {board}")
        new = overclock_change(overclock, int(mhz), voltage_mv, board, chains)
        self._command("settings", {"miner": {"overclock": new}}, what="set frequency")
        stored = _mapping(miner_settings(self._settings()).get("overclock"))
        want_glob, got_glob = new["globals"], _mapping(stored.get("globals"))
        got_chains = [c.get("freq") if isinstance(c, dict) else None for c in stored.get("chains") or []]
        if (stored.get("preset") != MANUAL_PRESET or any(got_glob.get(k) != v for k, v in want_glob.items())
                or got_chains[:chains] != [c["freq"] for c in new["chains"]][:chains]):
            raise MinerProtocolError("set frequency: Vnish answered OK but stored other overclock values")
        before = overclock.get("preset")
        if before != MANUAL_PRESET:
            return f"autotune preset {before!r} switched to {MANUAL_PRESET!r}: manual values apply"
        return None

    def set_thermal_target(self, celsius: int) -> str | None:
        """The fan control's target temperature: ``miner.cooling.mode`` {"name": "auto", "param": C}."""
        miner = miner_settings(self._settings())
        mode = _mapping(_mapping(miner.get("cooling")).get("mode"))
        if mode.get("name") != "auto":
            raise NotSupported(f"the fan is in {mode.get('name') or 'an unknown'} mode; Vnish holds a target "
                               "temperature only in auto mode")
        limits = model_limits(self.model_info())
        if limits["thermal"] is None:
            raise NotSupported("this Vnish build reports no target-temperature limits (/api/v1/model)")
        limits["thermal"].check(int(celsius), "target temperature", "C")
        restart = _mapping(miner.get("misc")).get("restart_temp")
        if isinstance(restart, (int, float)) and not isinstance(restart, bool) and int(celsius) >= restart:
            raise ValueError(f"target temperature {int(celsius)} C must be below the miner's restart "
                             f"temperature {restart:g} C")
        self._command("settings", {"miner": {"cooling": {"mode": {"name": "auto", "param": int(celsius)}}}},
                      what="set thermal target")
        stored = _mapping(_mapping(miner_settings(self._settings()).get("cooling")).get("mode"))
        if stored.get("name") != "auto" or stored.get("param") != int(celsius):
            raise MinerProtocolError("set thermal target: Vnish answered OK but stored another cooling mode")
        return None

    def read_chips(self) -> list[ChipStatus]:
        """Per-chip data: /boards on 1.3.x, /chains on 1.2.x (/chips, its deprecated form, as a fallback)."""
        version = self._need_version()
        if version is not None and version >= V1_3:
            return parse_chain_chips(self._get("boards"), self._scale)
        reply = self._send("GET", "chains", token=self._token)
        if reply.status == 200:
            return parse_chain_chips(reply.json(), self._scale)
        if reply.status != 404:
            raise MinerProtocolError(f"Vnish GET /api/v1/chains: HTTP {reply.status}")
        return parse_chips_stats(self._get("chips"), self._scale)


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else {} (a settings section the build lacks)."""
    return value if isinstance(value, Mapping) else {}


def _unlock_timeout(reply: http.HttpReply) -> int | None:
    try:
        data = reply.json()
    except MinerProtocolError:
        return None
    return integer(data.get("unlock_timeout")) if isinstance(data, dict) else None


def _checked(reply: http.HttpReply, what: str) -> Any:
    """The JSON body of a 200 (None when empty), else MinerError with Vnish's {"err": ...} text."""
    if reply.status == 200:
        if not reply.body.strip():
            return None
        try:
            return reply.json()
        except MinerProtocolError:
            return None  # some control paths answer plain text; the 200 is what counts
    detail = ""
    try:
        data = reply.json()
        if isinstance(data, dict) and isinstance(data.get("err"), str):
            detail = data["err"].strip()
    except MinerProtocolError:
        detail = reply.text.strip()[:120]
    if reply.status == 401:
        raise MinerAuthError(f"{what}: Vnish answered 401 unauthorized")
    if reply.status == 404:
        raise NotSupported(f"{what}: this Vnish build has no such endpoint (HTTP 404)")
    raise MinerError(f"{what}: Vnish refused it (HTTP {reply.status}{': ' + detail if detail else ''})")


def _url_key(url: Any) -> str:
    """A pool URL compared without its scheme and case: the summary shows "host:port" (1.2.0 capture)."""
    text = str(url or "").strip().lower()
    return text.split("://", 1)[-1]
