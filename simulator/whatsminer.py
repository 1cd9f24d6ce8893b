"""Whatsminer (MicroBT btminer): API 2.x on TCP 4028 and, for M60-class firmware, API 3.x on TCP 4433.

Reply shapes are rebuilt from recorded replies (reference section 5;
whatsminer/summary.m31s.json, edevs.m31s.json, status.m31s_sleeping_old_api.json,
get_device_info.api3.json; foreman-apps WhatsminerStatsITest M20S/M30S/M31S
cases incl. a real get_token reply and encrypted status exchange; asic-rs
whatsminer v1/status.json) and from MicroBT's "Whatsminer API V2.0.5" and the
API 3 document (apidoc.whatsminer.com):

- API 2: cgminer-shaped summary/edevs/devs/pools/devdetails (STATUS list,
  Description "btminer" or "cgminer 4.9.2"), flat btminer replies for
  get_version/status/get_miner_info/get_psu/get_token (STATUS a string,
  Code 131/134, Msg an object), "Firmware Version" wrapped in single quotes,
  POOL numbered from 0 or 1 depending on the build, "Power" in W.
  Writes only as {"enc":1,"data":base64(AES-256-ECB)} with a token from
  get_token (30-minute life, 32 per client IP); replies encrypted the same way.
  Errors are plain flat replies: 45 "can't access write cmd" (API switch off or
  a plaintext write), 23 "enc json load err" (wrong password: wrong AES key),
  135 "check token error" (unknown or expired token).
- API 3: 4-byte little-endian length + JSON, {"code","when","msg","desc"},
  get.device.info / get.miner.status, set.* signed with ts/account/token;
  set.miner.pools param AES-encrypted (PKCS#7 or NUL padding accepted). The
  M60-class unit still answers get_version and version on 4028.

Not verified against a capture (marked where they occur): the exact codes of
the auth errors other than 23/45/135, API 3 error texts, API 3 edevs/pools
field sets (from pyasic's models), summary staying readable while asleep.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import time
from dataclasses import dataclass
from typing import Any, Callable

from . import faults
from .cgminer import Pool, failover_pool
from .conditions import CONDITIONS, apply_pool_down, hot_c
from .formats import Raw, fx, pct
from .miner import CGAPI, LENGTH_PREFIXED, SimMiner
from .physics import ShareCounter, noisy
from .spec import MinerSpec
from .whatsminer_crypto import aes_key, decrypt_b64, decrypt_json, encrypt_b64, md5crypt_body, v3_digest, v3_token_of

# The factory salt of the admin account: foreman-apps' recorded get_token reply carries it, and the
# md5crypt("admin", it) hash is the factory key found in the firmware (a public reverse-engineering note).
FACTORY_SALT = "BQ5hoXV9"
TOKEN_LIFE_S = 1800.0  # "a token keepalive time is 30 minutes" (API V2.0.5)
TOKENS_PER_IP = 32  # "one IP can get 32 tokens" (API V2.0.5)
MODE_POWER = {"low": 0.82, "normal": 1.0, "high": 1.12}
MODE_WORD = {"low": "Low", "normal": "Normal", "high": "High"}
JOINABLE = frozenset({"summary", "pools", "devs", "edevs", "devdetails"})
V2_WRITES = frozenset({"update_pools", "restart_btminer", "power_off", "power_on", "set_low_power",
                       "set_normal_power", "set_high_power", "reboot", "adjust_power_limit", "set_power_pct",
                       "set_led", "set_target_freq", "update_pwd", "factory_reset", "net_config", "set_hostname",
                       "set_zone", "load_log", "enable_web_pools", "disable_web_pools", "set_power_pct_v2",
                       "enable_btminer_fast_boot", "disable_btminer_fast_boot", "pre_power_on"})
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class WhatsminerModel:
    """One simulated Whatsminer model and the firmware build it runs."""

    key: str
    miner_type: str  # get.device.info miner.type / get_version miner_type
    devdetails: str  # DEVDETAILS Model
    api: int  # 2 or 3
    api_ver: str  # get_version api_ver (API 2) / system.api (API 3)
    firmware: str  # fw_ver
    description: str  # STATUS Description of the cgminer-shaped replies
    flat_description: str  # Description of flat replies
    old_status: bool  # status says "btmineroff" (whatsminer v1.x API) instead of "mineroff"
    pool_base: int  # POOL numbering starts at 0 or at 1: both are recorded
    boards: int
    chips: int  # per board (pyasic's expected_chips for the model; 105 recorded on the M31S)
    freq: int  # MHz
    factory_ghs: float  # whole miner, GH/s ("Factory GHS")
    power_w: float  # Normal mode, W
    power_limit: int  # factory "Power Limit", W
    platform: str
    chip_data: str
    fan_rpm: int


MODELS: dict[str, WhatsminerModel] = {
    # foreman-apps "Whatsminer M20S (old firmware)" + raw/summary.m20s_escaped_quote (cgminer 4.9.2, fw 20200917).
    "M20S": WhatsminerModel("M20S", "M20S_V10", "M20SV10", 2, "whatsminer v1.3", "20200917.22.REL", "cgminer 4.9.2",
                            "whatsminer v1.3", True, 0, 3, 105, 622, 67051.0, 3360.0, 3500, "ALLWINNER_H3",
                            "HP3D04-20010214 C BINV04-192104B", 4950),
    # whatsminer/summary.m31s.json, edevs.m31s.json (btminer, fw 20201202; pools numbered 1..3).
    "M31S": WhatsminerModel("M31S", "M31S_V10", "M31SV10", 2, "whatsminer v1.3", "20201202.22.REL", "btminer",
                            "whatsminer v1.3", True, 1, 3, 105, 710, 75697.0, 3553.0, 3600, "ALLWINNER_H6OS",
                            "HPJA05-20070601 BINV02-193005F", 5700),
    # API 2.0.5 build (adjust_power_limit exists); status in the asic-rs v1/status.json shape ("mineroff").
    "M30S+": WhatsminerModel("M30S+", "M30S+_VE40", "M30S+V40", 2, "2.0.5", "20230412.18.Rel", "btminer",
                             "whatsminer v1.4.0", False, 1, 3, 235, 600, 100000.0, 3400.0, 3900, "H6OS",
                             "HP3A07-22020801 BINV01-196803C", 5400),
    "M50S": WhatsminerModel("M50S", "M50S_VH40", "M50SVH40", 2, "2.0.5", "20231218.15.Rel", "btminer",
                            "whatsminer v1.4.0", False, 1, 3, 148, 555, 126000.0, 3276.0, 3600, "H6OS",
                            "K46K241-2209 BIN2-B", 5600),
    # whatsminer/get_device_info.api3.json: M60S_VK40, API 3.0.2, fw 20251209.16.Rel2, H616.
    "M60S": WhatsminerModel("M60S", "M60S_VK40", "M60SVK40", 3, "3.0.2", "20251209.16.Rel2", "btminer",
                            "whatsminer v1.4.0", False, 1, 3, 225, 490, 181051.0, 3344.0, 3600, "H616",
                            "K8EC374-2426 BINVE6-197806A", 6300),
}
ALIASES = {m.miner_type.lower(): k for k, m in MODELS.items()} | {m.devdetails.lower(): k for k, m in MODELS.items()}


def resolve_model(name: str | None) -> WhatsminerModel:
    """"M30S+", "Whatsminer M60S", "M60S_VK40" -> the model (default M30S+)."""
    if not name:
        return MODELS["M30S+"]
    text = name.strip().replace("Whatsminer", "").replace("WhatsMiner", "").strip()
    key = ALIASES.get(text.lower(), text.upper().replace(" ", ""))
    if key not in MODELS:
        raise ValueError(f"unknown Whatsminer model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[key]


def _api_tuple(text: str) -> tuple[int, ...]:
    """"2.0.5" -> (2, 0, 5); the v1.x daemon's "whatsminer v1.3" -> (1, 3)."""
    digits = "".join(c if c.isdigit() or c == "." else " " for c in text).split()
    return tuple(int(p) for p in digits[0].split(".") if p) if digits else ()


