"""BraiinsOS / BOS+: the REST API (BOS+ 25.07 and later, port 80) and the BOSminer/BOSer cgminer API (4028).

Facts (reference section 8; Braiins OS Public REST API 1.3.0 = asic-rs
``meta/braiins/26.04/openapi.json``; asic-rs ``backends/v25_07/web.rs``; the
BOSminer API page of tgr-braiins/braiins-os-docs):

- REST: ``POST /api/v1/auth/login {"username","password"}`` answers
  ``{"token","timeout_s"}``; the token goes RAW into ``Authorization`` (no
  "Bearer", as asic-rs sends it) and each request refreshes its validity. A 401
  means the token expired: log in again once and repeat the request (asic-rs does
  the same). Units are in the key names (``gigahash_per_second``, ``watt``,
  ``degree_c``, ``hertz``, ``volt``). Writes are PUTs: ``/performance/power-target
  {"watt": N}`` (never a configuration rewrite, which would reset every other
  setting), ``/actions/pause`` and ``/actions/resume`` (a bare JSON boolean),
  ``/actions/restart`` (restarts mining), ``/actions/reboot`` (204, no body),
  ``/pools/batch`` (replaces the pool groups).
- Power-target limits: ``GET /api/v1/configuration/constraints`` answers
  ``GetConstraintsResponse``; its ``tuner_constraints.power_target`` is a
  ``PowerConstraints`` ``{"min","default","max"}``, each ``{"watt": N}`` (OpenAPI
  1.3.0 schemas GetConstraintsResponse/TunerConstraints/PowerConstraints in asic-rs
  ``meta/braiins/26.04/openapi.json``; the gRPC twin is ConfigurationService
  GetConstraints with ``PowerConstraints`` in braiins/bos-plus-api
  ``proto/bos/v1/constraints.proto``). asic-rs PR #292 (256foundation/asic-rs) reads
  the same endpoint on BOS+ 25.07/26.04 and checked it on a real S19k Pro: default
  2760, min 771, max 6435 W. A target outside min..max is refused with HTTP 400, so
  the driver reads the range once (again after a firmware change, an outage, a
  reboot, or an hour) and refuses such a target itself, before sending.
- cgminer API (every BOS generation): ``version`` names ``BOSminer``,
  ``BOSminer+`` or ``BOSer``; ``summary``/``devs`` are MH/s; ``devs`` IDs are the
  chain numbers (6..8 on an S9); ``devdetails`` Frequency is in Hz and Voltage in
  V; ``temps``/``fans``/``tunerstatus`` are BOS extensions; ``pause``/``resume``
  are its only working writes (the docs say its pool commands do not activate
  pools and are lost on restart, so they are not used).

Generations and what each offers (``capabilities`` is narrowed per instance):
BOS+ 25.07+ with REST: restart, sleep, wake, power target in watts, pools.
Older BOS / BOS+ (no REST; their GraphQL, LuCI and gRPC interfaces are not
implemented here): sleep and wake through the cgminer API only.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from . import cgminer_api, http
from .base import (
    POOLS,
    POWER_WATTS,
    REBOOT,
    RESTART,
    SLEEP,
    WAKE,
    BoardStatus,
    Credentials,
    MinerAuthError,
    MinerDriver,
    MinerError,
    MinerProtocolError,
    MinerStatus,
    MinerUnreachable,
    NotSupported,
    PoolConfig,
    PoolStatus,
)
from .cgminer import GH, MH, best_share, parse_pools, parse_summary, section
from .cgminer_api import APIError, CGMinerClient, CommandResults, reply_guard
from .stratum import SCHEME, SV2_SCHEME, validate_pools
from .values import difficulty, integer, num, positive, scrub

log = logging.getLogger(__name__)

API = "/api/v1"
HTTP_PORT = 80
REST_CAPABILITIES = frozenset({RESTART, REBOOT, SLEEP, WAKE, POWER_WATTS, POOLS})
CGMINER_CAPABILITIES = frozenset({SLEEP, WAKE})
MIN_POWER_TARGET_W = 100  # no BOS-supported miner runs below this; the firmware checks its own range
_LIMITS_MAX_AGE_S = 3600.0  # the range changes only with firmware or hardware: re-read it hourly at most
_LIMITS_RETRY_S = 300.0  # after a failed or empty constraints read, ask again this late (not every poll)
MAX_POOLS = 3
_REST_RECHECK_S = 600.0  # a miner without REST may be upgraded: look again this often
_AUTH_RETRY_S = 300.0  # after a refused login, reads use the cgminer API and retry the login this late
_READ_COMMANDS = ("summary", "pools", "devs", "devdetails", "temps", "fans", "tunerstatus")
# /miner/details "status" (asic-rs v25_07 citing bos-plus-api proto/bos/v1/miner.proto):
# 1 not started, 2 normal, 3 paused, 4 suspended, 5 restricted.
_REST_STATES = {1: "idle", 2: "mining", 3: "paused", 4: "idle", 5: "mining"}
_HASHRATE_WINDOWS = ("last_5s", "last_15s", "last_30s", "last_1m", "last_5m", "last_15m")


class NoRestAPI(MinerError):
    """This firmware has no REST API (BOS / BOS+ older than 25.07)."""


# --- small helpers ---------------------------------------------------------------------------
def _path(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _list(value: Any) -> list[Any]:
    """``value`` if it is a list, else [] (a lying reply's number or object where a list belongs)."""
    return value if isinstance(value, list) else []


def _unit(obj: Any, *keys: str) -> float | None:
    """A number below ``obj[keys...]`` (e.g. ``_unit(d, "board_temp", "degree_c")``)."""
    return num(_path(obj, *keys))


def model_name(text: Any) -> str | None:
    """"Bitmain Antminer S19XP" -> "Antminer S19 XP" (pyasic's clean-up of devdetails Model)."""
    if not isinstance(text, str) or not text.strip():
        return None
    name = text.strip().removeprefix("Bitmain ").strip()
    return re.sub(r"\b(S\d+[a-z]?)(XP|Pro)\b", r"\1 \2", name)


# --- cgminer-API parsers (BOSminer, BOSminer+, BOSer) -------------------------------------------
def parse_bos_version(reply: Mapping[str, Any] | None) -> dict[str, Any]:
    """VERSION[0] -> firmware name ("BOSer", "BOSminer+", "BOSminer") and version; BOS has no Type."""
    for block in section(reply, "VERSION")[:1]:
        for key in ("BOSer", "BOSminer+", "BOSminer"):
            value = block.get(key)
            if isinstance(value, str) and value:
                return {"firmware": key, "firmware_version": value}
    return {}


def _board_base(ids: list[int]) -> int:
    # S9 chains are 6..8 and X19 chains 1..3 (pyasic subtracts 6 when it sees 6/7/8, else 1).
    if not ids:
        return 0
    low = min(ids)
    return 6 if low >= 6 else 1 if low >= 1 else 0


def parse_bosminer(replies: Mapping[str, Mapping[str, Any] | None]) -> MinerStatus:
    """summary/devs/devdetails/temps/fans/tunerstatus/pools/version of the BOS cgminer API -> MinerStatus (pure)."""
    status = MinerStatus()
    summary = parse_summary(replies.get("summary"))
    status.hashrate_hs = summary.get("hashrate_hs")
    status.uptime_s = summary.get("uptime_s")
    status.shares_accepted = summary.get("shares_accepted")
    status.shares_rejected = summary.get("shares_rejected")
    # BOSminer/BOSer "Best Share": since bosminer started, like cgminer's (a session value).
    status.best_session_difficulty = best_share(replies.get("summary"), replies.get("pools"))

    devs = {integer(d.get("ID")): d for d in section(replies.get("devs"), "DEVS")}
    details = {integer(d.get("ID")): d for d in section(replies.get("devdetails"), "DEVDETAILS")}
    temps = {integer(t.get("ID")): t for t in section(replies.get("temps"), "TEMPS")}
    ids = sorted(i for i in set(devs) | set(details) if i is not None)
    base = _board_base(ids)
    expected_total = 0.0
    for chain in ids:
        dev, detail, temp = devs.get(chain, {}), details.get(chain, {}), temps.get(chain, {})
        rate = _mhs(dev)
        nominal = positive(dev.get("Nominal MHS"))
        if nominal is not None:
            expected_total += nominal * MH
        freq_hz = positive(detail.get("Frequency"))  # Hz on BOSminer (799682118 = 799.7 MHz)
        volt = positive(detail.get("Voltage"))
        status.boards.append(BoardStatus(
            index=chain - base,
            hashrate_hs=rate,
            expected_hashrate_hs=nominal * MH if nominal is not None else None,
            temp_c=positive(temp.get("Board")),  # 0.0 = no sensor (BOSminer+ 0.2.0 S9 capture)
            chip_temp_c=positive(temp.get("Chip")),
            chips=integer(detail.get("Chips")),
            frequency_mhz=round(freq_hz / 1e6, 2) if freq_hz is not None else None,
            voltage_mv=round(volt * 1000.0, 1) if volt is not None else None,
            hardware_errors=integer(dev.get("Hardware Errors")),
        ))
    if expected_total:
        status.expected_hashrate_hs = expected_total
    if status.hashrate_hs is None and status.boards and all(b.hashrate_hs is not None for b in status.boards):
        status.hashrate_hs = sum(b.hashrate_hs for b in status.boards)  # type: ignore[misc]
    freqs = [b.frequency_mhz for b in status.boards if b.frequency_mhz]
    status.frequency_mhz = round(sum(freqs) / len(freqs), 2) if freqs else None

    fans = section(replies.get("fans"), "FANS")
    rpms = [integer(f.get("RPM")) for f in fans]
    rpms = [r for r in rpms if r is not None]
    # BOSminer lists four fan slots; an S9 has two fans and reports 0 RPM in the others.
    status.fan_rpm = [r for r in rpms if r > 0] or rpms
    if fans:
        status.fan_percent = num(fans[0].get("Speed"))

    tuner = next(iter(section(replies.get("tunerstatus"), "TUNERSTATUS")), {})
    status.power_w = positive(tuner.get("ApproximateMinerPowerConsumption"))  # the tuner's estimate, W
    limit = positive(tuner.get("PowerLimit"))
    if limit is not None:
        status.errors.append(f"note: power limit {limit:g} W (BOS tuner)")
    chain_states = [str(c.get("Status", "")) for c in _list(tuner.get("TunerChainStatus")) if isinstance(c, dict)]

    status.pools = parse_pools(replies.get("pools"))
    version = parse_bos_version(replies.get("version"))
    status.firmware = version.get("firmware")
    status.firmware_version = version.get("firmware_version")
    status.model = next((model_name(d.get("Model")) for d in details.values() if d.get("Model")), None)
    temps_seen = [t for b in status.boards for t in (b.chip_temp_c, b.temp_c) if t is not None]
    status.temp_c = max(temps_seen) if temps_seen else None
    if chain_states and all("paused" in s.lower() for s in chain_states):
        status.state = "paused"  # Foreman reads "paused" in TunerChainStatus as sleeping
    elif status.hashrate_hs == 0:
        status.state = "idle"
    return status


def _mhs(block: Mapping[str, Any]) -> float | None:
    for key in ("MHS 5s", "MHS 1m", "MHS 5m", "MHS 15m", "MHS av"):
        value = num(block.get(key))
        if value is not None:
            return value * MH
    return None


# --- REST parsers (BOS+ 25.07+) -------------------------------------------------------------------
def _rest_rate(stats: Any) -> float | None:
    rates = _path(stats, "real_hashrate")
    for window in _HASHRATE_WINDOWS:
        value = _unit(rates, window, "gigahash_per_second")
        if value is not None:
            return value * GH
    return None


def parse_rest_pools(groups: Any) -> list[PoolStatus]:
    """GET /api/v1/pools/ (a list of pool groups) -> PoolStatus list; the priority is the order listed."""
    pools: list[PoolStatus] = []
    if not isinstance(groups, list):
        return pools
    for group in groups:
        for entry in _list(_path(group, "pools")):
            if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                continue
            stats = entry.get("stats") if isinstance(entry.get("stats"), dict) else {}
            alive = entry.get("alive")
            enabled = entry.get("enabled")
            pools.append(PoolStatus(
                url=entry["url"].strip(),
                user=str(entry.get("user") or ""),
                status="Disabled" if enabled is False else "Alive" if alive else "Dead",
                active=entry.get("active") is True,
                priority=len(pools),
                accepted=integer(stats.get("accepted_shares")),
                rejected=integer(stats.get("rejected_shares")),
            ))
    return pools


def parse_power_constraints(reply: Any) -> tuple[float, float] | None:
    """GET /api/v1/configuration/constraints -> (min, max) power target in W; None when absent or implausible."""
    power = _path(reply, "tuner_constraints", "power_target")
    low, high = _unit(power, "min", "watt"), _unit(power, "max", "watt")
    if low is None or high is None or low <= 0 or high < low:
        return None  # a lying or partial reply must not fence the allocator in
    return low, high


def power_target_w(tuner: Any) -> float | None:
    """Current power target (W) from GET /performance/tuner-state (None in hashrate-target mode)."""
    return _unit(tuner, "mode_state", "powertargetmodestate", "current_target", "watt")


def parse_rest(details: Any, stats: Any, hashboards: Any, cooling: Any = None, tuner: Any = None,
               pools: Any = None) -> MinerStatus:
    """The BOS+ REST reads -> MinerStatus in H/s, W, degrees C, MHz, mV (pure)."""
    status = MinerStatus()
    miner = _path(stats, "miner_stats")
    status.hashrate_hs = _rest_rate(miner)
    nominal = _unit(miner, "nominal_hashrate", "gigahash_per_second")
    sticker = _unit(details, "sticker_hashrate", "gigahash_per_second")
    expected = nominal if nominal else sticker
    status.expected_hashrate_hs = expected * GH if expected else None
    # "approximated_consumption": BOS+ computes it from its power model; there is no PSU reading.
    status.power_w = _unit(stats, "power_stats", "approximated_consumption", "watt")
    status.shares_accepted = integer(_path(stats, "pool_stats", "accepted_shares"))
    status.shares_rejected = integer(_path(stats, "pool_stats", "rejected_shares"))
    # /miner/stats miner_stats.best_share: bosminer's best since it started. A session value:
    # the recorded BOS+ 25.11 reply has the same number in pool_stats and in the pool group's
    # stats, which bosminer counts per connection, and BOS+ documents no all-time counter.
    status.best_session_difficulty = difficulty(_path(miner, "best_share"))
    status.uptime_s = integer(_path(details, "bosminer_uptime_s"))
    identity = _path(details, "miner_identity")
    status.model = model_name(_path(identity, "miner_model") or _path(identity, "name"))
    version = _path(details, "bos_version")
    status.firmware = "BOS+" if _path(version, "bos_plus") else "BOS" if version else None
    current = _path(version, "current")
    status.firmware_version = current if isinstance(current, str) and current else None
    mac = _path(details, "mac_address")
    status.mac = mac.upper() if isinstance(mac, str) and mac else None
    host = _path(details, "hostname")
    status.hostname = host if isinstance(host, str) and host else None

    for position, board in enumerate(_list(_path(hashboards, "hashboards"))):
        if not isinstance(board, dict):
            continue
        board_id = integer(board.get("id"))  # "1", "2", "3": a string in BOS+ 25.11
        freq = _unit(board, "current_frequency", "hertz")
        volt = _unit(board, "current_voltage", "volt")
        nominal_b = _unit(board, "stats", "nominal_hashrate", "gigahash_per_second")
        status.boards.append(BoardStatus(
            index=board_id - 1 if board_id is not None and board_id >= 1 else position,
            hashrate_hs=_rest_rate(board.get("stats")),
            expected_hashrate_hs=nominal_b * GH if nominal_b else None,
            temp_c=_unit(board, "board_temp", "degree_c"),
            chip_temp_c=_unit(board, "highest_chip_temp", "temperature", "degree_c"),
            chips=integer(board.get("chips_count")),
            frequency_mhz=round(freq / 1e6, 2) if freq else None,
            voltage_mv=round(volt * 1000.0, 1) if volt else None,
        ))
    freqs = [b.frequency_mhz for b in status.boards if b.frequency_mhz]
    status.frequency_mhz = round(sum(freqs) / len(freqs), 2) if freqs else None

    fans = [f for f in _list(_path(cooling, "fans")) if isinstance(f, dict)]
    status.fan_rpm = [r for r in (integer(f.get("rpm")) for f in fans) if r is not None]
    ratio = num(fans[0].get("target_speed_ratio")) if fans else None
    status.fan_percent = round(ratio * 100.0, 1) if ratio is not None else None
    temps = [t for b in status.boards for t in (b.chip_temp_c, b.temp_c) if t is not None]
    hottest = _unit(cooling, "highest_temperature", "temperature", "degree_c")
    if hottest is not None:
        temps.append(hottest)
    status.temp_c = max(temps) if temps else None

    status.pools = parse_rest_pools(pools)
    target = power_target_w(tuner)
    if target is not None:
        status.errors.append(f"note: power target {target:g} W (BOS+ tuner)")
    code = integer(_path(details, "status"))
    status.state = _REST_STATES.get(code, "mining") if code is not None else "mining"
    if status.state == "mining" and status.hashrate_hs == 0:
        status.state = "idle"
    if code == 4:
        status.errors.append("mining suspended by the firmware")
    return status


# --- the driver ---------------------------------------------------------------------------------
class BraiinsDriver(MinerDriver):
    """BraiinsOS / BOS+: REST where the firmware has it (BOS+ 25.07+), the cgminer API otherwise.

    ``port`` is the cgminer API port (4028 + offset); the REST API is expected on
    80 plus the same offset (the app adds one offset to every miner port).
    """

    family: ClassVar[str] = "braiins"
    default_port: ClassVar[int] = cgminer_api.DEFAULT_PORT
    capabilities: ClassVar[frozenset[str]] = REST_CAPABILITIES
    # BOS+ factory login is root/root (pyasic settings, asic-rs default_auth); BOS and a BOS+
    # whose password was removed (PUT /auth/password null) take an empty password.
    default_credentials: ClassVar[Credentials | None] = Credentials("root", "root")

    def __init__(self, host: str, *, port: int | None = None, timeout: float = 3.0,
                 credentials: Credentials | None = None, http_port: int | None = None) -> None:
        super().__init__(host, port=port, timeout=timeout, credentials=credentials)
        self._explicit_login = credentials is not None
        offset = self.port - cgminer_api.DEFAULT_PORT
        self.http_port = http_port if http_port is not None else HTTP_PORT + max(offset, 0)
        self._session = http.new_session()
        self._session.headers["Accept"] = "application/json"
        self._token: str | None = None
        self._token_ttl: float | None = None
        self._token_used = 0.0
        self._working_password: str | None = None
        self._has_rest: bool | None = None  # None until probed
        self._rest_checked = 0.0
        self._auth_failed_at: float | None = None
        self.api = CGMinerClient(self.host, self.port, self.timeout)
        self._unsupported_cmds: set[str] = set()
        self.power_range_w: tuple[float, float] | None = None  # instance: this unit's BOS+ constraints
        self._limits_for: str | None = None  # bos_version.current the range was read for
        self._limits_at: float | None = None  # monotonic time of the last constraints request
        self._limits_stale = False  # force a re-read at the next REST read (outage, reboot)

    def close(self) -> None:
        """Close the pooled HTTP connection."""
        self._session.close()

    # --- REST transport ---
    def _url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.http_port}{path}"

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise MinerUnreachable(f"{self.host}: no complete answer within {self.timeout:g} s")
        return left

    def _passwords(self) -> list[str]:
        if self._working_password is not None:
            return [self._working_password]
        if self._explicit_login:
            return [self.credentials.password]
        return [self.credentials.password, ""]

    def _login(self, deadline: float) -> str:
        """POST /api/v1/auth/login; raises NoRestAPI (404/405) or MinerAuthError (refused)."""
        user = self.credentials.username or "root"
        refused = None
        for password in self._passwords():
            reply = http.request(self._session, "POST", self._url(f"{API}/auth/login"), timeout=self._left(deadline),
                                 json_body={"username": user, "password": password})
            if reply.status in (404, 405, 501):
                raise NoRestAPI(f"{self.host}: no BOS+ REST API (HTTP {reply.status} on {API}/auth/login)")
            if reply.status in (401, 403):
                refused = reply.status
                continue
            if reply.status != 200:
                raise MinerProtocolError(f"{API}/auth/login: HTTP {reply.status}")
            data = reply.json()
            token = data.get("token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not token:
                raise MinerProtocolError(f"{API}/auth/login: no token in the reply")
            ttl = num(data.get("timeout_s"))
            self._token, self._token_ttl, self._token_used = token, ttl, time.monotonic()
            self._working_password = password
            self._auth_failed_at = None
            return token
        self._auth_failed_at = time.monotonic()
        tried = "the configured password" if self._explicit_login else "the default passwords (root, empty)"
        raise MinerAuthError(f"BOS+ refused the REST login as {user!r} with {tried} (HTTP {refused}); "
                             "set this miner's username and password")

    def _token_for(self, deadline: float) -> str:
        # The token's validity is refreshed by each request (timeout_s); past it, log in
        # again at once rather than spending a request on a certain 401.
        if self._token and self._token_ttl and time.monotonic() - self._token_used > self._token_ttl - 1:
            self._token = None
        return self._token or self._login(deadline)

    def _rest(self, method: str, path: str, body: Any = None, *, deadline: float | None = None) -> http.HttpReply:
        """One authenticated REST call; on 401 (expired token) log in again once and repeat it."""
        deadline = deadline if deadline is not None else time.monotonic() + self.timeout
        for attempt in (1, 2):
            token = self._token_for(deadline)
            reply = http.request(self._session, method, self._url(API + path), timeout=self._left(deadline),
                                 json_body=body, headers={"Authorization": token})  # raw token, no "Bearer"
            if reply.status != 401:
                self._token_used = time.monotonic()
                return reply
            self._token = None
            if attempt == 2:
                raise MinerAuthError(f"BOS+ refused a fresh REST token for {method} {API}{path} (HTTP 401)")
        raise AssertionError("unreachable")

    def _rest_json(self, method: str, path: str, body: Any = None, *, deadline: float | None = None,
                   secrets: tuple[str, ...] = ()) -> Any:
        reply = self._rest(method, path, body, deadline=deadline)
        if reply.status == 400:
            raise ValueError(f"BOS+ rejected {method} {API}{path}: {scrub(reply.text.strip()[:160], secrets)}")
        if not 200 <= reply.status < 300:
            raise MinerProtocolError(f"{method} {API}{path}: HTTP {reply.status} "
                                     f"{scrub(reply.text.strip()[:120], secrets)}".strip())
        if reply.status == 204 or not reply.body.strip():
            return None
        return reply.json()

    # --- generation ---
    def _learn_rest(self, present: bool) -> None:
        self._has_rest, self._rest_checked = present, time.monotonic()
        self.capabilities = REST_CAPABILITIES if present else CGMINER_CAPABILITIES

    def _rest_known_absent(self) -> bool:
        return self._has_rest is False and time.monotonic() - self._rest_checked < _REST_RECHECK_S

    def _need_rest(self, action: str) -> None:
        """Make sure REST exists (probing by login if unknown); NotSupported when it does not."""
        if not self._rest_known_absent():
            try:
                self._token_for(time.monotonic() + self.timeout)
                self._learn_rest(True)
                return
            except NoRestAPI:
                self._learn_rest(False)
            except MinerUnreachable:
                if self._has_rest is not False:  # REST answered before (or never asked): an outage
                    raise
        raise NotSupported(f"this BraiinsOS build has no REST API (BOS+ 25.07 or later has it), so it cannot "
                           f"{action}; its cgminer API offers only pause/resume")

    # --- read ---
    @reply_guard
    def read(self) -> MinerStatus:
        """REST reads on BOS+ 25.07+, the cgminer API otherwise (or while the REST login is refused)."""
        deadline = time.monotonic() + self.timeout
        note = None
        if not self._rest_known_absent():
            retry_auth = self._auth_failed_at is None or time.monotonic() - self._auth_failed_at > _AUTH_RETRY_S
            if retry_auth:
                try:
                    status = self._read_rest(deadline)
                    self._learn_rest(True)
                    return status
                except NoRestAPI:
                    self._learn_rest(False)
                except MinerAuthError as exc:
                    self._learn_rest(True)  # the 401 proves the REST API is there
                    note = str(exc)
                except MinerUnreachable:
                    self._limits_stale = True  # it may come back upgraded or with other hardware
                    if self._has_rest:  # it answered REST before: this is an outage, not an old firmware
                        raise
                    self._learn_rest(False)
            else:
                note = "BOS+ refused the REST login (wrong password); control needs the right credentials"
        status = self._read_cgminer(deadline)
        if note:
            status.errors.insert(0, f"{note}; showing data from the cgminer API (port {self.port})")
        return status

    def _read_rest(self, deadline: float) -> MinerStatus:
        get = lambda path: self._rest_json("GET", path, deadline=deadline)  # noqa: E731
        details = get("/miner/details")
        stats = get("/miner/stats")
        boards = get("/miner/hw/hashboards")
        cooling = get("/cooling/state")
        tuner = get("/performance/tuner-state")
        pools = get("/pools/")
        status = parse_rest(details, stats, boards, cooling, tuner, pools)
        self._refresh_limits(details, deadline)
        return status

    # --- power-target limits (GET /configuration/constraints) ---
    def _refresh_limits(self, details: Any, deadline: float) -> None:
        """Read the power-target range when unknown, stale, or the firmware changed; never on every poll."""
        current = _path(details, "bos_version", "current")
        version = current if isinstance(current, str) else ""
        changed = self._limits_for is not None and version != self._limits_for
        self._limits_for = version
        age = time.monotonic() - self._limits_at if self._limits_at is not None else None
        wait = _LIMITS_MAX_AGE_S if self.power_range_w is not None else _LIMITS_RETRY_S
        if changed:
            self.power_range_w = None  # another firmware may allow another range
        if changed or self._limits_stale or age is None or age >= wait:
            self._load_limits(deadline)

    def _load_limits(self, deadline: float) -> None:
        """One GET of the constraints; a failure keeps what was known (the firmware still checks)."""
        self._limits_at, self._limits_stale = time.monotonic(), False
        try:
            reply = self._rest_json("GET", "/configuration/constraints", deadline=deadline)
        except (MinerError, ValueError) as exc:
            log.debug("%s: no BOS+ power-target constraints: %s", self.host, exc)
            return
        self.power_range_w = parse_power_constraints(reply)

    def _read_cgminer(self, deadline: float) -> MinerStatus:
        commands = [c for c in _READ_COMMANDS if c not in self._unsupported_cmds]
        results = self.api.read(commands, timeout=self._left(deadline))
        self._retry_refused(results, deadline)
        if self.api.version is None and "version" in results.replies:
            self.api.version = results.replies["version"]  # refused inside the join, answered alone
        if "summary" not in results.replies and "devs" not in results.replies:
            raise results.errors.get("summary") or MinerProtocolError("no summary or devs in the reply")
        replies: dict[str, Any] = dict(results.replies)
        status = parse_bosminer(replies)
        status.errors.extend(f"{cmd}: {err.msg}" for cmd, err in results.errors.items() if cmd != "tunerstatus")
        return status

    def _retry_refused(self, results: CommandResults, deadline: float) -> None:
        """Ask alone what a join refused; remember what this firmware refuses for good."""
        if results.joined and results.errors:
            # A command refused inside a '+' join may still answer alone; what fails alone
            # (tunerstatus on BOS without the tuner) is not asked again.
            for command in list(results.errors):
                try:
                    results.replies[command] = self.api.send(command, timeout=self._left(deadline))
                    del results.errors[command]
                except APIError:
                    self._unsupported_cmds.add(command)
        elif results.errors:
            self._unsupported_cmds.update(c for c, e in results.errors.items() if e.code in (14, 45))

    # --- control ---
    def set_power_watts(self, watts: int) -> None:
        """PUT /api/v1/performance/power-target {"watt": N}: the only write (no configuration rewrite)."""
        watts = int(watts)
        if watts < MIN_POWER_TARGET_W:
            raise ValueError(f"power target {watts} W is below {MIN_POWER_TARGET_W} W")
        self._need_rest("set a power target")
        if self.power_range_w is None and (self._limits_at is None
                                           or time.monotonic() - self._limits_at >= _LIMITS_RETRY_S):
            self._load_limits(time.monotonic() + self.timeout)  # a command before the first poll
        limits = self.power_range_w
        if limits is not None and not limits[0] <= watts <= limits[1]:
            # BOS+ answers 400 to this; refusing here keeps a refused command off the wire.
            raise ValueError(f"power target {watts} W is outside this miner's range "
                             f"{limits[0]:g}-{limits[1]:g} W (BOS+ constraints); not sent")
        reply = self._rest_json("PUT", "/performance/power-target", {"watt": watts})
        applied = num(_path(reply, "watt"))
        if applied is not None and int(applied) != watts:
            raise MinerProtocolError(f"BOS+ answered power target {applied:g} W, not the {watts} W sent")

    def sleep(self) -> None:
        """PUT /api/v1/actions/pause (REST), or the cgminer API `pause` on BOS without REST."""
        self._pause_resume("pause")

    def wake(self) -> None:
        """PUT /api/v1/actions/resume (REST), or the cgminer API `resume` on BOS without REST."""
        self._pause_resume("resume")

    def _pause_resume(self, action: str) -> None:
        try:
            self._need_rest(action)
        except NotSupported:
            # Old BOS: the cgminer API's own pause/resume (BOSminer API docs: PAUSE/RESUME [true]).
            # Never used to get round a refused REST login: that raises MinerAuthError above.
            self.api.send(action)  # STATUS E raises
            return
        result = self._rest_json("PUT", f"/actions/{action}")
        if not isinstance(result, bool):  # the reply is a bare JSON boolean ("was already paused")
            raise MinerProtocolError(f"PUT {API}/actions/{action}: expected a JSON boolean, got {result!r:.40}")

    def restart(self) -> None:
        """PUT /api/v1/actions/restart: restarts mining (bosminer); the system stays up."""
        self._need_rest("restart")
        self._rest_json("PUT", "/actions/restart")
        self.api.forget_version()

    def reboot(self) -> None:
        """PUT /api/v1/actions/reboot (204, no body): reboots the whole miner (POST /api/miners/<ip>/reboot)."""
        self._need_rest("reboot")
        self._rest_json("PUT", "/actions/reboot")
        self._token = None
        self._limits_stale = True  # a reboot is when a firmware upgrade takes effect

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """PUT /api/v1/pools/batch with one group holding the pools in priority order, then read back."""
        # BOS+ speaks Stratum V2 as well as V1 (PoolConfiguration.url in its public API).
        checked = validate_pools(pools, max_pools=MAX_POOLS, schemes=(SCHEME, SV2_SCHEME))
        self._need_rest("change pools")
        secrets = tuple(p.password for p in pools if p.password)
        current = self._rest_json("GET", "/pools/")
        name = next((g.get("name") for g in current or [] if isinstance(g, dict) and g.get("name")), None)
        group = {
            "name": name or "Default",
            "pools": [{"url": pool.url.strip(), "user": pool.user, "password": pool.password, "enabled": True}
                      for _, _, pool in checked],
            "load_balance_strategy": {"quota": {"value": 1}},
        }
        self._rest_json("PUT", "/pools/batch", [group], secrets=secrets)
        after = parse_rest_pools(self._rest_json("GET", "/pools/"))
        wanted = [(p.url.strip().lower(), p.user) for _, _, p in checked]
        if [(p.url.lower(), p.user) for p in after] != wanted:
            raise MinerProtocolError("BOS+ accepted the pools but reads back a different list")
