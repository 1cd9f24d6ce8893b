"""The safety rules, in one place (DESIGN section 5): stale battery data, the battery floor, overheating.

The power controller's fail-safe and emergency, the control step's overheat stops and
the EMS's availability (`isAvailableForDispatch`) all ask these functions, so they can
never disagree about what is safe. Safety outranks every other layer (services/control).
"""

from __future__ import annotations

from .decision import BatteryReading, fmt_pct
from .overheat import OVERHEAT_KEY, OverheatTracker, default_limit_c, fmt_c

__all__ = ["OVERHEAT_KEY", "OverheatTracker", "age_text", "battery_blocker", "below_floor", "fmt_c",
           "overheat_limit", "stale_battery"]


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


def below_floor(soc: float, emergency_soc: float) -> bool:
    """The battery floor: at or below ``autocontrol.emergency_soc`` every miner goes off at once."""
    return soc <= emergency_soc


def battery_blocker(reading: BatteryReading | None, now: float, stale_after_sec: float, emergency_soc: float,
                    emergency_latched: bool) -> str | None:
    """Why the battery forbids mining now (stale data, or the emergency latch at the floor); None when it allows.

    ``emergency_latched`` is the controller's latch (it stays set after the SOC rises above the
    floor until the policy lifts it), so the EMS refuses exactly while the controller would.
    """
    stale = stale_battery(reading, now, stale_after_sec)
    if stale is not None:
        return f"{stale}, limit {age_text(stale_after_sec)} (stale-data fail-safe)"
    if emergency_latched:
        assert reading is not None and reading.soc_pct is not None  # not stale
        return f"battery emergency (SOC {fmt_pct(reading.soc_pct)}, floor {fmt_pct(emergency_soc)})"
    return None


def overheat_limit(miner_max_c: float | None, config_c: float | None, family: str) -> float | None:
    """A miner's temperature limit: miners[].max_temp_c, else autocontrol.overheat_c, else its family's default.

    0 (from either setting) means overheat protection is off for that miner; the tracker then never trips it.
    """
    limit = miner_max_c if miner_max_c is not None else config_c
    return default_limit_c(family) if limit is None else limit
