"""The surplus policy: evcc-style enable/disable timers, hysteresis, priority/buffer SOC, residual, full-battery probe."""

import pytest

from services.config import AutocontrolConfig, SurplusConfig
from services.power import BatterySample, DictStore, PowerController

T0 = 1_780_315_200.0  # 2026-06-01 12:00 UTC (day, fixed sun times)
RATED = 4000.0  # fleet rated watts: 10 % = 400 W


def controller(min_interval_sec=0, **surplus) -> PowerController:
    # The tests below were written for 10 % steps, 5 % hysteresis and no pacing; the defaults differ.
    surplus = {"step_percent": 10, "hysteresis_percent": 5, "change_interval_sec": 0, **surplus}
    cfg = AutocontrolConfig(enabled=True, policy="surplus", min_interval_sec=min_interval_sec,
                            surplus=SurplusConfig(**surplus))
    return PowerController(cfg, DictStore(), clock=lambda: T0)


def tick(ctl, t, soc=70, grid=0.0, battery=0.0, fleet_w=None, pv=None, load=None):
    r = BatterySample(soc, pv_w=pv, load_w=load, battery_w=battery, grid_w=grid, measured_at=T0 + t)
    return ctl.tick(r, T0 + t, rated_w=RATED, fleet_w=fleet_w)


def run(ctl, steps):
    """steps: (t, kwargs for tick, expected target)."""
    out = []
    for t, kw, target in steps:
        d = tick(ctl, t, **kw)
        assert d.target_percent == target, (t, kw, d.reason)
        out.append(d)
    return out


EXPORT_1000 = dict(grid=-1000, fleet_w=0)  # 1 kW export, miners off: available 1000 - 100 residual = 900 W


def test_enable_waits_for_the_delay_then_starts_at_the_surplus_level():
    ds = run(controller(), [(0, EXPORT_1000, 0), (30, EXPORT_1000, 0), (59, EXPORT_1000, 0), (60, EXPORT_1000, 20)])
    assert ds[1].timers[0].action == "start" and ds[1].timers[0].text == "starting at 20% in 0:30"
    assert ds[3].changed and "start at 20%" in ds[3].reason


def test_enable_timer_resets_when_the_condition_breaks():
    run(controller(), [(0, EXPORT_1000, 0), (30, dict(grid=0, fleet_w=0), 0), (60, EXPORT_1000, 0),
                       (119, EXPORT_1000, 0), (120, EXPORT_1000, 20)])


@pytest.mark.parametrize("export,threshold,starts", [
    (500, 0, True),     # 500 - 100 residual = 400 W = the 10 % minimum
    (499, 0, False),
    (800, 300, True),   # enable threshold: 300 W beyond the minimum
    (799, 300, False),
])
def test_enable_threshold(export, threshold, starts):
    ctl = controller(enable_threshold_w=threshold)
    tick(ctl, 0, grid=-export, fleet_w=0)
    d = tick(ctl, 60, grid=-export, fleet_w=0)
    assert (d.target_percent > 0) is starts


def test_follows_surplus_above_the_minimum_in_steps_with_hysteresis():
    ctl = controller()
    run(ctl, [(0, EXPORT_1000, 0), (60, EXPORT_1000, 20)])
    run(ctl, [
        (90, dict(grid=-1300, fleet_w=800), 50),   # 800 + 1300 - 100 = 2000 W = 50 %
        (120, dict(grid=+200, fleet_w=2000), 40),  # 2000 - 300 = 1700 W = 42.5 %: below 50 - 5
        (150, dict(grid=+80, fleet_w=1600), 40),   # 1420 W = 35.5 %: within hysteresis of 40
        (180, dict(grid=+300, fleet_w=1600), 30),  # 1200 W = 30 %
        (210, dict(grid=-9000, fleet_w=1200), 100),  # capped at 100 %
    ])


