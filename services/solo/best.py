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

import threading
import time
from typing import Any, Callable, Iterable

from database import queries

STATE_KEY = "solo.best"  # {miners.id: [best, since_ts]}


class BestLog:
    """Per miner: the highest share difficulty seen and since when the controller has watched."""

    def __init__(self, db: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        with db.read() as conn:
            stored = queries.get_state(conn, STATE_KEY) or {}
        self._best: dict[int, list[float]] = {int(k): [float(v[0]), float(v[1])] for k, v in stored.items()
                                              if isinstance(v, list) and len(v) == 2}
        self._dirty = False

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
                entry = self._best.get(record.id)
                if entry is None:
                    self._best[record.id] = [top, now]
                    self._dirty = True
                elif top > entry[0]:
                    entry[0] = top
                    self._dirty = True

    def get(self, miner_id: int) -> tuple[float, float] | None:
        """(best, watched since) for one miner, or None."""
        with self._lock:
            entry = self._best.get(miner_id)
            return (entry[0], entry[1]) if entry else None

    # --- a History companion ---------------------------------------------------------------
    def pending(self) -> int:
        """New bests never force a flush of their own: they wait for the next one."""
        return 0

    def write(self, conn: Any, now: float, final: bool = False) -> int:
        """Store the bests if one rose since the last write; returns 1 if it wrote."""
        with self._lock:
            if not self._dirty:
                return 0
            snapshot = {str(k): list(v) for k, v in self._best.items()}
            self._dirty = False
        try:
            queries.set_state(conn, STATE_KEY, snapshot)
        except BaseException:
            with self._lock:
                self._dirty = True
            raise
        return 1

    def purge(self, conn: Any, now: float, removed_miners: list[int] | None = None) -> int:
        """Forget removed miners; returns how many."""
        if not removed_miners:
            return 0
        with self._lock:
            gone = [m for m in removed_miners if self._best.pop(m, None) is not None]
            if gone:
                self._dirty = True
        if gone:
            self.write(conn, now)
        return len(gone)
