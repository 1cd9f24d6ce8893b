"""Price benchmark: a year of solar weather plus a price series through the app's control step, three policies.

    .venv/bin/python bench/price_year.py --prices bench/data/prices/<series>.csv [--span year|week|...]
                                         [--hashprice 0.045] [--export-price 3.5] [--margin 1.0] [--json]

Everything of bench/solar_week.py (the house model, the simulated Whatsminer and
Bitaxes, the TMY3 weather, the accounting) through ``solar_week.run_policy``, which
calls the app's own control step (services/control/step.py); this file only adds the
price series and the matrix of runs:

- policies: **solar-only** (the surplus policy, price layer off), **price-only** (the
  controller gets no battery data, as with battery.source none: the solar policy keeps
  the fleet off and only the price layer and safety act) and **combined** (the surplus
  policy with the price layer on: grid mining while a miner's break-even x margin is
  above the import price; PV mining stops for miners that earn less than the export);
- houses: grid-tied **with** the 14.3 kWh battery and **without** one (0.1 kWh, the
  model's minimum: nothing stored). Without a battery the solar policy has no SOC to
  run on (the app requires battery data for it), so solar-only mines nothing there and
  combined equals price-only: a limit of today's solar policy, reported as such.

Money (main currency units of the series): revenue = hashes x hashprice; cost = the
site's grid bill with the fleet minus the house-only shadow model's (import x price -
export x export price, per simulated step); profit = revenue - cost. The hashprice is
fixed for the year (``--hashprice``, per TH/s per day, pool fee included).

Price series: CSV with ``# source: ...`` comment lines, a ``start_iso,price[,export]``
header and one row per slot (a slot ends where the next starts); prices in the unit
given by ``# unit: p/kWh`` (or ``--unit``). The series is laid on the weather's year by
local month, day and time of day (the TMY3 year mixes years anyway); slots without a
price fall back to ``--default-price`` (stale, as in the app).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from services.config import PriceControlConfig  # noqa: E402
from services.prices import StaticPrices, make_slots  # noqa: E402
from services.prices.zone import Zone  # noqa: E402
from services.profitability import Hashprice  # noqa: E402
from solar_week import (DEFAULT_WEATHER, SPANS, BenchParams, Economy, Weather, load_weather,  # noqa: E402
                        run_policy)

POLICIES = ("solar-only", "price-only", "combined")
# battery: the 14.3 kWh battery, no inverter cut-off (the house can empty it); battery+reserve: the
# same with the inverter's discharge cut-off at RESERVE_SOC, above autocontrol.emergency_soc (30 %),
# so that grid mining at the reserve draws from the grid, not the battery (docs/control.md).
HOUSES = ("battery", "battery+reserve", "no-battery")
RESERVE_SOC = 35.0
NO_BATTERY_KWH = 0.1  # the house model's minimum capacity: nothing worth storing
ROWS = (("mined_kwh", "energy mined (kWh)"), ("mined_from_pv_kwh", "mined from PV (kWh)"),
        ("mined_from_battery_kwh", "mined from battery (kWh)"), ("grid_import_kwh", "import caused by mining (kWh)"),
        ("revenue", "revenue"), ("cost", "cost (bill with - without fleet)"), ("profit", "profit"),
        ("min_soc", "minimum SOC (%)"), ("minutes_below_floor", "minutes mining below floor"),
        ("changes_per_miner_day", "changes per miner per day"), ("wall_sec", "wall time (s)"))


@dataclasses.dataclass(frozen=True)
class Series:
    """A price series: (start epoch, price) rows in ``unit``, optional export prices, where it came from."""

    rows: list[tuple[dt.datetime, float, float | None]]
    unit: str
    source: str


def load_series(path: Path, unit: str | None = None) -> Series:
    """Read a ``start_iso,price[,export]`` CSV with ``# source:`` / ``# unit:`` comment lines."""
    sources, found_unit, rows = [], None, []
    header = None
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if m := re.match(r"#\s*source:\s*(.+)", line):
                sources.append(m.group(1))
            if m := re.match(r"#\s*unit:\s*(\S+)", line):
                found_unit = m.group(1)
            continue
        cells = [c.strip() for c in line.split(",")]
        if header is None:
            header = cells
            if header[:2] != ["start_iso", "price"]:
                raise ValueError(f"{path}: header must start with start_iso,price, got {line}")
            continue
        export = float(cells[2]) if len(cells) > 2 and cells[2] else None
        rows.append((dt.datetime.fromisoformat(cells[0].replace("Z", "+00:00")), float(cells[1]), export))
    unit = unit or found_unit
    if not unit:
        raise ValueError(f"{path}: no '# unit:' line; pass --unit")
    if not rows:
        raise ValueError(f"{path}: no rows")
    return Series(sorted(rows, key=lambda r: r[0]), unit, "; ".join(sources) or str(path))


def prices_on_weather(series: Series, weather: Weather, currency: str, export_price: float | str | None,
                      default_price: float | None, adder: float = 0.0) -> StaticPrices:
    """The series laid on the weather's timeline by local month/day/time.

    Import = the series' price + ``adder`` (delivery charges on a wholesale series); export = the
    series' own export column, else ``export_price``: a flat price, or "wholesale" for the series'
    price without the adder (net billing at the hourly price).
    """
    tz = dt.timezone(dt.timedelta(hours=weather.utc_offset_h))
    year = dt.datetime.fromtimestamp(weather.start, tz).year
    placed: dict[float, tuple[float, float | None]] = {}
    for local, price, export in series.rows:  # each row on its own clock (the offset it was written with)
        try:
            start = dt.datetime(year, local.month, local.day, local.hour, local.minute, tzinfo=tz).timestamp()
        except ValueError:  # Feb 29 of a leap series on a common weather year
            continue
        placed.setdefault(start, (price, export))
    starts = sorted(placed)
    step = min(b - a for a, b in zip(starts, starts[1:])) if len(starts) > 1 else 3600.0
    rows, exports = [], []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) and starts[i + 1] - start <= 2 * step else start + step
        price, export = placed[start]
        rows.append((start, end, price + adder))
        if export is None:
            export = price if export_price == "wholesale" else export_price
        if export is not None:
            exports.append((start, end, export))
    return StaticPrices(make_slots(rows, series.unit, exports), series.unit, currency, source="bench series",
                        zone=_fixed_zone(weather.utc_offset_h), default_price=default_price)