def test_disable_keeps_the_minimum_until_the_delay_then_stops():
    ctl = controller()
    run(ctl, [(0, EXPORT_1000, 0), (60, EXPORT_1000, 20)])
    short = dict(soc=60, grid=+500, fleet_w=800)  # 800 - 600 = 200 W < 400 W minimum: shortfall 200 W
    ds = run(ctl, [(90, short, 10), (180, short, 10), (269, short, 10), (270, short, 0)])
    assert ds[1].timers[0].action == "stop" and ds[1].timers[0].text == "stopping in 1:30"
    assert "shortfall" in ds[3].reason


def test_disable_timer_resets_when_surplus_returns():
    ctl = controller()
    run(ctl, [(0, EXPORT_1000, 0), (60, EXPORT_1000, 20)])
    short = dict(soc=60, grid=+500, fleet_w=400)
    run(ctl, [(90, short, 10), (200, dict(soc=60, grid=-100, fleet_w=400), 10), (300, short, 10),
              (479, short, 10), (480, short, 0)])


def test_disable_threshold_tolerates_a_small_shortfall():
    ctl = controller(disable_threshold_w=250)
    run(ctl, [(0, EXPORT_1000, 0), (60, EXPORT_1000, 20)])
    ok = dict(soc=60, grid=+100, fleet_w=400)  # 400 - 200 = 200 W: shortfall 200 W <= 250 W
    run(ctl, [(90, ok, 10), (1000, ok, 10)])
    run(ctl, [(1030, dict(ok, grid=+200), 10), (1209, dict(ok, grid=+200), 10), (1210, dict(ok, grid=+200), 0)])


def test_above_buffer_soc_the_battery_carries_the_minimum():
    ctl = controller()
    run(ctl, [(0, EXPORT_1000, 0), (60, EXPORT_1000, 20)])
    night = dict(soc=95, grid=0, battery=+400, fleet_w=400)  # no PV; battery discharging for the miners
    ds = run(ctl, [(90, night, 10), (1000, night, 10)])
    assert "buffer" in ds[1].reason and not ds[1].timers
    run(ctl, [(1100, dict(night, soc=90), 10), (1280, dict(night, soc=89), 0)])


@pytest.mark.parametrize("soc,starts", [(40, False), (50, True), (70, True)])
def test_below_priority_soc_the_battery_charges_first(soc, starts):
    ctl = controller()
    charging = dict(soc=soc, grid=0, battery=-1500, fleet_w=0)  # zero export: all PV goes to the battery
    d0 = tick(ctl, 0, **charging)
    d = tick(ctl, 60, **charging)
    assert (d.target_percent == 30) is starts  # 1500 - 100 = 1400 W -> 30 %
    if not starts:
        assert "charges first" in d0.reason


def test_residual_margin_is_kept():
    ctl = controller(residual_w=600)
    tick(ctl, 0, grid=-1000, fleet_w=0)
    assert tick(ctl, 60, grid=-1000, fleet_w=0).target_percent == 10  # 400 W left


def test_grid_derived_from_load_and_pv_when_not_metered():
    ctl = controller()
    kw = dict(grid=None, pv=3000, load=1000, battery=0, fleet_w=0)  # 2 kW unmetered export
    tick(ctl, 0, **kw)
    assert tick(ctl, 60, **kw).target_percent == 40  # 2000 - 100 = 1900 W -> 47.5 -> 40 %
    ctl2 = controller()
    d = tick(ctl2, 0, grid=None, pv=None, load=None)
    assert d.target_percent == 0 and "hold" in d.reason


