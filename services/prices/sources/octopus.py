"""Octopus Energy (UK) Agile: public REST, half-hour slots in p/kWh (value_inc_vat), negative prices possible.

GET {base}/v1/products/{P}/electricity-tariffs/E-1R-{P}-{R}/standard-unit-rates/?period_from=..&period_to=..
answers {"count", "next", "previous", "results": [{"value_exc_vat", "value_inc_vat", "valid_from",
"valid_to", "payment_method"}]}, newest first and paginated through ``next``. Tomorrow's slots
appear after about 16:00 UK time. Agile Outgoing (export) is the same endpoint with its product.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..config import OctopusConfig
from ..model import PriceSlot, make_slots
from .base import Fetched, PriceError, PriceSource, iso_utc, parse_number, parse_time

UNIT, CURRENCY = "p/kWh", "GBP"
MAX_PAGES = 10  # two days are 96 slots, one page of 100; more pages than this is not a price list


def tariff_url(base_url: str, product: str, region: str) -> str:
    """The standard-unit-rates URL of a single-register electricity tariff."""
    code = f"E-1R-{product}-{region}".upper()
    return f"{base_url.rstrip('/')}/v1/products/{product}/electricity-tariffs/{code}/standard-unit-rates/"


def parse_page(page: Any) -> tuple[list[tuple[float, float, float]], str | None]:
    """(start, end, p/kWh inc VAT) rows of one page and its ``next`` link.

    Where a slot is listed for both payment methods, the Direct Debit rate is kept (evcc does
    the same); an open-ended ``valid_to`` (null) is left to the caller's period end.
    """
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise PriceError("octopus: reply has no results list")
    rows: dict[float, tuple[float, float, float, str | None]] = {}
    for i, item in enumerate(page["results"]):
        if not isinstance(item, dict):
            raise PriceError(f"octopus: results[{i}] is not an object")
        start = parse_time(item.get("valid_from"), f"octopus: results[{i}].valid_from")
        end = parse_time(item["valid_to"], f"octopus: results[{i}].valid_to") if item.get("valid_to") else float("inf")
        price = parse_number(item.get("value_inc_vat"), f"octopus: results[{i}].value_inc_vat")
        method = item.get("payment_method")
        if start in rows and method == "NON_DIRECT_DEBIT":
            continue
        rows[start] = (start, end, price, method)
    following = page.get("next")
    return [row[:3] for row in rows.values()], following if isinstance(following, str) and following else None


class OctopusSource(PriceSource):
    """Agile import prices (and Agile Outgoing export prices when configured)."""

    name = "octopus"

    cfg: OctopusConfig

    def fetch(self, now: float, window: tuple[float, float]) -> Fetched:
        """The slots published for ``window`` (local midnight today to the end of tomorrow)."""
        lo, hi = window
        rows = self._rates(self.cfg.product, lo, hi)
        if not rows:
            raise PriceError("octopus: no prices published for this period (check product and region)")
        exports = self._rates(self.cfg.export_product, lo, hi) if self.cfg.export_product else []
        return Fetched(make_slots(rows, UNIT, exports), UNIT, CURRENCY)

    def _rates(self, product: str, lo: float, hi: float) -> list[tuple[float, float, float]]:
        url = tariff_url(self.cfg.base_url, product, self.cfg.region)
        params: dict[str, str] | None = {"period_from": iso_utc(lo), "period_to": iso_utc(hi)}
        rows: list[tuple[float, float, float]] = []
        query = ""
        for _ in range(MAX_PAGES):
            page = self._json("GET", f"{url}?{query}" if query else url, params=params)
            found, following = parse_page(page)
            rows.extend((s, hi if e == float("inf") else e, p) for s, e, p in found)  # open-ended: to the period's end
            if following is None:
                return rows
            # The next page is asked of the configured server (its path and query only), never of
            # whatever host the link names: a test server or a proxy answers for api.octopus.energy.
            query, params = urlsplit(following).query, None
        raise PriceError(f"octopus: more than {MAX_PAGES} pages of prices")


def slots_of(pages: list[Any]) -> list[PriceSlot]:
    """Slots from recorded pages (tests and benches): all rows, sorted."""
    rows = [row for page in pages for row in parse_page(page)[0]]
    return make_slots(rows, UNIT)
