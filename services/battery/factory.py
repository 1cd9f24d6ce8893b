"""Build the configured battery source."""

from __future__ import annotations

import time
from typing import Any, Callable

from .base import BatterySource
from .config import BatteryConfig
from .plausibility import PlausibilityGuard


def make_guard(cfg: BatteryConfig) -> PlausibilityGuard:
    """The plausibility guard with the configured limits."""
    return PlausibilityGuard(max_soc_rate_pct_per_min=cfg.max_soc_rate_pct_per_min, max_power_w=cfg.max_power_w)


def make_source(config: Any, clock: Callable[[], float] = time.time) -> BatterySource:
    """The source ``battery.source`` names; accepts the whole Config or its BatteryConfig."""
    cfg: BatteryConfig = getattr(config, "battery", config)
    common = {"max_age_sec": cfg.max_age_sec, "guard": make_guard(cfg), "clock": clock}
    if cfg.source == "eg4":
        from .eg4 import EG4Source
        return EG4Source(cfg.eg4, **common)
    if cfg.source == "homeassistant":
        from .homeassistant import HomeAssistantSource
        return HomeAssistantSource(cfg.homeassistant, **common)
    if cfg.source == "http":
        from .http_json import HttpJsonSource
        return HttpJsonSource(cfg.http, **common)
    if cfg.source == "mqtt":
        from .mqtt import MqttSource
        return MqttSource(cfg.mqtt, **common)
    if cfg.source == "none":
        from .none import NoBattery
        return NoBattery(**common)
    if cfg.source == "simulated":
        from .simulated import SimulatedSource
        return SimulatedSource(cfg.simulated, **common)
    raise ValueError(f"battery.source: unknown source {cfg.source!r}")
