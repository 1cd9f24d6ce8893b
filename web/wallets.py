"""Pools & wallets API: payout wallets, solo odds and shares per miner and pool (docs/wallets.md).

- ``GET /api/wallets`` -> ``[{"address", "valid", "miners": [ip, ...], "hashrate_hs", ...}]``
- ``GET /api/solo`` -> best difficulties, solo odds and the network difficulty with its source
- ``GET /api/shares?range=`` -> accepted/rejected per miner and pool over the range
- ``GET /api/miners/<ip>/shares?range=`` -> one miner's shares per pool, bucketed for a chart
"""

from __future__ import annotations

import time

from flask import jsonify

from services import wallets
from services.miner_state import ip_sort_key
from services.shares import FINE_SPAN_S, TIERS
from services.solo.report import add_wallet_odds, solo_report
from web import access
from web.body import ipv4

bp = access.blueprint("wallets", __name__, url_prefix="/api")


@bp.get("/wallets")
def list_wallets():
    """Miners grouped by the payout address in their pool user, checked by checksum, biggest hashrate first."""
    runtime = access.runtime()
    records = runtime.fleet.records()
    report = solo_report(records, runtime.difficulty.current(), runtime.config.solo, runtime.best.get)
    return jsonify(add_wallet_odds(wallets.group_by_wallet(records), report))


@bp.get("/solo")
def solo():
    """Per miner: best difficulties, solo pool or not, expected time to a block; the difficulty used and its source."""
    runtime = access.runtime()
    return jsonify(solo_report(runtime.fleet.records(), runtime.difficulty.current(), runtime.config.solo,
                               runtime.best.get))


def _reject_pct(accepted: int, rejected: int) -> float | None:
    total = accepted + rejected
    return round(100.0 * rejected / total, 2) if total else None


@bp.get("/shares")
def fleet_shares():
    """Accepted and rejected shares per miner and pool in ``?range=`` (1h ... all), from the stored counters."""
    runtime = access.runtime()
    name, since, _bucket = access.range_window()
    totals = runtime.shares.totals(since)
    by_id = {record.id: record for record in runtime.fleet.records()}
    miners: dict[str, dict] = {}
    for (miner_id, url, user), counts in totals.items():
        record = by_id.get(miner_id)
        if record is None:
            continue  # removed since: its rows age out
        entry = miners.setdefault(record.ip, {"ip": record.ip, "name": record.name, "pools": [],
                                              "accepted": 0, "rejected": 0})
        entry["pools"].append({"url": url, "user": user, **counts,
                               "reject_pct": _reject_pct(counts["accepted"], counts["rejected"])})
        entry["accepted"] += counts["accepted"]
        entry["rejected"] += counts["rejected"]
    rows = sorted(miners.values(), key=lambda m: ip_sort_key(m["ip"]))
    for row in rows:
        row["reject_pct"] = _reject_pct(row["accepted"], row["rejected"])
        row["pools"].sort(key=lambda p: -(p["accepted"] + p["rejected"]))
    return jsonify({"range": name, "since": since, "miners": rows})


@bp.get("/miners/<ip>/shares")
def miner_shares(ip: str):
    """One miner's accepted/rejected shares per pool, bucketed for a chart (buckets of whole stored rows)."""
    runtime = access.runtime()
    record = runtime.fleet.get(ipv4(ip))
    name, since, bucket = access.range_window()
    step = TIERS["5m"] if time.time() - since <= FINE_SPAN_S else TIERS["1h"]
    bucket = -(-bucket // step) * step  # a bucket finer than the stored rows would show gaps
    ts, pools = runtime.shares.chart(record.id, since, bucket)
    return jsonify({"ip": record.ip, "range": name, "bucket_s": bucket, "ts": ts,
                    "pools": [{"url": url, "user": user, **series, "total_accepted": sum(series["accepted"]),
                               "total_rejected": sum(series["rejected"])}
                              for (url, user), series in pools.items()]})
