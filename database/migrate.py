"""Convert a version-1/2 fleet database (per-miner index layout) to layout 3 in place, resumably.

The old layout (``tests/fixtures/schema_v2.sql``) kept raw ``samples (miner_id, ts, ...)``
in a rowid table with a per-miner index, one 5-minute roll-up ``samples_5m`` and
``battery_samples (ts, ...)`` with a time index; layout 3 (``database/schema.sql``)
keys every history row by ``id = (time << bits) | key`` (raw time in milliseconds,
tier time in bucket seconds; ``database/series.py``), adds per-round fleet totals keyed
by ``algorithms.slot`` and 1-hour and 1-day tiers.

The conversion runs in small transactions, each committed, so a kill (or a power
cut) at any point loses nothing and a re-run finishes the job:

1. one transaction renames ``samples``, ``samples_5m`` and ``battery_samples`` to ``*_v2``,
   rebuilds ``miners`` with ``AUTOINCREMENT`` (every id and column kept), creates the new
   tables and numbers the miners' algorithms (``algorithms``); the ``*_v2`` tables mark
   the file half-migrated from here on;
2. raw samples move oldest first, one ``chunk_s`` of time per transaction: the chunk
   is inserted into ``samples`` with its per-round ``fleet_samples`` totals and
   deleted from ``samples_v2`` in the same transaction, so what is left in
   ``samples_v2`` is exactly what is left to do (and the file never holds the
   history twice);
3. battery readings move the same way into ``battery_samples`` (two readings in one
   millisecond keep one row: the later one, as the app's own writer does);
4. the 5-minute roll-ups move the same way into ``miner_5m`` and ``fleet_5m``;
5. the 1-hour and 1-day tiers (and the 5-minute buckets newer than the old
   roll-up) are built by ``series.roll_up``, ``TIER_STEP_S`` of time per call;
6. the last transaction drops the ``*_v2`` tables and sets ``user_version`` 3.

Run it with the service stopped: ``python -m database.migrate PATH`` (``--check``
only says whether the file needs it). The connection holds an exclusive lock from
its first write to the end, so an old service still running gets "database is
locked" instead of writing old-layout rows into the new tables.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from database import series as ts

LAYOUT_VERSION = 3
_SCHEMA = Path(__file__).with_name("schema.sql")

# Old table -> its name while the conversion runs; the *_v2 tables are the half-migrated marker.
RENAMED = {"samples": "samples_v2", "samples_5m": "samples_5m_v2", "battery_samples": "battery_samples_v2"}
# 5-minute roll-ups are 20x sparser than raw rounds at 15 s: 20 chunks of time per transaction
# moves about as many rows as one raw chunk (288 k rows at 200 miners and 6 h).
ROLLUP_CHUNK_FACTOR = 20
BATTERY_CHUNK_FACTOR = 20  # one reading every 10 s or more: 120 h is at most 43 k rows
TIER_STEP_S = 30 * 86400  # roll_up's upto advances this much per transaction (about 150 k 1-hour rows at 200 miners)
CACHE_KIB = 65536  # page cache of the migration's own connection (freed when it closes)
BUSY_S = 10.0  # how long to wait for another connection to let go before "database is locked"

# Empty stand-ins when an old file lacks one of the tables, so the marker is always all three.
_OLD_DEFS = {
    "samples_v2": "CREATE TABLE samples_v2 (miner_id INTEGER NOT NULL, ts REAL NOT NULL, hashrate_hs REAL, "
                  "power_w REAL, temp_c REAL, fan_rpm INTEGER)",
    "samples_5m_v2": "CREATE TABLE samples_5m_v2 (miner_id INTEGER NOT NULL, bucket_ts INTEGER NOT NULL, "
                     "hashrate_hs REAL, power_w REAL, temp_c REAL, n INTEGER NOT NULL)",
    "battery_samples_v2": "CREATE TABLE battery_samples_v2 (ts REAL NOT NULL, received_ts REAL NOT NULL, "
                          "soc_pct REAL NOT NULL, pv_w REAL NOT NULL, load_w REAL NOT NULL, "
                          "battery_w REAL NOT NULL, grid_w REAL, source TEXT NOT NULL, time_from TEXT NOT NULL)",
}
_BATTERY_VALUES = "received_ts, soc_pct, pv_w, load_w, battery_w, grid_w, source, time_from"


def ms_sql(ts_expr: str) -> str:
    """SQL: round(ts * 1000) exactly as Python's round() does it (series.key_of), for ts >= 0.

    SQLite's ROUND() rounds a half away from zero, Python's round() to even: an old
    ts of 1700000000.0625 s is 1700000000062.5 ms, which would key the row 1 ms apart
    from what series.key_of computes. Both multiply the same doubles; x - CAST(x AS
    INTEGER) is exact below 2**53, so the comparisons with 0.5 decide as Python does.
    """
    x = f"({ts_expr} * {ts.RAW_UNITS}.0)"
    i = f"CAST({x} AS INTEGER)"
    return (f"(CASE WHEN {x} - {i} > 0.5 THEN {i} + 1 WHEN {x} - {i} < 0.5 THEN {i} "
            f"ELSE {i} + ({i} & 1) END)")


def ms_of(ts_value: float) -> int:
    """Python's side of ms_sql: the raw time units of series.key_of."""
    return ts.MINER.key_of(ts_value, 0) >> ts.MINER.bits
