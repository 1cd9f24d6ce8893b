"""Families of the controller's other parts: battery, autocontrol, EMS, price and alerts, read at scrape time."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client.core import Metric

from services.alerts.kinds import SEVERITIES
from services.ems import ACTIVE, IDLE, STOPPED
from services.metrics.catalogue import family

# The precedence layers of a control step, highest first (services/power/decision.py Decision.layer).
LAYERS = ("safety", "override", "ems", "rules", "price", "policy")
EMS_STATES = (IDLE, ACTIVE, STOPPED)


def _one(name: str, labels: list[str], value: Any) -> Metric:
    """A family with one sample, or none when ``value`` is None (unknown is absent, never 0)."""
    fam = family(name)
    if value is not None:
        fam.add_metric(labels, float(value))
    return fam


def battery_families(battery: Any, site: str, now: float | None = None) -> list[Metric]:
    """The house battery's last reading (BatteryMonitor); nothing at all when no battery is configured."""
    if not battery.configured:
        return []
    now = time.time() if now is None else now
    source = battery.config.battery.source
    reading = battery.source.last_reading
    labels = [site, source]
    out = [_one("minerfleet_battery_connected", labels, 1.0 if battery.connected else 0.0)]
    fields = (("minerfleet_battery_soc_percent", "soc_pct"), ("minerfleet_battery_pv_w", "pv_w"),
              ("minerfleet_battery_load_w", "load_w"), ("minerfleet_battery_power_w", "battery_w"),
              ("minerfleet_battery_grid_w", "grid_w"))
    for name, field in fields:
        out.append(_one(name, labels, getattr(reading, field) if reading is not None else None))
    age = max(0.0, now - reading.measured_at) if reading is not None else None
    out.append(_one("minerfleet_battery_reading_age_seconds", labels, age))
    return out


def control_families(status: dict[str, Any], site: str) -> list[Metric]:
    """Autocontrol and EMS from AutoControl.status() (the GET /api/autocontrol body)."""
    out = [_one("minerfleet_control_enabled", [site], 1.0 if status.get("enabled") else 0.0),
           _one("minerfleet_control_target_percent", [site], status.get("target_percent")),
           _one("minerfleet_control_target_w", [site], status.get("target_w")),
           _one("minerfleet_control_failsafe", [site], 1.0 if status.get("failsafe") else 0.0)]
    # Every layer with 0 or 1 (one series per layer, not one whose label changes): a Grafana
    # state timeline and "== 1" queries keep working across changes of layer.
    layer = family("minerfleet_control_layer")
    for name in LAYERS:
        layer.add_metric([site, name], 1.0 if status.get("layer") == name else 0.0)
    ems = status.get("ems") or {}
    state = family("minerfleet_ems_state")
    for name in EMS_STATES:
        state.add_metric([site, name], 1.0 if ems.get("state") == name else 0.0)
    out += [layer, state, _one("minerfleet_ems_target_kw", [site], ems.get("target_kw"))]
    return out


def price_families(price: Any, site: str) -> list[Metric]:
    """The price now (a PriceNow); both absent when neither a source nor prices.default_price gives one."""
    labels = [site, price.currency, price.source]
    known = price.price_main is not None
    return [_one("minerfleet_price_per_kwh", labels, price.price_main),
            _one("minerfleet_price_stale", labels, (1.0 if price.stale else 0.0) if known else None)]


def alert_families(alerts: list[dict[str, Any]], site: str) -> list[Metric]:
    """Active problems (AlertService.alerts()) counted per severity, 0 for the severities with none."""
    counts = {severity: 0 for severity in SEVERITIES}
    for alert in alerts:
        severity = alert.get("severity") or "warning"
        counts[severity] = counts.get(severity, 0) + 1
    fam = family("minerfleet_alerts_active")
    for severity, count in counts.items():
        fam.add_metric([site, severity], float(count))
    return [fam]
