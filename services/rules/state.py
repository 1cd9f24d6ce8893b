"""What the rules must remember between ticks and across a restart, as plain JSON.

Per rule, per subject: the whole rule ("*"), or each miner for a rule whose
triggers read a miner (its guards then count for that miner alone, so one
restarting miner does not use up another's restarts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

FLEET = "*"  # the subject of a rule that does not read a miner
VERSION = 1


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class SubjectState:
    """One rule's progress for one subject."""

    since: float | None = None  # `when` has held since (for_min counts from here)
    firing: bool = False
    why: str = ""  # what held when it fired (the reason while it fires)
    last_fired: float | None = None  # epoch seconds (cooldown)
    day: str = ""  # local date of fired_today (YYYY-MM-DD)
    fired_today: int = 0  # max_per_day
    refused: str = ""  # the guard that refused the current episode ("" = none), so its event is sent once

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (defaults left out: the state table stays small)."""
        out: dict[str, Any] = {}
        for name, default in (("since", None), ("firing", False), ("why", ""), ("last_fired", None),
                              ("day", ""), ("fired_today", 0), ("refused", "")):
            value = getattr(self, name)
            if value != default:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: Any) -> SubjectState:
        """Tolerant: a missing or malformed value takes its default (a bad saved state never stops control)."""
        if not isinstance(data, dict):
            return cls()
        count = data.get("fired_today")
        return cls(since=_num(data.get("since")), firing=data.get("firing") is True,
                   why=data["why"] if isinstance(data.get("why"), str) else "",
                   last_fired=_num(data.get("last_fired")),
                   day=data["day"] if isinstance(data.get("day"), str) else "",
                   fired_today=count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0,
                   refused=data["refused"] if isinstance(data.get("refused"), str) else "")


@dataclass
class RuleState:
    """One rule: the signature of the rule it was built for, and its subjects."""

    sig: str = ""
    subjects: dict[str, SubjectState] = field(default_factory=dict)

    def subject(self, key: str) -> SubjectState:
        """The subject's state, made on first use."""
        found = self.subjects.get(key)
        if found is None:
            found = self.subjects[key] = SubjectState()
        return found

    def last_fired(self) -> float | None:
        """The latest firing of any subject."""
        times = [s.last_fired for s in self.subjects.values() if s.last_fired is not None]
        return max(times) if times else None

    def fired_today(self, day: str) -> int:
        """Firings on local date ``day``, all subjects together."""
        return sum(s.fired_today for s in self.subjects.values() if s.day == day)


@dataclass
class RulesState:
    """Every rule's state by rule name; JSON round trip with to_json()/from_json()."""

    rules: dict[str, RuleState] = field(default_factory=dict)

    def rule(self, name: str) -> RuleState:
        """The rule's state, made on first use."""
        found = self.rules.get(name)
        if found is None:
            found = self.rules[name] = RuleState()
        return found

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for the database's state table."""
        return {"version": VERSION,
                "rules": {name: {"sig": rs.sig, "subjects": {k: s.to_json() for k, s in rs.subjects.items()}}
                          for name, rs in self.rules.items()}}

    @classmethod
    def from_json(cls, data: Any) -> RulesState:
        """The state saved by to_json(); anything unreadable starts afresh."""
        state = cls()
        if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("rules"), dict):
            return state
        for name, raw in data["rules"].items():
            if not isinstance(name, str) or not isinstance(raw, dict):
                continue
            subjects = raw.get("subjects") if isinstance(raw.get("subjects"), dict) else {}
            state.rules[name] = RuleState(
                sig=raw["sig"] if isinstance(raw.get("sig"), str) else "",
                subjects={k: SubjectState.from_json(v) for k, v in subjects.items() if isinstance(k, str)})
        return state
