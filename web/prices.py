"""GET /api/prices: the configured source's slots, the price now and whether it is stale."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from web.auth import error, read_allowed

bp = Blueprint("prices", __name__, url_prefix="/api/prices")


@bp.get("")
def prices():
    """{source, currency, unit, now, stale, reason, slots: [{start, end, price}], export?, age_sec, error, ...}."""
    if not read_allowed():
        return error("authentication required", 401)
    return jsonify(current_app.extensions["runtime"].prices.status())
