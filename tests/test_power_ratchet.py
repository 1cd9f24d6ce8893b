"""The ratchet policy exactly as DESIGN section 5 states it, table by table."""

import dataclasses
import datetime as dt

import pytest

from services.config import AutocontrolConfig
from services.power import BatterySample, DictStore, PowerController
from services.power.ratchet import ratchet_level

UTC = dt.timezone.utc
NOON = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()


def at(hour: int, minute: int = 0, day: dt.date = dt.date(2026, 6, 1)) -> float:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp()


def controller(**cfg) -> PowerController:
    base = dict(enabled=True, min_interval_sec=0)
    base.update(cfg)
    return PowerController(AutocontrolConfig(**base), DictStore(), clock=lambda: NOON, tz=UTC)


def run(ctl: PowerController, steps):
    """steps: (time, soc, expected target, expected cap); returns the decisions."""
    out = []
    for t, soc, target, cap in steps:
        d = ctl.tick(BatterySample(soc, measured_at=t), t)
        assert (d.target_percent, d.cap_percent) == (target, cap), (t, soc, d.reason)
        out.append(d)
    return out


@pytest.mark.parametrize("soc,level", [(55, 60), (83, 90), (60, 60), (54, 60), (31, 40), (30.5, 40),
                                       (99.5, 100), (100, 100), (10, 10), (0, 0), (60.0000001, 60)])
def test_level_is_soc_rounded_up_to_next_10(soc, level):
    assert ratchet_level(soc) == level


@pytest.mark.parametrize("soc,target", [(55, 60), (83, 90), (60, 60), (31, 40), (100, 100)])
def test_first_decision_is_the_ratchet_level(soc, target):
    d = controller().tick(BatterySample(soc, measured_at=NOON), NOON)
    assert d.target_percent == target and d.source == "policy" and not d.failsafe


def test_reason_text():
    d = controller().tick(BatterySample(54, measured_at=NOON), NOON)
    assert d.reason == "SOC 54% -> cap 60%"


LATCH = [  # (time, soc, target, cap): down freely, never up until full, reset at 100 %
    (NOON + 0, 54, 60, 60),
    (NOON + 60, 58, 60, 60),
    (NOON + 120, 75, 60, 60),   # charged, but latched
    (NOON + 180, 99, 60, 60),   # still latched just below full
    (NOON + 240, 49, 50, 50),   # down again
    (NOON + 300, 52, 50, 50),
    (NOON + 360, 100, 100, 100),  # full: full power, latch reset
    (NOON + 420, 95, 100, 100),
    (NOON + 480, 83, 90, 90),
    (NOON + 540, 88, 90, 90),
]


def test_latch_holds_until_full_then_resets():
    ds = run(controller(), LATCH)
    assert "latched at 60%" in ds[2].reason
    assert "latch reset" in ds[6].reason


def test_full_soc_threshold_is_configurable():
    run(controller(full_soc=95), [(NOON, 54, 60, 60), (NOON + 60, 95, 100, 100), (NOON + 120, 92, 100, 100)])


EMERGENCY = [  # 120 s interval, ticks 10 s apart: the emergency does not wait
    (NOON + 0, 54, 60, 60),
    (NOON + 10, 30, 0, 0),      # at the threshold: off at once
    (NOON + 20, 31, 0, 0),      # latched off
    (NOON + 400, 65, 0, 0),     # still off by day until full
    (NOON + 600, 100, 100, 100),
]


def test_emergency_at_or_below_threshold_bypasses_interval():
    ds = run(controller(min_interval_sec=120), EMERGENCY)
    assert ds[1].emergency and ds[1].source == "safety" and ds[1].changed
    assert "emergency" in ds[1].reason and ds[2].emergency and ds[3].emergency
    assert not ds[4].emergency


@pytest.mark.parametrize("soc,off", [(29.9, True), (30, True), (30.1, False), (12, True)])
def test_emergency_threshold_edge(soc, off):
    ctl = controller(min_interval_sec=120)
    ctl.tick(BatterySample(80, measured_at=NOON), NOON)
    d = ctl.tick(BatterySample(soc, measured_at=NOON + 5), NOON + 5)
    assert (d.target_percent == 0) is off
    assert d.emergency is off


INTERVAL = [  # min_interval 120 s: (time, soc, target, cap)
    (NOON + 0, 54, 60, 60),
    (NOON + 30, 45, 60, 50),    # wants 50, held: the cap already latched
    (NOON + 119, 45, 60, 50),
    (NOON + 120, 45, 50, 50),   # interval passed
    (NOON + 130, 35, 50, 40),
    (NOON + 239, 35, 50, 40),
    (NOON + 240, 35, 40, 40),
]


