"""GET /api/prices: the configured source's slots, the price now and whether it is stale."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from services.prices.units import UnitError, main_factor
from web import access

bp = access.blueprint("prices", __name__, url_prefix="/api/prices")


def _main_factor(unit: Any) -> float | None:
    """What a price in ``unit`` is multiplied by to be in main currency per kWh (p/kWh -> 0.01); None if unknown.

    The dashboard's Energy view needs it to draw break-even prices (main currency per kWh,
    GET /api/profitability) on the price chart, which is in the source's own unit.
    """
    if not isinstance(unit, str) or not unit:
        return None
    try:
        return main_factor(unit)
    except UnitError:
        return None


@bp.get("")
def prices():
    """{source, currency, unit, main_factor, now, stale, reason, slots: [{start, end, price}], export?, age_sec, error, ...}."""
    body = current_app.extensions["runtime"].prices.status()
    body.setdefault("main_factor", _main_factor(body.get("unit")))
    return jsonify(body)
