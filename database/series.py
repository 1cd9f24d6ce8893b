"""Time series on flash: raw tables, roll-up tiers and bucketed reads (the SQL half of history).

Three series share one shape (docs/storage.md):

- ``miner``: per miner and full poll round (``samples``), keyed by ``miners.id``;
- ``fleet``: per round and algorithm, the totals of the miners that answered (``fleet_samples``),
  keyed by ``algorithms.slot``;
- ``battery``: per battery reading (``battery_samples``).

Each has tiers of 5 minutes, 1 hour and 1 day (``<series>_5m`` ...). A tier row keeps
the mean of each averaged value with how many readings made it (``n_<value>``), the
maximum of each peak value, and ``n`` readings in all, so a tier folds into the next
one exactly and a chart can combine rows of several tiers with sums and counts.

Keys: every table's ``id INTEGER PRIMARY KEY`` is ``(time << bits) | key``, time in
milliseconds in raw tables and bucket seconds in tiers. Rows therefore sort by time,
a flush appends at the end of each table (SQLite balances rowid appends by starting
a new full page; a WITHOUT ROWID table splits like an index and rewrote its
neighbours too: 10 pages a flush instead of 7 for 100 miners), and a time range is
a rowid range. A chart of one miner walks the fleet table's times (one row per
round or bucket) and looks up each ``(time << 20) | miner_id`` key.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Iterable, Sequence

RAW = "raw"
TIERS: tuple[tuple[str, int], ...] = (("5m", 300), ("1h", 3600), ("1d", 86400))
TIER_SIZE = dict(TIERS)
RAW_UNITS = 1000  # raw tables count time in milliseconds, tiers in seconds


@dataclass(frozen=True)
class Series:
    """One time series: its raw table, key width, label column, averaged and peak values."""

    name: str
    raw: str
    bits: int  # key bits below the time in every id
    label: str | None  # the column a chart groups by besides time (None: the key itself, or nothing)
    means: tuple[str, ...]
    maxes: tuple[str, ...]
    times_from: str | None = None  # series whose tables list every time this one has (for one key)

    def table(self, tier: str) -> str:
        """The table holding this series at ``tier`` (RAW or a TIERS label)."""
        return self.raw if tier == RAW else f"{self.name}_{tier}"

    @property
    def mask(self) -> int:
        """The key bits of an id."""
        return (1 << self.bits) - 1

    def key_of(self, time: float, key: int, tier: str = RAW) -> int:
        """The id of a row: its time (seconds) and key."""
        units = round(time * RAW_UNITS) if tier == RAW else int(time)
        return (units << self.bits) | key

    def bound(self, time: float, tier: str) -> int:
        """The smallest id at or after ``time`` (seconds) in ``tier`` (raw: the millisecond key_of gives it)."""
        units = round(time * RAW_UNITS) if tier == RAW else math.ceil(time)
        return units << self.bits

    def time_sql(self, tier: str, alias: str = "") -> str:
        """SQL: a row's time in seconds."""
        shifted = f"({alias}id >> {self.bits})" if self.bits else f"{alias}id"
        return f"({shifted} / {RAW_UNITS}.0)" if tier == RAW else shifted

    def key_sql(self, alias: str = "") -> str:
        """SQL: a row's key (0 when the series has none)."""
        return f"({alias}id & {self.mask})" if self.bits else "0"

    def group_sql(self, alias: str = "") -> str:
        """SQL: what a chart groups by besides time (the label column, the key, or NULL)."""
        if self.label:
            return f"{alias}{self.label}"
        return self.key_sql(alias) if self.bits else "NULL"


FLEET = Series("fleet", "fleet_samples", 8, "algorithm", ("hashrate_hs", "power_w"), ("online",))
MINER = Series("miner", "samples", 20, None, ("hashrate_hs", "power_w"), ("temp_c", "fan_rpm"), times_from="fleet")
BATTERY = Series("battery", "battery_samples", 0, None, ("soc_pct", "pv_w", "load_w", "battery_w", "grid_w"), ())
SERIES: tuple[Series, ...] = (MINER, FLEET, BATTERY)
BY_NAME = {series.name: series for series in SERIES}
MAX_MINER_ID = MINER.mask  # ids above this would not fit the key