def test_battery_full_probe_steps_up_while_the_battery_stays_idle():
    ctl = controller(probe_interval_sec=300)
    full = dict(soc=99, grid=0, battery=0)  # curtailed: no export, battery idle
    ds = run(ctl, [(0, dict(full, fleet_w=0), 0), (60, dict(full, fleet_w=0), 10)])  # starts on the probe
    assert "battery full" in ds[1].reason
    d = tick(ctl, 90, **dict(full, fleet_w=400))  # too soon after the start: hold the minimum
    assert d.target_percent == 10 and "carries the minimum" in d.reason
    d = tick(ctl, 360, **dict(full, fleet_w=400))
    assert d.target_percent == 20 and "probing 20%" in d.reason
    run(ctl, [
        (500, dict(full, fleet_w=800), 20),    # within probe_interval: hold
        (660, dict(full, fleet_w=800), 30),    # next probe
        (690, dict(soc=99, grid=0, battery=+900, fleet_w=1200), 10),  # too much: the battery discharges
    ])


def test_probe_only_when_full_and_idle():
    ctl = controller()
    run(ctl, [(0, EXPORT_1000, 0), (60, EXPORT_1000, 20)])
    run(ctl, [(1000, dict(soc=97, grid=0, battery=0, fleet_w=800), 20),   # below probe_soc: no probe
              (2000, dict(soc=99, grid=0, battery=-400, fleet_w=800), 20)])  # charging 400 W: 1100 W -> 27.5 % held


def test_emergency_beats_surplus_and_latches_until_priority_soc():
    ctl = controller(min_interval_sec=120)
    run(ctl, [(0, EXPORT_1000, 0)])
    ctl.state.applied_percent = 50.0
    d = tick(ctl, 10, soc=30, grid=-3000, fleet_w=2000)
    assert d.target_percent == 0 and d.emergency and d.source == "safety"
    run(ctl, [(200, dict(soc=45, grid=-3000, fleet_w=0), 0)])
    d = tick(ctl, 400, soc=50, grid=-3000, fleet_w=0)
    assert not d.emergency and d.target_percent == 0 and d.timers[0].action == "start"


def test_surplus_changes_respect_the_interval():
    ctl = controller(min_interval_sec=120, enable_delay_sec=0)
    d = tick(ctl, 0, grid=-1000, fleet_w=0)  # first decision
    assert d.target_percent == 20
    d = tick(ctl, 60, grid=-3000, fleet_w=800)  # 800 + 3000 - 100 = 3700 W -> 90 %
    assert d.target_percent == 20 and d.timers[0].text == "raising to 90% in 1:00"
    assert tick(ctl, 120, grid=-3000, fleet_w=800).target_percent == 90


def test_no_rated_power_means_off():
    ctl = controller()
    d = ctl.tick(BatterySample(80, grid_w=-5000, battery_w=0, measured_at=T0), T0, rated_w=0)
    assert d.target_percent == 0 and "rated 0 W" in d.reason


def test_running_level_changes_are_paced_by_change_interval():
    ctl = controller(change_interval_sec=1800)
    run(ctl, [(0, EXPORT_1000, 0), (60, EXPORT_1000, 20)])  # the start is not paced
    d = tick(ctl, 120, grid=-3000, fleet_w=800)  # 3700 W -> 90 %, but the last change was 60 s ago
    assert d.target_percent == 20 and d.timers[0].action == "raise" and d.timers[0].text == "raising to 90% in 29:00"
    assert "hold 20%" in d.reason
    assert tick(ctl, 1860, grid=-3000, fleet_w=800).target_percent == 90
    # Lowering waits too while the battery is above priority_soc (it may carry the difference) ...
    d = tick(ctl, 1900, soc=70, grid=+1000, battery=0, fleet_w=3600)
    assert d.target_percent == 90 and d.timers[0].text == "lowering to 60% in 29:20"
    # ... but not when a battery below priority_soc is discharging into the miners.
    d = tick(ctl, 1960, soc=45, grid=0, battery=+1000, fleet_w=3600)
    assert d.target_percent == 60 and d.changed


