"""Generic cgminer 4.11.1 with USB ASIC sticks, and the command machinery cgminer forks share.

Reply shapes follow ckolivas/cgminer api.c (4.11) and the cgminer 4.11.1 replies
recorded from Avalon units (avalon/pools.a1566.json, devs.a1566.json,
multicommand_pools+summary+stats.a10xx.json): same keys and number formats,
"MHS 5s" instead of "MHS 30s" because a stock cgminer logs every 5 s.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from . import cgapi
from .cgapi import CgReply, Record, Status
from .conditions import apply_pool_down, hot_c
from .formats import fx, pct
from .miner import CGAPI, SimMiner
from .models import resolve_usb
from .physics import ShareCounter, noisy
from .spec import MinerSpec

# Every command cgminer's api.c knows (so a stock build can tell "Access denied" from "Invalid command").
KNOWN_COMMANDS = frozenset({
    "version", "config", "devs", "edevs", "pools", "summary", "stats", "estats", "check", "coin", "debug",
    "setconfig", "usbstats", "restart", "quit", "notify", "privileged", "devdetails", "switchpool", "addpool",
    "poolpriority", "poolquota", "enablepool", "disablepool", "removepool", "save", "failover-only", "zero",
    "hotplug", "asc", "ascenable", "ascdisable", "ascidentify", "asccount", "ascset", "pga", "pgaenable",
    "pgadisable", "pgaidentify", "pgacount", "pgaset", "lcd", "lockstats",
})


@dataclass(slots=True)
class Pool:
    """One configured pool and its counters."""

    url: str
    user: str
    password: str = "x"
    priority: int = 0
    enabled: bool = True
    alive: bool = True  # tests may set False to see "Dead"
    diff: float = 1024.0
    accepted: int = 0
    rejected: int = 0
    stale: int = 0
    diff_accepted: float = 0.0
    diff_rejected: float = 0.0
    best_share: float = 0.0
    last_share_time: float | None = None  # unix time
    last_share_diff: float = 0.0

    @property
    def status(self) -> str:
        """cgminer's pool status word."""
        if not self.enabled:
            return "Disabled"
        return "Alive" if self.alive and self.url else "Dead"

    def credit(self, accepted: int, rejected: int, at: float, best_share: float) -> None:
        """Count shares the miner found for this pool (``at``: unix time of the newest accepted one)."""
        if accepted:
            self.accepted += accepted
            self.diff_accepted += accepted * self.diff
            self.last_share_time = at
            self.last_share_diff = self.diff
            self.best_share = max(self.best_share, best_share)
        if rejected:
            self.rejected += rejected
            self.diff_rejected += rejected * self.diff

    def reset_counters(self) -> None:
        """The mining process restarted: the share counters start again (Last Share Difficulty stays)."""
        self.accepted = self.rejected = self.stale = 0
        self.diff_accepted = self.diff_rejected = self.best_share = 0.0
        self.last_share_time = None

    def stratum_host(self) -> str:
        """Host part of the URL ("stratum+tcp://h:3333" -> "h"), what cgminer shows as Stratum URL."""
        rest = self.url.split("://", 1)[-1]
        return rest.rsplit(":", 1)[0] if ":" in rest else rest


@dataclass(slots=True)
class Command:
    """One API command: its function, and whether it may be '+'-joined."""

    func: Callable[[str | None, bool], CgReply]
    joinable: bool = False


def conf_pool_slots(pools: list[tuple[str, str]]) -> list[dict[str, str]]:
    """A factory config's three pool slots (cgminer.conf, Vnish settings): password "x", unused slots empty."""
    entries = [{"url": url, "user": user, "pass": "x"} for url, user in pools[:3]]
    entries += [{"url": "", "user": "", "pass": ""}] * (3 - len(entries))
    return entries


def pools_from_conf(entries: list[dict[str, Any]], diff: float) -> list[Pool]:
    """The Pools bmminer builds from the first three cgminer.conf "pools" entries (empty slots stay, URL "")."""
    pools = []
    for i, entry in enumerate(entries[:3]):
        url = str(entry.get("url") or "")
        if url and "://" not in url:  # cgminer shows "aaa:700" as stratum+tcp://aaa:700 (S19 capture)
            url = "stratum+tcp://" + url
        pools.append(Pool(url, str(entry.get("user") or ""), password=str(entry.get("pass") or ""), priority=i,
                          diff=diff))
    return pools


