"""aWATTar (Germany/Austria): public hourly day-ahead market prices in EUR/MWh, shown here in ct/kWh.

GET {base}/v1/marketdata?start=<ms>&end=<ms> answers {"object": "list", "data": [{"start_timestamp",
"end_timestamp", "marketprice", "unit": "Eur/MWh"}]}. 1 EUR/MWh = 0.1 ct/kWh = 0.001 EUR/kWh. These
are exchange prices: grid fees, levies and VAT are not in them.
"""

from __future__ import annotations

from typing import Any

from ..config import AwattarConfig
from ..model import PriceSlot, make_slots
from .base import Fetched, PriceError, PriceSource, parse_number, parse_time

UNIT, CURRENCY = "ct/kWh", "EUR"
CT_PER_KWH_PER_EUR_PER_MWH = 0.1


def parse_marketdata(reply: Any) -> list[PriceSlot]:
    """Slots in ct/kWh from a marketdata reply (EUR/MWh)."""
    if not isinstance(reply, dict) or not isinstance(reply.get("data"), list):
        raise PriceError("awattar: reply has no data list")
    rows = []
    for i, item in enumerate(reply["data"]):
        if not isinstance(item, dict):
            raise PriceError(f"awattar: data[{i}] is not an object")
        unit = str(item.get("unit", "Eur/MWh")).lower()
        if unit != "eur/mwh":  # the factor below is only right for EUR/MWh
            raise PriceError(f"awattar: data[{i}].unit is {item.get('unit')!r}, expected Eur/MWh")
        start = parse_time(item.get("start_timestamp"), f"awattar: data[{i}].start_timestamp")
        end = parse_time(item.get("end_timestamp"), f"awattar: data[{i}].end_timestamp")
        price = parse_number(item.get("marketprice"), f"awattar: data[{i}].marketprice")
        rows.append((start, end, price * CT_PER_KWH_PER_EUR_PER_MWH))
    return make_slots(rows, UNIT)


class AwattarSource(PriceSource):
    """Today's and (after about 14:00 CET) tomorrow's hourly prices."""

    name = "awattar"

    cfg: AwattarConfig

    def fetch(self, now: float, window: tuple[float, float]) -> Fetched:
        """The hourly slots of ``window``."""
        lo, hi = window
        reply = self._json("GET", f"{self.cfg.url}/v1/marketdata",
                           params={"start": str(int(lo * 1000)), "end": str(int(hi * 1000))})
        slots = parse_marketdata(reply)
        if not slots:
            raise PriceError("awattar: no prices in the reply")
        return Fetched(slots, UNIT, CURRENCY)
