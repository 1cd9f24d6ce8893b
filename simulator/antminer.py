"""Stock Antminer (Bitmain bmminer/cgminer build): read-only cgminer API on 4028, digest-auth web CGI on 80.

Shapes are modelled on replies recorded from stock units (reference section 4;
antminer/stats.s19_sleeping.json, version.s19_sleeping.json, stats.s17_cgminer.json
and the Foreman S9 and L3+ captures): S9 chains 6..8 and fans 5/6, "}{" between
the two STATS objects on S9/L3+, X19 "a-b-c-d" temperature strings and the
"Pool Stale%%" typo, MH/s in the "GHS" fields of the scrypt L3+.

The web CGI (antminer_cgi.py for the formats): the S19 speaks the X19 JSON
dialect (set_miner_conf.cgi takes JSON, ``miner-mode`` 0/1/3 written,
``bitmain-work-mode`` read back); the S9 and L3+ run the 2017 shell scripts
(positional urlencoded form, no work mode). Sleep makes the API report zero
hashrate with every chip 'x' and the fans still turning (stats.s19_sleeping.json).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Callable

from . import httpd
from .digest import DigestRealm
from .antminer_cgi import legacy_rewrite, legacy_system_info, parse_legacy_form, render_conf
from .bitmain import READ_COMMANDS, REALM, SERVER, cgi_reply, error_page
from .cgapi import CgReply, Record, Segment
from .cgminer import CgApiMiner, Pool, pools_from_conf
from .conditions import CONDITIONS, hot_c
from .formats import fx, hms, pct, suffix_string
from .miner import CGAPI, HTTP
from .models import SCRYPT, resolve_antminer
from .physics import ShareCounter, noisy
from .spec import MinerSpec

# Simulator choices where no capture says: low power runs the boards at 70 % hashrate with
# fans at 80 %; a sleeping X19 keeps its fans at ~36 % (1560 of ~4300 RPM in the capture)
# and its boards at ambient (~40 C in the capture).
LOW_POWER_FACTOR = 0.7
SLEEP_FAN_FACTOR = 0.36
SLEEP_TEMP = 39.0
WORK_MODES = {0: "normal", 1: "sleep", 3: "low"}  # miner-mode / bitmain-work-mode (pyasic MiningMode*)
CONF_OK = {"stats": "success", "code": "M000", "msg": "OK!"}  # X19 set_miner_conf.cgi reply (field notes)
INDEX_PAGE = (b'<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"><title>Antminer</title></head>\n'
              b'<body><h1>antMiner Configuration</h1></body>\n</html>\n')


class AntminerMiner(CgApiMiner):
    """A stock S9, S19 or L3+."""

    kind = "antminer"
    protocols = (CGAPI, HTTP)
    supported_conditions = frozenset(CONDITIONS)

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.hw = hw = resolve_antminer(spec.model)
        self.supports_join = hw.joins  # pyasic: joined commands "don't work for S19"
        rng = self.rng
        self.chain_quality = {c: rng.uniform(0.985, 1.015) for c in hw.chains}
        self.chain_heat = {c: rng.uniform(-2.5, 2.5) for c in hw.chains}
        self.fan_speed = {f: int(hw.fan_rpm * rng.uniform(0.94, 1.06)) for f in hw.fans}
        self.miner_id = hashlib.sha1(f"miner_id:{spec.ip}".encode()).hexdigest()[:16]
        octets = spec.ip.split(".")
        worker = f"sim.{octets[2]}x{octets[3]}"
        if spec.pools:
            pools = list(spec.pools)
        elif hw.algorithm == SCRYPT:
            pools = [("stratum+tcp://us.litecoinpool.org:3333", worker), ("stratum+tcp://ltc.viabtc.com:3333", worker)]
        else:
            pools = [("stratum+tcp://stratum.braiins.com:3333", worker), ("stratum+tcp://btc.viabtc.com:3333", worker)]
        while len(pools) < 3:  # the stock config always holds three pools, unused ones empty
            pools.append(("", ""))
        self.pools = [Pool(url, user, priority=i, diff=hw.pool_diff) for i, (url, user) in enumerate(pools)]
        self.web_user = "root"
        self.web_password = "root"
        self.modern_cgi = hw.x19  # X19 JSON CGI; S9/L3+ run the 2017 positional shell scripts
        self.work_mode = 0  # miner-mode: 0 normal, 1 sleep, 3 low power (X19 only)
        self.bad_chips: dict[int, set[int]] = {}  # chain -> chip positions shown as 'x' (tests set these)
        self.hostname = spec.hostname or ("Antminer" if self.modern_cgi else "antMiner")
        self.conf: dict[str, Any] = self._factory_conf()
        self.conf_writes = 0  # accepted set_miner_conf.cgi calls (tests: "nothing changed")
        self.digest = DigestRealm(REALM, spec.ip)  # lighttpd mod_auth
        self._segments: dict[object, Segment] = {}
        self._boot_wall = time.time()
        self.commands = self.bind_reports(READ_COMMANDS)

    @property
    def model(self) -> str:
        """VERSION[0].Type, e.g. "Antminer S9"."""
        return self.hw.type

    @property
    def sleeping(self) -> bool:
        """True while the hash boards sleep (miner-mode 1)."""
        return self.work_mode == 1

    def _factory_conf(self) -> dict[str, Any]:
        """/config/cgminer.conf as shipped: S19 per the Dec 2020 capture, S9/L3+ per the Foreman 2017 captures."""
        hw = self.hw
        pools = [{"url": p.url, "user": p.user, "pass": p.password if p.url else ""} for p in self.pools]
        conf: dict[str, Any] = {"pools": pools, "api-listen": True, "api-network": True}
        if self.modern_cgi:
            conf.update({"api-groups": "A:stats:pools:devs:summary:version", "api-allow": "A:0/0,W:*",
                         "bitmain-fan-ctrl": False, "bitmain-fan-pwm": "100", "bitmain-use-vil": True,
                         "bitmain-freq": str(hw.freq), "bitmain-voltage": "1400", "bitmain-ccdelay": "0",
                         "bitmain-pwth": "0", "bitmain-work-mode": "0", "bitmain-freq-level": "100"})
        elif hw.algorithm == SCRYPT:
            conf.update({"api-groups": "A:stats:pools:devs:summary:version", "api-allow": "A:0/0,W:*",
                         "bitmain-freq": str(hw.freq)})
        else:
            conf.update({"api-groups": "A:stats:pools:devs:summary:version:noncenum", "api-allow": "A:0/0,W:*",
                         "bitmain-use-vil": True, "bitmain-freq": str(hw.freq), "multi-version": "1"})
        return conf

    def _apply_conf(self, conf: dict[str, Any]) -> None:
        """Write the config file and restart bmminer with it (pools, work mode); the web stays up.

        Both script generations restart the mining process after a write (legacy:
        cgminer.sh restart; S19 XP field notes: a mode change restarts bmminer), so
        Elapsed and the share counters start again. The real legacy script sleeps
        ~6 s before answering; the simulator answers at once.
        """
        self.conf = conf
        self.conf_writes += 1
        self.pools = pools_from_conf(conf.get("pools", []), self.hw.pool_diff)
        if self.modern_cgi:
            try:
                self.work_mode = int(str(conf.get("bitmain-work-mode", "0")))
            except ValueError:
                self.work_mode = 0
        self.on_boot()

    @property
    def description(self) -> str:
        """STATUS Description ("bmminer 1.0.0" on S9, "cgminer 1.0.0" on S19, "cgminer 4.9.0" on L3+)."""
        return self.hw.description

    def allowed(self, command: str) -> bool:
        """Only the five read commands of the stock api-groups answer from the LAN."""
        return command in READ_COMMANDS

    def on_boot(self) -> None:
        """bmminer restarted: Elapsed and share counters start again."""
        super().on_boot()
        self.shares = ShareCounter()
        self._last_advance = self.now()
        self._boot_wall = time.time()
        for pool in self.pools:
            pool.reset_counters()

    # --- physics ---------------------------------------------------------------------
    def _mode_factor(self) -> float:
        return 0.0 if self.sleeping else LOW_POWER_FACTOR if self.work_mode == 3 else 1.0

    def live_chains(self) -> tuple[int, ...]:
        """The chains bmminer finds: under "board_down" the first one is gone (acn 0, acs "", rate "").

        That is how the recorded stats.s19_sleeping.json shows its lost chain 1:
        no chips, no rate, no temperatures, and miner_count/total_acn/total_rateideal
        counting only the chains found.
        """
        return self.hw.chains[1:] if "board_down" in self.conditions else self.hw.chains

    def chain_rate(self, chain: int) -> float:
        """Noise-free rate of one chain in the firmware's unit (GH/s, MH/s on scrypt); 0 asleep, less in low power."""
        if chain not in self.live_chains():
            return 0.0
        working = 1.0 - len(self.bad_chips.get(chain, ())) / self.hw.chips
        return self.hw.rate_per_chain * self.chain_quality[chain] * working * self._mode_factor()

    def total_rate(self) -> float:
        """Noise-free total in the firmware's unit."""
        return sum(self.chain_rate(c) for c in self.live_chains())

    def hashrate_hs(self) -> float:
        """Noise-free hashes per second."""
        return self.total_rate() * (1e6 if self.hw.algorithm == SCRYPT else 1e9)

    def _advance(self) -> None:
        self.grow_shares(self.hashrate_hs(), algorithm=self.hw.algorithm)

    def _temps(self, chain: int) -> tuple[int, int]:
        """(PCB, chip) temperature of one chain (ambient while asleep, a little cooler in low power, "hot")."""
        if "hot" in self.conditions:  # the readings, asleep or not: a broken cooling does not heal itself
            chip = hot_c(self.kind) + max(self.chain_heat[chain], 0.0) + self.rng.gauss(0.0, 0.5)
            return int(round(chip - 6.0)), int(round(chip))
        if self.sleeping:
            ambient = SLEEP_TEMP + self.rng.gauss(0.0, 0.6)
            return int(round(ambient)), int(round(ambient))
        cooler = 6.0 if self.work_mode == 3 else 0.0
        pcb = self.hw.pcb_temp - cooler + self.chain_heat[chain] + self.rng.gauss(0.0, 0.4)
        chip = self.hw.chip_temp - cooler + self.chain_heat[chain] + self.rng.gauss(0.0, 0.5)
        return int(round(pcb)), int(round(chip))

    def _chain_hw(self, chain: int) -> int:
        share = self.chain_quality[chain] / sum(self.chain_quality[c] for c in self.live_chains())
        return int(self.shares.hw_errors * share)

    def _acs(self, chain: int) -> str:
        # One letter per chip, grouped in eights (S9/L3+) or pairs (X19), each group space-led:
        # 'o' answering, 'x' not answering (every chip of the sleeping S19 capture is 'x').
        group = 2 if self.hw.x19 else 8
        chips = self.hw.chips
        bad = self.bad_chips.get(chain, set())
        letters = "".join("x" if self.sleeping or i in bad else "o" for i in range(chips))
        return "".join(" " + letters[i:i + group] for i in range(0, chips, group))

    # --- commands ---------------------------------------------------------------------
    def _version_record(self, api: bool) -> Record:
        hw = self.hw
        rec: Record = [(hw.version_key, hw.version)]
        if api:
            rec.append(("API", "3.1"))
        rec += [("Miner", hw.miner), ("CompileTime", hw.compile_time), ("Type", hw.type)]
        return rec

    def cmd_version(self, param: str | None, isjson: bool) -> CgReply:
        """version: firmware ids and the model in Type."""
        return self.ok(22, self.hw.version_msg, "VERSION", [self._version_record(True)], text_prefix=True)

    def _rate_value(self, value: float, as_string: bool) -> object:
        # cgminer-4.9-era builds (S9, L3+) write "GHS 5s" as a string, "GHS av" as a number.
        return f"{value:.2f}" if as_string else fx(value, 2)

    def cmd_summary(self, param: str | None, isjson: bool) -> CgReply:
        """summary: GHS 5s/av (MH/s on L3+), shares, difficulty totals; no power anywhere."""
        self._advance()
        hw, rng, s = self.hw, self.rng, self.shares
        total, elapsed = self.total_rate(), self._elapsed()
        minutes = elapsed / 60.0
        diff1 = s.diff_accepted + s.diff_rejected
        getworks = elapsed // 30 + 1
        rec: Record = [("Elapsed", elapsed), ("GHS 5s", self._rate_value(noisy(rng, total, 0.02), not hw.x19)),
                       ("GHS av", fx(noisy(rng, total, 0.003), 2))]
        if hw.x19:
            rec.append(("GHS 30m", fx(noisy(rng, total, 0.006), 2)))
        rec += [("Found Blocks", 0), ("Getworks", getworks), ("Accepted", s.accepted), ("Rejected", s.rejected),
                ("Hardware Errors", s.hw_errors), ("Utility", fx(s.accepted / minutes, 2)),
                ("Discarded", getworks * 12), ("Stale", 0), ("Get Failures", 0), ("Local Work", getworks * 60),
                ("Remote Failures", 0), ("Network Blocks", elapsed // 600 + 1),
                ("Total MH", fx(total * (1.0 if hw.algorithm == SCRYPT else 1000.0) * elapsed, 4)),
                ("Work Utility", fx(diff1 / minutes, 2)), ("Difficulty Accepted", fx(s.diff_accepted, 8)),
                ("Difficulty Rejected", fx(s.diff_rejected, 8)), ("Difficulty Stale", fx(0.0, 8)),
                ("Best Share", int(s.best_share)),
                ("Device Hardware%", fx(pct(s.hw_errors, s.hw_errors + diff1), 4)),
                ("Device Rejected%", fx(pct(s.diff_rejected, diff1), 4)),
                ("Pool Rejected%", fx(pct(s.diff_rejected, diff1), 4)), ("Pool Stale%", fx(0.0, 4)),
                ("Last getwork", int(time.time()))]
        return self.ok(11, "Summary", "SUMMARY", [rec], text_prefix=True)

    def cmd_pools(self, param: str | None, isjson: bool) -> CgReply:
        """pools: bmminer layout ("Last Share Time" as H:MM:SS, suffixed "Diff", X19 "Pool Stale%%")."""
        self._advance()
        active = self.active_pool()
        wall = time.time()
        records: list[Record] = []
        for i, pool in enumerate(self.pools):
            total = pool.diff_accepted + pool.diff_rejected
            is_active = pool is active
            getworks = (self._elapsed() // 30 + 1) if is_active else (1 if pool.url else 0)
            last = hms(wall - pool.last_share_time) if pool.last_share_time else "0"
            records.append([
                ("POOL", i), ("URL", pool.url), ("Status", pool.status), ("Priority", pool.priority), ("Quota", 1),
                ("Long Poll", "N"), ("Getworks", getworks), ("Accepted", pool.accepted),
                ("Rejected", pool.rejected), ("Discarded", getworks * 12 if is_active else 0), ("Stale", pool.stale),
                ("Get Failures", 0), ("Remote Failures", 0), ("User", pool.user), ("Last Share Time", last),
                ("Diff", suffix_string(pool.diff) if pool.url else ""), ("Diff1 Shares", 0), ("Proxy Type", ""),
                ("Proxy", ""), ("Difficulty Accepted", fx(pool.diff_accepted, 8)),
                ("Difficulty Rejected", fx(pool.diff_rejected, 8)), ("Difficulty Stale", fx(0.0, 8)),
                ("Last Share Difficulty", fx(pool.last_share_diff, 8)), ("Has Stratum", bool(pool.url)),
                ("Stratum Active", is_active), ("Stratum URL", pool.stratum_host() if is_active else ""),
                ("Has GBT", False), ("Best Share", int(pool.best_share)),
                ("Pool Rejected%", fx(pct(pool.diff_rejected, total), 4)),
                ("Pool Stale%%" if self.hw.x19 else "Pool Stale%", fx(0.0, 4)),
            ])
        return self.ok(7, f"{len(self.pools)} Pool(s)", "POOLS", records)

    def cmd_devs(self, param: str | None, isjson: bool) -> CgReply:
        """devs: one pseudo-device with zero hashrate (X19 BTM_SOC shape, incl. the "Tenperature" typo).

        The X19 shape is recorded (reference section 4); S9/L3+ use the same shape
        with their own device name, which is not verified against a capture.
        """
        self._advance()
        s, elapsed, hw = self.shares, self._elapsed(), self.hw
        diff1 = s.diff_accepted + s.diff_rejected
        now = int(time.time())
        rec: Record = [
            ("ASC", 0), ("Name", "BTM_SOC" if hw.x19 else hw.stats_id.rstrip("0")), ("ID", 0), ("Enabled", "Y"),
            ("Status", "Alive"), ("Tenperature" if hw.x19 else "Temperature", fx(0.0, 2)),
            ("MHS av", fx(0.0, 2)), ("MHS 5s", fx(0.0, 2)), ("MHS 1m", fx(0.0, 2)), ("MHS 5m", fx(0.0, 2)),
            ("MHS 15m", fx(0.0, 2)), ("Accepted", s.accepted), ("Rejected", s.rejected),
            ("Hardware Errors", s.hw_errors), ("Utility", fx(s.accepted / (elapsed / 60.0), 2)),
            ("Last Share Pool", 0), ("Last Share Time", int(s.last_share_at or 0)), ("Total MH", fx(0.0, 4)),
            ("Diff1 Work", int(diff1)), ("Difficulty Accepted", fx(s.diff_accepted, 8)),
            ("Difficulty Rejected", fx(s.diff_rejected, 8)), ("Last Share Difficulty", fx(hw.pool_diff, 8)),
            ("Last Valid Work", now), ("Device Hardware%", fx(pct(s.hw_errors, s.hw_errors + diff1), 4)),
            ("Device Rejected%", fx(pct(s.diff_rejected, diff1), 4)), ("Device Elapsed", elapsed),
        ]
        return self.ok(9, "1 ASC(s)", "DEVS", [rec])

    def cmd_stats(self, param: str | None, isjson: bool) -> CgReply:
        """stats: a version block and a device block (glued "}{" on S9/L3+)."""
        self._advance()
        hw = self.hw
        version_block: Record = [self._seg("version", lambda: self._version_record(False))]
        if hw.x19:
            device = self._stats_x19()
        elif hw.algorithm == SCRYPT:
            device = self._stats_l3()
        else:
            device = self._stats_s9()
        reply = self.ok(70, hw.stats_msg, "STATS", [version_block, device])
        reply.glued = hw.glued_stats
        return reply

    # Static parts of 'stats' are encoded once per miner (cgapi.Segment): empty chain
    # slots, fixed identity fields. Only the live values are encoded per request.
    def _seg(self, key: object, build: Callable[[], list[tuple[str, object]]]) -> Segment:
        seg = self._segments.get(key)
        if seg is None:
            seg = self._segments[key] = Segment(build())
        return seg

    def _indexed(self, fmt: str, count: int, live: dict[int, object], idle: object) -> Record:
        """``fmt.format(i)`` for i in 1..count: live values where given, cached Segments for idle runs."""
        out: Record = []
        run: list[int] = []

        def flush() -> None:
            if run:
                keys = tuple(run)
                out.append(self._seg((fmt, keys, idle), lambda: [(fmt.format(i), idle) for i in keys]))
                run.clear()

        for i in range(1, count + 1):
            if i in live:
                flush()
                out.append((fmt.format(i), live[i]))
            else:
                run.append(i)
        flush()
        return out

    def _slots(self, fmt: str, live: dict[int, object], idle: object) -> Record:
        return self._indexed(fmt, self.hw.chain_slots, live, idle)

    def _stats_head(self) -> tuple[Record, dict[int, float], float]:
        hw, rng = self.hw, self.rng
        rates = {c: noisy(rng, self.chain_rate(c), 0.02) for c in self.live_chains()}
        total = sum(rates.values())
        head: Record = [("STATS", 0), ("ID", hw.stats_id), ("Elapsed", self._elapsed()),
                        self._seg("timing", lambda: [("Calls", 0), ("Wait", fx(0, 6)), ("Max", fx(0, 6)),
                                                     ("Min", fx(99999999, 6))]),
                        ("GHS 5s", self._rate_value(total, not hw.x19)),
                        ("GHS av", fx(noisy(rng, self.total_rate(), 0.003), 2))]
        return head, rates, total

    def _fans(self) -> Record:
        rng = self.rng
        factor = SLEEP_FAN_FACTOR if self.sleeping else 0.8 if self.work_mode == 3 else 1.0
        if "fan_stopped" in self.conditions:
            factor = 0.0  # every fan reads 0 rpm (the boards keep hashing)
        live = {i: max(int(rpm * factor + rng.gauss(0, 30)), 0) if factor else 0 for i, rpm in self.fan_speed.items()}
        return self._indexed("fan{}", self.hw.fan_slots, live, 0)

    def _chain_common(self, rates: dict[int, float]) -> Record:
        hw, live = self.hw, self.live_chains()
        return (self._slots("chain_acn{}", {c: hw.chips for c in live}, 0)
                + self._slots("chain_acs{}", {c: self._acs(c) for c in live}, "")
                + self._slots("chain_hw{}", {c: self._chain_hw(c) for c in live}, 0)
                + self._slots("chain_rate{}", {c: f"{rates[c]:.2f}" for c in live}, ""))

    def _stats_s9(self) -> Record:
        hw, live = self.hw, self.live_chains()
        n = len(live)
        head, rates, total = self._stats_head()
        temps = {c: self._temps(c) for c in live}
        hw_total = self.shares.hw_errors
        rec = head + [self._seg(("s9_counts", n), lambda: [("miner_count", n), ("frequency", str(hw.freq)),
                                                           ("fan_num", len(hw.fans))])]
        rec += self._fans()
        rec.append(("temp_num", n))
        rec += self._slots("temp{}", {c: t[0] for c, t in temps.items()}, 0)
        rec += self._slots("temp2_{}", {c: t[1] for c, t in temps.items()}, 0)
        rec += self._slots("temp3_{}", {}, 0)
        rec += self._slots("freq_avg{}", {c: fx(hw.freq, 2) for c in live}, fx(0, 2))
        rec.append(self._seg(("s9_ideal", n), lambda: [
            ("total_rateideal", fx(hw.rate_per_chain * n, 2)), ("total_freqavg", fx(hw.freq, 2)),
            ("total_acn", hw.chips * n)]))
        rec.append(("total_rate", fx(total, 2)))
        rec += self._slots("chain_rateideal{}", {c: fx(hw.rate_per_chain, 2) for c in live}, fx(0, 2))
        rec += [("temp_max", max(t[1] for t in temps.values())),
                ("Device Hardware%", fx(pct(hw_total, hw_total + self.shares.diff_accepted), 4)),
                ("no_matching_work", hw_total)]
        rec += self._chain_common(rates)
        rec.append(self._seg("s9_tail", lambda: (
            [(f"chain_xtime{c}", "{}") for c in hw.chains] + [(f"chain_offside_{c}", "0") for c in hw.chains]
            + [(f"chain_opencore_{c}", "0") for c in hw.chains]
            + [("miner_version", hw.miner), ("miner_id", self.miner_id)])))
        return rec

    def _stats_l3(self) -> Record:
        hw, live = self.hw, self.live_chains()
        n = len(live)
        head, rates, _ = self._stats_head()
        temps = {c: self._temps(c) for c in live}
        hw_total = self.shares.hw_errors
        rec = head + [self._seg(("l3_counts", n), lambda: [("miner_count", n), ("frequency", str(hw.freq)),
                                                           ("fan_num", len(hw.fans))])]
        rec += self._fans()
        rec.append(("temp_num", n))
        rec += self._slots("temp{}", {c: t[0] for c, t in temps.items()}, 0)
        rec += self._slots("temp2_{}", {c: t[1] for c, t in temps.items()}, 0)
        rec += self._slots("temp3{}", {}, 0)  # sic: "temp31".."temp34" in the L3+ capture
        rec += self._slots("temp4_{}", {}, 0)
        rec += [("temp_max", max(t[0] for t in temps.values())),
                ("Device Hardware%", fx(pct(hw_total, hw_total + self.shares.diff_accepted), 4)),
                ("no_matching_work", hw_total)]
        rec += self._chain_common(rates)
        return rec

    def _stats_x19(self) -> Record:
        hw, rng, live = self.hw, self.rng, self.live_chains()
        n = len(live)
        head, rates, total = self._stats_head()
        temps = {c: self._temps(c) for c in live}
        rec = head + [("rate_30m", fx(noisy(rng, self.total_rate(), 0.006), 2)),
                      self._seg(("x19_counts", n), lambda: [("Mode", 2), ("miner_count", n),
                                                            ("frequency", hw.freq), ("fan_num", len(hw.fans))])]
        rec += self._fans()
        rec.append(("temp_num", n))
        for c in live:  # recorded order: temp2, temp2_2, temp3, temp2_3 ...
            rec += [(f"temp{c}", temps[c][0]), (f"temp2_{c}", temps[c][1])]

        def quad(value: int) -> str:
            # Four sensors per board, inlet side about 15 degrees cooler than outlet.
            return f"{value - 15}-{value - 1}-{value - 14}-{value}"

        rec += self._slots("temp_pcb{}", {c: quad(t[0]) for c, t in temps.items()}, "0-0-0-0")
        rec += self._slots("temp_chip{}", {c: quad(t[1]) for c, t in temps.items()}, "0-0-0-0")
        rec += self._slots("temp_pic{}", {c: quad(t[0]) for c, t in temps.items()}, "0-0-0-0")
        rec.append(self._seg(("x19_ideal", n), lambda: [
            ("total_rateideal", fx(hw.rate_per_chain * n, 2)), ("rate_unit", "GH"),
            ("total_freqavg", hw.freq), ("total_acn", hw.chips * n)]))
        rec += [("total rate", fx(total, 2)),  # sic, with a space, as recorded
                ("temp_max", max(t[1] for t in temps.values())), ("no_matching_work", self.shares.hw_errors)]
        rec += self._chain_common(rates)
        rec += self._slots("freq{}", {c: hw.freq for c in live}, 0)
        rec.append(self._seg("x19_tail", lambda: [("miner_version", hw.miner), ("miner_id", self.miner_id)]))
        return rec

    # --- web (lighttpd, digest auth) ------------------------------------------------
    def _authorized(self, request: httpd.Request) -> bool:
        return self.digest.authorized(request, self.web_user, self.web_password, check_uri=True)

    def handle_http(self, request: httpd.Request) -> httpd.Response:
        """Every path needs digest auth (realm "antMiner Configuration"); a refused login changes nothing."""
        if not self._authorized(request):
            return error_page(401, "Unauthorized", [("WWW-Authenticate", self.digest.challenge())])
        if request.path in ("/", "/index.html") and request.method == "GET":
            return httpd.Response(200, INDEX_PAGE, headers=[SERVER])
        cgi = {
            "/cgi-bin/get_system_info.cgi": self._cgi_system_info,
            "/cgi-bin/get_miner_conf.cgi": self._cgi_get_conf,
            "/cgi-bin/set_miner_conf.cgi": self._cgi_set_conf,
            "/cgi-bin/reboot.cgi": self._cgi_reboot,
        }
        if self.modern_cgi:
            cgi["/cgi-bin/summary.cgi"] = self._cgi_summary
        handler = cgi.get(request.path)
        return handler(request) if handler is not None else error_page(404, "Not Found")

    # --- CGI scripts -------------------------------------------------------------------
    def _cgi_system_info(self, request: httpd.Request) -> httpd.Response:
        """get_system_info.cgi: model, network, firmware build (X19: one compact JSON line; 2017: a line per key)."""
        hw = self.hw
        mac = self.mac("C4:F3:12" if not self.modern_cgi else "02:55:97")
        if self.modern_cgi:  # keys and order of the S19j capture (get_system_info.cgi.s19j.json)
            info = {"minertype": hw.type, "nettype": "DHCP", "netdevice": "eth0", "macaddr": mac,
                    "hostname": self.hostname, "ipaddress": self.ip, "netmask": "255.255.255.0", "gateway": "",
                    "dnsservers": "", "system_mode": "GNU/Linux",
                    "system_kernel_version": "Linux 4.6.0-xilinx-g03c746f7 #2 SMP PREEMPT Mon Sep 21 11:50:03 CST 2020",
                    "system_filesystem_version": hw.compile_time, "firmware_type": "Release"}
            return cgi_reply(json.dumps(info, separators=(",", ":")))
        up = self.uptime_s
        fields = {"minertype": hw.type, "nettype": "DHCP", "netdevice": "eth0", "macaddr": mac,
                  "hostname": self.hostname, "ipaddress": self.ip, "netmask": "255.255.255.0", "gateway": "",
                  "dnsservers": "", "curtime": time.strftime("%H:%M:%S"), "uptime": str(up // 60),
                  "loadaverage": "0.62, 0.18, 0.08", "mem_total": "233744", "mem_used": "113632",
                  "mem_free": "120112", "mem_buffers": "764", "mem_cached": "0", "system_mode": "GNU/Linux",
                  "ant_hwv": hw.miner,
                  "system_kernel_version": "Linux 3.14.0-xilinx-gf387dab-dirty #71 SMP PREEMPT Tue Oct 10 10:59:34 CST 2017",
                  "system_filesystem_version": hw.compile_time,
                  f"{hw.version_key.lower()}_version": hw.version}
        return cgi_reply(legacy_system_info(fields))

    def _cgi_get_conf(self, request: httpd.Request) -> httpd.Response:
        """get_miner_conf.cgi: the config file verbatim (X19 output starts with two empty lines)."""
        return cgi_reply(render_conf(self.conf, leading_blank_lines=self.modern_cgi))

    def _cgi_set_conf(self, request: httpd.Request) -> httpd.Response:
        """set_miner_conf.cgi: JSON on X19 (miner-mode written, bitmain-work-mode read), positional form before."""
        if not self.modern_cgi:
            # The 2017 shell script takes whatever stdin holds, by position, and answers "ok".
            keep = ("multi-version",) if "multi-version" in self.conf else ()
            self._apply_conf(legacy_rewrite(self.conf, parse_legacy_form(request.body), keep=keep))
            return cgi_reply("ok\n")
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            body = None
        pools = body.get("pools") if isinstance(body, dict) else None
        # Not captured: the reply to a malformed body. The simulator refuses it and changes nothing.
        if not (isinstance(pools, list) and len(pools) == 3 and all(isinstance(p, dict) for p in pools)):
            return cgi_reply(json.dumps({"stats": "error", "code": "M001", "msg": "Invalid parameters!"}))
        conf = dict(self.conf)
        conf["pools"] = [{"url": str(p.get("url", "")), "user": str(p.get("user", "")), "pass": str(p.get("pass", ""))}
                         for p in pools]
        for key in ("bitmain-fan-ctrl", "bitmain-fan-pwm"):
            if key in body:
                conf[key] = body[key]
        if "freq-level" in body:
            conf["bitmain-freq-level"] = str(body["freq-level"])
        mode = body.get("miner-mode")  # only the write key counts: an echoed bitmain-work-mode is ignored
        if isinstance(mode, int) and not isinstance(mode, bool) and mode in WORK_MODES:
            conf["bitmain-work-mode"] = str(mode)
        elif isinstance(mode, str) and mode.strip().isdigit() and int(mode) in WORK_MODES:
            conf["bitmain-work-mode"] = str(int(mode))  # pyasic's antminer_mining_mode_as_str variant
        self._apply_conf(conf)
        return cgi_reply(json.dumps(CONF_OK, separators=(",", ":")))

    def _cgi_reboot(self, request: httpd.Request) -> httpd.Response:
        """reboot.cgi: answers, then the whole miner (API and web) is gone for restart_seconds.

        The real reply body is not captured; the simulator sends an empty 200.
        """
        response = cgi_reply(b"")
        response.close = True
        response.after = self.reboot
        return response

    def _cgi_summary(self, request: httpd.Request) -> httpd.Response:
        """summary.cgi (X19 JSON CGI): shape of the captured S23 reply (asic-rs s23_hydro_web_summary_captured)."""
        self._advance()
        total = self.total_rate()
        ok = [{"type": t, "status": "s", "code": 0, "msg": ""} for t in ("rate", "network", "fans", "temp")]
        reply = {"STATUS": {"STATUS": "S", "when": int(time.time()), "Msg": "summary", "api_version": "1.0.0"},
                 "INFO": {"miner_version": self.hw.miner, "CompileTime": self.hw.compile_time, "type": self.hw.type},
                 "SUMMARY": [{"elapsed": self._elapsed(), "rate_5s": round(noisy(self.rng, total, 0.02), 2),
                              "rate_30m": round(noisy(self.rng, total, 0.006), 2),
                              "rate_avg": round(noisy(self.rng, total, 0.003), 2),
                              "rate_ideal": round(self.hw.rate_per_chain * len(self.live_chains()), 2),
                              "rate_unit": "GH/s", "hw_all": self.shares.hw_errors,
                              "bestshare": int(self.shares.best_share), "status": ok}]}
        return cgi_reply(json.dumps(reply, separators=(",", ":")))
