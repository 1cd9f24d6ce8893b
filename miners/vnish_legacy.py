"""Legacy Vnish 3.x (S9/T9/L3+ era): stock Bitmain cgminer API for reads, Vnish's digest-auth CGI for control.

Reads (reference sections 4 and 7; the Foreman "Antminer S9 (NiceHash)" capture of
Vnish 3.8.6): ``summary``/``stats``/``pools`` on TCP 4028 like stock bmminer, with
``Type`` "Antminer S9 (vnish 3.8.6)", the ``}{`` glued ``stats`` objects, S9 chains
6..8, plus Vnish's own keys: ``chain_vol{N}`` (centivolts: 920 = 9.20 V),
``chain_consumption{N}`` (watts per chain), ``build_version``, and a "DevFee" pool
appended to ``pools``.

Control: the Bitmain lighttpd web stack with HTTP digest auth (root/root by
default) and the Vnish CGI scripts. Their names and form fields come from
third-party scripts only (reference section 7 marks them unverified; see
tests/fixtures/vnish/README.md for the code we checked them against):
``do_sleep_mode.cgi`` (form ``mode=1`` sleep, ``mode=0`` wake),
``reboot_cgminer.cgi`` (restart the mining process), ``reboot.cgi``,
``stop_bmminer.cgi``, ``chip_hr.json`` (per-chip hashrate), and
``set_miner_conf_custom.cgi``, whose urlencoded ``_ant_*`` fields are taken by
POSITION like the stock ``set_miner_conf.cgi``: every field is always sent, in
order, read-modify-write from ``get_miner_conf.cgi``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import requests
from requests.auth import HTTPDigestAuth

from . import http
from .antminer import algorithm_for
from .base import (
    AUTODOWNSCALE,
    CHIPS,
    REBOOT,
    FREQUENCY,
    MODE,
    POOLS,
    RESTART,
    SLEEP,
    THERMAL,
    WAKE,
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
from .cgminer import CGMinerDriver, parse_cgminer, parse_stats, parse_version, section
from .cgminer_api import DEFAULT_PORT as CGMINER_PORT, reply_guard
from .stratum import validate_pools
from .tuning import CONTROLLER, DOCUMENTED, BoardTuning, Range, Tuning
from .values import scrub

log = logging.getLogger(__name__)

HTTP_PORT = 80
Version = tuple[int, int, int]
POOL_SLOTS = 3
BOARD_SLOTS = 3  # _ant_freq1..3 / _ant_voltage1..3: the form has three per-board slots
FREQ_RANGE = (100, 1175)  # the Vnish 3.x S9 frequency drop-down (third-party copy of the web UI list)
VOLTAGE_RANGE_MV = (7000, 11000)  # S9 chains run 8.2-9.4 V (chain_vol 920 in the 3.8.6 capture); margin both ways
# Thermal target (_ant_target_temp -> bitmain-target-temp, degrees C). Vnish 3.x publishes no
# range; third-party tools read 75 as the default and write 80 (code-search file ids 515431207).
# The CGI itself (a copy of set_miner_conf_custom.cgi, file id 2044141705) writes the key only
# when the field is not "0", so "0" means "firmware default". These bounds are ours.
THERMAL_RANGE_C = (40, 90)


def parse_vnish_version(text: Any) -> Version | None:
    """(3, 8, 6) from a Type "Antminer S9 (vnish 3.8.6)" or "(vnish for AWESOME 3.8.6)"; None otherwise."""
    if not isinstance(text, str):
        return None
    match = re.search(r"vnish[^)]*?(\d+)\.(\d+)(?:\.(\d+))?", text, re.IGNORECASE)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


# --- presets ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Preset:
    """One named operating point: global frequency (MHz) and chain voltage (mV)."""

    mhz: int
    voltage_mv: int


# Presets are this controller's own names for three operating points (Vnish 3.x has
# no preset API). Values for BM1387 machines (S9, S9i, S9j, T9, T9+) come from a
# third-party S9-on-Vnish power curve (code-search file id 841259184, "Power-Frequency
# mapping for Antminer S9 with Vnish firmware ... from Mining Profiles in the web UI"):
# 387 MHz / 8.4 V ("Mining Profile: LPM", ~875 W), 650 MHz / 8.9 V (measured 1461 W; 650
# is also the stock S9 and the Vnish 3.8.6/3.9.0 T9+ "bitmain-freq"), 800 MHz / 9.2 V
# (~1900 W). Models without a sourced table (L3+, unknown) get no presets: set_mode is
# then not offered rather than guessed.
MODES: tuple[str, ...] = ("low_power", "balanced", "performance")
_BM1387_PRESETS = {"low_power": Preset(387, 8400), "balanced": Preset(650, 8900), "performance": Preset(800, 9200)}
_PRESETS_BY_MODEL: tuple[tuple[re.Pattern[str], dict[str, Preset]], ...] = (
    (re.compile(r"\b(S9[ij]?|T9\+?)(\s|$|\()", re.IGNORECASE), _BM1387_PRESETS),
)


def presets_for(model: str | None) -> dict[str, Preset]:
    """The preset table for a model string ("Antminer S9"); empty when none is sourced."""
    for pattern, table in _PRESETS_BY_MODEL:
        if model and pattern.search(model + " "):
            return table
    return {}


# --- get_miner_conf.cgi <-> set_miner_conf_custom.cgi -------------------------------------------
# (form field, get_miner_conf.cgi key, value when the key is missing). The ORDER is the
# form's: the CGI parses fields by position. Order and fields: third-party Vnish 3.9 tool
# (code-search file id 225297743, "Build form data in exact order vnish expects"); the
# config keys: another one (file id 515431207) reading get_miner_conf.cgi, which names
# bitmain-freq/-freq1..3/-voltage/-voltage1..3/-fan-ctrl/-fan-pwm/-fan-rpm-off/-target-temp/
# -tempoff/-nobeeper/-notempoverctrl/-chip-freq/-minhr/-maxx/-trigger-reboot/-autodownscale*
# and "asicboost". Keys marked (?) follow the same bitmain-<name> pattern but were not seen;
# their defaults are what the first tool sends (file id 841259184).
_POOL_FIELDS = tuple(f"_ant_pool{n}{part}" for n in range(1, POOL_SLOTS + 1) for part in ("url", "user", "pw"))
CONF_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("_ant_nobeeper", "bitmain-nobeeper", "false"),
    ("_ant_notempoverctrl", "bitmain-notempoverctrl", "false"),
    ("_ant_fan_customize_switch", "bitmain-fan-ctrl", "false"),
    ("_ant_fan_customize_value", "bitmain-fan-pwm", "100"),
    ("_ant_freq", "bitmain-freq", ""),
    ("_ant_freq1", "bitmain-freq1", "0"),
    ("_ant_freq2", "bitmain-freq2", "0"),
    ("_ant_freq3", "bitmain-freq3", "0"),
    ("_ant_voltage", "bitmain-voltage", ""),
    ("_ant_voltage1", "bitmain-voltage1", "0"),
    ("_ant_voltage2", "bitmain-voltage2", "0"),
    ("_ant_voltage3", "bitmain-voltage3", "0"),
    ("_ant_fan_rpm_off", "bitmain-fan-rpm-off", "0"),
    ("_ant_chip_freq", "bitmain-chip-freq", ""),
    ("_ant_autodownscale", "bitmain-autodownscale", "false"),
    ("_ant_autodownscale_watch", "bitmain-autodownscale-watch", "false"),  # (?)
    ("_ant_autodownscale_watchtimer", "bitmain-autodownscale-watchtimer", "false"),  # (?)
    ("_ant_autodownscale_timer", "bitmain-autodownscale-timer", "1"),
    ("_ant_autodownscale_after", "bitmain-autodownscale-after", "120"),
    ("_ant_autodownscale_step", "bitmain-autodownscale-step", "2"),
    ("_ant_autodownscale_min", "bitmain-autodownscale-min", "650"),
    ("_ant_autodownscale_prec", "bitmain-autodownscale-prec", "75"),
    ("_ant_autodownscale_profile", "bitmain-autodownscale-profile", "0"),
    ("_ant_minhr", "bitmain-minhr", "0"),
    ("_ant_asicboost", "asicboost", "false"),
    ("_ant_tempoff", "bitmain-tempoff", "0"),
    ("_ant_altdf", "bitmain-altdf", "true"),  # (?)
    ("_ant_presave", "bitmain-presave", "1"),  # (?)
    ("_ant_name", "bitmain-name", "0"),  # (?)
    ("_ant_warn", "bitmain-warn", ""),  # (?)
    ("_ant_maxx", "bitmain-maxx", ""),
    ("_ant_trigger_reboot", "bitmain-trigger-reboot", ""),
    ("_ant_target_temp", "bitmain-target-temp", "0"),
    ("_ant_silentstart", "bitmain-silentstart", "false"),  # (?)
    ("_ant_altdfno", "bitmain-altdfno", "0"),  # (?)
    ("_ant_autodownscale_reboot", "bitmain-autodownscale-reboot", "false"),  # (?)
    ("_ant_hotel_fee", "bitmain-hotel-fee", "false"),  # (?)
    ("_ant_lpm_mode", "bitmain-lpm-mode", "false"),  # (?)
    ("_ant_dchain5", "bitmain-dchain5", "false"),  # (?)
    ("_ant_dchain6", "bitmain-dchain6", "false"),  # (?)
    ("_ant_dchain7", "bitmain-dchain7", "false"),  # (?)
)
FORM_ORDER: tuple[str, ...] = _POOL_FIELDS + tuple(field for field, _, _ in CONF_FIELDS)
# Without these the write would have to guess the miner's own settings: refuse instead.
REQUIRED_KEYS = ("pools", "bitmain-freq", "bitmain-voltage")


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def build_form(conf: Mapping[str, Any], changes: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Every ``_ant_*`` field in form order from a get_miner_conf.cgi reply, with ``changes`` applied.

    Raises MinerProtocolError when the config lacks a key the write cannot guess,
    or already holds a value that is a field name (the corruption a partial write
    leaves behind: the CGI shifted the fields by position).
    """
    missing = [key for key in REQUIRED_KEYS if key not in conf]
    if missing:
        raise MinerProtocolError(f"get_miner_conf.cgi lacks {', '.join(missing)}; refusing to write a config "
                                 "that would have to guess them")
    values: dict[str, str] = {}
    pools = [p for p in conf.get("pools") or [] if isinstance(p, Mapping)]
    for n in range(POOL_SLOTS):
        pool = pools[n] if n < len(pools) else {}
        values[f"_ant_pool{n + 1}url"] = _form_value(pool.get("url", ""))
        values[f"_ant_pool{n + 1}user"] = _form_value(pool.get("user", ""))
        values[f"_ant_pool{n + 1}pw"] = _form_value(pool.get("pass", ""))
    for field, key, default in CONF_FIELDS:
        values[field] = _form_value(conf[key]) if key in conf else default
    for field, value in values.items():
        if "_ant_" in value and field not in (changes or {}):
            raise MinerProtocolError(f"the miner's config is already damaged ({field} holds a field name); "
                                     "fix it in the Vnish web interface before writing from here")
    for field, value in (changes or {}).items():
        if field not in values:
            raise ValueError(f"unknown Vnish form field {field}")
        values[field] = value
    return [(field, values[field]) for field in FORM_ORDER]


