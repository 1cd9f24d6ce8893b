"""Solar policy benchmark: the real PowerController + PowerAllocator over a simulated house and fleet.

    .venv/bin/python bench/solar_week.py [--weather PATH] [--span week|summer-week|winter-week|year]
                                         [--policy ratchet|surplus|both] [--json] [--step-sec 60]
                                         [--pv-kw 10] [--battery-kwh 14.3] [--off-grid] [--set KEY=VALUE] ...

Time is simulated: every step (default 60 s) the house model is advanced with
PV from the TMY3 file's hourly GHI (linearly interpolated between hour
midpoints), the controller ticks once with a fresh reading (age 0) and the
plan's settings go to simulated miners: the app's own control step
(services/control/step.py: controller, safety, allocator), with the bench's
MinerInputs in place of the poll round; executed settings are recorded as the app does.

Spans (days of the file's month/day, local standard time; the file's years are ignored):
week = the file's first 7 days; summer-week = June 18 00:00 - June 25 00:00;
winter-week = December 18 00:00 - December 25 00:00; year = the whole file.

Simulated miners (documented model, estimates):
- a command takes effect after a delay (Whatsminer: 30 s for a power limit,
  10 s to sleep, 90 s to wake from sleep; Bitaxe: 5 s for everything);
- power is the setpoint (no ramp); hashrate = nominal hashrate x (power / nominal)^0.8.
Default fleet: one 3.6 kW Whatsminer (power_watts, power_percent, sleep, wake; 3600 W,
~20 J/TH), four Bitaxe Gamma on AxeOS >= 2.14 (modes eco/standard/turbo/overclock,
sleep/wake = pause/resume; 17 W nominal, the allocator uses eco and standard).

Accounting per step (powers are the step's averages):
- PV first serves the house, then the miners; what is left charges the battery,
  the rest is exported (grid-tied) or curtailed (off-grid). curtailed_kwh = PV
  not used on site (export when grid-tied, curtailment off-grid).
- Miner energy not covered by PV comes from the battery's discharge beyond the
  house deficit (mined_from_battery_kwh), then from the grid.
- grid_import_kwh: import with the fleet minus the import of a house-only shadow
  model (same PV, load, battery) run in lockstep = import caused by mining.
  Off-grid: unmet load with the fleet minus unmet load of the shadow model.
- min_soc includes the house's own drain: the house model has no inverter
  low-SOC cut-off, so on a dark winter night the house alone can empty the battery.
- The controller runs with the app's AutocontrolConfig defaults (enabled, the
  policy, latitude/longitude from the weather file's first comment line);
  ``--set`` changes any autocontrol setting for the run (surplus.* included).
- minutes_below_floor: simulated minutes in which a miner drew power while the
  SOC (at the start of the step) was below emergency_soc; partial steps count
  by the seconds the miner still drew power (command delays).
- changes_per_miner_day: ticks in which a miner received at least one command,
  per miner per simulated day.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from miners.base import FREQUENCY, MODE, POWER_PERCENT, POWER_WATTS, SLEEP, WAKE  # noqa: E402
from services.battery.config import SimulatedConfig  # noqa: E402
from services.battery.simulated import HouseModel, house_load_w  # noqa: E402
from services.config import AutocontrolConfig  # noqa: E402
from services.config import PriceControlConfig  # noqa: E402
from services.control import ControlState, PriceInput, StepInputs, step as control_step  # noqa: E402
from services.profitability import Hashprice  # noqa: E402
from services.power import BatterySample, DictStore  # noqa: E402
from services.power.allocator import (  # noqa: E402
    SET_MODE, SET_POWER_PERCENT, SET_POWER_WATTS, SLEEP_ACTION, WAKE_ACTION, MinerInput)
from services.power.model_power import MODE_FRACTIONS  # noqa: E402

DEFAULT_WEATHER = ROOT.parent / "shared" / "data" / "solar" / "greensboro_nc_tmy3.csv"
POLICIES = ("ratchet", "surplus")
SPANS = ("week", "summer-week", "winter-week", "year")
CONTRACT_KEYS = ("pv_kwh", "mined_from_pv_kwh", "mined_from_battery_kwh", "grid_import_kwh", "curtailed_kwh",
                 "min_soc", "minutes_below_floor", "changes_per_miner_day")
HASH_EXPONENT = 0.8  # hashrate ~ power^0.8: lower clocks need lower voltage, so J/TH improves when throttled


# --- weather --------------------------------------------------------------------------
@dataclass
class Weather:
    """Hourly GHI on a continuous timeline: row i covers the hour ending at start + (i+1) h."""

    start: float  # epoch seconds of the first row's hour start (local standard time mapped with utc_offset)
    ghi: list[float]
    months_days: list[tuple[int, int]]  # (month, day) of each row's hour start
    latitude: float | None = None
    longitude: float | None = None
    utc_offset_h: float = 0.0

    def ghi_at(self, t: float) -> float:
        """GHI at time t, linear between hour midpoints (held flat before the first/after the last)."""
        x = (t - self.start) / 3600.0 - 0.5
        if x <= 0:
            return self.ghi[0]
        i = int(x)
        if i >= len(self.ghi) - 1:
            return self.ghi[-1]
        f = x - i
        return self.ghi[i] * (1 - f) + self.ghi[i + 1] * f

    @property
    def end(self) -> float:
        """End of the last row's hour."""
        return self.start + 3600.0 * len(self.ghi)


