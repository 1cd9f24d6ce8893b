"""The "surplus" solar policy: follow PV surplus the way evcc does for cars.

Watts to percent: the controller is given the fleet's rated watts (the sum of
the controllable miners' maximum power); a target of P % means P/100 of that.
Levels move in ``step_percent`` steps, never below ``min_percent`` while on.

Site power (evcc ``sitePower``) = grid + battery + residual, negative = surplus;
grid + = import, battery + = discharging. When the grid is not metered it is
derived from the energy balance: grid = load - pv - battery. The miners could
draw ``available = miner power now - site power``.
- Below the priority SOC a charging battery is not counted: PV fills it first.
  With ``priority_ramp`` the priority SOC rises through the PV day, from
  ``sunrise_priority_soc`` at sunrise to ``evening_priority_soc`` at
  ``evening_day_fraction`` of it (the day is learned from the PV readings,
  services/power/solar_day.py; no location, no forecast): in the morning the
  miners take the PV while the afternoon can still fill the battery, in the
  afternoon a battery that lags gets it (it must last the night). Without PV
  readings and before a sunrise or sunset has been seen, ``priority_soc`` applies.
- Just below the priority SOC running miners hold their level; more than
  ``give_way_soc`` below it, while the battery is not exporting, they give way
  one step per ``change_interval_sec`` (the battery takes what they leave).
- In daylight, from ``give_way_soc`` above the priority SOC (in proportion
  below that) and at ``buffer_soc`` or above, never below ``carry_min_soc``,
  the battery may carry up to ``carry_w`` of a running fleet: its level leads a
  rising surplus, so the battery keeps room for the noon peak, and rides out
  passing clouds. It never starts a stopped fleet.
- Above ``buffer_soc`` a running fleet is kept at its minimum even without
  surplus (the battery carries it); below, the disable timer runs.
- On/off only through timers: the enable condition (available >= minimum +
  enable_threshold_w) must hold ``enable_delay_sec``; the disable condition
  (shortfall at the minimum > disable_threshold_w) ``disable_delay_sec``. A
  timer resets as soon as its condition breaks, and when the on/off state flips.
- "Battery full" probe: a full hybrid or off-grid inverter curtails PV, so the
  meters show no surplus. At SOC >= probe_soc with the battery idle (within
  probe_idle_w either way) and no grid import, the level is raised one step
  every probe_interval_sec; if that was too much the battery starts to
  discharge and ordinary tracking takes the level back down.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

from .decision import BatteryReading, Timer, fmt_duration, fmt_pct
from .solar_day import DAYLIGHT_W, SolarDay
from .state import ControllerState

# The solar day each controller has learned, by its state object. Kept in memory only (ControllerState
# is persisted as fixed fields): after a restart priority_soc applies until a sunrise or sunset is seen.
_DAYS: dict[int, SolarDay] = {}


@dataclass(frozen=True)
class SurplusResult:
    """The surplus policy's wish for this tick."""

    want_percent: float
    reason: str
    timers: tuple[Timer, ...] = ()


def _kw(w: float) -> str:
    return f"{w / 1000:.2f} kW" if abs(w) >= 1000 else f"{w:.0f} W"


def solar_day(state: ControllerState) -> SolarDay:
    """The SolarDay learned for the controller that owns ``state`` (created on first use, dropped with it)."""
    key = id(state)
    day = _DAYS.get(key)
    if day is None:
        day = _DAYS[key] = SolarDay()
        weakref.finalize(state, _DAYS.pop, key, None)
    return day


def priority_now(cfg, fraction: float | None) -> tuple[float, str]:
    """The priority SOC now and how it was found: the ramp at ``fraction`` of the PV day, else the fixed one."""
    if not cfg.priority_ramp or fraction is None:
        return cfg.priority_soc, "priority"
    lo, hi = cfg.sunrise_priority_soc, cfg.evening_priority_soc
    return lo + (hi - lo) * min(1.0, fraction / cfg.evening_day_fraction), f"priority at {fraction * 100:.0f}% of the PV day"


