"""Tibber: GraphQL over HTTPS POST with a personal access token (Authorization: Bearer <token>).

priceInfo { current, today, tomorrow } lists {total, energy, tax, startsAt, currency, level};
``total`` is the consumer price per kWh in the main currency (taxes included). Tomorrow's
list is empty until the day-ahead prices are out (about 13:00 CET).
"""

from __future__ import annotations

from typing import Any

from ..config import TibberConfig
from ..model import PriceSlot, make_slots
from .base import Fetched, PriceError, PriceSource, parse_number, parse_time

QUERY = ("{ viewer { homes { id currentSubscription { priceInfo { "
         "current { total energy tax startsAt currency level } "
         "today { total energy tax startsAt currency level } "
         "tomorrow { total energy tax startsAt currency level } } } } } }")
DEFAULT_SLOT_S = 3600.0  # hourly lists; a list with 15-minute steps gets its ends from the next start


def _home(reply: Any, home_id: str) -> dict:
    if not isinstance(reply, dict):
        raise PriceError("tibber: reply is not an object")
    if reply.get("errors"):
        first = reply["errors"][0] if isinstance(reply["errors"], list) and reply["errors"] else {}
        message = first.get("message") if isinstance(first, dict) else None
        raise PriceError(f"tibber: {str(message or 'GraphQL error')[:120]}")
    homes = ((reply.get("data") or {}).get("viewer") or {}).get("homes")
    if not isinstance(homes, list):
        raise PriceError("tibber: reply has no viewer.homes")
    for home in homes:
        if not isinstance(home, dict):
            continue
        info = (home.get("currentSubscription") or {}).get("priceInfo")
        if info and (not home_id or home.get("id") == home_id):
            return info
    raise PriceError(f"tibber: no home {'with id ' + repr(home_id) + ' ' if home_id else ''}with a subscription")


def parse_price_info(reply: Any, home_id: str = "") -> tuple[list[PriceSlot], str]:
    """Slots (main currency per kWh) from today + tomorrow, and their currency."""
    info = _home(reply, home_id)
    entries = [e for key in ("today", "tomorrow") for e in (info.get(key) or []) if isinstance(e, dict)]
    if not entries:
        raise PriceError("tibber: priceInfo has no prices for today")
    currencies = {str(e.get("currency")) for e in entries if e.get("currency")}
    if len(currencies) > 1:
        raise PriceError(f"tibber: prices in several currencies: {sorted(currencies)}")
    currency = currencies.pop() if currencies else str((info.get("current") or {}).get("currency") or "")
    if not currency:
        raise PriceError("tibber: no currency in the reply")
    points = sorted((parse_time(e.get("startsAt"), f"tibber: startsAt[{i}]"),
                     parse_number(e.get("total"), f"tibber: total[{i}]")) for i, e in enumerate(entries))
    rows = []
    for i, (start, price) in enumerate(points):
        following = points[i + 1][0] if i + 1 < len(points) else None
        end = following if following is not None and following - start <= DEFAULT_SLOT_S else start + DEFAULT_SLOT_S
        rows.append((start, end, price))
    return make_slots(rows, f"{currency}/kWh"), currency


class TibberSource(PriceSource):
    """Today's and tomorrow's prices of one Tibber home."""

    name = "tibber"

    cfg: TibberConfig

    def __repr__(self) -> str:
        return f"TibberSource(home_id={self.cfg.home_id!r})"  # never the token

    def fetch(self, now: float, window: tuple[float, float]) -> Fetched:
        """POST the priceInfo query with the bearer token."""
        reply = self._json("POST", self.cfg.base_url, json={"query": QUERY},
                           headers={"Authorization": f"Bearer {self.cfg.token}", "Content-Type": "application/json"})
        slots, currency = parse_price_info(reply, self.cfg.home_id)
        return Fetched(slots, f"{currency}/kWh", currency)
