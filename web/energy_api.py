"""Energy and its cost per miner: GET /api/energy/cost (services/energy_cost.py, docs/prices.md)."""

from __future__ import annotations

import time

from flask import jsonify

from services.energy_cost import PERIODS, Usage
from web import access

bp = access.blueprint("energy", __name__, url_prefix="/api/energy")


@bp.get("/cost")
def cost():
    """kWh and cost per miner and for the fleet: today, yesterday, this month, last month (local time)."""
    runtime = access.runtime()
    now = time.time()
    book = runtime.costs
    usage = book.report(now)
    price = runtime.prices.current(now)
    priced = runtime.prices.configured or runtime.prices.default_main() is not None
    spans = book.periods(now)
    miners, fleet = [], {key: Usage() for key, _label in PERIODS}
    for record in runtime.fleet.records():
        mine = usage.get(record.id, {})
        row = {"ip": record.ip, "name": record.name, "family": record.family, "model": record.model}
        for key, _label in PERIODS:
            part = mine.get(key, Usage())
            fleet[key].merge(part)
            row[key] = part.to_dict(priced)
        miners.append(row)
    return jsonify({
        "currency": price.currency or None, "priced": priced,
        "interval_s": runtime.config.polling.interval_sec,
        "periods": [{"key": key, "label": label, "since": spans[key][0], "until": spans[key][1]}
                    for key, label in PERIODS],
        "fleet": {key: fleet[key].to_dict(priced) for key, _label in PERIODS},
        "miners": miners,
    })