_EVENT_COLUMNS = (("source", "TEXT"), ("count", "INTEGER NOT NULL DEFAULT 1"))  # added by layout 2
# Per-miner settings (issue 15, PATCH /api/miners/<ip>), added to a layout-3 file by add_miner_columns.
MINER_COLUMNS = (("tags", "TEXT"), ("enabled", "INTEGER NOT NULL DEFAULT 1"), ("notes", "TEXT"),
                 ("location", "TEXT"), ("nominal_w", "REAL"), ("min_w", "REAL"), ("max_w", "REAL"),
                 ("max_temp_c", "REAL"), ("autocontrol", "INTEGER"))

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


class MigrationError(RuntimeError):
    """The file cannot be converted as it is (a column the new layout has no place for)."""


# --- inspecting a file --------------------------------------------------------------------
def _tables(conn: sqlite3.Connection) -> dict[str, str]:
    return {name: sql or "" for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _has_ts(conn: sqlite3.Connection, tables: dict[str, str], table: str) -> bool:
    """True when ``table`` exists with a ``ts`` column (the old layouts; layout 3 keys time in ``id``)."""
    return table in tables and "ts" in _columns(conn, table)


def needs_migration(conn: sqlite3.Connection) -> bool:
    """True for an old-layout file (version 1/2 history tables) or one whose conversion did not finish.

    Decided by the tables, not user_version: the first draft of layout 3 also said 3.
    An empty file (nothing created yet) needs nothing.
    """
    tables = _tables(conn)
    if any(name in tables for name in RENAMED.values()):
        return True  # half-migrated: step 1 committed, the last step did not
    if _has_ts(conn, tables, "samples") or _has_ts(conn, tables, "battery_samples") or "samples_5m" in tables:
        return True
    return "miners" in tables and "algorithms" not in tables  # an old file without history tables


def add_miner_columns(conn: sqlite3.Connection) -> bool:
    """Add the per-miner settings columns a file lacks (inside the caller's transaction); True if it did.

    Before these columns the ``name`` of a miner listed in config.yaml was the YAML's own,
    copied in at every start; from now on the column holds only a name given here (the
    YAML's applies when it is NULL), so those copies are cleared once, with the columns.
    """
    have = set(_columns(conn, "miners"))
    missing = [(name, decl) for name, decl in MINER_COLUMNS if name not in have]
    for name, decl in missing:
        conn.execute(f"ALTER TABLE miners ADD COLUMN {name} {decl}")
    if missing:
        conn.execute("UPDATE miners SET name = NULL WHERE source = 'config'")
    return bool(missing)


# --- the steps -----------------------------------------------------------------------------
@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _schema_statements() -> list[str]:
    """schema.sql split into statements (executescript would commit: step 1 is one transaction)."""
    statements, buf = [], ""
    for line in _SCHEMA.read_text().splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    return statements


def _start(conn: sqlite3.Connection) -> None:
    """Step 1 in one transaction: rename the old tables, rebuild miners, create the new tables."""
    with _transaction(conn):
        tables = _tables(conn)
        if any(name in tables for name in RENAMED.values()):
            return  # a previous run got past this step
        if _has_ts(conn, tables, "fleet_samples"):
            # The first draft of layout 3 (WITHOUT ROWID, (ts, key)), never released: its tiers
            # have no old-layout equivalent to convert from.
            raise MigrationError("this file has the draft layout 3 of a development build (fleet_samples.ts); "
                                 "start from a fresh data dir")
        if "miners" in tables:
            top = conn.execute("SELECT MAX(id) FROM miners").fetchone()[0]
            if top is not None and top > ts.MAX_MINER_ID:
                raise MigrationError(f"miner id {top} does not fit layout {LAYOUT_VERSION}'s key "
                                     f"(at most {ts.MAX_MINER_ID})")
        for old, new in RENAMED.items():
            if old in tables and (old == "samples_5m" or _has_ts(conn, tables, old)):
                conn.execute(f"ALTER TABLE {old} RENAME TO {new}")  # its time index goes with it
            else:
                conn.execute(_OLD_DEFS[new])
        # Raw rows are taken and deleted by time only: the per-miner index would just slow the deletes.
        conn.execute("DROP INDEX IF EXISTS samples_miner_ts")
        if "miners" in tables and "AUTOINCREMENT" not in tables["miners"].upper():
            conn.execute("ALTER TABLE miners RENAME TO miners_v2")
        if "events" in tables:  # a version-1 file: the columns version 2 added
            have = set(_columns(conn, "events"))
            for name, decl in _EVENT_COLUMNS:
                if name not in have:
                    conn.execute(f"ALTER TABLE events ADD COLUMN {name} {decl}")
        for statement in _schema_statements():
            conn.execute(statement)
        if "miners_v2" in _tables(conn):
            old_cols, new_cols = _columns(conn, "miners_v2"), set(_columns(conn, "miners"))
            lost = [c for c in old_cols if c not in new_cols]
            if lost:
                raise MigrationError(f"miners column(s) {', '.join(lost)} have no place in layout {LAYOUT_VERSION}")
            cols = ", ".join(old_cols)
            # Explicit ids into an AUTOINCREMENT table also set sqlite_sequence to the largest.
            conn.execute(f"INSERT INTO miners ({cols}) SELECT {cols} FROM miners_v2 ORDER BY id")
            if "enabled" not in old_cols:  # names copied from config.yaml (add_miner_columns says why)
                conn.execute("UPDATE miners SET name = NULL WHERE source = 'config'")
            conn.execute("DROP TABLE miners_v2")  # foreign_keys is off: no cascade into samples_v2
        # Fleet keys for every algorithm a miner has, numbered in the order the miners were added.
        for (name,) in conn.execute("SELECT algorithm FROM miners GROUP BY algorithm ORDER BY MIN(id)").fetchall():
            ts.algorithm_slot(conn, name)


def _pct(done: int, total: int) -> str:
    return f"{done:,} of {total:,} ({100 * done // total if total else 100} %)"


def _chunks(conn: sqlite3.Connection, table: str, column: str, chunk_s: float) -> Iterator[tuple[float, float]]:
    """(first time, chunk end) over the rows left in ``table``, oldest first; the caller moves each chunk away."""
    while True:
        first = conn.execute(f"SELECT MIN({column}) FROM {table}").fetchone()[0]
        if first is None:
            return
        yield first, (first // chunk_s + 1) * chunk_s


def _move_raw(conn: sqlite3.Connection, chunk_s: float, progress: Progress, counts: dict) -> None:
    """Step 2: samples_v2 -> samples + fleet_samples, one chunk of time per transaction, oldest first."""
    left = conn.execute("SELECT COUNT(*) FROM samples_v2").fetchone()[0]
    if not left:
        return
    done = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]  # moved by an interrupted run
    total = done + left
    for first, end in _chunks(conn, "samples_v2", "ts", chunk_s):
        last = conn.execute("SELECT MAX(ts) FROM samples_v2 WHERE ts < ?", (end,)).fetchone()[0]
        bits, fbits = ts.MINER.bits, ts.FLEET.bits
        with _transaction(conn):
            # CROSS JOIN: samples_v2 by its time index outside, each miner looked up by id (the
            # planner might otherwise walk miners and scan the chunk once per miner). Rows of
            # miners no longer in the table are dropped: nothing could chart them.
            kept = conn.execute(
                f"""INSERT OR REPLACE INTO samples (id, hashrate_hs, power_w, temp_c, fan_rpm)
                    SELECT ({ms_sql('s.ts')} << {bits}) | s.miner_id, s.hashrate_hs, s.power_w, s.temp_c, s.fan_rpm
                    FROM samples_v2 s CROSS JOIN miners m ON m.id = s.miner_id
                    WHERE s.ts < ? ORDER BY s.ts, s.miner_id, s.rowid""", (end,)).rowcount
            # The old poller wrote one ts per round for every miner, so a ts (now a millisecond)
            # is a round. Totals are summed from the new table over every millisecond of this
            # chunk: one that the previous chunk also reached (a ts just below its end rounds
            # up) is summed again whole.
            counts["fleet_rows"] += conn.execute(
                f"""INSERT OR REPLACE INTO fleet_samples (id, algorithm, hashrate_hs, power_w, online)
                    SELECT ((s.id >> {bits}) << {fbits}) | a.slot AS k, m.algorithm,
                           SUM(s.hashrate_hs), SUM(s.power_w), COUNT(*)
                    FROM samples s CROSS JOIN miners m ON m.id = {ts.MINER.key_sql('s.')}
                    CROSS JOIN algorithms a ON a.name = m.algorithm
                    WHERE s.id >= ? AND s.id < ? GROUP BY k ORDER BY k""",
                (ms_of(first) << bits, (ms_of(last) + 1) << bits)).rowcount
            moved = conn.execute("DELETE FROM samples_v2 WHERE ts < ?", (end,)).rowcount
        counts["raw_rows"] += kept
        counts["dropped_rows"] += moved - kept
        done += moved
        progress(f"raw samples: {_pct(done, total)}")


def _move_battery(conn: sqlite3.Connection, chunk_s: float, progress: Progress, counts: dict) -> None:
    """Step 3: battery_samples_v2 -> battery_samples (id = measured_at in ms), oldest first."""
    left = conn.execute("SELECT COUNT(*) FROM battery_samples_v2").fetchone()[0]
    if not left:
        return
    done = conn.execute("SELECT COUNT(*) FROM battery_samples").fetchone()[0]
    total = done + left
    for _first, end in _chunks(conn, "battery_samples_v2", "ts", chunk_s):
        with _transaction(conn):
            # Readings in one millisecond share an id: REPLACE in (ts, rowid) order keeps the
            # later one, as the app's writer does; a later chunk only holds later readings.
            kept = conn.execute(
                f"""INSERT OR REPLACE INTO battery_samples (id, {_BATTERY_VALUES})
                    SELECT {ms_sql('ts')}, {_BATTERY_VALUES} FROM battery_samples_v2
                    WHERE ts < ? ORDER BY ts, rowid""", (end,)).rowcount
            moved = conn.execute("DELETE FROM battery_samples_v2 WHERE ts < ?", (end,)).rowcount
        counts["battery_rows"] += kept
        done += moved
        progress(f"battery readings: {_pct(done, total)}")


def _move_rollups(conn: sqlite3.Connection, chunk_s: float, progress: Progress, counts: dict) -> None:
    """Step 4: samples_5m_v2 -> miner_5m + fleet_5m, oldest first, same transaction per chunk."""
    left = conn.execute("SELECT COUNT(*) FROM samples_5m_v2").fetchone()[0]
    if not left:
        return
    done = conn.execute("SELECT COUNT(*) FROM miner_5m").fetchone()[0]
    total = done + left
    for first, chunk_end in _chunks(conn, "samples_5m_v2", "bucket_ts", chunk_s):
        end = int(chunk_end)
        bits, fbits = ts.MINER.bits, ts.FLEET.bits
        with _transaction(conn):
            # An old roll-up row kept n = COUNT(*) and AVG of each value, not how many readings
            # each mean had: a mean is taken as made of all n readings (or none when NULL).
            kept = conn.execute(
                f"""INSERT OR REPLACE INTO miner_5m (id, hashrate_hs, n_hashrate_hs,
                                                    power_w, n_power_w, temp_c, fan_rpm, n)
                    SELECT (CAST(s.bucket_ts AS INTEGER) << {bits}) | s.miner_id,
                           s.hashrate_hs, CASE WHEN s.hashrate_hs IS NULL THEN 0 ELSE s.n END,
                           s.power_w, CASE WHEN s.power_w IS NULL THEN 0 ELSE s.n END,
                           s.temp_c, NULL, s.n
                    FROM samples_5m_v2 s CROSS JOIN miners m ON m.id = s.miner_id
                    WHERE s.bucket_ts < ? ORDER BY s.bucket_ts, s.miner_id""", (end,)).rowcount
            # Fleet: the miners' means summed, as the old chart did; n = the most readings of a miner.
            counts["fleet_5m_rows"] += conn.execute(
                f"""INSERT OR REPLACE INTO fleet_5m (id, algorithm, hashrate_hs, n_hashrate_hs,
                                                    power_w, n_power_w, online, n)
                    SELECT ((s.id >> {bits}) << {fbits}) | a.slot AS k, m.algorithm,
                           SUM(s.hashrate_hs), MAX(s.n_hashrate_hs),
                           SUM(s.power_w), MAX(s.n_power_w), COUNT(*), MAX(s.n)
                    FROM miner_5m s CROSS JOIN miners m ON m.id = {ts.MINER.key_sql('s.')}
                    CROSS JOIN algorithms a ON a.name = m.algorithm
                    WHERE s.id >= ? AND s.id < ? GROUP BY k ORDER BY k""",
                (int(first) << bits, end << bits)).rowcount
            moved = conn.execute("DELETE FROM samples_5m_v2 WHERE bucket_ts < ?", (end,)).rowcount
        counts["rows_5m"] += kept
        counts["dropped_rows"] += moved - kept
        done += moved
        progress(f"5-minute roll-ups: {_pct(done, total)}")


def _build_tiers(conn: sqlite3.Connection, now: float, progress: Progress, counts: dict) -> None:
    """Step 5: roll every series up to ``now``, TIER_STEP_S per transaction (a re-run skips what is done)."""
    times = [t for s in ts.SERIES if (t := ts.oldest(conn, s)) is not None]
    if not times:
        return
    start = min(times)
    upto = start
    while upto < now:
        upto = min(upto + TIER_STEP_S, now)
        for s in ts.SERIES:
            with _transaction(conn):
                counts["tier_rows"] += ts.roll_up(conn, s, upto)
        day = datetime.fromtimestamp(upto, timezone.utc).strftime("%Y-%m-%d")
        progress(f"roll-up tiers: up to {day} ({int(100 * (upto - start) / (now - start)) if now > start else 100} %)")


def _finish(conn: sqlite3.Connection) -> None:
    """Step 6: drop the (now empty) *_v2 tables and mark the file layout 3, in one transaction."""
    with _transaction(conn):
        for name in (*RENAMED.values(), "miners_v2"):
            conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(f"PRAGMA user_version={LAYOUT_VERSION}")


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_S, isolation_level=None)
    # Off, and set outside a transaction: renaming and dropping the old tables must not cascade
    # (the old samples tables had ON DELETE CASCADE to miners).
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA journal_mode=WAL")  # as the app keeps it; each commit appends, no rollback journal
    conn.execute("PRAGMA synchronous=NORMAL")  # a power cut may lose the last commits, never consistency
    conn.execute("PRAGMA journal_size_limit=67108864")  # the WAL shrinks back after a big chunk
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    conn.execute("PRAGMA temp_store=MEMORY")  # the ORDER BY of a chunk sorts in memory
    # Held from the first write until close. In WAL mode this needs every other connection to
    # the file closed (even an idle one): the migration runs alone or fails at its first step.
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    return conn


