"""Hashprice and break-even maths: pure functions, no I/O.

Expected BTC per TH/s per day = 1e12 * 86400 / (difficulty * 2**32) * (subsidy + fees):
a hash finds a block with probability 1 / (difficulty * 2**32), and one TH/s tries
1e12 * 86400 hashes a day. Everything below is that number times the BTC price,
less the pool fee, scaled by a miner's hashrate and divided by its power.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

HALVING_INTERVAL = 210_000  # blocks between subsidy halvings
INITIAL_SUBSIDY_SATS = 50 * 100_000_000
SATS_PER_BTC = 100_000_000
HASHES_PER_TH_DAY = 1e12 * 86400


@dataclass(frozen=True)
class Hashprice:
    """Expected revenue of one TH/s, in ``currency``, and what it was computed from."""

    per_th_day: float  # currency per TH/s per day, after the pool fee
    per_th_hour: float
    currency: str
    source: str  # "mempool", "config" (network figures) or "config-hashprice"
    difficulty: float | None = None
    btc_price: float | None = None
    subsidy_btc: float | None = None
    fees_btc: float | None = None  # average fees per block
    pool_fee_percent: float = 0.0
    age_sec: float | None = None  # since the figures were fetched; 0 for configured ones
    stale: bool = False  # True: not fresh live data (a refresh failed, or the fallback is in use)
    error: str | None = None  # why it is stale, or the last refresh's failure
    fetched_at: float | None = None  # epoch seconds of the live reply; None for configured figures

    def to_dict(self) -> dict:
        """JSON view, amounts rounded to what a human reads (1e-6 of the currency)."""
        data = dataclasses.asdict(self)
        for key in ("per_th_day", "per_th_hour"):
            data[key] = round(data[key], 8)
        if data["age_sec"] is not None:
            data["age_sec"] = round(data["age_sec"])
        return data


def block_subsidy_btc(height: int) -> float:
    """Block subsidy at ``height``: 50 BTC halved every 210,000 blocks, in whole satoshis as consensus does."""
    if height < 0:
        raise ValueError(f"block height must be 0 or more, got {height}")
    halvings = height // HALVING_INTERVAL
    return (INITIAL_SUBSIDY_SATS >> halvings) / SATS_PER_BTC if halvings < 64 else 0.0


def btc_per_th_day(difficulty: float, subsidy_btc: float, fees_btc: float) -> float:
    """Expected BTC a day from one TH/s at this difficulty and block reward."""
    if not difficulty > 0:
        raise ValueError(f"difficulty must be above 0, got {difficulty}")
    return HASHES_PER_TH_DAY / (difficulty * 2**32) * (subsidy_btc + fees_btc)


def from_network(difficulty: float, subsidy_btc: float, fees_btc: float, btc_price: float,
                 pool_fee_percent: float, currency: str, source: str, **extra) -> Hashprice:
    """A Hashprice from network figures: BTC per TH/s per day x price x (1 - pool fee)."""
    per_day = btc_per_th_day(difficulty, subsidy_btc, fees_btc) * btc_price * (1 - pool_fee_percent / 100)
    return Hashprice(per_th_day=per_day, per_th_hour=per_day / 24, currency=currency, source=source,
                     difficulty=difficulty, btc_price=btc_price, subsidy_btc=subsidy_btc, fees_btc=fees_btc,
                     pool_fee_percent=pool_fee_percent, **extra)


def from_fixed(hashprice_day: float, pool_fee_percent: float, currency: str) -> Hashprice:
    """A Hashprice from a configured gross value (currency per TH/s per day, before the pool fee)."""
    per_day = hashprice_day * (1 - pool_fee_percent / 100)
    return Hashprice(per_th_day=per_day, per_th_hour=per_day / 24, currency=currency,
                     source="config-hashprice", pool_fee_percent=pool_fee_percent, age_sec=0.0)


def revenue_per_hour(hashrate_hs: float | None, hashprice: Hashprice | None) -> float | None:
    """Expected revenue per hour (currency) of ``hashrate_hs`` H/s; None when either is unknown."""
    if hashrate_hs is None or hashprice is None:
        return None
    return max(hashrate_hs, 0.0) / 1e12 * hashprice.per_th_hour


def break_even(hashrate_hs: float | None, power_w: float | None, hashprice: Hashprice | None) -> float | None:
    """Electricity price (currency per kWh) at which the miner's revenue equals its power cost.

    None when the hashrate, the power or the hashprice is unknown, or the power is 0:
    a break-even is never made up.
    """
    revenue = revenue_per_hour(hashrate_hs, hashprice)
    if revenue is None or power_w is None or power_w <= 0:
        return None
    return revenue / (power_w / 1000)