def _dumps(value: Any) -> str:
    """Compact JSON where Raw values (fixed decimals, as btminer prints them) go out verbatim."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + _dumps(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    return json.dumps(value)


class WhatsminerMiner(SimMiner):
    """A Whatsminer; API 2 on 4028, plus API 3 on 4433 for the M60-class model."""

    kind = "whatsminer"
    protocols = (CGAPI,)
    supported_conditions = frozenset(CONDITIONS)

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.hw = hw = resolve_model(spec.model)
        self.firmware = spec.firmware_version or hw.firmware
        self.protocols = (CGAPI, LENGTH_PREFIXED) if hw.api == 3 else (CGAPI,)
        rng = self.rng
        self.board_quality = [rng.uniform(0.97, 1.03) for _ in range(hw.boards)]
        self.board_heat = [rng.uniform(-3.0, 3.0) for _ in range(hw.boards)]
        octets = spec.ip.split(".")
        worker = f"sim.{octets[2]}x{octets[3]}"
        pools = list(spec.pools) if spec.pools else [("stratum+tcp://btc.ss.poolin.com:443", worker),
                                                     ("stratum+tcp://btc.ss.poolin.com:1883", worker),
                                                     ("stratum+tcp://btc.ss.poolin.com:25", worker)]
        self.pools = [Pool(url, user, priority=i, diff=262144.0) for i, (url, user) in enumerate(pools[:3])]
        # API 2 write access: the admin password and WhatsMinerTool's "Miner API Switch".
        self.password = "admin"
        self.write_enabled = True
        self.salt = FACTORY_SALT
        # API 3 accounts (pyasic's default super/super) and the salt get.device.info hands out.
        self.v3_accounts = {"super": "super"}
        digest = hashlib.sha1(f"salt:{spec.ip}".encode()).digest()
        self.v3_salt = "".join(_B62[b % 62] for b in digest[:8])
        self.reject_tokens = False  # test knob: every API 2 token is "expired"
        self.mining = True
        self.mode = "normal"
        self.power_limit = hw.power_limit
        self.power_percent = 100
        self.led = "auto"
        self.hostname = spec.hostname or "WhatsMiner"
        self._tokens: dict[str, list[tuple[str, str, float]]] = {}
        self.token_requests = 0
        self.token_errors = 0
        self.applied: list[str] = []  # write commands that changed something, in order
        self.shares = ShareCounter()
        self._last_advance = self.now()
        self._btminer_start = self.now()
        self._held_pool: Pool | None = None  # the pool "pool_down" holds dead

    # --- identity --------------------------------------------------------------------------
    @property
    def model(self) -> str:
        """DEVDETAILS Model, e.g. "M30S+V40"."""
        return self.hw.devdetails

    @property
    def description(self) -> str:
        """STATUS Description of the cgminer-shaped replies ("btminer" or "cgminer 4.9.2")."""
        return self.hw.description

    @property
    def mac_address(self) -> str:
        """MAC under the prefix recorded from an M31S (C6:06:12)."""
        return self.mac("C6:06:12")

    def on_boot(self) -> None:
        """A power cycle: btminer starts again, tokens are forgotten, the temporary power percent is lost."""
        super().on_boot()
        self._restart_btminer()
        self._tokens.clear()
        self.power_percent = 100  # "not saved to user config file, info lost after reboot" (API 3 doc)

    def _restart_btminer(self) -> None:
        self._btminer_start = self.now()
        self._last_advance = self.now()
        self.shares = ShareCounter()
        for pool in self.pools:
            pool.reset_counters()

    # --- physics ---------------------------------------------------------------------------
    def target_power(self) -> float:
        """Wall power the miner regulates to: mode x percent, capped by the power limit; 0 while off."""
        if not self.mining:
            return 0.0
        return min(self.hw.power_w * MODE_POWER[self.mode] * self.power_percent / 100.0, float(self.power_limit))

    def power_ratio(self) -> float:
        """Power relative to Normal mode at the factory point."""
        return self.target_power() / self.hw.power_w

    def boards(self) -> list[int]:
        """The hash boards btminer finds: under "board_down" the last one is gone from devs/edevs."""
        count = self.hw.boards - 1 if "board_down" in self.conditions else self.hw.boards
        return list(range(count))

    def _all_boards_ghs(self) -> float:
        ratio = self.power_ratio()
        return self.hw.factory_ghs * sum(self.board_quality) / len(self.board_quality) * ratio ** 0.8 if ratio else 0.0

    def hashrate_ghs(self) -> float:
        """Noise-free GH/s of the boards found: efficiency improves a little as power drops (ratio ** 0.8)."""
        return sum(self.board_ghs(b) for b in self.boards())

    def board_ghs(self, board: int) -> float:
        """Noise-free GH/s of one board."""
        return self._all_boards_ghs() * self.board_quality[board] / sum(self.board_quality)

    def on_conditions(self, old: frozenset[str]) -> None:
        """"pool_down": the first pool goes Dead (btminer fails over to the next); cleared, it comes back."""
        self._held_pool = apply_pool_down(self.pools, "pool_down" in self.conditions, self._held_pool)

    def elapsed(self) -> int:
        """Seconds since btminer (re)started."""
        return max(int(self.now() - self._btminer_start), 1)

    def active_pool(self) -> Pool | None:
        """Failover: the alive pool with the best priority."""
        return failover_pool(self.pools)

    def _advance(self) -> None:
        now = self.now()
        dt, self._last_advance = now - self._last_advance, now
        pool = self.active_pool()
        if pool is None or not self.mining:
            return
        before = (self.shares.accepted, self.shares.rejected)
        self.shares.advance(self.rng, dt, self.hashrate_ghs() * 1e9, pool.diff, reject_ratio=self.reject_ratio,
                            now=time.time())
        pool.accepted += self.shares.accepted - before[0]
        pool.rejected += self.shares.rejected - before[1]
        if self.shares.accepted != before[0]:
            pool.diff_accepted = pool.accepted * pool.diff
            pool.last_share_time = time.time()
            pool.best_share = max(pool.best_share, self.shares.best_share)

    def _temps(self, board: int) -> tuple[float, float, float, float]:
        """(board, chip min, chip avg, chip max) in degrees C."""
        ratio = self.power_ratio()
        if "hot" in self.conditions:
            hot = hot_c(self.kind) + max(self.board_heat[board], 0.0) + self.rng.gauss(0, 0.3)
            return round(hot - 15, 2), round(hot - 12, 2), round(hot - 5, 2), round(hot, 2)
        base = 25.0 + 45.0 * ratio + self.board_heat[board]
        rng = self.rng
        return (round(base + rng.gauss(0, 0.3), 2), round(base - 8 + rng.gauss(0, 0.5), 2),
                round(base + 8 + rng.gauss(0, 0.5), 2), round(base + 20 * ratio + rng.gauss(0, 0.5), 2))

    def _fans(self) -> tuple[int, int]:
        if not self.mining or "fan_stopped" in self.conditions:
            return 0, 0
        ratio = self.power_ratio()
        rpm = self.hw.fan_rpm * (0.6 + 0.4 * ratio)
        return int(noisy(self.rng, rpm, 0.01)), int(noisy(self.rng, rpm * 1.02, 0.01))

    # --- API 2 envelope --------------------------------------------------------------------
    def _flat(self, letter: str, code: int, msg: Any, description: str | None = None) -> str:
        body = {"STATUS": letter, "When": int(time.time()), "Code": code, "Msg": msg,
                "Description": self.hw.flat_description if description is None else description}
        return _dumps(body)

    def _cg(self, code: int, msg: str, section: str | None = None, records: list[dict[str, Any]] | None = None,
            letter: str = "S", wrap: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"STATUS": [{"STATUS": letter, "When": int(time.time()), "Code": code, "Msg": msg,
                                            "Description": self.hw.description}]}
        if section is not None:
            body[section] = records or []
        if wrap:
            body["id"] = 1
        return body

    def handle_cgapi_bytes(self, data: bytes, client_ip: str) -> object:
        """btminer's 4028 front end: JSON with "command" or "cmd", encrypted writes, flat or cgminer replies."""
        return self._api2(data, client_ip)

    def malformed_cgapi(self, text: str) -> str:
        """btminer's own breakage: a trailing comma before the closing brace (pyasic repair 2)."""
        return text[:-1] + ",}" if text.endswith("}") else text

    def _api2(self, data: bytes, client_ip: str) -> str | tuple[str, Callable[[], None]]:
        text = data.decode("utf-8", "replace").strip().rstrip("\x00")
        if not text.startswith("{"):
            command = text.split("|", 1)[0].strip()  # the legacy plain-text form, reads only
            return self._read_command(command, {}) if command else self._flat("E", 14, "invalid cmd")
        try:
            request = json.loads(text)
        except ValueError:
            return self._flat("E", 23, "invalid JSON message")
        if not isinstance(request, dict):
            return self._flat("E", 23, "invalid JSON message")
        if "enc" in request:
            return self._encrypted(request, client_ip)
        command = request.get("command", request.get("cmd"))
        if not isinstance(command, str) or not command:
            return _dumps(self._cg(24, "Missing JSON 'command'", letter="E"))
        if "+" in command:
            if "command" not in request:  # recorded: error.multicommand_with_cmd_key (Code 24)
                return _dumps(self._cg(24, "Missing JSON 'command'", letter="E"))
            return self._join(command)
        if command == "get_token":
            return self._get_token(client_ip)
        if command in V2_WRITES:
            # The writable API "supports only ciphertext communication" (API V2.0.5 2.1).
            return self._flat("E", 45, "can't access write cmd")
        return self._read_command(command, request)

    def _join(self, command: str) -> str:
        parts = list(dict.fromkeys(command.split("+")))
        if any(part not in JOINABLE for part in parts):  # get_* and status cannot be joined (pyasic)
            return self._flat("E", 14, "invalid cmd")
        body: dict[str, Any] = {}
        for part in parts:
            reply = self._cg_reply(part)
            assert reply is not None
            body[part] = [reply]
        body["id"] = 1
        return _dumps(body)

    def _read_command(self, command: str, request: dict[str, Any]) -> str:
        if self.hw.api == 3 and command != "get_version":
            # 2025 firmware moved the API to 4433; on 4028 get_version still answers (a pyasic patch
            # set: "get_version returns miner_type on all firmware"; devdetails fails). Not captured:
            # the Description of the refusals; "btminer" is assumed, which is what lets pyasic's
            # BTMINER test (and ours) see a Whatsminer here before it probes 4433.
            return self._flat("E", 14, "invalid cmd", "btminer")
        reply = self._cg_reply(command)
        if reply is not None:
            return _dumps(reply)
        flat = self._flat_reply(command)
        if flat is not None:
            return flat
        # Recorded on a "whatsminer v1.1" unit for `version` (and any unknown command).
        return self._flat("E", 14, "invalid cmd")

    # --- API 2 reads -------------------------------------------------------------------------
    def _cg_reply(self, command: str) -> dict[str, Any] | None:
        self._advance()
        if command == "summary":
            return self._cg(11, "Summary", "SUMMARY", [self._summary()])
        if command in ("edevs", "devs"):
            return self._cg(9, f"{len(self.boards())} ASC(s)", "DEVS", self._devs())
        if command == "pools":
            return self._cg(7, f"{len(self.pools)} Pool(s)", "POOLS", self._pools())
        if command == "devdetails":
            records = [{"DEVDETAILS": i, "Name": "SM", "ID": i, "Driver": "bitmicro", "Kernel": "",
                        "Model": self.hw.devdetails, "Device Path": ""} for i in self.boards()]
            return self._cg(69, "Device Details", "DEVDETAILS", records)
        return None

    def _flat_reply(self, command: str) -> str | None:
        hw = self.hw
        if command == "get_version":
            if hw.api == 3:  # pyasic patch set: 2025 firmware answers with miner_type and fw_ver
                return self._flat("S", 131, {"miner_type": hw.miner_type, "fw_ver": self.firmware}, "")
            return self._flat("S", 131, {"api_ver": hw.api_ver, "fw_ver": self.firmware, "platform": hw.platform,
                                         "chip": hw.chip_data.split()[0]}, "")
        if command == "status":
            if hw.old_status:  # whatsminer/status.m31s_sleeping_old_api.json
                msg = {"btmineroff": "false" if self.mining else "true", "Firmware Version": f"'{self.firmware}'"}
            else:  # asic-rs whatsminer v1/status.json
                msg = {"mineroff": "false" if self.mining else "true", "FirmwareVersion": self.firmware,
                       "power_mode": self.mode, "hash_percent": str(self.power_percent if self.power_percent != 100
                                                                    else 0)}
            return self._flat("S", 131, msg)
        if command == "get_miner_info":
            msg = {"ip": self.ip, "proto": "dhcp", "netmask": "255.255.255.0", "gateway": "", "dns": "",
                   "hostname": self.hostname, "mac": self.mac_address, "ledstat": self.led,
                   "minersn": hashlib.sha1(f"sn:{self.ip}".encode()).hexdigest()[:20].upper()}
            return self._flat("S", 131, msg)
        if command == "get_psu":
            fan = 0 if not self.mining else int(noisy(self.rng, 6300, 0.02))
            msg = {"name": "P221B", "hw_version": "V01.00", "sw_version": "V01.00.V01.03", "model": "P221B",
                   "iin": str(int(self.target_power() / 230 * 1000)), "vin": "23000", "fan_speed": str(fan)}
            return self._flat("S", 131, msg)
        if command == "get_error_code":
            return self._flat("S", 131, {"error_code": []})
        return None

    def _summary(self) -> dict[str, Any]:
        rng, hw, s = self.rng, self.hw, self.shares
        rate_mhs = self.hashrate_ghs() * 1000.0
        temps = [self._temps(b) for b in self.boards()]
        fan_in, fan_out = self._fans()
        power = self.target_power()
        return {
            "Elapsed": self.elapsed(),
            "MHS av": fx(noisy(rng, rate_mhs, 0.002), 2), "MHS 5s": fx(noisy(rng, rate_mhs, 0.03), 2),
            "MHS 1m": fx(noisy(rng, rate_mhs, 0.01), 2), "MHS 5m": fx(noisy(rng, rate_mhs, 0.005), 2),
            "MHS 15m": fx(noisy(rng, rate_mhs, 0.003), 2), "HS RT": fx(noisy(rng, rate_mhs, 0.002), 2),
            "Found Blocks": 0, "Getworks": self.elapsed() // 25, "Accepted": s.accepted, "Rejected": s.rejected,
            "Hardware Errors": s.hw_errors, "Utility": fx(s.accepted / max(self.elapsed() / 60.0, 1), 2),
            "Discarded": 0, "Stale": 0, "Get Failures": 0, "Local Work": self.elapsed() * 19000,
            "Remote Failures": 0, "Network Blocks": self.elapsed() // 600, "Total MH": fx(rate_mhs * self.elapsed(), 4),
            "Work Utility": fx(0.0, 2), "Difficulty Accepted": fx(s.diff_accepted, 8),
            "Difficulty Rejected": fx(s.diff_rejected, 8), "Difficulty Stale": fx(0.0, 8),
            "Best Share": int(s.best_share), "Temperature": fx(max(t[0] for t in temps), 2),
            "freq_avg": hw.freq if self.mining else 0, "Fan Speed In": fan_in, "Fan Speed Out": fan_out,
            "Voltage": 1206 if self.mining else 0, "Power": int(round(noisy(rng, power, 0.003))),
            "Power_RT": int(round(noisy(rng, power, 0.005))), "Power Rate": fx(power / max(rate_mhs / 1e6, 1e-9), 2)
            if rate_mhs else fx(0.0, 2),
            "Device Hardware%": fx(0.0, 4), "Device Rejected%": fx(0.0, 4), "Pool Rejected%": fx(0.0, 4),
            "Pool Stale%": fx(0.0, 4), "Last getwork": 0, "Uptime": self.uptime_s, "Chip Data": hw.chip_data,
            "Power Current": fx(power / 12.5, 6), "Power Fanspeed": 7608 if self.mining else 0,
            "Error Code Count": 0, "Factory Error Code Count": 0, "Security Mode": 0, "Liquid Cooling": False,
            "Hash Stable": True, "Hash Stable Cost Seconds": self.elapsed(), "Hash Deviation%": fx(0.0, 4),
            "Target Freq": hw.freq, "Target MHS": int(rate_mhs * 0.94), "Env Temp": fx(25.0, 2),
            "Power Mode": MODE_WORD[self.mode], "Firmware Version": f"'{self.firmware}'",
            "CB Platform": hw.platform, "CB Version": "V10", "MAC": self.mac_address,
            "Factory GHS": int(hw.factory_ghs), "Power Limit": self.power_limit,
            "Power Voltage Input": fx(229.5, 2), "Power Current Input": fx(power / 229.5, 2),
            "Chip Temp Min": fx(min(t[1] for t in temps), 2), "Chip Temp Max": fx(max(t[3] for t in temps), 2),
            "Chip Temp Avg": fx(sum(t[2] for t in temps) / len(temps), 2),
        }

    def _devs(self) -> list[dict[str, Any]]:
        hw, rng = self.hw, self.rng
        fan_in, fan_out = self._fans()
        out = []
        for b in self.boards():
            rate = self.board_ghs(b) * 1000.0
            temp, tmin, tavg, tmax = self._temps(b)
            out.append({
                "ASC": b, "Name": "SM", "ID": b, "Slot": b, "Enabled": "Y", "Status": "Alive",
                "Temperature": fx(temp, 2), "Chip Frequency": hw.freq if self.mining else 0,
                "Fan Speed In": fan_in, "Fan Speed Out": fan_out,
                "MHS av": fx(noisy(rng, rate, 0.002), 2), "MHS 5s": fx(noisy(rng, rate, 0.03), 2),
                "MHS 1m": fx(noisy(rng, rate, 0.01), 2), "MHS 5m": fx(noisy(rng, rate, 0.005), 2),
                "MHS 15m": fx(noisy(rng, rate, 0.003), 2), "Accepted": self.shares.accepted // hw.boards,
                "Rejected": self.shares.rejected // hw.boards, "Hardware Errors": 0, "Utility": fx(0.0, 2),
                "Last Share Pool": 0, "Last Share Time": int(time.time()), "Total MH": fx(rate * self.elapsed(), 4),
                "Diff1 Work": 0, "Difficulty Accepted": fx(self.shares.diff_accepted / hw.boards, 8),
                "Difficulty Rejected": fx(0.0, 8), "Last Share Difficulty": fx(262144.0, 8),
                "Last Valid Work": int(time.time()), "Device Hardware%": fx(0.0, 4), "Device Rejected%": fx(0.0, 4),
                "Device Elapsed": self.elapsed(), "Upfreq Complete": 1, "Effective Chips": hw.chips,
                "PCB SN": hashlib.sha1(f"pcb:{self.ip}:{b}".encode()).hexdigest()[:20].upper(),
                "Chip Data": hw.chip_data, "Chip Temp Min": fx(tmin, 2), "Chip Temp Max": fx(tmax, 2),
                "Chip Temp Avg": fx(tavg, 2), "chip_vol_diff": 11,
            })
        return out

    def _pools(self) -> list[dict[str, Any]]:
        active = self.active_pool() if self.mining else None
        out = []
        for i, pool in enumerate(self.pools):
            is_active = pool is active
            out.append({
                "POOL": i + self.hw.pool_base, "URL": pool.url, "Status": pool.status, "Priority": pool.priority,
                "Quota": 1, "Long Poll": "N", "Getworks": self.elapsed() // 25 if is_active else 0,
                "Accepted": pool.accepted, "Rejected": pool.rejected, "Works": 0, "Discarded": 0, "Stale": 0,
                "Get Failures": 0, "Remote Failures": 0, "User": pool.user,
                "Last Share Time": int(pool.last_share_time or 0), "Diff1 Shares": 0, "Proxy Type": "", "Proxy": "",
                "Difficulty Accepted": fx(pool.diff_accepted, 8), "Difficulty Rejected": fx(pool.diff_rejected, 8),
                "Difficulty Stale": fx(0.0, 8), "Last Share Difficulty": fx(pool.diff if pool.accepted else 0.0, 8),
                "Work Difficulty": fx(0.0, 8), "Has Stratum": True, "Stratum Active": is_active,
                "Stratum URL": pool.stratum_host() if is_active else "", "Stratum Difficulty": fx(pool.diff, 8),
                "Has GBT": False, "Best Share": int(pool.best_share), "Pool Rejected%": fx(0.0, 4),
                "Pool Stale%": fx(0.0, 4), "Bad Work": 0, "Current Block Height": 0,
                "Current Block Version": 536870912,
            })
        return out

    # --- API 2 writes --------------------------------------------------------------------------
    def _get_token(self, client_ip: str) -> str:
        """get_token: a fresh time/newsalt pair; the client signs with md5crypt(key + time, newsalt)."""
        self.token_requests += 1
        time_text = f"{self.rng.randrange(10000):04d}"  # recorded: "6915"
        newsalt = "".join(self.rng.choice(_B62) for _ in range(8))
        tokens = self._tokens.setdefault(client_ip, [])
        tokens.append((time_text, newsalt, self.now()))
        del tokens[:-TOKENS_PER_IP]
        return self._flat("S", 134, {"time": time_text, "salt": self.salt, "newsalt": newsalt}, "")

    def _token_ok(self, client_ip: str, key_md5: str, sign: Any) -> bool:
        if self.reject_tokens or not isinstance(sign, str):
            return False
        now = self.now()
        for time_text, newsalt, created in self._tokens.get(client_ip, []):
            if now - created < TOKEN_LIFE_S and md5crypt_body(key_md5 + time_text, newsalt) == sign:
                return True
        return False

    def _encrypted(self, request: dict[str, Any], client_ip: str) -> str | tuple[str, Callable[[], None]]:
        # Order of the checks is not verified against firmware: switch, decryption, token.
        if not self.write_enabled:
            return self._flat("E", 45, "can't access write cmd", "")
        key_md5 = md5crypt_body(self.password, self.salt)
        key = aes_key(key_md5)
        data = request.get("data")
        if not isinstance(data, str):
            return self._flat("E", 23, "enc json load err", "")
        try:
            decrypt_b64(key, data)
        except ValueError:
            return self._flat("E", 137, "base64 decode error", "")
        try:
            command = decrypt_json(key, data)  # wrong password -> wrong key -> not JSON
        except ValueError:
            return self._flat("E", 23, "enc json load err", "")  # issue satoshi-anonymoto/whatsminer-api#3
        if not isinstance(command, dict):
            return self._flat("E", 23, "enc json load err", "")
        if not self._token_ok(client_ip, key_md5, command.get("token")):
            self.token_errors += 1
            return self._flat("E", 135, "check token error", "")
        name = str(command.get("cmd", command.get("command")))
        if name in V2_WRITES:
            reply, after = self._write(name, command)
        else:  # "the readable API supports two communication modes: plaintext and ciphertext" (API V2.0.5)
            reply, after = self._read_command(name, command), None
        text = encrypt_b64(key, reply.encode())
        envelope = _dumps({"enc": text})
        return (envelope, after) if after is not None else envelope

    def _ok(self) -> str:
        return self._flat("S", 131, "API command OK", "")

    def _write(self, name: str, cmd: dict[str, Any]) -> tuple[str, Callable[[], None] | None]:
        """Run one authenticated API 2 write; returns the (to be encrypted) reply and an after-close action."""
        self._advance()
        if name == "power_off":
            self.mining = False
            self.applied.append(name)
            return self._ok(), None
        if name == "power_on":
            if not self.mining:
                self.mining = True
                self._restart_btminer()  # "/etc/init.d/btminer start" in the API daemon
            self.applied.append(name)
            return self._ok(), None
        if name in ("set_low_power", "set_normal_power", "set_high_power"):
            self.mode = name.split("_")[1]
            self.applied.append(name)
            return self._ok(), None
        if name == "set_power_pct":
            try:
                percent = int(str(cmd.get("percent")))
            except ValueError:
                return self._flat("E", 132, "command error", ""), None
            if not 0 <= percent <= 100:
                return self._flat("E", 132, "command error", ""), None
            self.power_percent = percent
            self.applied.append(name)
            return self._ok(), None
        if name == "adjust_power_limit":
            if _api_tuple(self.hw.api_ver) < (2, 0, 5):
                return self._flat("E", 14, "invalid cmd", ""), None  # added in API 2.0.5
            try:
                limit = int(str(cmd.get("power_limit")))
            except ValueError:
                return self._flat("E", 132, "command error", ""), None
            if not 0 < limit <= self.hw.power_limit:  # "Cannot be higher than the ordinary power" (pyasic)
                return self._flat("E", 132, "command error", ""), None
            self.power_limit = limit
            self.applied.append(name)
            return self._ok(), self.reboot  # "The miner will reboot after this is set"
        if name == "restart_btminer":
            self.applied.append(name)
            return self._ok(), self._restart_btminer
        if name == "reboot":
            self.applied.append(name)
            return self._ok(), self.reboot
        if name == "update_pools":
            pools = []
            for i in (1, 2, 3):
                url, user, pw = (cmd.get(f"pool{i}"), cmd.get(f"worker{i}"), cmd.get(f"passwd{i}"))
                if isinstance(url, str) and url.strip():
                    pools.append(Pool(url.strip(), str(user or ""), str(pw or ""), priority=len(pools),
                                      diff=262144.0))
            if not pools:
                return self._flat("E", 132, "command error", ""), None
            self.pools = pools
            self.applied.append(name)
            return self._ok(), None
        if name == "set_led":
            self.led = "auto" if cmd.get("param") == "auto" else str(cmd.get("color", "red"))
            return self._ok(), None
        return self._flat("E", 14, "invalid cmd", ""), None

    # --- API 3 (TCP 4433) ------------------------------------------------------------------------
    async def serve_stream(self, proto: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> object:
        """API 3: length-prefixed requests on one connection until the client closes (300 s idle on the firmware)."""
        if proto != LENGTH_PREFIXED:
            return await super().serve_stream(proto, reader, writer)
        while True:
            try:
                async with asyncio.timeout(30.0):
                    (length,) = struct.unpack("<I", await reader.readexactly(4))
                    if length == 0:  # the documented heartbeat: four zero bytes
                        continue
                    if length > 65536:
                        writer.close()
                        return None
                    body = await reader.readexactly(length)
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                writer.close()
                return None
            refused = self.fault_answer()
            if refused is not None:
                return refused
            reply, after = self._api3(body)
            text = json.dumps(reply, separators=(",", ":"))
            if self.fault == "malformed":
                text = text[:-1]  # a cut-off object, correctly framed
            data = self.lie(text).encode()
            shape = self.reply_shape()
            try:
                if shape is not None and shape.kind == "huge":
                    # The frame announces the padded length, as a firmware gone wrong would.
                    total, pieces = faults.huge_parts(data, shape.huge_bytes)
                    writer.write(struct.pack("<I", total))
                    await faults.write_pieces(writer, pieces)
                else:
                    await faults.send(writer, data, shape, prefix=struct.pack("<I", len(data)))
            except ConnectionError:
                return None
            if after is not None:
                writer.close()
                after()
                return None

    def _v3(self, code: int, msg: Any, desc: str) -> dict[str, Any]:
        return {"code": code, "when": int(time.time()), "msg": msg, "desc": desc}

    def _api3(self, body: bytes) -> tuple[dict[str, Any], Callable[[], None] | None]:
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._v3(-3, "invalid json item", ""), None
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return self._v3(-3, "invalid json item", ""), None
        cmd, param = request["cmd"], request.get("param")
        self._advance()
        if cmd == "get.device.info":
            return self._v3(0, self._device_info(param), cmd), None
        if cmd == "get.miner.status":
            return self._v3(0, self._miner_status(param), cmd), None
        if cmd == "get.miner.setting":
            return self._v3(0, {"power-mode": self.mode, "power-limit": self.power_limit,
                                "power-percent": self.power_percent}, cmd), None
        if cmd.startswith("set."):
            return self._v3_write(cmd, request)
        return self._v3(-2, "invalid command", cmd), None

    def _device_info(self, param: Any) -> dict[str, Any]:
        hw = self.hw
        sections: dict[str, Any] = {
            "miner": {"working": "true" if self.mining else "false", "type": hw.miner_type,
                      "hash-board": hw.miner_type.split("_")[-1][1:], "board-num": str(hw.boards),
                      "fast-boot": "disable", "pool-strategy": "FAILOVER",
                      "hash-percent": str(0 if self.power_percent == 100 else self.power_percent),
                      "miner-sn": hashlib.sha1(f"sn:{self.ip}".encode()).hexdigest()[:33].upper(),
                      "power-limit-set": str(self.power_limit),
                      **{f"pcbsn{b}": hashlib.sha1(f"pcb:{self.ip}:{b}".encode()).hexdigest()[:20].upper()
                         for b in range(hw.boards)},
                      **{f"chipdata{b}": hw.chip_data for b in range(hw.boards)}},
            "network": {"ip": self.ip, "proto": "dhcp", "netmask": "255.255.255.0", "dns": "", "gateway": "",
                        "mac": self.mac_address, "hostname": self.hostname},
            "power": {"type": "P221B", "mode": "1", "hwversion": "RT0159", "swversion": "230224.220429",
                      "model": "P221B", "vendor": "1", "fanspeed": 0 if not self.mining else int(noisy(self.rng, 6344,
                                                                                                      0.01))},
            "system": {"api": hw.api_ver, "platform": hw.platform, "fwversion": self.firmware,
                       "control-board-version": "CB6V10", "apiswitch": "1" if self.write_enabled else "0",
                       "ledstatus": self.led},
            "salt": self.v3_salt,
            "error-code": [],
        }
        if isinstance(param, str) and param in sections:
            return {param: sections[param]}
        return sections

    def _miner_status(self, param: Any) -> dict[str, Any]:
        wanted = str(param).split("+") if isinstance(param, str) else []
        hw, rng = self.hw, self.rng
        out: dict[str, Any] = {}
        ths = self.hashrate_ghs() / 1000.0
        temps = [self._temps(b) for b in self.boards()]
        if "summary" in wanted:
            fan_in, fan_out = self._fans()
            power = self.target_power()
            out["summary"] = {
                "elapsed": self.elapsed(), "bootup-time": self.uptime_s, "freq-avg": hw.freq if self.mining else 0,
                "target-freq": 0, "factory-hash": round(hw.factory_ghs / 1000.0, 3),
                "hash-average": round(noisy(rng, ths, 0.002), 3), "hash-1min": round(noisy(rng, ths, 0.01), 3),
                "hash-15min": round(noisy(rng, ths, 0.003), 3), "hash-realtime": round(noisy(rng, ths, 0.01), 3),
                "power-rate": round(power / ths, 3) if ths else 0, "power-5min": round(noisy(rng, power, 0.002), 3),
                "power-realtime": int(round(noisy(rng, power, 0.003))), "environment-temperature": 25.0,
                "board-temperature": [t[0] for t in temps], "chip-temp-min": min(t[1] for t in temps),
                "chip-temp-avg": round(sum(t[2] for t in temps) / len(temps), 1),
                "chip-temp-max": max(t[3] for t in temps), "power-limit": self.power_limit, "up-freq-finish": 1,
                "fan-speed-in": fan_in, "fan-speed-out": fan_out,
            }
        if "edevs" in wanted:
            # Field set from pyasic's BTMinerV3EdevItem model (no capture found).
            out["edevs"] = [{"id": b, "slot": b,
                             "hash-average": round(noisy(rng, self.board_ghs(b) / 1000.0, 0.003), 3),
                             "factory-hash": round(hw.factory_ghs / 1000.0 / hw.boards, 3),
                             "freq": hw.freq if self.mining else 0, "effective-chips": hw.chips,
                             "chip-temp-min": temps[b][1], "chip-temp-avg": temps[b][2], "chip-temp-max": temps[b][3]}
                            for b in self.boards()]
        if "pools" in wanted:
            active = self.active_pool() if self.mining else None
            # Field set from pyasic's BTMinerV3Pool model and the reference ("pool-priority").
            out["pools"] = [{"id": i + 1, "url": p.url, "status": p.status.lower(), "account": p.user,
                             "stratum-active": p is active,
                             "reject-rate": round(pct(p.rejected, p.accepted + p.rejected), 2),
                             "last-share-time": int(p.last_share_time or 0), "pool-priority": p.priority}
                            for i, p in enumerate(self.pools)]
        return out

    def _v3_write(self, cmd: str, request: dict[str, Any]) -> tuple[dict[str, Any], Callable[[], None] | None]:
        account, token, ts = request.get("account"), request.get("token"), request.get("ts")
        password = self.v3_accounts.get(account) if isinstance(account, str) else None
        # Error texts for API 3 auth failures are not from a capture; the codes are the document's.
        if password is None or not self.write_enabled or ts is None:
            return self._v3(-4, "no permission", cmd), None
        digest = v3_digest(cmd, password, self.v3_salt, ts)
        if token != v3_token_of(digest):
            return self._v3(-4, "no permission", cmd), None
        param = request.get("param")
        ok = self._v3(0, "ok", cmd)
        bad = self._v3(-1, "fail", cmd)
        if cmd == "set.miner.service":
            if param == "stop":
                self.mining = False
            elif param == "start":
                if not self.mining:
                    self.mining = True
                    self._restart_btminer()
            elif param == "restart":
                self.mining = True
                self.applied.append(f"{cmd} {param}")
                return ok, self._restart_btminer
            elif param not in ("enable", "disable"):
                return bad, None
            self.applied.append(f"{cmd} {param}")
            return ok, None
        if cmd == "set.system.reboot":
            self.applied.append(cmd)
            return ok, self.reboot
        if cmd == "set.miner.power_mode":
            if param not in MODE_POWER:
                return bad, None
            self.mode = param
            self.applied.append(f"{cmd} {param}")
            return ok, None
        if cmd == "set.miner.power_limit":
            if isinstance(param, bool) or not isinstance(param, (int, float)) or not 0 < param <= self.hw.power_limit:
                return bad, None  # "cannot exceed the device's standard operating power"
            self.power_limit = int(param)
            self.applied.append(f"{cmd} {int(param)}")
            return ok, self.reboot  # "The device will restart to apply the new setting."
        if cmd == "set.miner.power_percent":
            percent = param.get("percent") if isinstance(param, dict) else None
            if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
                return bad, None
            self.power_percent = int(percent)
            self.applied.append(f"{cmd} {int(percent)}")
            return ok, None
        if cmd == "set.miner.pools":
            try:
                entries = decrypt_json(digest, param) if isinstance(param, str) else None
            except ValueError:
                return self._v3(-3, "invalid json item", cmd), None
            if not isinstance(entries, list) or not entries or len(entries) > 3:
                return bad, None
            pools = []
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("pool"), str):
                    return bad, None
                pools.append(Pool(entry["pool"], str(entry.get("worker", "")), str(entry.get("passwd", "")),
                                  priority=len(pools), diff=262144.0))
            self.pools = pools
            self.applied.append(cmd)
            return ok, None
        return self._v3(-2, "invalid command", cmd), None
