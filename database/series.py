"""Time series on flash: raw tables, roll-up tiers and bucketed reads (the SQL half of history).

Three series share one shape (docs/storage.md):

- ``miner``: per miner and round (``samples``), split by ``miner_id``;
- ``fleet``: per round and algorithm, the totals of the miners that answered (``fleet_samples``);
- ``battery``: per battery reading (``battery_samples``).

Each has tiers of 5 minutes, 1 hour and 1 day (``<series>_5m`` ...). A tier row keeps
the mean of each averaged value with how many readings made it (``n_<value>``), the
maximum of each peak value, and ``n`` readings in all, so a tier folds into the next
one exactly and a chart can combine rows of several tiers with sums and counts.

Every table is clustered by time (time first in the primary key): new rows go to the
end of each table, which is what keeps a flush to a few pages on an SD card. A chart
of one miner therefore does not scan the miner's rows by index (there is none): it
walks the fleet table's times, which holds one row per round, and seeks each
``(time, miner_id)`` key (``_KEYED_BY_TIME``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Iterable, Sequence

RAW = "raw"
TIERS: tuple[tuple[str, int], ...] = (("5m", 300), ("1h", 3600), ("1d", 86400))
TIER_SIZE = dict(TIERS)


@dataclass(frozen=True)
class Series:
    """One time series: its raw table, the column splitting it, its averaged and peak values."""

    name: str
    raw: str
    key: str | None
    means: tuple[str, ...]
    maxes: tuple[str, ...]
    times_from: str | None = None  # series whose tables list every time this one has (for keyed reads)

    def table(self, tier: str) -> str:
        """The table holding this series at ``tier`` (RAW or a TIERS label)."""
        return self.raw if tier == RAW else f"{self.name}_{tier}"

    @staticmethod
    def time_col(tier: str) -> str:
        """The time column of a tier's table."""
        return "ts" if tier == RAW else "bucket_ts"


FLEET = Series("fleet", "fleet_samples", "algorithm", ("hashrate_hs", "power_w"), ("online",))
MINER = Series("miner", "samples", "miner_id", ("hashrate_hs", "power_w"), ("temp_c", "fan_rpm"), times_from="fleet")
BATTERY = Series("battery", "battery_samples", None, ("soc_pct", "pv_w", "load_w", "battery_w", "grid_w"), ())
SERIES: tuple[Series, ...] = (MINER, FLEET, BATTERY)
BY_NAME = {series.name: series for series in SERIES}


def tiers_of(series: Series) -> list[str]:
    """RAW then the tier labels, finest first."""
    return [RAW, *(label for label, _ in TIERS)]


# --- aggregate expressions ---------------------------------------------------------------
def _fold_columns(series: Series, tier: str) -> str:
    """SELECT terms folding rows of ``tier`` into one tier row: mean, n per mean; max; n."""
    terms = []
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
    terms.append(f"COUNT(*) AS n" if tier == RAW else f"SUM({p}n) AS n")
    return ", ".join(terms)


def tier_columns(series: Series) -> list[str]:
    """Column names of a tier table, in order."""
    cols = ["bucket_ts"] + ([series.key] if series.key else [])
    for col in series.means:
        cols += [col, f"n_{col}"]
    return cols + list(series.maxes) + ["n"]