def load_weather(path: Path) -> Weather:
    """Parse a TMY3-style CSV (``#`` comments, header date,hour_end,ghi_wm2,...); coordinates from the comment."""
    lat = lon = None
    offset = 0.0
    header: list[str] | None = None
    rows: list[tuple[int, int, int, float]] = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            m = re.search(r"lat\s+(-?[\d.]+),\s*lon\s+(-?[\d.]+)", line)
            if m:
                lat, lon = float(m.group(1)), float(m.group(2))
            m = re.search(r"UTC offset\s+([-+]?[\d.]+)", line)
            if m:
                offset = float(m.group(1))
            continue
        cells = [c.strip() for c in line.split(",")]
        if header is None:
            header = cells
            for need in ("date", "hour_end", "ghi_wm2"):
                if need not in header:
                    raise ValueError(f"{path}: header lacks column {need!r}: {line}")
            continue
        rec = dict(zip(header, cells))
        month, day = (int(x) for x in rec["date"].split("/")[:2])
        hour = int(rec["hour_end"].split(":")[0])
        rows.append((month, day, hour, float(rec["ghi_wm2"])))
    if not rows:
        raise ValueError(f"{path}: no data rows")
    leap = any(m == 2 and d == 29 for m, d, _, _ in rows)
    year = 2024 if leap else 2023  # the TMY years are mixed; only month/day/hour matter
    tz = dt.timezone(dt.timedelta(hours=offset))
    m0, d0, h0, _ = rows[0]
    start = dt.datetime(year, m0, d0, tzinfo=tz).timestamp() + (h0 - 1) * 3600.0
    months_days = []
    for i in range(len(rows)):
        local = dt.datetime.fromtimestamp(start + i * 3600.0, tz)
        months_days.append((local.month, local.day))
    return Weather(start, [r[3] for r in rows], months_days, lat, lon, offset)


def span_bounds(weather: Weather, span: str) -> tuple[float, float]:
    """Start and end (epoch s) of a named span inside the weather file."""
    if span == "year":
        return weather.start, weather.end
    if span == "week":
        return weather.start, min(weather.end, weather.start + 7 * 86400.0)
    month, day = {"summer-week": (6, 18), "winter-week": (12, 18)}[span]
    for i, md in enumerate(weather.months_days):
        if md == (month, day):
            begin = weather.start + i * 3600.0
            return begin, min(weather.end, begin + 7 * 86400.0)
    raise ValueError(f"span {span}: the weather file has no {month:02d}/{day:02d}")