def voltage_to_mv(value: Any) -> float | None:
    """Chain voltage in mV from a Vnish config/stats value: "880"/920 (centivolts) or "8.8" (volts).

    The 3.8.6 stats capture has chain_vol 920 for a 9.20 V chain; one third-party
    tool writes "8.8" (volts) to the config, another 890 (centivolts), so both forms are read.
    """
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    if number <= 0:
        return None
    return number * 1000.0 if number < 20 else number * 10.0


def mv_to_conf(voltage_mv: int, current: Any) -> str:
    """mV in the form the miner's config already uses: volts ("8.90") or centivolts ("890")."""
    text = str(current).strip() if current is not None else ""
    if "." in text or (text and voltage_to_mv(text) is not None and float(text) < 20):
        return f"{voltage_mv / 1000.0:.2f}"
    return str(int(round(voltage_mv / 10.0)))


def _conf_number(value: Any) -> float | None:
    """A positive number from a config value ("650", 650); None for "0", "" and anything else."""
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def parse_legacy_tuning(conf: Mapping[str, Any], boards: int = BOARD_SLOTS) -> Tuning:
    """get_miner_conf.cgi -> Tuning: ``bitmain-freq``/``-voltage`` and their 1..3 overrides ("0" = global)."""
    tuning = Tuning(frequency_mhz=_conf_number(conf.get("bitmain-freq")),
                    voltage_mv=voltage_to_mv(conf.get("bitmain-voltage")),
                    per_board_frequency=True, per_board_voltage=True,
                    frequency_range=Range(*FREQ_RANGE, DOCUMENTED), voltage_range=Range(*VOLTAGE_RANGE_MV, CONTROLLER),
                    thermal_target_c=_conf_number(conf.get("bitmain-target-temp")),
                    thermal_range=Range(*THERMAL_RANGE_C, CONTROLLER),
                    thermal_limit_c=_conf_number(conf.get("bitmain-tempoff")))
    for index in range(boards):
        freq = _conf_number(conf.get(f"bitmain-freq{index + 1}"))
        volt = voltage_to_mv(conf.get(f"bitmain-voltage{index + 1}"))
        tuning.boards.append(BoardTuning(index=index, frequency_mhz=freq, voltage_mv=volt,
                                         follows_global=freq is None and volt is None))
    if tuning.thermal_target_c is None:
        tuning.notes.append("no target temperature stored: the firmware's default applies")
    return tuning


