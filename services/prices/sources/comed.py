"""ComEd Hourly Pricing (northern Illinois): real-time prices in ¢/kWh, public, no forecast.

GET {base}/api?type=5minutefeed answers the last 24 hours of 5-minute prices, newest first:
[{"millisUTC": "1434686700000", "price": "2.0"}]. GET {base}/api?type=currenthouraverage
answers one entry, the running average of the current hour. Customers are billed the hourly
average of the twelve 5-minute prices, so the slots here are clock hours: past hours from
the feed and the running hour from currenthouraverage. A 5-minute price is stamped when its
interval ends (it is only known then), so a stamp at 15:00 belongs to the 14:00 hour.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..config import ComedConfig
from ..model import PriceSlot, make_slots
from .base import Fetched, PriceError, PriceSource, parse_number, parse_time

UNIT, CURRENCY = "¢/kWh", "USD"
HOUR = 3600.0


def _entries(reply: Any, feed: str) -> list[tuple[float, float]]:
    if not isinstance(reply, list):
        raise PriceError(f"comed: {feed} reply is not a list")
    out = []
    for i, item in enumerate(reply):
        if not isinstance(item, dict):
            raise PriceError(f"comed: {feed}[{i}] is not an object")
        stamp = parse_time(item.get("millisUTC"), f"comed: {feed}[{i}].millisUTC")
        out.append((stamp, parse_number(item.get("price"), f"comed: {feed}[{i}].price")))
    return out


def _hour_of(stamp: float) -> float:
    # Clock hours are whole hours in UTC too (Chicago is a whole-hour offset).
    return ((stamp - 0.001) // HOUR) * HOUR


def hourly_slots(feed: Any, current: Any = None) -> list[PriceSlot]:
    """Hourly-average slots from a 5minutefeed reply, the running hour replaced by currenthouraverage."""
    by_hour: dict[float, list[float]] = defaultdict(list)
    for stamp, price in _entries(feed, "5minutefeed"):
        by_hour[_hour_of(stamp)].append(price)
    averages = {hour: sum(prices) / len(prices) for hour, prices in by_hour.items()}
    if current is not None:
        for stamp, price in _entries(current, "currenthouraverage")[:1]:
            averages[_hour_of(stamp)] = price
    return make_slots(((hour, hour + HOUR, price) for hour, price in averages.items()), UNIT)


class ComedSource(PriceSource):
    """The last 24 hours and the running hour; refresh every 5-15 minutes to follow the hour."""

    name = "comed"

    cfg: ComedConfig

    def fetch(self, now: float, window: tuple[float, float]) -> Fetched:
        """Hourly slots of the last day, the running hour last."""
        base = f"{self.cfg.base_url.rstrip('/')}/api"
        feed = self._json("GET", base, params={"type": "5minutefeed", "format": "json"})
        current = self._json("GET", base, params={"type": "currenthouraverage", "format": "json"})
        slots = hourly_slots(feed, current)
        if not slots:
            raise PriceError("comed: no prices in the reply")
        return Fetched(slots, UNIT, CURRENCY)
