"""Each trigger against the facts of one tick: met (True), not met (False) or unknown (None), with a text.

Unknown is its own answer because a rule never acts on missing data: a price,
SOC, surplus, sun or miner reading that is not known (None) leaves its trigger
unmet, and a firing rule that needs it is released (services/rules/engine.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Callable

from services.rules.model import DAYS, Conditions, TimeWindow

if TYPE_CHECKING:
    from services.rules.engine import MinerFacts, RuleContext

Verdict = tuple[bool | None, str]


def _n(value: float) -> str:
    return f"{round(value, 2):g}"


def in_window(window: TimeWindow, local: datetime) -> bool:
    """True if ``local`` falls in the window; a window across midnight belongs to the day it starts on."""
    minute = local.hour * 60 + local.minute
    day = local.weekday()
    if window.start is None or window.end is None:
        return day in window.days
    if window.start < window.end:
        return window.start <= minute < window.end and day in window.days
    # 22:00-07:00 on mon: Monday from 22:00, and Tuesday until 07:00.
    return (minute >= window.start and day in window.days) or (minute < window.end and (day - 1) % 7 in window.days)


def describe_window(window: TimeWindow) -> str:
    """"22:00-07:00 mon,tue" / "sat,sun" / "22:00-07:00"."""
    parts = []
    if window.start is not None and window.end is not None:
        parts.append(f"{window.start // 60:02d}:{window.start % 60:02d}-{window.end // 60:02d}:{window.end % 60:02d}")
    if window.days != frozenset(range(7)):
        parts.append(",".join(DAYS[d] for d in sorted(window.days)))
    return " ".join(parts)


def _compare(label: str, value: float | None, threshold: float, above: bool, unit: str = "") -> Verdict:
    if value is None:
        return None, f"{label} unknown"
    met = value > threshold if above else value < threshold
    sign = (">" if above else "<") if met else ("not above" if above else "not below")
    return met, f"{label} {_n(value)}{unit} {sign} {_n(threshold)}{unit}"


def _cheapest(hours: float, cheapest: Callable[[float], bool] | None) -> Verdict:
    answer = cheapest(hours) if cheapest is not None else None
    if answer is None:
        return None, "cheapest hours unknown (no prices)"
    return bool(answer), f"{'' if answer else 'not '}among the {_n(hours)} cheapest hours"


def _offline(minutes: float, miner: MinerFacts, now: float) -> Verdict:
    if miner.online:
        return False, "online"
    if miner.offline_since is None:
        return None, "offline since unknown"
    gone = max(0.0, now - miner.offline_since) / 60
    return gone >= minutes, f"offline {gone:.0f} min ({'' if gone >= minutes else 'not yet '}{_n(minutes)})"


def _hashrate(percent: float, miner: MinerFacts) -> Verdict:
    if not miner.online or miner.hashrate_hs is None or not miner.avg_1h_hs or miner.avg_1h_hs <= 0:
        return None, "hashrate or its 1-hour average unknown"
    share = miner.hashrate_hs / miner.avg_1h_hs * 100
    met = share < percent
    return met, f"hashrate {share:.0f}% of its 1-hour average ({'<' if met else 'not below'} {_n(percent)}%)"


def check(name: str, conditions: Conditions, ctx: RuleContext, miner: MinerFacts | None) -> Verdict:
    """One trigger of ``conditions`` (by name) for this tick; miner triggers need ``miner``."""
    threshold = getattr(conditions, name)
    if name == "time":
        met = in_window(threshold, ctx.local)
        return met, ("" if met else "outside ") + describe_window(threshold)
    if name in ("price_above", "price_below"):
        return _compare("price", ctx.price, threshold, name == "price_above")
    if name == "cheapest_hours":
        return _cheapest(threshold, ctx.cheapest)
    if name in ("soc_above", "soc_below"):
        return _compare("SOC", ctx.soc, threshold, name == "soc_above", "%")
    if name in ("surplus_above_w", "surplus_below_w"):
        return _compare("surplus", ctx.surplus_w, threshold, name == "surplus_above_w", " W")
    if name == "sun":
        if ctx.sun_up is None:
            return None, "sun unknown"
        up = ctx.sun_up
        return up == (threshold == "up"), f"sun {'up' if up else 'down'}"
    if miner is None:  # a miner trigger without a miner: the parser never lets this happen
        return None, f"{name} needs a miner"
    if name == "temp_above_c":
        return _compare("temperature", miner.temp_c, threshold, True, " °C")
    if name == "offline_min":
        return _offline(threshold, miner, ctx.now)
    if name == "hashrate_below_percent":
        return _hashrate(threshold, miner)
    raise KeyError(name)  # pragma: no cover - the parser accepts only known triggers


def holds(conditions: Conditions, ctx: RuleContext, miner: MinerFacts | None = None) -> Verdict:
    """All triggers together: False if any is not met, else None if any is unknown, else True.

    The text lists the met triggers (True), the first unmet one (False) or the first unknown one (None).
    """
    unknown: str | None = None
    met_texts: list[str] = []
    for name in conditions.used():
        met, text = check(name, conditions, ctx, miner)
        if met is False:
            return False, text
        if met is None:
            unknown = unknown or text
        else:
            met_texts.append(text)
    if unknown is not None:
        return None, unknown
    return True, ", ".join(met_texts)


_LABELS = {"price_above": ("price", ">", ""), "price_below": ("price", "<", ""),
           "soc_above": ("SOC", ">", "%"), "soc_below": ("SOC", "<", "%"),
           "surplus_above_w": ("surplus", ">", " W"), "surplus_below_w": ("surplus", "<", " W"),
           "temp_above_c": ("temperature", ">", " °C"), "offline_min": ("offline", ">=", " min"),
           "hashrate_below_percent": ("hashrate", "<", "% of its 1-hour average")}


def describe(conditions: Conditions) -> str:
    """The triggers as words, for reasons and the docs: "price < 25, SOC > 50%"."""
    parts = []
    for name in conditions.used():
        value = getattr(conditions, name)
        if name == "time":
            parts.append(describe_window(value))
        elif name == "sun":
            parts.append(f"sun {value}")
        elif name == "cheapest_hours":
            parts.append(f"among the {_n(value)} cheapest hours")
        else:
            label, sign, unit = _LABELS[name]
            parts.append(f"{label} {sign} {_n(value)}{unit}")
    return ", ".join(parts)