def test_one_change_per_interval_with_a_visible_timer():
    ds = run(controller(min_interval_sec=120), INTERVAL)
    held = ds[1]
    assert not held.changed and held.timers[0].action == "lower"
    assert held.timers[0].text == "lowering to 50% in 1:30" and held.next_change_at == NOON + 120
    assert "lowering to 50% in 1:30" in held.reason
    assert ds[3].changed and ds[3].next_change_at == NOON + 240


SUNSET = [  # fixed sunset 19:00, sunrise 07:00 (UTC here); latched at 40 % by an afternoon dip
    (at(16), 35, 40, 40),
    (at(18, 59), 80, 40, 40),   # day: latched
    (at(19, 0), 80, 80, 80),    # after sunset, SOC 80 > 60: ratchet level again
    (at(21), 66, 70, 70),
    (at(23), 55, 60, 60),       # follows the battery down
    (at(23, 30), 50, 50, 50),
]

SUNSET_AT_OR_BELOW_MIN = [  # at night, SOC <= 60: the latch stays
    (at(16), 35, 40, 40),
    (at(20), 60, 40, 40),
    (at(20, 30), 61, 70, 70),
]


@pytest.mark.parametrize("table", [SUNSET, SUNSET_AT_OR_BELOW_MIN])
def test_sunset_rule(table):
    ds = run(controller(), table)
    assert any(d.night for d in ds)


def test_sunset_rule_lifts_an_emergency_latch_and_not_by_day():
    ctl = controller()
    run(ctl, [(at(12), 25, 0, 0), (at(18), 75, 0, 0), (at(6, 59, dt.date(2026, 6, 2)), 75, 80, 80)])
    assert not ctl.last.emergency


def test_morning_ends_the_night():
    ctl = controller()
    run(ctl, [(at(16), 35, 40, 40), (at(7, 0, dt.date(2026, 6, 2)), 80, 40, 40)])
    assert ctl.last.night is False


def test_sunset_from_latitude_longitude_replaces_fixed_time():
    # Greensboro NC, 15 Jan: sunset about 17:28 EST; the fixed 19:00 is ignored.
    est = dt.timezone(dt.timedelta(hours=-5))
    cfg = AutocontrolConfig(enabled=True, min_interval_sec=0, latitude=36.07, longitude=-79.79)
    ctl = PowerController(cfg, DictStore(), tz=est)
    t = lambda h, m=0: dt.datetime(2026, 1, 15, h, m, tzinfo=est).timestamp()  # noqa: E731
    ctl.tick(BatterySample(35, measured_at=t(12)), t(12))
    d = ctl.tick(BatterySample(80, measured_at=t(17, 15)), t(17, 15))
    assert (d.night, d.target_percent) == (False, 40)
    d = ctl.tick(BatterySample(80, measured_at=t(17, 45)), t(17, 45))
    assert (d.night, d.target_percent) == (True, 80) and "after sunset 17:2" in d.reason


@pytest.mark.parametrize("day,night,target", [
    (dt.date(2026, 6, 21), False, 40),   # polar day: never night, the latch holds until full
    (dt.date(2026, 12, 21), True, 80),   # polar night: night all day, the sunset rule applies
])
def test_polar_day_and_night(day, night, target):
    cfg = AutocontrolConfig(enabled=True, min_interval_sec=0, latitude=78.22, longitude=15.65)  # Svalbard
    ctl = PowerController(cfg, DictStore(), tz=UTC)
    ctl.tick(BatterySample(35, measured_at=at(1, 0, day)), at(1, 0, day))
    d = ctl.tick(BatterySample(80, measured_at=at(12, 0, day)), at(12, 0, day))
    assert (d.night, d.target_percent) == (night, target)
    assert ("polar night" in d.reason) is night


STALE_MODES = [  # failsafe, (target, lowest) just stale, (target, lowest) after failsafe_lowest_sec
    ("lowest_then_off", (10, True), (0, False)),
    ("off", (0, False), (0, False)),
    ("hold", (60, False), (60, False)),
]


@pytest.mark.parametrize("mode,first,later", STALE_MODES)
def test_stale_data_failsafe(mode, first, later):
    ctl = controller(min_interval_sec=120, failsafe=mode)
    ctl.tick(BatterySample(54, measured_at=NOON), NOON)
    d = ctl.tick(BatterySample(54, measured_at=NOON), NOON + 660)  # 11 min old > 600 s
    assert (d.target_percent, d.lowest) == first and d.failsafe and d.source == "safety"
    assert "battery data 11 min old -> fail-safe" in d.reason and d.alert
    assert d.battery_age_sec == 660
    d = ctl.tick(BatterySample(54, measured_at=NOON), NOON + 660 + 300)
    assert (d.target_percent, d.lowest) == later and d.failsafe