def test_no_probe_while_the_grid_exports():
    """An exporting grid-tied house shows its surplus on the meter: probing above it only bounces back."""
    ctl = controller()
    run(ctl, [(0, EXPORT_1000, 0), (60, EXPORT_1000, 20)])
    d = tick(ctl, 1000, soc=99, grid=-300, battery=0, fleet_w=800)  # 800 + 300 - 100 = 1000 W = 25 %
    assert d.target_percent == 20 and "probing" not in d.reason


# --- the priority ramp, giving way and the battery's carry (surplus_step with a learned solar day) ---------
from services.power.state import ControllerState  # noqa: E402
from services.power.surplus import solar_day, surplus_step  # noqa: E402

DAY0 = T0 - 12 * 3600  # 2026-06-01 00:00 UTC
H = 3600.0


def learned(applied=None, last_change_at=None) -> ControllerState:
    """A controller state whose solar day runs 06:00-18:00 UTC (as if seen yesterday)."""
    st = ControllerState(applied_percent=applied, last_change_at=last_change_at)
    day = solar_day(st)
    day.rise_tod, day.set_tod = 6 * H, 18 * H
    return st


def step(st, hour, soc, battery=0.0, grid=0.0, pv=2000.0, fleet_w=0.0, **surplus):
    """One surplus_step at DAY0 + hour: no delays, no pacing, 20 % steps, the ramp from 20 %, a 1 kW carry."""
    cfg = SurplusConfig(**{"enable_delay_sec": 0, "change_interval_sec": 0, "step_percent": 20,
                           "hysteresis_percent": 10, "sunrise_priority_soc": 20, "carry_w": 1000, **surplus})
    now = DAY0 + hour * H
    r = BatterySample(soc, pv_w=pv, load_w=None, battery_w=battery, grid_w=grid, measured_at=now)
    return surplus_step(r, now, st, cfg, rated_w=RATED, fleet_w=fleet_w)


def test_ramp_lets_morning_pv_mine_below_the_fixed_priority():
    # 09:00 is a quarter into the 12 h PV day: priority 20 + 80 x 0.25 / 0.8 = 45 %.
    charging = dict(soc=47, battery=-2000)  # all PV into the battery, nothing exported
    r = step(learned(), 9, **charging)
    assert r.want_percent == 40  # 2000 - 100 = 1900 W = 47.5 % -> 40 %
    r = step(learned(), 9, **charging, priority_ramp=False)  # the fixed priority_soc 50 %
    assert r.want_percent == 0 and "charges first" in r.reason


def test_ramp_gives_afternoon_pv_to_a_lagging_battery():
    # 15:00 is 75 % into the day: priority 20 + 80 x 0.75 / 0.8 = 95 %.
    charging = dict(soc=80, battery=-2000)
    r = step(learned(), 15, **charging)
    assert r.want_percent == 0 and "priority at 75% of the PV day 95%" in r.reason
    assert step(learned(), 15, **charging, priority_ramp=False).want_percent == 40


def test_fixed_priority_until_a_day_is_seen():
    r = step(ControllerState(), 9, soc=47, battery=-2000)
    assert r.want_percent == 0 and "priority 50%" in r.reason


def test_running_miners_give_way_far_below_the_priority_soc():
    # 15:00, priority 95 %: at 80 % the miners' own 3.2 kW would keep them at 80 % (hysteresis) ...
    running = dict(battery=-300, fleet_w=3200)
    assert step(learned(applied=80), 15, soc=80, **running, give_way_soc=100).want_percent == 80
    # ... but more than give_way_soc (10) below it they give way one step, to 60 %.
    r = step(learned(applied=80), 15, soc=80, **running)
    assert r.want_percent == 60 and "miners give way" in r.reason
    # Within give_way_soc of the priority they hold their level.
    assert step(learned(applied=80), 15, soc=88, **running).want_percent == 80
    # An exporting battery takes all it can already: no reason to give way.
    assert step(learned(applied=80), 15, soc=80, battery=-7000, grid=-1000, fleet_w=3200).want_percent == 100


