"""The "surplus" solar policy: follow PV surplus the way evcc does for cars.

Watts to percent: the controller is given the fleet's rated watts (the sum of
the controllable miners' maximum power); a target of P % means P/100 of that.
Levels move in ``step_percent`` steps, never below ``min_percent`` while on.

Site power (evcc ``sitePower``) = grid + battery + residual, negative = surplus;
grid + = import, battery + = discharging. When the grid is not metered it is
derived from the energy balance: grid = load - pv - battery. The miners could
draw ``available = miner power now - site power``.
- Below ``priority_soc`` a charging battery is not counted: PV fills it first.
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
from dataclasses import dataclass

from .decision import BatteryReading, Timer, fmt_duration, fmt_pct
from .state import ControllerState


@dataclass(frozen=True)
class SurplusResult:
    """The surplus policy's wish for this tick."""

    want_percent: float
    reason: str
    timers: tuple[Timer, ...] = ()


def _kw(w: float) -> str:
    return f"{w / 1000:.2f} kW" if abs(w) >= 1000 else f"{w:.0f} W"


def _paced(wish: SurplusResult, applied: float, now: float, state: ControllerState, cfg, soc: float,
           battery: float) -> SurplusResult:
    """Hold a running level for ``change_interval_sec`` after the last change (lowering at once below priority_soc)."""
    since = None if state.last_change_at is None else now - state.last_change_at
    urgent_down = wish.want_percent < applied and soc < cfg.priority_soc and battery > 0
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
    counted = battery if (soc >= cfg.priority_soc or battery > 0) else 0.0
    site = grid + counted + cfg.residual_w
    available = miner_w - site
    avail_pct = available / rated_w * 100
    min_pct, step = cfg.min_percent, cfg.step_percent
    min_w = min_pct / 100 * rated_w
    # Full and idle with the grid idle too: an exporting grid-tied house shows its surplus on the
    # meter, so only a curtailing inverter (off-grid, or export-limited) needs the probe.
    full = soc >= cfg.probe_soc and abs(battery) <= cfg.probe_idle_w and abs(grid) <= cfg.probe_idle_w
    prio = f" (battery {fmt_pct(soc)} < priority {fmt_pct(cfg.priority_soc)} charges first)" \
        if soc < cfg.priority_soc and battery < 0 else ""

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
        return _paced(SurplusResult(level, f"surplus {_kw(available)}{prio} -> {fmt_pct(level)}"),
                      applied, now, state, cfg, soc, battery)
    if soc > cfg.buffer_soc or full:
        state.disable_since = None
        who = f"battery {fmt_pct(soc)} > buffer {fmt_pct(cfg.buffer_soc)}" if soc > cfg.buffer_soc else "battery full and idle"
        return _paced(SurplusResult(min_pct, f"surplus {_kw(available)}, {who} carries the minimum -> {fmt_pct(min_pct)}"),
                      applied, now, state, cfg, soc, battery)
    shortfall = min_w - available
    if shortfall <= cfg.disable_threshold_w:
        state.disable_since = None
        return _paced(SurplusResult(min_pct, f"shortfall {_kw(shortfall)} within tolerance -> minimum {fmt_pct(min_pct)}"),
                      applied, now, state, cfg, soc, battery)
    if state.disable_since is None:
        state.disable_since = now
    left = state.disable_since + cfg.disable_delay_sec - now
    if left > 0:
        text = f"stopping in {fmt_duration(left)}"
        return SurplusResult(min_pct, f"shortfall {_kw(shortfall)}{prio} -> minimum {fmt_pct(min_pct)}, {text}",
                             (Timer("stop", 0.0, now + left, left, text),))
    return SurplusResult(0.0, f"shortfall {_kw(shortfall)} for {fmt_duration(cfg.disable_delay_sec)}{prio} -> off")
