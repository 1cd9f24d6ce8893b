"""Whatsminer (MicroBT btminer; M20/M30/M50/M60) driver: API 2.x on TCP 4028, API 3.x on TCP 4433.

One family, two wire generations, chosen on the first read:

- API 2.x (firmware up to ~2024-11): cgminer-style reads on 4028 through
  miners.cgminer_api, flat btminer replies (STATUS a string, Code 131 = OK,
  Msg an object) for get_version/status/get_miner_info/get_token, and writes
  wrapped in the get_token + md5-crypt + AES-256-ECB envelope
  (miners.whatsminer_crypto).
- API 3.x (firmware from ~2024-11): length-prefixed JSON on 4433
  (miners.whatsminer_v3), set.* commands signed with ts/account/token.

pyasic picks v3 when get_version's fw_ver date is after 2024-11
(pyasic/miners/backends/btminer.py); this driver does the same, and also uses
4433 when 4028 does not answer at all. Reads never send a write command.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

from . import cgminer_api, whatsminer_v3
from .base import (
    MODE,
    POOLS,
    POWER_PERCENT,
    POWER_WATTS,
    REBOOT,
    RESTART,
    SLEEP,
    WAKE,
    Credentials,
    MinerAuthError,
    MinerDriver,
    MinerError,
    MinerProtocolError,
    MinerStatus,
    MinerUnreachable,
    PoolConfig,
)
from .cgminer_api import APIError, EmptyReply, reply_guard
from .stratum import validate_pools
from .values import integer, scrub
from .whatsminer_crypto import Api2Token, DecryptError, api2_decrypt_reply, api2_encrypt_command, api2_token, \
    v3_encrypt_param, v3_token
from .whatsminer_parse import api_version, firmware_date, flat_msg, is_off, parse_v2, parse_v3, v3_msg

log = logging.getLogger(__name__)

V3_PORT_DELTA = whatsminer_v3.DEFAULT_PORT - cgminer_api.DEFAULT_PORT  # 4433 - 4028, keeps any port offset
V3_FIRMWARE_FROM = 20241100  # pyasic: fw_ver date > 2024.11.0 -> BTMinerV3
TOKEN_LIFETIME_S = 30 * 60  # "a token keepalive time is 30 minutes" (API V2.0.5 section 2); pyasic caches 30 min
V2_POWER_LIMIT_FROM = (2, 0, 5)  # adjust_power_limit "ADDED IN V2.0.5" (pyasic @api_min_version("2.0.5"))

# API 2.x message codes (MicroBT "Whatsminer API V2.0.5", section 2).
CODE_OK = 131
CODE_TOKEN_OK = 134
CODE_PERMISSION = 45  # "permission denied"; the Msg is "can't access write cmd" when the API switch is off
CODE_BAD_JSON = 23  # "enc json load err": the request did not decrypt (wrong password -> wrong key)
CODE_TOKEN = 135  # "check token error": unknown or expired token
CODE_TOKEN_MAX = 136  # "token over max times"
CODE_BASE64 = 137  # "base64 decode error"

V2_WRITE_SWITCH_OFF = ("the Whatsminer refused the write command (Code 45 \"{msg}\"): its API write switch is off. "
                       "Enable it in WhatsMinerTool (Remote Ctrl -> Miner API Switch); MicroBT also requires the "
                       "admin password to have been changed from the factory value once")
V2_WRONG_PASSWORD = ("the Whatsminer could not decrypt the command (Code {code} \"{msg}\"): the admin password is "
                     "wrong (API 2.x derives the AES key from it)")
V2_TOKEN_REJECTED = ("the Whatsminer rejected a fresh API token as well (Code {code} \"{msg}\"); nothing was changed")
V3_REFUSED = ("the Whatsminer refused the write ({detail}): wrong password for API account '{account}', the API "
              "write switch is off, or the factory password is still set; nothing was changed")


class _Budget:
    """One overall deadline shared by the several TCP exchanges of a read or a write."""

    def __init__(self, seconds: float, where: str) -> None:
        self.seconds, self.where = seconds, where
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise MinerUnreachable(f"{self.where}: no complete answer within {self.seconds:g} s")
        return remaining


class WhatsminerDriver(MinerDriver):
    """Whatsminer stock firmware: reads and writes over API 2.x (4028) or API 3.x (4433).

    ``restart()`` restarts the mining service (API 2 ``restart_btminer``, API 3
    ``set.miner.service restart``), not the OS; ``reboot()`` reboots the OS (REBOOT).
    Capabilities narrow after the first read: API 2 below 2.0.5 cannot set a
    power limit in watts.
    """

    family: ClassVar[str] = "whatsminer"
    default_port: ClassVar[int] = cgminer_api.DEFAULT_PORT
    capabilities: ClassVar[frozenset[str]] = frozenset({RESTART, REBOOT, SLEEP, WAKE, POWER_WATTS, POWER_PERCENT,
                                                        MODE, POOLS})
    modes: ClassVar[tuple[str, ...]] = ("low", "normal", "high")
    # API 2.x factory login; API 3.x uses account "super" (see _v3_login).
    default_credentials: ClassVar[Credentials | None] = Credentials("admin", "admin")
    max_pools: ClassVar[int] = 3

    def __init__(self, host: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.api: int | None = None  # 2 or 3 once learnt
        self.api_version: tuple[int, int, int] | None = None
        self.v3_port = self.port + V3_PORT_DELTA
        self._identity: dict[str, Any] = {}  # get_version / devdetails / get_miner_info replies (API 2)
        self._token: Api2Token | None = None
        self._token_at = 0.0
        self._v3_info: dict[str, Any] | None = None
        self._v3_salt: str | None = None

    # --- which API ---------------------------------------------------------------------------
    def _learn(self, budget: _Budget) -> None:
        """Pick API 2 or 3 (4433 is asked only when 4028 is silent or the firmware is newer than 2024-11)."""
        version: dict[str, Any] | None = None
        v2_answers, refused = True, False
        try:
            version = cgminer_api.send_command(self.host, self.port, "get_version", timeout=budget.left())
        except MinerUnreachable:
            v2_answers = False
        except MinerProtocolError as exc:  # refused or odd: an old btminer, or a build that moved to API 3
            log.debug("%s: get_version: %s", self.host, exc)
            refused = True
        msg = flat_msg(version)
        api = api_version(msg.get("api_ver"))
        date = firmware_date(msg.get("fw_ver"))
        newer = (date is not None and date > V3_FIRMWARE_FROM) or (api is not None and api >= (3, 0, 0))
        if not v2_answers or refused or newer:
            # While 4028 answers, the probe gets half the time left, so a silent 4433 cannot eat the read.
            probe = budget if not v2_answers else _Budget(max(budget.left() / 2, 0.05), budget.where)
            try:
                self._v3_device_info(probe)
                self._set_api(3, None)
                return
            except MinerError as exc:
                if not v2_answers:
                    raise
                log.debug("%s: API 3 on %d did not answer (%s); using API 2", self.host, self.v3_port, exc)
        self._identity["get_version"] = version if version is not None else {}
        self._set_api(2, api)

    def _set_api(self, api: int, version: tuple[int, int, int] | None) -> None:
        self.api, self.api_version = api, version
        caps = set(type(self).capabilities)
        if api == 2 and version is not None and version < V2_POWER_LIMIT_FROM:
            caps.discard(POWER_WATTS)  # no adjust_power_limit before API 2.0.5
        self.capabilities = frozenset(caps)  # instance attribute shadows the class maximum

    def _ensure_api(self, budget: _Budget) -> int:
        if self.api is None:
            self._learn(budget)
        assert self.api is not None
        return self.api

    # --- reads -------------------------------------------------------------------------------
    @reply_guard
    def read(self) -> MinerStatus:
        """One poll: API 2 status/summary/edevs/pools (+ identity once), or API 3 device info and status."""
        budget = _Budget(self.timeout, f"{self.host}:{self.port}")
        if self._ensure_api(budget) == 3:
            return self._read_v3(budget)
        return self._read_v2(budget)

    def _read_v2(self, budget: _Budget) -> MinerStatus:
        # One command per connection: joined "summary+..." replies are cut short on 2025
        # firmware (pyasic patch set: "returns truncated SUMMARY (4 fields)"), and get_*/status
        # can never be joined (pyasic BTMinerRPCAPI.multicommand).
        results = cgminer_api.send_commands(self.host, self.port, ["status", "summary", "edevs", "pools"],
                                            timeout=budget.left(), allow_multi=False)
        for command in ("get_version", "devdetails", "get_miner_info"):
            if command not in self._identity:
                try:
                    self._identity[command] = cgminer_api.send_command(self.host, self.port, command,
                                                                       timeout=budget.left())
                except APIError as exc:  # this build refuses it: do not ask every poll
                    log.debug("%s: %s: %s", self.host, command, exc)
                    self._identity[command] = {}
                except MinerProtocolError as exc:  # empty or garbled: ask again next time
                    log.debug("%s: %s: %s", self.host, command, exc)
        replies: dict[str, Any] = {**self._identity, **results.replies}
        off = is_off(flat_msg(results.replies.get("status")))
        if "summary" not in results.replies and not off:
            raise results.errors.get("summary") or MinerProtocolError("summary: no reply")
        status = parse_v2(replies)
        for command, err in results.errors.items():
            if not (off and command in ("summary", "edevs", "pools")):  # btminer is stopped while asleep
                status.errors.append(f"{command}: {err.msg}")
        return status

    def _v3(self, payload: dict[str, Any], budget: _Budget) -> dict[str, Any]:
        return whatsminer_v3.call(self.host, self.v3_port, payload, timeout=budget.left())

    def _v3_device_info(self, budget: _Budget) -> dict[str, Any]:
        msg = v3_msg(self._v3({"cmd": "get.device.info"}, budget))
        if not isinstance(msg, dict) or not isinstance(msg.get("miner"), dict):
            raise MinerProtocolError("get.device.info: no 'miner' section; not a Whatsminer API 3 reply")
        self._v3_info = msg
        salt = msg.get("salt")
        self._v3_salt = salt if isinstance(salt, str) and salt else self._v3_salt
        return msg

    def _read_v3(self, budget: _Budget) -> MinerStatus:
        if self._v3_info is None:
            info = self._v3_device_info(budget)
            miner = info.get("miner")
        else:
            info = self._v3_info
            miner = v3_msg(self._v3({"cmd": "get.device.info", "param": "miner"}, budget), "miner")
        parts: dict[str, Any] = {}
        errors: dict[str, MinerError] = {}
        for what in ("summary", "edevs", "pools"):
            try:
                parts[what] = v3_msg(self._v3({"cmd": "get.miner.status", "param": what}, budget), what)
            except MinerUnreachable:
                raise
            except MinerError as exc:
                errors[what] = exc
        working = isinstance(miner, dict) and str(miner.get("working", "")).lower() == "true"
        if "summary" not in parts and working:
            raise errors["summary"]
        status = parse_v3(info, parts.get("summary"), parts.get("edevs"), parts.get("pools"),
                          miner if isinstance(miner, dict) else None)
        if working or not isinstance(miner, dict):
            status.errors.extend(f"get.miner.status {what}: {exc}" for what, exc in errors.items())
        return status

    # --- API 2 writes --------------------------------------------------------------------------
    def _v2_get_token(self, budget: _Budget) -> Api2Token:
        """A cached or fresh API 2 token (get_token -> md5-crypt key and sign)."""
        if self._token is not None and time.monotonic() - self._token_at < TOKEN_LIFETIME_S:
            return self._token
        try:
            reply = cgminer_api.send_command(self.host, self.port, "get_token", timeout=budget.left())
        except APIError as exc:
            raise self._v2_refusal(exc.code, exc.msg) from None
        msg = flat_msg(reply)
        if not all(isinstance(msg.get(k), (str, int)) for k in ("time", "salt", "newsalt")):
            raise MinerProtocolError("get_token: reply has no time/salt/newsalt")
        self._token = api2_token(self.credentials.password, str(msg["salt"]), str(msg["time"]), str(msg["newsalt"]))
        self._token_at = time.monotonic()
        return self._token

    def _v2_refusal(self, code: int | None, msg: str) -> MinerError:
        """The clear error for a refused API 2 write (never carries a secret)."""
        text = (msg or "").strip()
        if code == CODE_PERMISSION or "can't access write" in text.lower():
            return MinerAuthError(V2_WRITE_SWITCH_OFF.format(msg=text or "permission denied"))
        if code in (CODE_BAD_JSON, CODE_BASE64) or "enc json" in text.lower():
            return MinerAuthError(V2_WRONG_PASSWORD.format(code=code, msg=text))
        if code in (CODE_TOKEN, CODE_TOKEN_MAX) or "token" in text.lower():
            return MinerAuthError(V2_TOKEN_REJECTED.format(code=code, msg=text))
        return APIError("write", code, text, "E")

    def _v2_write(self, command: dict[str, Any], *, secrets: tuple[str, ...] = (),
                  may_drop: bool = False) -> dict[str, Any]:
        """Send one encrypted write; on a token error fetch a new token once and retry.

        ``may_drop``: restart/reboot may close the socket without a reply; that is success.
        """
        budget = _Budget(self.timeout * 2, f"{self.host}:{self.port}")
        for attempt in (1, 2):
            token = self._v2_get_token(budget)
            request = api2_encrypt_command(token, command)
            try:
                raw = cgminer_api.exchange(self.host, self.port, request, timeout=budget.left())
                reply = cgminer_api.parse_reply(raw, str(command.get("cmd")))
            except EmptyReply:
                if may_drop:
                    return {}
                raise
            if isinstance(reply, dict) and isinstance(reply.get("enc"), str):
                try:
                    reply = api2_decrypt_reply(token, reply["enc"])
                except DecryptError as exc:
                    raise MinerProtocolError(f"{command.get('cmd')}: {exc}") from None
            if not isinstance(reply, dict):
                raise MinerProtocolError(f"{command.get('cmd')}: reply is not an object")
            letter = str(reply.get("STATUS", "")).upper()
            code = integer(reply.get("Code"))
            msg = reply.get("Msg") if isinstance(reply.get("Msg"), str) else ""
            if letter == "S":
                return reply
            if code in (CODE_TOKEN, CODE_TOKEN_MAX) and attempt == 1:
                log.info("%s: API token refused (Code %s); fetching a new one", self.host, code)
                self._token = None  # expired on the miner (30 min, or the miner restarted): once more
                continue
            error = self._v2_refusal(code, scrub(msg, secrets))
            if isinstance(error, MinerAuthError):
                self._token = None
            raise error
        raise AssertionError("unreachable")

    # --- API 3 writes --------------------------------------------------------------------------
    def _v3_login(self) -> tuple[str, str]:
        """(account, password) for API 3: account "super" (the API 3 document: "using the admin
        account is deprecated and no longer supported"); the factory admin/admin maps to super/super
        (pyasic BTMinerV3RPCAPI's default)."""
        creds = self.credentials
        if creds == self.default_credentials or (creds.username, creds.password) == ("admin", "admin"):
            return "super", "super"
        account = creds.username if creds.username and creds.username != "admin" else "super"
        return account, creds.password

    def _v3_write(self, cmd: str, param: Any = None, *, encrypt: bool = False,
                  secrets: tuple[str, ...] = ()) -> dict[str, Any]:
        """Send one set.* command with ts/account/token; on "no permission" re-read the salt once and retry."""
        budget = _Budget(self.timeout * 2, f"{self.host}:{self.v3_port}")
        account, password = self._v3_login()
        for attempt in (1, 2):
            if not self._v3_salt:
                salt = v3_msg(self._v3({"cmd": "get.device.info", "param": "salt"}, budget), "salt")
                if not isinstance(salt, str) or not salt:
                    raise MinerProtocolError("get.device.info salt: no salt in the reply")
                self._v3_salt = salt
            ts = int(time.time())
            token, digest = v3_token(cmd, password, self._v3_salt, ts)
            payload: dict[str, Any] = {"cmd": cmd, "ts": ts, "token": token, "account": account}
            if param is not None:
                payload["param"] = v3_encrypt_param(digest, param) if encrypt else param
            try:
                return self._v3(payload, budget)
            except whatsminer_v3.V3PermissionDenied as exc:
                if attempt == 1:
                    self._v3_salt = None  # the salt may have changed (reboot, password change): once more
                    continue
                detail = f"code {exc.code} \"{scrub(exc.msg, secrets)}\""
                raise MinerAuthError(V3_REFUSED.format(detail=detail, account=account)) from None
            except whatsminer_v3.V3APIError as exc:
                raise whatsminer_v3.V3APIError(cmd, exc.code, scrub(exc.msg, secrets)) from None
        raise AssertionError("unreachable")

    # --- control -------------------------------------------------------------------------------
    def _api_now(self) -> int:
        return self._ensure_api(_Budget(self.timeout, f"{self.host}:{self.port}"))

    def restart(self) -> None:
        """Restart the mining service: API 2 ``restart_btminer``, API 3 ``set.miner.service restart``."""
        if self._api_now() == 3:
            self._v3_write("set.miner.service", "restart")
        else:
            self._v2_write({"cmd": "restart_btminer"}, may_drop=True)
        self._identity.pop("get_version", None)

    def reboot(self) -> None:
        """Reboot the whole miner: API 2 ``reboot``, API 3 ``set.system.reboot`` (the OS goes down for minutes)."""
        if self._api_now() == 3:
            self._v3_write("set.system.reboot")
        else:
            self._v2_write({"cmd": "reboot"}, may_drop=True)
        self._identity.clear()

    def sleep(self) -> None:
        """Stop hashing: API 2 ``power_off`` (respbefore: reply first), API 3 ``set.miner.service stop``."""
        if self._api_now() == 3:
            self._v3_write("set.miner.service", "stop")
        else:
            self._v2_write({"cmd": "power_off", "respbefore": "true"})

    def wake(self) -> None:
        """Resume hashing: API 2 ``power_on``, API 3 ``set.miner.service start``."""
        if self._api_now() == 3:
            self._v3_write("set.miner.service", "start")
        else:
            self._v2_write({"cmd": "power_on"})

    def set_mode(self, mode: str) -> None:
        """low / normal / high: API 2 ``set_<mode>_power``, API 3 ``set.miner.power_mode``."""
        if mode not in self.modes:
            raise ValueError(f"unknown mode {mode!r}; Whatsminer modes are {', '.join(self.modes)}")
        if self._api_now() == 3:
            self._v3_write("set.miner.power_mode", mode)
        else:
            self._v2_write({"cmd": f"set_{mode}_power"})

    def set_power_watts(self, watts: int) -> None:
        """Power limit in W: API 2.0.5+ ``adjust_power_limit``, API 3 ``set.miner.power_limit``.

        Both firmware documents say the miner restarts to apply it (pyasic: "The
        miner will reboot after this is set"); it cannot exceed the model's rated power.
        """
        watts = int(watts)
        if not 0 < watts <= 99_999:  # API 3 document: 0-99999
            raise ValueError(f"power limit {watts} W is outside 1..99999")
        if self._api_now() == 3:
            self._v3_write("set.miner.power_limit", watts)
            return
        if POWER_WATTS not in self.capabilities:
            shown = ".".join(map(str, self.api_version)) if self.api_version else "this"
            raise MinerError(f"Whatsminer API {shown} has no adjust_power_limit (added in API 2.0.5)")
        self._v2_write({"cmd": "adjust_power_limit", "power_limit": str(watts)}, may_drop=True)

    def set_power_percent(self, percent: int) -> None:
        """Power as percent: API 2 ``set_power_pct`` (temporary), API 3 ``set.miner.power_percent`` (fast mode).

        API 3 "fast" adjusts in about a second; "normal" takes minutes and only
        works in Normal/Low power mode on air-cooled units (vendor document).
        """
        percent = int(percent)
        if not 0 <= percent <= 100:
            raise ValueError(f"power percent {percent} is outside 0..100")
        if self._api_now() == 3:
            self._v3_write("set.miner.power_percent", {"percent": percent, "mode": "fast"})
        else:
            self._v2_write({"cmd": "set_power_pct", "percent": str(percent)})

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Replace the (up to three) pools: API 2 ``update_pools``, API 3 ``set.miner.pools`` (param encrypted)."""
        checked = validate_pools(pools, max_pools=self.max_pools)
        secrets = tuple(p.password for p in pools if p.password)
        entries = [(pool.url.strip(), pool.user, pool.password) for _, _, pool in checked]
        if self._api_now() == 3:
            param = [{"pool": url, "worker": user, "passwd": pw} for url, user, pw in entries]
            self._v3_write("set.miner.pools", param, encrypt=True, secrets=secrets)
            return
        command: dict[str, Any] = {"cmd": "update_pools"}
        for i in range(self.max_pools):  # the firmware takes pool1..pool3; unused slots are sent empty
            url, user, pw = entries[i] if i < len(entries) else ("", "", "")
            command.update({f"pool{i + 1}": url, f"worker{i + 1}": user, f"passwd{i + 1}": pw})
        self._v2_write(command, secrets=secrets)
