"""The best share each miner ever reported, kept by the controller for firmware that keeps none.

cgminer and its families (stock Antminer, Avalon, Whatsminer API 2, Vnish, BOSminer) only
report the best share since the mining process started (``best_session_difficulty``): a
restart forgets it, so "all-time" is lost exactly on the miners people run solo for years
(an Avalon Nano 3S, an S9 on ckpool). This keeps the highest value seen per miner, from
either field, since the controller first saw it.

Writes: the values live in memory and go to the ``state`` table only when one rose, inside
the history flush's transaction (a History companion, services/history.py), never in a
transaction of their own; a power cut loses at most one flush interval of new bests, and
the firmware's own values come back at the next poll anyway.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable

from services.state_memo import StateMemo

STATE_KEY = "solo.best"  # {miners.id: [best, since_ts]}


class BestLog(StateMemo):
    """Per miner: the highest share difficulty seen and since when the controller has watched."""

    key = STATE_KEY

    def __init__(self, db: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        super().__init__(db)

    def _load(self, stored: Any) -> list[float] | None:
        return [float(stored[0]), float(stored[1])] if isinstance(stored, list) and len(stored) == 2 else None

    def _dump(self, value: list[float]) -> list[float]:
        return list(value)

    def observe(self, records: Iterable[Any]) -> None:
        """Take every answering miner's best values (fleet subscriber: after each poll round)."""
        now = self._clock()
        with self._lock:
            for record in records:
                status = record.status
                if status is None or not record.online:
                    continue
                values = [v for v in (status.best_difficulty, status.best_session_difficulty)
                          if isinstance(v, (int, float)) and v > 0]
                if not values:
                    continue
                top = max(values)
                entry = self._values.get(record.id)
                if entry is None:
                    self._values[record.id] = [top, now]
                    self._dirty = True
                elif top > entry[0]:
                    entry[0] = top
                    self._dirty = True

    def get(self, miner_id: int) -> tuple[float, float] | None:
        """(best, watched since) for one miner, or None."""
        with self._lock:
            entry = self._values.get(miner_id)
            return (entry[0], entry[1]) if entry else None

