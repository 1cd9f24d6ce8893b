"""BraiinsOS / BOS+: the BOSminer/BOSer cgminer API on 4028 and, on BOS+ 25.07+, the REST API on 80.

Rebuilt from the protocol reference (section 8), the Braiins OS Public REST API
1.3.0 (asic-rs ``meta/braiins/26.04/openapi.json``), the BOS+ 25.11 S19 XP REST
replies (asic-rs ``braiins/src/test/json/v25_11``), the BOSminer API page of the
Braiins docs (fans/temps/tunerstatus/devdetails/pause/resume outputs) and the
Foreman "S9 (bOS+)" captures. BOSminer is written in Rust: its cgminer-API
replies list keys in alphabetical order and print floats in shortest form
("Board":75.0), unlike cgminer's "%f".

Behaviour worth knowing: the REST token is valid ``token_ttl`` seconds after
its last use (``timeout_s`` in the login reply); an expired or unknown token
gets 401. ``PUT /performance/power-target`` moves power at once and hashrate
with it; pause makes hashrate 0; ``/actions/restart`` restarts mining (uptime
0, ports stay up); ``/actions/reboot`` answers 204 and takes the whole miner
down for ``restart_seconds``. Every REST write is recorded in ``rest_writes``.

Not simulated: the BOS+ gRPC API on port 50051 (braiins.bos.v1 protobuf services,
needs protobuf/HTTP2). pyasic's BOSer class (its X19 and X21 BOS+ models; S9/X17 use BOSMiner) reads
serial, MAC, firmware, hash boards, power, fans and pools only over it, so
pyasic cannot read this simulator (bench/pyasic_crosscheck.py says why).

Not verified against a capture (marked where used): the 401 bodies, the 400
body for an out-of-range power target, the BOSer ``version`` value, the
tuner's status word while paused, joins of the BOS-only commands, and the body of
``GET /configuration/constraints``: no capture is public, so it is built from the
OpenAPI 1.3.0 schema (GetConstraintsResponse -> TunerConstraints -> PowerConstraints
/ HashrateConstraints), holding only ``tuner_constraints`` (the cooling, DPS and
hashboard blocks are nullable there and are left out); its numbers are this
model's ``min_watts``/``default_watts``/``max_watts``, the range the power-target
PUT enforces.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from . import cgapi, httpd
from .cgapi import CgReply, Record
from .cgminer import CgApiMiner, Command, Pool
from .conditions import hot_c
from .formats import Raw, fs, by_key
from .miner import CGAPI, HTTP
from .models import pick_model
from .physics import ShareCounter, noisy
from .spec import MinerSpec

GH = 1e9


@dataclass(frozen=True, slots=True)
class BosModel:
    """A miner model as BraiinsOS runs it."""

    name: str  # miner_identity.miner_model / devdetails Model without "Bitmain "
    chains: tuple[int, ...]  # devs IDs (S9: 6..8)
    chips: int
    chip_type: str
    board_name: str
    sticker_ghs: float  # whole miner at the default power target
    default_watts: int
    min_watts: int
    max_watts: int
    freq_mhz: float
    fans: int  # fan slots BOSminer lists
    spinning: int  # fans actually fitted
    fan_rpm: int
    identity_model: int  # miner_identity.model (deprecated enum)


MODELS: dict[str, BosModel] = {
    # S9: chains 6..8, 63 x BM1387, two fans in four slots (BOSminer docs and Foreman captures).
    "Antminer S9": BosModel("Antminer S9", (6, 7, 8), 63, "BM1387", "S9", 13500.0, 1300, 600, 1800,
                            650.0, 4, 2, 4800, 0),
    # S19 XP: 3 x 110 BM1366 boards BHB56801, sticker 141 TH/s, 4 fans (recorded BOS+ 25.11 replies).
    "Antminer S19 XP": BosModel("Antminer S19 XP", (1, 2, 3), 110, "BM1366", "BHB56801", 141000.0, 3031,
                                1000, 3600, 405.0, 4, 4, 5880, 18),
    "Antminer S19": BosModel("Antminer S19", (1, 2, 3), 76, "BM1398", "BHB42601", 95000.0, 3250, 1000, 3600,
                             675.0, 4, 4, 5400, 2),
}
ALIASES = {"s9": "Antminer S9", "s19 xp": "Antminer S19 XP", "s19xp": "Antminer S19 XP", "s19": "Antminer S19"}
REST_FROM = (25, 7)  # BOS+ 25.07 added the REST API


def resolve_model(model: str | None) -> BosModel:
    """A BOS model by name ("Antminer S19 XP") or short name ("S19 XP"); default S19 XP."""
    return pick_model(MODELS, ALIASES, model, default="Antminer S19 XP", label="BraiinsOS")


@dataclass(frozen=True, slots=True)
class Generation:
    """What a firmware version offers: REST or not, and the cgminer-API version key."""

    version: str
    rest: bool
    key: str  # "BOSer", "BOSminer+", "BOSminer"
    value: str  # VERSION[0][key]
    description: str  # STATUS Description


def generation(version: str | None, model: BosModel) -> Generation:
    """Parse a MinerSpec firmware_version: "25.11" (BOS+ with REST), "23.03", "0.2.0+" or "0.2.0"."""
    text = (version or ("0.2.0+" if model.name == "Antminer S9" else "25.11")).strip()
    if text.startswith("0."):
        plus = text.endswith("+")
        core = text.rstrip("+")
        key = "BOSminer+" if plus else "BOSminer"
        value = f"{core}-36c56a9363" if plus else f"{core}-d360818"  # hashes from the Foreman captures
        return Generation(text, False, key, value, f"{key} {value}")
    parts = text.split(".")
    try:
        year, month = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise ValueError(f"BraiinsOS version {text!r}: use YY.MM (e.g. 25.11) or 0.2.0 / 0.2.0+") from None
    # Unverified: the BOSer version value; built like bos_version.current's tail.
    value = f"{year}.{month:02d}-plus"
    return Generation(text, (year, month) >= REST_FROM, "BOSer", value, f"BOSer boser-buildroot {value}")


def _json(obj: Any, status: int = 200) -> httpd.Response:
    return httpd.Response(status, json.dumps(obj, separators=(",", ":")).encode(), content_type="application/json")


INDEX_PAGE = (b'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Braiins OS</title></head>\n'
              b'<body><div id="root">Braiins OS</div></body>\n</html>\n')


class BraiinsMiner(CgApiMiner):
    """A BraiinsOS miner: cgminer API always, REST from BOS+ 25.07."""

    kind = "braiins"
    # "board_down" is not simulated: how BOSminer lists a lost chain is not recorded.
    supported_conditions = frozenset({"fan_stopped", "hot", "rejecting", "pool_down"})
    protocols = (CGAPI, HTTP)

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.hw = resolve_model(spec.model)
        self.gen = generation(spec.firmware_version, self.hw)
        rng = self.rng
        self.quality = {c: rng.uniform(0.985, 1.015) for c in self.hw.chains}
        self.heat = {c: rng.uniform(-2.0, 2.0) for c in self.hw.chains}
        octets = spec.ip.split(".")
        self.hostname = spec.hostname or "Antminer"
        self.mac_addr = self.mac("90:34:86").lower()
        self.serial = "YNAH" + hashlib.sha1(spec.ip.encode()).hexdigest()[:13].upper()
        self.uid = hashlib.sha1(f"uid:{spec.ip}".encode()).hexdigest()[:16]
        worker = f"sim.{octets[2]}x{octets[3]}"
        pools = spec.pools or (("stratum+tcp://stratum.braiins.com:3333", worker),
                               ("stratum+tcp://eu.stratum.braiins.com:3333", worker))
        self.pools = [Pool(url, user, priority=i, diff=131072.0) for i, (url, user) in enumerate(pools)]
        self.group_name = "Default"
        self.group_uid = "0"
        self.pool_uids = [secrets.token_urlsafe(12)[:16] for _ in self.pools]
        # Settings and state.
        self.power_target = self.hw.default_watts
        self.paused = False
        self.password = "root"  # REST login (BOS+ factory default root/root)
        self.username = "root"
        self.token_ttl = 3600.0  # timeout_s: validity after the last use
        self.tokens: dict[str, float] = {}
        self.logins = 0
        self.failed_logins = 0
        self.rest_writes: list[tuple[str, str]] = []
        self.rest_reads: dict[str, int] = {}  # GET route -> count (tests: "read once, not per poll")
        self.mining_restarts = 0
        self._mining_since = self.now()
        self._boot_wall = time.time()
        report = [("version", self.cmd_version), ("summary", self.cmd_summary), ("pools", self.cmd_pools),
                  ("devs", self.cmd_devs), ("edevs", self.cmd_devs), ("devdetails", self.cmd_devdetails),
                  ("temps", self.cmd_temps), ("fans", self.cmd_fans), ("tunerstatus", self.cmd_tunerstatus),
                  ("tempctrl", self.cmd_tempctrl)]
        self.commands = {name: Command(func, True) for name, func in report}
        self.commands["pause"] = Command(lambda p, j: self.cmd_pause(True))
        self.commands["resume"] = Command(lambda p, j: self.cmd_pause(False))

    # --- identity ---------------------------------------------------------------------
    @property
    def model(self) -> str:
        """The model as BraiinsOS names it."""
        return self.hw.name

    @property
    def description(self) -> str:
        """STATUS Description, e.g. "BOSminer+ 0.2.0-36c56a9363"."""
        return self.gen.description

    @property
    def rest(self) -> bool:
        """True when this firmware has the REST API (BOS+ 25.07+)."""
        return self.gen.rest

    def on_boot(self) -> None:
        """Reboot: counters, tokens and the pause state reset; settings stay."""
        super().on_boot()
        self.tokens.clear()
        self.paused = False
        self._restart_mining()

    def _restart_mining(self) -> None:
        self.shares = ShareCounter()
        self._last_advance = self.now()
        self._mining_since = self.now()
        for pool in self.pools:
            pool.reset_counters()

    def expire_tokens(self) -> None:
        """Make every issued REST token invalid (as if ``timeout_s`` had passed)."""
        self.tokens.clear()

    # --- physics ------------------------------------------------------------------------
    def power_w(self) -> float:
        """Noise-free wall power: the tuner holds the target; a paused miner only runs its controller."""
        return 18.0 if self.paused else float(self.power_target)

    def hashrate_ghs(self) -> float:
        """Noise-free GH/s: scales with the power target (efficiency improves below the default)."""
        if self.paused:
            return 0.0
        return self.hw.sticker_ghs * (self.power_target / self.hw.default_watts) ** 0.8

    def chain_ghs(self, chain: int) -> float:
        """Noise-free GH/s of one chain."""
        total = sum(self.quality.values())
        return self.hashrate_ghs() * self.quality[chain] / total

    def nominal_ghs(self) -> float:
        """The tuner's nominal hashrate for the current target (0 while paused)."""
        return 0.0 if self.paused else self.hw.sticker_ghs * (self.power_target / self.hw.default_watts) ** 0.8

    def temps(self, chain: int) -> tuple[float, float]:
        """(board, hottest chip) degrees C; they cool towards the inlet while paused."""
        ratio = self.power_w() / self.hw.default_watts
        board = 30.0 + 25.0 * ratio + self.heat[chain] + self.rng.gauss(0.0, 0.3)
        chip = board + 15.0 * ratio + self.rng.gauss(0.0, 0.3)
        if "hot" in self.conditions:  # above the app's default limit, asleep or not
            chip = hot_c(self.kind) + max(self.heat[chain], 0.0) + self.rng.gauss(0.0, 0.3)
            board = chip - 8.0
        return round(board * 2) / 2, round(chip * 2) / 2  # half-degree steps as recorded

    def fan_rpm(self, index: int) -> int:
        """RPM of one fan slot (0 for empty slots and while paused)."""
        if index >= self.hw.spinning or self.paused or "fan_stopped" in self.conditions:
            return 0
        ratio = max(self.power_w() / self.hw.default_watts, 0.3)
        return int(self.hw.fan_rpm * min(ratio, 1.0) * (0.98 + 0.01 * index) + self.rng.gauss(0, 20))

    def _advance(self) -> None:
        self.grow_shares(self.hashrate_ghs() * GH)

    def mining_uptime(self) -> int:
        """Seconds since bosminer (re)started."""
        return max(int(self.now() - self._mining_since), 1)

    # --- cgminer API ------------------------------------------------------------------------
    def cmd_version(self, param: str | None, isjson: bool) -> CgReply:
        """version: API 3.7 and the firmware key; no Type (reference section 8)."""
        key = self.gen.key
        return self.ok(22, f"{key} versions", "VERSION", [by_key([("API", "3.7"), (key, self.gen.value)])],
                       text_prefix=True)

    def cmd_summary(self, param: str | None, isjson: bool) -> CgReply:
        """summary: MH/s windows, shares (BOSminer+ 0.2.0 key set)."""
        self._advance()
        rng, s = self.rng, self.shares
        mhs = self.hashrate_ghs() * 1000.0
        elapsed = self.mining_uptime()
        diff1 = s.diff_accepted + s.diff_rejected
        rec = by_key([
            ("Accepted", s.accepted), ("Best Share", int(s.best_share)),
            ("Device Hardware%", fs(100.0 * s.hw_errors / max(s.hw_errors + diff1, 1))),
            ("Device Rejected%", fs(0.0)), ("Difficulty Accepted", fs(s.diff_accepted)),
            ("Difficulty Rejected", fs(s.diff_rejected)), ("Difficulty Stale", fs(0.0)), ("Discarded", 0),
            ("Elapsed", elapsed), ("Found Blocks", 0), ("Get Failures", 0), ("Getworks", elapsed // 30 + 1),
            ("Hardware Errors", s.hw_errors), ("Last getwork", int(time.time())), ("Local Work", elapsed * 4600),
            ("MHS 15m", fs(noisy(rng, mhs, 0.004))), ("MHS 1m", fs(noisy(rng, mhs, 0.015))),
            ("MHS 24h", fs(noisy(rng, mhs, 0.002))), ("MHS 5m", fs(noisy(rng, mhs, 0.007))),
            ("MHS 5s", fs(noisy(rng, mhs, 0.03))), ("MHS av", fs(noisy(rng, mhs, 0.003))),
            ("Network Blocks", 0), ("Pool Rejected%", fs(0.0)), ("Pool Stale%", fs(0.0)), ("Rejected", s.rejected),
            ("Remote Failures", 0), ("Stale", 0), ("Total MH", fs(mhs * elapsed)),
            ("Utility", fs(s.accepted / (elapsed / 60.0))), ("Work Utility", fs(diff1 / (elapsed / 60.0))),
        ])
        return self.ok(11, "Summary", "SUMMARY", [rec], text_prefix=True)

    def cmd_pools(self, param: str | None, isjson: bool) -> CgReply:
        """pools: "Last Share Time" is a unix timestamp on BOSminer; "Stratum URL" is host:port."""
        self._advance()
        active = self.active_pool()
        records = []
        for i, pool in enumerate(self.pools):
            is_active = pool is active
            host = pool.url.split("://", 1)[-1]
            records.append(by_key([
                ("Accepted", pool.accepted), ("AsicBoost", True), ("Bad Work", 0), ("Best Share", int(pool.best_share)),
                ("Current Block Height", 0), ("Current Block Version", 536870912),
                ("Diff1 Shares", int(pool.diff_accepted)), ("Difficulty Accepted", fs(pool.diff_accepted)),
                ("Difficulty Rejected", fs(pool.diff_rejected)), ("Difficulty Stale", fs(0.0)), ("Discarded", 0),
                ("Get Failures", 0), ("Getworks", self.mining_uptime() // 30 + 1 if is_active else 0),
                ("Has GBT", False), ("Has Stratum", True), ("Has Vmask", True),
                ("Last Share Difficulty", fs(pool.diff if pool.last_share_time else 0.0)),
                ("Last Share Time", int(pool.last_share_time or 0)), ("Long Poll", "N"), ("POOL", i),
                ("Pool Rejected%", fs(0.0)), ("Pool Stale%", fs(0.0)), ("Priority", pool.priority), ("Proxy", ""),
                ("Proxy Type", ""), ("Quota", 1), ("Rejected", pool.rejected), ("Remote Failures", 0), ("Stale", 0),
                ("Status", pool.status), ("Stratum Active", is_active),
                ("Stratum Difficulty", fs(pool.diff if pool.status == "Alive" else 0.0)), ("Stratum URL", host),
                ("URL", pool.url), ("User", pool.user), ("Work Difficulty", fs(pool.diff if is_active else 0.0)),
                ("Works", self.mining_uptime() * 4500 if is_active else 0),
            ]))
        return self.ok(7, f"{len(self.pools)} Pool(s)", "POOLS", records)

    def cmd_devs(self, param: str | None, isjson: bool) -> CgReply:
        """devs: one ASC per chain, ID = chain number, MH/s, Nominal MHS (Temperature 0.0 as captured)."""
        self._advance()
        rng = self.rng
        now = int(time.time())
        nominal_each = self.nominal_ghs() * 1000.0 / len(self.hw.chains)
        records = []
        for asc, chain in enumerate(self.hw.chains):
            mhs = self.chain_ghs(chain) * 1000.0
            records.append(by_key([
                ("ASC", asc), ("Accepted", 0), ("Device Elapsed", self.mining_uptime()), ("Device Hardware%", fs(0.0)),
                ("Device Rejected%", fs(0.0)), ("Diff1 Work", 0), ("Difficulty Accepted", fs(0.0)),
                ("Difficulty Rejected", fs(0.0)), ("Enabled", "Y"), ("Hardware Error MHS 15m", fs(0.0)),
                ("Hardware Errors", 0), ("ID", chain), ("Last Share Difficulty", fs(0.0)), ("Last Share Pool", -1),
                ("Last Share Time", now), ("Last Valid Work", now), ("MHS 15m", fs(noisy(rng, mhs, 0.005))),
                ("MHS 1m", fs(noisy(rng, mhs, 0.02))), ("MHS 5m", fs(noisy(rng, mhs, 0.01))),
                ("MHS 5s", fs(noisy(rng, mhs, 0.04))), ("MHS av", fs(noisy(rng, mhs, 0.003))), ("Name", ""),
                ("Nominal MHS", fs(round(nominal_each, 1))), ("Rejected", 0), ("Status", "Alive"),
                ("Temperature", fs(0.0)), ("Total MH", fs(mhs * self.mining_uptime())), ("Utility", fs(0.0)),
            ]))
        return self.ok(9, f"{len(records)} ASC(s)", "DEVS", records)

    def cmd_devdetails(self, param: str | None, isjson: bool) -> CgReply:
        """devdetails: Model "Bitmain <model>", Chips, Frequency in Hz, Voltage in V."""
        records = []
        for i, chain in enumerate(self.hw.chains):
            freq_hz = int(self.hw.freq_mhz * 1e6 * (self.power_target / self.hw.default_watts) ** 0.5
                          * self.quality[chain])
            records.append(by_key([
                ("Chips", self.hw.chips), ("Cores", self.hw.chips * 114), ("DEVDETAILS", i), ("Device Path", ""),
                ("Driver", ""), ("Frequency", 0 if self.paused else freq_hz), ("ID", chain), ("Kernel", ""),
                ("Model", f"Bitmain {self.hw.name}"), ("Name", f"Hash Chain {chain}"),
                ("Voltage", fs(8.4 + 0.1 * i if self.hw.name == "Antminer S9" else 13.2 + 0.05 * i)),
            ]))
        return self.ok(69, "Device Details", "DEVDETAILS", records)

    def cmd_temps(self, param: str | None, isjson: bool) -> CgReply:
        """temps: Board and Chip per chain."""
        records = []
        for i, chain in enumerate(self.hw.chains):
            board, chip = self.temps(chain)
            records.append(by_key([("Board", fs(board)), ("Chip", fs(chip)), ("ID", chain), ("TEMP", i)]))
        return self.ok(201, f"{len(records)} Temp(s)", "TEMPS", records)

    def cmd_fans(self, param: str | None, isjson: bool) -> CgReply:
        """fans: every slot, RPM 0 where no fan is fitted."""
        speed = 0 if self.paused else min(100, int(40 + 50 * self.power_w() / self.hw.default_watts))
        records = [by_key([("FAN", i), ("ID", i), ("RPM", self.fan_rpm(i)), ("Speed", speed)])
                   for i in range(self.hw.fans)]
        return self.ok(202, f"{len(records)} Fan(s)", "FANS", records)

    def cmd_tunerstatus(self, param: str | None, isjson: bool) -> CgReply:
        """tunerstatus: PowerLimit = the power target, the tuner's power estimate, per-chain state."""
        power = noisy(self.rng, self.power_w(), 0.004)
        per_chain = int(power * 0.95 / len(self.hw.chains))
        # Unverified: the Status word while paused (Foreman looks for "paused" in it).
        state = "Paused" if self.paused else "Stable"
        chains = [{"ApproximatePowerConsumptionWatt": per_chain, "HashchainIndex": chain, "Iteration": 0,
                   "LoadedProfileCreatedOn": int(self._boot_wall),
                   "PowerLimitWatt": int(self.power_target / len(self.hw.chains)),
                   "StageElapsed": self.mining_uptime(), "Status": state, "TunerRunning": False,
                   "TuningElapsed": self.mining_uptime()} for chain in self.hw.chains]
        rec: Record = [("ApproximateChainPowerConsumption", int(power * 0.95)),
                       ("ApproximateMinerPowerConsumption", int(power)), ("DynamicPowerScaling", "Disabled"),
                       ("PowerLimit", self.power_target),
                       ("TunerChainStatus", Raw(json.dumps(chains, separators=(",", ":"))))]
        return self.ok(203, "Tuner Status", "TUNERSTATUS", [rec])

    def cmd_tempctrl(self, param: str | None, isjson: bool) -> CgReply:
        """tempctrl: the automatic mode's thresholds."""
        return self.ok(200, "Temperature control", "TEMPCTRL",
                       [[("Dangerous", 110), ("Hot", 100), ("Mode", "Automatic"), ("Target", 89)]])

    def cmd_pause(self, pause: bool) -> CgReply:
        """pause/resume: STATUS S 204 "Pause" / 205 "Resume" (the PAUSE/RESUME list is added in handle_cgapi)."""
        self._advance()
        self.paused = pause
        return self.ok(204 if pause else 205, "Pause" if pause else "Resume")

    def handle_cgapi(self, request: cgapi.Request) -> str | tuple[str, Any]:
        """As CgApiMiner, but pause/resume carry a bare list: {"PAUSE":[true]} (BOSminer API docs, S17 0.6.0)."""
        result = super().handle_cgapi(request)
        if request.command in ("pause", "resume") and request.isjson and isinstance(result, str) \
                and result.endswith(',"id":1}') and '"STATUS":"S"' in result:
            result = result[:-len(',"id":1}')] + f',"{request.command.upper()}":[true],"id":1}}'
        return result

    # --- REST -----------------------------------------------------------------------------------
    def handle_http(self, request: httpd.Request) -> httpd.Response:
        """The web UI root and, on BOS+ 25.07+, /api/v1/*."""
        path = request.path
        if not path.startswith("/api/"):
            if request.method == "GET" and path in ("/", "/index.html"):
                return httpd.Response(200, INDEX_PAGE)
            return httpd.Response(404, b"Not Found", content_type="text/plain")
        if not self.rest or not path.startswith("/api/v1/"):
            return httpd.Response(404, b"Not Found", content_type="text/plain")
        route = path[len("/api/v1"):].rstrip("/") or "/"
        if route == "/auth/login":
            return self._login(request) if request.method == "POST" else httpd.Response(405, b"")
        token = request.header("authorization") or ""
        last = self.tokens.get(token)
        if last is None or self.now() - last > self.token_ttl:
            self.tokens.pop(token, None)
            # Unverified: the body of a 401 (the OpenAPI spec names only the status).
            return _json({"message": "Unauthorized"}, 401)
        self.tokens[token] = self.now()  # "Token validity refreshed to this value with each request"
        handler = self._routes().get((request.method, route))
        if handler is None:
            return _json({"message": "Not Found"}, 404)
        if request.method != "GET":
            self.rest_writes.append((request.method, path))
        else:
            self.rest_reads[route] = self.rest_reads.get(route, 0) + 1
        return handler(request)

    def _login(self, request: httpd.Request) -> httpd.Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _json({"message": "invalid JSON"}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("username"), str) \
                or not isinstance(body.get("password"), str):
            return _json({"message": "username and password are required"}, 400)
        if body["username"] != self.username or body["password"] != self.password:
            self.failed_logins += 1
            return _json({"message": "Invalid credentials"}, 401)  # unverified body
        token = secrets.token_hex(16)
        self.tokens[token] = self.now()
        self.logins += 1
        return _json({"token": token, "timeout_s": int(self.token_ttl)})

    def _routes(self) -> dict[tuple[str, str], Any]:
        return {
            ("GET", "/version"): lambda r: _json({"major": 1, "minor": 1, "patch": 0}),
            ("GET", "/miner/details"): lambda r: _json(self.details()),
            ("GET", "/miner/stats"): lambda r: _json(self.stats()),
            ("GET", "/miner/hw/hashboards"): lambda r: _json(self.hashboards()),
            ("GET", "/cooling/state"): lambda r: _json(self.cooling()),
            ("GET", "/performance/tuner-state"): lambda r: _json(self.tuner_state()),
            ("GET", "/pools"): lambda r: _json(self.pool_groups()),
            ("GET", "/configuration/constraints"): lambda r: _json(self.constraints()),
            ("PUT", "/performance/power-target"): self._put_power_target,
            ("PUT", "/actions/pause"): lambda r: self._rest_pause(True),
            ("PUT", "/actions/resume"): lambda r: self._rest_pause(False),
            ("PUT", "/actions/restart"): self._rest_restart,
            ("PUT", "/actions/reboot"): self._rest_reboot,
            ("PUT", "/pools/batch"): self._put_pools_batch,
        }

    def _rates(self, ghs: float) -> dict[str, Any]:
        rng = self.rng
        windows = {"last_5s": 0.04, "last_15s": 0.03, "last_30s": 0.02, "last_1m": 0.015, "last_5m": 0.008,
                   "last_15m": 0.005, "last_30m": 0.004, "last_1h": 0.003, "last_24h": 0.002, "since_restart": 0.002}
        return {k: {"gigahash_per_second": noisy(rng, ghs, rel)} for k, rel in sorted(windows.items())}

    def details(self) -> dict[str, Any]:
        """GET /miner/details (BOS+ 25.11 field set)."""
        return {
            "bos_mode": 5,
            "bos_version": {"bos_plus": True, "current": f"2025-11-21-0-eb658dcd-{self.gen.version}-plus",
                            "major": "2022-09-13-0-11012d53-22.08-plus"},
            "bosminer_uptime_s": self.mining_uptime(), "control_board_soc_family": 1, "hostname": self.hostname,
            "kernel_version": "4.9.38-tag-", "mac_address": self.mac_addr,
            "miner_identity": {"brand": 1, "miner_model": self.hw.name, "model": self.hw.identity_model,
                               "name": self.hw.name},
            "platform": 6,
            "psu_info": {"fw_version": None, "max_voltage": {"volt": 15.2}, "min_voltage": {"volt": 11.96},
                         "model_name": "APW121215f", "serial_number": None, "version": 118},
            "serial_number": self.serial, "status": 3 if self.paused else 2,
            "sticker_hashrate": {"gigahash_per_second": self.hw.sticker_ghs},
            "system_uptime": self.uptime_s, "system_uptime_s": self.uptime_s, "uid": self.uid,
        }

    def stats(self) -> dict[str, Any]:
        """GET /miner/stats: real/nominal hashrate (GH/s), pool stats, approximated power (W)."""
        self._advance()
        s = self.shares
        ghs = self.hashrate_ghs()
        power = round(noisy(self.rng, self.power_w(), 0.004))
        last = max((p.last_share_time for p in self.pools if p.last_share_time), default=None)
        return {
            "miner_stats": {"best_share": int(s.best_share), "error_hashrate": {"megahash_per_second": 0.0},
                            "found_blocks": 0, "nominal_hashrate": {"gigahash_per_second": self.nominal_ghs()},
                            "real_hashrate": self._rates(ghs)},
            "pool_stats": {"accepted_shares": s.accepted, "best_share": int(s.best_share),
                           "generated_work": self.mining_uptime() * 255000, "last_difficulty": 131072,
                           "last_share_time": {"nanos": 0, "seconds": int(last)} if last else None,
                           "rejected_shares": s.rejected, "stale_shares": 0},
            "power_stats": {"approximated_consumption": {"watt": power},
                            "efficiency": {"joule_per_terahash": power / (ghs / 1000.0) if ghs else 0.0}},
        }

    def hashboards(self) -> dict[str, Any]:
        """GET /miner/hw/hashboards: ids "1".. as strings, frequency in Hz, voltage in V."""
        boards = []
        nominal_each = self.nominal_ghs() / len(self.hw.chains)
        for n, chain in enumerate(self.hw.chains, start=1):
            board, chip = self.temps(chain)
            freq = self.hw.freq_mhz * 1e6 * (self.power_target / self.hw.default_watts) ** 0.5 * self.quality[chain]
            boards.append({
                "board_name": self.hw.board_name, "board_temp": {"degree_c": board}, "chip_type": self.hw.chip_type,
                "chips_count": self.hw.chips, "current_frequency": {"hertz": 0.0 if self.paused else round(freq)},
                "current_voltage": {"volt": 12.606122448979592}, "enabled": True,
                "highest_chip_temp": {"id": n, "location": 1, "temperature": {"degree_c": chip}},
                "highest_outlet_temp": {"degree_c": board}, "id": str(n),
                "lowest_inlet_temp": {"degree_c": round(board - 13.0, 1)}, "model": self.hw.board_name,
                "serial_number": f"{self.serial[:-1]}{n}",
                "stats": {"best_share": 0, "error_hashrate": {"megahash_per_second": 0.0}, "found_blocks": 0,
                          "nominal_hashrate": {"gigahash_per_second": nominal_each},
                          "real_hashrate": self._rates(self.chain_ghs(chain))},
            })
        return {"hashboards": boards}

    def cooling(self) -> dict[str, Any]:
        """GET /cooling/state: fans (rpm, target_speed_ratio) and the hottest sensor."""
        hottest = max(self.temps(c)[1] for c in self.hw.chains)
        ratio = 0.0 if self.paused else min(1.0, 0.4 + 0.6 * self.power_w() / self.hw.default_watts)
        fans = [{"position": i, "rpm": self.fan_rpm(i), "target_speed_ratio": round(ratio, 2)}
                for i in range(self.hw.spinning)]
        return {"fans": fans, "highest_temperature": {"id": None, "location": 1, "temperature": {"degree_c": hottest}}}

    def tuner_state(self) -> dict[str, Any]:
        """GET /performance/tuner-state: power-target mode with the current target."""
        return {"mode_state": {"powertargetmodestate": {
            "current_target": {"watt": self.power_target},
            "profile": {"created": {"nanos": 0, "seconds": int(self._boot_wall)},
                        "estimated_power_consumption": {"watt": self.power_target},
                        "measured_hashrate": {"gigahash_per_second": self.nominal_ghs()},
                        "target": {"watt": self.power_target}}}},
            "overall_tuner_state": 2}

    def constraints(self) -> dict[str, Any]:
        """GET /configuration/constraints: the tuner's power (W) and hashrate (TH/s) target ranges."""
        hw = self.hw

        def ths(watts: int) -> float:  # this simulator's hashrate at a power target, in TH/s
            return round(hw.sticker_ghs * (watts / hw.default_watts) ** 0.8 / 1000.0, 2)

        return {"tuner_constraints": {
            "default_mode": 1,  # TunerMode POWER_TARGET (the mode tuner_state reports)
            "enabled": {"default": True},
            "hashrate_target": {"default": {"terahash_per_second": ths(hw.default_watts)},
                                "max": {"terahash_per_second": ths(hw.max_watts)},
                                "min": {"terahash_per_second": ths(hw.min_watts)}},
            "power_target": {"default": {"watt": hw.default_watts}, "max": {"watt": hw.max_watts},
                             "min": {"watt": hw.min_watts}}}}

    def pool_groups(self) -> list[dict[str, Any]]:
        """GET /pools/: one group with its pools and their stats (no passwords)."""
        self._advance()
        active = self.active_pool()
        pools = []
        for pool, uid in zip(self.pools, self.pool_uids):
            pools.append({"active": pool is active and not self.paused, "alive": pool.alive, "enabled": pool.enabled,
                          "stats": {"accepted_shares": pool.accepted, "best_share": int(pool.best_share),
                                    "generated_work": 0, "last_difficulty": int(pool.diff),
                                    "last_share_time": ({"nanos": 0, "seconds": int(pool.last_share_time)}
                                                        if pool.last_share_time else None),
                                    "rejected_shares": pool.rejected, "stale_shares": 0},
                          "uid": uid, "url": pool.url, "user": pool.user})
        return [{"name": self.group_name, "pools": pools, "strategy": {"quota": {"value": 1}}, "uid": self.group_uid}]

    def _body(self, request: httpd.Request) -> Any:
        try:
            return json.loads(request.body or b"null")
        except ValueError:
            return None

    def _put_power_target(self, request: httpd.Request) -> httpd.Response:
        body = self._body(request)
        watt = body.get("watt") if isinstance(body, dict) else None
        if isinstance(watt, bool) or not isinstance(watt, int):
            return _json({"message": "watt must be an integer"}, 400)
        if not self.hw.min_watts <= watt <= self.hw.max_watts:
            # Unverified: the firmware's wording for an out-of-range target.
            return _json({"message": f"power target {watt} W out of range "
                                     f"{self.hw.min_watts}-{self.hw.max_watts} W"}, 400)
        self._advance()
        self.power_target = watt
        return _json({"watt": watt})

    def _rest_pause(self, pause: bool) -> httpd.Response:
        self._advance()
        already = self.paused == pause
        self.paused = pause
        return _json(already)  # a bare JSON boolean: "was already paused" / "was already mining"

    def _rest_restart(self, request: httpd.Request) -> httpd.Response:
        self._advance()
        self.mining_restarts += 1
        self.paused = False
        self._restart_mining()
        return _json(False)

    def _rest_reboot(self, request: httpd.Request) -> httpd.Response:
        self.stop_accepting()  # refused from the moment the reply can be read, like the other sims
        return httpd.Response(204, b"", content_type=None, after=self.reboot)

    def _put_pools_batch(self, request: httpd.Request) -> httpd.Response:
        body = self._body(request)
        if not isinstance(body, list) or not body:
            return _json({"message": "expected a list of pool groups"}, 400)
        new: list[tuple[str, str, str]] = []
        name = None
        for group in body:
            if not isinstance(group, dict) or not isinstance(group.get("name"), str) \
                    or not isinstance(group.get("pools"), list):
                return _json({"message": "each group needs a name and pools"}, 400)
            name = name or group["name"]
            for pool in group["pools"]:
                if not isinstance(pool, dict) or not isinstance(pool.get("url"), str) \
                        or not isinstance(pool.get("user"), str):
                    return _json({"message": "each pool needs url and user"}, 400)
                new.append((pool["url"], pool["user"], str(pool.get("password") or "")))
        if not new:
            return _json({"message": "no pools"}, 400)
        self._advance()
        self.pools = [Pool(url, user, password or "x", priority=i, diff=131072.0)
                      for i, (url, user, password) in enumerate(new)]
        self.pool_uids = [secrets.token_urlsafe(12)[:16] for _ in self.pools]
        self.group_name = name or "Default"
        echo = [{"load_balance_strategy": {"quota": {"value": 1}}, "name": self.group_name, "uid": self.group_uid,
                 "pools": [{"enabled": True, "password": p.password, "uid": uid, "url": p.url, "user": p.user}
                           for p, uid in zip(self.pools, self.pool_uids)]}]
        return _json(echo)

