"""The rule model: frozen dataclasses for a rule's triggers, target, action and guards, and their JSON form.

A rule is ``when`` (all of its triggers hold) -> ``then`` (one action) on a
``target`` (the fleet, listed miners or a family), with guards against
flapping and repeats (``for_min``, ``until``, ``cooldown_min``,
``max_per_day``). docs/rules.md is the user's description; services/rules/parse.py
builds these objects from YAML or API JSON and refuses anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()

# Triggers read from the house (prices, battery, sun, clock) and from one miner each.
FLEET_TRIGGERS = ("time", "price_above", "price_below", "cheapest_hours", "soc_above", "soc_below",
                  "surplus_above_w", "surplus_below_w", "sun")
MINER_TRIGGERS = ("temp_above_c", "offline_min", "hashrate_below_percent")
TRIGGERS = FLEET_TRIGGERS + MINER_TRIGGERS

# Held actions set a power level for as long as the rule fires; the others run once each time it fires.
HELD_ACTIONS = ("sleep", "wake", "percent")
COMMAND_ACTIONS = ("watts", "mode", "pool", "restart")
ACTIONS = HELD_ACTIONS + COMMAND_ACTIONS + ("notify",)

# A broken miner must not be rebooted every minute: a restart rule gets these guards unless it sets its own.
RESTART_COOLDOWN_MIN = 60.0
RESTART_MAX_PER_DAY = 3
RESTART_MIN_COOLDOWN_MIN = 10.0  # the shortest cooldown a restart rule may set
RESTART_MAX_MAX_PER_DAY = 24  # the most restarts a day a restart rule may allow


@dataclass(frozen=True)
class TimeWindow:
    """Local clock window [start, end) in minutes after midnight, on some weekdays (0 = Monday).

    ``start > end`` crosses midnight; the window then belongs to the day it starts on.
    ``start is None`` (and ``end``) = the whole day.
    """

    start: int | None = None
    end: int | None = None
    days: frozenset[int] = frozenset(range(7))

    def to_json(self) -> dict[str, Any]:
        """The window as written in a rule."""
        out: dict[str, Any] = {}
        if self.start is not None and self.end is not None:
            out["from"], out["to"] = _hhmm(self.start), _hhmm(self.end)
        if self.days != frozenset(range(7)):
            out["days"] = [DAYS[d] for d in sorted(self.days)]
        return out


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Conditions:
    """All of the set triggers must hold; None = that trigger is not used."""

    time: TimeWindow | None = None
    price_above: float | None = None  # in the price source's unit (GET /api/prices "unit")
    price_below: float | None = None
    cheapest_hours: float | None = None  # now is among the N cheapest hours of the day
    soc_above: float | None = None  # house battery, %
    soc_below: float | None = None
    surplus_above_w: float | None = None  # PV surplus, W
    surplus_below_w: float | None = None
    sun: str | None = None  # "up" | "down"
    temp_above_c: float | None = None  # a miner's hottest reading
    offline_min: float | None = None  # a miner offline for at least N minutes
    hashrate_below_percent: float | None = None  # below X % of the miner's own 1-hour average

    def used(self) -> tuple[str, ...]:
        """The names of the triggers set, in vocabulary order."""
        return tuple(name for name in TRIGGERS if getattr(self, name) is not None)

    @property
    def per_miner(self) -> bool:
        """True if any trigger reads a miner: the rule is then decided for each target miner apart."""
        return any(getattr(self, name) is not None for name in MINER_TRIGGERS)

    def to_json(self) -> dict[str, Any]:
        """The triggers as written in a rule."""
        out: dict[str, Any] = {}
        for name in self.used():
            value = getattr(self, name)
            out[name] = value.to_json() if isinstance(value, TimeWindow) else _plain(value)
        return out


@dataclass(frozen=True)
class Target:
    """Which miners a rule acts on: listed IPs, a family, or a tag (empty = the whole fleet)."""

    miners: tuple[str, ...] = ()
    family: str | None = None
    tag: str | None = None  # the miners carrying it (MinerFacts.tags: the Miners page or config.yaml)

    def to_json(self) -> dict[str, Any]:
        """The target as written in a rule."""
        if self.miners:
            return {"miners": list(self.miners)}
        if self.family is not None:
            return {"family": self.family}
        return {"tag": self.tag}


@dataclass(frozen=True)
class Action:
    """What a firing rule does; ``value`` is the percent, watts, mode, pool index or message (None otherwise)."""

    action: str
    value: float | int | str | None = None

    @property
    def held(self) -> bool:
        """True for a power level held while the rule fires (sleep, wake, percent)."""
        return self.action in HELD_ACTIONS

    @property
    def percent(self) -> float | None:
        """The power level of a held action: sleep 0, wake 100, percent its value."""
        if self.action == "sleep":
            return 0.0
        if self.action == "wake":
            return 100.0
        if self.action == "percent":
            return float(self.value)  # type: ignore[arg-type]
        return None

    def to_json(self) -> dict[str, Any]:
        """The action as written in a rule."""
        out: dict[str, Any] = {"action": self.action}
        if self.value is not None:
            out["message" if self.action == "notify" else "value"] = _plain(self.value)
        return out

    def describe(self) -> str:
        """Short text for events: "sleep", "percent 40", "notify"."""
        if self.action in ("notify",) or self.value is None:
            return self.action
        return f"{self.action} {_plain(self.value)}"


@dataclass(frozen=True)
class Rule:
    """One rule; list order is priority (the first firing rule wins a miner or the fleet)."""

    name: str
    when: Conditions
    then: Action
    target: Target | None = None  # None = the whole fleet
    enabled: bool = True
    until: Conditions | None = None  # once fired, hold until this holds (instead of until `when` stops)
    for_min: float = 0.0  # `when` must hold this long before the rule fires
    cooldown_min: float | None = None  # at most one firing per N minutes (None = restart's default or none)
    max_per_day: int | None = None  # at most N firings per local day (None = restart's default or no limit)

    @property
    def effective_cooldown_min(self) -> float:
        """The cooldown applied: the rule's own, else 60 min for a restart, else none."""
        if self.cooldown_min is not None:
            return self.cooldown_min
        return RESTART_COOLDOWN_MIN if self.then.action == "restart" else 0.0

    @property
    def effective_max_per_day(self) -> int | None:
        """The daily limit applied: the rule's own, else 3 for a restart, else none."""
        if self.max_per_day is not None:
            return self.max_per_day
        return RESTART_MAX_PER_DAY if self.then.action == "restart" else None

    def guards(self) -> dict[str, Any]:
        """The guards in force, defaults included (shown by GET /api/rules)."""
        return {"for_min": _plain(self.for_min), "cooldown_min": _plain(self.effective_cooldown_min),
                "max_per_day": self.effective_max_per_day, "until": self.until is not None}

    def to_json(self) -> dict[str, Any]:
        """The rule as written (only what is set, plus enabled); parse_rule(rule.to_json()) == rule."""
        out: dict[str, Any] = {"name": self.name, "enabled": self.enabled, "when": self.when.to_json()}
        if self.until is not None:
            out["until"] = self.until.to_json()
        if self.target is not None:
            out["target"] = self.target.to_json()
        out["then"] = self.then.to_json()
        if self.for_min:
            out["for_min"] = _plain(self.for_min)
        if self.cooldown_min is not None:
            out["cooldown_min"] = _plain(self.cooldown_min)
        if self.max_per_day is not None:
            out["max_per_day"] = self.max_per_day
        return out


def _plain(value: Any) -> Any:
    """30.0 -> 30 for JSON that reads as it was written; other values unchanged."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value
