"""``battery.source: none``: a site without a house battery (a grid-only EMS site).

Nothing is read: the runtime schedules no battery job, /api/battery says "not
configured", and the controller skips the battery rules (no stale-data
fail-safe, no emergency; the solar policy wants 0 %).
"""

from __future__ import annotations

from .base import BatteryError, BatteryReading, BatterySource

NOT_CONFIGURED = "no battery configured (battery.source: none)"


class NoBattery(BatterySource):
    """A source that never has a reading."""

    name = "none"

    def _fetch(self) -> BatteryReading:
        raise BatteryError(NOT_CONFIGURED)
