"""RuleBook: the rules of config.yaml plus those added through the API, their state, thread-safe.

Config rules come first (file order), then API rules (the order they were
added): that list is the priority order the evaluator uses. API rules and the
rules' state live in the database's ``state`` table through an injected store
(get/set of JSON values). Config rules cannot be changed through the API
(RuleConflict, the route answers 409). The control thread calls evaluate()
while requests edit: one lock keeps both consistent.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping, Protocol, Sequence

from services.rules.engine import ARMED, DISABLED, INVALID, RuleContext, RulesOutcome, evaluate
from services.rules.model import Rule
from services.rules.parse import RULES_MAX, RuleError, parse_name, parse_rule
from services.rules.state import RulesState
from services.rules.triggers import describe

log = logging.getLogger(__name__)

API_KEY = "rules.api"  # state-table key: the API rules as JSON, in order
STATE_KEY = "rules.state"  # state-table key: RulesState.to_json()
ACTOR = "rules"  # actor of the events the rules' own firing writes
CONFIG_SOURCE, API_SOURCE = "config", "api"


class Store(Protocol):
    """get/set of JSON-able values (services/autocontrol.py DbStore on the database, DictStore in tests)."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


class RuleConflict(Exception):
    """A write the rule book refuses as a conflict (409): a duplicate name or a config rule."""


class UnknownRule(KeyError):
    """No rule of that name (404)."""

    def __str__(self) -> str:
        return f"no rule named {self.args[0]!r}"


@dataclass(frozen=True)
class _Entry:
    """An API rule as stored: parsed, or kept with its error when it no longer parses (shown as invalid)."""

    name: str
    raw: Any
    rule: Rule | None
    error: str = ""


def _durable(state: dict[str, Any]) -> dict[str, Any]:
    """The state without for_min start times: a flapping trigger must not write the SD card every tick.

    Losing `since` at a restart only restarts a for_min count.
    """
    return {name: {k: {f: v for f, v in s.items() if f != "since"} for k, s in rs["subjects"].items()} | {"": rs["sig"]}
            for name, rs in state["rules"].items()}


def summary(rule: Rule) -> str:
    """One line for the event log: "when price > 30 -> sleep"."""
    until = f" until {describe(rule.until)}" if rule.until is not None else ""
    off = " (disabled)" if not rule.enabled else ""
    return f"when {describe(rule.when)}{until} -> {rule.then.describe()}{off}"