# --- reads -----------------------------------------------------------------------------------
def _device_block(stats: Mapping[str, Any] | None) -> Mapping[str, Any]:
    blocks = section(stats, "STATS")
    return next((b for b in blocks if any(str(k).startswith("chain_acn") for k in b)), {})


def parse_vnish_legacy(replies: Mapping[str, Mapping[str, Any]]) -> MinerStatus:
    """summary/stats/pools/version of a Vnish 3.x miner -> MinerStatus with Vnish's power and voltages (pure)."""
    model_text = (parse_version(replies.get("version")).get("model")
                  or parse_stats(replies.get("stats")).get("model"))
    algorithm, scale = algorithm_for(model_text)
    status = parse_cgminer(replies, ghs_scale=scale)
    status.algorithm = algorithm
    device = _device_block(replies.get("stats"))
    chain_numbers = sorted({int(m.group(1)) for k in device if (m := re.fullmatch(r"chain_acn(\d+)", str(k)))
                            and (device.get(k) or 0)})
    base = 6 if chain_numbers and min(chain_numbers) >= 6 else 1  # same numbering as cgminer.parse_stats
    watts = []
    for board in status.boards:
        n = board.index + base
        board.voltage_mv = voltage_to_mv(device.get(f"chain_vol{n}"))
        consumption = device.get(f"chain_consumption{n}")
        if isinstance(consumption, (int, float)) and not isinstance(consumption, bool) and consumption > 0:
            watts.append(float(consumption))
    # Vnish's own per-chain power estimate (watts); stock bmminer has no power at all.
    status.power_w = sum(watts) if watts and len(watts) == len(status.boards) else None
    volts = [b.voltage_mv for b in status.boards if b.voltage_mv is not None]
    status.voltage_mv = max(volts) if volts else None
    # The DevFee pool Vnish appends (URL "DevFee", priority 993) is not one of the user's pools.
    status.pools = [p for p in status.pools if p.url.lower() != "devfee"]
    versions = [replies.get("version"), replies.get("stats")]
    type_text = next((b.get("Type") for r in versions for name in ("VERSION", "STATS")
                      for b in section(r, name)[:1] if isinstance(b.get("Type"), str)), None)
    status.firmware = "Vnish"
    build = device.get("build_version")
    version = parse_vnish_version(type_text)
    status.firmware_version = (str(build) if isinstance(build, str) and build
                               else ".".join(map(str, version)) if version else status.firmware_version)
    return status


