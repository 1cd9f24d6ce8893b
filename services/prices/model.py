"""Price slots and the pure questions asked of them: the price now, and "is now among the N cheapest hours"."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable, Sequence

from .units import main_factor
from .zone import Zone

WINDOWS = ("day", "rolling")  # the local calendar day of now, or the 24 h starting with now's slot


@dataclass(frozen=True)
class PriceSlot:
    """One published price: [start, end) in epoch seconds, in the source's unit and in main currency per kWh."""

    start: float
    end: float
    price: float  # per kWh in the source's unit (p/kWh, ct/kWh, ...)
    price_main: float  # the same in main currency units per kWh (GBP/kWh, EUR/kWh, ...)
    export_main: float | None = None  # what exporting a kWh earns in main units, when known


@dataclass(frozen=True)
class PriceNow:
    """The price that applies now, or the configured default with ``stale`` True and the reason."""

    price: float | None
    price_main: float | None
    export_price_main: float | None
    unit: str
    currency: str
    source: str
    stale: bool
    reason: str
    slot_start: float | None
    slot_end: float | None


def make_slots(rows: Iterable[tuple[float, float, float]], unit: str,
               export_rows: Iterable[tuple[float, float, float]] = ()) -> list[PriceSlot]:
    """Slots from (start, end, price in ``unit``) rows, sorted, with export prices matched by start."""
    factor = main_factor(unit)
    exports = {start: round(price * factor, 12) for start, _end, price in export_rows}
    # Rounded so that 83.13 EUR/MWh reads 8.313 ct/kWh, not 8.313000000000001.
    slots = [PriceSlot(float(s), float(e), round(p, 9), round(p * factor, 12), exports.get(s))
             for s, e, p in rows if e > s]
    return sorted(slots, key=lambda slot: slot.start)


def prices_at(slots: Sequence[PriceSlot], now: float) -> PriceSlot | None:
    """The slot covering ``now`` in start-sorted ``slots``, or None."""
    i = bisect.bisect_right([slot.start for slot in slots], now) - 1
    if i >= 0 and slots[i].start <= now < slots[i].end:
        return slots[i]
    return None


def cheapest_slots(slots: Sequence[PriceSlot], now: float, hours: float, zone: Zone,
                   window: str = "day") -> list[PriceSlot]:
    """The cheapest published slots adding up to ``hours`` in now's window, in time order.

    "day" is now's local calendar day; "rolling" the 24 h from the start of now's slot.
    Ties go to the earlier slot. A slot is taken whole (half-hour Agile slots: 1.25 h
    takes three), so the chosen time is at least ``hours`` when enough is published.
    """
    if window not in WINDOWS:
        raise ValueError(f"window: must be one of {', '.join(WINDOWS)}, got {window!r}")
    if hours <= 0:
        return []
    if window == "day":
        lo, hi = zone.day_start(now), zone.next_day_start(now)
    else:
        current = prices_at(slots, now)
        if current is None:
            return []
        lo, hi = current.start, current.start + 86400
    candidates = [slot for slot in slots if lo <= slot.start < hi]
    need = hours * 3600.0
    chosen: list[PriceSlot] = []
    for slot in sorted(candidates, key=lambda s: (s.price_main, s.start)):
        if need <= 0:
            break
        chosen.append(slot)
        need -= slot.end - slot.start
    return sorted(chosen, key=lambda s: s.start)


def in_cheapest(slots: Sequence[PriceSlot], now: float, hours: float, zone: Zone, window: str = "day") -> bool:
    """Is ``now`` inside one of the ``hours`` cheapest published hours of its window?"""
    current = prices_at(slots, now)
    if current is None:
        return False
    return any(slot.start == current.start for slot in cheapest_slots(slots, now, hours, zone, window))


class StaticPrices:
    """A fixed list of slots with the PriceService interface (benches, the fixed source, tests)."""

    def __init__(self, slots: Iterable[PriceSlot], unit: str, currency: str, *, source: str = "static",
                 zone: Zone | None = None, default_price: float | None = None) -> None:
        self._slots = sorted(slots, key=lambda slot: slot.start)
        self._starts = [slot.start for slot in self._slots]  # bisect once per call: a bench asks every minute of a year
        self._cheapest: dict[tuple[float, float, str], frozenset[float]] = {}  # (window start, hours, window) -> starts
        self.unit = unit
        self.currency = currency
        self.source = source
        self.zone = zone or Zone()
        self.default_price = default_price
        # Tibber's unit is only known from its first reply; its prices are per kWh in the main unit.
        self._factor = main_factor(unit) if unit else 1.0

    def slots(self) -> list[PriceSlot]:
        """All slots, in time order."""
        return list(self._slots)

    def current(self, now: float) -> PriceNow:
        """The slot's price at ``now``, else the default price marked stale."""
        i = bisect.bisect_right(self._starts, now) - 1
        slot = self._slots[i] if i >= 0 and self._slots[i].start <= now < self._slots[i].end else None
        if slot is None:
            return self.fallback("no published price covers this time")
        return PriceNow(slot.price, slot.price_main, slot.export_main, self.unit, self.currency, self.source,
                        False, "", slot.start, slot.end)

    def fallback(self, reason: str, export_main: float | None = None) -> PriceNow:
        """The default price (or None) with ``stale`` True and ``reason`` saying why."""
        price = self.default_price
        main = None if price is None else price * self._factor
        said = f"{reason}; using default_price {price:g} {self.unit}" if price is not None else \
            f"{reason}; no default_price configured"
        return PriceNow(price, main, export_main, self.unit, self.currency, self.source, True, said, None, None)

    def cheapest(self, now: float, hours: float, window: str = "day") -> bool:
        """Is ``now`` among the ``hours`` cheapest published hours of its local day (or rolling 24 h)?"""
        if window != "day":
            return in_cheapest(self._slots, now, hours, self.zone, window)
        current = self.current(now)
        if current.stale:
            return False
        key = (self.zone.day_start(now), hours, window)
        chosen = self._cheapest.get(key)
        if chosen is None:  # the slots never change: one choice per day and hours
            chosen = self._cheapest[key] = frozenset(
                s.start for s in cheapest_slots(self._slots, now, hours, self.zone, window))
        return current.slot_start in chosen
