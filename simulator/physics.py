"""The small physical model behind every simulated miner: noise, heat, power and shares."""

from __future__ import annotations

import random
from dataclasses import dataclass

DIFF1_HASHES = {"sha256d": 2.0**32, "scrypt": 2.0**16}  # hashes per difficulty-1 share
AMBIENT_C = 25.0


def noisy(rng: random.Random, value: float, rel: float) -> float:
    """``value`` with gaussian noise of relative standard deviation ``rel``."""
    return value * (1.0 + rng.gauss(0.0, rel)) if value else 0.0


def dynamic_power(nominal_w: float, freq: float, freq0: float, mv: float, mv0: float) -> float:
    """CMOS switching power: P ~ f * V^2, scaled from the nominal point."""
    if freq0 <= 0 or mv0 <= 0:
        return 0.0
    return nominal_w * (freq / freq0) * (mv / mv0) ** 2


def chip_temperature(nominal_c: float, power_ratio: float, fan_pct: float, nominal_fan_pct: float) -> float:
    """Temperature above ambient scales with power; more fan cools a little.

    A fan 10 points above its usual duty takes about 4 % off the rise, which is
    the "a little" real small miners show (their heatsinks, not airflow, limit).
    """
    rise = (nominal_c - AMBIENT_C) * max(power_ratio, 0.0)
    fan_factor = 1.0 - 0.004 * (fan_pct - nominal_fan_pct)
    return AMBIENT_C + rise * min(max(fan_factor, 0.6), 1.4)


@dataclass(slots=True)
class ShareCounter:
    """Shares accepted/rejected since boot, grown lazily from the hashrate between reads."""

    accepted: int = 0
    rejected: int = 0
    hw_errors: int = 0
    diff_accepted: float = 0.0
    diff_rejected: float = 0.0
    best_share: float = 0.0  # best share difficulty this session
    last_share_at: float | None = None  # the miner clock (monotonic + skew) of the last share
    _frac: float = 0.0
    _frac_rej: float = 0.0
    _frac_hw: float = 0.0

    def advance(self, rng: random.Random, dt: float, hashrate_hs: float, diff: float, *, algorithm: str = "sha256d",
                reject_ratio: float = 0.003, hw_per_share: float = 0.02, now: float = 0.0) -> int:
        """Add the shares ``dt`` seconds at ``hashrate_hs`` would find at pool difficulty ``diff``."""
        if dt <= 0 or hashrate_hs <= 0 or diff <= 0:
            return 0
        expected = hashrate_hs * dt / (diff * DIFF1_HASHES.get(algorithm, 2.0**32))
        self._frac += expected * (1.0 - reject_ratio)
        self._frac_rej += expected * reject_ratio
        self._frac_hw += expected * hw_per_share
        new = int(self._frac)
        self._frac -= new
        rej = int(self._frac_rej)
        self._frac_rej -= rej
        hw = int(self._frac_hw)
        self._frac_hw -= hw
        if new:
            self.accepted += new
            self.diff_accepted += new * diff
            self.last_share_at = now
            # A share's difficulty d >= diff has P(d > x) = diff / x: draw the best of the new ones.
            for _ in range(min(new, 64)):
                self.best_share = max(self.best_share, diff / max(rng.random(), 1e-12))
        if rej:
            self.rejected += rej
            self.diff_rejected += rej * diff
        self.hw_errors += hw
        return new