# --- simulated miners -------------------------------------------------------------------
@dataclass
class SimMiner:
    """A miner that obeys the allocator's commands after a delay; power = setpoint, hash ~ power^0.8."""

    ip: str
    family: str
    model: str
    capabilities: frozenset[str]
    modes: tuple[str, ...]
    nominal_w: float
    nominal_hs: float
    delay_level_sec: float
    delay_sleep_sec: float
    delay_wake_sec: float
    nominal_override: float | None = None
    on: bool = True
    setpoint_w: float = 0.0
    pending: list[tuple[float, str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.setpoint_w:
            self.setpoint_w = self.nominal_w

    @property
    def power_w(self) -> float:
        """Power drawn now."""
        return self.setpoint_w if self.on else 0.0

    def hashrate_hs(self, power_w: float | None = None) -> float:
        """Hashrate at a power (default: now)."""
        p = self.power_w if power_w is None else power_w
        return 0.0 if p <= 0 else self.nominal_hs * (p / self.nominal_w) ** HASH_EXPONENT

    def command(self, action: str, value: object, now: float) -> None:
        """Queue a command; it takes effect after the action's delay."""
        delay = {SLEEP_ACTION: self.delay_sleep_sec, WAKE_ACTION: self.delay_wake_sec}.get(action, self.delay_level_sec)
        self.pending.append((now + delay, action, value))
        self.pending.sort(key=lambda x: x[0])

    def _apply(self, action: str, value: object) -> None:
        if action == SLEEP_ACTION:
            self.on = False
        elif action == WAKE_ACTION:
            self.on = True
        elif action == SET_POWER_WATTS:
            self.setpoint_w = float(value)
        elif action == SET_POWER_PERCENT:
            self.setpoint_w = self.nominal_w * float(value) / 100.0
        elif action == SET_MODE:
            self.setpoint_w = self.nominal_w * MODE_FRACTIONS["bitaxe"].get(str(value), 1.0)

    def advance(self, t: float, dt_s: float) -> list[tuple[float, float]]:
        """Apply commands due in [t, t+dt); returns (seconds, watts) segments covering the step."""
        segs: list[tuple[float, float]] = []
        cur = t
        end = t + dt_s
        while self.pending and self.pending[0][0] < end:
            at, action, value = self.pending.pop(0)
            at = max(at, cur)
            if at > cur:
                segs.append((at - cur, self.power_w))
                cur = at
            self._apply(action, value)
        segs.append((end - cur, self.power_w))
        return segs

    def as_input(self) -> MinerInput:
        """What miner_input() would build from this miner's fresh MinerRecord."""
        p = self.power_w
        return MinerInput(ip=self.ip, family=self.family, model=self.model, online=True,
                          capabilities=self.capabilities, modes=self.modes, power_w=p,
                          hashrate_hs=self.hashrate_hs(p), nominal_w=self.nominal_override)


def default_fleet(whatsminers: int = 1, bitaxes: int = 4) -> list[SimMiner]:
    """One 3.6 kW Whatsminer (~180 TH/s) and four Bitaxe Gamma (17 W, 1.2 TH/s) by default."""
    fleet = []
    for i in range(whatsminers):
        fleet.append(SimMiner(f"10.0.0.{10 + i}", "whatsminer", "Whatsminer M50S++",
                              frozenset({POWER_WATTS, POWER_PERCENT, SLEEP, WAKE, MODE}), ("low", "normal", "high"),
                              3600.0, 180e12, delay_level_sec=30, delay_sleep_sec=10, delay_wake_sec=90,
                              nominal_override=3600.0))
    for i in range(bitaxes):
        fleet.append(SimMiner(f"10.0.0.{100 + i}", "bitaxe", "Bitaxe Gamma BM1370",
                              frozenset({MODE, SLEEP, WAKE, FREQUENCY}), ("eco", "standard", "turbo", "overclock"),
                              17.0, 1.2e12, delay_level_sec=5, delay_sleep_sec=5, delay_wake_sec=5))
    return fleet


# --- one run ---------------------------------------------------------------------------------
@dataclass
class BenchParams:
    """House and fleet of one run (documented defaults)."""

    pv_kw: float = 10.0
    battery_kwh: float = 14.3
    efficiency: float = 0.92
    base_load_w: float = 600.0
    initial_soc: float = 60.0
    grid_tied: bool = True
    step_sec: float = 60.0
    whatsminers: int = 1
    bitaxes: int = 4
    overrides: tuple[tuple[str, str], ...] = ()  # autocontrol.* settings (config.yaml names), e.g. ("min_interval_sec", "600")
    reserve_soc: float = 0.0  # the inverter's discharge cut-off (0 = none: the house can empty the battery)


@dataclass(frozen=True)
class Economy:
    """Prices and a hashprice for a run (bench/price_year.py): the price layer's inputs and the money kept.

    ``prices`` has the PriceService interface (services.prices.StaticPrices over a series);
    ``battery_data`` False runs the controller as with battery.source none (no SOC: the solar
    policy keeps the fleet off, only the price layer and safety act) while the house still has its battery.
    """

    prices: object
    hashprice: Hashprice
    price: PriceControlConfig
    battery_data: bool = True


def _coerce(old: object, text: str) -> object:
    if isinstance(old, bool):
        return text.lower() in ("1", "true", "yes", "on")
    if isinstance(old, (int, float)) and not isinstance(old, bool):
        return type(old)(float(text)) if isinstance(old, float) else int(float(text))
    return text


def autocontrol_config(policy: str, lat: float, lon: float, overrides: tuple[tuple[str, str], ...] = ()):
    """The app's AutocontrolConfig defaults, enabled, with the policy, the site and any --set overrides."""
    cfg = dataclasses.replace(AutocontrolConfig(), enabled=True, policy=policy, latitude=lat, longitude=lon)
    for key, text in overrides:
        if key.startswith("surplus."):
            sub = key.split(".", 1)[1]
            surplus = dataclasses.replace(cfg.surplus, **{sub: _coerce(getattr(cfg.surplus, sub), text)})
            cfg = dataclasses.replace(cfg, surplus=surplus)
        else:
            cfg = dataclasses.replace(cfg, **{key: _coerce(getattr(cfg, key), text)})
    cfg.validate()
    return cfg


def _price_input(economy: Economy, t: float) -> PriceInput:
    """What the app's AutoControl._price builds from its PriceService, from the bench's series."""
    p = economy.prices.current(t)
    return PriceInput(price=p.price, price_main=p.price_main, export_main=p.export_price_main, unit=p.unit,
                      stale=p.stale, reason=p.reason, cheapest=lambda hours: economy.prices.cheapest(t, hours))


def run_policy(weather: Weather, span: str, policy: str, params: BenchParams, economy: Economy | None = None) -> dict:
    """Simulate one policy over a span; returns the contract keys plus totals and the energy balance.

    With ``economy`` the step also gets the price and each miner's break-even, and the result
    adds money: revenue (hashes x hashprice), cost (the site's grid bill with the fleet minus
    the house-only shadow's: import x price - export x export price) and profit.
    """
    wall0 = time.perf_counter()
    t0, t1 = span_bounds(weather, span)
    lat = weather.latitude if weather.latitude is not None else 36.1
    lon = weather.longitude if weather.longitude is not None else -79.95
    tz = dt.timezone(dt.timedelta(hours=weather.utc_offset_h))
    cfg = autocontrol_config(policy, lat, lon, params.overrides)
    if economy is not None:
        cfg = dataclasses.replace(cfg, price=economy.price)
    clock_now = [t0]
    control = ControlState.create(cfg, DictStore(), clock=lambda: clock_now[0], tz=tz)
    house_cfg = SimulatedConfig(pv_kw=params.pv_kw, battery_kwh=params.battery_kwh, efficiency=params.efficiency,
                                base_load_w=params.base_load_w, initial_soc=params.initial_soc, reserve_soc=params.reserve_soc,
                                grid_tied=params.grid_tied, latitude=lat, longitude=lon)
    house, shadow = HouseModel(house_cfg, t0), HouseModel(house_cfg, t0)
    fleet = default_fleet(params.whatsminers, params.bitaxes)
    by_ip = {m.ip: m for m in fleet}
    floor = cfg.emergency_soc
    step = params.step_sec
    acc = dict.fromkeys(("pv", "house_from_pv", "mined_from_pv", "mined_from_battery", "mined_from_grid", "charged",
                         "curtailed", "mined", "hash_th"), 0.0)
    changes = dict.fromkeys(by_ip, 0)
    below_sec = 0.0
    bill = {"fleet": 0.0, "shadow": 0.0}
    min_soc = house.soc_pct
    reading = None
    t = t0
    while t < t1 - 1e-6:
        dt_s = min(step, t1 - t)
        clock_now[0] = t
        # One control step with the latest reading: the app's own (services/control/step.py).
        miners = tuple(m.as_input() for m in fleet)
        battery_data = economy is None or economy.battery_data
        inputs = StepInputs(reading=reading if battery_data else None, miners=miners, controlled=frozenset(by_ip),
                            fleet_w=sum(m.power_w for m in fleet), has_battery=battery_data,
                            price=None if economy is None else _price_input(economy, t),
                            hashprice=None if economy is None else economy.hashprice)
        plan = control_step(inputs, control, t).plan
        if plan is not None and plan.settings:
            for s in plan.settings:
                by_ip[s.ip].command(s.action, s.value, t)
            for ip in {s.ip for s in plan.settings}:
                changes[ip] += 1
            control.record(plan.settings, t)
        # Miners during the step.
        soc_start = house.soc_pct
        fleet_wh = 0.0
        drawing_sec = 0.0  # the longest any miner drew power in this step (a minute counts once, not per miner)
        for m in fleet:
            drew = 0.0
            for secs, watts in m.advance(t, dt_s):
                fleet_wh += watts * secs / 3600.0
                acc["hash_th"] += m.hashrate_hs(watts) * secs / 1e12
                if watts > 0:
                    drew += secs
            drawing_sec = max(drawing_sec, drew)
        if soc_start < floor:
            below_sec += drawing_sec
        miners_w = fleet_wh / (dt_s / 3600.0)
        mid = t + dt_s / 2
        pv = house.pv_w_from_ghi(weather.ghi_at(mid))
        house_w = house_load_w(params.base_load_w, lon, mid)
        state = house.step(dt_s, extra_load_w=miners_w, pv_w=pv, house_w=house_w)
        shadow_state = shadow.step(dt_s, pv_w=pv, house_w=house_w)
        h = dt_s / 3600.0
        if economy is not None and params.grid_tied:
            now_price = economy.prices.current(mid)
            for key, grid_w in (("fleet", state.grid_w or 0.0), ("shadow", shadow_state.grid_w or 0.0)):
                kwh = grid_w * h / 1000.0
                bill[key] += kwh * (now_price.price_main or 0.0) if kwh > 0 else kwh * (now_price.export_price_main or 0.0)
        # Attribution: PV serves the house first, then the miners; the battery's discharge
        # beyond the house's deficit feeds the miners, the grid the rest.
        house_pv = min(pv, house_w)
        mined_pv = min(miners_w, pv - house_pv)
        rest = miners_w - mined_pv
        mined_bat = min(rest, max(0.0, state.battery_w - max(0.0, house_w - pv)))
        acc["pv"] += pv * h
        acc["house_from_pv"] += house_pv * h
        acc["mined_from_pv"] += mined_pv * h
        acc["mined_from_battery"] += mined_bat * h
        acc["mined_from_grid"] += (rest - mined_bat) * h
        acc["charged"] += max(0.0, -state.battery_w) * h
        acc["curtailed"] += (state.curtailed_w + max(0.0, -(state.grid_w or 0.0))) * h
        acc["mined"] += miners_w * h
        min_soc = min(min_soc, state.soc_pct)
        reading = BatterySample(soc_pct=state.soc_pct, pv_w=state.pv_w, load_w=state.load_w,
                                battery_w=state.battery_w, grid_w=state.grid_w, measured_at=state.t)
        t += dt_s
    days = (t1 - t0) / 86400.0
    if params.grid_tied:
        caused = house.totals["import_wh"] - shadow.totals["import_wh"]
    else:
        caused = house.totals["unmet_wh"] - shadow.totals["unmet_wh"]
    kwh = lambda wh: round(wh / 1000.0, 2)  # noqa: E731
    money = {}
    if economy is not None:
        revenue = acc["hash_th"] / 3600.0 * economy.hashprice.per_th_hour  # TH/s x hours x per TH/s per hour
        cost = bill["fleet"] - bill["shadow"]
        money = {"revenue": round(revenue, 2), "cost": round(cost, 2), "profit": round(revenue - cost, 2),
                 "currency": economy.hashprice.currency}
    return {**money,
        "pv_kwh": kwh(acc["pv"]),
        "mined_from_pv_kwh": kwh(acc["mined_from_pv"]),
        "mined_from_battery_kwh": kwh(acc["mined_from_battery"]),
        "grid_import_kwh": kwh(caused),
        "curtailed_kwh": kwh(acc["curtailed"]),
        "min_soc": round(min_soc, 1),
        "minutes_below_floor": round(below_sec / 60.0, 1),
        "changes_per_miner_day": round(sum(changes.values()) / len(fleet) / days, 2) if fleet and days > 0 else 0.0,
        "changes_per_day_by_miner": {f"{by_ip[ip].model} {ip}": round(n / days, 2) if days > 0 else 0.0
                                     for ip, n in changes.items()},
        "mined_kwh": kwh(acc["mined"]),
        "mined_from_grid_kwh": kwh(acc["mined_from_grid"]),
        "hashes_th": round(acc["hash_th"], 0),
        "days": round(days, 2),
        "wall_sec": round(time.perf_counter() - wall0, 1),
        "balance": {"pv_kwh": kwh(acc["pv"]), "house_from_pv_kwh": kwh(acc["house_from_pv"]),
                    "mined_from_pv_kwh": kwh(acc["mined_from_pv"]), "charged_kwh": kwh(acc["charged"]),
                    "curtailed_kwh": kwh(acc["curtailed"])},
    }


def run(weather_path: Path, span: str, policies: tuple[str, ...], params: BenchParams,
        parallel: bool = True) -> dict[str, dict]:
    """Run each policy (in parallel processes when more than one) and return results keyed by policy."""
    weather = load_weather(weather_path)
    if parallel and len(policies) > 1:
        with ProcessPoolExecutor(max_workers=len(policies)) as pool:
            futures = {p: pool.submit(run_policy, weather, span, p, params) for p in policies}
            return {p: f.result() for p, f in futures.items()}
    return {p: run_policy(weather, span, p, params) for p in policies}


# --- output --------------------------------------------------------------------------------
ROWS = (("pv_kwh", "PV energy (kWh)"), ("mined_kwh", "energy mined (kWh)"),
        ("mined_from_pv_kwh", "mined from PV (kWh)"), ("mined_from_battery_kwh", "mined from battery (kWh)"),
        ("mined_from_grid_kwh", "mined from grid (kWh)"), ("grid_import_kwh", "import/unmet caused by mining (kWh)"),
        ("curtailed_kwh", "PV exported/curtailed (kWh)"), ("min_soc", "minimum SOC (%)"),
        ("minutes_below_floor", "minutes mining below floor"), ("changes_per_miner_day", "changes per miner per day"),
        ("hashes_th", "hashes (TH)"), ("wall_sec", "wall time (s)"))


def table(results: dict[str, dict], title: str) -> str:
    """The results side by side, one column per policy."""
    names = list(results)
    width = max(len(label) for _, label in ROWS)
    lines = [title, f"{'':<{width}}  " + "  ".join(f"{n:>12}" for n in names)]
    extra = [(k, f"  {k}") for k in results[names[0]] if k.startswith("changes/day ")]
    width = max(len(label) for _, label in (*ROWS, *extra))
    lines[1] = f"{'':<{width}}  " + "  ".join(f"{n:>12}" for n in names)
    for key, label in (*ROWS, *extra):
        lines.append(f"{label:<{width}}  " + "  ".join(f"{results[n][key]:>12}" for n in names))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weather", type=Path, default=DEFAULT_WEATHER, help="TMY3-style CSV (date,hour_end,ghi_wm2,...)")
    ap.add_argument("--span", choices=SPANS, default="week")
    ap.add_argument("--policy", choices=(*POLICIES, "both"), default="both")
    ap.add_argument("--json", action="store_true", help="one JSON object keyed by policy")
    ap.add_argument("--step-sec", type=float, default=60.0, help="simulated seconds per controller tick")
    ap.add_argument("--pv-kw", type=float, default=10.0)
    ap.add_argument("--battery-kwh", type=float, default=14.3)
    ap.add_argument("--efficiency", type=float, default=0.92, help="battery round trip")
    ap.add_argument("--base-load-w", type=float, default=600.0, help="house load before the daily profile")
    ap.add_argument("--initial-soc", type=float, default=60.0)
    ap.add_argument("--off-grid", action="store_true")
    ap.add_argument("--reserve-soc", type=float, default=0.0, help="the inverter's discharge cut-off SOC (0 = none)")
    ap.add_argument("--whatsminers", type=int, default=1)
    ap.add_argument("--bitaxes", type=int, default=4)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an autocontrol setting for this run, e.g. min_interval_sec=600 or surplus.step_percent=20")
    args = ap.parse_args(argv)
    overrides = []
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--set {item}: expected KEY=VALUE")
        overrides.append((key.strip().removeprefix("autocontrol."), value.strip()))
    params = BenchParams(args.pv_kw, args.battery_kwh, args.efficiency, args.base_load_w, args.initial_soc,
                         not args.off_grid, args.step_sec, args.whatsminers, args.bitaxes, tuple(overrides),
                         args.reserve_soc)
    try:
        autocontrol_config("ratchet", 0.0, 0.0, params.overrides)
    except (TypeError, ValueError, AttributeError) as exc:
        ap.error(f"--set: {exc}")
    policies = POLICIES if args.policy == "both" else (args.policy,)
    wall0 = time.perf_counter()
    results = run(args.weather, args.span, policies, params)
    for r in results.values():
        r.pop("balance", None)
        if not args.json:
            for name, per_day in r.pop("changes_per_day_by_miner").items():
                r[f"changes/day {name}"] = per_day
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        title = (f"{args.weather.name}, span {args.span} ({next(iter(results.values()))['days']} days), "
                 f"PV {params.pv_kw} kWp, battery {params.battery_kwh} kWh, base load {params.base_load_w} W, "
                 f"{'grid-tied' if params.grid_tied else 'off-grid'}, step {params.step_sec:g} s"
                 f"{''.join(f', {k}={v}' for k, v in params.overrides)}; "
                 f"total wall {time.perf_counter() - wall0:.1f} s")
        print(table(results, title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
