"""SolarDay: sunrise and sunset learned from PV readings, and the share of the PV day passed."""

import pytest

from services.power.solar_day import DEFAULT_DAY_SEC, SolarDay

DAY0 = 1_780_272_000.0  # 2026-06-01 00:00 UTC
H = 3600.0


def feed(day: SolarDay, start_h: float, end_h: float, pv: float, every_min: float = 5) -> None:
    """Readings of ``pv`` watts from start_h to end_h (hours after DAY0), every few minutes."""
    t = DAY0 + start_h * H
    while t < DAY0 + end_h * H - 1e-6:
        day.observe(t, pv)
        t += every_min * 60


def a_day(rise_h: float = 6, set_h: float = 18) -> SolarDay:
    """A SolarDay that has seen one night, one day and the next evening's darkness."""
    day = SolarDay()
    feed(day, 0, rise_h, 0)
    feed(day, rise_h, set_h, 1500)
    feed(day, set_h, set_h + 1, 0)
    return day


def test_nothing_seen_means_no_fraction():
    day = SolarDay()
    assert day.fraction(DAY0 + 9 * H, True) is None
    feed(day, 0, 5, 0)  # darkness alone says nothing about when the day starts
    assert day.fraction(DAY0 + 5 * H, False) is None


def test_sunrise_after_a_seen_night_then_a_default_day_until_the_sunset():
    day = SolarDay()
    feed(day, 0, 6, 0)
    day.observe(DAY0 + 6 * H, 800)
    assert day.rise_tod == 6 * H and day.set_tod is None
    # Before a sunset is seen the day counts as DEFAULT_DAY_SEC long.
    assert day.fraction(DAY0 + 9 * H, True) == pytest.approx(3 * H / DEFAULT_DAY_SEC)


def test_sunset_is_the_last_light_before_half_an_hour_of_darkness():
    day = a_day(6, 18)
    assert day.set_tod == pytest.approx(18 * H - 300)  # the last light reading, 17:55
    assert day.length_sec() == pytest.approx(12 * H - 300)
    next_day = DAY0 + 24 * H
    assert day.fraction(next_day + 6 * H, True) == pytest.approx(0.0)
    assert day.fraction(next_day + 12 * H - 150, True) == pytest.approx(0.5)
    assert day.fraction(next_day + 20 * H, False) == 1.0  # dark: the day is over


def test_a_short_dark_spell_is_neither_sunset_nor_sunrise():
    day = a_day(6, 18)
    feed(day, 24 + 6, 24 + 12, 1500)  # the next day, with a storm at noon
    feed(day, 24 + 12, 24 + 12 + 20 / 60, 0)  # 20 minutes near zero
    feed(day, 24 + 12 + 20 / 60, 24 + 17, 1500)
    assert day.set_tod == pytest.approx(18 * H - 300) and day.rise_tod == 6 * H


def test_a_gap_in_the_readings_times_nothing():
    day = SolarDay()
    feed(day, 0, 4, 0)
    day.observe(DAY0 + 7 * H, 800)  # 3 h without readings (stale data, a battery emergency): rise unknown
    assert day.rise_tod is None
    feed(day, 7, 18, 800)
    day.observe(DAY0 + 19 * H, 0)  # again after a gap: the sunset cannot be timed either
    feed(day, 19, 20, 0)
    assert day.set_tod is None


def test_an_implausible_length_falls_back_to_the_default():
    day = SolarDay(rise_tod=6 * H, set_tod=7 * H)  # one hour: a glitch, not a day
    assert day.length_sec() == DEFAULT_DAY_SEC


def test_light_outside_the_learned_day():
    day = a_day(6, 18)
    next_day = DAY0 + 24 * H
    assert day.fraction(next_day + 5.5 * H, True) == 0.0  # days grow: light before the learned sunrise
    assert day.fraction(next_day + 18.5 * H, True) == 1.0  # and after the learned sunset
