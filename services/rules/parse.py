"""Build rules from YAML or API JSON, strictly: any problem is a RuleError naming the field.

The same code checks ``rules:`` in config.yaml (keys like "rules[1].when.price_abov")
and the bodies of POST/PUT /api/rules (keys like "when.price_abov"), so the
dashboard's form, the API and the config file refuse a rule with the same words.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any, Collection

from services.rules.model import (ACTIONS, DAYS, MINER_TRIGGERS, RESTART_MAX_MAX_PER_DAY, RESTART_MIN_COOLDOWN_MIN,
                                  TRIGGERS, Action, Conditions, Rule, Target, TimeWindow)
from services.tags import TAG_RE, TAG_RULE

NAME_MAX = 64
MESSAGE_MAX = 200
MODE_MAX = 64
TARGET_MINERS_MAX = 256
RULES_MAX = 200  # a Pi evaluates every rule each control tick; more is a mistake, not a use

RULE_KEYS = ("name", "enabled", "when", "until", "target", "then", "for_min", "cooldown_min", "max_per_day")
TARGET_KEYS = ("miners", "family", "tag")
TIME_KEYS = ("from", "to", "days")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_FAMILY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")

# Bounds of each number (inclusive); a price may be negative (paid to consume).
_BOUNDS: dict[str, tuple[float, float]] = {
    "price_above": (-1e6, 1e6), "price_below": (-1e6, 1e6), "cheapest_hours": (0.5, 24),
    "soc_above": (0, 100), "soc_below": (0, 100),
    "surplus_above_w": (-1e7, 1e7), "surplus_below_w": (-1e7, 1e7),
    "temp_above_c": (0, 150), "offline_min": (1, 10080), "hashrate_below_percent": (1, 100),
}
# (trigger in when, its opposite in until): the release must not hold where the trigger does, or it flaps.
_OPPOSITES = (("price_above", "price_below"), ("soc_above", "soc_below"), ("surplus_above_w", "surplus_below_w"))


class RuleError(ValueError):
    """A rule that cannot be used; the message is one line that starts with the field's key."""


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__)


def _mapping(value: Any, key: str, known: Collection[str], what: str = "unknown key") -> dict:
    if not isinstance(value, dict):
        raise RuleError(f"{key}: expected an object (mapping), got {_kind(value)}")
    for name in value:
        if name not in known:
            shown = name[:40] if isinstance(name, str) else repr(name)
            raise RuleError(f"{_key(key, shown)}: {what} (known: {', '.join(known)})")
    return value


