"""Energy and its cost per miner: today, yesterday, this month and last month (docs/prices.md "Cost per miner").

Energy comes from the stored power readings: each reading stands for one poll round,
so a miner's energy in an hour is the sum of its readings times the poll interval
(services/history.py ``power_sums``). A miner whose firmware reports no power has
no energy (None, never an invented 0).

The cost of an hour is its energy times the price that applied then: a price source
holds only yesterday to tomorrow, so ``PriceLog`` keeps every slot in the database
once its time has come (``price_history``). An hour with no logged price takes the
held slots, then ``prices.default_price``; an hour with none of them has no cost and
is counted in ``unpriced_h`` so the page can say so.

Past days never change once their hours are rolled up, so closed days are computed
once and kept in memory; a request after that reads only today's hours.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from database.db import Database
from services.prices.model import PriceSlot
from services.prices.zone import Zone

HOUR_S = 3600
PERIODS = (("today", "Today"), ("yesterday", "Yesterday"), ("month", "This month"), ("last_month", "Last month"))


class PriceLog:
    """The slots that applied, kept in ``price_history`` (one row per slot, written once its start has passed)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._last_start: int | None = None  # the newest stored slot start (read once from the table)

    def record(self, slots: Iterable[PriceSlot], source: str, now: float) -> int:
        """Store the slots that started since the last call (future prices may still be revised); returns how many."""
        with self._lock:
            if self._last_start is None:
                with self.db.read() as conn:
                    row = conn.execute("SELECT MAX(start) FROM price_history").fetchone()
                self._last_start = int(row[0]) if row and row[0] is not None else -1
            rows = [(int(s.start), int(s.end), float(s.price_main), source) for s in slots
                    if self._last_start < int(s.start) <= now]
            if not rows:
                return 0
            with self.db.write() as conn:
                conn.executemany("INSERT OR REPLACE INTO price_history (start, end_ts, price_main, source) "
                                 "VALUES (?, ?, ?, ?)", rows)
            self._last_start = max(r[0] for r in rows)
            return len(rows)

    def between(self, since: float, until: float) -> list[tuple[int, int, float]]:
        """(start, end, price_main) of the logged slots overlapping [since, until), by start."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT start, end_ts, price_main FROM price_history WHERE end_ts > ? AND start < ? "
                                "ORDER BY start", (int(since), int(until))).fetchall()
        return [(int(r[0]), int(r[1]), float(r[2])) for r in rows]

    def purge(self, before: float) -> int:
        """Delete the slots that ended before ``before`` (the hourly history's retention)."""
        with self.db.write() as conn:
            return conn.execute("DELETE FROM price_history WHERE end_ts < ?", (int(before),)).rowcount


class HourPrices:
    """The price of each hour: logged slots first, then the held ones, then the default (main currency per kWh)."""

    def __init__(self, logged: Sequence[tuple[int, int, float]], held: Sequence[PriceSlot],
                 default_main: float | None) -> None:
        slots = {start: (end, price) for start, end, price in ((int(s.start), int(s.end), s.price_main) for s in held)}
        slots.update({start: (end, price) for start, end, price in logged})  # what applied wins over what was held
        self._starts = sorted(slots)
        self._slots = [(start, *slots[start]) for start in self._starts]
        self.default_main = default_main

    def price(self, hour: int) -> float | None:
        """The mean price over [hour, hour + 1 h), weighted by how much of the hour each slot covers."""
        total = covered = 0.0
        i = max(bisect.bisect_right(self._starts, hour) - 1, 0)
        while i < len(self._slots) and self._slots[i][0] < hour + HOUR_S:
            start, end, price = self._slots[i]
            overlap = min(end, hour + HOUR_S) - max(start, hour)
            if overlap > 0:
                total += price * overlap
                covered += overlap
            i += 1
        if covered >= HOUR_S - 1:
            return total / covered
        if covered and self.default_main is not None:  # a gap in the slots: the default fills it
            return (total + self.default_main * (HOUR_S - covered)) / HOUR_S
        return self.default_main


@dataclass
class Usage:
    """Energy and cost of one miner (or the fleet) in one period."""

    wh: float = 0.0
    cost: float = 0.0
    hours: int = 0  # hours with power readings
    unpriced_h: int = 0  # of those, hours with no price (their energy is not in ``cost``)

    def add(self, wh: float, price: float | None) -> None:
        """One hour's energy at its price (None: counted as unpriced)."""
        self.wh += wh
        self.hours += 1
        if price is None:
            self.unpriced_h += 1
        else:
            self.cost += wh / 1000.0 * price

    def merge(self, other: Usage) -> None:
        """Add another miner's (or day's) usage to this one."""
        self.wh += other.wh
        self.cost += other.cost
        self.hours += other.hours
        self.unpriced_h += other.unpriced_h

    def to_dict(self, priced: bool) -> dict[str, Any]:
        """kWh and cost (None without any reading, or without any price at all)."""
        if not self.hours:
            return {"kwh": None, "cost": None, "unpriced_h": 0}
        return {"kwh": round(self.wh / 1000.0, 6), "cost": round(self.cost, 6) if priced else None,
                "unpriced_h": self.unpriced_h}


@dataclass
class _Day:
    by_miner: dict[int, Usage] = field(default_factory=dict)


class CostBook:
    """Energy and cost per miner per period; closed days are computed once."""

    def __init__(self, history: Any, price_log: PriceLog, zone: Zone, *, interval_s: Callable[[], float],
                 held: Callable[[], Sequence[PriceSlot]], default_main: Callable[[], float | None]) -> None:
        self.history = history
        self.price_log = price_log
        self.zone = zone
        self.interval_s = interval_s
        self.held = held
        self.default_main = default_main
        self._days: dict[float, _Day] = {}  # closed local days, by their midnight
        self._lock = threading.Lock()

    def periods(self, now: float) -> dict[str, tuple[float, float]]:
        """[since, until) of each period in local time."""
        today = self.zone.day_start(now)
        yesterday = self.zone.day_start(today - 1)
        month = self._month_start(now)
        last_month = self._month_start(month - 1)
        return {"today": (today, now), "yesterday": (yesterday, today), "month": (month, now),
                "last_month": (last_month, month)}

    def _month_start(self, ts: float) -> float:
        local = self.zone.local(ts).replace(tzinfo=None)
        return self.zone.timestamp(datetime(local.year, local.month, 1))

    def report(self, now: float) -> dict[int, dict[str, Usage]]:
        """Per miner id, its Usage in each period (today, yesterday, this month, last month)."""
        spans = self.periods(now)
        first = min(since for since, _ in spans.values())
        today = spans["today"][0]
        with self._lock:
            self._days = {day: v for day, v in self._days.items() if day >= first}  # a new month drops old days
            missing = [day for day in self._day_starts(first, today) if day not in self._days]
            since = missing[0] if missing else today
            fresh = self._compute(since, now)
            for day in missing:
                self._days[day] = fresh.get(day, _Day())
            days = {**self._days, today: fresh.get(today, _Day())}
        result: dict[int, dict[str, Usage]] = {}
        for day, usage in days.items():
            for period, (start, until) in spans.items():
                if start <= day < until:
                    for miner_id, u in usage.by_miner.items():
                        result.setdefault(miner_id, {}).setdefault(period, Usage()).merge(u)
        return result

    def _day_starts(self, first: float, until: float) -> list[float]:
        days, day = [], first
        while day < until:
            days.append(day)
            day = self.zone.next_day_start(day)
        return days

    def _compute(self, since: float, now: float) -> dict[float, _Day]:
        """Per local day since ``since``: each miner's Usage, from hourly power sums and hourly prices."""
        _bucket, rows = self.history.power_sums(since, HOUR_S)
        prices = HourPrices(self.price_log.between(since, now), self.held(), self.default_main())
        interval = max(float(self.interval_s()), 1.0)
        days: dict[float, _Day] = {}
        of_hour: dict[int, tuple[dict[int, Usage], float | None]] = {}  # hour -> (its day's miners, its price)
        for hour, miner_id, total_w, _count in rows:
            known = of_hour.get(hour)
            if known is None:
                day = days.setdefault(self.zone.day_start(hour), _Day())
                known = of_hour[hour] = (day.by_miner, prices.price(hour))
            by_miner, price = known
            usage = by_miner.get(miner_id)
            if usage is None:
                usage = by_miner[miner_id] = Usage()
            usage.add(total_w * interval / HOUR_S, price)
        return days
