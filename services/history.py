"""Poll history: rounds buffered in memory, written together, and chart reads that include them.

Why a buffer: a transaction per poll round (and one per battery reading) dirtied
~130 pages of the SD card per round, 4 GB a day for 100 miners (issue 11). Rounds
and readings now wait here and go to the database every
``storage.flush_interval_sec`` in ONE transaction, which also folds the buckets that
closed into the roll-up tiers (database/series.py). A power cut loses at most that
window of chart history; control state, events and commands are written at once
by their own code and never pass through here.

Charts read the database and add what is still in the buffer, so they are as fresh
as the last poll round.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from database import series as ts
from database.db import Database
from services.config import StorageConfig

log = logging.getLogger(__name__)

# What a buffered row holds (time in seconds first, then the key), and the columns it is written to
# (the time and key packed into the id: database/series.py).
MINER_ROW = ("ts", "miner_id", "hashrate_hs", "power_w", "temp_c", "fan_rpm")
FLEET_ROW = ("ts", "algorithm", "hashrate_hs", "power_w", "online")
BATTERY_ROW = ("ts", "received_ts", "soc_pct", "pv_w", "load_w", "battery_w", "grid_w", "source", "time_from")
ROWS = {ts.MINER.name: MINER_ROW, ts.FLEET.name: FLEET_ROW, ts.BATTERY.name: BATTERY_ROW}
REMOVED_KEY = "history.removed_miners"  # state: ids of removed miners whose rows the maintenance deletes
LAST_SEEN_EVERY_S = 600  # miners.last_seen_ts is informational: written at most this often (and at close)
MAX_BUFFERED_ROWS = 500_000  # ~1,000 rounds of 500 miners: a database that keeps failing drops the oldest
SMALL_POWER_W = 100.0  # below this (a Bitaxe, a NerdMiner) history keeps power to 0.1 W, above to 1 W


def stored_reading(hashrate: float | None, power: float | None,
                   temp: float | None) -> tuple[float | None, float | None, float | None]:
    """A reading at the precision history keeps: H/s and watts whole (0.1 W under 100 W), degrees whole.

    Why: SQLite writes a REAL with no fraction as a 1-6 byte integer instead of 8 bytes, so a raw
    row shrinks from ~43 to ~30 bytes and a flush dirties ~30 % fewer pages of the SD card. What
    is lost is below what a chart shows: at most 0.5 W of an ASIC's kilowatts (0.05 % of a
    1 kW reading), 0.05 W of a Bitaxe's 15 W, half a degree, half a hash per second.
    """
    if hashrate is not None:
        hashrate = float(round(hashrate))
    if power is not None:
        power = float(round(power)) if abs(power) >= SMALL_POWER_W else round(power, 1)
    if temp is not None:
        temp = float(round(temp))
    return hashrate, power, temp


@dataclass
class _Bucket:
    """One chart bucket being summed: per mean column (sum, count), per max column the max, rows."""

    sums: list[float]
    counts: list[int]
    maxes: list[float | None]
    n: int = 0


@dataclass
class _Buffer:
    miner: list[tuple] = field(default_factory=list)
    fleet: list[tuple] = field(default_factory=list)
    battery: list[tuple] = field(default_factory=list)

    def size(self) -> int:
        return len(self.miner) + len(self.fleet) + len(self.battery)


class History:
    """The fleet's and the battery's time series: buffered writes, tiered reads."""

    def __init__(self, db: Database, storage: StorageConfig, *, settle_s: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        """settle_s: how long after a bucket closes a round that started in it may still arrive."""
        self.db = db
        self.storage = storage
        self.settle_s = settle_s
        self._clock = clock
        self._lock = threading.Lock()  # guards the buffer; never held while writing
        self._flush_lock = threading.Lock()  # one flush at a time
        self._buffer = _Buffer()
        self._last_seen: dict[int, float] = {}
        self._last_seen_written = clock()
        self.flushes = 0
        self.dropped = 0
        # Stores written in each flush's transaction and purged with the history (services/shares.py):
        # objects with pending() -> int, write(conn, now, final) and purge(conn, now, removed_miners).
        self.companions: list[Any] = []

    # --- writing ------------------------------------------------------------------------
    def add_round(self, at: float, rows: Iterable[tuple]) -> None:
        """Buffer one poll round: rows of (miner_id, algorithm, hashrate_hs, power_w, temp_c, fan_rpm)."""
        miner_rows: list[tuple] = []
        totals: dict[str, list] = {}
        for miner_id, algorithm, hashrate, power, temp, fan in rows:
            if not 0 < miner_id <= ts.MAX_MINER_ID:
                continue  # cannot be keyed (over a million miners added); never happens in practice
            hashrate, power, temp = stored_reading(hashrate, power, temp)
            miner_rows.append((at, miner_id, hashrate, power, temp, fan))
            total = totals.setdefault(algorithm, [None, None, 0])
            if hashrate is not None:
                total[0] = (total[0] or 0.0) + hashrate
            if power is not None:
                total[1] = (total[1] or 0.0) + power
            total[2] += 1
        if not miner_rows:
            return
        fleet_rows = [(at, algorithm, h, p, online) for algorithm, (h, p, online) in totals.items()]
        with self._lock:
            self._buffer.miner += miner_rows
            self._buffer.fleet += fleet_rows
            for row in miner_rows:
                self._last_seen[row[1]] = at
            self._bound()
        if self.storage.flush_interval_sec == 0:
            self.flush()

    def add_battery(self, reading: Any, received_ts: float) -> None:
        """Buffer one battery reading (a services.battery BatteryReading)."""
        row = (reading.measured_at, received_ts, reading.soc_pct, reading.pv_w, reading.load_w,
               reading.battery_w, reading.grid_w, reading.source, reading.measured_at_from)
        with self._lock:
            self._buffer.battery.append(row)
            self._bound()
        if self.storage.flush_interval_sec == 0:
            self.flush()

    def _bound(self) -> None:
        """Drop the oldest buffered rows past MAX_BUFFERED_ROWS (the database has been failing for long)."""
        over = self._buffer.size() - MAX_BUFFERED_ROWS
        if over > 0:
            cut = min(over, len(self._buffer.miner))
            del self._buffer.miner[:cut]
            self.dropped += cut

    def pending(self) -> int:
        """Rows waiting for the next flush."""
        with self._lock:
            return self._buffer.size()

    def flush(self, *, final: bool = False) -> dict[str, int]:
        """Write everything buffered and roll up the closed buckets in one transaction.

        On a database error the rows stay buffered for the next flush (the error is raised).
        ``final``: at shutdown, also store last-seen times now.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, _Buffer()
                now = self._clock()
                seen = None
                if self._last_seen and (final or now - self._last_seen_written >= LAST_SEEN_EVERY_S):
                    seen, self._last_seen = self._last_seen, {}
            if not batch.size() and not seen and not (final and self.companions) \
                    and not any(c.pending() for c in self.companions):
                return {"samples": 0, "fleet": 0, "battery": 0, "rolled": 0}  # nothing new: no transaction
            try:
                rolled = self._write(batch, seen, now, final)
            except BaseException:
                with self._lock:  # put them back in front of what arrived meanwhile
                    self._buffer.miner[:0] = batch.miner
                    self._buffer.fleet[:0] = batch.fleet
                    self._buffer.battery[:0] = batch.battery
                    if seen:
                        self._last_seen = {**seen, **self._last_seen}
                    self._bound()
                raise
            if seen is not None:
                self._last_seen_written = now
            self.flushes += 1
            return {"samples": len(batch.miner), "fleet": len(batch.fleet), "battery": len(batch.battery),
                    "rolled": rolled}

    def _write(self, batch: _Buffer, seen: dict[int, float] | None, now: float, final: bool = False) -> int:
        with self.db.write() as conn:
            conn.execute("BEGIN")
            try:
                if batch.miner:
                    ts.insert_raw(conn, ts.MINER, ("id", *MINER_ROW[2:]),
                                  [(ts.MINER.key_of(r[0], r[1]), *r[2:]) for r in batch.miner])
                    slots = {name: ts.algorithm_slot(conn, name) for name in {r[1] for r in batch.fleet}}
                    ts.insert_raw(conn, ts.FLEET, ("id", *FLEET_ROW[1:]),
                                  [(ts.FLEET.key_of(r[0], slots[r[1]]), *r[1:]) for r in batch.fleet])
                if batch.battery:
                    ts.insert_raw(conn, ts.BATTERY, ("id", *BATTERY_ROW[1:]),
                                  [(ts.BATTERY.key_of(r[0], 0), *r[1:]) for r in batch.battery])
                if seen:
                    conn.executemany("UPDATE miners SET last_seen_ts = ? WHERE id = ?",
                                     [(at, miner_id) for miner_id, at in seen.items()])
                for companion in self.companions:
                    companion.write(conn, now, final)
                rolled = sum(ts.roll_up(conn, series, now - self.settle_s) for series in ts.SERIES)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return rolled

    def checkpoint(self) -> tuple[int, int, int]:
        """Fold the WAL back into the database (PASSIVE: never waits for readers); SQLite's (busy, log, done)."""
        with self.db.write() as conn:
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return busy, frames, done

    def purge(self, now: float, removed_miners: list[int] | None = None) -> dict[str, int]:
        """Drop rows past each tier's retention, and every row of removed miners; returns counts."""
        storage = self.storage
        keep = {ts.RAW: storage.raw_retention_days, "5m": storage.rollup_retention_days,
                "1h": storage.hourly_retention_days, "1d": storage.daily_retention_days}
        counts = {"raw": 0, "rollups": 0, "removed": 0}
        with self.db.write() as conn:
            conn.execute("BEGIN")
            try:
                for series in ts.SERIES:
                    for tier in ts.tiers_of(series):
                        gone = ts.purge(conn, series, tier, now - keep[tier] * 86400)
                        counts["raw" if tier == ts.RAW else "rollups"] += gone
                if removed_miners:
                    counts["removed"] = ts.purge_keys(conn, ts.MINER, removed_miners)
                for companion in self.companions:
                    counts["rollups"] += companion.purge(conn, now, removed_miners)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return counts

    # --- reading ------------------------------------------------------------------------
    def oldest(self) -> float | None:
        """The oldest time of any fleet or battery history (for range=all), buffered rows included."""
        with self.db.read() as conn:
            times = [t for s in (ts.FLEET, ts.BATTERY) if (t := ts.oldest(conn, s)) is not None]
        with self._lock:
            times += [rows[0][0] for rows in (self._buffer.fleet, self._buffer.battery) if rows]
        return min(times) if times else None

    def plan(self, bucket_s: int) -> tuple[str, int]:
        """The tier a chart of ``bucket_s`` reads and the bucket rounded to a whole number of its rows."""
        tier = ts.RAW
        for label, size in ts.TIERS:
            if size <= bucket_s:
                tier = label
        size = ts.TIER_SIZE.get(tier, 0)
        return tier, (-(-bucket_s // size) * size if size else bucket_s)

    def fleet_chart(self, since: float, bucket_s: int) -> tuple[int, list[dict[str, Any]]]:
        """(bucket, rows of t, algorithm, hashrate_hs, power_w, online) for the fleet since ``since``."""
        bucket, rows = self._chart(ts.FLEET, since, bucket_s, None)
        return bucket, [{"t": t, "algorithm": key, "hashrate_hs": v["hashrate_hs"], "power_w": v["power_w"],
                         "online": v["online"]} for (t, key), v in rows]

    def miner_chart(self, miner_id: int, since: float, bucket_s: int) -> tuple[int, list[dict[str, Any]]]:
        """(bucket, rows of t, hashrate_hs, power_w, temp_c, fan_rpm) for one miner since ``since``."""
        bucket, rows = self._chart(ts.MINER, since, bucket_s, miner_id)
        return bucket, [{"t": t, "hashrate_hs": v["hashrate_hs"], "power_w": v["power_w"], "temp_c": v["temp_c"],
                         "fan_rpm": v["fan_rpm"]} for (t, _key), v in rows]

    def battery_chart(self, since: float, bucket_s: int) -> tuple[int, list[dict[str, Any]]]:
        """(bucket, rows of t, soc_pct, pv_w, load_w, battery_w, grid_w) since ``since``."""
        bucket, rows = self._chart(ts.BATTERY, since, bucket_s, None)
        return bucket, [{"t": t, **v} for (t, _key), v in rows]

    def power_sums(self, since: float, bucket_s: int) -> tuple[int, list[tuple[int, int, float, int]]]:
        """(bucket, rows of (t, miner_id, sum of the power readings in W, how many)) for every miner since ``since``, unordered.

        Energy = sum x poll interval: each reading stands for one round (services/energy_cost.py).
        Reads only the power columns of each row: two months of 200 miners are ~180,000 hourly rows,
        which the chart's every-column fold took 2.7 s over (bench/history.py "energy cost").
        """
        sums: dict[tuple[int, int], list] = {}

        def add(row: Any) -> None:
            count = row["power_w_n"]
            if count:
                cell = sums.get((row["t"], row["key"]))
                if cell is None:
                    sums[(row["t"], row["key"])] = [row["power_w_sum"], count]
                else:
                    cell[0] += row["power_w_sum"]
                    cell[1] += count

        bucket = self._walk(ts.MINER, since, bucket_s, None, add)
        waiting: dict[tuple[int, Any], _Bucket] = {}
        self._add_buffered(waiting, ts.MINER, since, bucket, None)
        for key, b in waiting.items():
            total, count = _power_sum(ts.MINER, b)
            if count:
                cell = sums.setdefault(key, [0.0, 0])
                cell[0] += total
                cell[1] += count
        return bucket, [(t, key, total, count) for (t, key), (total, count) in sums.items()]  # in no order

    def _chart(self, series: ts.Series, since: float, bucket_s: int,
               key_value: Any) -> tuple[int, list[tuple[tuple[int, Any], dict[str, Any]]]]:
        acc: dict[tuple[int, Any], _Bucket] = {}
        bucket = self._walk(series, since, bucket_s, key_value, lambda row: self._add_row(acc, series, row))
        self._add_buffered(acc, series, since, bucket, key_value)
        return bucket, [(k, self._finish(series, acc[k])) for k in sorted(acc, key=_sort_key)]

    def _walk(self, series: ts.Series, since: float, bucket_s: int, key_value: Any,
              add: Callable[[Any], None]) -> int:
        """Hand every stored bucket row since ``since`` to ``add``, each tier where it is the finest kept; the bucket."""
        tier, bucket = self.plan(bucket_s)
        with self.db.read() as conn:
            order = ts.tiers_of(series)
            # A tier that does not reach back to `since` (raw kept 3 days, a 1h chart after a short
            # raw retention) gives way to the next coarser one that does.
            while tier != order[-1]:
                first = ts.first_time(conn, series, tier)
                if first is not None and first <= since + ts.TIER_SIZE.get(tier, bucket):
                    break
                coarser = order[order.index(tier) + 1]
                older = ts.first_time(conn, series, coarser)
                if older is None or (first is not None and older + ts.TIER_SIZE[coarser] > first):
                    break  # no whole coarser bucket before the finer data begins: nothing older to add
                tier = coarser
                bucket = -(-bucket // ts.TIER_SIZE[tier]) * ts.TIER_SIZE[tier]
            cursor = since
            # The chosen tier up to its last rolled bucket, then each finer tier after it, then raw.
            for step in reversed(order[: order.index(tier) + 1]):
                until = None if step == ts.RAW else ts.rolled_until(conn, series, step)
                if until is not None and until <= cursor:
                    continue
                for row in ts.buckets(conn, series, step, cursor, until, bucket, key_value):
                    add(row)
                if until is not None:
                    cursor = until
        return bucket

    @staticmethod
    def _add_row(acc: dict, series: ts.Series, row: Any) -> None:
        b = acc.get((row["t"], row["key"]))
        if b is None:
            b = acc[(row["t"], row["key"])] = _Bucket([0.0] * len(series.means), [0] * len(series.means),
                                                      [None] * len(series.maxes))
        for i, col in enumerate(series.means):
            if row[f"{col}_n"]:
                b.sums[i] += row[f"{col}_sum"]
                b.counts[i] += row[f"{col}_n"]
        for i, col in enumerate(series.maxes):
            value = row[col]
            if value is not None and (b.maxes[i] is None or value > b.maxes[i]):
                b.maxes[i] = value
        b.n += row["n"]

    def _add_buffered(self, acc: dict, series: ts.Series, since: float, bucket: int, key_value: Any) -> None:
        """Sum the rows still waiting for a flush into the chart's buckets."""
        with self._lock:
            rows = list(getattr(self._buffer, series.name))
        index = {name: i for i, name in enumerate(ROWS[series.name])}
        key_at = 1 if series.name != ts.BATTERY.name else None  # miner_id or algorithm: what a chart groups by
        for raw in rows:
            if raw[0] < since or (key_value is not None and raw[key_at] != key_value):
                continue
            row: dict[str, Any] = {"t": int(raw[0] // bucket) * bucket,
                                   "key": raw[key_at] if key_at is not None else None, "n": 1}
            for col in series.means:
                value = raw[index[col]]
                row[f"{col}_sum"], row[f"{col}_n"] = (value, 1) if value is not None else (0.0, 0)
            for col in series.maxes:
                row[col] = raw[index[col]]
            self._add_row(acc, series, row)

    @staticmethod
    def _finish(series: ts.Series, b: _Bucket) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for i, col in enumerate(series.means):
            values[col] = b.sums[i] / b.counts[i] if b.counts[i] else None
        for i, col in enumerate(series.maxes):
            values[col] = b.maxes[i]
        return values


def _power_sum(series: ts.Series, b: _Bucket) -> tuple[float, int]:
    """A bucket's (sum of power readings, how many): what energy needs, where a chart wants the mean."""
    i = series.means.index("power_w")
    return b.sums[i], b.counts[i]


def _sort_key(key: tuple[int, Any]) -> tuple[int, str]:
    return key[0], "" if key[1] is None else str(key[1])
