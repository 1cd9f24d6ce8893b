"""Safety rules shared by the power controller and the EMS service (DESIGN section 5).

One place for what "stale battery data" means, so the controller's fail-safe and the
EMS's availability (`isAvailableForDispatch`) can never disagree about it.
"""

from __future__ import annotations

from .decision import BatteryReading


def age_text(seconds: float) -> str:
    """11 min / 45 s: how old data is, in the words of the reason text."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds // 60:.0f} min"


def stale_battery(reading: BatteryReading | None, now: float, limit_s: float) -> str | None:
    """Why the battery data cannot be trusted now ("no battery data", "battery data 6 min old"); None when fresh.

    Stale means no reading, a reading without a SOC, or one measured more than ``limit_s``
    (autocontrol.stale_after_sec) ago; then the stale-data fail-safe applies.
    """
    if reading is None or reading.soc_pct is None:
        return "no battery data"
    age = max(0.0, now - reading.measured_at)
    if age > limit_s:
        return f"battery data {age_text(age)} old"
    return None
