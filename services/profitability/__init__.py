"""Mining profitability: hashprice (mempool.space or configured), revenue and break-even per miner and fleet.

See docs/profitability.md. ``services/`` never imports Flask; the route is web/profitability.py.
Names are loaded on first use: services.config imports ``.config`` at start-up and must
not pull in the power package (``.fleet`` reads its model table) with it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "NetworkFigures": "config", "ProfitabilityConfig": "config",
    "MinerFigures": "fleet", "fleet_table": "fleet", "miner_figures": "fleet",
    "Hashprice": "hashprice", "block_subsidy_btc": "hashprice", "break_even": "hashprice",
    "btc_per_th_day": "hashprice", "revenue_per_hour": "hashprice",
    "MempoolClient": "mempool", "MempoolError": "mempool",
    "ProfitabilityService": "service",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """``from services.profitability import X``: import X's module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