def _fixed_zone(offset_h: float) -> Zone:
    """A Zone at the weather file's fixed standard-time offset (TMY3 has no daylight saving)."""
    hours = int(round(offset_h))
    # Etc/GMT+5 is UTC-5: the POSIX sign is inverted.
    return Zone("UTC" if hours == 0 else f"Etc/GMT{'+' if hours < 0 else '-'}{abs(hours)}")


def economy_for(policy: str, house: str, prices: StaticPrices, hashprice: Hashprice, margin: float) -> Economy:
    """The price layer and battery data of one run."""
    price_on = policy != "solar-only"
    return Economy(prices=prices, hashprice=hashprice,
                   price=PriceControlConfig(enabled=price_on, margin=margin),
                   battery_data=policy != "price-only" and house != "no-battery")


def run_matrix(weather_path: Path, series: Series, span: str, params: BenchParams, *, currency: str,
               hashprice_day: float, export_price: float | str | None, default_price: float | None, margin: float,
               adder: float = 0.0, parallel: bool = True, workers: int = 3) -> dict[str, dict[str, dict]]:
    """Every house x policy; results[house][policy]."""
    weather = load_weather(weather_path)
    prices = prices_on_weather(series, weather, currency, export_price, default_price, adder)
    hashprice = Hashprice(per_th_day=hashprice_day, per_th_hour=hashprice_day / 24.0, currency=currency,
                          source="bench (fixed)")
    jobs = {}
    for house in HOUSES:
        house_params = {"battery": params, "battery+reserve": dataclasses.replace(params, reserve_soc=RESERVE_SOC),
                        "no-battery": dataclasses.replace(params, battery_kwh=NO_BATTERY_KWH)}[house]
        for policy in POLICIES:
            jobs[(house, policy)] = (weather, span, "surplus", house_params,
                                     economy_for(policy, house, prices, hashprice, margin))
    if parallel:
        with ProcessPoolExecutor(max_workers=min(len(jobs), workers)) as pool:
            futures = {key: pool.submit(run_policy, *args) for key, args in jobs.items()}
            done = {key: f.result() for key, f in futures.items()}
    else:
        done = {key: run_policy(*args) for key, args in jobs.items()}
    for policy in POLICIES:  # no battery: its SOC (a 0.1 kWh buffer) says nothing about a floor
        done[("no-battery", policy)].update(min_soc="n/a", minutes_below_floor="n/a")
    return {house: {policy: done[(house, policy)] for policy in POLICIES} for house in HOUSES}


def table(results: dict[str, dict[str, dict]], title: str) -> str:
    """One block per house, one column per policy."""
    width = max(len(label) for _, label in ROWS)
    lines = [title]
    for house, by_policy in results.items():
        lines.append(f"\n{house}:")
        lines.append(f"{'':<{width}}  " + "  ".join(f"{p:>12}" for p in by_policy))
        for key, label in ROWS:
            lines.append(f"{label:<{width}}  " + "  ".join(f"{by_policy[p].get(key, ''):>12}" for p in by_policy))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weather", type=Path, default=DEFAULT_WEATHER)
    ap.add_argument("--prices", type=Path, required=True, help="start_iso,price[,export] CSV (see the docstring)")
    ap.add_argument("--unit", help="unit of the series' prices when the file has no '# unit:' line")
    ap.add_argument("--currency", default="USD", help="currency of the series and the hashprice")
    ap.add_argument("--hashprice", type=float, default=0.045,
                    help="revenue per TH/s per day after pool fee, in --currency (0.045 USD = 45 USD/PH/day)")
    ap.add_argument("--export-price", default=None,
                    help="where the series has no export column: a flat price in its unit, or 'wholesale' "
                         "(the series' price without --adder); default none")
    ap.add_argument("--adder", type=float, default=0.0,
                    help="added to every import price, in the series' unit (delivery charges on a wholesale series)")
    ap.add_argument("--default-price", type=float, default=None, help="price for times the series does not cover")
    ap.add_argument("--margin", type=float, default=1.0, help="autocontrol.price.margin")
    ap.add_argument("--span", choices=SPANS, default="year")
    ap.add_argument("--step-sec", type=float, default=60.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    series = load_series(args.prices, args.unit)
    export = args.export_price if args.export_price in (None, "wholesale") else float(args.export_price)
    params = BenchParams(step_sec=args.step_sec)
    results = run_matrix(args.weather, series, args.span, params, currency=args.currency,
                         hashprice_day=args.hashprice, export_price=export,
                         default_price=args.default_price, margin=args.margin, adder=args.adder)
    if args.json:
        print(json.dumps({"series": series.source, "unit": series.unit, "adder": args.adder,
                          "export_price": args.export_price, "hashprice": args.hashprice, "results": results}, indent=2))
    else:
        print(table(results, f"price_year: {args.span}, prices {args.prices.name} ({series.unit}) + {args.adder:g}, "
                             f"hashprice {args.hashprice:g} {args.currency}/TH/s/day, export {args.export_price}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
