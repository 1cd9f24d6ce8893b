"""services/power/safety.py: the one stale-data rule the controller and the EMS service both use."""

from __future__ import annotations

from services.power.decision import BatterySample
from services.power.safety import age_text, stale_battery

T0 = 1_800_000_000.0


def reading(measured_at: float, soc: float | None = 55.0) -> BatterySample:
    return BatterySample(soc_pct=soc, pv_w=1000.0, load_w=500.0, battery_w=0.0, grid_w=None, measured_at=measured_at)


def test_fresh_up_to_the_limit_and_stale_past_it():
    assert stale_battery(reading(T0 - 300), T0, 300) is None
    assert stale_battery(reading(T0 - 300.5), T0, 300) == "battery data 5 min old"
    assert stale_battery(reading(T0 - 720), T0, 300) == "battery data 12 min old"
    assert stale_battery(reading(T0 + 5), T0, 300) is None  # a device clock slightly ahead is not stale


def test_no_reading_or_no_soc_is_stale():
    assert stale_battery(None, T0, 300) == "no battery data"
    assert stale_battery(reading(T0, soc=None), T0, 300) == "no battery data"


def test_age_words():
    assert (age_text(45), age_text(119), age_text(120), age_text(3600)) == ("45 s", "119 s", "2 min", "60 min")