def _carry_w(cfg, soc: float, prio_soc: float, fraction: float | None) -> float:
    """Watts the battery may give a running fleet in daylight: carry_w from give_way_soc above the priority
    SOC (less on the way up, so the level does not jump as the SOC crosses it) and at buffer_soc or above;
    nothing below carry_min_soc."""
    if fraction is None or fraction >= 1.0 or cfg.carry_w <= 0 or soc < cfg.carry_min_soc:
        return 0.0
    if soc >= cfg.buffer_soc:
        return cfg.carry_w
    share = 1.0 if cfg.give_way_soc <= 0 else (soc - prio_soc) / cfg.give_way_soc
    return cfg.carry_w * min(1.0, max(0.0, share))


def _paced(wish: SurplusResult, applied: float, now: float, state: ControllerState, cfg, soc: float,
           battery: float, prio_soc: float) -> SurplusResult:
    """Hold a running level for ``change_interval_sec`` after the last change (lowering at once below the priority SOC)."""
    since = None if state.last_change_at is None else now - state.last_change_at
    urgent_down = wish.want_percent < applied and soc < prio_soc and battery > 0
    if wish.want_percent == applied or since is None or since >= cfg.change_interval_sec or urgent_down:
        return wish
    left = cfg.change_interval_sec - since
    verb = "raising" if wish.want_percent > applied else "lowering"
    text = f"{verb} to {fmt_pct(wish.want_percent)} in {fmt_duration(left)}"
    return SurplusResult(applied, f"{wish.reason.rsplit(' -> ', 1)[0]} -> hold {fmt_pct(applied)}; {text}",
                         (Timer("raise" if wish.want_percent > applied else "lower", wish.want_percent, now + left,
                                left, text),))


