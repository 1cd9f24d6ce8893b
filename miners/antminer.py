"""Stock Antminer (Bitmain bmminer/cgminer): reads on the cgminer API (4028), control through the digest-auth web CGI.

Reads: the stock API answers only stats/pools/devs/summary/version (reference
section 1); the web CGI adds MAC, hostname, firmware build (get_system_info.cgi)
and the work mode (get_miner_conf.cgi ``bitmain-work-mode``: sleeping or not).
Control: restart (reboot.cgi), pools and work modes (set_miner_conf.cgi), in the
JSON dialect of X19-and-newer firmware or the positional form of 2017-2019
firmware (see antminer_cgi.py). Which one a miner speaks is learnt from its
config, or guessed from the firmware build year until the config can be read.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from . import antminer_cgi as cgi
from .antminer_web import FORM_CONTENT, JSON_CONTENT, AntminerWeb, json_of, web_port_for
from .base import (
    CHIPS,
    MODE,
    POOLS,
    RESTART,
    SCRYPT,
    SHA256D,
    SLEEP,
    WAKE,
    BoardStatus,
    ChipStatus,
    Credentials,
    MinerAuthError,
    MinerError,
    MinerProtocolError,
    MinerStatus,
    MinerUnreachable,
    NotSupported,
    PoolConfig,
)
from .cgminer import GH, MH, CGMinerDriver, integer, parse_cgminer, parse_stats, parse_version, section
from .cgminer_api import reply_guard
from .stratum import validate_pools
from .values import scrub

X11 = "x11"  # Dash (Antminer D3/D7/D9); not in base.py's list because no other family mines it

# Model -> (algorithm, H/s per unit of the "GHS" fields). Scrypt and X11 Antminers
# report MH/s in fields named "GHS 5s"/"GHS av"/chain_rateN (reference section 4,
# "Units trap": L3+ "GHS 5s":"504.56" is 504.56 MH/s; Foreman multiplies by 0.001).
_ALGORITHMS: tuple[tuple[re.Pattern[str], str, float], ...] = (
    (re.compile(r"\bL[3579]\b", re.IGNORECASE), SCRYPT, MH),
    (re.compile(r"\bD[379]\b", re.IGNORECASE), X11, MH),
)

SYSTEM_INFO = "/cgi-bin/get_system_info.cgi"
GET_CONF = "/cgi-bin/get_miner_conf.cgi"
SET_CONF = "/cgi-bin/set_miner_conf.cgi"
REBOOT = "/cgi-bin/reboot.cgi"
SUMMARY = "/cgi-bin/summary.cgi"
_MIN_WEB_BUDGET = 0.2  # seconds; below this a web read inside a poll is skipped rather than timed out
# The web config (sleep state) and summary.cgi errors change rarely; each read costs a digest
# round trip (requests keeps the digest nonce per thread, and polls hop between threads), which
# tripled an Antminer poll's CPU. Re-read them this often, after a command, or when the API
# reports zero hashrate (the sign of a miner that may have been put to sleep elsewhere).
_WEB_REFRESH_S = 300.0
OLD_GEN_SLEEP_MODE = 254  # stats "Mode": 254 = sleeping on S17-era stock (Foreman StockPowerModeStrategy)

# What each CGI generation can do (the class attribute is the union).
_GENERATION_CAPS = {
    cgi.MODERN: (frozenset({RESTART, SLEEP, WAKE, MODE, POOLS, CHIPS}), ("sleep", "low", "normal")),
    cgi.LEGACY_WORK_MODE: (frozenset({RESTART, SLEEP, WAKE, POOLS, CHIPS}), ()),
    cgi.LEGACY: (frozenset({RESTART, POOLS, CHIPS}), ()),
}


def algorithm_for(model: str | None) -> tuple[str, float]:
    """(algorithm, H/s per "GHS" unit) for an Antminer model string such as "Antminer L3+"."""
    if model:
        for pattern, algorithm, scale in _ALGORITHMS:
            if pattern.search(model):
                return algorithm, scale
    return SHA256D, GH


def parse_antminer(replies: Mapping[str, Mapping[str, Any]]) -> MinerStatus:
    """Stock Antminer replies (summary/stats/pools/version) -> MinerStatus, units per model (pure)."""
    model = parse_version(replies.get("version")).get("model") or parse_stats(replies.get("stats")).get("model")
    algorithm, scale = algorithm_for(model)
    status = parse_cgminer(replies, ghs_scale=scale)
    status.algorithm = algorithm
    if status.model is None and model:
        status.model = model
    if stats_mode(replies.get("stats")) == OLD_GEN_SLEEP_MODE:
        status.state = "sleeping"
    return status


def stats_mode(reply: Mapping[str, Any] | None) -> int | None:
    """STATS device block "Mode" (X19: 2 while mining; S17-era: 254 while asleep)."""
    for block in section(reply, "STATS"):
        if "Mode" in block:
            return integer(block.get("Mode"))
    return None


def chips_from_boards(boards: list[BoardStatus]) -> list[ChipStatus]:
    """One ChipStatus per character of each board's chain_acs ("o" answering -> "ok", else the firmware letter).

    bmminer fills chain_acsN with 'o' per chip, grouped by spaces (8 per group on
    S9/L3+, 2 or 5 on X17/X19). Other letters mark problem chips: 'x' is a chip
    that stopped answering (every chip of a sleeping S19 shows 'x'; Foreman flags
    any 'x' as an error; antminer-monitor counts 'x' defective and '-' inactive).
    """
    chips = []
    for board in boards:
        letters = [c for c in (board.chip_states or "") if not c.isspace()]
        for index, letter in enumerate(letters):
            chips.append(ChipStatus(board=board.index, index=index, state="ok" if letter == "o" else letter))
    return chips


def parse_chips(stats_reply: Mapping[str, Any] | None) -> list[ChipStatus]:
    """Per-chip states from a stats reply (pure)."""
    return chips_from_boards(parse_stats(stats_reply).get("boards") or [])


class AntminerDriver(CGMinerDriver):
    """Stock Antminer: API reads on 4028, web-CGI control on 80 with HTTP digest auth (default root/root).

    Capabilities narrow per instance once the firmware generation is known:
    JSON CGI (X19+): restart, sleep, wake, modes sleep/low/normal, pools, chips;
    S17-era positional CGI: restart, sleep, wake, pools, chips; 2017-2019
    S9/T9/L3+/D3 positional CGI: restart, pools, chips (no sleep mode exists).
    """

    family: ClassVar[str] = "antminer"
    capabilities: ClassVar[frozenset[str]] = _GENERATION_CAPS[cgi.MODERN][0]
    # Low power (miner-mode 3) is what pyasic sends to every X19+ stock firmware; tether's
    # S19 XP/S21 worker only uses 0/1, so whether a given model honours it is unverified:
    # every mode write is read back and a firmware that ignores it gets a clear error.
    modes: ClassVar[tuple[str, ...]] = _GENERATION_CAPS[cgi.MODERN][1]
    default_credentials: ClassVar[Credentials | None] = Credentials("root", "root")
    # devs is useless on X19 (one BTM_SOC pseudo-device, "Tenperature" typo); stats has the chains.
    read_commands: ClassVar[tuple[str, ...]] = ("summary", "stats", "pools")

    def __init__(self, host: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.web = AntminerWeb(host, web_port_for(self.port), self.credentials, self.timeout)
        self._system: cgi.SystemInfo | None = None  # get_system_info.cgi, read once per boot
        self._generation: str | None = None
        self._generation_known = False  # True once learnt from the config (not guessed)
        self._described = "stock Antminer firmware"
        self._web_read_at = 0.0  # monotonic time of the last config/summary.cgi read; 0 = due
        self._web_state: tuple[bool, list[str]] = (False, [])  # (sleeping, summary.cgi errors) then

    def close(self) -> None:
        """Drop the web session's pooled connections."""
        self.web.close()

    def ghs_scale(self, model: str | None) -> float:
        """MH/s per "GHS" unit on scrypt/X11 models, GH/s otherwise."""
        return algorithm_for(model)[1]

    # --- reads -----------------------------------------------------------------------
    @reply_guard
    def read(self) -> MinerStatus:
        """API summary/stats/pools (+ version once), then what the web CGI adds, all within ``timeout``."""
        deadline = time.monotonic() + self.timeout
        replies, results = self._read_replies()
        status = parse_antminer(replies)
        status.errors.extend(f"{cmd}: {err.msg}" for cmd, err in results.errors.items())
        self._described = f"stock {status.model or 'Antminer'} firmware"
        if status.firmware_version:
            self._described += f" built {status.firmware_version}"
        self._web_extras(status, deadline)
        if not self._generation_known:
            self._learn(cgi.guess_generation(status.firmware_version), known=False)
        return status

    def _web_extras(self, status: MinerStatus, deadline: float) -> None:
        """Add system info, sleep state and summary.cgi errors; a web failure never fails the API read."""
        def budget() -> float | None:
            left = deadline - time.monotonic()
            return left if left >= _MIN_WEB_BUDGET else None

        try:
            if self._system is None and (left := budget()):
                self._system = cgi.parse_system_info(json_of(self.web.get(SYSTEM_INFO, timeout=left), SYSTEM_INFO))
            due = (time.monotonic() - self._web_read_at > _WEB_REFRESH_S or not status.hashrate_hs
                   or self._web_state[0])
            if due and (left := budget()):
                conf = self._conf(timeout=left)
                errors: list[str] = []
                if self._generation == cgi.MODERN and (left := budget()):
                    try:
                        errors = cgi.summary_errors(json_of(self.web.get(SUMMARY, timeout=left), SUMMARY))
                    except MinerProtocolError:
                        pass  # summary.cgi is missing on some X19 builds; the API summary has the numbers
                self._web_state = (cgi.is_sleeping(conf), errors)
                self._web_read_at = time.monotonic()
            sleeping, errors = self._web_state
            if sleeping:
                status.state = "sleeping"
            status.errors.extend(errors)
        except MinerAuthError as exc:
            status.errors.append(str(exc))
        except MinerError as exc:
            status.errors.append(f"web interface: {exc}")
        info = self._system
        if info is not None:
            status.mac = info.mac or status.mac
            status.hostname = info.hostname or status.hostname
            status.model = status.model or info.model
            status.firmware_version = info.firmware_build or status.firmware_version

    @reply_guard
    def read_chips(self) -> list[ChipStatus]:
        """Per-chip states from stats chain_acsN (API, no login needed)."""
        reply = self.api.send("stats")
        return parse_chips(reply)

    # --- generation -------------------------------------------------------------------
    def _learn(self, generation: str | None, *, known: bool) -> None:
        """Narrow this instance's capabilities and modes to what the firmware generation can do."""
        if generation is None:
            return
        self._generation, self._generation_known = generation, known or self._generation_known
        self.capabilities, self.modes = _GENERATION_CAPS[generation]

    def _conf(self, *, timeout: float | None = None) -> dict[str, Any]:
        conf = cgi.parse_miner_conf(self.web.get(GET_CONF, timeout=timeout).text)
        self._learn(cgi.generation(conf), known=True)
        return conf

    # --- control ------------------------------------------------------------------------
    def restart(self) -> None:
        """GET /cgi-bin/reboot.cgi (pyasic; asic-rs POSTs): the whole miner reboots, gone for a minute or two."""
        try:
            self.web.get(REBOOT)
        except MinerUnreachable as exc:
            # Sent, and the miner went down before its reply was complete: that is the reboot.
            if not any(word in str(exc) for word in ("closed connection", "connection reset")):
                raise
        self._system = None  # re-read after the boot
        self.api.forget_version()
        self._web_read_at = 0.0

    def sleep(self) -> None:
        """Hash boards off, control board and web stay up (miner-mode 1; _ant_work_mode 254 on S17-era)."""
        self._set_work_mode("sleep")

    def wake(self) -> None:
        """Back to normal mode (miner-mode 0)."""
        self._set_work_mode("normal")

    def set_mode(self, mode: str) -> None:
        """One of ``modes``: sleep (1), low (3), normal (0) on the JSON CGI firmware."""
        if mode not in cgi.MODE_VALUES:
            raise ValueError(f"unknown mode {mode!r}; stock Antminer modes are {', '.join(cgi.MODE_VALUES)}")
        self._set_work_mode(mode)

    def _set_work_mode(self, mode: str) -> None:
        conf = self._conf()
        generation = cgi.generation(conf)
        secrets = self._pool_secrets(conf)  # the current pools go back with their passwords
        if generation == cgi.MODERN:
            value = cgi.MODE_VALUES[mode]
            data = json.dumps(cgi.modern_body(conf, miner_mode=value), separators=(",", ":")).encode()
            self._post_and_verify(data, JSON_CONTENT, lambda c: cgi.work_mode(c) == value, f"set mode {mode}",
                                  secrets)
        elif generation == cgi.LEGACY_WORK_MODE and mode in ("sleep", "normal"):
            value = cgi.LEGACY_SLEEP if mode == "sleep" else 0
            data = cgi.encode_legacy_form(cgi.legacy_fields(conf, work_mode_value=value), secrets)
            self._post_and_verify(data, FORM_CONTENT, lambda c: cgi.work_mode(c) == value, f"set mode {mode}",
                                  secrets)
        elif generation == cgi.LEGACY_WORK_MODE:
            raise NotSupported(f"{self._described}: its legacy web CGI (S17 era) only has sleep and normal; "
                               f"mode {mode!r} is not known for it")
        else:
            raise NotSupported(f"{self._described} has no sleep or power modes: its web CGI (2017-2019 "
                               "set_miner_conf.cgi) only sets pools, fan and frequency")

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Replace the three pool slots (unused ones empty) by read-modify-write of the whole config, read back."""
        checked = validate_pools(pools, max_pools=cgi.POOL_SLOTS)
        wanted = cgi.new_pools([pool for _, _, pool in checked])
        secrets = frozenset(p.password for p in pools if p.password)
        conf = self._conf()
        if cgi.generation(conf) == cgi.MODERN:
            data = json.dumps(cgi.modern_body(conf, pools=wanted), separators=(",", ":")).encode()
            content = JSON_CONTENT
        else:  # ValueError here, before anything is sent, if the form cannot carry a character
            data = cgi.encode_legacy_form(cgi.legacy_fields(conf, pools=wanted), secrets)
            content = FORM_CONTENT
        expected = [(p["url"], p["user"]) for p in wanted]
        self._post_and_verify(data, content, lambda c: [(p["url"], p["user"]) for p in cgi.conf_pools(c)] == expected,
                              "set pools", secrets | self._pool_secrets(conf))

    @staticmethod
    def _pool_secrets(conf: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(p["pass"] for p in cgi.conf_pools(conf) if p["pass"])

    def _post_and_verify(self, data: bytes, content_type: str, applied: Callable[[dict[str, Any]], bool],
                         what: str, secrets: frozenset[str]) -> None:
        """POST set_miner_conf.cgi, then read the config back: the reply alone proves nothing.

        The X19 CGI answers "M000 OK!" to writes it ignores (S19 XP field notes). The
        legacy script answers only after restarting cgminer (D3/L3+ script: ~6 s;
        S17-era script: 30 s), so a reply timeout is not a failure if the config changed.
        """
        pending: MinerUnreachable | None = None
        self._web_read_at = 0.0  # whatever happens, the next read refreshes the sleep state
        try:
            reply = self.web.post(SET_CONF, data, content_type)
            if not cgi.reply_ok(reply.text):
                raise MinerProtocolError(f"{what}: set_miner_conf.cgi refused the change: "
                                         f"{scrub(reply.text.strip()[:80], secrets)!r}")
        except MinerUnreachable as exc:
            if "refused" in str(exc):  # nothing was sent
                raise
            pending = exc
        if not applied(self._conf()):
            if pending is not None:
                raise pending
            raise MinerProtocolError(f"{what}: the miner answered OK but its config did not change "
                                     "(this firmware ignored the write)")
