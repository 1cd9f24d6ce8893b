"""Notification channels: a bounded queue per Apprise URL, sent by one thread with retries.

Why a thread of its own: a send to a phone service can take seconds (or the
socket timeout) and must never hold up polling or control. ``send()`` only
appends to a channel's queue; the ``alerts-notify`` thread sends, one attempt at
a time, always the channel whose next message is due first, so a dead channel
waiting out its retry delay never delays a healthy one. Each channel keeps its
messages in order (a "resolved" never overtakes its problem): a failed message
stays at the head of its channel's queue until it is sent or its retries are
used up. Each attempt is bounded by the socket timeouts set in
``services/alerts/urls.py`` (docs/alerts-channels.md).

Secrets: only each channel's shown name leaves this module (services/alerts/labels.py: the
service, and its server where that is one; "ntfy (2)" for a second ntfy channel), in return
values, callbacks and logs; error texts are redacted.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from services.alerts.urls import Channel, build, check_urls, expand_env, redact

__all__ = ["ChannelState", "Notification", "Notifier", "check_urls", "expand_env"]

log = logging.getLogger(__name__)

# Apprise's NotifyType values (apprise.NotifyType.INFO/WARNING/FAILURE), spelled out so that
# building a Notification never imports apprise.
NOTIFY_TYPES = {"info": "info", "warning": "warning", "critical": "failure"}
TEST_TITLE = "Test from the mining controller"
TEST_BODY = "If you can read this, alerts reach you on this channel."
_MAX_ERROR = 300  # characters of an error text kept (Apprise's warnings are one line)
_IDLE_WAIT_S = 60.0  # nothing due: the thread still wakes this often (cheap, and survives clock oddities)


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for every channel."""

    title: str
    body: str
    severity: str  # "info" | "warning" | "critical" (Apprise NotifyType info/warning/failure)
    key: str = ""  # what it is about (e.g. "miner_offline:10.0.0.5"), for logs only

    def __post_init__(self) -> None:
        if self.severity not in NOTIFY_TYPES:
            raise ValueError(f"severity: must be info, warning or critical, got {self.severity!r}")


@dataclass(frozen=True)
class ChannelState:
    """A channel became failing (``ok`` False) or recovered (``ok`` True)."""

    url: str  # the channel's shown name, never its URL
    ok: bool
    error: str | None
    since: float  # clock() time: the first failure of the run, or the recovery


