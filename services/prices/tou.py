"""A flat price or a time-of-use table (peak/off-peak by hour range and weekday) turned into price slots.

A period "22:00-06:00" on "fri" covers Friday 22:00 to Saturday 06:00: the weekday is the
day on which the range starts. Periods are tried in the order written; the first match wins,
and the flat price applies where none matches.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Sequence

from .config import DAYS, TouPeriod, parse_days, parse_hours
from .model import PriceSlot
from .zone import Zone

_Rule = tuple[int, int, frozenset[int], float]  # start minute, end minute, weekdays, price


def _rules(periods: Sequence[TouPeriod]) -> list[_Rule]:
    return [(*parse_hours(p.hours), parse_days(p.days), p.price) for p in periods]


def _matches(rule: _Rule, weekday: int, minute: int) -> bool:
    start, end, days, _price = rule
    if start < end:
        return weekday in days and start <= minute < end
    # Runs past midnight: the evening part on its own day, the morning part on the next.
    return (weekday in days and minute >= start) or ((weekday - 1) % 7 in days and minute < end)


def price_at(periods: Sequence[TouPeriod], flat: float | None, weekday: int, minute: int) -> float | None:
    """The table's price on ``weekday`` (0 = Monday) at ``minute`` after local midnight."""
    for rule in _rules(periods):
        if _matches(rule, weekday, minute):
            return rule[3]
    return flat


def _boundaries(rules: list[_Rule]) -> list[int]:
    points = {0, 1440}
    for start, end, _days, _price in rules:
        points.update((start, end))
    return sorted(points)


def uncovered(periods: Sequence[TouPeriod]) -> str | None:
    """The first weekday and time no period covers ("tue 03:00"), or None when the week is covered."""
    rules = _rules(periods)
    edges = _boundaries(rules)
    for weekday in range(7):
        for minute in edges[:-1]:
            if not any(_matches(rule, weekday, minute) for rule in rules):
                return f"{DAYS[weekday]} {minute // 60:02d}:{minute % 60:02d}"
    return None


def table_slots(periods: Sequence[TouPeriod], flat: float | None, zone: Zone, now: float, factor: float,
                days: int = 2, export_main: float | None = None) -> list[PriceSlot]:
    """Slots from local midnight of ``now`` for ``days`` days; equal neighbours merged."""
    rules = _rules(periods)
    edges = _boundaries(rules)
    midnight = zone.local(zone.day_start(now)).replace(tzinfo=None)
    slots: list[PriceSlot] = []
    for day in range(days):
        base = midnight + timedelta(days=day)
        for a, b in zip(edges, edges[1:]):
            price = price_at(periods, flat, base.weekday(), a)
            start, end = zone.timestamp(base + timedelta(minutes=a)), zone.timestamp(base + timedelta(minutes=b))
            if price is None or end <= start:
                continue
            if slots and slots[-1].price == price and slots[-1].end == start:
                slots[-1] = PriceSlot(slots[-1].start, end, price, price * factor, export_main)
            else:
                slots.append(PriceSlot(start, end, price, price * factor, export_main))
    return slots
