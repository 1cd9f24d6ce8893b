"""The EMS dispatch state: idle, active at a target, or stopped; persisted, with the silence rule.

No I/O apart from the injected state store and event function. ``AutoControl``
reads ``target_w()`` every tick (None = the EMS is not in control, 0 = keep the
fleet stopped, > 0 = the dispatched watts) and the web layer calls
``activate``/``deactivate``. Only real changes are saved (the SD card), except
that in "lease" mode each call renews the lease, which must survive a restart.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from .request import FIELD, BadActivation

STATE_KEY = "ems.dispatch"  # key in the database ``state`` table
IDLE, ACTIVE, STOPPED = "idle", "active", "stopped"
RUNNING_IDLE, RUNNING_ACTIVE = 1, 2  # /api/status runningStatus
ACTOR = "ems"
RECENT_CALLS = 50
RECENT_REFUSED = 20  # aggregated refusals of unauthenticated callers kept beside the real calls
ASKED_CHARS = 120  # what an authenticated EMS asked, as shown in the call log and its event


def clean_text(text: str, limit: int = ASKED_CHARS) -> str:
    """One printable line of at most ``limit`` characters (control and format characters become spaces)."""
    shown = "".join(ch if ch.isprintable() else " " for ch in text[:limit * 2])
    shown = " ".join(shown.split())
    return shown if len(shown) <= limit else shown[:limit - 1] + "…"


def fmt_kw(kw: float) -> str:
    """5.0 -> "5 kW", 2.345 -> "2.345 kW"."""
    return f"{kw:.3f}".rstrip("0").rstrip(".") + " kW"


def same_kw(a: float | None, b: float | None) -> bool:
    """Equal to the watt (5 and 5.0 and 5.0000001 are the same dispatch)."""
    return a is not None and b is not None and round(a * 1000) == round(b * 1000)


@dataclass
class DispatchState:
    """What survives a restart: the mode, the target and the lease."""

    mode: str = IDLE  # idle (EMS not in control) | active (running at target_kw) | stopped (deactivated)
    target_kw: float | None = None
    since: float | None = None  # when the current mode/target began
    last_call_at: float | None = None  # last EMS call that set or repeated it (saved on changes only in hold mode)
    lease_until: float | None = None  # silence "lease": the EMS must call again before this
    generation: int = 0  # +1 on every change: the first tick after a change is urgent

    @classmethod
    def from_json(cls, data: Any) -> "DispatchState":
        """Rebuild from the stored dict; anything unusable is idle."""
        if not isinstance(data, dict) or data.get("mode") not in (IDLE, ACTIVE, STOPPED):
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        state = cls(**known)
        if state.mode == ACTIVE and not (isinstance(state.target_kw, (int, float)) and state.target_kw > 0):
            return cls()
        return state


@dataclass(frozen=True)
class Outcome:
    """The answer to one EMS command."""

    accepted: bool
    changed: bool  # the state changed: the fleet must be re-planned
    message: str


@dataclass(frozen=True)
class CallRecord:
    """One EMS call as /api/ems lists it (never a token or header)."""

    at: float
    call: str  # "POST /api/activate"
    request: str  # what was asked, e.g. '{"activationPowerInKw": 5}'
    status: int  # HTTP status answered
    accepted: bool | None
    message: str
    count: int = 1  # aggregated refusals: how many in that minute from that source


class EmsDispatcher:
    """Holds the dispatch state; thread-safe; events through ``event(kind, message, actor=...)``."""

    def __init__(self, cfg: Any, store: Any, *, event: Callable[..., None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """cfg is services.config.EmsConfig; store has get/set of JSON values."""
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self._event = event or (lambda *a, **k: None)
        self._lock = threading.Lock()
        self.state = DispatchState.from_json(store.get(STATE_KEY))
        # The silence rule is config: a lease saved under "lease" means nothing under "hold", and a
        # dispatch saved under "hold" gets a full lease once the config says "lease".
        if cfg.silence != "lease":
            self.state.lease_until = None
        elif self.state.mode != IDLE and self.state.lease_until is None:
            self.state.lease_until = self._lease(clock())
        self.calls: collections.deque[CallRecord] = collections.deque(maxlen=RECENT_CALLS)
        # Refusals of callers without the token, one record per (minute, call, status, source): a flood of
        # them neither grows memory nor pushes the real EMS calls out of the dashboard's list.
        self.refused: collections.deque[CallRecord] = collections.deque(maxlen=RECENT_REFUSED)
        self._refused_keys: dict[tuple, CallRecord] = {}
        self.status_calls = 0  # authorized GET /api/status since start (not events: an EMS polls it)
        self.last_status_call_at: float | None = None

    # --- reading ----------------------------------------------------------------
    @property
    def configured(self) -> bool:
        """True when an EMS token is set (or ems.allow_from lets addresses in without one)."""
        return bool(self.cfg.token or self.cfg.allow_from)

    @property
    def engaged(self) -> bool:
        """True while the EMS holds the fleet (active or stopped)."""
        return self.state.mode != IDLE

    @property
    def running_status(self) -> int:
        """2 while a dispatch is active, else 1."""
        return RUNNING_ACTIVE if self.state.mode == ACTIVE else RUNNING_IDLE

    def target_w(self) -> float | None:
        """None = not in control, 0 = stopped, else the dispatched watts."""
        st = self.state
        if st.mode == ACTIVE:
            return float(st.target_kw) * 1000.0
        return 0.0 if st.mode == STOPPED else None

    def describe(self) -> str:
        """'active at 5 kW', 'stopped (deactivated)', 'idle'."""
        st = self.state
        if st.mode == ACTIVE:
            return f"active at {fmt_kw(st.target_kw)}"
        return "stopped (deactivated)" if st.mode == STOPPED else "idle"

    def to_dict(self) -> dict[str, Any]:
        """The dispatch part of /api/ems."""
        st = self.state
        return {"configured": self.configured, "silence": self.cfg.silence, "lease_minutes": self.cfg.lease_minutes,
                "state": st.mode, "active": st.mode == ACTIVE, "runningStatus": self.running_status,
                "target_kw": st.target_kw if st.mode == ACTIVE else (0.0 if st.mode == STOPPED else None),
                "since": st.since, "last_call_at": st.last_call_at, "lease_expires_at": st.lease_until,
                "status_calls": self.status_calls, "last_status_call_at": self.last_status_call_at,
                "calls": self.recent_calls()}

    def recent_calls(self) -> list[dict[str, Any]]:
        """The last calls, newest first: the real ones and the aggregated refusals, at most RECENT_CALLS."""
        with self._lock:
            merged = sorted([*self.calls, *self.refused], key=lambda c: c.at, reverse=True)
        return [asdict(c) for c in merged[:RECENT_CALLS]]

    # --- commands ---------------------------------------------------------------
    def activate(self, kw: float, rated_kw: float, now: float | None = None) -> Outcome:
        """Run at ``kw`` (0 < kw <= rated_kw, else BadActivation and nothing changes)."""
        now = self.clock() if now is None else now
        if kw <= 0:
            raise BadActivation(f"{FIELD}: must be above 0, got {kw:g} (use /api/deactivate to stop)")
        if kw > rated_kw + 1e-9:
            raise BadActivation(f"{FIELD}: {kw:g} is above the rated power {rated_kw:g} kW")
        with self._lock:
            st = self.state
            if st.mode == ACTIVE and same_kw(st.target_kw, kw):
                self._renew(now)
                return Outcome(True, False, f"already active at {fmt_kw(st.target_kw)}: nothing changed, nothing sent")
            before = self.describe()
            self.state = DispatchState(ACTIVE, round(float(kw), 6), now, now, self._lease(now), st.generation + 1)
            self._save()
        return Outcome(True, True, f"activated: {fmt_kw(kw)} (was {before})")

    def deactivate(self, now: float | None = None) -> Outcome:
        """Stop every controllable miner and keep them stopped; repeating it changes nothing."""
        now = self.clock() if now is None else now
        with self._lock:
            st = self.state
            if st.mode == STOPPED:
                self._renew(now)
                return Outcome(True, False, "already deactivated: nothing changed, nothing sent")
            before = self.describe()
            self.state = DispatchState(STOPPED, None, now, now, self._lease(now), st.generation + 1)
            self._save()
        return Outcome(True, True, f"deactivated: stopping the controllable miners (was {before})")

    def release(self, by: str, now: float | None = None) -> Outcome:
        """The operator hands a deactivated fleet back to the solar policy (not an active dispatch)."""
        now = self.clock() if now is None else now
        with self._lock:
            st = self.state
            if st.mode == ACTIVE:
                return Outcome(False, False, f"a dispatch is active ({fmt_kw(st.target_kw)}): the EMS ends it with "
                                             "/api/deactivate; a manual override outranks it meanwhile")
            if st.mode == IDLE:
                return Outcome(True, False, "the EMS does not hold the fleet: nothing to release")
            self.state = DispatchState(IDLE, None, now, st.last_call_at, None, st.generation + 1)
            self._save()
        self._event("ems", "deactivated fleet released to the solar policy by the operator", actor=by)
        return Outcome(True, True, "released: the solar policy decides again")

    def expire(self, now: float | None = None) -> bool:
        """Silence "lease": past lease_until the EMS gives control back to the solar policy (event); True if so."""
        now = self.clock() if now is None else now
        with self._lock:
            st = self.state
            if st.mode == IDLE or st.lease_until is None or now < st.lease_until:
                return False
            what = self.describe()
            self.state = DispatchState(IDLE, None, now, st.last_call_at, None, st.generation + 1)
            self._save()
        self._event("ems", f"EMS lease expired ({what}; no call for {self.cfg.lease_minutes:g} min): "
                           "control returns to the solar policy", actor="controller")
        return True

    def record_call(self, call: str, asked: str, status: int, accepted: bool | None, message: str,
                    now: float | None = None) -> None:
        """Remember one authenticated EMS call and write its event (kind "ems", actor "ems")."""
        now = self.clock() if now is None else now
        asked, message = clean_text(asked), clean_text(message, 300)
        with self._lock:
            self.calls.append(CallRecord(now, call, asked, status, accepted, message))
        answer = {True: "accepted", False: "refused", None: ""}[accepted]
        self._event("ems", f"{call}{' ' + asked if asked else ''} -> {status} {answer}: {message}".replace("  ", " "),
                    actor=ACTOR)

    def record_refusal(self, call: str, status: int, accepted: bool | None, message: str, source: str,
                       now: float | None = None) -> CallRecord:
        """Count a call refused before authentication (never its body): one record per minute and source."""
        now = self.clock() if now is None else now
        key = (int(now // 60), call, status, source)
        with self._lock:
            old = self._refused_keys.get(key)
            count = old.count + 1 if old is not None else 1
            record = CallRecord(now, call, "", status, accepted,
                                message if count == 1 else f"{message} ({count} times this minute)", count)
            if old is not None and old in self.refused:
                self.refused.remove(old)  # at most RECENT_REFUSED entries: cheap
            self.refused.append(record)
            live = {id(r) for r in self.refused}
            self._refused_keys = {k: r for k, r in self._refused_keys.items() if id(r) in live}
            self._refused_keys[key] = record
        return record

    def note_status_call(self, now: float | None = None) -> None:
        """Count an authorized GET /api/status (polled often: counted, not an event)."""
        self.status_calls += 1
        self.last_status_call_at = self.clock() if now is None else now

    # --- helpers -----------------------------------------------------------------
    def _lease(self, now: float) -> float | None:
        return now + self.cfg.lease_minutes * 60 if self.cfg.silence == "lease" else None

    def _renew(self, now: float) -> None:
        # A repeat changes nothing in hold mode (not even a write); in lease mode it renews the lease.
        self.state.last_call_at = now
        if self.cfg.silence == "lease":
            self.state.lease_until = self._lease(now)
            self._save()

    def _save(self) -> None:
        self.store.set(STATE_KEY, asdict(self.state))