def surplus_step(reading: BatteryReading, now: float, state: ControllerState, cfg, *,
                 rated_w: float, fleet_w: float | None) -> SurplusResult:
    """One surplus decision; updates the surplus timers in ``state`` (cfg is a SurplusConfig)."""
    applied = state.applied_percent or 0.0
    running = applied > 0
    day = solar_day(state)
    day.observe(reading.measured_at, reading.pv_w)
    # Timers belong to one side of the on/off boundary: crossing it resets the other.
    if running:
        state.enable_since = None
    else:
        state.disable_since = None
    if rated_w <= 0:
        state.enable_since = state.disable_since = None
        return SurplusResult(0.0, "no controllable miners (rated 0 W) -> off")
    soc = reading.soc_pct
    battery = reading.battery_w or 0.0
    grid = reading.grid_w
    if grid is None:
        if reading.load_w is None or reading.pv_w is None:
            return SurplusResult(applied, "no grid meter and no PV/load reading -> hold")
        grid = reading.load_w - reading.pv_w - battery
    miner_w = fleet_w if fleet_w is not None else applied / 100 * rated_w
    fraction = None if reading.pv_w is None else day.fraction(now, reading.pv_w > DAYLIGHT_W)
    prio_soc, prio_name = priority_now(cfg, fraction)
    charges_first = soc < prio_soc and battery <= 0
    counted = 0.0 if charges_first else battery
    available = miner_w - (grid + counted + cfg.residual_w)
    min_pct, step = cfg.min_percent, cfg.step_percent
    # Far below the priority SOC a battery that is not exporting takes every watt the miners leave:
    # running miners give way one step per change_interval_sec (a lagging battery must last the night).
    give_way = (charges_first and running and soc < prio_soc - cfg.give_way_soc
                and -grid <= cfg.residual_w and available > (applied - step) / 100 * rated_w)
    if give_way:
        available = (applied - step) / 100 * rated_w
    avail_pct = available / rated_w * 100
    min_w = min_pct / 100 * rated_w
    # Full and idle with the grid idle too: an exporting grid-tied house shows its surplus on the
    # meter, so only a curtailing inverter (off-grid, or export-limited) needs the probe.
    full = soc >= cfg.probe_soc and abs(battery) <= cfg.probe_idle_w and abs(grid) <= cfg.probe_idle_w
    prio = f" (battery {fmt_pct(soc)} < {prio_name} {fmt_pct(prio_soc)} charges first" \
        f"{', miners give way' if give_way else ''})" if charges_first and battery < 0 else ""

    if not running:
        enough = available >= min_w + cfg.enable_threshold_w
        if not (enough or full):
            state.enable_since = None
            return SurplusResult(0.0, f"surplus {_kw(available)} < {_kw(min_w + cfg.enable_threshold_w)} needed{prio} -> off")
        start_pct = max(min_pct, min(100.0, math.floor(avail_pct / step + 1e-9) * step)) if enough else min_pct
        why = f"surplus {_kw(available)}" if enough else f"battery full ({fmt_pct(soc)}) and idle, PV may be curtailed"
        if state.enable_since is None:
            state.enable_since = now
        left = state.enable_since + cfg.enable_delay_sec - now
        if left > 0:
            text = f"starting at {fmt_pct(start_pct)} in {fmt_duration(left)}"
            return SurplusResult(0.0, f"{why} -> {text}",
                                 (Timer("start", start_pct, now + left, left, text),))
        if not enough:
            state.last_probe_at = now  # the start is the first probe step; give the miners time before the next
        return SurplusResult(start_pct, f"{why} for {fmt_duration(cfg.enable_delay_sec)} -> start at {fmt_pct(start_pct)}")

    # Well above the priority SOC the battery may carry part of a running fleet: the level leads a
    # rising surplus (the battery keeps room for the noon peak) and rides out a passing cloud.
    carry = _carry_w(cfg, soc, prio_soc, fraction)
    avail_pct = (available + carry) / rated_w * 100
    level = min(100.0, math.floor(avail_pct / step + 1e-9) * step)
    if min_pct <= level < applied and avail_pct >= applied - cfg.hysteresis_percent:
        level = applied  # hysteresis between running levels; at the minimum the disable timer decides
    paced = state.last_change_at is None or now - state.last_change_at >= cfg.change_interval_sec
    if full and level <= applied < 100 and paced and (state.last_probe_at is None
                                                       or now - state.last_probe_at >= cfg.probe_interval_sec):
        state.disable_since = None
        state.last_probe_at = now
        up = min(100.0, applied + step)
        return SurplusResult(up, f"battery full ({fmt_pct(soc)}) and idle, PV may be curtailed -> probing {fmt_pct(up)}")
    if level >= min_pct:
        state.disable_since = None
        carried = f", battery carries up to {_kw(carry)}" if carry else ""
        return _paced(SurplusResult(level, f"surplus {_kw(available)}{carried}{prio} -> {fmt_pct(level)}"),
                      applied, now, state, cfg, soc, battery, prio_soc)
    if soc > cfg.buffer_soc or full:
        state.disable_since = None
        who = f"battery {fmt_pct(soc)} > buffer {fmt_pct(cfg.buffer_soc)}" if soc > cfg.buffer_soc else "battery full and idle"
        return _paced(SurplusResult(min_pct, f"surplus {_kw(available)}, {who} carries the minimum -> {fmt_pct(min_pct)}"),
                      applied, now, state, cfg, soc, battery, prio_soc)
    shortfall = min_w - available
    if shortfall <= cfg.disable_threshold_w:
        state.disable_since = None
        return _paced(SurplusResult(min_pct, f"shortfall {_kw(shortfall)} within tolerance -> minimum {fmt_pct(min_pct)}"),
                      applied, now, state, cfg, soc, battery, prio_soc)
    if state.disable_since is None:
        state.disable_since = now
    left = state.disable_since + cfg.disable_delay_sec - now
    if left > 0:
        text = f"stopping in {fmt_duration(left)}"
        return SurplusResult(min_pct, f"shortfall {_kw(shortfall)}{prio} -> minimum {fmt_pct(min_pct)}, {text}",
                             (Timer("stop", 0.0, now + left, left, text),))
    return SurplusResult(0.0, f"shortfall {_kw(shortfall)} for {fmt_duration(cfg.disable_delay_sec)}{prio} -> off")
