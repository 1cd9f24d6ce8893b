"""Battery and solar readings: GET /api/battery and its history for the power chart."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from web.api import BadRequest, range_window
from web.auth import error, read_allowed

bp = Blueprint("battery", __name__, url_prefix="/api/battery")


@bp.before_request
def _guard_reads():
    if not read_allowed():
        return error("authentication required", 401)
    return None


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest):
    return error(str(exc), exc.status)


@bp.get("")
def battery():
    """The last reading, its age and the source's status (served from memory; never reads the device)."""
    return jsonify(current_app.extensions["runtime"].battery.snapshot())


@bp.get("/history")
def battery_history():
    """SOC, PV, load, battery and grid power, bucketed for a chart (?range=1h|6h|24h|3d|1w|all)."""
    name, since, bucket = range_window()
    bucket, rows = current_app.extensions["runtime"].history.battery_chart(since, bucket)
    keys = ("soc_pct", "pv_w", "load_w", "battery_w", "grid_w")
    return jsonify({"range": name, "bucket_s": bucket, "ts": [r["t"] for r in rows],
                    "series": {key: [r[key] for r in rows] for key in keys}})
