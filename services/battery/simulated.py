"""A simulated house: clear-sky PV for a latitude/longitude, a daily load profile, and a battery.

``HouseModel.step(dt, ...)`` advances it in simulated time (the bench drives it, passing its own PV
from irradiance data and the miners' load); ``SimulatedSource`` runs it on a clock for the demo.
Energy is conserved every step (grid-tied):  pv + battery_w + grid_w = load
(off-grid:  pv - curtailed + battery_w + unmet = load), with battery_w + = discharging.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from .base import BatteryReading, BatterySource
from .config import SimulatedConfig
from .plausibility import PlausibilityGuard

PV_DERATE = 0.8  # inverter, wiring, heat and soiling losses from DC nameplate to AC
MAX_STEP_SEC = 60.0  # the source integrates in steps of at most a minute
MAX_CATCH_UP_SEC = 86400.0  # after a longer gap (a suspended demo) the model jumps instead of replaying


def solar_elevation_deg(latitude: float, longitude: float, t: float) -> float:
    """Sun elevation above the horizon in degrees (low-precision NOAA/Almanac formulas, ~0.1 deg)."""
    n = t / 86400.0 + 2440587.5 - 2451545.0  # days since J2000.0
    mean_lon = math.radians((280.460 + 0.9856474 * n) % 360)
    anomaly = math.radians((357.528 + 0.9856003 * n) % 360)
    ecl_lon = mean_lon + math.radians(1.915 * math.sin(anomaly) + 0.020 * math.sin(2 * anomaly))
    obliquity = math.radians(23.439 - 0.0000004 * n)
    ra = math.atan2(math.cos(obliquity) * math.sin(ecl_lon), math.cos(ecl_lon))
    dec = math.asin(math.sin(obliquity) * math.sin(ecl_lon))
    gmst_deg = ((18.697374558 + 24.06570982441908 * n) % 24) * 15
    hour_angle = math.radians(gmst_deg + longitude) - ra
    lat = math.radians(latitude)
    sin_el = math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(hour_angle)
    return math.degrees(math.asin(max(-1.0, min(1.0, sin_el))))


def clear_sky_ghi(elevation_deg: float) -> float:
    """Global horizontal irradiance on a clear day, W/m2 (Haurwitz model)."""
    if elevation_deg <= 0:
        return 0.0
    s = math.sin(math.radians(elevation_deg))
    return 1098.0 * s * math.exp(-0.057 / s)


# Multipliers of the base load by local solar hour: low at night, breakfast and evening peaks.
_LOAD_PROFILE = (0.7, 0.65, 0.6, 0.6, 0.6, 0.7, 1.0, 1.5, 1.4, 1.1, 1.0, 1.0,
                 1.1, 1.0, 1.0, 1.1, 1.3, 1.7, 2.0, 1.9, 1.6, 1.3, 1.0, 0.8)


def house_load_w(base_load_w: float, longitude: float, t: float) -> float:
    """The house's own load (no miners) at time t, interpolated between hourly profile points."""
    hour = ((t / 3600.0) + longitude / 15.0) % 24  # local solar time
    i = int(hour)
    frac = hour - i
    return base_load_w * (_LOAD_PROFILE[i] * (1 - frac) + _LOAD_PROFILE[(i + 1) % 24] * frac)


@dataclass(frozen=True)
class HouseState:
    """The house after one step; powers are the step's averages."""

    t: float
    soc_pct: float
    pv_w: float  # PV actually used (after curtailment)
    load_w: float  # house + extra (miners)
    battery_w: float  # + = discharging
    grid_w: float | None  # + = import; None off-grid
    curtailed_w: float  # PV the inverter had to throw away (off-grid, battery full)
    unmet_w: float  # load the house could not supply (off-grid, battery empty)


