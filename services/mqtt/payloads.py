"""The JSON published on the state topics: one miner, the fleet, the battery, the controller (docs/mqtt.md)."""

from __future__ import annotations

import time
from typing import Any

from services.miner_state import MinerRecord, iso
from services.mqtt.identity import miner_id

_TH = 1e12


def _ths(hs: float | None) -> float | None:
    return None if hs is None else round(hs / _TH, 4)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def miner_state(record: MinerRecord, site: str, energy_kwh: float, now: float | None = None) -> dict[str, Any]:
    """One miner's state: the last reading while online, nulls (never stale numbers) while offline."""
    status = record.status if record.online else None
    pool = None
    if status is not None:
        active = next((p for p in status.pools if p.active), None)
        pool = active.url if active else None
    fans = status.fan_rpm if status is not None else []
    return {
        "miner_id": miner_id(record.ip), "ip": record.ip, "name": record.name, "site": site,
        "family": record.family, "model": (record.status.model if record.status and record.status.model
                                           else record.model),
        "online": bool(record.online), "status": record.state_name,
        # The firmware's run state (mining, paused, sleeping, idle, error); null while offline.
        "mode": status.state if status is not None else None,
        "mining": status is not None and status.state == "mining",
        "hashrate_hs": status.hashrate_hs if status is not None else None,
        "hashrate_ths": _ths(status.hashrate_hs) if status is not None else None,
        "power_w": _round(status.power_w) if status is not None else None,
        "temp_c": _round(status.temp_c) if status is not None else None,
        "fan_rpm": max(fans) if fans else None,
        "efficiency_j_th": _round(status.efficiency_j_th, 2) if status is not None else None,
        "pool": pool,
        "energy_kwh": round(energy_kwh, 6),  # estimate: polled power integrated over time (energy.py)
        "last_seen": iso(record.last_seen_ts),
        "ts": round(now if now is not None else time.time(), 3),
    }


def fleet_state(stats: dict[str, Any], site: str) -> dict[str, Any]:
    """Fleet totals (FleetManager.stats()) plus the SHA-256 hashrate in TH/s."""
    body = dict(stats)
    body["site"] = site
    body["hashrate_ths"] = _ths((stats.get("hashrate_hs") or {}).get("sha256d"))
    return body


def battery_state(snapshot: dict[str, Any], site: str) -> dict[str, Any]:
    """The battery's last reading (BatteryMonitor.snapshot()), flattened; never a secret."""
    reading = snapshot.get("reading") or {}
    status = snapshot.get("status") or {}
    return {
        "site": site, "configured": snapshot.get("configured"), "simulated": snapshot.get("simulated"),
        "connected": status.get("connected"), "error": status.get("last_error") or None,
        "soc_pct": reading.get("soc_pct"), "pv_w": reading.get("pv_w"), "load_w": reading.get("load_w"),
        "battery_w": reading.get("battery_w"), "grid_w": reading.get("grid_w"),
        "source": reading.get("source"), "age_sec": snapshot.get("age_sec"),
    }


def control_state(status: dict[str, Any], price: Any, site: str) -> dict[str, Any]:
    """The controller's decision (AutoControl.status()), EMS state and the price now."""
    override = status.get("override") or {}
    ems = status.get("ems") or {}
    return {
        "site": site, "enabled": status.get("enabled"), "policy": status.get("policy"),
        "target_percent": status.get("target_percent"), "target_w": status.get("target_w"),
        "reason": status.get("reason"), "layer": status.get("layer"), "source": status.get("source"),
        "soc_pct": status.get("soc_pct"), "emergency": status.get("emergency"),
        "failsafe": status.get("failsafe"), "override_percent": override.get("percent"),
        "ems_state": ems.get("state"), "ems_target_kw": ems.get("target_kw"),
        "price": getattr(price, "price", None), "price_stale": getattr(price, "stale", None),
        "price_unit": getattr(price, "unit", None) or None,
    }
