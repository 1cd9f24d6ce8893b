"""The ``profitability`` section of config.yaml: where the hashprice comes from, typed and frozen.

``source: fixed`` (the default) never touches the network: the hashprice is
``hashprice`` if set, else it is computed from the ``network`` figures, else
there is none. ``source: mempool`` reads mempool.space's public REST API on a
schedule and falls back to the last good reply, then to the ``network`` figures.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

SOURCES = ("fixed", "mempool")
# The currencies of mempool.space's GET /api/v1/prices (its API docs' sample:
# time, USD, EUR, GBP, CAD, CHF, AUD, JPY). Others need network.btc_price.
MEMPOOL_CURRENCIES = ("USD", "EUR", "GBP", "CAD", "CHF", "AUD", "JPY")
CURRENT_SUBSIDY_BTC = 3.125  # block subsidy since the April 2024 halving (block 840,000)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _positive(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and value > 0)


@dataclass(frozen=True)
class NetworkFigures:
    """Fixed network figures for an offline Pi, and the fallback of the live source."""

    difficulty: float | None = None  # network difficulty, e.g. 1.1e14
    btc_price: float | None = None  # price of one BTC in profitability.currency
    fees_btc: float = 0.0  # average transaction fees per block, BTC
    subsidy_btc: float = CURRENT_SUBSIDY_BTC  # block subsidy, BTC (the live source computes it from the height)

    @property
    def complete(self) -> bool:
        """True when a hashprice can be computed from these figures alone."""
        return self.difficulty is not None and self.btc_price is not None

    def validate(self) -> None:
        _check(_positive(self.difficulty), f"difficulty: must be above 0, got {self.difficulty}")
        _check(_positive(self.btc_price), f"btc_price: must be above 0, got {self.btc_price}")
        _check(0 <= self.fees_btc <= 50, f"fees_btc: must be 0-50 BTC per block, got {self.fees_btc}")
        _check(0 <= self.subsidy_btc <= 50, f"subsidy_btc: must be 0-50 BTC, got {self.subsidy_btc}")


@dataclass(frozen=True)
class ProfitabilityConfig:
    """Hashprice source, currency and pool fee (docs/profitability.md)."""

    # "fixed" (default): no network, ever; "mempool": mempool.space's public API.
    # The default is fixed so a fresh install (and every test) makes no call to a third party
    # unless asked; the config.yaml shipped by install.sh sets mempool.
    source: str = "fixed"
    currency: str = "USD"  # ISO code of every amount shown; the electricity price must be in it too
    pool_fee_percent: float = 2.0  # taken off the revenue (FPPS pools: about 2-4 %)
    hashprice: float | None = None  # fixed hashprice, currency per TH/s per day before the pool fee
    network: NetworkFigures = field(default_factory=NetworkFigures)
    base_url: str = "https://mempool.space/api"  # a self-hosted mempool instance works too; tests use loopback
    refresh_min: float = 60  # one refresh per hour: difficulty moves every ~2 weeks, fees and price slowly
    timeout_sec: float = 10  # per HTTP call
    fee_blocks: int = 144  # average fees over this many recent blocks (144 = about a day)
    max_age_hours: float = 24  # the last good live value is used this long after refreshes start failing

    def validate(self) -> None:
        _check(self.source in SOURCES, f"source: must be {' or '.join(SOURCES)}, got {self.source!r}")
        _check(re.fullmatch(r"[A-Z]{3}", self.currency) is not None,
               f"currency: must be a 3-letter ISO code in capitals like USD or EUR, got {self.currency!r}")
        _check(0 <= self.pool_fee_percent < 100, f"pool_fee_percent: must be 0 to below 100, got {self.pool_fee_percent}")
        _check(self.hashprice is None or (math.isfinite(self.hashprice) and self.hashprice >= 0),
               f"hashprice: must be 0 or more, got {self.hashprice}")
        _check(self.base_url.startswith(("http://", "https://")),
               f"base_url: must start with http:// or https://, got {self.base_url!r}")
        _check(5 <= self.refresh_min <= 1440, f"refresh_min: must be 5-1440, got {self.refresh_min}")
        _check(0.5 <= self.timeout_sec <= 60, f"timeout_sec: must be 0.5-60, got {self.timeout_sec}")
        _check(1 <= self.fee_blocks <= 1000, f"fee_blocks: must be 1-1000, got {self.fee_blocks}")
        _check(1 <= self.max_age_hours <= 168, f"max_age_hours: must be 1-168, got {self.max_age_hours}")
        if self.source == "mempool":
            # A fixed hashprice means "no network at all": both at once is a contradiction.
            _check(self.hashprice is None,
                   "hashprice: a fixed hashprice uses no network; remove it or set source: fixed")
            _check(self.currency in MEMPOOL_CURRENCIES or self.network.btc_price is not None,
                   f"currency: mempool.space prices BTC in {', '.join(MEMPOOL_CURRENCIES)} only; "
                   f"for {self.currency} set network.btc_price")