class HouseModel:
    """PV, load and a battery with round-trip losses, stepped in simulated time."""

    def __init__(self, cfg: SimulatedConfig, start: float) -> None:
        self.cfg = cfg
        self.t = float(start)
        self.capacity_wh = cfg.battery_kwh * 1000.0
        self.stored_wh = self.capacity_wh * cfg.initial_soc / 100.0
        self._eta = math.sqrt(cfg.efficiency)  # the round trip split evenly between charge and discharge
        self.totals = dict.fromkeys(
            ("pv_wh", "load_wh", "charge_wh", "discharge_wh", "import_wh", "export_wh", "curtailed_wh", "unmet_wh", "loss_wh"), 0.0)
        self.last: HouseState | None = None

    @property
    def soc_pct(self) -> float:
        """State of charge, 0-100."""
        return 100.0 * self.stored_wh / self.capacity_wh

    def pv_w_from_ghi(self, ghi_w_m2: float) -> float:
        """AC power of the array for a measured irradiance (e.g. a TMY3 GHI column), W."""
        return self.cfg.pv_kw * max(0.0, ghi_w_m2) * PV_DERATE  # pv_kw is rated at 1000 W/m2

    def clear_sky_pv_w(self, t: float) -> float:
        """AC power of the PV array under a clear sky at time t."""
        elevation = solar_elevation_deg(self.cfg.latitude, self.cfg.longitude, t)
        return self.pv_w_from_ghi(clear_sky_ghi(elevation))

    def step(self, dt: float, *, extra_load_w: float = 0.0, pv_w: float | None = None,
             house_w: float | None = None) -> HouseState:
        """Advance dt seconds; extra_load_w is the miners, pv_w/house_w override the built-in curves."""
        if dt <= 0:
            raise ValueError("dt must be > 0")
        mid = self.t + dt / 2
        pv = max(0.0, self.clear_sky_pv_w(mid) if pv_w is None else pv_w)
        load = max(0.0, house_load_w(self.cfg.base_load_w, self.cfg.longitude, mid) if house_w is None else house_w)
        load += max(0.0, extra_load_w)
        hours = dt / 3600.0
        net = pv - load
        battery_w = curtailed = unmet = 0.0
        grid: float | None = 0.0 if self.cfg.grid_tied else None
        if net >= 0:
            room_wh = self.capacity_wh - self.stored_wh
            charge = min(net, self.cfg.max_charge_w, room_wh / self._eta / hours)
            self.stored_wh = min(self.capacity_wh, self.stored_wh + charge * self._eta * hours)
            battery_w = -charge
            rest = net - charge
            if self.cfg.grid_tied:
                grid = -rest
            else:
                curtailed = rest
            self.totals["charge_wh"] += charge * hours
            self.totals["loss_wh"] += charge * (1 - self._eta) * hours
        else:
            deficit = -net
            available_wh = max(0.0, self.stored_wh - self.capacity_wh * self.cfg.reserve_soc / 100.0)
            discharge = min(deficit, self.cfg.max_discharge_w, available_wh * self._eta / hours)
            self.stored_wh = max(0.0, self.stored_wh - discharge / self._eta * hours)
            battery_w = discharge
            rest = deficit - discharge
            if self.cfg.grid_tied:
                grid = rest
            else:
                unmet = rest
            self.totals["discharge_wh"] += discharge * hours
            self.totals["loss_wh"] += discharge * (1 / self._eta - 1) * hours
        self.t += dt
        used_pv = pv - curtailed
        self.totals["pv_wh"] += used_pv * hours
        self.totals["load_wh"] += load * hours
        self.totals["curtailed_wh"] += curtailed * hours
        self.totals["unmet_wh"] += unmet * hours
        if grid is not None:
            self.totals["import_wh"] += max(grid, 0.0) * hours
            self.totals["export_wh"] += max(-grid, 0.0) * hours
        self.last = HouseState(t=self.t, soc_pct=self.soc_pct, pv_w=used_pv, load_w=load, battery_w=battery_w,
                               grid_w=grid, curtailed_w=curtailed, unmet_w=unmet)
        return self.last


class SimulatedSource(BatterySource):
    """Runs a HouseModel on the wall clock (or any clock) for the demo; miners' power is fed in."""

    name = "simulated"

    def __init__(self, cfg: SimulatedConfig, *, max_age_sec: float, guard: PlausibilityGuard | None = None,
                 clock: Callable[[], float] = time.time, model: HouseModel | None = None) -> None:
        super().__init__(max_age_sec=max_age_sec, guard=guard, clock=clock)
        # Start a minute back so the first read integrates up to "now" rather than past it.
        self.model = model or HouseModel(cfg, start=clock() - MAX_STEP_SEC)
        self.extra_load_w = 0.0  # set by the demo to the fleet's measured power

    def set_extra_load(self, watts: float) -> None:
        """The miners' power, drawn from the house from now on."""
        self.extra_load_w = max(0.0, float(watts))

    def _fetch(self) -> BatteryReading:
        now = self.clock()
        if now - self.model.t > MAX_CATCH_UP_SEC:
            self.model.t = now - MAX_STEP_SEC  # jump over a long pause rather than replay it
        while self.model.t < now - 1e-6:
            self.model.step(min(MAX_STEP_SEC, now - self.model.t), extra_load_w=self.extra_load_w)
        state = self.model.last
        if state is None:  # a model handed in already at "now"
            state = self.model.step(MAX_STEP_SEC, extra_load_w=self.extra_load_w)
        return BatteryReading(soc_pct=round(state.soc_pct, 2), pv_w=round(state.pv_w, 1), load_w=round(state.load_w, 1),
                              battery_w=round(state.battery_w, 1),
                              grid_w=None if state.grid_w is None else round(state.grid_w, 1),
                              measured_at=state.t, source=self.name)
