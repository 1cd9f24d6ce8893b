"""Per-miner and fleet-total families, built from the fleet's in-memory records at scrape time."""

from __future__ import annotations

from typing import Any, Iterable

from prometheus_client.core import Metric

from services.metrics.catalogue import SPECS, family

# MinerStatus field -> metric, for the plain values shown while a miner is online.
_VALUES = (
    ("hashrate_hs", "minerfleet_miner_hashrate_hs"),
    ("expected_hashrate_hs", "minerfleet_miner_expected_hashrate_hs"),
    ("power_w", "minerfleet_miner_power_w"),
    ("temp_c", "minerfleet_miner_temp_c"),
    ("fan_percent", "minerfleet_miner_fan_percent"),
    ("efficiency_j_th", "minerfleet_miner_efficiency_j_th"),
    ("uptime_s", "minerfleet_miner_uptime_seconds"),
    ("shares_accepted", "minerfleet_miner_shares_accepted"),
    ("shares_rejected", "minerfleet_miner_shares_rejected"),
    ("best_difficulty", "minerfleet_miner_best_difficulty"),
    ("best_session_difficulty", "minerfleet_miner_best_session_difficulty"),
)
_MINER_NAMES = [name for name in SPECS if name.startswith("minerfleet_miner_")]


def miner_labels(record: Any, site: str) -> list[str]:
    """site, ip, name, family, model of one MinerRecord (an unknown name or model is "")."""
    status = record.status
    model = (status.model if status is not None and status.model else record.model) or ""
    return [site, record.ip, record.name or "", record.family, model]


def miner_families(records: Iterable[Any], site: str) -> list[Metric]:
    """Every per-miner family; an offline miner has online 0, info and last seen only; a disabled one, nothing.

    As in GET /api/miners, the last good reading of an offline miner is never shown as if it
    were still hashing: its series stop (Prometheus marks them stale) instead of holding a value.
    """
    fams = {name: family(name) for name in _MINER_NAMES}
    for record in records:
        if not record.enabled:
            continue  # disabled in its settings: not polled; no series (not an "online 0" to alert on)
        labels = miner_labels(record, site)
        status = record.status
        fams["minerfleet_miner_online"].add_metric(labels, 1.0 if record.online else 0.0)
        fams["minerfleet_miner_info"].add_metric(
            labels + [(status.firmware or "") if status else "", (status.firmware_version or "") if status else "",
                      record.algorithm], 1.0)
        if record.last_seen_ts is not None:
            fams["minerfleet_miner_last_seen_timestamp_seconds"].add_metric(labels, float(record.last_seen_ts))
        if not record.online or status is None:
            continue
        for field, name in _VALUES:
            value = getattr(status, field)
            if value is not None:
                fams[name].add_metric(labels, float(value))
        if status.fan_rpm:
            fams["minerfleet_miner_fan_rpm"].add_metric(labels, float(max(status.fan_rpm)))
    return list(fams.values())


def fleet_families(stats: dict[str, Any], records: Iterable[Any], failed_polls: dict[str, int],
                   site: str) -> list[Metric]:
    """Fleet totals (FleetManager.stats()) and failed polls per family (0 for every family known)."""
    hashrate = family("minerfleet_fleet_hashrate_hs")
    for algorithm, value in sorted(stats["hashrate_hs"].items()):
        hashrate.add_metric([site, algorithm], float(value))
    out = [hashrate]
    for key, name in (("power_w", "minerfleet_fleet_power_w"),
                      ("power_reported_by", "minerfleet_fleet_power_reported_by"),
                      ("efficiency_j_th", "minerfleet_fleet_efficiency_j_th"),
                      ("miners_total", "minerfleet_fleet_miners"),
                      ("online", "minerfleet_fleet_miners_online"),
                      ("offline", "minerfleet_fleet_miners_offline"),
                      ("updated_ts", "minerfleet_fleet_last_round_timestamp_seconds")):
        fam = family(name)
        if stats.get(key) is not None:
            fam.add_metric([site], float(stats[key]))
        out.append(fam)
    errors = family("minerfleet_poll_errors")
    counts = {r.family: 0 for r in records}  # a counter that exists from 0 lets rate() see the first error
    counts.update(failed_polls)
    for name, count in sorted(counts.items()):
        errors.add_metric([site, name], float(count))
    out.append(errors)
    return out