def migrate(path: str | Path, progress: Progress | None = None, *, chunk_s: float = 6 * 3600) -> dict:
    """Convert the file at ``path`` to layout 3 in place (resuming a conversion that stopped).

    Returns what this run did: raw_rows, battery_rows (readings moved; two in one millisecond
    leave one row), rows_5m, fleet_rows, fleet_5m_rows, tier_rows, dropped_rows (history of miners no longer in the table) and seconds.
    """
    if chunk_s <= 0:
        raise ValueError("chunk_s must be positive")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no database at {path}")
    report: Progress = progress or log.info
    started = time.monotonic()
    counts = dict.fromkeys(("raw_rows", "battery_rows", "rows_5m", "fleet_rows", "fleet_5m_rows", "tier_rows",
                            "dropped_rows"), 0)
    conn = _open(path)
    try:
        if needs_migration(conn):
            _start(conn)
            report("renamed the old tables; new layout created")
            _move_raw(conn, chunk_s, report, counts)
            _move_battery(conn, chunk_s * BATTERY_CHUNK_FACTOR, report, counts)
            _move_rollups(conn, chunk_s * ROLLUP_CHUNK_FACTOR, report, counts)
            _build_tiers(conn, time.time(), report, counts)
            _finish(conn)
            report(f"done: layout {LAYOUT_VERSION}")
    finally:
        conn.close()  # the last close checkpoints the WAL into the file and releases the lock
    counts["seconds"] = round(time.monotonic() - started, 3)
    return counts