def parse_chip_hr(reply: Any, scale: float, acs: Sequence[str | None] = ()) -> list[ChipStatus]:
    """chip_hr.json ``{"chiphr": [{"Asic00": "69", ...}, ...]}`` (one object per board) -> chips.

    The numbers are GH/s per chip on an S9: 63 chips of ~69 make the ~4300 GH/s of a
    chain_rate (third-party readers label them MH/s, which cannot add up). ``acs`` are
    the boards' chain_acs strings ('o' = chip answering), used for each chip's state.
    """
    boards = reply.get("chiphr") if isinstance(reply, Mapping) else None
    if not isinstance(boards, list):
        raise MinerProtocolError("chip_hr.json has no \"chiphr\" list")
    chips = []
    for board, entry in enumerate(boards):
        if not isinstance(entry, Mapping):
            continue
        letters = (acs[board] or "").replace(" ", "") if board < len(acs) else ""
        keyed = sorted((int(m.group(1)), value) for key, value in entry.items()
                       if (m := re.fullmatch(r"Asic(\d+)", str(key))))
        for index, value in keyed:
            try:
                rate = float(str(value).strip())
            except ValueError:
                rate = None
            letter = letters[index] if index < len(letters) else None
            if letter:  # bmminer's chain_acs: 'o' answering, any other character a problem chip
                state = "ok" if letter == "o" else letter
            elif rate is not None:
                state = "ok" if rate > 0 else "no hashrate"
            else:
                state = None
            chips.append(ChipStatus(board=board, index=index, hashrate_hs=rate * scale if rate is not None else None,
                                    state=state))
    return chips


