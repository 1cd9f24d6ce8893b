"""Generic HTTP JSON prices: a URL and dotted paths, for anything without a source of its own.

Either a list of slots (``slots`` = path to the list, ``start``/``end``/``price`` paths inside
each item) or one current price (``current`` = its path), valid for two refresh intervals.
Prices are in prices.unit (a per-MWh unit is shown per kWh).
"""

from __future__ import annotations

from typing import Any

import requests

from services.battery.base import dig

from ..config import HttpPricesConfig
from ..model import PriceSlot
from ..units import main_factor, per_kwh
from .base import Fetched, PriceError, PriceSource, parse_number, parse_time


def parse_slots(reply: Any, cfg: HttpPricesConfig, unit: str) -> list[PriceSlot]:
    """Slots, in the per-kWh form of ``unit``, from a reply holding a list of slots."""
    items = dig(reply, cfg.slots) if cfg.slots else reply
    if not isinstance(items, list):
        raise PriceError(f"http: {cfg.slots or 'the reply'} is not a list")
    shown, scale = per_kwh(unit)
    factor = main_factor(shown)
    points = []
    for i, item in enumerate(items):
        start = parse_time(dig(item, cfg.start), f"http: [{i}].{cfg.start}")
        end = parse_time(dig(item, cfg.end), f"http: [{i}].{cfg.end}") if cfg.end else None
        price = parse_number(dig(item, cfg.price), f"http: [{i}].{cfg.price}") * scale
        export = parse_number(dig(item, cfg.export), f"http: [{i}].{cfg.export}") * scale if cfg.export else None
        points.append((start, end, price, export))
    points.sort(key=lambda p: p[0])
    slots = []
    for i, (start, end, price, export) in enumerate(points):
        if end is None:
            end = points[i + 1][0] if i + 1 < len(points) else start + cfg.slot_minutes * 60
        if end > start:
            slots.append(PriceSlot(start, end, price, price * factor, None if export is None else export * factor))
    return slots


def parse_current(reply: Any, cfg: HttpPricesConfig, unit: str, now: float, valid_s: float) -> list[PriceSlot]:
    """One slot from ``now`` for ``valid_s`` seconds holding the single current price."""
    shown, scale = per_kwh(unit)
    price = parse_number(dig(reply, cfg.current), f"http: {cfg.current}") * scale
    return [PriceSlot(now, now + valid_s, price, price * main_factor(shown))]


class HttpPriceSource(PriceSource):
    """GETs the URL and picks the prices out of the JSON reply."""

    name = "http"
    cfg: HttpPricesConfig

    def __init__(self, cfg: HttpPricesConfig, unit: str, currency: str, valid_s: float, timeout_sec: float,
                 session: requests.Session | None = None) -> None:
        super().__init__(cfg, timeout_sec, session)
        self.unit, self.currency, self.valid_s = unit, currency, valid_s

    def __repr__(self) -> str:
        return "HttpPriceSource()"  # the URL may carry a key in its query

    def fetch(self, now: float, window: tuple[float, float]) -> Fetched:
        """One GET; the slots (or the one current price) in the reply."""
        reply = self._json("GET", self.cfg.url)
        if self.cfg.current:
            slots = parse_current(reply, self.cfg, self.unit, now, self.valid_s)
        else:
            slots = parse_slots(reply, self.cfg, self.unit)
        if not slots:
            raise PriceError("http: no prices in the reply")
        return Fetched(slots, per_kwh(self.unit)[0], self.currency)
