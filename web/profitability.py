"""GET /api/profitability: the hashprice, revenue, cost, profit and break-even per miner and for the fleet."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from flask import current_app, jsonify

from web import access

log = logging.getLogger(__name__)

bp = access.blueprint("profitability", __name__, url_prefix="/api/profitability")


def electricity_price(runtime: Any, currency: str) -> dict[str, Any]:
    """``{price_main, unit, stale, reason, error}``: the electricity price now in ``currency`` per kWh, or None.

    Read from ``runtime.prices`` when that service exists (services/prices), so this
    route works with or without it. A price in another currency is not used: mixing
    pence with dollars would give a wrong profit. ``stale``/``reason`` pass on what the
    price service says (its configured default stands in for a missing live price).
    """
    out: dict[str, Any] = {"price_main": None, "unit": f"{currency}/kWh", "stale": None, "reason": None,
                           "error": None}
    prices = getattr(runtime, "prices", None)
    if prices is None:
        return {**out, "error": "no electricity price source"}
    try:
        current = prices.current(time.time())
    except Exception as exc:  # noqa: BLE001 - the price service's fault must not break this page
        log.warning("electricity price unavailable: %s", type(exc).__name__)
        return {**out, "error": "electricity price unavailable"}
    out["stale"], out["reason"] = getattr(current, "stale", None), getattr(current, "reason", None)
    price = getattr(current, "price_main", None) if current is not None else None
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price):
        return {**out, "error": "no electricity price now"}
    price_currency = getattr(current, "currency", None) or getattr(prices, "currency", None)
    if isinstance(price_currency, str) and price_currency and price_currency.upper() != currency:
        return {**out, "error": f"electricity price is in {price_currency}, profitability in {currency}: "
                                "set profitability.currency to the tariff's currency"}
    return {**out, "price_main": float(price)}


@bp.get("")
def profitability():
    """``{source, currency, hashprice, error, electricity: {price_main, unit, stale, reason, error},
    miners: [...], fleet, fleet_now, not_counted}`` (docs/profitability.md)."""
    runtime = current_app.extensions["runtime"]
    service = runtime.profitability
    now = time.time()
    body = service.status(now)
    body["electricity"] = electricity_price(runtime, service.cfg.currency)
    body.update(service.fleet(runtime.fleet.records(), body["electricity"]["price_main"]))
    return jsonify(body)
