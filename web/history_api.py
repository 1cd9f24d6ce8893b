"""Chart history: the fleet, one miner, and the CSV export of any range (DESIGN 6)."""

from __future__ import annotations

import csv
import io
import time

from flask import Response, jsonify, request

from services.csv_log import csv_cell, local_iso
from web import access
from web.body import ipv4

bp = access.blueprint("history", __name__, url_prefix="/api")


@bp.get("/history")
def fleet_history():
    """Fleet hashrate per algorithm, power and online count, bucketed for a chart."""
    name, since, bucket = access.range_window()
    bucket, rows = access.runtime().history.fleet_chart(since, bucket)
    ts: list[int] = []
    index: dict[int, int] = {}
    per_algo: dict[str, dict[int, float]] = {}
    power: dict[int, float | None] = {}
    online: dict[int, int] = {}
    for row in rows:
        t = row["t"]
        if t not in index:
            index[t] = len(ts)
            ts.append(t)
        per_algo.setdefault(row["algorithm"], {})[t] = row["hashrate_hs"]
        if row["power_w"] is not None:
            power[t] = (power.get(t) or 0.0) + row["power_w"]
        online[t] = online.get(t, 0) + row["online"]
    series: dict[str, list] = {f"hashrate_hs.{algo}": [values.get(t) for t in ts] for algo, values in per_algo.items()}
    series["power_w"] = [power.get(t) for t in ts]
    series["online"] = [online.get(t, 0) for t in ts]
    return jsonify({"range": name, "bucket_s": bucket, "ts": ts, "series": series})


@bp.get("/miners/<ip>/history")
def miner_history(ip: str):
    """One miner's hashrate, power, temperature (hottest) and fan (fastest), bucketed for a chart."""
    record = access.runtime().fleet.get(ipv4(ip))
    name, since, bucket = access.range_window()
    bucket, rows = access.runtime().history.miner_chart(record.id, since, bucket)
    return jsonify({"range": name, "bucket_s": bucket, "ts": [r["t"] for r in rows],
                    "series": {key: [r[key] for r in rows] for key in ("hashrate_hs", "power_w", "temp_c", "fan_rpm")}})


# --- CSV export (DESIGN 6: GET /api/history.csv exports any range) ----------------------
_BATTERY_KEYS = ("soc_pct", "pv_w", "load_w", "battery_w", "grid_w")


@bp.get("/history.csv")
def history_csv():
    """The chart history as a CSV download: the fleet (with battery columns) or, with ?ip=, one miner."""
    ip = request.args.get("ip")
    record = access.runtime().fleet.get(ipv4(ip)) if ip else None  # 400 for a bad address, 404 for an unknown one
    name, since, bucket = access.range_window()
    if record is None:
        bucket, header, rows = _fleet_csv_rows(since, bucket)
    else:
        bucket, header, rows = _miner_csv_rows(record.id, since, bucket)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([local_iso(t), t, *(csv_cell(v) for v in values)] for t, values in rows)
    filename = f"history-{record.ip if record else 'fleet'}-{name}-{time.strftime('%Y-%m-%d')}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "X-Bucket-Seconds": str(bucket)})


def _fleet_csv_rows(since: float, bucket: int) -> tuple[int, list[str], list[tuple[int, list]]]:
    """Bucket, header and (t, cells) of the fleet history, one hashrate column per algorithm, battery if stored."""
    history = access.runtime().history
    bucket, fleet_rows = history.fleet_chart(since, bucket)
    battery = {row["t"]: row for row in history.battery_chart(since, bucket)[1]}
    # Known miners' algorithms too, so the columns do not depend on who happened to answer.
    algorithms = sorted({row["algorithm"] for row in fleet_rows} | {r.algorithm for r in access.runtime().fleet.records()})
    hashrate: dict[int, dict[str, float]] = {}
    power: dict[int, float] = {}
    online: dict[int, int] = {}
    for row in fleet_rows:
        t = row["t"]
        hashrate.setdefault(t, {})[row["algorithm"]] = row["hashrate_hs"]
        if row["power_w"] is not None:
            power[t] = power.get(t, 0.0) + row["power_w"]
        online[t] = online.get(t, 0) + row["online"]
    header = ["time", "epoch", *(f"hashrate_hs_{algo}" for algo in algorithms), "power_w", "online"]
    if battery:
        header += _BATTERY_KEYS
    rows = []
    for t in sorted(set(online) | set(battery)):
        cells = [hashrate.get(t, {}).get(algo) for algo in algorithms] + [power.get(t), online.get(t, 0)]
        if battery:
            cells += [battery[t][key] if t in battery else None for key in _BATTERY_KEYS]
        rows.append((t, cells))
    return bucket, header, rows


def _miner_csv_rows(miner_id: int, since: float, bucket: int) -> tuple[int, list[str], list[tuple[int, list]]]:
    """Bucket, header and (t, cells) of one miner's history."""
    keys = ("hashrate_hs", "power_w", "temp_c")
    bucket, chart = access.runtime().history.miner_chart(miner_id, since, bucket)
    return bucket, ["time", "epoch", *keys], [(row["t"], [row[key] for key in keys]) for row in chart]
