"""The pure rules evaluator: rules + this tick's facts + saved state -> wishes, commands, events.

Called once per control tick by the control step. It reads nothing but its
arguments and changes nothing but ``state`` (RulesState, saved by the caller).

Each rule, for each subject (the whole rule, or each target miner when its
triggers read a miner), goes through::

    armed --when holds--> waiting (for_min) --guards allow--> firing --released--> armed
                                          \\--guards refuse--> cooling down

A firing rule is released when ``when`` no longer holds, or, with ``until``,
once ``until`` holds (so "price above 30 until below 25" does not flap); it is
always released when an input its ``when`` needs becomes unknown: rules never
act on missing data. Held actions (sleep, wake, percent) give a wish on every
tick while the rule fires; the other actions (restart, mode, pool, watts,
notify) run once each time it fires. List order is priority: the first firing
rule holds the fleet (and each miner); later ones are reported as
"firing (overridden by X)".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping, Sequence

from services.rules.model import Rule
from services.rules.state import FLEET, RuleState, RulesState, SubjectState
from services.rules.triggers import describe, holds

ARMED, WAITING, FIRING, COOLING, DISABLED, INVALID = (
    "armed", "waiting", "firing", "cooling down", "disabled", "invalid")
_RANK = {FIRING: 3, COOLING: 2, WAITING: 1, ARMED: 0}


@dataclass(frozen=True)
class MinerFacts:
    """What the rules see of one miner this tick (None = not known)."""

    ip: str
    name: str
    family: str
    tags: tuple[str, ...]
    online: bool
    offline_since: float | None  # epoch seconds it went offline (None while online or not known)
    temp_c: float | None  # its hottest reading
    hashrate_hs: float | None
    avg_1h_hs: float | None  # its own average over the last hour


@dataclass(frozen=True)
class RuleContext:
    """The facts of one control tick; None = unknown or stale (a trigger on it is not met)."""

    now: float  # epoch seconds (durations: for_min, cooldown, offline_min)
    local: datetime  # aware local time (time windows, weekdays, the day of max_per_day)
    price: float | None  # in the price source's unit
    cheapest: Callable[[float], bool] | None  # hours -> is now among the N cheapest hours of the day
    soc: float | None
    surplus_w: float | None
    sun_up: bool | None
    miners: Mapping[str, MinerFacts] = field(default_factory=dict)


@dataclass(frozen=True)
class FleetWish:
    """A rule's power level for the whole fleet (sleep 0, wake 100)."""

    percent: float
    rule: str
    reason: str


@dataclass(frozen=True)
class MinerWish:
    """A rule's power level for one miner; it wins over the fleet wish for that miner."""

    ip: str
    percent: float
    rule: str
    reason: str


@dataclass(frozen=True)
class RuleCommand:
    """A one-off command for one miner, sent once when its rule fires."""

    ip: str
    action: str  # "restart" | "mode" | "pool" | "watts"
    value: object  # mode name, pool index 0-2, watts; None for restart
    rule: str
    reason: str


@dataclass(frozen=True)
class RulesOutcome:
    """What the rules want this tick, and what changed (events)."""

    fleet: FleetWish | None
    miners: Mapping[str, MinerWish]
    commands: tuple[RuleCommand, ...]
    events: tuple[tuple[str, str], ...]  # (rule name, text): fired / released / notify / refused by guard
    states: Mapping[str, str]  # rule name -> armed | waiting | firing | firing (overridden by X) | cooling down | ...


