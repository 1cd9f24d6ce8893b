"""Simulated house: sun position, energy balance, battery limits and efficiency, the clock-driven source."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from services.battery.config import SimulatedConfig
from services.battery.simulated import HouseModel, SimulatedSource, solar_elevation_deg

GREENSBORO = (36.07, -79.79)


def utc(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_sun_elevation_known_values():
    # Summer solstice, solar noon in Greensboro (~17:19 UTC): 90 - 36.07 + 23.44 = 77.4 deg.
    assert solar_elevation_deg(*GREENSBORO, utc(2023, 6, 21, 17, 19)) == pytest.approx(77.4, abs=0.5)
    # Winter solstice noon: 90 - 36.07 - 23.44 = 30.5 deg.
    assert solar_elevation_deg(*GREENSBORO, utc(2023, 12, 21, 17, 12)) == pytest.approx(30.5, abs=0.5)
    assert solar_elevation_deg(*GREENSBORO, utc(2023, 6, 21, 5, 0)) < -10  # 1 am local
    # Equinox at the equator and Greenwich, noon: nearly overhead.
    assert solar_elevation_deg(0, 0, utc(2023, 3, 20, 12, 7)) == pytest.approx(90, abs=1.0)


def run_day(cfg, start, extra=0.0, dt=60.0):
    house = HouseModel(cfg, start)
    states = [house.step(dt, extra_load_w=extra) for _ in range(int(86400 / dt))]
    return house, states


@pytest.mark.parametrize("grid_tied", [True, False])
def test_energy_balance_every_step_and_over_a_day(grid_tied):
    cfg = SimulatedConfig(grid_tied=grid_tied, initial_soc=50)
    house, states = run_day(cfg, utc(2023, 6, 21, 4, 0), extra=1500)
    for s in states:
        supply = s.pv_w + s.battery_w + (s.grid_w or 0.0) + s.unmet_w
        assert supply == pytest.approx(s.load_w, abs=1e-6)
        assert 0 <= s.soc_pct <= 100
        assert -cfg.max_charge_w - 1e-9 <= s.battery_w <= cfg.max_discharge_w + 1e-9
    tot = house.totals
    # Battery bookkeeping: what went in minus losses minus what came out = the change in storage.
    stored_change = house.stored_wh - cfg.battery_kwh * 1000 * 0.5
    assert tot["charge_wh"] - tot["discharge_wh"] - tot["loss_wh"] == pytest.approx(stored_change, abs=1e-3)
    assert tot["pv_wh"] + tot["discharge_wh"] - tot["charge_wh"] + tot["import_wh"] - tot["export_wh"] + tot["unmet_wh"] \
        == pytest.approx(tot["load_wh"], rel=1e-9)
    # A 10 kW array on a clear June day in North Carolina makes roughly 50-75 kWh.
    assert 50_000 < tot["pv_wh"] + tot["curtailed_wh"] < 75_000


def test_round_trip_efficiency_is_applied():
    cfg = SimulatedConfig(efficiency=0.81, initial_soc=0, battery_kwh=10)
    house = HouseModel(cfg, utc(2023, 6, 21, 4, 0))
    house.step(3600, pv_w=5000, house_w=0)  # 5 kWh in from AC
    assert house.stored_wh == pytest.approx(4500)  # sqrt(0.81) = 0.9 on the way in
    s = house.step(3600, pv_w=0, house_w=2000)  # 2 kWh out to AC
    assert s.battery_w == 2000
    assert house.stored_wh == pytest.approx(4500 - 2000 / 0.9)


def test_full_battery_curtails_off_grid_and_exports_grid_tied():
    for grid_tied in (True, False):
        cfg = SimulatedConfig(initial_soc=100, grid_tied=grid_tied)
        s = HouseModel(cfg, 0).step(60, pv_w=6000, house_w=1000)
        assert s.battery_w == 0 and s.soc_pct == 100
        assert (s.grid_w, s.curtailed_w) == ((-5000, 0) if grid_tied else (None, 5000))


def test_empty_battery_imports_or_leaves_load_unmet_and_respects_max_discharge():
    cfg = SimulatedConfig(initial_soc=0, grid_tied=False)
    s = HouseModel(cfg, 0).step(60, pv_w=0, house_w=800)
    assert s.battery_w == 0 and s.unmet_w == 800
    cfg = SimulatedConfig(initial_soc=80, max_discharge_w=3000)
    s = HouseModel(cfg, 0).step(60, pv_w=0, house_w=5000)
    assert s.battery_w == 3000 and s.grid_w == 2000


def test_source_follows_its_clock_and_miner_load():
    class Clock:
        t = utc(2023, 6, 21, 17, 0)

        def __call__(self):
            return self.t

    clock = Clock()
    cfg = SimulatedConfig(initial_soc=50)
    src = SimulatedSource(cfg, max_age_sec=120, clock=clock)
    first = src.read()
    assert first.source == "simulated" and first.measured_at == clock.t and first.pv_w > 5000
    src.set_extra_load(3600)
    clock.t += 600
    second = src.read()
    assert second.load_w > first.load_w + 3000
    assert second.measured_at == clock.t
    assert src.status().connected and src.status().rejected_count == 0
    # A whole simulated day through the source passes the plausibility guard at every poll.
    for _ in range(24 * 6):
        clock.t += 600
        src.read()
    assert src.status().rejected_count == 0


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SimulatedConfig().pv_kw = 1  # type: ignore[misc]


def test_pv_from_measured_irradiance_drives_the_step():
    house = HouseModel(SimulatedConfig(pv_kw=8, initial_soc=50), 0)
    assert house.pv_w_from_ghi(1000) == pytest.approx(6400) and house.pv_w_from_ghi(-3) == 0
    s = house.step(3600, pv_w=house.pv_w_from_ghi(500), house_w=1000)  # the bench's way: its own PV and load
    assert s.pv_w == pytest.approx(3200) and s.battery_w == pytest.approx(-2200) and s.grid_w == 0