# --- writing ------------------------------------------------------------------------------
def insert_raw(conn: sqlite3.Connection, series: Series, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """Append raw rows (inside the caller's transaction)."""
    names = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    conn.executemany(f"INSERT OR REPLACE INTO {series.raw} ({names}) VALUES ({marks})", rows)


def roll_up(conn: sqlite3.Connection, series: Series, upto: float) -> int:
    """Fold every bucket that closed before ``upto`` into each tier, finest first; returns rows written.

    A bucket is rolled once: each tier continues after its newest bucket. Rows that
    arrive later for a bucket already rolled stay in the finer table only.
    """
    written = 0
    source = RAW
    for label, size in TIERS:
        table = series.table(label)
        last = conn.execute(f"SELECT MAX(bucket_ts) FROM {table}").fetchone()[0]
        start = last + size if last is not None else first_time(conn, series, source)
        end = int(upto // size) * size
        if start is not None and end > start:
            key = f", {series.key}" if series.key else ""
            src, col = series.table(source), series.time_col(source)
            written += conn.execute(
                f"""INSERT OR REPLACE INTO {table} ({', '.join(tier_columns(series))})
                    SELECT CAST({col} / {size} AS INTEGER) * {size} AS b{key}, {_fold_columns(series, source)}
                    FROM {src} WHERE {col} >= ? AND {col} < ? GROUP BY b{key}""",
                (start, end),
            ).rowcount
        source = label
    return written


def purge(conn: sqlite3.Connection, series: Series, tier: str, before: float) -> int:
    """Delete a tier's rows older than ``before``; returns how many went."""
    col = series.time_col(tier)
    return conn.execute(f"DELETE FROM {series.table(tier)} WHERE {col} < ?", (before,)).rowcount


def purge_keys(conn: sqlite3.Connection, series: Series, keys: Sequence[int]) -> int:
    """Delete every row of the given keys (removed miners) from the raw table and each tier.

    There is no index by key, so this scans each table once: run by the hourly
    maintenance, not when the miner is removed.
    """
    if not keys or series.key is None:
        return 0
    marks = ", ".join("?" * len(keys))
    return sum(conn.execute(f"DELETE FROM {series.table(tier)} WHERE {series.key} IN ({marks})",
                            list(keys)).rowcount for tier in tiers_of(series))


# --- reading ------------------------------------------------------------------------------
def first_time(conn: sqlite3.Connection, series: Series, tier: str) -> float | None:
    """The oldest time in one of the series' tables (None: empty)."""
    col = series.time_col(tier)
    return conn.execute(f"SELECT MIN({col}) FROM {series.table(tier)}").fetchone()[0]


def oldest(conn: sqlite3.Connection, series: Series) -> float | None:
    """The oldest time held in any of the series' tables (for range=all)."""
    times = [t for tier in tiers_of(series) if (t := first_time(conn, series, tier)) is not None]
    return min(times) if times else None


def rolled_until(conn: sqlite3.Connection, series: Series, tier: str) -> float | None:
    """The end of the newest bucket of a tier (None: the tier is empty)."""
    last = conn.execute(f"SELECT MAX(bucket_ts) FROM {series.table(tier)}").fetchone()[0]
    return None if last is None else last + TIER_SIZE[tier]


def buckets(conn: sqlite3.Connection, series: Series, tier: str, since: float, until: float | None,
            bucket_s: int, key_value: int | str | None = None) -> list[sqlite3.Row]:
    """Chart buckets of ``bucket_s`` from one tier over [since, until): t, key, sums, counts, maxes, n.

    ``bucket_s`` must be a multiple of the tier's size, so each tier row falls in one bucket.
    """
    col = series.time_col(tier)
    table = series.table(tier)

    def bounds(alias: str) -> str:
        return f"{alias}{col} >= ?" + (f" AND {alias}{col} < ?" if until is not None else "")

    args: list = [since] + ([until] if until is not None else [])
    key = f", s.{series.key} AS key" if series.key else ", NULL AS key"
    group = f", s.{series.key}" if series.key else ""
    if key_value is not None and series.times_from:
        # One miner: walk the fleet's times and seek (time, miner_id) in the time-clustered table.
        times = BY_NAME[series.times_from].table(tier)
        frm = (f"(SELECT DISTINCT {col} FROM {times} WHERE {bounds('')}) r "
               f"CROSS JOIN {table} s ON s.{col} = r.{col} AND s.{series.key} = ?")
        where = ""
    else:
        frm = f"{table} s"
        where = f"WHERE {bounds('s.')}" + (f" AND s.{series.key} = ?" if key_value is not None else "")
    if key_value is not None:
        args.append(key_value)
    return conn.execute(
        f"""SELECT CAST(s.{col} / {int(bucket_s)} AS INTEGER) * {int(bucket_s)} AS t{key},
                   {_sum_columns(series, tier, 's')}
            FROM {frm} {where} GROUP BY t{group} ORDER BY t""",
        args,
    ).fetchall()