def tiers_of(series: Series) -> list[str]:
    """RAW then the tier labels, finest first."""
    return [RAW, *(label for label, _ in TIERS)]


# --- aggregate expressions ---------------------------------------------------------------
def _fold_columns(series: Series, tier: str) -> str:
    """SELECT terms folding rows of ``tier`` into one tier row: label; mean, n per mean; max; n."""
    terms = [f"MAX({series.label})"] if series.label else []
    for col in series.means:
        if tier == RAW:
            terms += [f"AVG({col})", f"COUNT({col})"]
        else:  # a weighted mean; SUM(n)=0 divides to NULL in SQLite, as AVG of nothing is NULL
            terms += [f"SUM({col} * n_{col}) / SUM(n_{col})", f"SUM(n_{col})"]
    terms += [f"MAX({col})" for col in series.maxes]
    terms.append("COUNT(*)" if tier == RAW else "SUM(n)")
    return ", ".join(terms)


def _sum_columns(series: Series, tier: str, alias: str = "") -> str:
    """SELECT terms for a chart bucket: <col>_sum and <col>_n per mean, <col> per max, n."""
    p = f"{alias}." if alias else ""
    terms = []
    for col in series.means:
        if tier == RAW:
            terms += [f"SUM({p}{col}) AS {col}_sum", f"COUNT({p}{col}) AS {col}_n"]
        else:
            terms += [f"SUM({p}{col} * {p}n_{col}) AS {col}_sum", f"SUM({p}n_{col}) AS {col}_n"]
    terms += [f"MAX({p}{col}) AS {col}" for col in series.maxes]
    terms.append("COUNT(*) AS n" if tier == RAW else f"SUM({p}n) AS n")
    return ", ".join(terms)


def tier_columns(series: Series) -> list[str]:
    """Column names of a tier table, in order."""
    cols = ["id"] + ([series.label] if series.label else [])
    for col in series.means:
        cols += [col, f"n_{col}"]
    return cols + list(series.maxes) + ["n"]


