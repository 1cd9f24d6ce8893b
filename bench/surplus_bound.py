"""How much of the PV surplus a solar policy could capture at best, on bench/solar_week.py's house and weather.

    .venv/bin/python bench/surplus_bound.py [--span week|summer-week|winter-week|year] [--json]

Same weather, house, battery and fleet as bench/solar_week.py (its defaults), no controller:
- ``greedy``: every step the fleet draws exactly min(PV - house load, the fleet's rated watts):
  no minimum power, no command delays, never from the battery. Among policies that mine only
  PV it keeps the battery emptiest at every moment, so it exports least: its capture
  (mined_from_pv / (mined_from_pv + exported)) bounds theirs. It ignores the night, so it
  empties the battery early and its import shows what that costs.
- ``export_only``: the fleet takes only what the house without miners would export (capped at
  its rated watts): the battery follows the house-only one, so it causes no import.
- ``surplus_above_fleet``: PV minus house load above the fleet's rated watts; only the battery
  can take it, and once it is full it is exported whatever the policy does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.solar_week import DEFAULT_WEATHER, SPANS, BenchParams, default_fleet, load_weather, span_bounds  # noqa: E402
from services.battery.config import SimulatedConfig  # noqa: E402
from services.battery.simulated import HouseModel, house_load_w  # noqa: E402


def bound(span: str, params: BenchParams | None = None, weather_path: Path = DEFAULT_WEATHER) -> dict:
    """The greedy and export-only fleets over one span: kWh and capture (%)."""
    p = params or BenchParams()
    w = load_weather(weather_path)
    t0, t1 = span_bounds(w, span)
    lat = w.latitude if w.latitude is not None else 36.1
    lon = w.longitude if w.longitude is not None else -79.95
    fleet_w = sum(m.nominal_w for m in default_fleet(p.whatsminers, p.bitaxes))
    cfg = SimulatedConfig(pv_kw=p.pv_kw, battery_kwh=p.battery_kwh, efficiency=p.efficiency,
                          base_load_w=p.base_load_w, initial_soc=p.initial_soc, grid_tied=p.grid_tied,
                          latitude=lat, longitude=lon)
    shadow, greedy, export_only = (HouseModel(cfg, t0) for _ in range(3))
    wh = dict.fromkeys(("surplus", "above_fleet", "greedy_mined", "greedy_exported", "export_only_mined",
                        "export_only_exported"), 0.0)
    t = t0
    while t < t1 - 1e-6:
        dt_s = min(p.step_sec, t1 - t)
        h, mid = dt_s / 3600.0, t + dt_s / 2
        pv = shadow.pv_w_from_ghi(w.ghi_at(mid))
        house = house_load_w(p.base_load_w, lon, mid)
        surplus = max(0.0, pv - house)
        alone = shadow.step(dt_s, pv_w=pv, house_w=house)
        take = min(surplus, fleet_w)
        g = greedy.step(dt_s, extra_load_w=take, pv_w=pv, house_w=house)
        spare = min(fleet_w, max(0.0, -(alone.grid_w or 0.0)) + alone.curtailed_w)
        e = export_only.step(dt_s, extra_load_w=spare, pv_w=pv, house_w=house)
        wh["surplus"] += surplus * h
        wh["above_fleet"] += max(0.0, surplus - fleet_w) * h
        wh["greedy_mined"] += take * h
        wh["greedy_exported"] += (max(0.0, -(g.grid_w or 0.0)) + g.curtailed_w) * h
        wh["export_only_mined"] += spare * h
        wh["export_only_exported"] += (max(0.0, -(e.grid_w or 0.0)) + e.curtailed_w) * h
        t += dt_s

    def caused(model: HouseModel) -> float:
        key = "import_wh" if p.grid_tied else "unmet_wh"
        return (model.totals[key] - shadow.totals[key]) / 1000.0

    def capture(mined: float, exported: float) -> float:
        return round(100.0 * mined / (mined + exported), 2) if mined + exported > 0 else 100.0

    kwh = {k: round(v / 1000.0, 2) for k, v in wh.items()}
    return {
        "span": span, "fleet_w": fleet_w, "surplus_kwh": kwh["surplus"], "surplus_above_fleet_kwh": kwh["above_fleet"],
        "greedy": {"mined_from_pv_kwh": kwh["greedy_mined"], "curtailed_kwh": kwh["greedy_exported"],
                   "capture_pct": capture(wh["greedy_mined"], wh["greedy_exported"]),
                   "grid_import_kwh": round(caused(greedy), 2)},
        "export_only": {"mined_from_pv_kwh": kwh["export_only_mined"], "curtailed_kwh": kwh["export_only_exported"],
                        "capture_pct": capture(wh["export_only_mined"], wh["export_only_exported"]),
                        "grid_import_kwh": round(caused(export_only), 2)},
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--span", choices=SPANS, default="year")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = bound(args.span)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        g, e = result["greedy"], result["export_only"]
        print(f"{args.span}: PV surplus {result['surplus_kwh']} kWh, of it above the fleet's {result['fleet_w']:g} W: "
              f"{result['surplus_above_fleet_kwh']} kWh")
        for name, r in (("greedy", g), ("export-only", e)):
            print(f"  {name:<12} mined from PV {r['mined_from_pv_kwh']:>9} kWh  exported {r['curtailed_kwh']:>8} kWh  "
                  f"capture {r['capture_pct']:>6} %  import caused {r['grid_import_kwh']:>8} kWh")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
