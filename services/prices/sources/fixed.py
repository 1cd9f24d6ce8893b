"""The fixed / time-of-use source: slots computed from the table in config.yaml, no network."""

from __future__ import annotations

from ..config import FixedConfig
from ..tou import table_slots
from ..units import main_factor, per_kwh
from ..zone import Zone
from .base import Fetched


class FixedSource:
    """Today's and tomorrow's slots from the configured table."""

    name = "fixed"

    def __init__(self, cfg: FixedConfig, unit: str, currency: str, zone: Zone) -> None:
        self.cfg, self.currency, self.zone = cfg, currency, zone
        self.unit, self._scale = per_kwh(unit)
        self._factor = main_factor(self.unit)

    def fetch(self, now: float, window: tuple[float, float]) -> Fetched:
        """The table's slots from local midnight today to the end of tomorrow."""
        periods = [type(p)(p.name, p.price * self._scale, p.hours, p.days) for p in self.cfg.periods]
        flat = None if self.cfg.price is None else self.cfg.price * self._scale
        return Fetched(table_slots(periods, flat, self.zone, now, self._factor), self.unit, self.currency)

    def close(self) -> None:
        """Nothing to close."""