class _FormSession(requests.Session):
    """A Session whose next POST carries ``form`` as an urlencoded body.

    miners.http.request() sends JSON bodies only; the Vnish CGI wants a form, so the
    form is slipped in where the request is prepared and everything else (deadline,
    error mapping) stays http.request()'s.
    """

    form: list[tuple[str, str]] | None = None

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        if self.form is not None and request.method == "POST":
            request.data = self.form
        return super().prepare_request(request)


class VnishLegacyDriver(CGMinerDriver):
    """Vnish 3.x on S9/T9/L3+: cgminer reads on 4028, CGI control on the web port (digest auth).

    Capabilities narrow per instance after the first read: control only on a 3.x
    ``Type``, MODE only for models with a sourced preset table.
    """

    family: ClassVar[str] = "vnish"
    capabilities: ClassVar[frozenset[str]] = frozenset({RESTART, REBOOT, SLEEP, WAKE, MODE, FREQUENCY, POOLS, CHIPS,
                                                         AUTODOWNSCALE, THERMAL})
    modes: ClassVar[tuple[str, ...]] = MODES
    default_credentials: ClassVar[Credentials | None] = Credentials("root", "root")  # the Bitmain web login
    read_commands: ClassVar[tuple[str, ...]] = ("summary", "stats", "pools")

    def __init__(self, host: str, *, web_port: int | None = None, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        # The web CGI listens on 80 when the API is on 4028; the same offset carries over.
        self.web_port = web_port if web_port is not None else HTTP_PORT + (self.port - CGMINER_PORT)
        self._session = _FormSession()
        self._session.trust_env = False  # as http.new_session(): never through an environment proxy
        self._login: tuple[str, str] | None = None
        self._model: str | None = None
        self._vnish_version: Version | None = None
        self._asleep = False
        self._acs: list[str | None] = []

    # --- reads ---
    def ghs_scale(self, model: str | None) -> float:
        """MH/s per "GHS" unit on the scrypt L3+, GH/s otherwise."""
        return algorithm_for(model)[1]

    @reply_guard
    def read(self) -> MinerStatus:
        """summary/stats/pools (+ version once) -> MinerStatus; learns model and version on the way."""
        replies, results = self._read_replies()
        status = parse_vnish_legacy(replies)
        status.errors.extend(f"{cmd}: {err.msg}" for cmd, err in results.errors.items())
        device = _device_block(replies.get("stats"))
        self._acs = [b.chip_states for b in status.boards]
        self._learn(status, device)
        if self._asleep and not status.hashrate_hs:
            status.state = "sleeping"
        return status

    def _learn(self, status: MinerStatus, device: Mapping[str, Any]) -> None:
        self._model = status.model
        type_text = next((b.get("Type") for b in section(self.api.version, "VERSION")[:1]), None)
        self._vnish_version = parse_vnish_version(type_text) or parse_vnish_version(
            f"vnish {device.get('build_version')}" if device.get("build_version") else None)
        caps = set(type(self).capabilities)
        if self._vnish_version is None or self._vnish_version[0] != 3:
            caps = set()
            status.errors.append("control is implemented for Vnish 3.x only; this build is read-only here")
        if not presets_for(self._model):
            caps.discard(MODE)
        self.capabilities = frozenset(caps)
        self.modes = tuple(presets_for(self._model)) if MODE in caps else ()

    def _ensure_known(self) -> None:
        if self._model is None:
            self.read()

    # --- web CGI transport ---
    def _url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = host if self.web_port == HTTP_PORT else f"{host}:{self.web_port}"
        return f"http://{netloc}/cgi-bin/{path}"

    def _cgi(self, method: str, path: str, form: list[tuple[str, str]] | None = None) -> http.HttpReply:
        login = (self.credentials.username or "root", self.credentials.password)
        if self._login != login:  # one digest state per login: later requests reuse the nonce, no new 401
            self._session.auth, self._login = HTTPDigestAuth(*login), login
        self._session.form = form
        try:
            # A header keeps http.request from reusing a cached prepared request: the
            # digest Authorization must be computed afresh for every request.
            reply = http.request(self._session, method, self._url(path), timeout=self.timeout,
                                 headers={"Accept": "*/*"})
        finally:
            self._session.form = None
        if reply.status == 401:
            raise MinerAuthError("the miner refused the web login (HTTP digest, user "
                                 f"{self.credentials.username or 'root'!r}): wrong password? The Vnish 3.x "
                                 "factory login is root/root")
        if reply.status == 404:
            raise NotSupported(f"this firmware has no /cgi-bin/{path} (HTTP 404): not a Vnish 3.x web interface")
        if not 200 <= reply.status < 300:
            raise MinerProtocolError(f"/cgi-bin/{path}: HTTP {reply.status}")
        return reply

    def close(self) -> None:
        """Close the pooled web connection."""
        self._session.close()

    def miner_conf(self) -> dict[str, Any]:
        """GET /cgi-bin/get_miner_conf.cgi (the config the CGI writes; may start with blank lines)."""
        conf = self._cgi("GET", "get_miner_conf.cgi").json()
        if not isinstance(conf, dict):
            raise MinerProtocolError("get_miner_conf.cgi did not return a JSON object")
        return conf

    def _write_conf(self, changes: Mapping[str, str], what: str,
                    expect: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Read-modify-write of the whole form; the CGI answers "ok" and restarts the mining process."""
        self._need_control(what)
        conf = self.miner_conf()
        # _ant_presave "1" or "2" makes the CGI save without restarting bmminer ("2" even to another
        # file, /config/deploy/<name>.conf), so nothing would take effect; the CGI never stores the key,
        # so the form's default would be "1". Any other value restarts bmminer after saving (the CGI's
        # last lines, code-search file id 2044141705).
        changes = {"_ant_presave": "0", **changes}
        form = build_form(conf, changes)
        reply = self._cgi("POST", "set_miner_conf_custom.cgi", form)
        if reply.text.strip().lower() != "ok":
            raise MinerProtocolError(f"{what}: set_miner_conf_custom.cgi answered {reply.text.strip()[:60]!r}, "
                                     "not \"ok\"")
        after = self.miner_conf()
        wrong = [key for key, want in (expect or {}).items() if _form_value(after.get(key)) != _form_value(want)]
        if wrong:
            raise MinerProtocolError(f"{what}: the miner answered ok but did not store {', '.join(wrong)}")
        self.api.forget_version()  # bmminer restarted: read the version again
        return after

    def _need_control(self, what: str) -> None:
        self._ensure_known()
        if self._vnish_version is None or self._vnish_version[0] != 3:
            shown = ".".join(map(str, self._vnish_version)) if self._vnish_version else "unknown"
            raise NotSupported(f"{what}: control is implemented for Vnish 3.x only (this miner runs {shown})")

    # --- control ---
    def restart(self) -> None:
        """GET /cgi-bin/reboot_cgminer.cgi: restart the mining process (not the OS).

        Third-party tools note the script often never answers (the web server waits
        for bmminer); a reply that does not finish in time therefore counts as sent.
        """
        self._need_control("restart")
        try:
            self._cgi("GET", "reboot_cgminer.cgi")
        except MinerUnreachable as exc:
            if "no reply within" not in str(exc) and "not finished within" not in str(exc):
                raise
            log.info("%s: reboot_cgminer.cgi did not answer in time; the restart is under way", self.host)
        self.api.forget_version()
        self._asleep = False

    def reboot(self) -> None:
        """GET /cgi-bin/reboot.cgi: reboot the whole controller."""
        self._need_control("reboot")
        self._cgi("GET", "reboot.cgi")
        self.api.forget_version()

    def stop_mining(self) -> None:
        """GET /cgi-bin/stop_bmminer.cgi: stop the mining process (the API port closes until restart())."""
        self._need_control("stop mining")
        self._cgi("GET", "stop_bmminer.cgi")

    def sleep(self) -> None:
        """POST do_sleep_mode.cgi mode=1: hashing stops, the API and web stay up."""
        self._need_control("sleep")
        self._cgi("POST", "do_sleep_mode.cgi", [("mode", "1")])
        self._asleep = True

    def wake(self) -> None:
        """POST do_sleep_mode.cgi mode=0."""
        self._need_control("wake")
        self._cgi("POST", "do_sleep_mode.cgi", [("mode", "0")])
        self._asleep = False

    def set_frequency(self, mhz: int, voltage_mv: int | None = None, board: int | None = None) -> None:
        """Global (board None) or per-board frequency, and chain voltage where given, via the custom form.

        A global change clears the per-board overrides of what it sets ("0" = use the
        global value), so every board follows it.
        """
        if not FREQ_RANGE[0] <= int(mhz) <= FREQ_RANGE[1]:
            raise ValueError(f"frequency {mhz} MHz is outside Vnish's {FREQ_RANGE[0]}..{FREQ_RANGE[1]}")
        if voltage_mv is not None and not VOLTAGE_RANGE_MV[0] <= int(voltage_mv) <= VOLTAGE_RANGE_MV[1]:
            raise ValueError(f"chain voltage {voltage_mv} mV is outside {VOLTAGE_RANGE_MV[0]}..{VOLTAGE_RANGE_MV[1]}")
        if board is not None and not 0 <= int(board) < BOARD_SLOTS:
            raise ValueError(f"Vnish 3.x sets boards 0..{BOARD_SLOTS - 1} (three chains), got board {board}")
        self._need_control("set frequency")
        conf = self.miner_conf()
        changes: dict[str, str] = {}
        expect: dict[str, Any] = {}
        if board is None:
            changes["_ant_freq"] = str(int(mhz))
            expect["bitmain-freq"] = str(int(mhz))
            for n in range(1, BOARD_SLOTS + 1):
                changes[f"_ant_freq{n}"] = "0"
            if voltage_mv is not None:
                changes["_ant_voltage"] = mv_to_conf(int(voltage_mv), conf.get("bitmain-voltage"))
                expect["bitmain-voltage"] = changes["_ant_voltage"]
                for n in range(1, BOARD_SLOTS + 1):
                    changes[f"_ant_voltage{n}"] = "0"
        else:
            n = int(board) + 1
            changes[f"_ant_freq{n}"] = str(int(mhz))
            expect[f"bitmain-freq{n}"] = str(int(mhz))
            if voltage_mv is not None:
                changes[f"_ant_voltage{n}"] = mv_to_conf(int(voltage_mv), conf.get("bitmain-voltage"))
                expect[f"bitmain-voltage{n}"] = changes[f"_ant_voltage{n}"]
        self._write_conf(changes, "set frequency", expect)

    def set_mode(self, mode: str) -> None:
        """Apply one of ``modes`` (low_power, balanced, performance) as global frequency + voltage."""
        self._ensure_known()
        table = presets_for(self._model)
        if not table:
            raise NotSupported(f"no sourced Vnish presets for {self._model or 'this model'}; set the frequency instead")
        if mode not in table:
            raise ValueError(f"unknown mode {mode!r}; Vnish 3.x presets here are {', '.join(table)}")
        preset = table[mode]
        self.set_frequency(preset.mhz, preset.voltage_mv)

    def set_autodownscale(self, enabled: bool, *, step_mhz: int | None = None, min_mhz: int | None = None,
                          timer: int | None = None, after: int | None = None,
                          prec: int | None = None) -> None:
        """Vnish's automatic frequency reduction (``_ant_autodownscale*``); None keeps a value as it is.

        step_mhz: MHz taken off per step; min_mhz: the lowest frequency it may reach;
        timer, after, prec: the form's ``_ant_autodownscale_timer``, ``_after`` and
        ``_prec`` (check interval, delay after start, hashrate percent that triggers a
        step, per third-party tools; their units are not documented by Vnish).
        """
        changes = {"_ant_autodownscale": "true" if enabled else "false"}
        expect: dict[str, Any] = {"bitmain-autodownscale": bool(enabled)}
        for field, key, value, low, high in (("_ant_autodownscale_step", "bitmain-autodownscale-step", step_mhz, 1, 200),
                                             ("_ant_autodownscale_min", "bitmain-autodownscale-min", min_mhz,
                                              FREQ_RANGE[0], FREQ_RANGE[1]),
                                             ("_ant_autodownscale_timer", "bitmain-autodownscale-timer", timer, 1, 1440),
                                             ("_ant_autodownscale_after", "bitmain-autodownscale-after", after, 0, 86400),
                                             ("_ant_autodownscale_prec", "bitmain-autodownscale-prec", prec, 1, 100)):
            if value is None:
                continue
            if isinstance(value, bool) or not low <= int(value) <= high:
                raise ValueError(f"{field.removeprefix('_ant_')} must be between {low} and {high}, got {value}")
            changes[field] = str(int(value))
            expect[key] = str(int(value))
        self._write_conf(changes, "set autodownscale", expect)

    def tuning(self) -> Tuning:
        """get_miner_conf.cgi -> global and per-board frequency/voltage, the target and shutdown temperatures."""
        self._need_control("read tuning")
        boards = len(self._acs) or BOARD_SLOTS
        return parse_legacy_tuning(self.miner_conf(), min(boards, BOARD_SLOTS))

    def set_thermal_target(self, celsius: int) -> str | None:
        """``_ant_target_temp`` through the custom form, below the miner's ``bitmain-tempoff``; read back."""
        low, high = THERMAL_RANGE_C
        Range(low, high, CONTROLLER).check(int(celsius), "target temperature", "C")
        self._need_control("set thermal target")
        shutdown = _conf_number(self.miner_conf().get("bitmain-tempoff"))
        if shutdown is not None and int(celsius) >= shutdown:
            raise ValueError(f"target temperature {int(celsius)} C must be below the miner's shutdown "
                             f"temperature {shutdown:g} C (bitmain-tempoff)")
        self._write_conf({"_ant_target_temp": str(int(celsius))}, "set thermal target",
                         {"bitmain-target-temp": str(int(celsius))})
        return None

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Replace the three pool slots through the custom form (unused slots empty), read back."""
        checked = validate_pools(pools, max_pools=POOL_SLOTS)
        changes: dict[str, str] = {}
        for n in range(POOL_SLOTS):
            pool = checked[n][2] if n < len(checked) else None
            changes[f"_ant_pool{n + 1}url"] = pool.url.strip() if pool else ""
            changes[f"_ant_pool{n + 1}user"] = pool.user if pool else ""
            changes[f"_ant_pool{n + 1}pw"] = pool.password if pool else ""
        secrets = [p.password for p in pools if p.password]
        try:
            after = self._write_conf(changes, "set pools")
        except MinerError as exc:
            raise type(exc)(scrub(str(exc), secrets)) from None
        def key(url: Any) -> str:  # compared without scheme and case: cgminer accepts "host:port" too
            return str(url or "").strip().lower().split("://", 1)[-1]

        listed = after.get("pools")
        stored = [(key(p.get("url")), str(p.get("user", ""))) for p in (listed if isinstance(listed, list) else [])
                  if isinstance(p, Mapping)]
        want = [(key(changes[f"_ant_pool{n}url"]), changes[f"_ant_pool{n}user"]) for n in range(1, POOL_SLOTS + 1)]
        if stored[:POOL_SLOTS] != want:
            raise MinerProtocolError("set pools: the miner answered ok but stored other pools")

    @reply_guard
    def read_chips(self) -> list[ChipStatus]:
        """GET /cgi-bin/chip_hr.json: per-chip hashrate, chip states from chain_acs of the last read."""
        self._need_control("read chips")
        reply = self._cgi("GET", "chip_hr.json")
        return parse_chip_hr(reply.json(), algorithm_for(self._model)[1], self._acs)


__all__ = ["VnishLegacyDriver", "build_form", "parse_chip_hr", "parse_legacy_tuning", "parse_vnish_legacy",
           "presets_for"]
