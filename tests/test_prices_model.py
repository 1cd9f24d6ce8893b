"""Pure price maths: units, the time-of-use table (weekdays, hour ranges, past midnight), cheapest-N-hours."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.prices.config import TouPeriod
from services.prices.model import PriceSlot, StaticPrices, cheapest_slots, in_cheapest, make_slots, prices_at
from services.prices.tou import price_at, table_slots, uncovered
from services.prices.units import UnitError, main_factor, per_kwh
from services.prices.zone import Zone

LONDON = Zone("Europe/London")


def at(text: str) -> float:
    """Epoch seconds of a London wall-clock time "2024-05-07 17:00"."""
    return LONDON.timestamp(datetime.fromisoformat(text))


@pytest.mark.parametrize("unit, factor", [("p/kWh", 0.01), ("ct/kWh", 0.01), ("¢/kWh", 0.01), ("GBP/kWh", 1.0),
                                          ("EUR/MWh", 0.001), ("€/kWh", 1.0), ("öre/kWh", 0.01), ("EUR/Wh", 1000.0)])
def test_main_factor(unit, factor):
    assert main_factor(unit) == pytest.approx(factor)


def test_units_per_kwh_and_refusals():
    assert per_kwh("EUR/MWh") == ("EUR/kWh", 0.001) and per_kwh("p/kWh") == ("p/kWh", 1.0)
    for bad in ("p", "EUR/kW", "euros/kWh", "/kWh"):
        with pytest.raises(UnitError):
            main_factor(bad)


# --- time-of-use ----------------------------------------------------------------------------------------------
TABLE = (
    TouPeriod(name="weekend", price=5.0, hours="10:00-16:00", days=("sat-sun",)),
    TouPeriod(name="peak", price=35.0, hours="16:00-19:00", days=("mon-fri",)),
    TouPeriod(name="off-peak", price=7.5, hours="23:30-05:30"),
)
FLAT = 24.5


@pytest.mark.parametrize("when, price", [
    ("2024-05-07 17:00", 35.0),  # Tuesday peak
    ("2024-05-11 17:00", 24.5),  # Saturday: no peak, flat
    ("2024-05-11 12:00", 5.0),  # Saturday daytime
    ("2024-05-07 02:00", 7.5),  # the morning part of Monday night's off-peak
    ("2024-05-07 23:45", 7.5),  # the evening part
    ("2024-05-07 05:30", 24.5),  # off-peak ends at 05:30
    ("2024-05-07 16:00", 35.0),  # peak starts at 16:00
])
def test_tou_table_by_weekday_and_hour(when, price):
    local = datetime.fromisoformat(when)
    assert price_at(TABLE, FLAT, local.weekday(), local.hour * 60 + local.minute) == price


def test_a_range_past_midnight_belongs_to_the_day_it_starts():
    friday_nights = (TouPeriod(price=1.0, hours="22:00-06:00", days=("fri",)),)
    fri, sat = 4, 5
    assert price_at(friday_nights, 9.0, fri, 23 * 60) == 1.0
    assert price_at(friday_nights, 9.0, sat, 3 * 60) == 1.0  # Saturday morning ends Friday night
    assert price_at(friday_nights, 9.0, sat, 23 * 60) == 9.0
    assert price_at(friday_nights, 9.0, fri, 3 * 60) == 9.0  # Thursday is not in the days


def test_first_matching_period_wins():
    overlapping = (TouPeriod(price=1.0, hours="00:00-12:00"), TouPeriod(price=2.0, hours="06:00-18:00"))
    assert price_at(overlapping, None, 0, 7 * 60) == 1.0 and price_at(overlapping, None, 0, 13 * 60) == 2.0
    assert price_at(overlapping, None, 0, 19 * 60) is None


def test_table_slots_for_two_days_merge_equal_neighbours():
    slots = table_slots(TABLE, FLAT, LONDON, at("2024-05-07 09:00"), factor=0.01)
    assert slots[0].start == at("2024-05-07 00:00") and slots[-1].end == at("2024-05-09 00:00")
    tuesday = [(LONDON.local(s.start).strftime("%H:%M"), LONDON.local(s.end).strftime("%H:%M"), s.price)
               for s in slots if s.start < at("2024-05-08 00:00")]
    assert tuesday == [("00:00", "05:30", 7.5), ("05:30", "16:00", 24.5), ("16:00", "19:00", 35.0),
                       ("19:00", "23:30", 24.5), ("23:30", "05:30", 7.5)]  # merged across midnight
    assert prices_at(slots, at("2024-05-07 17:10")).price_main == pytest.approx(0.35)
    assert all(b.start == a.end for a, b in zip(slots, slots[1:]))


def test_table_slots_on_the_spring_dst_day_cover_23_hours():
    slots = table_slots((), 10.0, LONDON, at("2024-03-31 12:00"), factor=0.01, days=1)
    assert sum(s.end - s.start for s in slots) == 23 * 3600


def test_uncovered_names_the_first_gap():
    assert uncovered(TABLE) == "mon 05:30"
    assert uncovered((TouPeriod(price=1.0, hours="00:00-24:00"),)) is None
    assert uncovered((TouPeriod(price=1.0, hours="00:00-24:00", days=("mon-sat",)),)) == "sun 00:00"


# --- cheapest N hours ---------------------------------------------------------------------------------------
def half_hours(day: str, prices: list[float]) -> list[PriceSlot]:
    """Half-hour slots from local midnight of ``day`` with ``prices`` in p/kWh."""
    start = at(f"{day} 00:00")
    return make_slots(((start + i * 1800, start + (i + 1) * 1800, p) for i, p in enumerate(prices)), "p/kWh")


DAY = [20.0] * 48
DAY[4:8] = [3.0, 1.0, 2.0, 4.0]  # 02:00-04:00 cheapest
DAY[26] = -2.0  # 13:00-13:30 negative


def test_cheapest_two_hours_of_the_day():
    slots = half_hours("2024-05-07", DAY)
    picked = [(LONDON.local(s.start).strftime("%H:%M"), s.price) for s in cheapest_slots(slots, at("2024-05-07 12:00"), 2, LONDON)]
    assert picked == [("02:00", 3.0), ("02:30", 1.0), ("03:00", 2.0), ("13:00", -2.0)]
    assert in_cheapest(slots, at("2024-05-07 13:10"), 2, LONDON)
    assert in_cheapest(slots, at("2024-05-07 02:45"), 2, LONDON)
    assert not in_cheapest(slots, at("2024-05-07 03:40"), 2, LONDON)  # 4.0: fifth cheapest
    assert not in_cheapest(slots, at("2024-05-07 12:00"), 2, LONDON)


def test_cheapest_takes_whole_half_hours_and_ties_go_early():
    slots = half_hours("2024-05-07", [10.0] * 48)
    assert len(cheapest_slots(slots, at("2024-05-07 12:00"), 1.25, LONDON)) == 3  # 1.25 h = three slots
    assert in_cheapest(slots, at("2024-05-07 00:40"), 1, LONDON)
    assert not in_cheapest(slots, at("2024-05-07 01:10"), 1, LONDON)


def test_cheapest_day_ignores_tomorrow_and_rolling_looks_ahead():
    today = half_hours("2024-05-07", [20.0] * 48)
    tomorrow = half_hours("2024-05-08", [1.0] * 48)
    slots = today + tomorrow
    now = at("2024-05-07 22:00")
    assert in_cheapest(slots, now, 1, LONDON) is False  # today's first hour is the pick (ties: earliest)
    assert in_cheapest(slots, at("2024-05-07 00:10"), 1, LONDON) is True
    assert in_cheapest(slots, now, 1, LONDON, window="rolling") is False  # tomorrow 1.0 beats 20.0
    assert in_cheapest(slots, at("2024-05-08 00:10"), 1, LONDON, window="rolling") is True
    with pytest.raises(ValueError, match="window"):
        cheapest_slots(slots, now, 1, LONDON, window="week")


def test_cheapest_is_false_without_a_slot_or_hours():
    slots = half_hours("2024-05-07", DAY)
    assert not in_cheapest(slots, at("2024-05-09 13:10"), 2, LONDON)
    assert not in_cheapest(slots, at("2024-05-07 13:10"), 0, LONDON)


def test_static_prices_answer_like_the_service():
    prices = StaticPrices(half_hours("2024-05-07", DAY), "p/kWh", "GBP", zone=LONDON, default_price=25.0)
    now = prices.current(at("2024-05-07 13:10"))
    assert (now.price, now.price_main, now.stale, now.unit, now.currency) == (-2.0, pytest.approx(-0.02), False, "p/kWh", "GBP")
    assert now.slot_start == at("2024-05-07 13:00") and now.slot_end == at("2024-05-07 13:30")
    later = prices.current(at("2024-05-08 10:00"))
    assert later.stale and later.price == 25.0 and later.price_main == pytest.approx(0.25) and "default_price" in later.reason
    assert prices.cheapest(at("2024-05-07 13:10"), 2) is True
    no_default = StaticPrices([], "p/kWh", "GBP").current(0)
    assert no_default.price is None and no_default.price_main is None and no_default.stale
