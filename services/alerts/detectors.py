"""What raises an alert: the fleet's and the site's state now -> Conditions (no I/O).

The service gathers plain views (MinerView, SiteView) from the fleet, the
controller and the battery monitor; ``Detectors.check`` turns them into the
Conditions present now and the (kind, subject) pairs it could judge. A miner
not polled yet, or whose last reading is stale, is not judged on its readings:
a stale number is no news. The few things that need memory (a share window, the
hashrate a drop is judged against, the most boards and fans a miner has shown)
live here, in memory: after a restart they are learnt again.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from miners.base import MinerStatus
from services.alerts.book import Condition
from services.alerts.config import AlertsConfig

# Pool status words (PoolStatus.status, as each firmware prints it) that mean "not usable".
DEAD_POOL_WORDS = ("dead", "disconnected", "unreachable", "error", "down", "offline", "rejecting")
COMMAND_SETTLE_S = 3600.0  # after a command (power, mode, sleep) a lower hashrate is expected, not a fault


def fmt_time(ts: float) -> str:
    """Local HH:MM (with the date when it is not today)."""
    now = time.localtime()
    then = time.localtime(ts)
    if then[:3] == now[:3]:
        return time.strftime("%H:%M", then)
    return time.strftime("%Y-%m-%d %H:%M", then)


def fmt_ths(hs: float | None) -> str:
    """H/s -> "95.2 TH/s" (or GH/s below 1 TH/s)."""
    if hs is None:
        return "?"
    return f"{hs / 1e12:.1f} TH/s" if hs >= 1e12 else f"{hs / 1e9:.0f} GH/s"


@dataclass(frozen=True)
class MinerView:
    """One miner as the detectors see it."""

    ip: str
    name: str  # "S19 Pro" / the user's name / the family
    online: bool | None  # None = not polled yet
    unauthorized: bool = False
    offline_since: float | None = None  # the last good poll (or the first failure when there was none)
    last_error: str | None = None
    status: MinerStatus | None = None  # the FRESH reading, None when offline or stale
    last_command_ts: float | None = None  # the last power/mode/sleep/restart command sent to it
    avg_1h_hs: float | None = None  # its own 1-hour hashrate average (services/control/facts.py)
    limit_c: float | None = None  # its overheat limit (0/None: no check)
    overheat_stop: str | None = None  # the controller stopped it for heat: why

    @property
    def who(self) -> str:
        return f"{self.name} ({self.ip})" if self.name and self.name != self.ip else self.ip


@dataclass(frozen=True)
class SiteView:
    """The controller's own state as the detectors see it."""

    battery_configured: bool = False
    battery_connected: bool | None = None  # None = not read yet
    battery_error: str | None = None
    battery_lost_since: float | None = None
    emergency: bool = False  # SOC at or below the emergency floor (latched by the controller)
    emergency_text: str = ""
    failsafe: bool = False  # stale or missing battery data: the fail-safe is in force
    controlling: bool = False  # autocontrol on (a fail-safe only matters when the controller commands)
    failsafe_text: str = ""
    disk_used_pct: float | None = None
    disk_text: str = ""
    db_error: str | None = None  # the last write error, while no write has succeeded since
    db_error_since: float | None = None
    channels: tuple[dict, ...] = ()  # Notifier.channels()
    backup_judged: bool = False  # scheduled backups exist here (services/backup_schedule.py)
    backup_failing: tuple[str, float] | None = None  # (why, since) after two failed runs in a row


@dataclass
class _Window:
    """Accepted/rejected share counters over the last window (cumulative counters, reset on reboot)."""

    samples: deque = field(default_factory=deque)  # (ts, accepted, rejected)


def _mining(status: MinerStatus) -> bool:
    return status.state == "mining" and bool(status.hashrate_hs)


