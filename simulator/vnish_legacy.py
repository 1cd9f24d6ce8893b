"""Legacy Vnish 3.x on an Antminer S9 (or L3+): bmminer-style API on 4028 and the digest-auth Vnish CGI on 80.

The API replies follow the Vnish 3.8.6 S9 capture (Foreman AntminerStatsITest
"Antminer S9 (NiceHash)"): STATUS Description "cgminer 4.11.1", VERSION with
CGMiner/API/Miner/CompileTime/Type "Antminer S9 (vnish 3.8.6)", ``stats`` whose two
objects are glued with ``}{``, chains 6..8 with ``chain_vol`` (centivolts),
``chain_consumption`` (W), ``chain_bchips``, ``build_version``, and ``pools`` with a
``Boost`` key and a "DevFee" pool at priority 993.

The CGI scripts come from third-party tools only (reference section 7; not
verified against the firmware): ``get_miner_conf.cgi``, ``set_miner_conf_custom.cgi``
(urlencoded ``_ant_*`` form read BY POSITION: a short form shifts every later value,
and a token without '=' stores its own text, the "_ant_" garbage other tools warn
about), ``do_sleep_mode.cgi`` (mode=1/0), ``reboot_cgminer.cgi``, ``stop_bmminer.cgi``,
``reboot.cgi``, ``get_system_info.cgi`` and ``chip_hr.json`` (``{"chiphr": [{"Asic00":
"69", ...}, ...]}``, GH/s per chip, one object per chain). Nothing here imports miners/.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from . import httpd
from .bitmain import READ_COMMANDS, REALM, cgi_reply, error_page
from .digest import DigestRealm
from .cgapi import CgReply, Record
from .cgminer import CgApiMiner, Pool, conf_pool_slots, pools_from_conf
from .conditions import hot_c
from .faults import RESET
from .formats import fx, hms, suffix_string
from .miner import CGAPI, HTTP
from .models import pick_model
from .physics import ShareCounter, noisy
from .spec import MinerSpec

DEFAULT_VERSION = "3.9.0"
DEVFEE_PRIORITY = 993  # as captured
INDEX = b'<!DOCTYPE html>\n<html>\n<head><title>Antminer</title></head>\n<body>antMiner Configuration</body>\n</html>\n'

# The form of set_miner_conf_custom.cgi in order (third-party Vnish 3.9 tool, code-search
# file id 225297743) and the get_miner_conf.cgi key each field lands in.
FORM: tuple[tuple[str, str], ...] = (
    ("_ant_pool1url", "pool1url"), ("_ant_pool1user", "pool1user"), ("_ant_pool1pw", "pool1pw"),
    ("_ant_pool2url", "pool2url"), ("_ant_pool2user", "pool2user"), ("_ant_pool2pw", "pool2pw"),
    ("_ant_pool3url", "pool3url"), ("_ant_pool3user", "pool3user"), ("_ant_pool3pw", "pool3pw"),
    ("_ant_nobeeper", "bitmain-nobeeper"), ("_ant_notempoverctrl", "bitmain-notempoverctrl"),
    ("_ant_fan_customize_switch", "bitmain-fan-ctrl"), ("_ant_fan_customize_value", "bitmain-fan-pwm"),
    ("_ant_freq", "bitmain-freq"), ("_ant_freq1", "bitmain-freq1"), ("_ant_freq2", "bitmain-freq2"),
    ("_ant_freq3", "bitmain-freq3"), ("_ant_voltage", "bitmain-voltage"), ("_ant_voltage1", "bitmain-voltage1"),
    ("_ant_voltage2", "bitmain-voltage2"), ("_ant_voltage3", "bitmain-voltage3"),
    ("_ant_fan_rpm_off", "bitmain-fan-rpm-off"), ("_ant_chip_freq", "bitmain-chip-freq"),
    ("_ant_autodownscale", "bitmain-autodownscale"), ("_ant_autodownscale_watch", "bitmain-autodownscale-watch"),
    ("_ant_autodownscale_watchtimer", "bitmain-autodownscale-watchtimer"),
    ("_ant_autodownscale_timer", "bitmain-autodownscale-timer"),
    ("_ant_autodownscale_after", "bitmain-autodownscale-after"),
    ("_ant_autodownscale_step", "bitmain-autodownscale-step"), ("_ant_autodownscale_min", "bitmain-autodownscale-min"),
    ("_ant_autodownscale_prec", "bitmain-autodownscale-prec"),
    ("_ant_autodownscale_profile", "bitmain-autodownscale-profile"), ("_ant_minhr", "bitmain-minhr"),
    ("_ant_asicboost", "asicboost"), ("_ant_tempoff", "bitmain-tempoff"), ("_ant_altdf", "bitmain-altdf"),
    ("_ant_presave", "bitmain-presave"), ("_ant_name", "bitmain-name"), ("_ant_warn", "bitmain-warn"),
    ("_ant_maxx", "bitmain-maxx"), ("_ant_trigger_reboot", "bitmain-trigger-reboot"),
    ("_ant_target_temp", "bitmain-target-temp"), ("_ant_silentstart", "bitmain-silentstart"),
    ("_ant_altdfno", "bitmain-altdfno"), ("_ant_autodownscale_reboot", "bitmain-autodownscale-reboot"),
    ("_ant_hotel_fee", "bitmain-hotel-fee"), ("_ant_lpm_mode", "bitmain-lpm-mode"),
    ("_ant_dchain5", "bitmain-dchain5"), ("_ant_dchain6", "bitmain-dchain6"), ("_ant_dchain7", "bitmain-dchain7"),
)
BOOL_KEYS = frozenset({"bitmain-nobeeper", "bitmain-notempoverctrl", "bitmain-fan-ctrl", "bitmain-autodownscale",
                       "bitmain-autodownscale-watch", "bitmain-autodownscale-watchtimer", "asicboost",
                       "bitmain-altdf", "bitmain-silentstart", "bitmain-autodownscale-reboot", "bitmain-hotel-fee",
                       "bitmain-lpm-mode", "bitmain-dchain5", "bitmain-dchain6", "bitmain-dchain7"})


@dataclass(frozen=True, slots=True)
class LegacyModel:
    """An Antminer generation Vnish 3.x ran on."""

    type: str
    chains: tuple[int, ...]
    chips: int
    rate_per_chip_mhz: float  # "GHS"-field units per chip per MHz (S9 BM1387: 0.114 GH/s, from chain_rateideal)
    freq: int
    centivolts: int
    fans: tuple[int, ...]
    fan_rpm: int
    pcb_temp: float
    chip_temp: float
    watts_per_chain: float  # at freq / centivolts
    id: str
    scrypt: bool


MODELS = {
    # Capture: 63 chips at 600 MHz -> chain_rateideal 4309.20 = 63 * 600 * 0.114; 920 cV -> 495 W per chain.
    # Defaults are the stock 650 MHz with 8.80 V (simulator choice inside the Vnish range).
    "Antminer S9": LegacyModel("Antminer S9", (6, 7, 8), 63, 0.114, 650, 880, (5, 6), 5600, 63.0, 79.0,
                               495.0 * (650 / 600) * (880 / 920) ** 2, "BC50", False),
    # L3+: 4 chains x 72 BM1485 chips, 504 MH/s at 384 MHz (Foreman stock capture). The Vnish
    # Type string for the L3+ and its chain voltage are not captured: simulator choices.
    "Antminer L3+": LegacyModel("Antminer L3+", (1, 2, 3, 4), 72, 504.0 / 288 / 384, 384, 1000, (1, 2), 3900,
                                47.0, 56.0, 200.0, "L30", True),
}
ALIASES = {"s9": "Antminer S9", "l3+": "Antminer L3+", "l3": "Antminer L3+"}


def resolve_model(model: str | None) -> LegacyModel:
    """A legacy model by name ("Antminer S9", "S9", "L3+"); default S9."""
    return pick_model(MODELS, ALIASES, model, default="Antminer S9", label="Vnish 3.x")


class VnishLegacyMiner(CgApiMiner):
    """An S9 (or L3+) running Vnish 3.x."""

    kind = "vnish_legacy"
    # "board_down" is not simulated: how Vnish 3.x lists a lost chain is not recorded.
    supported_conditions = frozenset({"fan_stopped", "hot", "rejecting", "pool_down"})
    protocols = (CGAPI, HTTP)

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.hw = hw = resolve_model(spec.model)
        self.version = (spec.firmware_version or DEFAULT_VERSION).lstrip("v")
        rng = self.rng
        self.chip_quality = {c: [min(1.08, rng.gauss(1.0, 0.03)) for _ in range(hw.chips)] for c in hw.chains}
        weak_chain = hw.chains[rng.randrange(len(hw.chains))]
        self.chip_quality[weak_chain][rng.randrange(hw.chips)] = 0.35  # one weak chip, visible in chip_hr.json
        self.chain_heat = {c: rng.uniform(-2.5, 2.5) for c in hw.chains}
        self.fan_speed = {f: int(hw.fan_rpm * rng.uniform(0.95, 1.05)) for f in hw.fans}
        octets = spec.ip.split(".")
        worker = f"sim.{octets[2]}x{octets[3]}"
        pools = list(spec.pools) if spec.pools else (
            [("stratum+tcp://ltc.viabtc.com:3333", worker)] if hw.scrypt else
            [("stratum+tcp://stratum.braiins.com:3333", worker), ("stratum+tcp://btc.viabtc.com:3333", worker)])
        self.conf: dict[str, Any] = self._factory_conf(pools)  # /config/bmminer.conf, as get_miner_conf.cgi shows it
        self.running: dict[str, Any] = dict(self.conf)  # what bmminer loaded at its last start
        self.deployed: dict[str, Any] | None = None  # a form saved with _ant_presave "2" (/config/deploy/<name>.conf)
        self.devfee = Pool("DevFee", "DevFee", priority=DEVFEE_PRIORITY, diff=512.0)
        self.pools = []
        self._pools_from_conf()
        self.web_user, self.web_password = "root", "root"
        self.sleeping = False
        self.bmminer_stopped = False
        self.conf_writes = 0
        self.mining_restarts = 0
        self.digest = DigestRealm(REALM, spec.ip)  # lighttpd mod_auth, as on stock firmware
        self.commands = self.bind_reports(READ_COMMANDS)

    # --- identity ------------------------------------------------------------------
    @property
    def model(self) -> str:
        """The model part of Type ("Antminer S9")."""
        return self.hw.type

    @property
    def type_string(self) -> str:
        """VERSION/STATS Type: "Antminer S9 (vnish 3.9.0)"."""
        return f"{self.hw.type} (vnish {self.version})"

    @property
    def description(self) -> str:
        """STATUS Description, "cgminer 4.11.1" as captured."""
        return "cgminer 4.11.1"

    def allowed(self, command: str) -> bool:
        """The stock api-groups: only the five read commands answer from the LAN."""
        return command in READ_COMMANDS

    # --- config -----------------------------------------------------------------------
    def _factory_conf(self, pools: list[tuple[str, str]]) -> dict[str, Any]:
        hw = self.hw
        conf: dict[str, Any] = {"pools": conf_pool_slots(pools), "api-listen": True, "api-network": True,
                                "api-groups": "A:stats:pools:devs:summary:version", "api-allow": "A:0/0,W:*",
                                "bitmain-use-vil": True}
        defaults = {
            "bitmain-nobeeper": False, "bitmain-notempoverctrl": False, "bitmain-fan-ctrl": False,
            "bitmain-fan-pwm": "100", "bitmain-freq": str(hw.freq), "bitmain-freq1": "0", "bitmain-freq2": "0",
            "bitmain-freq3": "0", "bitmain-voltage": str(hw.centivolts), "bitmain-voltage1": "0",
            "bitmain-voltage2": "0", "bitmain-voltage3": "0", "bitmain-fan-rpm-off": "0", "bitmain-chip-freq": "",
            "bitmain-autodownscale": False, "bitmain-autodownscale-watch": False,
            "bitmain-autodownscale-watchtimer": False, "bitmain-autodownscale-timer": "2",
            "bitmain-autodownscale-after": "10", "bitmain-autodownscale-step": "25",
            "bitmain-autodownscale-min": "400", "bitmain-autodownscale-prec": "75",
            "bitmain-autodownscale-profile": "1", "bitmain-minhr": "0", "asicboost": True, "bitmain-tempoff": "105",
            "bitmain-altdf": True, "bitmain-presave": "1", "bitmain-name": "0", "bitmain-warn": "",
            "bitmain-maxx": "", "bitmain-trigger-reboot": "", "bitmain-target-temp": "75",
            "bitmain-silentstart": False, "bitmain-altdfno": "0", "bitmain-autodownscale-reboot": False,
            "bitmain-hotel-fee": False, "bitmain-lpm-mode": False, "bitmain-dchain5": False,
            "bitmain-dchain6": False, "bitmain-dchain7": False,
        }
        conf.update(defaults)
        return conf

    def _pools_from_conf(self) -> None:
        self.pools = pools_from_conf(self.conf.get("pools", []), 1024.0 if self.hw.scrypt else 65536.0)

    def chain_freq(self, chain: int) -> float:
        """The frequency a chain runs at: its own override ("0"/"" = the global one)."""
        slot = self.hw.chains.index(chain) + 1
        return self._conf_number(f"bitmain-freq{slot}") or self._conf_number("bitmain-freq") or self.hw.freq

    def chain_centivolts(self, chain: int) -> float:
        """Chain voltage in centivolts (920 = 9.20 V), per-chain override first."""
        slot = self.hw.chains.index(chain) + 1
        value = self._conf_number(f"bitmain-voltage{slot}") or self._conf_number("bitmain-voltage")
        if value and value < 20:  # a config written in volts ("8.8")
            value *= 100.0
        return value or self.hw.centivolts

    def _conf_number(self, key: str) -> float:
        try:
            return float(str(self.running.get(key, "")).strip())
        except ValueError:
            return 0.0

    # --- physics ----------------------------------------------------------------------
    @property
    def hashing(self) -> bool:
        """False while asleep or while bmminer is stopped."""
        return not self.sleeping and not self.bmminer_stopped

    def chip_rate(self, chain: int, chip: int) -> float:
        """Noise-free rate of one chip in the GHS-field unit (GH/s; MH/s on the L3+)."""
        if not self.hashing:
            return 0.0
        return self.chain_freq(chain) * self.hw.rate_per_chip_mhz * self.chip_quality[chain][chip]

    def chain_rate(self, chain: int) -> float:
        """Noise-free rate of one chain (sum of its chips)."""
        return sum(self.chip_rate(chain, i) for i in range(self.hw.chips))

    def chain_ideal(self, chain: int) -> float:
        """What bmminer calls chain_rateideal: chips x frequency x per-chip rate."""
        return self.hw.chips * self.chain_freq(chain) * self.hw.rate_per_chip_mhz

    def chain_watts(self, chain: int) -> int:
        """Vnish's chain_consumption estimate: scales with f * V^2 from the model's point; 0 when not hashing."""
        if not self.hashing:
            return 0
        hw = self.hw
        ratio = (self.chain_freq(chain) / hw.freq) * (self.chain_centivolts(chain) / hw.centivolts) ** 2
        return int(round(hw.watts_per_chain * ratio))

    def total_rate(self) -> float:
        """Noise-free total in the GHS-field unit."""
        return sum(self.chain_rate(c) for c in self.hw.chains)

    def _advance(self) -> None:
        rate_hs = self.total_rate() * (1e6 if self.hw.scrypt else 1e9)  # 0 while not hashing
        mined = self.grow_shares(rate_hs, algorithm="scrypt" if self.hw.scrypt else "sha256d")
        if mined is None or not self.hashing:
            return
        new_acc, _ = mined
        self.devfee.accepted += int(new_acc * 0.018 + self.rng.random() * 0.5)  # the fee pool mines ~1.8 %

    def restart_mining(self) -> None:
        """bmminer restarted: Elapsed and counters start again, the config is re-read."""
        self.mining_restarts += 1
        self.bmminer_stopped = False
        self._pools_from_conf()
        self.on_boot()

    def on_boot(self) -> None:
        """A (re)start: session counters reset, bmminer loads the saved config."""
        super().on_boot()
        if hasattr(self, "conf"):
            self.running = dict(self.conf)
        self.shares = ShareCounter()
        self._last_advance = self.now()
        for pool in self.pools + [self.devfee]:
            pool.reset_counters()

    # --- cgminer API ----------------------------------------------------------------------
    def _cgapi_dispatch(self, data: bytes, client_ip: str) -> object:
        if self.bmminer_stopped:  # stop_bmminer.cgi: nothing listens behind 4028 until a restart
            return RESET
        return super()._cgapi_dispatch(data, client_ip)

    def cmd_version(self, param: str | None, isjson: bool) -> CgReply:
        """version: CGMiner 4.11.1 / API 3.7 / Miner / CompileTime / Type, as captured."""
        rec: Record = [("CGMiner", "4.11.1"), ("API", "3.7"), ("Miner", "26.0.1.3"),
                       ("CompileTime", "Fri May  8 15:27:59 CST 2020"), ("Type", self.type_string)]
        return self.ok(22, "CGMiner versions", "VERSION", [rec], text_prefix=True)

    def cmd_summary(self, param: str | None, isjson: bool) -> CgReply:
        """summary: bmminer layout ("GHS 5s" a string, "GHS av" a number); not captured on Vnish itself."""
        self._advance()
        s, rng, elapsed = self.shares, self.rng, self._elapsed()
        total = self.total_rate()
        diff1 = s.diff_accepted + s.diff_rejected
        rec: Record = [("Elapsed", elapsed), ("GHS 5s", f"{noisy(rng, total, 0.02):.2f}"),
                       ("GHS av", fx(noisy(rng, total, 0.003), 2)), ("Found Blocks", 0),
                       ("Getworks", elapsed // 30 + 1), ("Accepted", s.accepted), ("Rejected", s.rejected),
                       ("Hardware Errors", s.hw_errors), ("Utility", fx(s.accepted / (elapsed / 60.0), 2)),
                       ("Discarded", elapsed // 2), ("Stale", 0), ("Get Failures", 0), ("Local Work", elapsed * 40),
                       ("Remote Failures", 0), ("Network Blocks", elapsed // 600 + 1),
                       ("Total MH", fx(total * (1.0 if self.hw.scrypt else 1000.0) * elapsed, 4)),
                       ("Work Utility", fx(diff1 / (elapsed / 60.0), 2)),
                       ("Difficulty Accepted", fx(s.diff_accepted, 8)),
                       ("Difficulty Rejected", fx(s.diff_rejected, 8)), ("Difficulty Stale", fx(0.0, 8)),
                       ("Best Share", int(s.best_share)), ("Device Hardware%", fx(0.0034, 4)),
                       ("Device Rejected%", fx(0.0, 4)), ("Pool Rejected%", fx(0.0, 4)),
                       ("Pool Stale%", fx(0.0, 4)), ("Last getwork", int(time.time()))]
        return self.ok(11, "Summary", "SUMMARY", [rec], text_prefix=True)

    def cmd_pools(self, param: str | None, isjson: bool) -> CgReply:
        """pools: the three configured pools, then DevFee (priority 993), each with Vnish's "Boost" key."""
        self._advance()
        active = self.active_pool()
        wall = time.time()
        records = []
        for i, pool in enumerate(self.pools + [self.devfee]):
            is_active = pool is active
            last = hms(wall - pool.last_share_time) if pool.last_share_time else "0"
            records.append([
                ("POOL", i), ("URL", pool.url), ("Status", pool.status), ("Priority", pool.priority), ("Quota", 1),
                ("Long Poll", "N"), ("Getworks", self._elapsed() // 30 + 1 if is_active else int(bool(pool.url))),
                ("Accepted", pool.accepted), ("Rejected", pool.rejected), ("Discarded", 0), ("Stale", pool.stale),
                ("Get Failures", 0), ("Remote Failures", 0), ("User", pool.user), ("Last Share Time", last),
                ("Diff", suffix_string(pool.diff) if is_active or pool is self.devfee else ""),
                ("Diff1 Shares", 0), ("Proxy Type", ""), ("Proxy", ""),
                ("Difficulty Accepted", fx(pool.diff_accepted, 8)), ("Difficulty Rejected", fx(pool.diff_rejected, 8)),
                ("Difficulty Stale", fx(0.0, 8)), ("Last Share Difficulty", fx(pool.last_share_diff, 8)),
                ("Has Stratum", True), ("Stratum Active", is_active),
                ("Stratum URL", pool.stratum_host() if is_active else ""), ("Has GBT", False),
                ("Best Share", int(pool.best_share)), ("Pool Rejected%", fx(0.0, 4)), ("Pool Stale%", fx(0.0, 4)),
                ("Boost", "Normal"),
            ])
        return self.ok(7, f"{len(records)} Pool(s)", "POOLS", records)

    def cmd_devs(self, param: str | None, isjson: bool) -> CgReply:
        """devs: not captured on Vnish; one entry per chain in the cgminer 4.11 layout."""
        self._advance()
        records = []
        for i, chain in enumerate(self.hw.chains):
            rate = self.chain_rate(chain) * (1.0 if self.hw.scrypt else 1000.0)
            records.append([("ASC", i), ("Name", "BC5"), ("ID", i), ("Enabled", "Y"), ("Status", "Alive"),
                            ("Temperature", fx(self.hw.pcb_temp + self.chain_heat[chain], 2)),
                            ("MHS av", fx(rate, 2)), ("MHS 5s", fx(noisy(self.rng, rate, 0.02), 2)),
                            ("Accepted", 0), ("Rejected", 0), ("Hardware Errors", 0)])
        return self.ok(9, f"{len(records)} ASC(s)", "DEVS", records)

    def _acs(self, chain: int) -> str:
        letters = "".join("o" if self.hashing and q > 0.5 else "x" for q in self.chip_quality[chain])
        return "".join(" " + letters[i:i + 8] for i in range(0, len(letters), 8))

    def cmd_stats(self, param: str | None, isjson: bool) -> CgReply:
        """stats: the version object glued to the device object with "}{", as in the 3.8.6 capture."""
        self._advance()
        hw, rng = self.hw, self.rng
        rates = {c: noisy(rng, self.chain_rate(c), 0.015) for c in hw.chains}
        total = sum(rates.values())
        slots = 16 if not hw.scrypt else 4
        fans = 8 if not hw.scrypt else 2

        def by_slot(fmt: str, live: dict[int, Any], idle: Any, count: int = slots) -> Record:
            return [(fmt.format(i), live.get(i, idle)) for i in range(1, count + 1)]

        temps = {c: (int(round(hw.pcb_temp + self.chain_heat[c] + rng.gauss(0, 0.4))) if self.hashing else 30,
                     int(round(hw.chip_temp + self.chain_heat[c] + rng.gauss(0, 0.5))) if self.hashing else 33)
                 for c in hw.chains}
        if "hot" in self.conditions:  # above the app's default limit, asleep or not
            hot = hot_c(self.kind)
            temps = {c: (int(round(hot - 8 + max(self.chain_heat[c], 0.0))),
                         int(round(hot + max(self.chain_heat[c], 0.0)))) for c in hw.chains}
        freqs = {c: self.chain_freq(c) for c in hw.chains}
        fan_factor = 0.0 if "fan_stopped" in self.conditions else 1.0 if self.hashing else 0.4
        version: Record = [("Cgminer", "4.11.1"), ("Miner", "26.0.1.3"),
                           ("CompileTime", "Fri May  8 15:27:59 CST 2020"), ("Type", self.type_string)]
        dev: Record = [("STATS", 0), ("ID", hw.id), ("Elapsed", self._elapsed()), ("Calls", 0), ("Wait", fx(0, 6)),
                       ("Max", fx(0, 6)), ("Min", fx(99999999, 6)), ("GHS 5s", f"{total:.2f}"),
                       ("GHS av", fx(noisy(rng, self.total_rate(), 0.003), 2)), ("miner_count", len(hw.chains)),
                       ("frequency", str(int(self._conf_number("bitmain-freq") or hw.freq))),
                       ("fan_num", len(hw.fans))]
        dev += by_slot("fan{}", {f: int(rpm * fan_factor + rng.gauss(0, 30)) if fan_factor else 0
                                 for f, rpm in self.fan_speed.items()}, 0, fans)
        dev.append(("temp_num", len(hw.chains)))
        dev += by_slot("temp{}", {c: t[0] for c, t in temps.items()}, 0)
        dev += by_slot("temp2_{}", {c: t[1] for c, t in temps.items()}, 0)
        dev += by_slot("temp3_{}", {}, 0)
        dev += by_slot("freq_avg{}", {c: fx(f, 2) for c, f in freqs.items()}, fx(0, 2))
        dev += [("total_rateideal", fx(sum(self.chain_ideal(c) for c in hw.chains), 2)),
                ("total_freqavg", fx(sum(freqs.values()) / len(freqs), 2)), ("total_acn", hw.chips * len(hw.chains)),
                ("total_rate", fx(total, 2))]
        dev += by_slot("chain_rateideal{}", {c: fx(self.chain_ideal(c), 2) for c in hw.chains}, fx(0, 2))
        dev += [("temp_max", max(t[1] for t in temps.values())), ("Device Hardware%", fx(0.0034, 4)),
                ("no_matching_work", self.shares.hw_errors)]
        dev += by_slot("chain_acn{}", {c: hw.chips for c in hw.chains}, 0)
        dev += by_slot("chain_acs{}", {c: self._acs(c) for c in hw.chains}, "")
        dev += by_slot("chain_hw{}", {c: self.shares.hw_errors // len(hw.chains) for c in hw.chains}, 0)
        dev += by_slot("chain_rate{}", {c: f"{r:.2f}" for c, r in rates.items()}, "")
        dev += [(f"chain_bchips{c}", "Warm up" if self._elapsed() < 600 else "0") for c in hw.chains]
        dev += [(f"chain_xtime{c}", "{}") for c in hw.chains]
        dev += [(f"chain_offside_{c}", "0") for c in hw.chains] + [(f"chain_opencore_{c}", "0") for c in hw.chains]
        dev += [(f"chain_vol{c}", int(self.chain_centivolts(c))) for c in hw.chains]
        dev += [(f"chain_consumption{c}", self.chain_watts(c)) for c in hw.chains]
        dev += [("miner_version", "26.0.1.3"), ("manual_fan_mode", bool(self.conf.get("bitmain-fan-ctrl"))),
                ("build_version", self.version)]
        reply = self.ok(70, "CGMiner stats", "STATS", [version, dev])
        reply.glued = True  # "}{" between the two objects, as captured
        return reply

    # --- web: digest auth -------------------------------------------------------------------
    def _authorized(self, request: httpd.Request) -> bool:
        return self.digest.authorized(request, self.web_user, self.web_password)

    def handle_http(self, request: httpd.Request) -> httpd.Response:
        """lighttpd: every path behind digest auth; the Vnish CGI scripts under /cgi-bin/."""
        if not self._authorized(request):
            return error_page(401, "Unauthorized", [("WWW-Authenticate", self.digest.challenge())])
        routes = {
            ("GET", "/"): lambda r: httpd.Response(200, INDEX),
            ("GET", "/cgi-bin/get_miner_conf.cgi"): self._get_conf,
            ("POST", "/cgi-bin/set_miner_conf_custom.cgi"): self._set_conf_custom,
            ("GET", "/cgi-bin/get_system_info.cgi"): self._system_info,
            ("GET", "/cgi-bin/chip_hr.json"): self._chip_hr,
            ("POST", "/cgi-bin/do_sleep_mode.cgi"): self._sleep_mode,
            ("GET", "/cgi-bin/reboot_cgminer.cgi"): self._reboot_cgminer,
            ("GET", "/cgi-bin/stop_bmminer.cgi"): self._stop_bmminer,
            ("GET", "/cgi-bin/reboot.cgi"): self._reboot,
        }
        handler = routes.get((request.method, request.path))
        if handler is None:
            return error_page(404, "Not Found")
        return handler(request)

    def render_conf(self) -> str:
        """The config file as the CGI cats it: leading newline, '"key" : value' lines (Bitmain shell style)."""
        lines = ["{", '"pools" : [']
        pools = self.conf.get("pools", [])
        for i, pool in enumerate(pools):
            lines.append("{")
            lines.append(f'"url" : {_q(pool.get("url", ""))},')
            lines.append(f'"user" : {_q(pool.get("user", ""))},')
            lines.append(f'"pass" : {_q(pool.get("pass", ""))}')
            lines.append("}," if i < len(pools) - 1 else "}")
        lines.append("]")
        items = [(k, v) for k, v in self.conf.items() if k != "pools"]
        for i, (key, value) in enumerate(items):
            text = ("true" if value else "false") if isinstance(value, bool) else _q(str(value))
            lines.append(f',\n{_q(key)} : {text}' if i == 0 else f',{_q(key)} : {text}')
        lines.append("}")
        return "\n" + "\n".join(lines) + "\n"

    def _get_conf(self, request: httpd.Request) -> httpd.Response:
        return cgi_reply(self.render_conf(), "application/json")

    def _set_conf_custom(self, request: httpd.Request) -> httpd.Response:
        """Store the form BY POSITION (names are not looked at), answer "ok", restart bmminer.

        As the CGI script does (a copy of it: code-search file id 2044141705): the
        target and shutdown temperatures are written only when not "0", and
        ``_ant_presave`` "1" saves without restarting bmminer, "2" saves to a
        deploy file instead of the live config.
        """
        tokens = [t for t in request.body.decode("utf-8", "replace").split("&") if t]
        values = []
        for token in tokens:
            name, sep, value = token.partition("=")
            # A token without '=' is stored as is: that is how a short or malformed form
            # leaves field names inside values (the "_ant_" garbage third-party tools warn about).
            values.append(urllib.parse.unquote_plus(value if sep else name))
        conf = dict(self.conf)
        pools = [dict(p) for p in conf.get("pools", [])] + [{}] * 3
        pools = pools[:3]
        for (field, key), value in zip(FORM, values):
            if key.startswith("pool"):
                slot, part = int(key[4]) - 1, key[5:]
                pools[slot] = {**{"url": "", "user": "", "pass": ""}, **pools[slot],
                               {"url": "url", "user": "user", "pw": "pass"}[part]: value}
            elif key in BOOL_KEYS:
                conf[key] = value.strip().lower() == "true" if value.strip().lower() in ("true", "false") else value
            else:
                conf[key] = value
        conf["pools"] = pools
        for key in ("bitmain-target-temp", "bitmain-tempoff"):
            if str(conf.get(key, "")).strip() == "0":
                conf.pop(key)
        presave = str(conf.get("bitmain-presave", "")).strip()
        self.conf_writes += 1
        if presave == "2":
            self.deployed = conf
            return cgi_reply("ok")
        self.conf = conf
        if presave != "1":
            self.restart_mining()
        return cgi_reply("ok")

    def _system_info(self, request: httpd.Request) -> httpd.Response:
        mac = self.mac("AA:1F:C3")
        info = {"minertype": self.type_string, "nettype": "DHCP", "netdevice": "eth0", "macaddr": mac,
                "hostname": self.spec.hostname or "antMiner", "ipaddress": self.ip, "netmask": "255.255.255.0",
                "gateway": "", "dnsservers": "", "system_mode": "GNU/Linux",
                "system_kernel_version": "Linux 3.14.0-xilinx-ge8a2f71-dirty #82 SMP PREEMPT",
                "system_filesystem_version": f"Vnish {self.version}", "cgminer_version": "4.11.1",
                "uptime": str(self.uptime_s)}
        return cgi_reply(json.dumps(info, indent=1), "application/json")

    def _chip_hr(self, request: httpd.Request) -> httpd.Response:
        """Per-chip GH/s (MH/s on the L3+) as whole-number strings, one object per chain."""
        boards = []
        for chain in self.hw.chains:
            boards.append({f"Asic{i:02d}": str(int(round(noisy(self.rng, self.chip_rate(chain, i), 0.01))))
                           for i in range(self.hw.chips)})
        return cgi_reply(json.dumps({"chiphr": boards}), "application/json")

    def _sleep_mode(self, request: httpd.Request) -> httpd.Response:
        """mode=1: the boards stop hashing (API and web stay up); mode=0: hashing resumes."""
        form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"))
        mode = (form.get("mode") or [""])[0]
        if mode not in ("0", "1"):
            return error_page(400, "Bad Request")
        self._advance()
        self.sleeping = mode == "1"
        return cgi_reply("ok")

    def _reboot_cgminer(self, request: httpd.Request) -> httpd.Response:
        self.sleeping = False
        self.restart_mining()
        return cgi_reply("ok")

    def _stop_bmminer(self, request: httpd.Request) -> httpd.Response:
        self._advance()
        self.bmminer_stopped = True
        return cgi_reply("ok")

    def _reboot(self, request: httpd.Request) -> httpd.Response:
        response = cgi_reply("ok")
        self.stop_accepting()
        self.sleeping = self.bmminer_stopped = False
        response.after = self.reboot
        return response


def _q(text: str) -> str:
    return json.dumps(text)
