"""The price layer: how far electricity prices move the solar policy's wish (a floor and a ceiling).

- Floor (grid mining): a miner whose break-even price (what its hashrate earns per kWh it
  burns, services/profitability) times ``margin`` is above the import price pays for its
  grid power: the floor is the share of the fleet such miners make up. Everything runs at
  or below ``always_below`` (negative prices: paid to consume) and in the day's
  ``cheapest_hours``. Miners that do not pay are pinned off while the floor decides, so
  the least efficient stop first as the price rises.
- Ceiling (PV mining): a kWh mined from PV is a kWh not exported; a miner that earns less
  than the export price is better off, so the ceiling leaves it out.
A miner whose break-even is unknown (no hashprice, no power reading) never starts grid
mining and is never stopped by the ceiling: unknown is not evidence. Stale prices: the
source's configured default stands in and the reason says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from services.power.allocator import MinerInput, nominal_power
from services.profitability import Hashprice, break_even, miner_figures
from services.config import PriceControlConfig
from services.power.decision import BatteryReading, PriceBand, fmt_pct

from .inputs import PriceInput


@dataclass(frozen=True)
class PriceLimits:
    """The band for the controller, and which miners to pin off when the floor or the ceiling decides."""

    band: PriceBand
    floor_off: frozenset[str]  # controllable miners that do not pay at the import price
    paying: frozenset[str]  # controllable miners that pay for grid power now
    ceiling_off: frozenset[str]  # miners that earn less than the export price
    hold: str | None = None  # why grid mining waits on the battery now (battery_hold)


def break_evens(miners: Sequence[MinerInput], hashprice: Hashprice | None,
                hashing: dict[str, tuple[float, float]] | None = None) -> dict[str, float | None]:
    """Each miner's break-even electricity price (main currency per kWh) at ``hashprice``.

    Measured hashrate and power while it mines, else its model's nominal figures
    (services/profitability miner_figures), else the figures ``hashing`` remembers from when
    it last hashed (updated here): an asleep miner keeps a break-even, so the price can wake
    it. None for other algorithms (no Bitcoin revenue) and when nothing is known.
    """
    result: dict[str, float | None] = {}
    for miner in miners:
        figures = miner_figures(miner)
        hashrate, power = figures.hashrate_hs, figures.power_w
        if hashing is not None:
            if figures.hashrate_basis == "measured" and figures.power_basis == "measured" and power:
                hashing[miner.ip] = (hashrate, power)
            elif (hashrate is None or power is None) and miner.ip in hashing:
                hashrate, power = hashing[miner.ip]
        if hashprice is not None and figures.sha256:
            result[miner.ip] = break_even(hashrate, power, hashprice)
    return result


def _fmt_price(value: float, unit: str) -> str:
    return f"{value:.4g} {unit}".strip()


def battery_hold(reading: BatteryReading | None, priority_soc: float, idle_w: float) -> str | None:
    """Why grid mining must wait on a battery site now (None: it may run).

    A hybrid inverter serves the miners from the battery first: below ``priority_soc``
    (autocontrol.surplus.priority_soc) "grid" mining would empty the battery and the floor
    would stop it at the emergency SOC. Below it grid mining goes on only while the site
    imports with the battery idle (both beyond ``idle_w``, autocontrol.surplus.probe_idle_w):
    the inverter holds its reserve and the grid feeds every load. An idle battery alone is no
    sign: at dawn PV can balance the house, and a 3.6 kW miner would then come from the battery
    (bench/price_year crossed the floor so).
    """
    if reading is None or reading.soc_pct is None or reading.soc_pct >= priority_soc:
        return None
    battery_w, grid_w = reading.battery_w, reading.grid_w
    if battery_w is not None and grid_w is not None and abs(battery_w) <= idle_w and grid_w > idle_w:
        return None
    return (f"grid mining waits: SOC {fmt_pct(reading.soc_pct)} below priority {fmt_pct(priority_soc)} "
            f"and the inverter not holding the battery (no import with the battery idle)")


def price_limits(cfg: PriceControlConfig, price: PriceInput | None, miners: Sequence[MinerInput],
                 controlled: frozenset[str], hot: frozenset[str] | set[str],
                 break_even: Mapping[str, float | None], hold: str | None = None,
                 grid_mining: frozenset[str] = frozenset()) -> PriceLimits | None:
    """The price band for this tick; None when the layer is off or there is no price at all.

    ``hold`` (battery_hold's reason): no grid-mining floor now, the export ceiling still applies.
    ``grid_mining``: the miners the floor kept on last tick (they stop only ``hysteresis_percent`` higher).
    """
    if not cfg.enabled or price is None or price.price_main is None:
        return None
    online = [m for m in miners if m.online and nominal_power(m)[0] is not None]
    rated = sum(nominal_power(m)[0] or 0.0 for m in online)
    if rated <= 0:
        return None
    fixed_w = sum(nominal_power(m)[0] or 0.0 for m in online if m.ip not in controlled)
    movable = [m for m in online if m.ip in controlled and m.ip not in hot]
    stale = f" (prices stale: default price; {price.reason})" if price.stale else ""
    shown = _fmt_price(price.price if price.price is not None else price.price_main, price.unit)

    def share(ips: Sequence[MinerInput]) -> float:
        return round(min(100.0, (fixed_w + sum(nominal_power(m)[0] or 0.0 for m in ips)) / rated * 100), 1)

    floor, floor_off, floor_why, paying_ips = 0.0, frozenset[str](), "", frozenset[str]()
    if cfg.grid and hold is None:
        if cfg.always_below is not None and price.price is not None and price.price <= cfg.always_below:
            floor = 100.0
            floor_why = f"price {shown} <= always_below {_fmt_price(cfg.always_below, price.unit)}: mine everything"
        elif cfg.cheapest_hours > 0 and price.cheapest is not None and price.cheapest(cfg.cheapest_hours):
            floor = 100.0
            floor_why = f"price {shown} is in the day's {cfg.cheapest_hours:g} cheapest hours: mine everything"
        else:
            keep = 1 + cfg.hysteresis_percent / 100  # a miner mining from the grid stops only this far above
            paying = [m for m in movable if (b := break_even.get(m.ip)) is not None
                      and b * cfg.margin * (keep if m.ip in grid_mining else 1) > price.price_main]
            paying_ips = frozenset(m.ip for m in paying)
            if paying:
                floor = share(paying)
                floor_off = frozenset(m.ip for m in movable if m not in paying)
                floor_why = (f"price {shown} below the break-even of {len(paying)} of {len(movable)} miners "
                             f"(x {cfg.margin:g}): mine from the grid -> {fmt_pct(floor)}")
    ceiling, ceiling_off, ceiling_why = 100.0, frozenset[str](), ""
    if cfg.export and price.export_main is not None:
        losing = [m for m in movable if (b := break_even.get(m.ip)) is not None and b * cfg.margin <= price.export_main]
        if losing:
            ceiling = share([m for m in movable if m not in losing])
            ceiling_off = frozenset(m.ip for m in losing)
            ceiling_why = (f"export pays {_fmt_price(price.export_main, 'per kWh')}, more than {len(losing)} miners "
                           f"earn: PV mining capped at {fmt_pct(ceiling)}")
    ceiling = max(ceiling, floor)
    return PriceLimits(PriceBand(floor, ceiling, floor_why + stale, ceiling_why + stale), floor_off, paying_ips,
                       ceiling_off, hold)
