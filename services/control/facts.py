"""What the rules see of each miner: online since when, temperature, hashrate and its own 1-hour average.

The 1-hour average is an exponentially weighted mean with a one-hour time constant,
updated once per control tick: one float per miner instead of an hour of samples
(500 miners x 120 ticks), and a board that drops out shows at once against it. It
skips ticks where the miner is offline or asleep (hashrate 0), so a night's sleep
does not make the morning's full hashrate look like a jump.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from services.rules import MinerFacts

AVERAGE_TAU_SEC = 3600.0


class MinerFactsTracker:
    """Per miner: since when it is offline, and the 1-hour average of its hashrate (memory only)."""

    def __init__(self) -> None:
        self._offline_since: dict[str, float] = {}
        self._average: dict[str, tuple[float, float]] = {}  # ip -> (average H/s, updated at)

    def update(self, records: Iterable[Any], now: float, fresh: Iterable[str] = ()) -> dict[str, MinerFacts]:
        """The facts of this tick from the fleet's records (MinerRecord); ``fresh`` = IPs with a fresh reading."""
        fresh = set(fresh)
        facts: dict[str, MinerFacts] = {}
        seen = set()
        for r in records:
            seen.add(r.ip)
            online = r.ip in fresh
            if online:
                self._offline_since.pop(r.ip, None)
            else:
                self._offline_since.setdefault(r.ip, r.last_seen_ts or now)
            status = r.status if online else None
            hashrate = status.hashrate_hs if status is not None else None
            facts[r.ip] = MinerFacts(ip=r.ip, name=r.name or r.ip, family=r.family,
                                     tags=tuple(getattr(r, "tags", ()) or ()), online=online,
                                     offline_since=self._offline_since.get(r.ip),
                                     temp_c=status.temp_c if status is not None else None,
                                     hashrate_hs=hashrate, avg_1h_hs=self._average_before(r.ip, hashrate, now))
        for ip in set(self._offline_since) - seen:
            del self._offline_since[ip]
        for ip in set(self._average) - seen:
            del self._average[ip]
        return facts

    def _average_before(self, ip: str, hashrate: float | None, now: float) -> float | None:
        """The average up to the previous tick (what this tick's hashrate is judged against), then fold it in."""
        before = self._average.get(ip)
        if hashrate is None or hashrate <= 0:
            return before[0] if before else None
        if before is None:
            self._average[ip] = (hashrate, now)
            return None  # no history yet: "below its average" cannot be judged
        average, at = before
        weight = 1.0 - math.exp(-max(0.0, now - at) / AVERAGE_TAU_SEC)
        self._average[ip] = (average + (hashrate - average) * weight, now)
        return average
