"""Vnish 1.x ("AnthillOS") on an Antminer S19 / S21 / L7: the REST API under /api/v1 on port 80, cgminer API on 4028.

Shapes follow the device-exported OpenAPI documents of Vnish 1.2.6 and 1.3.4
(asic-rs forks, meta/vnish/*/api-doc.json) and the recorded replies
(vnish/api_v1_info.s19_vnish_1.2.6.json, api_v1_summary.s19_vnish_1.2.0-beta10.json,
and the 1.2.6 examples of the third-party "VNish API Documentation"):

- ``POST /unlock {"pw"}`` -> ``{"token"}``; 403 ``{"unlock_timeout": 0}`` for a wrong
  password, 429 ``{"unlock_timeout": n}`` after ``MAX_TRIES`` wrong ones in a row.
  Tokens expire after ``token_ttl`` seconds (tests shorten it or call
  ``expire_tokens()``); a protected path then answers 401.
- Protected (Bearer token; a bare token is accepted too, as pyasic sends one):
  ``/settings`` (GET/POST), ``/autotune/presets``, ``/mining/*``, ``/system/reboot``,
  ``/mining/throttle`` (1.3.x only), ``/find-miner``. Open: ``/info``, ``/summary``,
  ``/status``, ``/perf-summary``, ``/model``, ``/chains`` and ``/chips`` (1.2.x) or
  ``/boards`` (1.3.x).
- Control replies are an empty 200, refusals ``{"err": "..."}`` (the documentation's
  "CGMiner err: ..." examples); ``POST /settings`` answers
  ``{"restart_required", "reboot_required"}``.

The cgminer API on 4028 answers ``version``, ``summary``, ``stats`` and ``pools``
(read-only, joins allowed) in the shapes of the real Vnish 1.2.0-rc1 S19 XP replies
stored in tests/fixtures/vnish/ (``stats`` STATS[0] Type "Antminer S19 XP (Vnish
1.2.0-rc1)", the key pyasic's factory reads for the model; ``GHS`` fields in
hr_measure units, i.e. MH/s on the L7).

Simulator choices (no capture says): ``/mining/stop`` and ``/mining/pause`` both show
``miner_state`` "stopped" with zero hashrate; a preset applies at once (no tuning
phase); S21 and L7 preset lists and ``/model`` limits; an overclock or auto target
outside ``/model``'s limits is refused with 400 ``{"err"}``; with the preset
"disabled" the chains run ``overclock.globals``/``chains[i].freq`` (rate ~ f, power
~ f x V^2) and the fan duty follows the auto target. Nothing here imports miners/.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

from . import httpd
from .cgapi import CgReply, Record
from .cgminer import CgApiMiner, Pool, conf_pool_slots
from .conditions import hot_c
from .formats import fx, suffix_string
from .miner import CGAPI, HTTP
from .models import pick_model
from .physics import ShareCounter, noisy
from .spec import MinerSpec

DEFAULT_VERSION = "1.2.6"
MAX_TRIES = 5  # wrong passwords in a row before 429 (simulator choice; the firmware's number is not documented)
LOCKOUT_S = 60
INDEX = (b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>AnthillOS</title>'
         b'<meta name="viewport" content="width=device-width,initial-scale=1"></head>'
         b'<body><div id="app"></div><script src="/assets/index.js"></script></body></html>')


@dataclass(frozen=True, slots=True)
class RestModel:
    """An Antminer Vnish 1.x runs on, with its autotune presets."""

    full_name: str
    code: str
    chains: int
    chips: int
    algorithm: str
    hr_measure: str
    stock_rate: float  # per chain at the stock point, in hr_measure units
    stock_watts: float
    freq: int
    voltage: int  # chain voltage in mV (14000 on an S19 in the 1.2.0 capture)
    fans: int
    fan_rpm: int
    presets: tuple[tuple[str, int, float], ...]  # (name, watts, total hashrate in pretty_unit)
    pretty_unit: str  # the unit of "pretty" ("TH"; "GH" on scrypt), 1000 x hr_measure
    # GET /model "overclock" (MHz; voltages in 10 mV like globals.volt) and "cooling" target limits.
    overclock: tuple[tuple[str, int], ...] = ()
    target_temp: tuple[int, int] = (20, 90)


# The S19 figures are the 1.2.6 /model example of the "VNish API Documentation"
# (tests/fixtures/vnish/api_v1_model.s19_vnish_1.2.6.json); S21 and L7 are simulator choices.
_S19_OC = (("max_voltage", 1535), ("min_voltage", 1200), ("default_voltage", 1380), ("max_freq", 1000),
           ("min_freq", 50), ("default_freq", 675), ("warn_freq", 850), ("max_voltage_stock_psu", 1500))
_S21_OC = (("max_voltage", 1450), ("min_voltage", 1150), ("default_voltage", 1320), ("max_freq", 700),
           ("min_freq", 50), ("default_freq", 490), ("warn_freq", 600), ("max_voltage_stock_psu", 1420))
_L7_OC = (("max_voltage", 1480), ("min_voltage", 1200), ("default_voltage", 1340), ("max_freq", 800),
          ("min_freq", 50), ("default_freq", 525), ("warn_freq", 650), ("max_voltage_stock_psu", 1450))


MODELS: dict[str, RestModel] = {
    # Presets: the 1.2.6 S19 list of the VNish API documentation ("1100 watt ~ 53 TH" ... "4690 watt ~ 124 TH").
    # Stock point: hashrate_ideal 32196.64 GH/s per chain at 680 MHz / 14000 mV, 3733 W (1.2.0-beta10 capture).
    "Antminer S19": RestModel("Antminer S19", "s19", 3, 76, "sha256d", "GH/s", 32196.64, 3733.0, 680, 14000, 4, 5700,
                              (("1100", 1100, 53), ("1300", 1300, 58), ("1500", 1500, 63), ("1700", 1700, 68),
                               ("1900", 1900, 73), ("2100", 2100, 78), ("2350", 2350, 85), ("2620", 2620, 91),
                               ("2950", 2950, 99), ("3200", 3200, 102), ("3350", 3350, 105), ("3750", 3750, 110),
                               ("4000", 4000, 115), ("4260", 4260, 120), ("4690", 4690, 124)), "TH", _S19_OC),
    # S21 and L7: simulator choices with the same shape (no preset list was captured for them).
    "Antminer S21": RestModel("Antminer S21", "s21", 3, 108, "sha256d", "GH/s", 66700.0, 3500.0, 490, 13200, 4, 4800,
                              (("2800", 2800, 165), ("3100", 3100, 180), ("3500", 3500, 200), ("3900", 3900, 215)),
                              "TH", _S21_OC),
    "Antminer L7": RestModel("Antminer L7", "l7", 3, 120, "scrypt", "MH/s", 3166.7, 3425.0, 525, 13400, 4, 5200,
                             (("2700", 2700, 8.05), ("3000", 3000, 8.8), ("3400", 3400, 9.5)), "GH", _L7_OC),
}
ALIASES = {"s19": "Antminer S19", "s21": "Antminer S21", "l7": "Antminer L7"}


def resolve_model(model: str | None) -> RestModel:
    """A Vnish 1.x model by name ("Antminer S19", "S19"); default S19."""
    return pick_model(MODELS, ALIASES, model, default="Antminer S19", label="Vnish 1.x")


def _version(text: str) -> tuple[int, int, int]:
    nums = [int(n) for n in re.findall(r"\d+", text)[:3]]
    return tuple((nums + [0, 0, 0])[:3])  # type: ignore[return-value]


def _json(obj: Any, status: int = 200) -> httpd.Response:
    return httpd.Response(status, json.dumps(obj).encode(), content_type="application/json")


def _err(status: int, message: str) -> httpd.Response:
    return _json({"err": message}, status)


def _uptime_text(seconds: int) -> str:
    """/info system.uptime like busybox uptime: "9 days,  3:58" or "0:06" (hours:minutes)."""
    days, rest = divmod(int(seconds), 86400)
    clock = f"{rest // 3600}:{rest % 3600 // 60:02d}"
    if days:
        return f"{days} day{'s' if days != 1 else ''}, {clock:>5}"
    return clock


class VnishMiner(CgApiMiner):
    """An S19/S21/L7 on Vnish 1.2.x or 1.3.x."""

    kind = "vnish"
    protocols = (HTTP, CGAPI)
    # "board_down" is not simulated: how Vnish 1.x lists a lost chain (REST and API) is not recorded.
    supported_conditions = frozenset({"fan_stopped", "hot", "rejecting", "pool_down"})

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.hw = hw = resolve_model(spec.model)
        self.version = (spec.firmware_version or DEFAULT_VERSION).lstrip("v")
        self.vt = _version(self.version)
        rng = self.rng
        self.chain_quality = [rng.uniform(0.975, 1.0) for _ in range(hw.chains)]
        self.chip_quality = [[min(1.06, rng.gauss(1.0, 0.03)) for _ in range(hw.chips)] for _ in range(hw.chains)]
        self.chip_quality[rng.randrange(hw.chains)][rng.randrange(hw.chips)] = 0.4  # one orange chip
        self.heat = [rng.uniform(-2.0, 2.0) for _ in range(hw.chains)]
        self.password = "admin"  # the factory web password (pyasic, asic-rs)
        self.token_ttl = 3600.0
        self.tokens: dict[str, float] = {}  # token -> expiry on the miner clock
        self.failed_unlocks = 0
        self.locked_until = 0.0
        self.unlock_calls = 0
        self.settings_writes = 0
        self.state = "mining"  # MinerState
        self.state_since = self.now()
        self.throttle = 100
        self.find_miner = False
        octets = spec.ip.split(".")
        worker = f"sim.{octets[2]}x{octets[3]}"
        pools = list(spec.pools) if spec.pools else (
            [("stratum+tcp://ltc.viabtc.com:3333", worker)] if hw.algorithm == "scrypt" else
            [("stratum+tcp://btc.foundryusapool.com:3333", worker), ("stratum+tcp://btc.foundryusapool.com:443", worker)])
        self.settings: dict[str, Any] = {
            "miner": {
                "pools": conf_pool_slots(pools),
                # Start on the largest preset within the stock power (simulator choice).
                "overclock": {"preset": max((p for p in hw.presets if p[1] <= hw.stock_watts),
                                            key=lambda p: p[1])[0],
                              "globals": {"freq": hw.freq, "volt": hw.voltage // 10}, "chains": [],
                              "modded_psu": False,
                              "preset_switcher": {"enabled": False, "top_preset": None, "decrease_temp": 75,
                                                  "rise_temp": 55, "check_time": 300, "autochange_top_preset": False,
                                                  "ignore_fan_speed": False, "min_preset": None}},
                "cooling": {"mode": {"name": "auto", "param": 65}, "fan_min_count": 4, "fan_min_duty": 10,
                            "fan_max_duty": 100},
                "misc": {"asic_boost": True, "restart_temp": 105, "quiet_mode": False},
            },
            "ui": {"locale": "en", "theme": "auto", "timezone": "GMT"},
            "regional": {"timezone": {"current": "GMT"}},
            "network": {"hostname": spec.hostname or "Antminer", "dhcp": True, "ipaddress": spec.ip,
                        "netmask": "255.255.255.0", "gateway": "", "dnsservers": []},
        }
        self.devfee = Pool("DevFee", "DevFee", priority=3, diff=65536.0)
        self._pools_from_settings()
        self.commands = self.bind_reports(("version", "summary", "stats", "pools"))  # see the module docstring

    # --- identity ------------------------------------------------------------------------
    @property
    def model(self) -> str:
        """Pretty model name ("Antminer S19")."""
        return self.hw.full_name

    @property
    def miner_type(self) -> str:
        """summary miner_type and cgminer Type: "Antminer S19 (Vnish 1.2.6)"."""
        return f"{self.hw.full_name} (Vnish {self.version})"

    @property
    def description(self) -> str:
        """cgminer STATUS Description (cgminer_version 4.11.1 in the 1.2.0 capture)."""
        return "cgminer 4.11.1"

    @property
    def has_throttle(self) -> bool:
        """/mining/throttle and miner_status.throttled exist from 1.3.0 (1.3.4 OpenAPI; absent in 1.2.6)."""
        return self.vt >= (1, 3, 0)

    def allowed(self, command: str) -> bool:
        """The cgminer API stays read-only."""
        return command in self.commands

    # --- tokens -----------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Let every issued token expire now (what token_ttl does with time)."""
        self.tokens.clear()

    def issue_token(self) -> str:
        """A fresh token valid for token_ttl seconds."""
        token = secrets.token_urlsafe(24)[:32]
        self.tokens[token] = self.now() + self.token_ttl
        return token

    def _token_ok(self, request: httpd.Request) -> bool:
        header = (request.header("authorization") or "").strip()
        token = header[7:].strip() if header.lower().startswith("bearer ") else header
        expiry = self.tokens.get(token)
        if expiry is None:
            return False
        if self.now() >= expiry:
            del self.tokens[token]
            return False
        return True

    # --- physics -------------------------------------------------------------------------------
    def _preset(self) -> tuple[str, int, float] | None:
        name = self.settings["miner"]["overclock"].get("preset")
        return next((p for p in self.hw.presets if p[0] == name), None)

    @property
    def hashing(self) -> bool:
        """True while the chains hash (mining)."""
        return self.state == "mining"

    def _manual(self) -> bool:
        """Preset "disabled": overclock.globals and per-chain freq are in effect (CurrentPreset in the 1.3.4 spec)."""
        return self.settings["miner"]["overclock"].get("preset") == "disabled"

    def _manual_freq(self, i: int) -> float:
        overclock = self.settings["miner"]["overclock"]
        chains = overclock.get("chains") or []
        own = chains[i].get("freq") if i < len(chains) and isinstance(chains[i], dict) else 0
        return float(own or (overclock.get("globals") or {}).get("freq") or self.hw.freq)

    def chain_volt_mv(self) -> int:
        """Chain voltage in mV: overclock.globals.volt (10 mV units) when manual, the stock voltage otherwise."""
        volt = (self.settings["miner"]["overclock"].get("globals") or {}).get("volt")
        return int(volt) * 10 if self._manual() and volt else self.hw.voltage

    def chain_ideal(self, i: int | None = None) -> float:
        """Nominal rate of chain i (None: the chains' mean) in hr_measure units: preset, or frequency when manual."""
        preset = self._preset()
        if preset is not None and preset[0] != "disabled":
            return preset[2] * 1000.0 / self.hw.chains  # TH -> GH/s, GH -> MH/s
        if i is None:
            return sum(self.chain_ideal(n) for n in range(self.hw.chains)) / self.hw.chains
        return self.hw.stock_rate * self._manual_freq(i) / self.hw.freq

    def chain_rate(self, i: int) -> float:
        """Noise-free real-time rate of chain i (hr_measure units)."""
        if not self.hashing:
            return 0.0
        return self.chain_ideal(i) * self.chain_quality[i] * self.throttle / 100.0

    def watts(self) -> float:
        """Wall power: the preset's watts, or per chain f x V^2 from stock when manual, scaled by the throttle."""
        if not self.hashing:
            return 0.0
        preset = self._preset()
        if self._manual():
            volts = (self.chain_volt_mv() / self.hw.voltage) ** 2
            base = sum(self.hw.stock_watts / self.hw.chains * self._manual_freq(n) / self.hw.freq * volts
                       for n in range(self.hw.chains))
        else:
            base = preset[1] if preset else self.hw.stock_watts
        return base * (0.1 + 0.9 * self.throttle / 100.0)

    def chain_freq(self, i: int | None = None) -> float:
        """Chain frequency: the manual setting, else scaled with the preset's share of the stock rate."""
        if self._manual() and i is not None:
            return self._manual_freq(i)
        return round(self.hw.freq * self.chain_ideal(i) / self.hw.stock_rate)

    def fan_duty(self) -> int:
        """Fan duty %: manual mode's param, else more fan the lower the auto target (simulator model)."""
        mode = self.settings["miner"]["cooling"].get("mode") or {}
        if not self.hashing:
            return 30
        if mode.get("name") == "manual":
            return int(mode.get("param") or 100)
        target = mode.get("param") if isinstance(mode.get("param"), int) else 65
        return max(30, min(100, 80 + (65 - target) * 2))

    def _advance(self) -> None:
        now = self.now()
        dt, self._last_advance = now - self._last_advance, now
        pool = self.active_pool()
        if pool is None or not self.hashing:
            return
        scale = 1e9 if self.hw.hr_measure == "GH/s" else 1e6
        before_acc, before_rej = self.shares.accepted, self.shares.rejected
        wall = time.time()
        self.shares.advance(self.rng, dt, sum(self.chain_rate(i) for i in range(self.hw.chains)) * scale, pool.diff,
                            algorithm=self.hw.algorithm, reject_ratio=self.reject_ratio, now=wall)
        new_acc, new_rej = self.shares.accepted - before_acc, self.shares.rejected - before_rej
        pool.credit(new_acc, 0, wall, self.shares.best_share)
        # Unlike the other sims, rejected difficulty is not counted per pool: Difficulty Rejected stays 0.
        pool.rejected += new_rej

    def _pcb_chip(self, i: int) -> tuple[int, int]:
        """(PCB, chip) maximum temperature of chain i ("hot": above the app's default limit)."""
        rng = self.rng
        if "hot" in self.conditions:
            chip = hot_c(self.kind) + max(self.heat[i], 0.0) + rng.gauss(0, 0.5)
            return int(round(chip - 8.0)), int(round(chip))
        pcb = int(round((56.0 if self.hashing else 30.0) + self.heat[i] + rng.gauss(0, 0.4)))
        chip = int(round((70.0 if self.hashing else 32.0) + self.heat[i] + rng.gauss(0, 0.5)))
        return pcb, chip

    def _fan_rpms(self) -> list[int]:
        """Each fan's rpm (0 under "fan_stopped", the duty stays as commanded)."""
        hw, rng = self.hw, self.rng
        if "fan_stopped" in self.conditions:
            return [0] * hw.fans
        return [int(hw.fan_rpm * (1.0 if self.hashing else 0.3) + rng.gauss(0, 40)) for _ in range(hw.fans)]

    def _pools_from_settings(self) -> None:
        pools = []
        for i, entry in enumerate(self.settings["miner"]["pools"]):
            url = str(entry.get("url") or "")
            if url:
                pools.append(Pool(url, str(entry.get("user") or ""), password=str(entry.get("pass") or ""),
                                  priority=i, diff=262144.0 if self.hw.algorithm == "sha256d" else 65536.0))
        self.pools = pools

    def set_state(self, state: str) -> None:
        """Change miner_state (and restart the state clock)."""
        self._advance()
        self.state = state
        self.state_since = self.now()

    def restart_mining(self) -> None:
        """The mining process restarted: counters reset, hashing again."""
        self._advance()
        self._pools_from_settings()
        self.shares = ShareCounter()
        for pool in self.pools + [self.devfee]:
            pool.reset_counters()
        self.set_state("mining")

    def on_boot(self) -> None:
        """A reboot: tokens are gone, mining starts again."""
        super().on_boot()
        self.tokens.clear()
        self.state = "mining"
        self.state_since = self.now()
        self.shares = ShareCounter()
        self._last_advance = self.now()

    # --- REST payloads ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """GET /info, shaped like the recorded 1.2.6 reply."""
        hw = self.hw
        return {
            "miner": hw.full_name, "model": hw.code, "fw_name": "Vnish", "fw_version": self.version,
            "build_uuid": "5b50805f-a372-4f07-bbc2-5020aa03321a", "build_name": "vnishnet", "platform": "xil",
            "install_type": "nand", "build_time": "2025-05-29 19:22:26+00:00", "algorithm": hw.algorithm,
            "hr_measure": hw.hr_measure,
            "system": {"os": "GNU/Linux", "miner_name": hw.code, "file_system_version": "", "mem_total": 233712,
                       "mem_free": 173956, "mem_free_percent": 74, "mem_buf": 31928, "mem_buf_percent": 13,
                       "network_status": {"mac": self.mac("FE:07:26"), "dhcp": True, "ip": self.ip,
                                          "netmask": "255.255.255.0", "gateway": "", "dns": [],
                                          "hostname": self.settings["network"]["hostname"]},
                       "uptime": _uptime_text(self.uptime_s)},
            "serial": "N/A",
        }

    def _chain(self, i: int) -> dict[str, Any]:
        rng, hw = self.rng, self.hw
        rate = noisy(rng, self.chain_rate(i), 0.01)
        ideal = self.chain_ideal(i)
        pcb, chip = self._pcb_chip(i)
        orange = sum(1 for q in self.chip_quality[i] if q < 0.8)
        chain: dict[str, Any] = {
            "id": i + 1, "frequency": float(self.chain_freq(i)), "voltage": self.chain_volt_mv(),
            "power_consumption": int(self.watts() / hw.chains), "hashrate_ideal": round(ideal, 2),
            "hashrate_rt": round(rate, 3), "hashrate_percentage": round(100.0 * rate / ideal, 2) if ideal else 0.0,
            "hr_error": 0.0, "hw_errors": self.shares.hw_errors // hw.chains,
            "pcb_temp": {"min": pcb - 14, "max": pcb}, "chip_temp": {"min": chip - 15, "max": chip},
            "chip_statuses": {"red": 0, "orange": orange, "grey": hw.chips - orange},
            "status": {"state": "mining" if self.hashing else "stopped", "description": None},
        }
        return chain

    def summary(self) -> dict[str, Any]:
        """GET /summary: miner{} as in the 1.2.6 / 1.3.4 schema (hr_* in hr_measure units, watts)."""
        self._advance()
        hw, rng = self.hw, self.rng
        chains = [self._chain(i) for i in range(hw.chains)]
        realtime = sum(c["hashrate_rt"] for c in chains)
        nominal = sum(self.chain_ideal(i) for i in range(hw.chains)) if self.hashing else 0.0
        watts = int(round(noisy(rng, self.watts(), 0.005)))
        efficiency = round(watts / (realtime / (1000.0 if hw.hr_measure == "GH/s" else 1.0)), 3) if realtime else 0.0
        status: dict[str, Any] = {"miner_state": self.state, "miner_state_time": int(self.now() - self.state_since)}
        if self.has_throttle:
            status["throttled"] = self.throttle
        pools = []
        active = self.active_pool() if self.hashing else None
        for i, pool in enumerate(self.pools):
            pools.append(self._pool_stats(i, pool, pool is active))
        pools.append(self._pool_stats(len(self.pools), self.devfee, False, devfee=True))
        miner: dict[str, Any] = {
            "miner_status": status, "miner_type": self.miner_type,
            "hr_stock": round(hw.stock_rate * hw.chains, 2), "average_hashrate": round(realtime / 1000.0, 4),
            "instant_hashrate": round(realtime / 1000.0, 4), "hr_realtime": round(realtime, 3),
            "hr_nominal": round(nominal, 2), "hr_average": round(noisy(rng, realtime, 0.002), 3),
            "pcb_temp": {"min": min(c["pcb_temp"]["min"] for c in chains),
                         "max": max(c["pcb_temp"]["max"] for c in chains)},
            "chip_temp": {"min": min(c["chip_temp"]["min"] for c in chains),
                          "max": max(c["chip_temp"]["max"] for c in chains)},
            "power_consumption": watts, "power_usage": efficiency, "power_efficiency": efficiency,
            "hw_errors_percent": 0.0, "hr_error": 0.0, "hw_errors": self.shares.hw_errors,
            "devfee_percent": 2.8, "devfee": 0.0, "pools": pools,
            "cooling": {"fan_num": hw.fans,
                        "fans": [{"id": f, "rpm": rpm, "status": "ok", "max_rpm": 6800}
                                 for f, rpm in enumerate(self._fan_rpms())],
                        "settings": {"mode": dict(self.settings["miner"]["cooling"]["mode"])},
                        "fan_duty": self.fan_duty()},
            "chains": chains, "found_blocks": 0, "best_share": int(self.shares.best_share),
        }
        if self.vt >= (1, 3, 0):
            miner["restart_count"] = 0
        return {"miner": miner}

    def _pool_stats(self, i: int, pool: Pool, active: bool, devfee: bool = False) -> dict[str, Any]:
        if devfee:
            status = "unknown"
        elif active:
            status = "active"
        else:
            status = "working" if pool.alive else "offline"
        url = pool.url.split("://", 1)[-1] if not devfee else "DevFee"  # shown as host:port (1.2.0 capture)
        return {"id": i, "url": url, "pool_type": "DevFee" if devfee else "UserPool", "user": pool.user,
                "status": status, "asic_boost": not devfee, "diff": suffix_string(pool.diff) if active else "",
                "accepted": pool.accepted, "rejected": pool.rejected, "stale": 0,
                "ls_diff": float(pool.last_share_diff), "ls_time": "0:00:10" if pool.last_share_time else "0",
                "diffa": float(pool.diff_accepted), "ping": 40 if active else 0}

    def _chips(self) -> list[list[dict[str, Any]]]:
        hw, rng = self.hw, self.rng
        per_chip = [self.chain_rate(i) / hw.chips for i in range(hw.chains)]
        boards = []
        for i in range(hw.chains):
            chips = []
            for n in range(hw.chips):
                q = self.chip_quality[i][n]
                chips.append({"id": n, "hr": round(noisy(rng, per_chip[i] * q, 0.01), 2),
                              "freq": int(self.chain_freq(i)) if self.hashing else 0,
                              "volt": int(hw.voltage / hw.chips * 2), "temp": round(63.0 + self.heat[i], 1),
                              "errs": 0 if q > 0.8 else 12, "grade": "grey" if q > 0.8 else "orange",
                              "throttled": self.throttle < 100})
            boards.append(chips)
        return boards

    def chain_chips(self) -> list[dict[str, Any]]:
        """/chains (1.2.x) and /boards (1.3.x): AntmChainChips / AntmBoardChips."""
        return [{"id": i + 1, "status": {"state": "mining" if self.hashing else "stopped", "failure_message": None},
                 "hr_realtime": round(self.chain_rate(i), 2), "hr_nominal": round(self.chain_ideal(i), 2),
                 "freq": float(self.chain_freq(i)), "sensors": [], "chips": chips}
                for i, chips in enumerate(self._chips())]

    def chips_stats(self) -> dict[str, Any]:
        """/chips (deprecated 1.2.x form): AntmChainsChipsStats."""
        chains = []
        for i, chips in enumerate(self._chips()):
            chains.append({"id": i + 1, "chips": [{"id": c["id"], "status": c["grade"], "hashrate": c["hr"],
                                                   "freq": c["freq"], "temp": c["temp"], "errors": c["errs"],
                                                   "sensor": None} for c in chips]})
        return {"chips_per_chain": self.hw.chips, "chains": chains}

    def presets(self) -> list[dict[str, Any]]:
        """/autotune/presets: "disabled" plus one preset per watt figure (named by watts)."""
        hw = self.hw
        items: list[dict[str, Any]] = [{"name": "disabled", "pretty": "Disabled", "status": "untuned",
                                        "modded_psu_required": False}]
        for name, watts, rate in hw.presets:
            items.append({"name": name, "pretty": f"{watts} watt ~ {rate:g} {hw.pretty_unit}",
                          "status": "tuned" if watts <= hw.stock_watts else "untuned",
                          "modded_psu_required": watts > hw.stock_watts * 1.2})
        return items

    def model_info(self) -> dict[str, Any]:
        """/model (MinerModelInfo): chain layout, cooling and overclock limits as in the 1.2.6 S19 example."""
        hw = self.hw
        low, high = hw.target_temp
        return {"full_name": hw.full_name, "model": hw.code, "algorithm": hw.algorithm, "series": "x19",
                "platform": "xil", "install_type": "nand", "hr_measure": hw.hr_measure, "serial": "N/A",
                "chain": {"chips_per_chain": hw.chips, "chips_per_domain": 2, "num_chains": hw.chains,
                          "topology": {"chips": [], "num_cols": 0, "num_rows": 0}},
                "cooling": {"min_fan_pwm": 10, "min_target_temp": low, "max_target_temp": high,
                            "fan_min_count": {"min": 1, "max": hw.fans, "default": hw.fans}},
                "overclock": dict(hw.overclock)}

    def _refuse_overclock(self, overclock: dict[str, Any]) -> str | None:
        """Why an overclock write is outside /model's limits (simulator choice: the firmware's reply is not recorded)."""
        limits = dict(self.hw.overclock)
        glob = overclock.get("globals") if isinstance(overclock.get("globals"), dict) else {}
        freqs = [("globals.freq", glob.get("freq"))]
        freqs += [(f"chains[{n}].freq", c.get("freq")) for n, c in enumerate(overclock.get("chains") or [])
                  if isinstance(c, dict) and c.get("freq")]
        for name, value in freqs:
            if value is not None and not limits["min_freq"] <= value <= limits["max_freq"]:
                return f"{name} {value} is out of range {limits['min_freq']}..{limits['max_freq']}"
        if len(overclock.get("chains") or []) > self.hw.chains:
            return f"too many chains: this miner has {self.hw.chains}"
        modded = overclock.get("modded_psu", self.settings["miner"]["overclock"].get("modded_psu"))
        high = limits["max_voltage"] if modded else limits["max_voltage_stock_psu"]
        volt = glob.get("volt")
        if volt is not None and not limits["min_voltage"] <= volt <= high:
            return f"globals.volt {volt} is out of range {limits['min_voltage']}..{high}"
        return None

    def _refuse_cooling(self, cooling: dict[str, Any]) -> str | None:
        mode = cooling.get("mode")
        if mode is None:
            return None
        if not isinstance(mode, dict) or mode.get("name") not in ("auto", "manual", "immers"):
            return "Json deserialize error: miner.cooling.mode"
        low, high = self.hw.target_temp
        param = mode.get("param")
        if mode["name"] == "auto" and (not isinstance(param, int) or not low <= param <= high):
            return f"cooling.mode.param {param} is out of range {low}..{high}"
        return None

    def perf_summary(self) -> dict[str, Any]:
        """/perf-summary: the current preset and the preset switcher."""
        overclock = self.settings["miner"]["overclock"]
        current = next((p for p in self.presets() if p["name"] == overclock.get("preset")), None)
        if current is not None and current["name"] == "disabled":
            current = {**current, "globals": dict(overclock.get("globals") or {})}
        return {"current_preset": current, "preset_switcher": dict(overclock.get("preset_switcher") or {})}

    # --- HTTP --------------------------------------------------------------------------------------
    def handle_http(self, request: httpd.Request) -> httpd.Response:
        """The AnthillOS page on / and the REST API under /api/v1."""
        path = request.path
        if not path.startswith("/api/v1/"):
            if request.method == "GET":
                return httpd.Response(200, INDEX, content_type="text/html")
            return httpd.Response(405, b"Method Not Allowed")
        route = path[len("/api/v1/"):]
        open_routes: dict[tuple[str, str], Callable[[httpd.Request], httpd.Response]] = {
            ("POST", "unlock"): self._unlock,
            ("GET", "info"): lambda r: _json(self.info()),
            ("GET", "summary"): lambda r: _json(self.summary()),
            ("GET", "status"): lambda r: _json(self._status(r)),
            ("GET", "perf-summary"): lambda r: _json(self.perf_summary()),
            ("GET", "model"): lambda r: _json(self.model_info()),
        }
        if self.vt >= (1, 3, 0):
            open_routes[("GET", "boards")] = lambda r: _json(self.chain_chips())
        else:
            open_routes[("GET", "chains")] = lambda r: _json(self.chain_chips())
            open_routes[("GET", "chips")] = lambda r: _json(self.chips_stats())
        protected: dict[tuple[str, str], Callable[[httpd.Request], httpd.Response]] = {
            ("GET", "settings"): lambda r: _json(self.settings),
            ("POST", "settings"): self._post_settings,
            ("GET", "autotune/presets"): lambda r: _json(self.presets()),
            ("POST", "mining/stop"): lambda r: self._mining("stopped"),
            ("POST", "mining/pause"): lambda r: self._mining("stopped"),
            ("POST", "mining/start"): lambda r: self._mining("mining"),
            ("POST", "mining/resume"): lambda r: self._mining("mining"),
            ("POST", "mining/restart"): self._restart,
            ("POST", "system/reboot"): self._reboot,
            ("POST", "find-miner"): self._find_miner,
        }
        if self.has_throttle:
            protected[("POST", "mining/throttle")] = self._throttle
        key = (request.method, route)
        if key in open_routes:
            return open_routes[key](request)
        if key in protected:
            if not self._token_ok(request):
                return httpd.Response(401, b"", content_type=None)
            return protected[key](request)
        if any(r == route for _, r in list(open_routes) + list(protected)):
            return httpd.Response(405, b"", content_type=None)
        return _err(404, "Not found")

    def _status(self, request: httpd.Request) -> dict[str, Any]:
        status: dict[str, Any] = {"miner_state": self.state, "miner_state_time": int(self.now() - self.state_since),
                                  "find_miner": self.find_miner, "restart_required": False,
                                  "reboot_required": False, "unlocked": self._token_ok(request)}
        if self.has_throttle:
            status["throttled"] = self.throttle
        return status

    def _body(self, request: httpd.Request) -> Any:
        try:
            return json.loads(request.body.decode("utf-8")) if request.body.strip() else None
        except ValueError:
            return ValueError

    def _unlock(self, request: httpd.Request) -> httpd.Response:
        self.unlock_calls += 1
        now = self.now()
        if now < self.locked_until:
            return _json({"unlock_timeout": int(self.locked_until - now) + 1}, 429)
        body = self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("pw"), str):
            return _err(400, "Json deserialize error: missing field `pw`")
        if body["pw"] != self.password:
            self.failed_unlocks += 1
            if self.failed_unlocks >= MAX_TRIES:
                self.failed_unlocks = 0
                self.locked_until = now + LOCKOUT_S
                return _json({"unlock_timeout": LOCKOUT_S}, 429)
            return _json({"unlock_timeout": 0}, 403)
        self.failed_unlocks = 0
        return _json({"token": self.issue_token()})

    def _mining(self, state: str) -> httpd.Response:
        if state == self.state:
            verb = "pause" if state == "stopped" else "resume"
            return _err(500, f"CGMiner err: Cgminer error failed-to-activate-{verb}-mode ")
        self.set_state(state)
        return httpd.Response(200, b"", content_type=None)

    def _restart(self, request: httpd.Request) -> httpd.Response:
        self.restart_mining()
        return httpd.Response(200, b"", content_type=None)

    def _reboot(self, request: httpd.Request) -> httpd.Response:
        response = _json({"after": 3})
        self.stop_accepting()
        response.after = self.reboot
        return response

    def _find_miner(self, request: httpd.Request) -> httpd.Response:
        self.find_miner = not self.find_miner
        return _json({"on": self.find_miner})

    def _throttle(self, request: httpd.Request) -> httpd.Response:
        body = self._body(request)
        percent = body.get("percent") if isinstance(body, dict) else None
        if isinstance(percent, bool) or not isinstance(percent, int):
            return _err(400, "Json deserialize error: invalid type for `percent`")
        if not 20 <= percent <= 100:
            return _err(400, f"percent must be 20..100, got {percent}")
        self._advance()
        self.throttle = percent
        return _json({"restart_required": False, "reboot_required": False})

    def _post_settings(self, request: httpd.Request) -> httpd.Response:
        body = self._body(request)
        if not isinstance(body, dict):
            return _err(400, "Json deserialize error")
        miner = body.get("miner")
        restart = False
        if miner is not None:
            if not isinstance(miner, dict):
                return _err(400, "Json deserialize error: miner")
            pools = miner.get("pools")
            if pools is not None:
                # MinerConfigRaw.pools is a three-item tuple of {url, user, pass}: anything else is refused.
                if (not isinstance(pools, list) or len(pools) != 3 or not all(
                        isinstance(p, dict) and all(isinstance(p.get(k), str) for k in ("url", "user", "pass"))
                        for p in pools)):
                    return _err(400, "Json deserialize error: miner.pools: expected a tuple of 3 pools")
            overclock = miner.get("overclock")
            if overclock is not None:
                if not isinstance(overclock, dict):
                    return _err(400, "Json deserialize error: miner.overclock")
                preset = overclock.get("preset")
                if preset is not None and preset not in {p["name"] for p in self.presets()}:
                    return _err(500, f"Unknown preset: {preset}")
                refusal = self._refuse_overclock(overclock)
                if refusal:
                    return _err(400, refusal)
            cooling = miner.get("cooling")
            if isinstance(cooling, dict) and (refusal := self._refuse_cooling(cooling)):
                return _err(400, refusal)
            self._advance()
            if pools is not None:
                self.settings["miner"]["pools"] = [dict(p) for p in pools]
                restart = True
            if overclock is not None:
                self.settings["miner"]["overclock"] = {**self.settings["miner"]["overclock"], **overclock}
                restart = True
            for section_name in ("cooling", "misc"):
                if isinstance(miner.get(section_name), dict):
                    self.settings["miner"][section_name] = {**self.settings["miner"][section_name],
                                                            **miner[section_name]}
        self.settings_writes += 1
        if restart:
            self.restart_mining()  # the firmware restarts mining itself to apply pools/presets
        return _json({"restart_required": False, "reboot_required": False})

    # --- cgminer API on 4028 (still there on 1.x; pyasic reads summary/stats/pools from it) ---------------
    # Shapes: the Vnish 1.2.0-rc1 S19 XP stats/summary/pools replies recorded in
    # tests/fixtures/vnish/cgminer_*.s19xp_vnish_1.2.0-rc1.json (cgminer 4.11.1: "GHS 5s" a
    # string, "GHS av" a number; the DevFee pool listed last with Type 1). The numbers
    # are in hr_measure units: GH/s, MH/s on the L7 (the scrypt "units trap").
    def _rate_5s(self) -> float:
        """The 5 s window of the whole miner (hr_measure units), 0 while not hashing."""
        return noisy(self.rng, sum(self.chain_rate(i) for i in range(self.hw.chains)), 0.02)

    def cmd_version(self, param: str | None, isjson: bool) -> CgReply:
        """version: Type carries "(Vnish x.y.z)"."""
        rec: Record = [("CGMiner", "4.11.1"), ("API", "3.7"), ("Miner", "49.0.1.3"),
                       ("CompileTime", "Mon Apr 17 08:08:58 UTC 2023"), ("Type", self.miner_type)]
        return self.ok(22, "CGMiner versions", "VERSION", [rec], text_prefix=True)

    def cmd_summary(self, param: str | None, isjson: bool) -> CgReply:
        """summary: the recorded 1.2.0-rc1 key set ("GHS 5s" a string; MH/s on the L7)."""
        self._advance()
        s, elapsed = self.shares, max(self.uptime_s, 1)
        total = sum(self.chain_rate(i) for i in range(self.hw.chains))
        mh = total * (1000.0 if self.hw.hr_measure == "GH/s" else 1.0)
        shares = s.accepted + s.rejected
        rec: Record = [
            ("Elapsed", elapsed), ("GHS 5s", f"{self._rate_5s():.2f}"), ("GHS av", fx(total, 2)), ("Found Blocks", 0),
            ("Getworks", elapsed // 30 + 1), ("Accepted", s.accepted), ("Rejected", s.rejected),
            ("Hardware Errors", s.hw_errors), ("Utility", fx(s.accepted * 60.0 / elapsed, 2)), ("Discarded", 0),
            ("Stale", 0), ("Get Failures", 0), ("Local Work", 0), ("Remote Failures", 0), ("Network Blocks", 0),
            ("Total MH", fx(mh * elapsed, 4)), ("Work Utility", fx(s.diff_accepted * 60.0 / elapsed, 2)),
            ("Difficulty Accepted", fx(s.diff_accepted, 8)), ("Difficulty Rejected", fx(s.diff_rejected, 8)),
            ("Difficulty Stale", fx(0.0, 8)), ("Best Share", int(s.best_share)),
            ("Device Hardware%", fx(100.0 * s.hw_errors / (s.hw_errors + shares) if s.hw_errors else 0.0, 4)),
            ("Device Rejected%", fx(100.0 * s.rejected / shares if shares else 0.0, 4)),
            ("Pool Rejected%", fx(100.0 * s.rejected / shares if shares else 0.0, 4)), ("Pool Stale%", fx(0.0, 4)),
            ("Last getwork", int(time.time())), ("Fee Percent", fx(2.8, 4)),
        ]
        return self.ok(11, "Summary", "SUMMARY", [rec], text_prefix=True)

    def cmd_stats(self, param: str | None, isjson: bool) -> CgReply:
        """stats: STATS[0] names the model in Type ("Antminer S19 (Vnish 1.2.6)"); STATS[1] the chains (bmminer)."""
        self._advance()
        hw, rng = self.hw, self.rng
        head: Record = [("Cgminer", "4.11.1"), ("Miner", "uart_trans.1.3"),
                        ("CompileTime", "Sat Jun 24 11:17:59 UTC 2023"), ("Type", self.miner_type)]
        rates = [noisy(rng, self.chain_rate(i), 0.01) for i in range(hw.chains)]
        freq = self.chain_freq() if self.hashing else 0
        ideal = self.chain_ideal() if self.hashing else 0.0
        rpm = self._fan_rpms()
        temps = []
        for i in range(hw.chains):
            pcb, chip = self._pcb_chip(i)
            temps.append((pcb - 14, pcb, chip - 15, chip))
        chains = range(1, hw.chains + 1)
        acs = " ".join("o" * min(10, hw.chips - k) for k in range(0, hw.chips, 10))
        rec: Record = [
            ("STATS", 0), ("ID", f"BTM_{hw.code.upper()}"), ("Elapsed", max(self.uptime_s, 1)), ("Calls", 0),
            ("Wait", 0.0), ("Max", 0.0), ("Min", 99999999.0), ("GHS 5s", f"{self._rate_5s():.2f}"),
            ("GHS av", fx(sum(rates), 2)), ("miner_count", hw.chains), ("total_acn", hw.chips * hw.chains),
            ("frequency", int(freq)), ("total_freqavg", fx(freq, 2)), ("total_rateideal", fx(ideal * hw.chains, 2)),
            ("total_rate", fx(sum(rates), 2)), ("state", self.state), ("fan_num", hw.fans), ("fan_mode", 0),
            ("fan_pwm", self.fan_duty()),
            *[(f"fan{f + 1}", r) for f, r in enumerate(rpm)],
            ("temp_num", hw.chains),
            *[(f"temp{n}", temps[n - 1][1]) for n in chains], *[(f"temp2_{n}", temps[n - 1][3]) for n in chains],
            *[(f"temp3_{n}", temps[n - 1][3]) for n in chains], *[(f"temp_sens{n}", "m-m") for n in chains],
            *[(f"temp_pcb{n}", f"{temps[n - 1][0]}-{temps[n - 1][1]}") for n in chains],
            *[(f"temp_chip{n}", f"{temps[n - 1][2]}-{temps[n - 1][3]}") for n in chains],
            *[(f"chain_state{n}", "mining" if self.hashing else "stopped") for n in chains],
            *[(f"chain_acn{n}", hw.chips) for n in chains], *[(f"chain_vol{n}", hw.voltage) for n in chains],
            *[(f"freq_avg{n}", fx(freq, 2)) for n in chains], *[(f"chain_rateideal{n}", fx(ideal, 2)) for n in chains],
            *[(f"chain_rate{n}", fx(rates[n - 1], 2)) for n in chains],
            *[(f"chain_hw{n}", self.shares.hw_errors // hw.chains) for n in chains],
            *[(f"chain_acs{n}", acs) for n in chains], *[(f"chain_consumption{n}", 0) for n in chains],
            ("miner_version", "uart_trans.1.3"), ("build_version", self.version),
        ]
        return self.ok(70, "CGMiner stats", "STATS", [head, rec])

    def _cg_pool(self, index: int, pool: Pool, active: bool, devfee: bool = False) -> Record:
        shares = pool.accepted + pool.rejected
        wall = time.time()
        since = int(wall - pool.last_share_time) if pool.last_share_time else None
        return [
            ("POOL", index), ("URL", pool.url), ("Status", "Alive" if devfee else pool.status),
            ("Priority", pool.priority), ("Long Poll", "N"), ("Getworks", max(self.uptime_s, 1) // 30 if active else 0),
            ("Accepted", pool.accepted), ("Rejected", pool.rejected), ("Stale", 0), ("Works", 0), ("Discarded", 0),
            ("Get Failures", 0), ("Remote Failures", 0), ("User", pool.user), ("Type", 1 if devfee else 0),
            ("Last Share Time", f"{since // 3600}:{since % 3600 // 60:02d}:{since % 60:02d}" if since is not None
             else "0"),
            ("Diff", suffix_string(pool.diff) if active else ""), ("Diff1 Shares", 0), ("Proxy Type", ""),
            ("Proxy", ""), ("Difficulty Accepted", fx(pool.diff_accepted, 8)),
            ("Difficulty Rejected", fx(pool.diff_rejected, 8)), ("Difficulty Stale", fx(0.0, 8)),
            ("Last Share Difficulty", fx(pool.last_share_diff, 8)),
            ("Work Difficulty", fx(pool.diff if active else 0.0, 8)), ("Has Stratum", True),
            ("Stratum Active", active), ("Stratum URL", pool.stratum_host() if active else ""),
            ("Stratum Difficulty", fx(pool.diff if active else 0.0, 8)), ("Has Vmask", True),
            ("Best Share", int(pool.best_share)),
            ("Pool Rejected%", fx(100.0 * pool.rejected / shares if shares else 0.0, 4)),
            ("Pool Stale%", fx(0.0, 4)), ("Bad Work", 0), ("Current Block Height", 0),
            ("Current Block Version", 536870912),
        ]

    def cmd_pools(self, param: str | None, isjson: bool) -> CgReply:
        """pools: the configured pools in cgminer's layout, then the DevFee pool (Type 1), as recorded."""
        self._advance()
        active = self.active_pool() if self.hashing else None
        records = [self._cg_pool(i, p, p is active) for i, p in enumerate(self.pools)]
        records.append(self._cg_pool(len(self.pools), self.devfee, False, devfee=True))
        return self.ok(7, f"{len(records)} Pool(s)", "POOLS", records)