def signature(rule: Rule) -> str:
    """A short hash of the rule's definition: a changed rule starts afresh (its guard history kept)."""
    text = json.dumps(rule.to_json(), sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _who(key: str, miner: MinerFacts | None) -> str:
    if key == FLEET:
        return ""
    label = f"{key} ({miner.name})" if miner is not None and miner.name and miner.name != key else key
    return f" for {label}"


def _targets(rule: Rule, ctx: RuleContext) -> list[MinerFacts]:
    """The miners a rule acts on: the target's, in ctx order (the whole fleet without a target)."""
    target = rule.target
    if target is None:
        return list(ctx.miners.values())
    if target.miners:
        return [ctx.miners[ip] for ip in target.miners if ip in ctx.miners]
    if target.family is not None:
        return [m for m in ctx.miners.values() if m.family == target.family]
    return [m for m in ctx.miners.values() if target.tag in m.tags]


def _describe_target(rule: Rule) -> str:
    """"fleet", "family whatsminer", "127.0.0.2, 127.0.0.3" (at most three IPs shown)."""
    target = rule.target
    if target is None:
        return "fleet"
    if target.family is not None:
        return f"family {target.family}"
    if target.tag is not None:
        return f"tag {target.tag}"
    shown = ", ".join(target.miners[:3])
    return shown + (f" and {len(target.miners) - 3} more" if len(target.miners) > 3 else "")


def _guard(rule: Rule, subject: SubjectState, now: float, day: str) -> tuple[str, str]:
    """(kind, text) of the guard that refuses a firing now; ("", "") when none does."""
    cooldown = rule.effective_cooldown_min
    if cooldown and subject.last_fired is not None:
        if subject.last_fired > now:  # the clock went back: the cooldown counts again from now
            subject.last_fired = now
        if now - subject.last_fired < cooldown * 60:
            ago = (now - subject.last_fired) / 60
            return "cooldown", f"cooldown_min {cooldown:g} (last fired {ago:.0f} min ago)"
    limit = rule.effective_max_per_day
    if limit is not None and subject.day == day and subject.fired_today >= limit:
        return "max_per_day", f"max_per_day {limit} reached today"
    return "", ""


class _Tick:
    """One evaluation's collected output."""

    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = ctx
        self.day = ctx.local.date().isoformat()
        self.events: list[tuple[str, str]] = []
        self.commands: list[RuleCommand] = []
        self.claims: list[tuple[str, str | None, float, str]] = []  # (rule, ip or None = fleet, percent, reason)

    def event(self, rule: Rule, text: str) -> None:
        self.events.append((rule.name, text))

    def release(self, rule: Rule, subject: SubjectState, who: str, why: str) -> None:
        subject.firing, subject.since, subject.refused, subject.why = False, None, "", ""
        self.event(rule, f"released{who}: {why}")

    def fire(self, rule: Rule, key: str, miner: MinerFacts | None, subject: SubjectState, why: str) -> None:
        """Start firing: count it, say so, and queue the one-off command or notice."""
        subject.firing, subject.refused = True, ""
        subject.last_fired = self.ctx.now
        subject.fired_today = (subject.fired_today if subject.day == self.day else 0) + 1
        subject.day = self.day
        subject.why = why if rule.until is None else f"{why}; until {describe(rule.until)}"
        who = _who(key, miner)
        then = rule.then
        if then.action == "notify":
            self.event(rule, f"notify{who}: {then.value} ({why})")
            return
        where = "" if who else f" ({_describe_target(rule)})"
        self.event(rule, f"fired{who}: {why} -> {then.describe()}{where}")
        if then.held:
            return
        miners = [miner] if miner is not None else _targets(rule, self.ctx)
        for m in miners:
            self.commands.append(RuleCommand(ip=m.ip, action=then.action, value=then.value, rule=rule.name,
                                             reason=subject.why))

    def hold(self, rule: Rule, key: str, subject: SubjectState) -> None:
        """A firing held action's wish for this tick (the fleet, the subject miner or the target's miners)."""
        percent = rule.then.percent
        if percent is None:
            return
        if key != FLEET:
            self.claims.append((rule.name, key, percent, subject.why))
        elif rule.target is None:
            self.claims.append((rule.name, None, percent, subject.why))
        else:
            for m in _targets(rule, self.ctx):
                self.claims.append((rule.name, m.ip, percent, subject.why))


def _step(rule: Rule, key: str, miner: MinerFacts | None, subject: SubjectState, tick: _Tick) -> str:
    """Advance one subject of one rule by one tick; returns its state."""
    ctx, who = tick.ctx, _who(key, miner)
    if subject.day and subject.day != tick.day:
        subject.day, subject.fired_today = "", 0
    when, when_text = holds(rule.when, ctx, miner)
    if subject.firing:
        if rule.until is None:
            release, why = when is not True, when_text
        else:
            until, until_text = holds(rule.until, ctx, miner)
            # until holds: the paired release; when unknown: never keep acting on missing data.
            release, why = (True, until_text) if until is True else (when is None, when_text)
        if not release:
            tick.hold(rule, key, subject)
            return FIRING
        tick.release(rule, subject, who, why)
        return COOLING if _guard(rule, subject, ctx.now, tick.day)[0] else ARMED
    if when is not True:
        subject.since, subject.refused = None, ""
        return COOLING if _guard(rule, subject, ctx.now, tick.day)[0] else ARMED
    if subject.since is None or subject.since > ctx.now:
        subject.since = ctx.now
    if ctx.now - subject.since < rule.for_min * 60:
        return WAITING
    kind, text = _guard(rule, subject, ctx.now, tick.day)
    if kind:
        if subject.refused != kind:  # one event per refusal, not one per tick
            subject.refused = kind
            tick.event(rule, f"refused by guard{who}: {when_text}, but {text}")
        return COOLING
    tick.fire(rule, key, miner, subject, when_text)
    tick.hold(rule, key, subject)
    return FIRING


def _subjects(rule: Rule, ctx: RuleContext) -> list[tuple[str, MinerFacts | None]]:
    if rule.when.per_miner:
        return [(m.ip, m) for m in _targets(rule, ctx)]
    return [(FLEET, None)]


def _prepare(rule: Rule, rs: RuleState, subjects: list[tuple[str, MinerFacts | None]], tick: _Tick) -> None:
    """Start afresh after an edit, and forget miners that are gone (releasing what they held)."""
    sig = signature(rule)
    if rs.sig != sig:
        for key, subject in rs.subjects.items():
            if subject.firing:
                tick.release(rule, subject, _who(key, tick.ctx.miners.get(key)), "the rule was changed")
            subject.since, subject.refused = None, ""
        rs.sig = sig
    keys = {key for key, _ in subjects}
    for key in [k for k in rs.subjects if k not in keys]:
        if rs.subjects[key].firing:
            tick.release(rule, rs.subjects[key], _who(key, None), "no longer a target or no longer known")
        del rs.subjects[key]


def _disable(rule: Rule, rs: RuleState, tick: _Tick) -> None:
    rs.sig = signature(rule)
    for key, subject in rs.subjects.items():
        if subject.firing:
            tick.release(rule, subject, _who(key, tick.ctx.miners.get(key)), "the rule was disabled")
        subject.since, subject.refused = None, ""


def _resolve(tick: _Tick, states: dict[str, str]) -> tuple[FleetWish | None, dict[str, MinerWish]]:
    """Precedence by list order: the first claim on the fleet or a miner wins; a fleet claim covers every miner."""
    fleet: FleetWish | None = None
    miners: dict[str, MinerWish] = {}
    won: set[str] = set()
    beaten: dict[str, str] = {}
    for rule, ip, percent, reason in tick.claims:
        if ip is None:
            winner = fleet.rule if fleet is not None else None
            if winner is None:
                fleet = FleetWish(percent=percent, rule=rule, reason=reason)
        else:
            winner = miners[ip].rule if ip in miners else (fleet.rule if fleet is not None else None)
            if winner is None:
                miners[ip] = MinerWish(ip=ip, percent=percent, rule=rule, reason=reason)
        if winner is None or winner == rule:
            won.add(rule)
        else:
            beaten.setdefault(rule, winner)
    for rule, winner in beaten.items():
        if rule not in won:
            states[rule] = f"{FIRING} (overridden by {winner})"
    return fleet, miners


def evaluate(rules: Sequence[Rule], ctx: RuleContext, state: RulesState) -> RulesOutcome:
    """One tick of every rule in priority order; mutates ``state`` only."""
    tick = _Tick(ctx)
    states: dict[str, str] = {}
    for rule in rules:
        rs = state.rule(rule.name)
        if not rule.enabled:
            _disable(rule, rs, tick)
            states[rule.name] = DISABLED
            continue
        subjects = _subjects(rule, ctx)
        _prepare(rule, rs, subjects, tick)
        found = [_step(rule, key, miner, rs.subject(key), tick) for key, miner in subjects]
        states[rule.name] = max(found, key=_RANK.__getitem__) if found else ARMED
    for name in [n for n in state.rules if n not in states]:
        del state.rules[name]  # a deleted rule's state goes with it
    fleet, miners = _resolve(tick, states)
    seen: set[tuple[str, str]] = set()
    commands = []
    for command in tick.commands:  # one restart (mode, ...) per miner per tick, the first rule's
        if (command.ip, command.action) not in seen:
            seen.add((command.ip, command.action))
            commands.append(command)
    return RulesOutcome(fleet=fleet, miners=miners, commands=tuple(commands), events=tuple(tick.events),
                        states=states)