def failover_pool(pools: list[Pool]) -> Pool | None:
    """cgminer's failover strategy: the enabled, alive pool with the best (lowest) priority."""
    usable = [p for p in pools if p.status == "Alive"]
    return min(usable, key=lambda p: p.priority) if usable else None


def split_params(param: str) -> list[str]:
    """Split "a,b\\,c" on commas, honouring cgminer's backslash escapes."""
    out, cur, escaped = [], [], False
    for ch in param:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


class CgApiMiner(SimMiner):
    """A miner answering the cgminer API: command table, joins, access groups, pools."""

    protocols = (CGAPI,)
    supports_join = True

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.pools: list[Pool] = []
        self.commands: dict[str, Command] = {}
        self.shares = ShareCounter()  # the whole miner's shares (grow_shares); cgminer keeps one per stick instead
        self._last_advance = self.now()
        self._held_pool: Pool | None = None  # the pool "pool_down" holds dead

    # --- access --------------------------------------------------------------
    def allowed(self, command: str) -> bool:
        """Whether the API access groups let a LAN client run ``command``."""
        return True

    # --- helpers ---------------------------------------------------------------
    def ok(self, code: int, msg: str, section: str | None = None, records: list[Record] | None = None,
           *, text_prefix: bool = False, letter: str = "S") -> CgReply:
        """A reply with a STATUS of this miner and an optional data section."""
        return CgReply(Status(letter, code, msg, self.description), section, records or [], text_prefix)

    def err(self, code: int, msg: str, letter: str = "E") -> CgReply:
        """A STATUS-only error/info reply."""
        return CgReply(Status(letter, code, msg, self.description))

    def active_pool(self) -> Pool | None:
        """Failover strategy: the enabled, alive pool with the best (lowest) priority."""
        return failover_pool(self.pools)

    def on_conditions(self, old: frozenset[str]) -> None:
        """"pool_down": the first pool goes Dead (cgminer fails over to the next); cleared, it comes back."""
        self._held_pool = apply_pool_down(self.pools, "pool_down" in self.conditions, self._held_pool)

    def _elapsed(self) -> int:
        """Seconds since the (re)boot, at least 1: the Elapsed key, and a divisor for the Utility keys."""
        return max(self.uptime_s, 1)

    def mine_shares(self, shares: ShareCounter, pool: Pool, dt: float, rate_hs: float, *, wall: float,
                    algorithm: str = "sha256d") -> tuple[int, int]:
        """Grow ``shares`` by ``dt`` seconds at ``rate_hs`` on ``pool``'s difficulty; credit the new ones to ``pool``.

        Returns the (accepted, rejected) shares found; ``wall`` is the unix time they are stamped with.
        """
        before_acc, before_rej = shares.accepted, shares.rejected
        shares.advance(self.rng, dt, rate_hs, pool.diff, algorithm=algorithm, reject_ratio=self.reject_ratio,
                       now=wall)
        new_acc, new_rej = shares.accepted - before_acc, shares.rejected - before_rej
        pool.credit(new_acc, new_rej, wall, shares.best_share)
        return new_acc, new_rej

    def grow_shares(self, rate_hs: float, *, wall: float | None = None,
                    algorithm: str = "sha256d") -> tuple[int, int] | None:
        """Grow ``self.shares`` from the last call to now at ``rate_hs`` on the active pool.

        Returns (accepted, rejected) as mine_shares does, None without an active pool;
        ``wall`` (default: now) is the unix time the new shares are stamped with.
        """
        now = self.now()
        dt = now - self._last_advance
        self._last_advance = now
        pool = self.active_pool()
        if pool is None:
            return None
        return self.mine_shares(self.shares, pool, dt, rate_hs, wall=time.time() if wall is None else wall,
                                algorithm=algorithm)

    def pool_index(self, param: str | None) -> int | CgReply:
        """Parse a pool id parameter the way api.c does (codes 8, 25, 26)."""
        if not self.pools:
            return self.err(8, "No pools")
        if param is None or param == "":
            return self.err(25, "Missing pool id parameter")
        try:
            index = int(param.split(",")[0])
        except ValueError:
            index = 0  # atoi
        if not 0 <= index < len(self.pools):
            return self.err(26, f"Invalid pool id {index} - range is 0 - {len(self.pools) - 1}")
        return index

    def bind_reports(self, names: Iterable[str]) -> dict[str, Command]:
        """A command table of joinable report commands, each answered by this miner's ``cmd_<name>`` method."""
        return {name: Command(getattr(self, f"cmd_{name}"), True) for name in names}

    # --- pool list changes (cgminer's own code; forks call them from their commands) -------
    def add_pool(self, url: str, user: str, password: str, diff: float) -> CgReply:
        """Append a pool at the lowest priority (api.c addpool, MSG_ADDPOOL 55)."""
        self.pools.append(Pool(url, user, password, priority=len(self.pools), diff=diff))
        return self.ok(55, f"Added pool {len(self.pools) - 1}: '{url}'")

    def promote_pool(self, index: int) -> CgReply:
        """Enable pool ``index`` and put it first (api.c switchpool, MSG_SWITCHP 27).

        cgminer switch_pools(): the selected pool gets prio 0, the ones above it move down one.
        """
        pool = self.pools[index]
        pool.enabled = True
        for other in self.pools:
            if other.priority < pool.priority:
                other.priority += 1
        pool.priority = 0
        return self.ok(27, f"Switching to pool {index}:'{pool.url}'")

    def removal_refused(self, index: int) -> CgReply | None:
        """Why pool ``index`` may not be removed (the last pool 66, the active pool 67), or None."""
        pool = self.pools[index]
        if len(self.pools) == 1:
            return self.err(66, f"Cannot remove last pool {index}:'{pool.url}'")
        if pool is self.active_pool():
            return self.err(67, f"Cannot remove active pool {index}:'{pool.url}'")
        return None

    def remove_pool(self, index: int) -> CgReply:
        """Remove pool ``index`` (api.c removepool, MSG_REMPOOL 68); check removal_refused first.

        cgminer remove_pool(): lower priorities move up; the last pool is swapped into the hole.
        """
        pool = self.pools[index]
        for other in self.pools:
            if other.priority > pool.priority:
                other.priority -= 1
        last = self.pools.pop()
        if last is not pool:
            self.pools[index] = last
        return self.ok(68, f"Removed pool {index}:'{pool.url}'")

    # --- dispatch ----------------------------------------------------------------
    def run(self, command: str, param: str | None, isjson: bool) -> CgReply:
        """Run one command, applying the access groups (45) and unknown-command (14) rules."""
        entry = self.commands.get(command)
        if entry is None:
            if command in KNOWN_COMMANDS:
                return self.err(45, f"Access denied to '{command}' command")
            return self.err(14, "Invalid command")
        if not self.allowed(command):
            return self.err(45, f"Access denied to '{command}' command")
        return entry.func(param, isjson)

    def handle_cgapi(self, request: cgapi.Request) -> str | tuple[str, Any]:
        """Answer one API request, single or '+'-joined."""
        command, isjson = request.command, request.isjson
        if "+" in command:
            if not self.supports_join:
                return cgapi.encode(self.err(14, "Invalid command"), isjson)
            parts: list[tuple[str, CgReply]] = []
            seen: set[str] = set()
            for name in command.split("+"):
                if name in seen:
                    continue  # api.c collapses duplicates
                seen.add(name)
                entry = self.commands.get(name)
                if entry is None and name not in KNOWN_COMMANDS:
                    reply = self.err(14, "Invalid command")
                elif entry is None or not entry.joinable or not self.allowed(name):
                    reply = self.err(45, f"Access denied to '{name}' command")
                else:
                    reply = entry.func(None, isjson)
                parts.append((name, reply))
            return cgapi.encode_join(parts, isjson)
        reply = self.run(command, request.parameter, isjson)
        text = cgapi.encode(reply, isjson)
        return (text, reply.after) if reply.after is not None else text