class RuleBook:
    """Config and API rules in priority order, their evaluation state, and the API's edits."""

    def __init__(self, config_rules: Sequence[Rule], store: Store, *,
                 event: Callable[..., None] | None = None, families: Collection[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._store = store
        self._event = event
        self._families = families
        self._config = tuple(config_rules)
        config_names = {r.name for r in self._config}
        self._api: list[_Entry] = [self._load(raw, config_names) for raw in self._stored_list()]
        self._state = RulesState.from_json(store.get(STATE_KEY))
        self._saved = _durable(self._state.to_json())
        self._states: dict[str, str] = {}
        self._today = ""  # the local date of the last evaluation (fired_today counts that day)

    # --- loading ------------------------------------------------------------------
    def _stored_list(self) -> list[Any]:
        stored = self._store.get(API_KEY)
        return stored if isinstance(stored, list) else []

    def _load(self, raw: Any, config_names: set[str]) -> _Entry:
        name = raw.get("name") if isinstance(raw, dict) and isinstance(raw.get("name"), str) else "?"
        try:
            rule = parse_rule(raw, families=self._families)
        except RuleError as exc:
            log.warning("stored rule %r no longer valid: %s", name, exc)
            return _Entry(name, raw, None, str(exc))
        if rule.name in config_names:
            return _Entry(name, raw, None, "name: also defined in config.yaml (that one is used)")
        return _Entry(rule.name, raw, rule)

    # --- reading ------------------------------------------------------------------
    def rules(self) -> tuple[Rule, ...]:
        """The valid rules in priority order: config.yaml's, then the API's."""
        with self._lock:
            return self._rules()

    def _rules(self) -> tuple[Rule, ...]:
        return self._config + tuple(e.rule for e in self._api if e.rule is not None)

    def _item(self, rule: Rule, source: str) -> dict[str, Any]:
        rs = self._state.rules.get(rule.name)
        day = self._today or self._day()
        state = self._states.get(rule.name) or (DISABLED if not rule.enabled else ARMED)
        return {**rule.to_json(), "source": source, "state": state,
                "last_fired": rs.last_fired() if rs else None,
                "fired_today": rs.fired_today(day) if rs and day else 0, "guards": rule.guards()}

    def _day(self) -> str:
        # Before the first evaluation: the latest day any rule counted.
        days = [s.day for rs in self._state.rules.values() for s in rs.subjects.values() if s.day]
        return max(days) if days else ""

    def list(self) -> list[dict[str, Any]]:
        """Every rule as GET /api/rules shows it: the rule, source, state, last_fired, fired_today, guards."""
        with self._lock:
            out = [self._item(r, CONFIG_SOURCE) for r in self._config]
            for entry in self._api:
                if entry.rule is not None:
                    out.append(self._item(entry.rule, API_SOURCE))
                else:
                    raw = entry.raw if isinstance(entry.raw, dict) else {}
                    out.append({**raw, "name": entry.name, "source": API_SOURCE, "state": INVALID,
                                "error": entry.error, "last_fired": None, "fired_today": 0})
            return out

    def get(self, name: str) -> dict[str, Any]:
        """One rule as in list(); UnknownRule if there is none."""
        for item in self.list():
            if item["name"] == name:
                return item
        raise UnknownRule(name)

    # --- the API's edits ------------------------------------------------------------
    def _index(self, name: str) -> int:
        if any(r.name == name for r in self._config):
            raise RuleConflict(f"rule {name!r} is defined in config.yaml: change it there (the API edits only "
                               "rules added through the API)")
        for i, entry in enumerate(self._api):
            if entry.name == name:
                return i
        raise UnknownRule(name)

    def _taken(self, name: str, other_than: str | None = None) -> None:
        if name == other_than:
            return
        if any(r.name == name for r in self._config):
            raise RuleConflict(f"name: a rule named {name!r} is already defined in config.yaml")
        if any(e.name == name for e in self._api):
            raise RuleConflict(f"name: a rule named {name!r} already exists")

    def _save(self) -> None:
        self._store.set(API_KEY, [e.rule.to_json() if e.rule is not None else e.raw for e in self._api])

    def _note(self, message: str, by: str) -> None:
        if self._event is not None:
            self._event("rules", message, actor=by)

    def add(self, data: Mapping[str, Any], *, by: str) -> dict[str, Any]:
        """Add a rule at the end of the list; RuleError (400) or RuleConflict (409) changes nothing."""
        rule = parse_rule(data, families=self._families)
        with self._lock:
            self._taken(rule.name)
            if len(self._config) + len(self._api) >= RULES_MAX:
                raise RuleConflict(f"at most {RULES_MAX} rules: delete one first")
            self._api.append(_Entry(rule.name, rule.to_json(), rule))
            self._save()
            item = self._item(rule, API_SOURCE)
        self._note(f"rule {rule.name!r} added: {summary(rule)}", by)
        return item

    def replace(self, name: str, data: Mapping[str, Any], *, by: str) -> dict[str, Any]:
        """Replace an API rule (the body's name, if given, renames it); config rules are RuleConflict."""
        if isinstance(data, Mapping) and "name" not in data:
            data = {**data, "name": name}
        rule = parse_rule(data, families=self._families)
        with self._lock:
            i = self._index(name)
            self._taken(rule.name, other_than=name)
            self._api[i] = _Entry(rule.name, rule.to_json(), rule)
            if rule.name != name and name in self._state.rules:
                # The guard history follows the rule: renaming must not reset a restart's daily count.
                self._state.rules[rule.name] = self._state.rules.pop(name)
                self._states.pop(name, None)
            self._save()
            item = self._item(rule, API_SOURCE)
        renamed = f" (was {name!r})" if rule.name != name else ""
        self._note(f"rule {rule.name!r} changed{renamed}: {summary(rule)}", by)
        return item

    def delete(self, name: str, *, by: str) -> None:
        """Delete an API rule (its state goes at the next evaluation); config rules are RuleConflict."""
        with self._lock:
            i = self._index(name)
            del self._api[i]
            self._states.pop(name, None)
            self._save()
        self._note(f"rule {name!r} deleted", by)

    # --- the control tick -------------------------------------------------------------
    def evaluate(self, ctx: RuleContext) -> RulesOutcome:
        """One tick of every rule; the state is saved only when it changed, the rules' events are written."""
        with self._lock:
            outcome = evaluate(self._rules(), ctx, self._state)
            self._today = ctx.local.date().isoformat()
            self._states = dict(outcome.states)
            for entry in self._api:
                if entry.rule is None:
                    self._states[entry.name] = INVALID
            durable = _durable(self._state.to_json())
            if durable != self._saved:
                self._store.set(STATE_KEY, self._state.to_json())
                self._saved = durable
        if self._event is not None:
            for name, text in outcome.events:
                self._event("rule", f"{name}: {text}", actor=ACTOR)
        return outcome

    def states(self) -> dict[str, str]:
        """Rule name -> its state at the last evaluation."""
        with self._lock:
            return dict(self._states)