def test_giving_way_is_paced():
    st = learned(applied=80, last_change_at=DAY0 + 15 * H - 600)
    r = step(st, 15, soc=80, battery=-300, fleet_w=3200, change_interval_sec=1800)
    assert r.want_percent == 80 and r.timers[0].text == "lowering to 60% in 20:00"


def test_battery_carries_a_running_level_through_a_shortfall():
    # 10:00, priority 53.3 %; SOC 70 is more than give_way_soc above it: the battery may carry 1 kW.
    cloud = dict(soc=70, battery=+800, fleet_w=3200)  # running at 80 %, the battery already gives 800 W
    r = step(learned(applied=80), 10, **cloud)  # 3200 - 800 - 100 = 2300 W + 1000 W carry = 82.5 %
    assert r.want_percent == 80 and "battery carries up to 1.00 kW" in r.reason
    assert step(learned(applied=80), 10, **cloud, carry_w=0).want_percent == 40  # 57.5 % alone
    assert step(learned(applied=80), 10, **cloud, carry_min_soc=75).want_percent == 40  # too close to the floor


def test_carry_leads_a_rising_surplus_in_proportion_to_the_soc_margin():
    rising = dict(battery=-500, fleet_w=1600, hysteresis_percent=0)  # at 40 %: 1600 + 500 - 100 = 2000 W = 50 %
    assert step(learned(applied=40), 10, soc=70, **rising).want_percent == 60  # + 1000 W = 75 %
    assert step(learned(applied=40), 10, soc=58.3, **rising).want_percent == 60  # half way: + 500 W = 62.5 %
    assert step(learned(applied=40), 10, soc=54, **rising).want_percent == 40  # + 70 W: 51.75 %


def test_no_carry_at_night_nor_to_start():
    # Dark (fraction 1): above buffer_soc only the minimum is carried, as before.
    night = dict(soc=95, battery=+3300, pv=0.0, fleet_w=3200)
    assert step(learned(applied=80), 22, **night).want_percent == 10
    # A stopped fleet does not start on the battery, however full it is.
    assert step(learned(), 10, soc=95, battery=0.0).want_percent == 0


def test_the_solar_day_is_learned_from_the_readings():
    ctl = controller(step_percent=20, hysteresis_percent=10)
    # A day of readings every 10 minutes: PV from 06:00 to 18:00 UTC, nothing exported, miners off.
    for minute in range(0, 24 * 60 + 9 * 60 + 1, 10):
        t = -12 * H + minute * 60
        hour = (minute / 60) % 24
        tick(ctl, t, soc=70, battery=0, grid=0, pv=1500 if 6 <= hour < 18 else 0, fleet_w=0)
    d = tick(ctl, 21 * H, soc=30.5, battery=-1500, grid=0, pv=1500, fleet_w=0)  # 09:00 the next day
    assert "priority at 25% of the PV day" in d.reason  # the sunrise was seen at 06:00, the sunset at 17:50


def test_solar_days_belong_to_their_state():
    a, b = ControllerState(), ControllerState()
    assert solar_day(a) is solar_day(a) and solar_day(a) is not solar_day(b)


@pytest.mark.parametrize("key,settings", [
    ("sunrise_priority_soc", {"sunrise_priority_soc": 101}),
    ("evening_priority_soc", {"sunrise_priority_soc": 30, "evening_priority_soc": 20}),
    ("evening_day_fraction", {"evening_day_fraction": 0}), ("evening_day_fraction", {"evening_day_fraction": 1.5}),
    ("give_way_soc", {"give_way_soc": -1}), ("carry_w", {"carry_w": -1}), ("carry_min_soc", {"carry_min_soc": 101}),
])
def test_new_settings_are_validated(key, settings):
    with pytest.raises(ValueError, match=f"^{key}:"):
        SurplusConfig(**settings).validate()
