"""Energy per miner, integrated from the polled power: an estimate for Home Assistant's energy sensors."""

from __future__ import annotations

import threading

# A gap between two readings longer than this (miner offline, app stopped, polling stuck) counts no energy:
# the power before it says nothing about the time in between.
MAX_GAP_S = 600.0


class EnergyMeter:
    """kWh per miner since this process started, from (reading time, watts) pairs.

    Each new reading adds the previous reading's power times the time between them (a
    left Riemann sum over the poll interval): exact for a miner that holds its power
    between polls, off by at most one interval's change otherwise. The counter starts
    at 0 with the process; Home Assistant's ``total_increasing`` reads a drop as a
    meter reset, so its long-term energy statistics stay right across restarts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kwh: dict[str, float] = {}
        self._last: dict[str, tuple[float, float | None]] = {}  # key -> (reading time, watts)

    def add(self, key: str, ts: float | None, watts: float | None) -> float:
        """Account one reading (a repeated ``ts`` is ignored) and return the key's kWh so far."""
        with self._lock:
            total = self._kwh.get(key, 0.0)
            if ts is None:
                return total
            last = self._last.get(key)
            if last is not None and ts <= last[0]:
                return total
            if last is not None and last[1] is not None and 0 < ts - last[0] <= MAX_GAP_S:
                total += max(last[1], 0.0) * (ts - last[0]) / 3.6e6
            self._kwh[key] = total
            self._last[key] = (ts, watts)
            return total

    def get(self, key: str) -> float:
        """kWh so far (0 for an unknown key)."""
        with self._lock:
            return self._kwh.get(key, 0.0)

    def forget(self, key: str) -> None:
        """Drop a removed miner's counter."""
        with self._lock:
            self._kwh.pop(key, None)
            self._last.pop(key, None)
