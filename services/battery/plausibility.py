"""The one place where battery readings are judged plausible; rejected readings are counted, never passed on."""

from __future__ import annotations

import math
from typing import Any


class PlausibilityError(ValueError):
    """A reading physics or the device's ratings rule out."""


class PlausibilityGuard:
    """Rejects SOC outside 0-100, non-finite values, impossible powers and SOC jumps faster than the battery allows.

    ``max_soc_rate_pct_per_min`` is the fastest SOC change the battery can make
    (a 1C battery moves 100 % per hour = 1.67 %/min); ``soc_jump_slack_pct``
    allows for the 1 % resolution most BMSes report with.
    """

    def __init__(self, max_soc_rate_pct_per_min: float = 3.0, max_power_w: float = 100_000.0,
                 soc_jump_slack_pct: float = 2.0) -> None:
        self.max_soc_rate = float(max_soc_rate_pct_per_min)
        self.max_power_w = float(max_power_w)
        self.slack = float(soc_jump_slack_pct)
        self.rejected_count = 0
        self._prev: Any = None  # the last accepted reading

    def reset(self) -> None:
        """Forget the previous reading (e.g. after a long outage the jump check starts afresh)."""
        self._prev = None

    def check(self, reading: Any) -> None:
        """Raise PlausibilityError (and count it) unless the reading is plausible; remember it if it is."""
        try:
            self._check(reading)
        except PlausibilityError:
            self.rejected_count += 1
            raise
        self._prev = reading

    def _check(self, r: Any) -> None:
        for name in ("soc_pct", "pv_w", "load_w", "battery_w", "measured_at"):
            value = getattr(r, name)
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise PlausibilityError(f"{name} missing or not a number ({value!r})")
        if r.grid_w is not None and not math.isfinite(r.grid_w):
            raise PlausibilityError(f"grid_w not finite ({r.grid_w!r})")
        if not 0 <= r.soc_pct <= 100:
            raise PlausibilityError(f"SOC {r.soc_pct:g}% outside 0-100")
        # Small negatives happen (inverter self-consumption at night); large ones are a wrong sign or a glitch.
        for name in ("pv_w", "load_w"):
            if getattr(r, name) < -100:
                raise PlausibilityError(f"{name} {getattr(r, name):g} W negative")
        for name in ("pv_w", "load_w", "battery_w", "grid_w"):
            value = getattr(r, name)
            if value is not None and abs(value) > self.max_power_w:
                raise PlausibilityError(f"{name} {value:g} W beyond {self.max_power_w:g} W")
        prev = self._prev
        if prev is not None:
            dt_min = (r.measured_at - prev.measured_at) / 60.0
            if dt_min < -1 / 60:
                raise PlausibilityError("measured before the previous reading")
            allowed = self.max_soc_rate * max(dt_min, 0.0) + self.slack
            jump = abs(r.soc_pct - prev.soc_pct)
            if jump > allowed:
                raise PlausibilityError(
                    f"SOC jumped {prev.soc_pct:g}% -> {r.soc_pct:g}% in {dt_min * 60:.0f} s "
                    f"(max {self.max_soc_rate:g} %/min)")
