"""House battery and solar data sources (EG4 cloud, Home Assistant, HTTP JSON, MQTT, simulated).

Sign convention everywhere: battery_w + = discharging, grid_w + = importing.
``make_source(config)`` (services.battery.factory) builds the configured source.
"""

from .base import BatteryError, BatteryReading, BatterySource, BatteryStale, SourceStatus
from .plausibility import PlausibilityError, PlausibilityGuard

__all__ = ["BatteryError", "BatteryReading", "BatterySource", "BatteryStale", "SourceStatus",
           "PlausibilityError", "PlausibilityGuard"]