def test_failsafe_timer_and_recovery():
    ctl = controller(min_interval_sec=120)
    ctl.tick(BatterySample(54, measured_at=NOON), NOON)
    d = ctl.tick(None, NOON + 60)  # no reading at all
    assert d.failsafe and d.lowest and d.target_percent == 10 and "no battery data" in d.reason
    assert d.timers[0].action == "failsafe_off" and d.timers[0].text == "off in 5:00"
    d = ctl.tick(BatterySample(None, measured_at=NOON + 120), NOON + 120)  # reading without SOC
    assert d.failsafe
    d = ctl.tick(BatterySample(54, measured_at=NOON + 130), NOON + 130)  # fresh again
    assert not d.failsafe and d.alert is None and d.target_percent == 10  # interval still applies
    d = ctl.tick(BatterySample(54, measured_at=NOON + 180), NOON + 180)
    assert d.target_percent == 60


def test_stale_threshold_is_configurable_and_exact():
    ctl = controller(stale_after_sec=60)
    assert not ctl.tick(BatterySample(54, measured_at=NOON), NOON + 60).failsafe
    assert ctl.tick(BatterySample(54, measured_at=NOON), NOON + 61).failsafe


def test_overheating_is_safety_and_immediate():
    ctl = controller(min_interval_sec=120)
    ctl.tick(BatterySample(80, measured_at=NOON), NOON)
    d = ctl.tick(BatterySample(80, measured_at=NOON + 5), NOON + 5, overheating=True)
    assert (d.target_percent, d.source, d.reason) == (0, "safety", "miners overheating -> off")


def test_disabled_controller_still_decides_but_says_so():
    ctl = PowerController(AutocontrolConfig(), DictStore(), tz=UTC)  # enabled false by default
    d = ctl.tick(BatterySample(54, measured_at=NOON), NOON)
    assert d.enabled is False and d.target_percent == 60


def test_target_watts_from_rated_watts():
    d = controller().tick(BatterySample(54, measured_at=NOON), NOON, rated_w=4000)
    assert d.target_w == 2400


def test_decision_is_json_able():
    import json
    ctl = controller(min_interval_sec=120)
    ctl.tick(BatterySample(54, measured_at=NOON), NOON)
    ctl.tick(BatterySample(45, measured_at=NOON), NOON + 30)
    body = json.loads(json.dumps(ctl.status()))
    for key in ("enabled", "policy", "target_percent", "cap_percent", "reason", "battery_age_sec", "failsafe"):
        assert key in body
    assert body["timers"][0]["text"] == "lowering to 50% in 1:30"
    assert dataclasses.asdict(ctl.last)["cap_percent"] == 50


def test_a_battery_source_reading_drives_the_controller():
    from services.battery.base import BatteryReading
    r = BatteryReading(soc_pct=83, pv_w=3000, load_w=900, battery_w=-1500, grid_w=None, measured_at=NOON - 30,
                       source="simulated")
    d = controller().tick(r, NOON)
    assert (d.target_percent, d.battery_age_sec) == (90, 30)


def test_a_falling_battery_stops_before_the_floor_not_after():
    """Judged on the SOC one tick + the stop delay ahead: 30.4 % falling 0.5 %/min is stopped now."""
    from services.power import DictStore, PowerController
    from services.power.decision import BatterySample
    from services.config import AutocontrolConfig

    cfg = AutocontrolConfig(enabled=True, tick_sec=30)
    ctl = PowerController(cfg, DictStore(), clock=lambda: 0.0)
    t0 = 1_780_000_000.0

    def at(soc, t):
        return ctl.tick(BatterySample(soc_pct=soc, pv_w=0.0, load_w=500.0, battery_w=3000.0, grid_w=None,
                                      measured_at=t), t)

    assert at(31.4, t0).target_percent > 0
    falling = at(30.9, t0 + 60)  # 0.5 %/min: 30.9 - 0.5 * 1.5 min = 30.15 > 30: keep mining
    assert falling.target_percent > 0 and not falling.emergency
    stop = at(30.4, t0 + 120)  # 30.4 - 0.75 = 29.65 <= 30: off now, before the floor
    assert stop.emergency and stop.target_percent == 0 and "falling" in stop.reason


def test_a_steady_battery_near_the_floor_keeps_mining():
    from services.power import DictStore, PowerController
    from services.power.decision import BatterySample
    from services.config import AutocontrolConfig

    ctl = PowerController(AutocontrolConfig(enabled=True, tick_sec=30), DictStore(), clock=lambda: 0.0)
    t0 = 1_780_000_000.0
    for i in range(3):
        d = ctl.tick(BatterySample(soc_pct=30.4, pv_w=0.0, load_w=500.0, battery_w=0.0, grid_w=None,
                                   measured_at=t0 + 60 * i), t0 + 60 * i)
    assert not d.emergency and d.target_percent == 40  # the ratchet level of 30.4 %