def _number(value: Any, key: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RuleError(f"{key}: expected a number, got {_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RuleError(f"{key}: must be a finite number")
    if not low <= value <= high:  # before float(): a 400-digit int must not overflow
        raise RuleError(f"{key}: must be {low:g} to {high:g}, got {value if abs(value) < 1e15 else 'a huge number'}")
    return float(value)


def _whole(value: Any, key: str, low: int, high: int) -> int:
    number = _number(value, key, low, high)
    if not number.is_integer():
        raise RuleError(f"{key}: must be a whole number, got {value}")
    return int(number)


def _text(value: Any, key: str, max_len: int) -> str:
    if not isinstance(value, str):
        raise RuleError(f"{key}: expected text, got {_kind(value)}")
    if not value.strip():
        raise RuleError(f"{key}: must not be empty")
    if len(value) > max_len:
        raise RuleError(f"{key}: at most {max_len} characters, got {len(value)}")
    if not value.isprintable():  # control characters, lone surrogates, line breaks
        raise RuleError(f"{key}: only printable characters (no control characters or line breaks)")
    return value


def parse_name(value: Any, key: str = "name") -> str:
    """A rule name: 1-64 printable characters, no '/' (it is part of /api/rules/<name>), no edge spaces."""
    name = _text(value, key, NAME_MAX)
    if name != name.strip():
        raise RuleError(f"{key}: must not start or end with spaces")
    if "/" in name:
        raise RuleError(f"{key}: must not contain '/' (the name is part of the URL /api/rules/<name>)")
    return name


def _clock(value: Any, key: str, yaml_times: bool) -> int:
    """Minutes after midnight from "HH:MM"; from YAML also the number YAML 1.1 makes of an unquoted 22:00."""
    if yaml_times and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1440:
        return value  # YAML reads 22:00 as the base-60 number 1320 = minutes after midnight
    if not isinstance(value, str) or not _HHMM.match(value):
        shown = value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else _kind(value)
        raise RuleError(f"{key}: expected a time \"HH:MM\" (00:00-23:59), got {str(shown)[:20]!r}")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _time_window(value: Any, key: str, yaml_times: bool) -> TimeWindow:
    data = _mapping(value, key, TIME_KEYS)
    if ("from" in data) != ("to" in data):
        raise RuleError(f"{key}: give both from and to (or neither, with days, for whole days)")
    start = end = None
    if "from" in data:
        start = _clock(data["from"], f"{key}.from", yaml_times)
        end = _clock(data["to"], f"{key}.to", yaml_times)
        if start == end:
            raise RuleError(f"{key}.to: must differ from from (for whole days give days alone)")
    days = frozenset(range(7))
    if "days" in data:
        raw = data["days"]
        if not isinstance(raw, list) or not raw:
            raise RuleError(f"{key}.days: expected a non-empty list of {', '.join(DAYS)}, got {_kind(raw)}")
        picked: list[int] = []
        for i, day in enumerate(raw):
            if not isinstance(day, str) or day.lower() not in DAYS:
                raise RuleError(f"{key}.days[{i}]: expected one of {', '.join(DAYS)}, got {str(day)[:12]!r}")
            if DAYS.index(day.lower()) in picked:
                raise RuleError(f"{key}.days[{i}]: {day} is listed twice")
            picked.append(DAYS.index(day.lower()))
        days = frozenset(picked)
    elif start is None:
        raise RuleError(f"{key}: give from and to, days, or both")
    return TimeWindow(start=start, end=end, days=days)


def parse_conditions(value: Any, key: str, *, yaml_times: bool = False) -> Conditions:
    """One ``when`` or ``until`` mapping: at least one trigger, each value checked."""
    data = _mapping(value, key, TRIGGERS, "unknown trigger")
    if not data:
        raise RuleError(f"{key}: needs at least one trigger (known: {', '.join(TRIGGERS)})")
    values: dict[str, Any] = {}
    for name, raw in data.items():
        where = _key(key, name)
        if name == "time":
            values[name] = _time_window(raw, where, yaml_times)
        elif name == "sun":
            if raw not in ("up", "down"):
                raise RuleError(f"{where}: expected \"up\" or \"down\", got {str(raw)[:12]!r}")
            values[name] = raw
        else:
            low, high = _BOUNDS[name]
            values[name] = _number(raw, where, low, high)
    for low_name, high_name in (("soc_above", "soc_below"), ("price_above", "price_below"),
                                ("surplus_above_w", "surplus_below_w")):
        if low_name in values and high_name in values and values[low_name] >= values[high_name]:
            raise RuleError(f"{_key(key, high_name)}: must be above {low_name} ({values[low_name]:g}), "
                            f"or the condition never holds")
    return Conditions(**values)


def _target(value: Any, key: str, families: Collection[str] | None) -> Target | None:
    if value is None:
        return None
    data = _mapping(value, key, TARGET_KEYS)
    if len(data) != 1:
        raise RuleError(f"{key}: give exactly one of miners, family or tag (leave target out for the whole fleet)")
    if "tag" in data:
        tag = data["tag"]
        if not isinstance(tag, str) or not TAG_RE.fullmatch(tag.strip()):
            raise RuleError(f"{key}.tag: {TAG_RULE} (a miner's tag, set on the Miners page or in "
                            f"config.yaml), got {str(tag)[:40]!r}")
        return Target(tag=tag.strip())  # a tag no miner carries yet: the rule acts on none until one does
    if "family" in data:
        family = data["family"]
        if not isinstance(family, str) or not _FAMILY.match(family):
            raise RuleError(f"{key}.family: expected a miner family like \"whatsminer\", got {str(family)[:32]!r}")
        if families is not None and family not in families:
            raise RuleError(f"{key}.family: unknown family {family!r} (known: {', '.join(sorted(families))})")
        return Target(family=family)
    raw = data["miners"]
    if not isinstance(raw, list) or not raw:
        raise RuleError(f"{key}.miners: expected a non-empty list of miner IP addresses, got {_kind(raw)}")
    if len(raw) > TARGET_MINERS_MAX:
        raise RuleError(f"{key}.miners: at most {TARGET_MINERS_MAX} miners, got {len(raw)}")
    ips: list[str] = []
    for i, ip in enumerate(raw):
        try:
            address = str(ipaddress.IPv4Address(ip)) if isinstance(ip, str) else None
        except ValueError:
            address = None
        if address is None:
            raise RuleError(f"{key}.miners[{i}]: not an IPv4 address: {str(ip)[:40]!r}")
        if address in ips:
            raise RuleError(f"{key}.miners[{i}]: {address} is listed twice")
        ips.append(address)
    return Target(miners=tuple(ips))


def _action(value: Any, key: str) -> Action:
    if not isinstance(value, dict):
        raise RuleError(f"{key}: expected an object like {{\"action\": \"sleep\"}}, got {_kind(value)}")
    action = value.get("action")
    if action not in ACTIONS:
        shown = action[:20] if isinstance(action, str) else _kind(action)
        raise RuleError(f"{key}.action: expected one of {', '.join(ACTIONS)}, got {shown!r}")
    if action in ("sleep", "wake", "restart"):
        extra = next((k for k in value if k != "action"), None)
        if extra is not None:
            shown = extra[:40] if isinstance(extra, str) else repr(extra)
            raise RuleError(f"{key}.{shown}: {action} takes nothing but the action")
        return Action(action)
    field = "message" if action == "notify" else "value"
    _mapping(value, key, ("action", field))
    raw = value.get(field)
    where = f"{key}.{field}"
    if raw is None:
        raise RuleError(f"{where}: {action} needs a {field}")
    if action == "percent":
        return Action(action, _number(raw, where, 0, 100))
    if action == "watts":
        return Action(action, _number(raw, where, 1, 100000))
    if action == "pool":
        return Action(action, _whole(raw, where, 0, 2))
    if action == "mode":
        return Action(action, _text(raw, where, MODE_MAX).strip())
    return Action(action, _text(raw, where, MESSAGE_MAX))


def _check_until(when: Conditions, until: Conditions, key: str) -> None:
    """The release must be reachable without holding where the trigger holds (else fire/release every tick)."""
    if not when.per_miner:
        for name in MINER_TRIGGERS:
            if getattr(until, name) is not None:
                raise RuleError(f"{_key(key, name)}: a miner trigger in until needs one in when too")
    for above, below in _OPPOSITES:
        fire_at, release_at = getattr(when, above), getattr(until, below)
        if fire_at is not None and release_at is not None and release_at > fire_at:
            raise RuleError(f"{_key(key, below)}: must be at most when.{above} ({fire_at:g}), "
                            "or the rule would fire and release over and over")
        fire_at, release_at = getattr(when, below), getattr(until, above)
        if fire_at is not None and release_at is not None and release_at < fire_at:
            raise RuleError(f"{_key(key, above)}: must be at least when.{below} ({fire_at:g}), "
                            "or the rule would fire and release over and over")


def parse_rule(value: Any, key: str = "", *, families: Collection[str] | None = None,
               yaml_times: bool = False) -> Rule:
    """One rule from a JSON/YAML mapping; RuleError("<key>.<field>: ...") on any problem.

    ``families``: the known miner families for ``target.family`` (None = not checked).
    ``yaml_times``: accept the numbers YAML 1.1 makes of unquoted times (22:00 -> 1320).
    """
    if not isinstance(value, dict):
        raise RuleError(f"{key or 'rule'}: expected an object (mapping) with name, when and then, got {_kind(value)}")
    data = _mapping(value, key, RULE_KEYS)
    if "name" not in data:
        raise RuleError(f"{_key(key, 'name')}: missing (1-{NAME_MAX} characters)")
    name = parse_name(data["name"], _key(key, "name"))
    for required, example in (("when", '{"price_above": 30}'), ("then", '{"action": "sleep"}')):
        if required not in data:
            raise RuleError(f"{_key(key, required)}: missing, e.g. {example}")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"{_key(key, 'enabled')}: expected true or false, got {_kind(enabled)}")
    when = parse_conditions(data["when"], _key(key, "when"), yaml_times=yaml_times)
    until = None
    if data.get("until") is not None:
        until = parse_conditions(data["until"], _key(key, "until"), yaml_times=yaml_times)
        _check_until(when, until, _key(key, "until"))
    target = _target(data.get("target"), _key(key, "target"), families)
    then = _action(data["then"], _key(key, "then"))
    for_min = _number(data.get("for_min", 0), _key(key, "for_min"), 0, 1440)
    cooldown = data.get("cooldown_min")
    cooldown_min = None if cooldown is None else _number(cooldown, _key(key, "cooldown_min"), 0, 10080)
    per_day = data.get("max_per_day")
    max_per_day = None if per_day is None else _whole(per_day, _key(key, "max_per_day"), 1, 1000)
    if then.action == "restart":
        # A broken miner must not be rebooted every few minutes, whatever the rule says.
        if cooldown_min is not None and cooldown_min < RESTART_MIN_COOLDOWN_MIN:
            raise RuleError(f"{_key(key, 'cooldown_min')}: a restart rule needs at least "
                            f"{RESTART_MIN_COOLDOWN_MIN:g} minutes, got {cooldown_min:g}")
        if max_per_day is not None and max_per_day > RESTART_MAX_MAX_PER_DAY:
            raise RuleError(f"{_key(key, 'max_per_day')}: a restart rule may restart a miner at most "
                            f"{RESTART_MAX_MAX_PER_DAY} times a day, got {max_per_day}")
    return Rule(name=name, when=when, then=then, target=target, enabled=enabled, until=until, for_min=for_min,
                cooldown_min=cooldown_min, max_per_day=max_per_day)


def parse_rules(raw: Any, key: str = "rules", *, families: Collection[str] | None = None,
                yaml_times: bool = True) -> tuple[Rule, ...]:
    """A list of rules (config.yaml's ``rules:``); names must be unique. None = no rules."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RuleError(f"{key}: expected a list of rules, got {_kind(raw)}")
    if len(raw) > RULES_MAX:
        raise RuleError(f"{key}: at most {RULES_MAX} rules, got {len(raw)}")
    rules: list[Rule] = []
    for i, item in enumerate(raw):
        rule = parse_rule(item, f"{key}[{i}]", families=families, yaml_times=yaml_times)
        for j, other in enumerate(rules):
            if other.name == rule.name:
                raise RuleError(f"{key}[{i}].name: {rule.name!r} is already the name of {key}[{j}]")
        rules.append(rule)
    return tuple(rules)
