"""bench/price_year.py's price series: read with its unit and source, laid on the weather's clock, adder and export."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import price_year  # noqa: E402
from solar_week import Weather  # noqa: E402

SERIES = ROOT / "bench" / "data" / "prices" / "pjm_dom_rt_2023.csv"
EST = dt.timezone(dt.timedelta(hours=-5))


def weather_2023() -> Weather:
    """A TMY3-like timeline (2023, UTC-5, no daylight saving); only its start and offset matter here."""
    start = dt.datetime(2023, 1, 1, tzinfo=EST).timestamp()
    return Weather(start=start, ghi=[0.0] * 8760, months_days=[], latitude=36.1, longitude=-79.95, utc_offset_h=-5.0)


def test_the_recorded_series_is_read_with_its_unit_and_source():
    series = price_year.load_series(SERIES)
    assert series.unit == "USD/MWh" and "HewlettPackard/green-dcc" in series.source
    assert len(series.rows) == 8736
    assert series.rows[0][0] == dt.datetime(2023, 1, 1, tzinfo=EST)


def test_slots_land_on_the_weather_clock_with_the_adder_and_wholesale_export():
    series = price_year.load_series(SERIES)
    prices = price_year.prices_on_weather(series, weather_2023(), "USD", "wholesale", 35.0, adder=60.0)
    noon = dt.datetime(2023, 6, 18, 12, 30, tzinfo=EST).timestamp()  # the CSV: 2023-06-18T12:00-05:00,29.753221
    now = prices.current(noon)
    assert (now.price, now.stale, now.unit) == (pytest.approx(89.753221), False, "USD/MWh")
    assert now.price_main == pytest.approx(0.089753221)  # USD per kWh
    assert now.export_price_main == pytest.approx(0.029753221)  # the hour's price without the adder
    missing = prices.current(dt.datetime(2023, 12, 31, 12, tzinfo=EST).timestamp())  # not in the source
    assert missing.stale and missing.price == 35.0


def test_a_flat_export_price_and_a_series_without_a_unit(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("# source: test\nstart_iso,price\n2023-03-01T00:00-05:00,10\n2023-03-01T01:00-05:00,20\n")
    with pytest.raises(ValueError, match="no '# unit:' line"):
        price_year.load_series(path)
    series = price_year.load_series(path, unit="¢/kWh")
    prices = price_year.prices_on_weather(series, weather_2023(), "USD", 4.0, None)
    at = dt.datetime(2023, 3, 1, 1, 15, tzinfo=EST).timestamp()
    assert (prices.current(at).price, prices.current(at).export_price_main) == (20.0, pytest.approx(0.04))