class _TestSlot:
    """Where the sender thread puts one channel's test result for ``test()``."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.cancelled = False
        self.ok = False
        self.error: str | None = None


@dataclass(eq=False)
class _Job:
    message: Notification
    due: float  # time.monotonic() of the next attempt
    attempt: int = 0  # failed attempts so far
    test: _TestSlot | None = None


@dataclass(eq=False)
class _ChannelRun:
    """One channel's queue and counters (guarded by the notifier's lock)."""

    channel: Channel
    source: str = ""  # the URL as configured (stripped, ${VAR} unexpanded): how set_urls() knows a kept channel
    queue: collections.deque[_Job] = field(default_factory=collections.deque)
    busy: bool = False  # the thread is sending this channel's head job right now
    next_free: float = 0.0  # monotonic time before which the plugin's own throttle wants no send
    ok: bool | None = None
    last_error: str | None = None
    failing_since: float | None = None
    consecutive_failures: int = 0
    failing: bool = False  # the "failing" callback has been made and no success since
    sent: int = 0
    failed: int = 0
    name: str = ""  # shown in status, events and logs: the channel's label, numbered when two share one


def _name_runs(runs: Sequence[_ChannelRun]) -> None:
    """Give each run its shown name: its label, with " (2)", " (3)"... for later runs of the same label."""
    seen: dict[str, int] = {}
    for run in runs:
        shown = run.channel.masked
        seen[shown] = seen.get(shown, 0) + 1
        run.name = shown if seen[shown] == 1 else f"{shown} ({seen[shown]})"


def _empty_queue(run: _ChannelRun, why: str) -> int:
    """Drop a channel's queue (the caller holds the lock): waiting tests are answered with ``why``.

    Returns how many messages (not tests) were dropped.
    """
    dropped = 0
    for job in run.queue:
        if job.test is not None:
            job.test.error = why
            job.test.done.set()
        else:
            dropped += 1
    run.queue.clear()
    return dropped


class Notifier:
    """Sends each Notification to every Apprise URL from one background thread."""

    def __init__(self, urls: Sequence[str], *, queue_size: int = 200,
                 retry_delays_s: Sequence[float] = (10, 60, 300), fail_after: int = 2,
                 on_channel_change: Callable[[ChannelState], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size: must be at least 1, got {queue_size}")
        if fail_after < 1:
            raise ValueError(f"fail_after: must be at least 1, got {fail_after}")
        if any(d < 0 for d in retry_delays_s):
            raise ValueError("retry_delays_s: delays must not be negative")
        check_urls(urls)  # the same one-line errors as config validation (and ${VAR} expansion)
        # apprise is imported here only when there is a URL (build() does it).
        self._runs = [_ChannelRun(build(expand_env(url.strip())), url.strip()) for url in urls]
        _name_runs(self._runs)
        self._queue_size = queue_size
        self._delays = tuple(float(d) for d in retry_delays_s)
        self._fail_after = fail_after
        self._on_change = on_channel_change
        self._clock = clock
        self._cond = threading.Condition()
        self._swap_lock = threading.Lock()  # set_urls(): one at a time
        self._thread: threading.Thread | None = None
        self._closed = False
        self._dropping = False  # inside a burst of full-queue drops (logged once at its start and end)
        self._burst_dropped = 0
        self.dropped = 0  # messages refused by send() because a channel's queue was full (per channel)

    # -- the public side (any thread) --------------------------------------------------------

    def send(self, n: Notification) -> bool:
        """Queue ``n`` for every channel without blocking; False if a channel's queue was full (or closed)."""
        with self._cond:
            if self._closed:
                return False
            if not self._runs:
                return True
            now = time.monotonic()
            full = [run for run in self._runs if len(run.queue) + run.busy >= self._queue_size]
            for run in self._runs:
                if run not in full:
                    run.queue.append(_Job(n, due=now))
            self._note_drops(n, full)
            self._start()
            self._cond.notify()
            return not full

    def test(self, timeout_s: float = 20.0, *, source: str | None = None) -> list[dict]:
        """Send a test message to each channel now, ahead of its queue; per-channel results within ``timeout_s``.

        ``source``: only the channel configured with that URL (the Settings page's per-channel Test);
        [] when no channel has it.
        """
        message = Notification(TEST_TITLE, TEST_BODY, "info", key="test")
        slots: list[_TestSlot] = []
        with self._cond:
            # A snapshot: set_urls() may swap the list while this waits for the answers.
            runs = [run for run in self._runs if source is None or run.source == source.strip()]
            for run in runs:
                slot = _TestSlot()
                slots.append(slot)
                if self._closed:
                    slot.error = "the notifier is closed"
                    slot.done.set()
                else:
                    run.queue.appendleft(_Job(message, due=0.0, test=slot))
            if not self._closed and runs:
                self._start()
                self._cond.notify()
        deadline = time.monotonic() + max(0.0, timeout_s)
        results = []
        for run, slot in zip(runs, slots):
            finished = slot.done.wait(max(0.0, deadline - time.monotonic()))
            with self._cond:
                if not finished and not slot.done.is_set():
                    slot.cancelled = True  # still queued: skip it; sending: its result is ignored
                    slot.error = f"no answer within {timeout_s:g} s"
                results.append({"url": run.name, "ok": slot.ok, "error": slot.error})
        return results

    def set_urls(self, urls: Sequence[str]) -> None:
        """Swap the channel list in place (the Settings page): no new thread, no Apprise object per change.

        A URL already configured keeps its channel (queue, retries, health); a new one is built
        outside the lock (Apprise parses it); a removed one's queued messages are dropped (logged
        with a count) and its waiting tests answered. ValueError (nothing changed) as check_urls.
        """
        wanted = [url.strip() for url in urls]
        check_urls(wanted)
        with self._swap_lock:  # one swap at a time: the list read below is the one replaced
            with self._cond:
                left: dict[str, collections.deque[_ChannelRun]] = collections.defaultdict(collections.deque)
                for run in self._runs:
                    left[run.source].append(run)
            runs = [left[url].popleft() if left[url] else _ChannelRun(build(expand_env(url)), url) for url in wanted]
            dropped = 0
            with self._cond:
                if self._closed:
                    return
                for gone in (run for rest in left.values() for run in rest):
                    dropped += _empty_queue(gone, "the channel was removed")
                _name_runs(runs)  # under the lock: the sender thread reads the names
                self._runs = runs
                self._cond.notify()
        if dropped:
            log.warning("alerts: %d queued message(s) of removed channel(s) dropped", dropped)

    def channels(self) -> list[dict]:
        """Each channel's shown name (under "url"), health and counters."""
        with self._cond:
            return [{"url": run.name, "ok": run.ok, "last_error": run.last_error,
                     "failing_since": run.failing_since, "sent": run.sent, "failed": run.failed,
                     "pending": sum(1 for job in run.queue if job.test is None) + run.busy}
                    for run in self._runs]

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread; queued messages and pending retries are dropped (logged with a count)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            dropped = 0
            for run in self._runs:
                dropped += _empty_queue(run, "the notifier is closed")
            self._cond.notify_all()
            thread = self._thread
        if dropped:
            log.warning("alerts: closing with %d unsent message(s) dropped", dropped)
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                # A send in progress ends by its socket timeout (<= urls.MAX_TIMEOUT_S); the thread is a daemon.
                log.warning("alerts: the sender thread is still finishing a send after %.1f s", timeout_s)

    # -- the sender thread ---------------------------------------------------------------------

    def _start(self) -> None:
        """Start the thread on first use (caller holds the lock)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alerts-notify", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                run, job = self._next_job(now)
                if job is None:
                    self._cond.wait(self._idle_time(now))
                    continue
                run.queue.popleft()
                run.busy = job.test is None
                run.next_free = now + run.channel.min_interval_s
            try:
                ok, error = _attempt(run.channel, job.message)
            except BaseException:  # _attempt catches Exception; keep the counters right on anything else
                with self._cond:
                    run.busy = False
                raise
            self._finish(run, job, ok, error)

    def _next_job(self, now: float) -> tuple[_ChannelRun | None, _Job | None]:
        """The due job that has waited longest: tests first, then heads of queues whose pacing allows."""
        best: tuple[_ChannelRun | None, _Job | None] = (None, None)
        for run in self._runs:
            while run.queue and run.queue[0].test is not None and run.queue[0].test.cancelled:
                run.queue.popleft()
            if not run.queue:
                continue
            job = run.queue[0]
            if job.test is not None:
                return run, job
            if job.due <= now and run.next_free <= now and (best[1] is None or job.due < best[1].due):
                best = (run, job)
        return best

    def _idle_time(self, now: float) -> float:
        """Seconds until the earliest queue head may be sent (the caller holds the lock)."""
        waits = [max(run.queue[0].due, run.next_free) - now for run in self._runs if run.queue]
        return max(0.0, min([_IDLE_WAIT_S, *waits]))

    def _finish(self, run: _ChannelRun, job: _Job, ok: bool, error: str | None) -> None:
        """Record one attempt's outcome, re-queue or give up, and tell the callback of a change."""
        change: ChannelState | None = None
        masked, key = run.name, job.message.key
        with self._cond:
            run.busy = False
            run.ok = ok
            if ok:
                run.sent += 1
                run.last_error = None
                run.failing_since = None
                run.consecutive_failures = 0
                if run.failing:
                    run.failing = False
                    change = ChannelState(masked, True, None, self._clock())
            else:
                run.last_error = error
                run.consecutive_failures += 1
                if run.failing_since is None:
                    run.failing_since = self._clock()
                if run.consecutive_failures >= self._fail_after and not run.failing:
                    run.failing = True
                    change = ChannelState(masked, False, error, run.failing_since)
                if job.test is None and job.attempt < len(self._delays) and not self._closed:
                    job.due = time.monotonic() + self._delays[job.attempt]
                    job.attempt += 1
                    # Back to the head (behind any test queued meanwhile): the channel's order is kept.
                    run.queue.insert(sum(1 for _ in _leading_tests(run.queue)), job)
                    log.debug("alerts: %s to %s failed (attempt %d), retry in %g s: %s",
                              key or job.message.title, masked, job.attempt, self._delays[job.attempt - 1], error)
                else:
                    run.failed += 1
                    if job.test is None:
                        log.warning("alerts: gave up on %s to %s after %d attempt(s): %s",
                                    key or job.message.title, masked, job.attempt + 1, error)
            if job.test is not None and not job.test.cancelled:
                job.test.ok, job.test.error = ok, error
                job.test.done.set()
        if change is not None:
            self._tell(change)

    def _tell(self, change: ChannelState) -> None:
        """Log the change and call on_channel_change; nothing it raises reaches the thread."""
        if change.ok:
            log.info("alerts: channel %s works again", change.url)
        else:
            log.warning("alerts: channel %s is failing: %s", change.url, change.error)
        if self._on_change is None:
            return
        try:
            self._on_change(change)
        except Exception:
            log.exception("alerts: on_channel_change raised (ignored)")

    def _note_drops(self, n: Notification, full: list[_ChannelRun]) -> None:
        """Count refused messages; log once when a burst of them starts and once when it ends."""
        if full:
            self.dropped += len(full)
            self._burst_dropped += len(full)
            if not self._dropping:
                self._dropping = True
                log.warning("alerts: queue full (%d) for %s: dropping %s (further drops are counted, "
                            "logged when the queue takes messages again)", self._queue_size,
                            ", ".join(run.name for run in full), n.key or n.title)
        elif self._dropping:
            log.warning("alerts: queue takes messages again; %d message(s) were dropped", self._burst_dropped)
            self._dropping, self._burst_dropped = False, 0


def _leading_tests(queue: collections.deque[_Job]):
    """The test jobs at the front of a channel's queue."""
    for job in queue:
        if job.test is None:
            return
        yield job


def _attempt(channel: Channel, n: Notification) -> tuple[bool, str | None]:
    """One send through Apprise: (ok, redacted reason). Bounded by the plugin's capped socket timeouts."""
    reasons: list[str] = []

    def collect(entry, _service) -> None:  # Apprise's per-call log capture (warnings say what failed)
        if entry.level in ("WARNING", "ERROR", "CRITICAL"):
            reasons.append(entry.message)

    try:
        result = channel.apprise.notify(body=n.body, title=n.title, notify_type=NOTIFY_TYPES[n.severity],
                                        body_format="text", log_callback=collect)
        ok = bool(result)
        result.close()  # AppriseResult may hold its captured log lines in a spill file
    except Exception as exc:  # a plugin bug must not end the thread
        ok = False
        reasons.append(f"{type(exc).__name__}: {exc}")
    if ok:
        return True, None
    text = "; ".join(dict.fromkeys(reasons)) or "Apprise reported a failure without a reason"
    return False, redact(text)[:_MAX_ERROR]
