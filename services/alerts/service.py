"""AlertService: every check turns the fleet's and the site's state into problems, events and messages.

It runs as its own scheduler job (``tick``), reads only what the poller, the
controller and the battery monitor already hold in memory, and hands messages
to the Notifier's bounded queue: a slow or dead channel never holds up polling
or control. Raised and resolved problems are events (kind ``alert`` /
``alert_resolved``) and the active ones, their acknowledgements and the mutes
survive a restart (state table, written only when they change).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from database import queries
from services.alerts.book import AlertBook, Changes, Problem
from services.alerts.detectors import Detectors, MinerView, SiteView, fmt_time
from services.alerts.kinds import KINDS, MINER_KINDS
from services.alerts.labels import scheme_of
from services.alerts.outbox import NOTICE, RAISE, RESOLVE, Item, Message, Outbox

log = logging.getLogger(__name__)

STATE_KEY = "alerts"  # active problems, mutes, ids (database state table)
RUNNING_KEY = "alerts.running"  # set while a poller runs; still set at start = the last run did not stop cleanly
BEST_KEY = "alerts.best"  # per miner: the best difficulties already told
ACTOR = "alerts"
TICK_SEC = 10.0  # how often the detectors run (cheap: memory only, plus one statvfs)


def default_dashboard_url(port: int) -> str:
    """http://<this host's name>:<port>/ (what a phone on the LAN opens)."""
    return f"http://{socket.gethostname()}:{port}/"


def in_quiet_hours(minutes: tuple[int, int] | None, now: float) -> bool:
    """True when local time ``now`` falls within (start, end) minutes of the day; end <= start spans midnight."""
    if minutes is None:
        return False
    t = time.localtime(now)
    minute = t.tm_hour * 60 + t.tm_min
    start, end = minutes
    return start <= minute < end if start < end else (minute >= start or minute < end)


