"""Battery and solar readings: GET /api/battery and its history for the power chart."""

from __future__ import annotations

from flask import current_app, jsonify

from web import access

bp = access.blueprint("battery", __name__, url_prefix="/api/battery")


@bp.get("")
def battery():
    """The last reading, its age and the source's status (served from memory; never reads the device)."""
    return jsonify(current_app.extensions["runtime"].battery.snapshot())


@bp.get("/history")
def battery_history():
    """SOC, PV, load, battery and grid power, bucketed for a chart (?range=1h|6h|24h|3d|1w|all)."""
    name, since, bucket = access.range_window()
    bucket, rows = current_app.extensions["runtime"].history.battery_chart(since, bucket)
    keys = ("soc_pct", "pv_w", "load_w", "battery_w", "grid_w")
    return jsonify({"range": name, "bucket_s": bucket, "ts": [r["t"] for r in rows],
                    "series": {key: [r[key] for r in rows] for key in keys}})
