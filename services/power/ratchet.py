"""The "ratchet" solar policy of the WhatsMiner controller, exactly as DESIGN section 5 states it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .decision import fmt_pct
from .safety import below_floor


def ratchet_level(soc: float) -> float:
    """SOC rounded UP to the next 10: 55 -> 60, 83 -> 90, 60 -> 60, clamped to 0-100."""
    # The small epsilon keeps 60.0000001 (float noise from a source) at 60, not 70.
    return float(min(100, max(0, math.ceil(soc / 10 - 1e-6) * 10)))


@dataclass(frozen=True)
class RatchetResult:
    """The ratchet's wish for this tick and its new latch."""

    want_percent: float
    cap_percent: float
    emergency: bool  # SOC at or below emergency_soc now
    reason: str


def ratchet_step(soc: float, cap: float, night: bool, night_why: str, *,
                 emergency_soc: float, full_soc: float, sunset_min_soc: float) -> RatchetResult:
    """One ratchet decision from SOC, the current latch and day/night (no timing here)."""
    s = fmt_pct(soc)
    if below_floor(soc, emergency_soc):
        return RatchetResult(0.0, 0.0, True, f"SOC {s} <= {fmt_pct(emergency_soc)} emergency -> off")
    if soc >= full_soc:
        return RatchetResult(100.0, 100.0, False, f"SOC {s} full -> 100%, latch reset")
    level = ratchet_level(soc)
    if night and soc > sunset_min_soc and level > cap:
        # The sunset rule: the morning sun will replace this charge, so lift the latch.
        return RatchetResult(level, level, False,
                             f"{night_why}, SOC {s} > {fmt_pct(sunset_min_soc)} -> {fmt_pct(level)}")
    if level >= cap:
        if level > cap:
            return RatchetResult(cap, cap, False,
                                 f"SOC {s} -> {fmt_pct(level)}, latched at {fmt_pct(cap)} until {fmt_pct(full_soc)}")
        return RatchetResult(cap, cap, False, f"SOC {s} -> cap {fmt_pct(cap)}")
    return RatchetResult(level, level, False, f"SOC {s} -> cap {fmt_pct(level)}")