# --- writing ------------------------------------------------------------------------------
def insert_raw(conn: sqlite3.Connection, series: Series, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """Append raw rows (inside the caller's transaction); ``columns`` start with ``id``."""
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    conn.executemany(f"INSERT OR REPLACE INTO {series.raw} ({names}) VALUES ({marks})", rows)


def algorithm_slot(conn: sqlite3.Connection, name: str) -> int:
    """The fleet key of an algorithm, numbered on first use (inside the caller's transaction)."""
    row = conn.execute("SELECT slot FROM algorithms WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return int(row[0])
    slot = conn.execute("SELECT COALESCE(MAX(slot), 0) + 1 FROM algorithms").fetchone()[0]
    if slot > FLEET.mask:
        raise ValueError(f"more than {FLEET.mask} algorithms")
    conn.execute("INSERT INTO algorithms (slot, name) VALUES (?, ?)", (slot, name))
    return int(slot)


def roll_up(conn: sqlite3.Connection, series: Series, upto: float) -> int:
    """Fold every bucket that closed before ``upto`` into each tier, finest first; returns rows written.

    A bucket is rolled once: each tier continues after its newest bucket. Rows that
    arrive later for a bucket already rolled stay in the finer table only.
    """
    written = 0
    source = RAW
    for label, size in TIERS:
        table = series.table(label)
        last = last_bucket(conn, series, label)
        start = last + size if last is not None else first_time(conn, series, source)
        end = int(upto // size) * size
        if start is not None and end > start:
            bucket = f"CAST({series.time_sql(source)} / {size} AS INTEGER) * {size}"
            key = f"(({bucket}) << {series.bits}) | {series.key_sql()}" if series.bits else bucket
            written += conn.execute(
                f"""INSERT OR REPLACE INTO {table} ({', '.join(tier_columns(series))})
                    SELECT {key} AS k, {_fold_columns(series, source)}
                    FROM {series.table(source)} WHERE id >= ? AND id < ? GROUP BY k""",
                (series.bound(start, source), series.bound(end, source)),
            ).rowcount
        source = label
    return written


def purge(conn: sqlite3.Connection, series: Series, tier: str, before: float) -> int:
    """Delete a tier's rows older than ``before``; returns how many went."""
    return conn.execute(f"DELETE FROM {series.table(tier)} WHERE id < ?", (series.bound(before, tier),)).rowcount


def purge_keys(conn: sqlite3.Connection, series: Series, keys: Sequence[int]) -> int:
    """Delete every row of the given keys (removed miners) from the raw table and each tier.

    The key is the low bits of the id, so this scans each table once: run by the
    hourly maintenance, not when the miner is removed.
    """
    if not keys or not series.bits:
        return 0
    marks = ", ".join("?" * len(keys))
    return sum(conn.execute(f"DELETE FROM {series.table(tier)} WHERE {series.key_sql()} IN ({marks})",
                            list(keys)).rowcount for tier in tiers_of(series))


# --- reading ------------------------------------------------------------------------------
def first_time(conn: sqlite3.Connection, series: Series, tier: str) -> float | None:
    """The oldest time (seconds) in one of the series' tables (None: empty)."""
    row = conn.execute(f"SELECT MIN(id) FROM {series.table(tier)}").fetchone()[0]
    return None if row is None else _time_of(series, tier, row)


def last_bucket(conn: sqlite3.Connection, series: Series, tier: str) -> int | None:
    """The start of a tier's newest bucket (None: the tier is empty)."""
    row = conn.execute(f"SELECT MAX(id) FROM {series.table(tier)}").fetchone()[0]
    return None if row is None else row >> series.bits


def _time_of(series: Series, tier: str, ident: int) -> float:
    units = ident >> series.bits
    return units / RAW_UNITS if tier == RAW else float(units)


def oldest(conn: sqlite3.Connection, series: Series) -> float | None:
    """The oldest time held in any of the series' tables (for range=all)."""
    times = [t for tier in tiers_of(series) if (t := first_time(conn, series, tier)) is not None]
    return min(times) if times else None


def rolled_until(conn: sqlite3.Connection, series: Series, tier: str) -> float | None:
    """The end of the newest bucket of a tier (None: the tier is empty)."""
    last = last_bucket(conn, series, tier)
    return None if last is None else last + TIER_SIZE[tier]


def buckets(conn: sqlite3.Connection, series: Series, tier: str, since: float, until: float | None,
            bucket_s: int, key_value: int | None = None) -> list[sqlite3.Row]:
    """Chart buckets of ``bucket_s`` from one tier over [since, until): t, key, sums, counts, maxes, n.

    ``bucket_s`` must be a multiple of the tier's size, so each tier row falls in one bucket.
    ``key_value``: one key only (one miner).
    """
    table = series.table(tier)
    bucket = int(bucket_s)

    def bounds(of: Series, alias: str) -> tuple[str, list[int]]:
        if until is None:
            return f"{alias}id >= ?", [of.bound(since, tier)]
        return f"{alias}id >= ? AND {alias}id < ?", [of.bound(since, tier), of.bound(until, tier)]

    if key_value is not None and series.times_from:
        # One miner: walk the fleet's times and look up (time << bits) | miner_id.
        times = BY_NAME[series.times_from]
        clause, args = bounds(times, "")
        frm = (f"(SELECT DISTINCT id >> {times.bits} AS tu FROM {times.table(tier)} WHERE {clause}) r "
               f"CROSS JOIN {table} s ON s.id = ((r.tu << {series.bits}) | ?)")
        args.append(key_value)
        where = ""
    else:
        clause, args = bounds(series, "s.")
        frm, where = f"{table} s", f"WHERE {clause}"
        if key_value is not None:
            where += f" AND {series.key_sql('s.')} = ?"
            args.append(key_value)
    return conn.execute(
        f"""SELECT CAST({series.time_sql(tier, 's.')} / {bucket} AS INTEGER) * {bucket} AS t,
                   {series.group_sql('s.')} AS key, {_sum_columns(series, tier, 's')}
            FROM {frm} {where} GROUP BY t, key ORDER BY t""",
        args,
    ).fetchall()