# --- command line ---------------------------------------------------------------------------
def _check(path: Path) -> int:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    try:
        old = needs_migration(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    if old:
        print(f"{path}: needs migration to layout {LAYOUT_VERSION} (user_version {version})")
        return 2
    print(f"{path}: current (layout {LAYOUT_VERSION}, nothing to convert)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m database.migrate PATH [--check]``: 0 done/current, 2 needs migration, 1 error."""
    parser = argparse.ArgumentParser(prog="python -m database.migrate",
                                     description="Convert a fleet database to the current history layout, in place.")
    parser.add_argument("path", type=Path, help="the SQLite file (fleet.db in the data dir); stop the service first")
    parser.add_argument("--check", action="store_true", help="only say whether it needs migration (exit 2 if so)")
    parser.add_argument("--chunk-hours", type=float, default=6.0, help="raw history per transaction (default 6)")
    args = parser.parse_args(argv)
    try:
        if not args.path.is_file():
            raise FileNotFoundError(f"no database at {args.path}")
        if args.check:
            return _check(args.path)
        counts = migrate(args.path, lambda msg: print(msg, flush=True), chunk_s=args.chunk_hours * 3600)
    except (OSError, sqlite3.Error, MigrationError, ValueError) as exc:
        hint = " (is the service still running? stop it first)" if "locked" in str(exc) else ""
        print(f"migrate: error: {exc}{hint}", file=sys.stderr)
        return 1
    print(f"{args.path}: layout {LAYOUT_VERSION}; moved {counts['raw_rows']:,} raw rows, "
          f"{counts['battery_rows']:,} battery readings, {counts['rows_5m']:,} 5-minute rows, "
          f"wrote {counts['fleet_rows']:,} fleet rows and "
          f"{counts['tier_rows']:,} tier rows in {counts['seconds']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
