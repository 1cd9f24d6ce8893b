"""Accepted and rejected shares per miner and pool over time, at the least cost to the SD card.

Miners report cumulative counters (since their boot or mining-process restart), so
history needs only the last value of each bucket: the shares of any span are the
differences between consecutive values (a value below the one before is a restart:
the counter began again at 0). One row per miner and pool per 5-minute bucket
(``shares_5m``, kept ``storage.rollup_retention_days``) and per hour (``shares_1h``,
``storage.hourly_retention_days``), and only for buckets in which the miner answered.
The rows are written inside the history flush's transaction (services/history.py
``companions``), never in a transaction of their own. A lost row (power cut before the
flush) loses resolution only: the next value still carries every share.

Which counters: the per-pool counters where the firmware keeps them (cgminer API,
Whatsminer, BOS+, Vnish REST, NMMiner); otherwise the miner's totals, counted for the
pool it works for now (AxeOS, NerdOS: one session total across primary and fallback).

Keys: ``id = (bucket start in minutes << 36) | (miners.id << 16) | share_pools.id``,
time first like every history table (database/series.py): a flush appends, a time
range is an id range, and one miner's rows in a bucket are one id range.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

TIERS = {"5m": 300, "1h": 3600}
POOL_BITS = 16
MINER_BITS = 20
KEY_BITS = POOL_BITS + MINER_BITS
MAX_POOL_ID = (1 << POOL_BITS) - 1
MAX_MINER_ID = (1 << MINER_BITS) - 1
FINE_SPAN_S = 3 * 86400  # ranges up to this read the 5-minute rows, longer ones the hourly rows
FORGET_AFTER_S = 2 * 3600  # a key not seen this long is dropped from memory (its rows are written)

Key = tuple[int, str, str]  # (miners.id, pool url, pool user)


@dataclass
class _Latest:
    t: float
    accepted: int | None
    rejected: int | None


def _minute(t: float, size_s: int) -> int:
    """The start of ``t``'s bucket of ``size_s`` seconds, in minutes since the epoch."""
    return int(t // size_s) * size_s // 60


def counters(status: Any) -> list[tuple[str, str, int | None, int | None]]:
    """(pool url, pool user, accepted, rejected) of one reading: per pool where the firmware counts so."""
    pools = list(getattr(status, "pools", None) or [])
    per_pool = [(p.url or "", p.user or "", p.accepted, p.rejected) for p in pools
                if p.accepted is not None or p.rejected is not None]
    if per_pool:
        # A pool that never got a share (a backup never used) costs a row a bucket for nothing.
        return [row for row in per_pool if row[2] or row[3]]
    if status.shares_accepted is None and status.shares_rejected is None:
        return []
    current = next((p for p in pools if p.active), pools[0] if pools else None)
    url, user = (current.url or "", current.user or "") if current is not None else ("", "")
    return [(url, user, status.shares_accepted, status.shares_rejected)]


def _delta(prev: int | None, value: int | None) -> int:
    """Shares between two readings of a cumulative counter (a lower value is a restart from 0)."""
    if value is None or prev is None:
        return 0
    return value - prev if value >= prev else value


class ShareLog:
    """Share counters: observed after each poll round, written with the history flush, read per range."""

    def __init__(self, db: Any, storage: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.storage = storage
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: dict[Key, _Latest] = {}
        self._pending: list[tuple[str, int, Key, int | None, int | None]] = []  # tier, minute, key, acc, rej
        self._written: dict[tuple[Key, str], int] = {}  # the last bucket written per key and tier
        self._pool_ids: dict[tuple[str, str], int] = {}
        self.dropped_pools = 0

    # --- observing ----------------------------------------------------------------------------
    def observe(self, records: Iterable[Any]) -> None:
        """Take the counters of every miner that answered (fleet subscriber: after each poll round)."""
        with self._lock:
            for record in records:
                status, at = record.status, record.last_seen_ts
                if status is None or not record.online or at is None or not 0 < record.id <= MAX_MINER_ID:
                    continue
                for url, user, accepted, rejected in counters(status):
                    key = (record.id, url, user)
                    prev = self._latest.get(key)
                    if prev is not None and at <= prev.t and (accepted, rejected) == (prev.accepted, prev.rejected):
                        continue  # the same reading again (a partial round, a subscriber call without a poll)
                    if prev is not None:
                        for tier, size in TIERS.items():
                            if _minute(prev.t, size) != _minute(at, size):  # its bucket closed: keep its last value
                                self._close(tier, _minute(prev.t, size), key, prev)
                    self._latest[key] = _Latest(at, accepted, rejected)

    def _close(self, tier: str, minute: int, key: Key, value: _Latest) -> None:
        if self._written.get((key, tier)) == minute:
            return
        self._written[(key, tier)] = minute
        self._pending.append((tier, minute, key, value.accepted, value.rejected))

    def pending(self) -> int:
        """Rows waiting for the next flush."""
        with self._lock:
            return len(self._pending)

    # --- writing (inside the history flush's transaction) -------------------------------------------
    def write(self, conn: Any, now: float, final: bool = False) -> int:
        """Insert the closed buckets' rows (all open ones too when ``final``); returns rows written."""
        with self._lock:
            for key, value in list(self._latest.items()):
                for tier, size in TIERS.items():
                    minute = _minute(value.t, size)
                    # A miner gone quiet: its bucket closes without a later reading to notice it.
                    if final or (minute * 60 + size) <= now - 30:
                        self._close(tier, minute, key, value)
                if value.t < now - FORGET_AFTER_S:
                    # Both its buckets are written: a removed miner or a pool no longer used leaves memory.
                    del self._latest[key]
                    for tier in TIERS:
                        self._written.pop((key, tier), None)
            rows, self._pending = self._pending, []
        try:
            by_tier: dict[str, list[tuple]] = {tier: [] for tier in TIERS}
            for tier, minute, (miner_id, url, user), accepted, rejected in rows:
                pool_id = self._pool_id(conn, url, user)
                if pool_id is None:
                    continue
                row_id = (minute << KEY_BITS) | (miner_id << POOL_BITS) | pool_id
                by_tier[tier].append((row_id, accepted, rejected))
            for tier, values in by_tier.items():
                if values:
                    # OR REPLACE: a bucket written at shutdown (final) and again after the restart.
                    conn.executemany(f"INSERT OR REPLACE INTO shares_{tier} (id, accepted, rejected) VALUES (?, ?, ?)",
                                     values)
        except BaseException:
            with self._lock:  # back in front of what came meanwhile: the flush is retried
                self._pending[:0] = rows
            raise
        return len(rows)

    def _pool_id(self, conn: Any, url: str, user: str) -> int | None:
        name = (url, user)
        pool_id = self._pool_ids.get(name)
        if pool_id is None:
            row = conn.execute("SELECT id FROM share_pools WHERE url = ? AND user = ?", name).fetchone()
            if row is None:
                pool_id = conn.execute("INSERT INTO share_pools (url, user) VALUES (?, ?)", name).lastrowid
            else:
                pool_id = row[0]
            self._pool_ids[name] = pool_id
        if pool_id > MAX_POOL_ID:
            self.dropped_pools += 1
            return None
        return pool_id

    def purge(self, conn: Any, now: float, removed_miners: list[int] | None = None) -> int:
        """Delete rows past each tier's retention and every row of removed miners; returns rows deleted."""
        keep = {"5m": self.storage.rollup_retention_days, "1h": self.storage.hourly_retention_days}
        gone = 0
        for tier in TIERS:
            cutoff = int((now - keep[tier] * 86400) // 60) << KEY_BITS
            gone += conn.execute(f"DELETE FROM shares_{tier} WHERE id < ?", (cutoff,)).rowcount
            if removed_miners:
                marks = ",".join("?" * len(removed_miners))
                gone += conn.execute(f"DELETE FROM shares_{tier} WHERE ((id >> {POOL_BITS}) & {MAX_MINER_ID}) "
                                     f"IN ({marks})", list(removed_miners)).rowcount
        return gone

    # --- reading ------------------------------------------------------------------------------
    def _tier_for(self, since: float, now: float) -> str:
        fine_from = now - self.storage.rollup_retention_days * 86400
        return "5m" if now - since <= FINE_SPAN_S and since >= fine_from else "1h"

    def _names(self, conn: Any) -> dict[int, tuple[str, str]]:
        return {row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, url, user FROM share_pools")}

    def _stored(self, since: float, now: float, miner_id: int | None) -> tuple[str, list[tuple[float, Key, Any, Any]]]:
        """(tier, rows of (bucket start s, key, accepted, rejected)) from one bucket before ``since`` to now.

        A row holds the last value of its bucket but is placed at the bucket's start, so a
        bucket's shares land in that bucket and a restart's first reading (later in the same
        bucket) sorts after the value written at shutdown.
        """
        tier = self._tier_for(since, now)
        size = TIERS[tier]
        first, last = _minute(since - size, size), _minute(now, size)
        with self.db.read() as conn:
            names = self._names(conn)
            if miner_id is None:
                cursor = conn.execute(f"SELECT id, accepted, rejected FROM shares_{tier} WHERE id >= ? AND id < ?",
                                      (first << KEY_BITS, (last + 1) << KEY_BITS))
            else:
                # One id range per bucket: a few hundred index seeks instead of a scan of every miner's rows.
                lo, hi = miner_id << POOL_BITS, (miner_id << POOL_BITS) | MAX_POOL_ID
                step = size // 60
                cursor = conn.execute(
                    f"WITH RECURSIVE b(m) AS (SELECT ? UNION ALL SELECT m + ? FROM b WHERE m + ? <= ?) "
                    f"SELECT s.id, s.accepted, s.rejected FROM b JOIN shares_{tier} s "
                    f"ON s.id BETWEEN ((b.m << {KEY_BITS}) | ?) AND ((b.m << {KEY_BITS}) | ?)",
                    (first, step, step, last, lo, hi))
            rows = []
            for row_id, accepted, rejected in cursor:
                name = names.get(row_id & MAX_POOL_ID, ("", ""))
                key = ((row_id >> POOL_BITS) & MAX_MINER_ID, name[0], name[1])
                rows.append((float((row_id >> KEY_BITS) * 60), key, accepted, rejected))
        return tier, rows

    def _series(self, since: float, now: float, miner_id: int | None) -> dict[Key, list[tuple[float, Any, Any]]]:
        """Per key, its values by time: stored rows, then what is in memory (unwritten rows, the latest)."""
        tier, rows = self._stored(since, now, miner_id)
        series: dict[Key, list[tuple[float, Any, Any]]] = {}
        for t, key, accepted, rejected in rows:
            series.setdefault(key, []).append((t, accepted, rejected))
        with self._lock:
            extra = [(float(minute * 60), key, acc, rej) for row_tier, minute, key, acc, rej in self._pending
                     if row_tier == tier]
            extra += [(v.t, key, v.accepted, v.rejected) for key, v in self._latest.items()]
        for t, key, accepted, rejected in extra:
            if miner_id is not None and key[0] != miner_id:
                continue
            series.setdefault(key, []).append((t, accepted, rejected))
        for values in series.values():
            values.sort(key=lambda v: v[0])
        return series

    def totals(self, since: float, now: float | None = None,
               miner_id: int | None = None) -> dict[Key, dict[str, int]]:
        """Per (miner id, url, user): accepted and rejected shares between ``since`` and now."""
        now = self._clock() if now is None else now
        out: dict[Key, dict[str, int]] = {}
        for key, values in self._series(since, now, miner_id).items():
            acc = rej = 0
            for (_t0, a0, r0), (t1, a1, r1) in zip(values, values[1:]):
                if t1 <= since:
                    continue  # both before the range: the later one is only its baseline
                acc += _delta(a0, a1)
                rej += _delta(r0, r1)
            out[key] = {"accepted": acc, "rejected": rej}
        return out

    def chart(self, miner_id: int, since: float, bucket_s: int,
              now: float | None = None) -> tuple[list[float], dict[tuple[str, str], dict[str, list[int]]]]:
        """(bucket starts, {(url, user): {"accepted": [...], "rejected": [...]}}) for one miner."""
        now = self._clock() if now is None else now
        first = int(since // bucket_s) * bucket_s
        times = [float(t) for t in range(first, int(now) + 1, bucket_s)]
        pools: dict[tuple[str, str], dict[str, list[int]]] = {}
        for (_id, url, user), values in self._series(since, now, miner_id).items():
            acc = [0] * len(times)
            rej = [0] * len(times)
            for (_t0, a0, r0), (t1, a1, r1) in zip(values, values[1:]):
                if t1 <= since:
                    continue
                i = min(len(times) - 1, max(0, int((t1 - first) // bucket_s)))
                acc[i] += _delta(a0, a1)
                rej[i] += _delta(r0, r1)
            pools[(url, user)] = {"accepted": acc, "rejected": rej}
        return times, pools