class Detectors:
    """Turns views into Conditions; keeps the little memory some triggers need."""

    def __init__(self, config: AlertsConfig) -> None:
        self.config = config
        self._windows: dict[str, _Window] = {}
        self._drop_ref: dict[str, float] = {}  # ip -> the average a running drop is judged against
        self._most_boards: dict[str, int] = {}
        self._most_fans: dict[str, int] = {}

    def check(self, now: float, miners: list[MinerView], site: SiteView) -> tuple[list[Condition], set]:
        """(conditions present now, (kind, subject) pairs judged)."""
        out: list[Condition] = []
        judged: set[tuple[str, str]] = set()
        for m in miners:
            self._miner(now, m, out, judged)
        self._site(now, site, out, judged)
        known = {m.ip for m in miners}
        for memory in (self._windows, self._drop_ref, self._most_boards, self._most_fans):
            for ip in set(memory) - known:
                del memory[ip]
        return out, judged

    # --- miners -----------------------------------------------------------------------
    def _miner(self, now: float, m: MinerView, out: list[Condition], judged: set) -> None:
        cfg = self.config
        if m.online is None:
            return  # not polled yet: nothing known
        judged.add(("miner_auth", m.ip))
        if m.unauthorized:
            out.append(Condition("miner_auth", m.ip, f"it answers but refuses our login: {m.last_error}", 0.0,
                                 name=m.name))
            return  # it answers: not offline, and its readings are unknown
        judged.add(("miner_offline", m.ip))
        if not m.online:
            since = m.offline_since or now
            out.append(Condition("miner_offline", m.ip,
                                 f"no answer since {fmt_time(since)}: {m.last_error or 'no reply'}",
                                 cfg.offline_after_min * 60, name=m.name))
            return
        judged.add(("overheat_stop", m.ip))
        if m.overheat_stop:
            out.append(Condition("overheat_stop", m.ip, m.overheat_stop, 0.0, name=m.name))
        status = m.status
        if status is None:
            return  # online but the reading is stale: its numbers are no news
        hold = cfg.hold_min * 60
        self._temperature(m, status, hold, out, judged)
        self._fans(m, status, hold, out, judged)
        self._boards(m, status, hold, out, judged)
        self._hashrate(now, m, status, out, judged)
        self._shares(now, m, status, out, judged)
        self._pools(m, status, hold, out, judged)

    def _temperature(self, m: MinerView, s: MinerStatus, hold: float, out: list, judged: set) -> None:
        if not m.limit_c or s.temp_c is None:
            return
        judged.add(("temp_high", m.ip))
        if s.temp_c >= m.limit_c and not m.overheat_stop:  # a stopped one already has its alert
            out.append(Condition("temp_high", m.ip, f"{s.temp_c:.0f} C, limit {m.limit_c:g} C", hold, name=m.name))

    def _fans(self, m: MinerView, s: MinerStatus, hold: float, out: list, judged: set) -> None:
        if not s.fan_rpm or not _mining(s):
            return  # no fans reported (NerdMiner, immersion) or not hashing: nothing to judge
        turning = sum(1 for rpm in s.fan_rpm if rpm and rpm > 0)
        # Antminer stats list empty fan slots as 0: a fan failed when fewer turn than ever did.
        most = self._most_fans[m.ip] = max(self._most_fans.get(m.ip, 0), turning)
        judged.add(("fan_failed", m.ip))
        if turning == 0:
            out.append(Condition("fan_failed", m.ip, "every fan reads 0 rpm while hashing", hold, name=m.name))
        elif turning < most:
            out.append(Condition("fan_failed", m.ip, f"{most - turning} of {most} fans stopped "
                                 f"({', '.join(str(r) for r in s.fan_rpm)} rpm)", hold, name=m.name))

    def _boards(self, m: MinerView, s: MinerStatus, hold: float, out: list, judged: set) -> None:
        if not s.boards or not _mining(s):
            return
        dead = [b.index for b in s.boards if b.chips == 0 or (b.hashrate_hs == 0 and not b.chips)]
        alive = len(s.boards) - len(dead)
        most = self._most_boards[m.ip] = max(self._most_boards.get(m.ip, 0), alive)
        judged.add(("board_missing", m.ip))
        if dead:
            out.append(Condition("board_missing", m.ip, f"board {', '.join(map(str, dead))} reports no chips or "
                                 f"no hashrate ({alive} of {len(s.boards)} hashing)", hold, name=m.name))
        elif alive < most:
            out.append(Condition("board_missing", m.ip, f"{alive} boards reported, {most} before", hold, name=m.name))

    def _hashrate(self, now: float, m: MinerView, s: MinerStatus, out: list, judged: set) -> None:
        cfg = self.config
        ref = self._drop_ref.get(m.ip)
        if s.state != "mining" or s.hashrate_hs is None:
            return
        commanded = m.last_command_ts is not None and now - m.last_command_ts < COMMAND_SETTLE_S
        limit = cfg.hashrate_drop_percent / 100
        if ref is None:
            if commanded or not m.avg_1h_hs or s.hashrate_hs >= limit * m.avg_1h_hs:
                judged.add(("hashrate_low", m.ip))
                return
            # The average keeps sinking towards the lower hashrate: judge the drop against the
            # average from before it began (a lost board of three stays 67 %, not 95 % of a sunk one).
            ref = self._drop_ref[m.ip] = m.avg_1h_hs
        judged.add(("hashrate_low", m.ip))
        if s.hashrate_hs >= limit * ref:
            del self._drop_ref[m.ip]
            return
        out.append(Condition("hashrate_low", m.ip, f"{fmt_ths(s.hashrate_hs)}, {100 * s.hashrate_hs / ref:.0f} % of "
                             f"its 1-hour average {fmt_ths(ref)}", cfg.hashrate_drop_min * 60, name=m.name))

    def _shares(self, now: float, m: MinerView, s: MinerStatus, out: list, judged: set) -> None:
        cfg = self.config
        if s.shares_accepted is None or s.shares_rejected is None:
            return
        window = self._windows.setdefault(m.ip, _Window())
        samples = window.samples
        if samples and (s.shares_accepted < samples[-1][1] or s.shares_rejected < samples[-1][2]):
            samples.clear()  # counters went back: the miner restarted
        samples.append((now, s.shares_accepted, s.shares_rejected))
        span = cfg.reject_window_min * 60
        while len(samples) > 2 and now - samples[1][0] >= span:
            samples.popleft()
        first = samples[0]
        accepted, rejected = s.shares_accepted - first[1], s.shares_rejected - first[2]
        total = accepted + rejected
        if total < cfg.reject_min_shares:
            return  # too few shares in the window to say
        judged.add(("shares_rejected", m.ip))
        ratio = 100 * rejected / total
        if ratio > cfg.reject_percent:
            minutes = (now - first[0]) / 60
            out.append(Condition("shares_rejected", m.ip, f"{ratio:.0f} % of {total} shares rejected in the last "
                                 f"{minutes:.0f} min (limit {cfg.reject_percent:g} %)", 0.0, name=m.name))

    def _pools(self, m: MinerView, s: MinerStatus, hold: float, out: list, judged: set) -> None:
        pools = [p for p in s.pools if p.url]
        if not pools:
            return
        ordered = sorted(pools, key=lambda p: (p.priority if p.priority is not None else 99))
        dead = [p for p in ordered if any(w in (p.status or "").lower() for w in DEAD_POOL_WORDS)]
        active = [p for p in ordered if p.active]
        judged.add(("pool_down", m.ip))
        if len(dead) == len(ordered):
            out.append(Condition("pool_down", m.ip, f"no pool answers ({', '.join(p.url for p in ordered)})", hold,
                                 name=m.name))
            return
        if len(ordered) < 2 or not active:
            return  # one pool only, or the firmware does not say which one it uses
        judged.add(("pool_backup", m.ip))
        first = ordered[0]
        if active[0] is not first:
            why = f" ({first.url} is {first.status})" if first in dead else ""
            out.append(Condition("pool_backup", m.ip, f"mining on {active[0].url} instead of {first.url}{why}", hold,
                                 name=m.name))

    # --- the site -----------------------------------------------------------------------
    def _site(self, now: float, site: SiteView, out: list, judged: set) -> None:
        cfg = self.config
        if site.battery_configured and site.battery_connected is not None:
            judged.add(("battery_lost", ""))
            if not site.battery_connected:
                since = site.battery_lost_since or now
                out.append(Condition("battery_lost", "", f"no reading since {fmt_time(since)}: {site.battery_error}",
                                     cfg.battery_lost_min * 60, since=since))
        if site.battery_configured:
            judged.update({("battery_low", ""), ("failsafe", "")})
            if site.emergency:
                out.append(Condition("battery_low", "", site.emergency_text or "SOC at or under the emergency floor"))
            if site.failsafe and site.controlling:
                out.append(Condition("failsafe", "", site.failsafe_text or "battery data missing or stale"))
        if site.disk_used_pct is not None:
            judged.add(("disk_full", ""))
            if site.disk_used_pct >= cfg.disk_percent:
                out.append(Condition("disk_full", "", site.disk_text))
        judged.add(("database_error", ""))
        if site.db_error:
            out.append(Condition("database_error", "", f"writing failed: {site.db_error}", since=site.db_error_since))
        if site.backup_judged:  # resolved by the next good run (or by turning scheduled backups off)
            judged.add(("backup_failing", ""))
            if site.backup_failing:
                out.append(Condition("backup_failing", "", site.backup_failing[0], since=site.backup_failing[1]))
        for channel in site.channels:
            if channel.get("ok") is None:
                continue
            judged.add(("notify_failed", channel["url"]))
            if channel["ok"] is False:
                out.append(Condition("notify_failed", channel["url"], f"{channel['url']}: {channel.get('last_error')}",
                                     since=channel.get("failing_since")))
