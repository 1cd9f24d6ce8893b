"""The alert book: which problems are active, since when, acknowledged or not (pure: no I/O, no clock).

A detector reports what it sees now as Conditions, and which (kind, subject)
pairs it could judge at all. A condition becomes a problem only after it has
lasted its hold time (a Wi-Fi miner that drops one poll never alerts); a
problem is resolved when its pair is judged and the condition is gone. A pair
nobody could judge (a miner not polled yet after a restart, a battery source
not read yet) keeps its state: unknown is no news. One problem per (kind,
subject), so a dead miner is one alert and one "resolved", never one per poll.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from services.alerts.kinds import KINDS


@dataclass(frozen=True, slots=True)
class Condition:
    """What a detector sees now: a problem of ``kind`` about ``subject`` (a miner's IP, a channel, "" = the site)."""

    kind: str
    subject: str
    message: str  # what was seen, in words: "no answer since 14:02: connection refused"
    hold_s: float = 0.0  # how long it must last before it is a problem
    since: float | None = None  # when it began, if the detector knows (offline: the last good poll)
    name: str = ""  # the miner's name for messages ("" = not a miner)

    @property
    def key(self) -> str:
        """One problem per kind and subject."""
        return f"{self.kind}:{self.subject}"


@dataclass(slots=True)
class Problem:
    """An active problem (past its hold time), as GET /api/alerts shows it."""

    id: str
    kind: str
    subject: str
    message: str
    since: float
    raised_at: float
    name: str = ""
    acknowledged: bool = False
    notified: bool = False  # its alert went out (a "resolved" follows only then)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"


@dataclass(slots=True)
class _Pending:
    condition: Condition
    since: float


@dataclass
class Changes:
    """What one observation changed."""

    raised: list[Problem] = field(default_factory=list)
    resolved: list[Problem] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.raised or self.resolved)


class AlertBook:
    """Pending conditions, active problems, acknowledgements and mutes."""

    def __init__(self, saved: dict[str, Any] | None = None) -> None:
        saved = saved or {}
        self._problems: dict[str, Problem] = {}
        for item in saved.get("problems", []):
            try:
                problem = Problem(**item)
            except TypeError:
                continue  # a row written by another version: dropped, re-detected if still true
            if problem.kind in KINDS:
                self._problems[problem.key] = problem
        self._pending: dict[str, _Pending] = {}
        self.muted: dict[str, float | None] = {k: v for k, v in (saved.get("muted") or {}).items() if k in KINDS}
        self._next_id = int(saved.get("next_id", 1))

    # --- observing ------------------------------------------------------------------
    def observe(self, now: float, conditions: Iterable[Condition], judged: set[tuple[str, str]],
                gone: set[str] = frozenset()) -> Changes:
        """Fold in this check's conditions; ``gone`` = subjects that no longer exist (a removed miner)."""
        changes = Changes()
        judged = set(judged)
        present: dict[str, Condition] = {}
        for c in conditions:
            present[c.key] = c
            judged.add((c.kind, c.subject))
        for key, problem in list(self._problems.items()):
            c = present.pop(key, None)
            if c is not None:
                problem.message = c.message
                if c.name:
                    problem.name = c.name
            elif problem.subject in gone or (problem.kind, problem.subject) in judged:
                del self._problems[key]
                if problem.subject not in gone:
                    changes.resolved.append(problem)
        for key in list(self._pending):
            pending = self._pending[key]
            c = pending.condition
            if key not in present and (c.subject in gone or (c.kind, c.subject) in judged):
                del self._pending[key]  # cleared before its hold time: never an alert
        for key, c in present.items():
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending(c, c.since if c.since is not None else now)
            pending.condition = c
            if now - pending.since >= c.hold_s:
                del self._pending[key]
                problem = Problem(id=f"a{self._next_id}", kind=c.kind, subject=c.subject, message=c.message,
                                  since=pending.since, raised_at=now, name=c.name)
                self._next_id += 1
                self._problems[key] = problem
                changes.raised.append(problem)
        return changes

    # --- the owner's actions ----------------------------------------------------------
    def problems(self) -> list[Problem]:
        """Active problems, newest first."""
        return sorted(self._problems.values(), key=lambda p: (p.since, p.id), reverse=True)

    def get(self, problem_id: str) -> Problem | None:
        """One active problem by id."""
        return next((p for p in self._problems.values() if p.id == problem_id), None)

    def get_by_key(self, key: str) -> Problem | None:
        """One active problem by its kind:subject key."""
        return self._problems.get(key)

    def ack(self, problem_id: str) -> bool:
        """Acknowledge (clear from the error window) one problem; False if no such active problem."""
        problem = self.get(problem_id)
        if problem is None:
            return False
        problem.acknowledged = True
        return True

    def ack_all(self) -> int:
        """Acknowledge every active problem; how many were not yet."""
        count = 0
        for problem in self._problems.values():
            count += not problem.acknowledged
            problem.acknowledged = True
        return count

    def unacknowledged(self) -> int:
        """The header badge's number."""
        return sum(not p.acknowledged for p in self._problems.values())

    def mute(self, kind: str, until: float | None) -> None:
        """No messages of this kind until ``until`` (None = until unmuted); the dashboard still shows them."""
        if kind not in KINDS:
            raise ValueError(f"kind: unknown alert kind {kind!r}")
        self.muted[kind] = until

    def unmute(self, kind: str) -> None:
        """Messages of this kind go out again."""
        self.muted.pop(kind, None)

    def is_muted(self, kind: str, now: float) -> bool:
        """True while ``kind`` is muted; an expired mute is dropped."""
        if kind not in self.muted:
            return False
        until = self.muted[kind]
        if until is not None and now >= until:
            del self.muted[kind]
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        """What survives a restart: the active problems, mutes and the id counter (not the pending ones)."""
        return {"problems": [asdict(p) for p in self._problems.values()], "muted": dict(self.muted),
                "next_id": self._next_id}