@dataclass(slots=True)
class UsbDevice:
    """One USB ASIC stick."""

    index: int
    freq: float
    quality: float
    temp_bias: float
    shares: ShareCounter = field(default_factory=ShareCounter)
    enabled: bool = True


class CgminerMiner(CgApiMiner):
    """Generic cgminer 4.11.1 driving USB ASIC sticks; no Type key, no power reading."""

    kind = "cgminer"
    # USB sticks have no fans and no hash boards to lose (an unplugged stick is not simulated).
    supported_conditions = frozenset({"hot", "rejecting", "pool_down"})
    VERSION = "4.11.1"
    API_VERSION = "3.7"
    LOG_INTERVAL = 5

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.usb = resolve_usb(spec.model)
        rng = self.rng
        self.devices = [UsbDevice(i, float(self.usb.freq), rng.uniform(0.95, 1.02), rng.uniform(-3.0, 3.0))
                        for i in range(spec.devices)]
        # A payout address whose checksum passes (BIP-173's test vector, simulator/axeos.py WORKER_ADDR).
        user = f"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4.{spec.ip.replace('.', '_')}"
        pools = spec.pools or (("stratum+tcp://solo.ckpool.org:3333", user),
                               ("stratum+tcp://public-pool.io:21496", user))
        self.pools = [Pool(url, pool_user, priority=i, diff=self.usb.pool_diff)
                      for i, (url, pool_user) in enumerate(pools)]
        self._last_advance = self.now()
        self._boot_wall = time.time()
        self.commands = {
            "version": Command(self.cmd_version, True),
            "config": Command(self.cmd_config, True),
            "summary": Command(self.cmd_summary, True),
            "pools": Command(self.cmd_pools, True),
            "devs": Command(self.cmd_devs, True),
            "edevs": Command(lambda p, j: self.cmd_devs(p, j, enabled_only=True), True),
            "stats": Command(self.cmd_stats, True),
            "estats": Command(lambda p, j: self.cmd_stats(p, j, with_pools=False), True),
            "devdetails": Command(self.cmd_devdetails, True),
            "asccount": Command(self.cmd_asccount, True),
            "coin": Command(self.cmd_coin, True),
            "asc": Command(self.cmd_asc),
            "check": Command(self.cmd_check),
            "privileged": Command(lambda p, j: self.ok(46, "Privileged access OK")),
            "switchpool": Command(self.cmd_switchpool),
            "poolpriority": Command(self.cmd_poolpriority),
            "enablepool": Command(self.cmd_enablepool),
            "disablepool": Command(self.cmd_disablepool),
            "addpool": Command(self.cmd_addpool),
            "removepool": Command(self.cmd_removepool),
            "restart": Command(self.cmd_restart),
            "quit": Command(self.cmd_quit),
        }

    @property
    def model(self) -> str:
        """The USB stick model (cgminer itself does not report one beyond DEVDETAILS)."""
        return self.usb.name

    @property
    def description(self) -> str:
        """STATUS Description: "cgminer 4.11.1"."""
        return f"cgminer {self.VERSION}"

    def on_boot(self) -> None:
        """cgminer restarted: counters and Elapsed start again."""
        super().on_boot()
        self._last_advance = self.now()
        self._boot_wall = time.time()
        for dev in self.devices:
            dev.shares = ShareCounter()
        for pool in self.pools:
            pool.reset_counters()

    def session_counters(self) -> list[ShareCounter]:
        """One counter per stick: summary "Best Share" is the best of the sticks'."""
        return [dev.shares for dev in self.devices]

    # --- physics -------------------------------------------------------------------
    def device_ghs(self, dev: UsbDevice) -> float:
        """Noise-free GH/s of one stick."""
        return self.usb.ghs(dev.freq) * dev.quality if dev.enabled else 0.0

    def _advance(self) -> None:
        now = self.now()
        dt = now - self._last_advance
        self._last_advance = now
        pool = self.active_pool()
        if pool is None:
            return
        wall = time.time()
        for dev in self.devices:
            self.mine_shares(dev.shares, pool, dt, self.device_ghs(dev) * 1e9, wall=wall)

    # --- report commands -------------------------------------------------------------
    def cmd_version(self, param: str | None, isjson: bool) -> CgReply:
        """version: CGMiner and API versions, nothing else (no Type: not an Antminer)."""
        return self.ok(22, "CGMiner versions", "VERSION", [[("CGMiner", self.VERSION), ("API", self.API_VERSION)]],
                       text_prefix=True)

    def cmd_config(self, param: str | None, isjson: bool) -> CgReply:
        """config: device and pool counts, strategy, log interval."""
        rec: Record = [("ASC Count", len(self.devices)), ("PGA Count", 0), ("Pool Count", len(self.pools)),
                       ("Strategy", "Failover"), ("Log Interval", self.LOG_INTERVAL),
                       ("Device Code", f"{self.usb.code} "), ("OS", "Linux"), ("Failover-Only", False),
                       ("ScanTime", 60), ("Queue", 1), ("Expiry", 120), ("Hotplug", 5)]
        return self.ok(33, "CGMiner config", "CONFIG", [rec], text_prefix=True)

    def _totals(self) -> dict[str, float]:
        acc = sum(d.shares.accepted for d in self.devices)
        rej = sum(d.shares.rejected for d in self.devices)
        hw = sum(d.shares.hw_errors for d in self.devices)
        return {"acc": acc, "rej": rej, "hw": hw,
                "dacc": sum(d.shares.diff_accepted for d in self.devices),
                "drej": sum(d.shares.diff_rejected for d in self.devices),
                "best": max((d.shares.best_share for d in self.devices), default=0.0)}

    def cmd_summary(self, param: str | None, isjson: bool) -> CgReply:
        """summary: whole-miner MH/s (MHS av/5s/1m/5m/15m), shares, difficulty totals."""
        self._advance()
        rng, elapsed = self.rng, self._elapsed()
        mhs = sum(self.device_ghs(d) for d in self.devices) * 1000.0
        t = self._totals()
        diff1 = t["dacc"] + t["drej"]
        minutes = elapsed / 60.0
        getworks = elapsed // 30 + 1
        rec: Record = [
            ("Elapsed", elapsed), ("MHS av", fx(noisy(rng, mhs, 0.002), 2)), ("MHS 5s", fx(noisy(rng, mhs, 0.03), 2)),
            ("MHS 1m", fx(noisy(rng, mhs, 0.015), 2)), ("MHS 5m", fx(noisy(rng, mhs, 0.007), 2)),
            ("MHS 15m", fx(noisy(rng, mhs, 0.004), 2)), ("Found Blocks", 0), ("Getworks", getworks),
            ("Accepted", t["acc"]), ("Rejected", t["rej"]), ("Hardware Errors", t["hw"]),
            ("Utility", fx(t["acc"] / minutes, 2)), ("Discarded", getworks * 3), ("Stale", 0),
            ("Get Failures", 0), ("Local Work", getworks * 40), ("Remote Failures", 0), ("Network Blocks", 1),
            ("Total MH", fx(mhs * elapsed, 4)), ("Work Utility", fx(diff1 / minutes, 2)),
            ("Difficulty Accepted", fx(t["dacc"], 8)), ("Difficulty Rejected", fx(t["drej"], 8)),
            ("Difficulty Stale", fx(0.0, 8)), ("Best Share", int(t["best"])),
            ("Device Hardware%", fx(pct(t["hw"], t["hw"] + diff1), 4)),
            ("Device Rejected%", fx(pct(t["drej"], diff1), 4)),
            ("Pool Rejected%", fx(pct(t["drej"], diff1), 4)), ("Pool Stale%", fx(0.0, 4)),
            ("Last getwork", int(time.time())),
        ]
        return self.ok(11, "Summary", "SUMMARY", [rec], text_prefix=True)

    def pool_record(self, index: int, pool: Pool, active: Pool | None) -> Record:
        """One POOLS entry in cgminer 4.11 layout."""
        total = pool.diff_accepted + pool.diff_rejected
        elapsed = self._elapsed()
        getworks = (elapsed // 30 + 1) if pool is active else (1 if pool.url else 0)
        return [
            ("POOL", index), ("URL", pool.url), ("Status", pool.status), ("Priority", pool.priority), ("Quota", 1),
            ("Long Poll", "N"), ("Getworks", getworks), ("Accepted", pool.accepted), ("Rejected", pool.rejected),
            ("Works", getworks * 64 if pool is active else 0), ("Discarded", 0), ("Stale", pool.stale),
            ("Get Failures", 0), ("Remote Failures", 0), ("User", pool.user),
            ("Last Share Time", int(pool.last_share_time or 0)),
            ("Diff1 Shares", int(total)), ("Proxy Type", ""), ("Proxy", ""),
            ("Difficulty Accepted", fx(pool.diff_accepted, 8)), ("Difficulty Rejected", fx(pool.diff_rejected, 8)),
            ("Difficulty Stale", fx(0.0, 8)), ("Last Share Difficulty", fx(pool.last_share_diff, 8)),
            ("Work Difficulty", fx(pool.diff if pool is active else 0.0, 8)), ("Has Stratum", True),
            ("Stratum Active", pool is active), ("Stratum URL", pool.stratum_host() if pool is active else ""),
            ("Stratum Difficulty", fx(pool.diff if pool is active else 0.0, 8)), ("Has Vmask", True),
            ("Has GBT", False), ("Best Share", int(pool.best_share)),
            ("Pool Rejected%", fx(pct(pool.diff_rejected, total), 4)), ("Pool Stale%", fx(0.0, 4)),
            ("Bad Work", 0), ("Current Block Height", 880000 + elapsed // 600 if pool is active else 0),
            ("Current Block Version", 536870912),
        ]

    def cmd_pools(self, param: str | None, isjson: bool) -> CgReply:
        """pools: every configured pool, in pool-number order."""
        if not self.pools:
            return self.err(8, "No pools")
        self._advance()
        active = self.active_pool()
        return self.ok(7, f"{len(self.pools)} Pool(s)", "POOLS",
                       [self.pool_record(i, p, active) for i, p in enumerate(self.pools)])

    def stick_temp(self, dev: UsbDevice) -> float:
        """One stick's temperature reading (degrees C; "hot": above the app's default limit)."""
        if "hot" in self.conditions:
            return hot_c(self.kind) + abs(dev.temp_bias) + self.rng.gauss(0, 0.3)
        return self.usb.temp_c + dev.temp_bias + self.rng.gauss(0, 0.3)

    def device_record(self, dev: UsbDevice) -> Record:
        """One DEVS/ASC entry (MH/s, shares, temperature)."""
        rng, elapsed = self.rng, self._elapsed()
        mhs = self.device_ghs(dev) * 1000.0
        s = dev.shares
        diff1 = s.diff_accepted + s.diff_rejected
        last = int(s.last_share_at or 0)
        return [
            ("ASC", dev.index), ("Name", self.usb.code), ("ID", dev.index), ("Enabled", "Y" if dev.enabled else "N"),
            ("Status", "Alive"), ("Temperature", fx(self.stick_temp(dev), 2)),
            ("MHS av", fx(noisy(rng, mhs, 0.002), 2)), ("MHS 5s", fx(noisy(rng, mhs, 0.04), 2)),
            ("MHS 1m", fx(noisy(rng, mhs, 0.02), 2)), ("MHS 5m", fx(noisy(rng, mhs, 0.01), 2)),
            ("MHS 15m", fx(noisy(rng, mhs, 0.005), 2)), ("Accepted", s.accepted), ("Rejected", s.rejected),
            ("Hardware Errors", s.hw_errors), ("Utility", fx(s.accepted / (elapsed / 60.0), 2)),
            ("Last Share Pool", self.pools.index(p) if (p := self.active_pool()) else -1),
            ("Last Share Time", last), ("Total MH", fx(mhs * elapsed, 4)), ("Diff1 Work", int(diff1)),
            ("Difficulty Accepted", fx(s.diff_accepted, 8)), ("Difficulty Rejected", fx(s.diff_rejected, 8)),
            ("Last Share Difficulty", fx(self.usb.pool_diff if s.accepted else 0.0, 8)), ("No Device", False),
            ("Last Valid Work", int(time.time())), ("Device Hardware%", fx(pct(s.hw_errors, s.hw_errors + diff1), 4)),
            ("Device Rejected%", fx(pct(s.diff_rejected, diff1), 4)), ("Device Elapsed", elapsed),
        ]

    def cmd_devs(self, param: str | None, isjson: bool, *, enabled_only: bool = False) -> CgReply:
        """devs/edevs: one ASC entry per USB stick."""
        self._advance()
        devices = [d for d in self.devices if d.enabled or not enabled_only]
        return self.ok(9, f"{len(devices)} ASC(s)", "DEVS", [self.device_record(d) for d in devices])

    def cmd_stats(self, param: str | None, isjson: bool, *, with_pools: bool = True) -> CgReply:
        """stats: one entry per device (call timing + USB counters), then one per pool."""
        elapsed = self._elapsed()
        records: list[Record] = []
        for dev in self.devices:
            records.append([("STATS", len(records)), ("ID", f"{self.usb.code}{dev.index}"), ("Elapsed", elapsed),
                            ("Calls", 0), ("Wait", fx(0, 6)), ("Max", fx(0, 6)), ("Min", fx(99999999, 6)),
                            ("USB Pipe", "0"), ("USB Delay", "r0 0.000000 w0 0.000000"), ("USB tmo", "0 0")])
        if with_pools:
            active = self.active_pool()
            for i, pool in enumerate(self.pools):
                diff = fx(pool.diff if pool is active else 0.0, 6)
                records.append([
                    ("STATS", len(records)), ("ID", f"POOL{i}"), ("Elapsed", elapsed), ("Calls", 0),
                    ("Wait", fx(0, 6)), ("Max", fx(0, 6)), ("Min", fx(99999999, 6)), ("Pool Calls", 0),
                    ("Pool Attempts", 0), ("Pool Wait", fx(0, 6)), ("Pool Max", fx(0, 6)),
                    ("Pool Min", fx(99999999, 6)), ("Pool Av", fx(0, 6)), ("Work Had Roll Time", False),
                    ("Work Can Roll", False), ("Work Had Expire", False), ("Work Roll Time", 0), ("Work Diff", diff),
                    ("Min Diff", diff), ("Max Diff", diff), ("Min Diff Count", 0), ("Max Diff Count", 0),
                    ("Times Sent", elapsed // 20 if pool is active else 2), ("Bytes Sent", elapsed * 6),
                    ("Times Recv", elapsed // 10 if pool is active else 3), ("Bytes Recv", elapsed * 80),
                    ("Net Bytes Sent", elapsed * 6), ("Net Bytes Recv", elapsed * 80)])
        return self.ok(70, "CGMiner stats", "STATS", records)

    def cmd_devdetails(self, param: str | None, isjson: bool) -> CgReply:
        """devdetails: driver and model per device."""
        records: list[Record] = [[("DEVDETAILS", d.index), ("Name", self.usb.code), ("ID", d.index),
                                  ("Driver", self.usb.driver), ("Kernel", ""), ("Model", self.usb.name),
                                  ("Device Path", f"1:{4 + d.index}")] for d in self.devices]
        return self.ok(69, "Device Details", "DEVDETAILS", records)

    def cmd_asccount(self, param: str | None, isjson: bool) -> CgReply:
        """asccount: number of ASC devices."""
        return self.ok(104, "ASC count", "ASCS", [[("Count", len(self.devices))]])

    def cmd_asc(self, param: str | None, isjson: bool) -> CgReply:
        """asc|N: one device's DEVS entry."""
        if param is None or param == "":
            return self.err(15, "Missing device id parameter")
        try:
            index = int(param)
        except ValueError:
            index = 0
        if not 0 <= index < len(self.devices):
            return self.err(107, f"Invalid ASC id {index} - range is 0 - {len(self.devices) - 1}")
        self._advance()
        return self.ok(106, f"ASC{index}", "ASC", [self.device_record(self.devices[index])])

    def cmd_coin(self, param: str | None, isjson: bool) -> CgReply:
        """coin: hash method and current block."""
        block = hashlib.sha256(str(int(time.time()) // 600).encode()).hexdigest()
        rec: Record = [("Hash Method", "sha256"), ("Current Block Time", fx(time.time() // 600 * 600, 6)),
                       ("Current Block Hash", "00000000000000000002" + block[20:]), ("LP", True),
                       ("Network Difficulty", fx(1.2e14, 8))]
        return self.ok(78, "CGMiner coin", "COIN", [rec])

    def cmd_check(self, param: str | None, isjson: bool) -> CgReply:
        """check|cmd: whether a command exists and is allowed."""
        if not param:
            return self.err(71, "Missing check cmd")
        exists = param in self.commands or param in KNOWN_COMMANDS
        rec: Record = [("Exists", "Y" if exists else "N"), ("Access", "Y" if exists and self.allowed(param) else "N")]
        return self.ok(72, "Check command", "CHECK", [rec])

    # --- pool control ------------------------------------------------------------------
    def cmd_switchpool(self, param: str | None, isjson: bool) -> CgReply:
        """switchpool|N: enable pool N and move it to the top priority (failover)."""
        index = self.pool_index(param)
        if isinstance(index, CgReply):
            return index
        self._advance()
        return self.promote_pool(index)

    def cmd_poolpriority(self, param: str | None, isjson: bool) -> CgReply:
        """poolpriority|N,N,...: the listed pools take priorities 0.. in order, the rest follow in their old order.

        cgminer api.c poolpriority(): MSG_MISPID 25 without ids, MSG_INVPID 26 for an
        unknown id, MSG_DUPPID 74 for a repeated one, MSG_POOLPRIO 73 on success.
        """
        if not param:
            return self.err(25, "Missing pool id")
        order: list[int] = []
        for text in param.split(","):
            if not text.strip().isdigit() or int(text) >= len(self.pools):
                return self.err(26, f"Invalid pool id {text.strip()} - range is 0 - {len(self.pools) - 1}")
            if int(text) in order:
                return self.err(74, f"Duplicate pool specified {int(text)}")
            order.append(int(text))
        self._advance()
        rest = sorted((i for i in range(len(self.pools)) if i not in order), key=lambda i: self.pools[i].priority)
        for prio, index in enumerate(order + rest):
            self.pools[index].priority = prio
        return self.ok(73, "Changed pool priorities")

    def cmd_enablepool(self, param: str | None, isjson: bool) -> CgReply:
        """enablepool|N."""
        index = self.pool_index(param)
        if isinstance(index, CgReply):
            return index
        pool = self.pools[index]
        if pool.enabled:
            return self.err(49, f"Pool {index}:'{pool.url}' already enabled", "I")
        self._advance()
        pool.enabled = True
        return self.ok(47, f"Enabling pool {index}:'{pool.url}'")

    def cmd_disablepool(self, param: str | None, isjson: bool) -> CgReply:
        """disablepool|N (refuses to disable the last enabled pool)."""
        index = self.pool_index(param)
        if isinstance(index, CgReply):
            return index
        pool = self.pools[index]
        if not pool.enabled:
            return self.err(50, f"Pool {index}:'{pool.url}' already disabled", "I")
        if sum(1 for p in self.pools if p.enabled) <= 1:
            return self.err(51, f"Cannot disable last active pool {index}:'{pool.url}'")
        self._advance()
        pool.enabled = False
        return self.ok(48, f"Disabling pool {index}:'{pool.url}'")

    def cmd_addpool(self, param: str | None, isjson: bool) -> CgReply:
        """addpool|URL,USER,PASS: append a pool at the lowest priority."""
        if not param:
            return self.err(52, "Missing addpool details")
        parts = split_params(param)
        if len(parts) != 3 or not parts[0]:
            return self.err(53, f"Invalid addpool details '{param}'")
        url, user, password = parts
        return self.add_pool(url, user, password, self.usb.pool_diff)

    def cmd_removepool(self, param: str | None, isjson: bool) -> CgReply:
        """removepool|N (not the last one, not the active one); the last pool takes its number."""
        index = self.pool_index(param)
        if isinstance(index, CgReply):
            return index
        refused = self.removal_refused(index)
        if refused:
            return refused
        self._advance()
        return self.remove_pool(index)

    def cmd_restart(self, param: str | None, isjson: bool) -> CgReply:
        """restart: answer RESTART, then cgminer exits and comes back (down for restart_seconds)."""
        self.stop_accepting()  # refused from the moment the reply can be read
        return CgReply(None, bare="RESTART", after=self.reboot)

    def cmd_quit(self, param: str | None, isjson: bool) -> CgReply:
        """quit: answer BYE and stop listening until the fault is cleared (like a stopped cgminer)."""
        def stop() -> None:
            self.fault = "down"
            self.close_listeners()

        self.stop_accepting()
        return CgReply(None, bare="BYE", after=stop)