class AlertService:
    """Detectors -> book -> events and outbox -> notifier; the API's view of the active problems."""

    def __init__(self, config: Any, runtime: Any, *, notifier: Any = None,
                 publish: Callable[[dict], None] | None = None, clock: Callable[[], float] = time.time) -> None:
        """``runtime``: the Runtime (fleet, autocontrol, battery, db, profitability); notifier None = from config."""
        self.config = config
        self.cfg = config.alerts
        self.runtime = runtime
        self.clock = clock
        self._publish = publish
        self._lock = threading.Lock()
        self._detectors = Detectors(self.cfg)
        self._outbox = Outbox(self.cfg.digest_at)
        self._quiet = self.cfg.quiet_minutes()
        self.dashboard_url = self._dashboard_url(config)
        with runtime.db.read() as conn:
            self.book = AlertBook(queries.get_state(conn, STATE_KEY))
            self._best: dict[str, dict[str, float]] = queries.get_state(conn, BEST_KEY) or {}
        if notifier is None and self.cfg.urls:
            from services.alerts.notifier import Notifier  # apprise only when a channel is configured

            notifier = Notifier(self.cfg.urls)
        self.notifier = notifier  # None while there is no channel (set_channels() swaps it)
        self._made = notifier  # the one Notifier this service ever has (kept while no channel is set)
        self._swap_lock = threading.Lock()
        self._ems_mode: str | None = None
        self._ems_seen_call = 0.0
        self._last_count: int | None = None

    # --- start and stop -----------------------------------------------------------------
    def started(self) -> None:
        """The poller started: tell a restart after a crash (the running mark was never cleared)."""
        with self.runtime.db.write() as conn:
            previous = queries.get_state(conn, RUNNING_KEY)
            queries.set_state(conn, RUNNING_KEY, {"since": self.clock()})
        if previous:
            since = previous.get("since") if isinstance(previous, dict) else None
            text = "the last run did not stop cleanly" + (f" (it had run since {fmt_time(since)})" if since else "")
            with self._lock:
                self._notice("controller_restart", "", "", text)
                self._send_released()

    def stopped(self) -> None:
        """A clean stop: clear the running mark, end the notifier's thread."""
        try:
            with self.runtime.db.write() as conn:
                queries.set_state(conn, RUNNING_KEY, None)
        except Exception:  # noqa: BLE001 - a failing disk must not stop the shutdown
            log.exception("alerts: running mark not cleared")
        notifier = self.notifier or self._made
        if notifier is not None:
            notifier.close()

    # --- the check ------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> Changes:
        """One check: detectors, book, events, messages; returns what changed."""
        now = self.clock() if now is None else now
        miners = self._miner_views(now)
        site = self._site_view(now)
        with self._lock:
            conditions, judged = self._detectors.check(now, miners, site)
            conditions = [c for c in conditions if c.kind not in self.cfg.disabled]
            known = {m.ip for m in miners}
            gone = {p.subject for p in self.book.problems() if p.kind in MINER_KINDS and p.subject not in known}
            changes = self.book.observe(now, conditions, judged, gone)
            for problem in changes.raised:
                self._raised(problem)
            for problem in changes.resolved:
                self._resolved(problem)
            self._luck(miners)
            self._ems(now)
            self._send_released(now)
            if changes:
                self._save()
        self._announce()
        return changes

    def _raised(self, p: Problem) -> None:
        kind = KINDS[p.kind]
        who = self._who(p)
        self._event("alert", f"{kind.title.format(who=who or 'Controller')}: {p.message}", p, kind.severity)
        if self.notifier is not None:
            self._outbox.add(Item(p.key, p.kind, RAISE, who, f"{p.message} (since {fmt_time(p.since)})", self._link(p)))

    def _resolved(self, p: Problem) -> None:
        kind = KINDS[p.kind]
        who = self._who(p)
        title = (kind.resolved or kind.title + ": resolved").format(who=who or "Controller")
        lasted = max(0.0, self.clock() - p.since)
        self._event("alert_resolved", f"{title} (after {_duration(lasted)})", p, "info")
        if p.notified:
            self._outbox.add(Item(p.key, p.kind, RESOLVE, who, f"resolved after {_duration(lasted)}: {p.message}",
                                  self._link(p)))
        else:
            self._outbox.withdraw_raise(p.key)  # still waiting (quiet hours): neither goes

    def _notice(self, kind: str, subject: str, name: str, text: str) -> None:
        """A one-off piece of news (block found, EMS dispatch, restart): an event and a message."""
        k = KINDS[kind]
        who = f"{name} ({subject})" if subject and name and name != subject else subject
        miner = subject if kind in MINER_KINDS else None
        with self.runtime.db.write() as conn:
            queries.add_event(conn, kind, f"{k.title.format(who=who or 'Controller')}: {text}", miner_ip=miner,
                              actor=ACTOR, severity=k.severity)
        if self.notifier is not None and kind not in self.cfg.disabled:
            link = self.dashboard_url + (f"#miner={subject}" if miner else "")
            self._outbox.add(Item(f"{kind}:{subject}:{self.clock()}", kind, NOTICE, who, text, link))

    def _send_released(self, now: float | None = None) -> None:
        if self.notifier is None:
            return
        now = self.clock() if now is None else now
        messages = self._outbox.release(in_quiet_hours(self._quiet, now), lambda k: self.book.is_muted(k, now))
        if sum([self._send(message) for message in messages]):
            self._save()  # the notified marks: once per check, not once per message

    def _send(self, message: Message) -> bool:
        """Hand one message to the notifier; True when a problem became notified by it."""
        from services.alerts.notifier import Notification

        if not self.notifier.send(Notification(message.title, message.body, message.severity,
                                               key=message.items[0].key)):
            log.warning("alerts: notification queue full, %r not sent", message.title)
            return False
        marked = False
        for item in message.items:
            problem = self.book.get_by_key(item.key) if item.action == RAISE else None
            if problem is not None:
                problem.notified = marked = True
        return marked

    # --- notices from state changes --------------------------------------------------
    def _luck(self, miners: list[MinerView]) -> None:
        """Block found (a session best at or above the network difficulty) and, optionally, a new all-time best."""
        network = self._network_difficulty()
        changed = False
        for m in miners:
            s = m.status
            if s is None:
                continue
            told = self._best.setdefault(m.ip, {})
            session = getattr(s, "best_session_difficulty", None)
            best = getattr(s, "best_difficulty", None)
            if network and session and session >= network and session > told.get("block", 0):
                told["block"] = session
                changed = True
                self._notice("block_found", m.ip, m.name, f"a share of difficulty {_si(session)} beats the network "
                             f"difficulty {_si(network)}: check the pool or your wallet")
            if best:
                if "best" in told and best > told["best"] and self.cfg.best_difficulty:
                    self._notice("best_difficulty", m.ip, m.name, f"{_si(best)} (was {_si(told['best'])})")
                if best != told.get("best"):
                    told["best"] = best
                    changed = True
        if changed:
            with self.runtime.db.write() as conn:
                queries.set_state(conn, BEST_KEY, self._best)

    def _network_difficulty(self) -> float | None:
        if self.cfg.network_difficulty:
            return self.cfg.network_difficulty
        profitability = getattr(self.runtime, "profitability", None)
        price = profitability.hashprice() if profitability is not None else None
        return price.difficulty if price is not None else None

    def _ems(self, now: float) -> None:
        """EMS dispatch started / ended (state changes) and refused calls."""
        ems = self.runtime.autocontrol.ems
        mode = ems.state.mode
        if self._ems_mode is not None and mode != self._ems_mode:
            if mode == "active":
                self._notice("ems_dispatch", "", "", f"started: {ems.describe()}")
            elif self._ems_mode == "active":
                self._notice("ems_dispatch", "", "", f"ended: {ems.describe()}")
        self._ems_mode = mode
        for call in list(ems.calls):
            if call.at > self._ems_seen_call:
                self._ems_seen_call = call.at
                if call.accepted is False:
                    self._notice("ems_refused", "", "", f"{call.call} {call.request} -> {call.status}: {call.message}")

    # --- gathering the views ---------------------------------------------------------------
    def _miner_views(self, now: float) -> list[MinerView]:
        rt = self.runtime
        fresh_after = now - 3 * self.config.polling.interval_sec
        facts = getattr(rt.autocontrol, "last_facts", None) or {}
        hot = {t["ip"]: t for t in rt.autocontrol.overheat.status()} if rt.autocontrol else {}
        commanding = getattr(rt.autocontrol, "commanding", False)
        views = []
        for r in rt.fleet.records():
            if not r.enabled:
                continue  # disabled in its settings: not polled, so never "offline" (its problems resolve)
            status = r.status if r.online and r.last_seen_ts and r.last_seen_ts >= fresh_after else None
            model = (r.status.model if r.status is not None and r.status.model else r.model) or r.family
            stop = None
            if r.ip in hot and commanding and rt.autocontrol.controlled(r):
                stop = hot[r.ip].get("reason") or "over its temperature limit"
            views.append(MinerView(
                ip=r.ip, name=r.name or model, online=r.online, unauthorized=r.unauthorized,
                offline_since=r.last_seen_ts, last_error=r.last_error, status=status,
                last_command_ts=getattr(r, "last_command_ts", None),
                avg_1h_hs=getattr(facts.get(r.ip), "avg_1h_hs", None),
                limit_c=rt.autocontrol.limit_c(r), overheat_stop=stop))
        return views

    def _site_view(self, now: float) -> SiteView:
        rt = self.runtime
        battery = rt.battery
        control = rt.autocontrol.controller.status()
        disk_pct, disk_text = _disk(rt.data_dir)
        health = rt.db.health
        schedule = getattr(rt, "backup_schedule", None)  # services/backup_schedule.py (a test's fake runtime: none)
        return SiteView(
            battery_configured=battery.configured, battery_connected=battery.connected,
            battery_error=battery.last_error, battery_lost_since=battery.lost_since,
            emergency=bool(control.get("emergency")), emergency_text=control.get("reason") or "",
            failsafe=bool(control.get("failsafe")), failsafe_text=control.get("reason") or "",
            controlling=bool(control.get("enabled")) or getattr(rt.autocontrol, "commanding", False),
            disk_used_pct=disk_pct, disk_text=disk_text,
            backup_judged=schedule is not None, backup_failing=schedule.failing() if schedule is not None else None,
            db_error=health.error, db_error_since=health.error_since,
            channels=tuple(notifier.channels()) if (notifier := self.notifier) is not None else ())

    # --- the API ---------------------------------------------------------------------------
    def alerts(self) -> list[dict]:
        """GET /api/alerts: the active problems, newest first."""
        with self._lock:
            return [self._problem_json(p) for p in self.book.problems()]

    def status(self) -> dict:
        """GET /api/alerts/status: the badge count, channels, mutes, quiet hours, kinds."""
        now = self.clock()
        with self._lock:
            muted = {k: v for k, v in list(self.book.muted.items()) if self.book.is_muted(k, now)}
            count = self.book.unacknowledged()
            waiting = self._outbox.waiting()
        notifier = self.notifier
        return {"count": count, "channels": notifier.channels() if notifier is not None else [],
                "muted": muted, "quiet_hours": self.cfg.quiet_hours, "quiet_now": in_quiet_hours(self._quiet, now),
                "waiting": waiting, "dashboard_url": self.dashboard_url,
                "kinds": {k: {"label": v.label, "severity": v.severity, "problem": v.problem,
                              "enabled": k not in self.cfg.disabled} for k, v in KINDS.items()}}

    def ack(self, problem_id: str, by: str) -> bool:
        """Acknowledge one problem (False: no such active problem)."""
        with self._lock:
            problem = self.book.get(problem_id)
            if problem is None or not self.book.ack(problem_id):
                return False
            self._save()
        self._event("alert_ack", f"acknowledged: {KINDS[problem.kind].label} ({problem.message})", problem, "info",
                    actor=by)
        self._announce()
        return True

    def ack_all(self, by: str) -> int:
        """Acknowledge every active problem; how many were not yet."""
        with self._lock:
            count = self.book.ack_all()
            if count:
                self._save()
        if count:
            with self.runtime.db.write() as conn:
                queries.add_event(conn, "alert_ack", f"{count} alerts acknowledged", actor=by, severity="info")
        self._announce()
        return count

    def mute(self, kind: str, minutes: float | None, by: str) -> None:
        """Mute a kind for ``minutes`` (None = until unmuted); ValueError for an unknown kind."""
        until = None if minutes is None else self.clock() + minutes * 60
        with self._lock:
            self.book.mute(kind, until)
            self._save()
        text = "until unmuted" if minutes is None else f"for {_duration(minutes * 60)}"
        with self.runtime.db.write() as conn:
            queries.add_event(conn, "alert_mute", f"{KINDS[kind].label}: muted {text}", actor=by, severity="info")

    def unmute(self, kind: str, by: str) -> None:
        """Messages of ``kind`` go out again; ValueError for an unknown kind."""
        if kind not in KINDS:
            raise ValueError(f"kind: unknown alert kind {kind!r}")
        with self._lock:
            self.book.unmute(kind)
            self._save()
        with self.runtime.db.write() as conn:
            queries.add_event(conn, "alert_mute", f"{KINDS[kind].label}: unmuted", actor=by, severity="info")

    def test(self, by: str, timeout_s: float = 20.0, *, channel: str | None = None) -> list[dict]:
        """Send a test message to every channel (or only the one configured as ``channel``) now and wait for
        the answers (LookupError: no channel, or not that one)."""
        notifier = self.notifier
        if notifier is None:
            raise LookupError("no notification channel: set alerts.urls in config.yaml (docs/alerts.md)")
        results = notifier.test(timeout_s) if channel is None else notifier.test(timeout_s, source=channel)
        if not results:
            raise LookupError("this channel is not in use yet: the controller uses it after a restart")
        ok = sum(1 for r in results if r["ok"])
        if channel is None:
            text = f"test message: {ok} of {len(results)} channels accepted it"
        else:  # the scheme only: the rest of a channel's URL may be its token
            text = f"test message to a {scheme_of(channel)}:// channel: " + (
                "accepted" if ok else "failed")
        with self.runtime.db.write() as conn:
            queries.add_event(conn, "alert_test", text, actor=by, severity="info" if ok == len(results) else "warning")
        return results

    def reconfigure(self, config: Any) -> None:
        """Use ``config``'s triggers, quiet hours and switches from the next check (the Settings page).

        The channels stay as they are (set_channels changes them), and so does what the detectors
        remember: a problem already being timed keeps its start, judged by the new hold.
        """
        with self._lock:  # a check in progress finishes with the settings it started with
            self.config = config  # polling.interval_sec (also live): how fresh a reading must be
            self.cfg = dataclasses.replace(config.alerts, urls=self.cfg.urls)
            self._detectors.config = self.cfg
            self._outbox.digest_at = self.cfg.digest_at
            self._quiet = self.cfg.quiet_minutes()
            self.dashboard_url = self._dashboard_url(config)

    def set_channels(self, urls: Sequence[str]) -> None:
        """Use these Apprise URLs from now on (the Settings page; ValueError, nothing changed, if one is unusable).

        The notifier swaps its list in place: a kept channel keeps its queue, and there is never more
        than one Notifier (and its one thread) per service, however often the list changes.
        """
        urls = tuple(url.strip() for url in urls)
        with self._swap_lock:
            notifier = self._made
            if notifier is None and urls:
                from services.alerts.notifier import Notifier  # apprise only when a channel is configured

                notifier = Notifier(urls)
            elif notifier is not None:
                if not hasattr(notifier, "set_urls"):
                    raise RuntimeError("this notifier cannot change its channels: restart to use them")
                notifier.set_urls(urls)
            self._made = notifier
            with self._lock:  # a check in progress finishes with the list it started with
                self.notifier = notifier if urls else None
                self.cfg = dataclasses.replace(self.cfg, urls=urls)

    # --- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _dashboard_url(config: Any) -> str:
        """The link in every message: alerts.dashboard_url, else this host on server.port."""
        return (config.alerts.dashboard_url or default_dashboard_url(config.server.port)).rstrip("/") + "/"

    def _problem_json(self, p: Problem) -> dict:
        kind = KINDS[p.kind]
        miner = p.subject if p.kind in MINER_KINDS else None
        return {"id": p.id, "kind": p.kind, "severity": kind.severity, "miner": miner,
                "miner_name": p.name or None, "title": kind.title.format(who=self._who(p) or "Controller"),
                "message": p.message, "since": _iso(p.since), "since_ts": p.since, "raised_ts": p.raised_at,
                "acknowledged": p.acknowledged, "notified": p.notified}

    def _who(self, p: Problem) -> str:
        if p.kind not in MINER_KINDS:
            return ""
        return f"{p.name} ({p.subject})" if p.name and p.name != p.subject else p.subject

    def _link(self, p: Problem) -> str:
        return self.dashboard_url + (f"#miner={p.subject}" if p.kind in MINER_KINDS else "")

    def _event(self, kind: str, message: str, p: Problem, severity: str, actor: str = ACTOR) -> None:
        miner = p.subject if p.kind in MINER_KINDS else None
        with self.runtime.db.write() as conn:
            queries.add_event(conn, kind, message, miner_ip=miner, actor=actor, severity=severity)
        log.info("%s%s: %s", f"{miner} " if miner else "", kind, message)

    def _save(self) -> None:
        with self.runtime.db.write() as conn:
            queries.set_state(conn, STATE_KEY, self.book.to_json())

    def _announce(self) -> None:
        """Tell the dashboards (WebSocket) when the badge's number changes."""
        with self._lock:
            count = self.book.unacknowledged()
            total = len(self.book.problems())
        if (count, total) != self._last_count and self._publish is not None:
            self._publish({"type": "alerts", "count": count, "active": total})
        self._last_count = (count, total)


def _disk(path: Path) -> tuple[float | None, str]:
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None, ""
    pct = 100 * usage.used / usage.total if usage.total else 0.0
    return pct, f"{pct:.0f} % of {usage.total / 1e9:.1f} GB used, {usage.free / 1e9:.1f} GB free on {path}"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def _si(value: float) -> str:
    for factor, suffix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.2f}{suffix}"
    return f"{value:.0f}"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
