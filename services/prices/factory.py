"""Build the configured price source (None for ``none``)."""

from __future__ import annotations

from typing import Protocol

from .config import PricesConfig
from .sources.base import Fetched
from .zone import Zone


class Source(Protocol):
    """What the PriceService needs of a source."""

    name: str

    def fetch(self, now: float, window: tuple[float, float]) -> Fetched:
        """Fetch the prices of ``window``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def build_source(cfg: PricesConfig, zone: Zone) -> Source | None:
    """The source object for ``cfg.source``; imports only the module it needs."""
    timeout = cfg.timeout_sec
    if cfg.source == "octopus":
        from .sources.octopus import OctopusSource

        return OctopusSource(cfg.octopus, timeout)
    if cfg.source == "awattar":
        from .sources.awattar import AwattarSource

        return AwattarSource(cfg.awattar, timeout)
    if cfg.source == "comed":
        from .sources.comed import ComedSource

        return ComedSource(cfg.comed, timeout)
    if cfg.source == "tibber":
        from .sources.tibber import TibberSource

        return TibberSource(cfg.tibber, timeout)
    unit = cfg.unit or f"{cfg.currency}/kWh"
    if cfg.source == "http":
        from .sources.http_json import HttpPriceSource

        return HttpPriceSource(cfg.http, unit, cfg.currency, 2 * cfg.refresh_min * 60, timeout)
    if cfg.source == "fixed":
        from .sources.fixed import FixedSource

        return FixedSource(cfg.fixed, unit, cfg.currency, zone)
    return None
