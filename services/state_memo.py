"""Small per-miner memories kept in the ``state`` table and written with the history flush.

Values that only ever rise (a miner's best share, its learned nominal power) live in
memory; a History companion (services/history.py ``companions``) writes the whole map
to one state key inside the flush's own transaction, only when something changed, and
never forces a flush of its own: the SD card sees no extra transaction, and a power cut
loses at most one flush interval of changes.
"""

from __future__ import annotations

import threading
from typing import Any, Iterable

from database import queries


class StateMemo:
    """Per miner id, a value kept under ``key`` in the state table; subclasses say how it is shown and stored."""

    key = ""  # the state table key

    def __init__(self, db: Any = None) -> None:
        self._lock = threading.Lock()
        stored: dict = {}
        if db is not None:
            with db.read() as conn:
                stored = queries.get_state(conn, self.key) or {}
        self._values: dict[int, Any] = {}
        for k, v in stored.items():
            value = self._load(v)
            if value is not None:
                self._values[int(k)] = value
        self._dirty = False

    def _load(self, stored: Any) -> Any:
        """One stored value as kept in memory, or None to drop it (a subclass checks its shape)."""
        return stored

    def _dump(self, value: Any) -> Any:
        """One value as stored (JSON)."""
        return value

    def _forget(self, miner_ids: Iterable[int]) -> None:
        """Drop any other per-miner memory of removed miners (called under the lock)."""

    # --- a History companion ---------------------------------------------------------------
    def pending(self) -> int:
        """A change never forces a flush of its own: it waits for the next one."""
        return 0

    def write(self, conn: Any, now: float, final: bool = False) -> int:
        """Store the map if a value changed since the last write; returns 1 if it wrote."""
        with self._lock:
            if not self._dirty:
                return 0
            snapshot = {str(k): self._dump(v) for k, v in self._values.items()}
            self._dirty = False
        try:
            queries.set_state(conn, self.key, snapshot)
        except BaseException:
            with self._lock:
                self._dirty = True  # the next flush tries again
            raise
        return 1

    def purge(self, conn: Any, now: float, removed_miners: Iterable[int] | None = None) -> int:
        """Forget removed miners; returns how many had a value."""
        if not removed_miners:
            return 0
        removed = list(removed_miners)
        with self._lock:
            gone = [m for m in removed if self._values.pop(m, None) is not None]
            self._forget(removed)
            if gone:
                self._dirty = True
        if gone:
            self.write(conn, now)
        return len(gone)
