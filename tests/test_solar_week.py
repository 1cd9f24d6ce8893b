"""Smoke test of bench/solar_week.py: two days of synthetic weather through the real controller and allocator."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("solar_week", ROOT / "bench" / "solar_week.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["solar_week"] = module  # the process pool pickles its functions by module name
    spec.loader.exec_module(module)
    return module


def _weather(path: Path, days: int = 2) -> Path:
    """A clear-sky-ish bell of GHI (peak 900 W/m2 at 12:30) in the TMY3 file's format."""
    lines = ["# synthetic station, lat 36.100, lon -79.950, UTC offset -5.0 h, elevation 273 m",
             "# hourly; time is local standard time at the END of the hour (TMY3 convention)",
             "date,hour_end,ghi_wm2,temp_c"]
    for day in range(1, days + 1):
        for hour in range(1, 25):
            mid = hour - 0.5
            ghi = max(0.0, 900 * math.sin(math.pi * (mid - 6.5) / 12)) if 6.5 < mid < 18.5 else 0.0
            lines.append(f"06/{day:02d}/1990,{hour:02d}:00,{ghi:.0f},20.0")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    sw = _bench()
    path = _weather(tmp_path_factory.mktemp("weather") / "tiny_tmy3.csv")
    # "week" = the file's first 7 days, here clipped to the 2 days it holds.
    return sw, sw.run(path, "week", sw.POLICIES, sw.BenchParams(initial_soc=70.0), parallel=False)


def test_contract_keys_and_span(results):
    sw, res = results
    assert set(res) == {"ratchet", "surplus"}
    for r in res.values():
        assert set(sw.CONTRACT_KEYS) <= set(r)
        assert r["days"] == 2.0
        assert all(isinstance(r[k], (int, float)) for k in sw.CONTRACT_KEYS)


def test_energy_balance(results):
    _, res = results
    for policy, r in res.items():
        b = r["balance"]
        assert b["pv_kwh"] > 50, policy  # 10 kWp on two sunny days
        used = b["house_from_pv_kwh"] + b["mined_from_pv_kwh"] + b["charged_kwh"] + b["curtailed_kwh"]
        assert used == pytest.approx(b["pv_kwh"], rel=0.01), policy
        assert r["mined_kwh"] == pytest.approx(
            r["mined_from_pv_kwh"] + r["mined_from_battery_kwh"] + r["mined_from_grid_kwh"], abs=0.05), policy
        assert r["mined_kwh"] > 0, policy


def test_surplus_respects_battery_floor(results):
    _, res = results
    assert res["surplus"]["minutes_below_floor"] == 0


def test_ratchet_respects_battery_floor(results):
    # The controller stops on the SOC projected one tick plus the stop delay ahead, not on the reading.
    _, res = results
    assert res["ratchet"]["minutes_below_floor"] == 0


def test_cli_json(tmp_path, capsys):
    sw = _bench()
    path = _weather(tmp_path / "w.csv", days=1)
    assert sw.main(["--weather", str(path), "--span", "week", "--policy", "surplus", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert list(body) == ["surplus"]
    assert set(sw.CONTRACT_KEYS) <= set(body["surplus"])


def test_spans_need_their_dates(tmp_path):
    sw = _bench()
    weather = sw.load_weather(_weather(tmp_path / "w.csv", days=1))
    assert sw.span_bounds(weather, "year") == (weather.start, weather.start + 86400.0)
    with pytest.raises(ValueError, match="12/18"):
        sw.span_bounds(weather, "winter-week")
