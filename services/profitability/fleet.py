"""Revenue, cost, profit and break-even per miner and for the fleet, from records and a hashprice.

A miner that is mining counts at its measured hashrate and power. One that is not
(asleep, just woken, offline) counts at what it would do if woken: its last
reported expected hashrate or its model's nominal figures (services/power/model_power.py),
and a per-miner ``nominal_w`` override when there is one. A power that nothing
tells (firmware reports none, model unknown) stays None, and so does its break-even.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.power.model_power import lookup_model

from .hashprice import Hashprice, break_even, revenue_per_hour

SHA256D = "sha256d"  # the hashprice is Bitcoin's: other algorithms earn nothing here


@dataclass(frozen=True)
class MinerFigures:
    """What one miner's economics are computed from."""

    ip: str
    name: str | None
    model: str | None
    online: bool
    mining: bool  # online and hashing now
    hashrate_hs: float | None
    power_w: float | None
    hashrate_basis: str | None  # "measured", "expected" (last reading's nominal) or "nominal" (model table)
    power_basis: str | None  # "measured", "override" (nominal_w) or "nominal" (model table)
    sha256: bool  # False: another algorithm (scrypt): no Bitcoin revenue


def _field(record: Any, name: str) -> Any:
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)


def _readings(record: Any) -> tuple[bool, Any, Any, Any, Any, Any]:
    """(online, model, hashrate_hs, power_w, expected_hashrate_hs, nominal_w) of a record, input or mapping."""
    online_field = _field(record, "online")
    status = None if isinstance(record, Mapping) else _field(record, "status")
    if status is not None or hasattr(record, "driver"):  # a MinerRecord: readings live in .status
        online = bool(online_field)  # None = not polled yet: not mining
        model = (status.model if status is not None and status.model else None) or _field(record, "model")
        if status is None:
            return online, model, None, None, None, None
        # Offline: the last good reading is identity only, never a current hashrate or power.
        hashrate, power = (status.hashrate_hs, status.power_w) if online else (None, None)
        return online, model, hashrate, power, status.expected_hashrate_hs, None
    online = True if online_field is None else bool(online_field)
    return (online, _field(record, "model"), _field(record, "hashrate_hs"), _field(record, "power_w"), None,
            _field(record, "nominal_w"))


def miner_figures(record: Any) -> MinerFigures:
    """Figures of a fleet record (services.miner_state.MinerRecord), an allocator MinerInput, or a mapping.

    A MinerRecord is read through its last good ``status``; anything else through
    its ``hashrate_hs``, ``power_w``, ``nominal_w``, ``online``, ``model`` and ``family``
    (a caller's own figures are taken as given).
    """
    online, model, hashrate, power, expected, nominal_override = _readings(record)
    table = lookup_model(_field(record, "family") or "", model)
    algorithm = _field(record, "algorithm") or SHA256D
    sha256 = algorithm == SHA256D and (table is None or table.algorithm == SHA256D)
    measured = bool(hashrate and hashrate > 0)

    if measured:
        hashrate_used, hashrate_basis = hashrate, "measured"
    elif expected:
        hashrate_used, hashrate_basis = expected, "expected"
    elif table is not None and table.hashrate_ths:
        hashrate_used, hashrate_basis = table.hashrate_ths * 1e12, "nominal"
    else:
        hashrate_used, hashrate_basis = None, None

    if measured and power is not None:
        power_used, power_basis = float(power), "measured"
    elif nominal_override:
        power_used, power_basis = float(nominal_override), "override"
    elif table is not None:
        power_used, power_basis = table.nominal_w, "nominal"
    else:
        power_used, power_basis = None, None
    return MinerFigures(ip=str(_field(record, "ip") or ""), name=_field(record, "name"), model=model,
                        online=online, mining=online and measured, hashrate_hs=hashrate_used, power_w=power_used,
                        hashrate_basis=hashrate_basis, power_basis=power_basis, sha256=sha256)


def _r(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def miner_row(fig: MinerFigures, hashprice: Hashprice | None, price_main: float | None) -> dict[str, Any]:
    """One miner's row: revenue, cost and profit per hour at ``price_main`` (currency per kWh), break-even."""
    revenue = revenue_per_hour(fig.hashrate_hs, hashprice) if fig.sha256 else None
    cost = fig.power_w / 1000 * price_main if fig.power_w is not None and price_main is not None else None
    profit = revenue - cost if revenue is not None and cost is not None else None
    return {
        "ip": fig.ip, "name": fig.name, "model": fig.model, "online": fig.online, "mining": fig.mining,
        "hashrate_hs": fig.hashrate_hs, "power_w": fig.power_w,
        "hashrate_basis": fig.hashrate_basis, "power_basis": fig.power_basis, "sha256": fig.sha256,
        "revenue_per_hour": _r(revenue), "cost_per_hour": _r(cost), "profit_per_hour": _r(profit),
        "break_even": _r(break_even(fig.hashrate_hs, fig.power_w, hashprice) if fig.sha256 else None),
    }


def _totals(rows: list[dict[str, Any]], price_main: float | None) -> dict[str, Any]:
    """Sums over rows whose revenue and power are both known; break-even = sum revenue / sum kW."""
    counted = [r for r in rows if r["revenue_per_hour"] is not None and r["power_w"] is not None]
    revenue = sum(r["revenue_per_hour"] for r in counted)
    power = sum(r["power_w"] for r in counted)
    cost = power / 1000 * price_main if price_main is not None else None
    return {
        "miners": len(counted),
        "hashrate_hs": sum(r["hashrate_hs"] for r in counted),
        "power_w": power,
        "revenue_per_hour": _r(revenue),
        "cost_per_hour": _r(cost),
        "profit_per_hour": _r(revenue - cost) if cost is not None else None,
        "break_even": _r(revenue / (power / 1000)) if power > 0 else None,
    }


def fleet_table(records: Iterable[Any], hashprice: Hashprice | None, price_main: float | None) -> dict[str, Any]:
    """Per-miner rows and totals: ``all`` (every miner with known figures, sleepers at nominal) and ``now`` (mining)."""
    rows = [miner_row(miner_figures(r), hashprice, price_main) for r in records]
    return {
        "miners": rows,
        "fleet": _totals(rows, price_main),
        "fleet_now": _totals([r for r in rows if r["mining"]], price_main),
        "not_counted": [r["ip"] for r in rows if r["revenue_per_hour"] is None or r["power_w"] is None],
    }
