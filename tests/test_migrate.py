"""database/migrate.py: an old-layout (version 2) file converted in place, nothing lost, same charts, resumable.

Layout 3 keys every history row by id = (time << bits) | key (database/series.py); the
assertions decode ids with the same shifts (miner 20 bits, fleet 8, battery 0).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from database import migrate as mig
from database import series as ts

ROOT = Path(__file__).resolve().parents[1]
OLD_SCHEMA = Path(__file__).parent / "fixtures" / "schema_v2.sql"
NEW_SCHEMA = ROOT / "database" / "schema.sql"
DAY = 86400
# Data ends two whole days before today: every tier bucket holding data is closed whatever
# "now" the migration runs at, so two runs give the same rows.
END = (int(time.time()) // DAY - 2) * DAY
RAW_START = END - 3 * 3600  # 3 hours of raw rounds every 15 s
ROLLUP_START = END - 4 * DAY  # 4 days of 5-minute roll-ups before (and over) the raw hours
ROLLED_UNTIL = END - 1800  # the old hourly roll-up had folded raw rows up to here
ROUND_S = 15
CHUNK_S = 1800  # small chunks: many transactions on a small file
ALGO = {1: "sha256d", 2: "sha256d", 3: "sha256d", 5: "sha256d", 7: "scrypt", 8: "scrypt"}  # ids 4, 6 were deleted
ORPHAN = 99  # history rows of a miner no longer in the table (written with foreign keys off)
MASK = ts.MINER.mask
BATTERY_DUP = RAW_START + 20.0004  # same millisecond as the reading at RAW_START + 20: the later one is kept
BATTERY_HALF = RAW_START + 25.0625  # ...25062.5 ms: Python's round() (the app's key_of) gives ...25062
HISTORY_TABLES = ("samples", "fleet_samples", "miner_5m", "fleet_5m", "miner_1h", "fleet_1h",
                  "miner_1d", "fleet_1d", "battery_5m", "battery_1h", "battery_1d")


# --- the oracle: the OLD chart queries, copied verbatim from database/queries.py at 9999ac0 ----------
ROLLUP_BUCKET_S = 300


def _history_source(conn: sqlite3.Connection, since: float, bucket_s: int) -> tuple[str, str]:
    """OLD (9999ac0): pick raw samples when they cover the range and the bucket is fine, else samples_5m."""
    oldest = conn.execute("SELECT MIN(ts) FROM samples").fetchone()[0]
    if bucket_s < ROLLUP_BUCKET_S or (oldest is not None and oldest <= since + ROLLUP_BUCKET_S):
        return "samples", "ts"
    return "samples_5m", "bucket_ts"


def old_miner_history(conn: sqlite3.Connection, miner_id: int, since: float, bucket_s: int) -> list[sqlite3.Row]:
    """OLD (9999ac0) miner_history."""
    table, col = _history_source(conn, since, bucket_s)
    return conn.execute(
        f"""SELECT CAST({col} / ? AS INTEGER) * ? AS t, AVG(hashrate_hs) AS hashrate_hs,
                   AVG(power_w) AS power_w, MAX(temp_c) AS temp_c
            FROM {table} WHERE miner_id = ? AND {col} >= ? GROUP BY t ORDER BY t""",
        (bucket_s, bucket_s, miner_id, since),
    ).fetchall()


def old_fleet_history(conn: sqlite3.Connection, since: float, bucket_s: int) -> list[sqlite3.Row]:
    """OLD (9999ac0) fleet_history."""
    table, col = _history_source(conn, since, bucket_s)
    return conn.execute(
        f"""SELECT t, algorithm, SUM(h) AS hashrate_hs, SUM(p) AS power_w, COUNT(*) AS online
            FROM (SELECT CAST(s.{col} / ? AS INTEGER) * ? AS t, m.algorithm AS algorithm,
                         AVG(s.hashrate_hs) AS h, AVG(s.power_w) AS p
                  FROM {table} s JOIN miners m ON m.id = s.miner_id
                  WHERE s.{col} >= ? GROUP BY s.miner_id, t)
            GROUP BY t, algorithm ORDER BY t""",
        (bucket_s, bucket_s, since),
    ).fetchall()


def old_rollup(conn: sqlite3.Connection, now: float) -> None:
    """OLD (9999ac0) rollup_and_purge's roll-up half: what the hourly job left in samples_5m."""
    last_full = int(now // ROLLUP_BUCKET_S) * ROLLUP_BUCKET_S
    since = conn.execute("SELECT COALESCE(MAX(bucket_ts), 0) FROM samples_5m").fetchone()[0]
    conn.execute(
        f"""INSERT OR REPLACE INTO samples_5m (miner_id, bucket_ts, hashrate_hs, power_w, temp_c, n)
            SELECT miner_id, CAST(ts / {ROLLUP_BUCKET_S} AS INTEGER) * {ROLLUP_BUCKET_S} AS b,
                   AVG(hashrate_hs), AVG(power_w), MAX(temp_c), COUNT(*)
            FROM samples WHERE ts >= ? AND ts < ? GROUP BY miner_id, b""",
        (since, last_full),
    )


# --- an old-layout file, written the way the old code wrote it ------------------------------------
def build_old(path: Path, *, regular: bool) -> None:
    """Old schema + old-style writes. regular: every miner in every round, power NULL only for miner 3/7."""
    rnd = random.Random(11)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OLD_SCHEMA.read_text())
    conn.execute("PRAGMA user_version=2")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("BEGIN")
    for mid, algo in ALGO.items():
        creds = json.dumps({"username": "root", "password": f"pw{mid}"}) if mid % 2 else None
        conn.execute("INSERT INTO miners (id, ip, port, family, model, name, algorithm, credentials, source, "
                     "added_ts, last_seen_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (mid, f"192.0.2.{mid}", 4028 if mid > 4 else None, "cgminer" if mid > 4 else "bitaxe",
                      f"model-{mid}", f"miner {mid}", algo, creds, "discovery", ROLLUP_START - 100 * mid, END - 15))

    def no_power(mid: int, k: int) -> bool:
        return mid in (3, 7) or (not regular and mid == 8 and k % 3 == 0)

    # Older 5-minute roll-ups (n = 20 readings each: 15 s rounds).
    rows5 = []
    for b in range(ROLLUP_START, RAW_START, 300):
        for mid in ALGO:
            k = b // 300
            rows5.append((mid, b, rnd.uniform(1e12, 2e12), None if no_power(mid, k) else rnd.uniform(10, 3000),
                          rnd.uniform(40, 80), 20))
    conn.executemany("INSERT INTO samples_5m VALUES (?, ?, ?, ?, ?, ?)", rows5)
    conn.execute("COMMIT")
    # Raw rounds: one transaction per round, the old insert_samples order (miner_id, ts, ...).
    for k, t in enumerate(range(RAW_START, END, ROUND_S)):
        rows = []
        for mid in ALGO:
            if not regular and mid == 5 and k % 7 == 3:
                continue  # did not answer this round
            hashrate = None if (not regular and mid == 2 and k % 11 == 0) else rnd.uniform(1e12, 2e12)
            rows.append((mid, float(t), hashrate, None if no_power(mid, k) else rnd.uniform(10, 3000),
                         rnd.uniform(40, 80), rnd.randint(3000, 6000)))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("UPDATE miners SET last_seen_ts = ? WHERE id = ?", (float(t), 1))
        conn.execute("COMMIT")
        if t % 3600 == 0:
            old_rollup(conn, t)
    old_rollup(conn, ROLLED_UNTIL)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO battery_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(float(t), t + 0.5, 50 + (t % 100) / 10, 1000.0, 800.0, -200.0, None if t % 60 else 5.0,
                       "simulated", "device") for t in range(RAW_START, END, 10)])
    conn.executemany("INSERT INTO events (ts, kind, miner_ip, actor, message, source, count) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(END - 60 * i, "miner_online", "192.0.2.1", "system", f"event {i}", None, 1) for i in range(20)]
                     + [(END - 5, "auth_failed", None, None, "wrong token", "127.0.0.9", 7)])
    conn.executemany("INSERT INTO state (key, value, updated_ts) VALUES (?, ?, ?)",
                     [("controller", json.dumps({"latched": True}), END), ("ems", json.dumps({"kw": 1.5}), END)])
    if not regular:
        conn.executemany("INSERT INTO battery_samples VALUES (?, ?, 51.0, 900.0, 700.0, -100.0, NULL, 'simulated', "
                         "'device')", [(BATTERY_DUP, BATTERY_DUP + 1), (BATTERY_HALF, BATTERY_HALF + 1)])
    conn.execute("COMMIT")
    if not regular:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("INSERT INTO samples VALUES (?, ?, 1e12, 100, 50, 4000)", (ORPHAN, float(RAW_START)))
        conn.execute("INSERT INTO samples_5m VALUES (?, ?, 1e12, 100, 50, 20)", (ORPHAN, ROLLUP_START))
    conn.close()


@pytest.fixture(scope="module")
def old_files(tmp_path_factory) -> dict[str, Path]:
    """One regular and one irregular old file, built once; tests copy them."""
    base = tmp_path_factory.mktemp("old")
    files = {"regular": base / "regular.db", "irregular": base / "irregular.db"}
    for name, path in files.items():
        build_old(path, regular=name == "regular")
    return files


@pytest.fixture(autouse=True)
def day_steps(monkeypatch):
    """Tiers built a day per transaction (30 days in the product), so the small file has several steps."""
    monkeypatch.setattr(mig, "TIER_STEP_S", DAY)


def copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def dump(path: Path, tables) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        out = {}
        for t in tables:
            ncols = len(conn.execute(f"PRAGMA table_info({t})").fetchall())
            out[t] = conn.execute(f"SELECT * FROM {t} ORDER BY {', '.join(map(str, range(1, ncols + 1)))}").fetchall()
        return out
    finally:
        conn.close()


def conn_rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def table_names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def file_needs(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        return mig.needs_migration(conn)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def reference(old_files, tmp_path_factory) -> dict[str, list[tuple]]:
    """The irregular file migrated in one uninterrupted run: every table's rows."""
    mp = pytest.MonkeyPatch()
    mp.setattr(mig, "TIER_STEP_S", DAY)
    try:
        path = copy(old_files["irregular"], tmp_path_factory.mktemp("ref") / "fleet.db")
        messages: list[str] = []
        mig.migrate(path, messages.append, chunk_s=CHUNK_S)
    finally:
        mp.undo()
    return {"messages": messages, **dump(path, sorted(table_names(path)))}


# --- nothing lost ---------------------------------------------------------------------------------
def test_needs_migration_old_new_empty(old_files, tmp_path):
    assert file_needs(old_files["irregular"])
    empty = tmp_path / "empty.db"
    conn = sqlite3.connect(empty)
    assert not mig.needs_migration(conn)  # a brand-new file: nothing to convert
    conn.executescript(NEW_SCHEMA.read_text())
    assert not mig.needs_migration(conn)  # the new layout before db.py sets the version
    conn.execute(f"PRAGMA user_version={mig.LAYOUT_VERSION}")
    assert not mig.needs_migration(conn)
    conn.close()
    assert mig.LAYOUT_VERSION == 3
    # An old file marked 3 (the draft layout 3 said so too) is judged by its tables.
    old = copy(old_files["regular"], tmp_path / "old.db")
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA user_version=3")
    assert mig.needs_migration(conn)
    conn.close()


def test_draft_layout_3_is_refused_unchanged(tmp_path):
    """The never-released draft of layout 3 ((ts, key) WITHOUT ROWID) has no conversion: a clear error."""
    path = tmp_path / "draft.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE miners (id INTEGER PRIMARY KEY AUTOINCREMENT, ip TEXT, family TEXT, algorithm TEXT,
                             added_ts REAL);
        CREATE TABLE samples (ts REAL NOT NULL, miner_id INTEGER NOT NULL, hashrate_hs REAL, power_w REAL,
                              temp_c REAL, fan_rpm INTEGER, PRIMARY KEY (ts, miner_id)) WITHOUT ROWID;
        CREATE TABLE fleet_samples (ts REAL NOT NULL, algorithm TEXT NOT NULL, hashrate_hs REAL, power_w REAL,
                                    online INTEGER NOT NULL, PRIMARY KEY (ts, algorithm)) WITHOUT ROWID;
        PRAGMA user_version=3;""")
    conn.close()
    assert file_needs(path)
    with pytest.raises(mig.MigrationError, match="draft layout 3"):
        mig.migrate(path)
    assert table_names(path) == {"miners", "samples", "fleet_samples", "sqlite_sequence"}


def test_ms_sql_rounds_as_key_of(tmp_path):
    """The migration's SQL millisecond equals series.key_of's Python round(), halves included."""
    rnd = random.Random(3)
    values = [rnd.uniform(1.5e9, 2e9) for _ in range(20000)]
    values += [round(v, rnd.randint(0, 6)) for v in values[:5000]]
    halves = [END + k + m / 16 for k in range(50) for m in (1, 3, 5, 7, 9, 11, 13, 15)]  # x.5 ms exactly
    values += halves + [0.0, 0.0005, 0.0015, 0.0025, 1.0625]
    conn = sqlite3.connect(":memory:")
    got = [conn.execute(f"SELECT {mig.ms_sql('?1')}", (v,)).fetchone()[0] for v in values]
    assert got == [ts.MINER.key_of(v, 0) >> ts.MINER.bits for v in values]
    assert got == [mig.ms_of(v) for v in values]
    # SQLite's own ROUND() rounds these halves up: it would not do.
    assert any(conn.execute("SELECT CAST(ROUND(? * 1000.0) AS INTEGER)", (v,)).fetchone()[0] != mig.ms_of(v)
               for v in halves)
    conn.close()


def test_migrate_keeps_everything(old_files, tmp_path):
    path = copy(old_files["irregular"], tmp_path / "fleet.db")
    conn = connect(path)
    miners_before = [tuple(r) for r in conn.execute("SELECT * FROM miners ORDER BY id")]
    raw_before = [tuple(r) for r in conn.execute("SELECT miner_id, ts, hashrate_hs, power_w, temp_c, fan_rpm FROM samples")]
    r5_before = [tuple(r) for r in conn.execute("SELECT miner_id, bucket_ts, hashrate_hs, power_w, temp_c, n FROM samples_5m")]
    conn.close()
    untouched = dump(path, ("events", "state"))
    battery_before = conn_rows(path, "SELECT ts, received_ts, soc_pct, pv_w, load_w, battery_w, grid_w, source, "
                                     "time_from FROM battery_samples ORDER BY ts, rowid")
    messages: list[str] = []

    counts = mig.migrate(path, messages.append, chunk_s=CHUNK_S)

    conn = connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert not {n for n in table_names(path) if n.endswith("_v2")}
    assert not mig.needs_migration(conn)
    assert dump(path, ("events", "state")) == untouched
    # battery: every reading under its measured millisecond; two in one millisecond keep the later
    expect_battery = {ts.BATTERY.key_of(r[0], 0): r[1:] for r in battery_before}
    assert len(expect_battery) == len(battery_before) - 1
    assert {r[0]: tuple(r[1:]) for r in conn.execute("SELECT * FROM battery_samples")} == expect_battery
    assert expect_battery[round(BATTERY_DUP * 1000)][0] == BATTERY_DUP + 1
    assert expect_battery[(BATTERY_HALF - 25.0625 + 25) * 1000 + 62][0] == BATTERY_HALF + 1  # half to even
    assert counts["battery_rows"] == len(battery_before)
    assert "battery_samples_ts" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    # miners: every id and column, now AUTOINCREMENT (a new miner never takes an old id)
    after = [tuple(r) for r in conn.execute("SELECT * FROM miners ORDER BY id")]
    width = len(miners_before[0])
    assert [r[:width] for r in after] == miners_before
    # ... plus the per-miner settings columns, at their defaults (enabled, nothing set here)
    assert {r[width:] for r in after} == {(None, 1) + (None,) * 7}
    assert "AUTOINCREMENT" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'miners'").fetchone()[0]
    assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'miners'").fetchone()[0] == max(ALGO)
    # raw: every row of a known miner, values unchanged; the orphan's rows dropped
    kept_raw = sorted(r for r in raw_before if r[0] != ORPHAN)
    assert len(kept_raw) == len(raw_before) - 1
    assert sorted(tuple(r) for r in conn.execute(
        f"SELECT id & {MASK}, (id >> 20) / 1000.0, hashrate_hs, power_w, temp_c, fan_rpm FROM samples")) == kept_raw
    assert {r[0] for r in conn.execute("SELECT id FROM samples")} == {ts.MINER.key_of(r[1], r[0]) for r in kept_raw}
    kept_5m = [r for r in r5_before if r[0] != ORPHAN]
    assert sorted(tuple(r) for r in conn.execute(
        f"SELECT id & {MASK}, id >> 20, hashrate_hs, power_w, temp_c, n FROM miner_5m WHERE id < ?",
        (ROLLED_UNTIL << 20,))) == sorted(kept_5m)
    assert counts["raw_rows"] == len(kept_raw) and counts["rows_5m"] == len(kept_5m)
    assert counts["dropped_rows"] == 2 and counts["seconds"] >= 0
    # n per value: an old mean stands for all n readings, or none when it is NULL
    for h, nh, p, np_, n in conn.execute("SELECT hashrate_hs, n_hashrate_hs, power_w, n_power_w, n FROM miner_5m "
                                         "WHERE id < ?", (ROLLED_UNTIL << 20,)):
        assert nh == (0 if h is None else n) and np_ == (0 if p is None else n)
    # fleet per round, computed here from the old rows
    expect: dict[tuple, list] = {}
    for mid, t, h, p, _temp, _fan in kept_raw:
        e = expect.setdefault((t, ALGO[mid]), [None, None, 0])
        e[0] = e[0] if h is None else (e[0] or 0) + h
        e[1] = e[1] if p is None else (e[1] or 0) + p
        e[2] += 1
    slots = {name: slot for slot, name in conn.execute("SELECT slot, name FROM algorithms")}
    assert slots == {"sha256d": 1, "scrypt": 2}  # numbered in the order the miners were added
    assert all(slots[algo] == key for key, algo in conn.execute("SELECT id & 255, algorithm FROM fleet_samples"))
    assert all(slots[algo] == key for key, algo in conn.execute("SELECT id & 255, algorithm FROM fleet_5m"))
    got = {(r[0], r[1]): list(r[2:]) for r in conn.execute(
        "SELECT (id >> 8) / 1000.0, algorithm, hashrate_hs, power_w, online FROM fleet_samples")}
    assert got.keys() == expect.keys() and counts["fleet_rows"] == len(expect)
    for key, (h, p, online) in expect.items():
        assert got[key][2] == online
        assert got[key][0] == pytest.approx(h, rel=1e-12) if h is not None else got[key][0] is None
        assert got[key][1] == pytest.approx(p, rel=1e-12) if p is not None else got[key][1] is None
    assert any(v[2] < 4 for k, v in expect.items() if k[1] == "sha256d")  # a round with a miner missing
    assert any(v[1] is None for v in expect.values())  # a round where no scrypt miner reported power
    # fleet per 5 minutes from the old roll-up: the miners' means summed, n the most readings of one
    expect5: dict[tuple, list] = {}
    for mid, b, h, p, _temp, n in kept_5m:
        e = expect5.setdefault((b, ALGO[mid]), [None, 0, None, 0, 0, 0])
        if h is not None:
            e[0], e[1] = (e[0] or 0) + h, max(e[1], n)
        if p is not None:
            e[2], e[3] = (e[2] or 0) + p, max(e[3], n)
        e[4], e[5] = e[4] + 1, max(e[5], n)
    got5 = {(r[0], r[1]): list(r[2:]) for r in conn.execute(
        "SELECT id >> 8, algorithm, hashrate_hs, n_hashrate_hs, power_w, n_power_w, online, n FROM fleet_5m "
        "WHERE id < ?", (ROLLED_UNTIL << 8,))}
    assert got5.keys() == expect5.keys() and counts["fleet_5m_rows"] == len(expect5)
    for key, e in expect5.items():
        assert got5[key] == [pytest.approx(v, rel=1e-12) if v is not None else None for v in e], key
    assert any(e[2] is None and e[3] == 0 for e in expect5.values())  # no scrypt power in some buckets
    # tiers: built to the end of the data for every series
    for table in ("miner_1h", "fleet_1h", "miner_1d", "fleet_1d", "battery_5m", "battery_1h"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] > 0, table
    assert ts.last_bucket(conn, ts.FLEET, "5m") == END - 300
    assert ts.last_bucket(conn, ts.MINER, "1h") == END - 3600
    assert ts.last_bucket(conn, ts.FLEET, "1d") == END - DAY
    assert ts.last_bucket(conn, ts.BATTERY, "1h") == END - 3600
    assert counts["tier_rows"] > 0
    conn.close()
    assert any(m.startswith("raw samples: ") and m.endswith("(100 %)") for m in messages)
    assert any(m.startswith("5-minute roll-ups: ") for m in messages)
    assert any(m.startswith("battery readings: ") and m.endswith("(100 %)") for m in messages)
    assert sum(m.startswith("raw samples: ") for m in messages) == 3 * 3600 // CHUNK_S  # one per chunk
    # a second run finds nothing to do
    assert mig.migrate(path, messages.append)["raw_rows"] == 0


def test_version_1_file_gets_event_columns(tmp_path):
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA.read_text())
    conn.executescript("DROP TABLE events; CREATE TABLE events (id INTEGER PRIMARY KEY, ts REAL NOT NULL, "
                       "kind TEXT NOT NULL, miner_ip TEXT, actor TEXT, message TEXT NOT NULL); "
                       "INSERT INTO events (ts, kind, message) VALUES (1, 'x', 'kept'); PRAGMA user_version=1;")
    conn.close()
    assert file_needs(path)
    mig.migrate(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT message, source, count FROM events").fetchall() == [("kept", None, 1)]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()


# --- same charts ---------------------------------------------------------------------------------
def _mean(row, col):
    return None if not row[f"{col}_n"] else row[f"{col}_sum"] / row[f"{col}_n"]


def new_fleet(conn, tier, since, until, bucket_s):
    assert bucket_s % ts.TIER_SIZE.get(tier, 1) == 0
    return {(r["t"], r["key"]): (_mean(r, "hashrate_hs"), _mean(r, "power_w"), r["online"])
            for r in ts.buckets(conn, ts.FLEET, tier, since, until, bucket_s)}


def new_miner(conn, tier, since, until, bucket_s, mid):
    assert bucket_s % ts.TIER_SIZE.get(tier, 1) == 0
    return {r["t"]: (_mean(r, "hashrate_hs"), _mean(r, "power_w"), r["temp_c"])
            for r in ts.buckets(conn, ts.MINER, tier, since, until, bucket_s, mid)}


def assert_same(old: dict, new: dict) -> None:
    assert old and old.keys() == new.keys()
    for key, values in old.items():
        for a, b in zip(values, new[key]):
            assert (a is None and b is None) or b == pytest.approx(a, rel=1e-9), (key, values, new[key])


# (since, bucket_s, which old source, new tiers): ranges ending where the old roll-up ended.
CHART_CASES = [
    (END - 3600, 60, "samples", ["raw"]),  # fleet 1h
    (RAW_START, 300, "samples", ["raw", "5m"]),  # 3 h at 5 minutes, from raw; the 5m tier must agree
    (ROLLUP_START, 3600, "samples_5m", ["5m", "1h"]),  # days, from the old roll-up
    (ROLLUP_START, DAY, "samples_5m", ["5m", "1h", "1d"]),
]


@pytest.mark.parametrize("since,bucket_s,source,tiers", CHART_CASES)
def test_charts_equal_old_queries(old_files, tmp_path, since, bucket_s, source, tiers):
    path = copy(old_files["regular"], tmp_path / "fleet.db")
    conn = connect(path)
    assert _history_source(conn, since, bucket_s)[0] == source
    # Old buckets wholly inside what the old file held (raw to END, roll-ups to ROLLED_UNTIL).
    until = END if source == "samples" else ROLLED_UNTIL // bucket_s * bucket_s
    old_fleet = {(r["t"], r["algorithm"]): (r["hashrate_hs"], r["power_w"], r["online"])
                 for r in old_fleet_history(conn, since, bucket_s) if r["t"] + bucket_s <= until}
    old_miners = {mid: {r["t"]: (r["hashrate_hs"], r["power_w"], r["temp_c"])
                        for r in old_miner_history(conn, mid, since, bucket_s) if r["t"] + bucket_s <= until}
                  for mid in (1, 7)}
    conn.close()
    assert {k[1] for k in old_fleet} == {"sha256d", "scrypt"}
    assert any(v[1] is None for v in old_miners[7].values())  # miner 7 never reports power

    mig.migrate(path, chunk_s=CHUNK_S)

    conn = connect(path)
    for tier in tiers:
        assert_same(old_fleet, new_fleet(conn, tier, since, until, bucket_s))
        for mid, old in old_miners.items():
            assert_same(old, new_miner(conn, tier, since, until, bucket_s, mid))
    conn.close()


# --- resumable -----------------------------------------------------------------------------------
class Stop(Exception):
    pass


def test_resume_after_every_chunk(old_files, reference, tmp_path):
    """Stopped after each committed step in turn, a second run ends with the same file."""
    total = len(reference["messages"])
    assert total > 15
    tables = [t for t in reference if t != "messages"]
    for stop_at in range(1, total):
        path = copy(old_files["irregular"], tmp_path / f"fleet{stop_at}.db")
        calls = []

        def stop(msg, calls=calls, stop_at=stop_at):
            calls.append(msg)
            if len(calls) == stop_at:
                raise Stop

        with pytest.raises(Stop):
            mig.migrate(path, stop, chunk_s=CHUNK_S)
        assert file_needs(path), calls[-1]
        mig.migrate(path, chunk_s=CHUNK_S)
        assert not file_needs(path)
        got = dump(path, tables)
        assert got == {t: reference[t] for t in tables}, calls[-1]
        path.unlink()


KILLER = textwrap.dedent("""
    import os, signal, sqlite3, sys
    sys.path.insert(0, sys.argv[1])
    from database import migrate as mig
    mig.TIER_STEP_S = 86400
    marker, nth, seen = sys.argv[3], int(sys.argv[4]), []
    def trace(sql):
        if sql.lstrip().startswith(marker):
            seen.append(sql)
            if len(seen) == nth:
                os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of a transaction
    real = sqlite3.connect
    def connect(*a, **k):
        conn = real(*a, **k)
        conn.set_trace_callback(trace)
        return conn
    sqlite3.connect = connect
    mig.migrate(sys.argv[2], print, chunk_s=%d)
""" % CHUNK_S)


@pytest.mark.parametrize("marker,nth", [
    ("ALTER TABLE miners RENAME", 1),  # inside the first transaction
    ("DELETE FROM samples_v2", 3),  # a raw chunk inserted, not yet deleted
    ("DELETE FROM battery_samples_v2", 1),
    ("DELETE FROM samples_5m_v2", 2),
    ("INSERT OR REPLACE INTO miner_1h", 2),  # building the tiers
    ("DROP TABLE IF EXISTS samples_5m_v2", 1),  # the last transaction
])
def test_resume_after_kill_9(old_files, reference, tmp_path, marker, nth):
    path = copy(old_files["irregular"], tmp_path / "fleet.db")
    proc = subprocess.run([sys.executable, "-c", KILLER, str(ROOT), str(path), marker, str(nth)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert file_needs(path)
    mig.migrate(path, chunk_s=CHUNK_S)
    tables = [t for t in reference if t != "messages"]
    assert dump(path, tables) == {t: reference[t] for t in tables}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# --- command line --------------------------------------------------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "database.migrate", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_cli_check_migrate_check(old_files, tmp_path):
    path = copy(old_files["irregular"], tmp_path / "fleet.db")
    proc = run_cli(str(path), "--check")
    assert proc.returncode == 2 and "needs migration" in proc.stdout
    conn = sqlite3.connect(path)
    raw = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    first = conn.execute("SELECT COUNT(*) FROM samples WHERE ts < ?", (RAW_START + CHUNK_S,)).fetchone()[0]
    conn.close()
    proc = run_cli(str(path), "--chunk-hours", str(CHUNK_S / 3600))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1] == f"raw samples: {first:,} of {raw:,} ({100 * first // raw} %)"
    assert f"raw samples: {raw:,} of {raw:,} (100 %)" in lines
    assert lines[-1].startswith(f"{path}: layout 3")
    proc = run_cli(str(path), "--check")
    assert proc.returncode == 0 and "current" in proc.stdout


def test_cli_missing_file_is_one_line_error(tmp_path):
    missing = tmp_path / "nope.db"
    proc = run_cli(str(missing))
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1 and "no database" in proc.stderr
    assert not missing.exists()
    assert run_cli(str(missing), "--check").returncode == 1


def test_refuses_while_another_connection_is_open(old_files, tmp_path, monkeypatch):
    """A service still running (any open connection) makes it fail before changing anything."""
    monkeypatch.setattr(mig, "BUSY_S", 0.2)
    path = copy(old_files["irregular"], tmp_path / "fleet.db")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("SELECT COUNT(*) FROM miners").fetchone()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        mig.migrate(path, chunk_s=CHUNK_S)
    assert mig.needs_migration(other)
    assert other.execute("PRAGMA user_version").fetchone()[0] == 2
    assert "samples_v2" not in table_names(path)
    other.close()
    mig.migrate(path, chunk_s=CHUNK_S)
    assert not file_needs(path)


# --- the served app converts an old file before its worker starts -----------------------------------
@pytest.mark.integration
def test_gunicorn_converts_an_old_file_in_the_master_then_serves_it(old_files, tmp_path):
    import requests
    import yaml

    from tests.gunicorn_proc import start_gunicorn, stop_group
    from tests.integration import wait_for

    host = "127.81.0.1"
    with __import__("socket").socket() as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    data = tmp_path / "data"
    data.mkdir()
    copy(old_files["regular"], data / "fleet.db")
    config = {"server": {"host": host, "port": port, "data_dir": str(data)}, "battery": {"source": "none"},
              "security": {"api_token": "t" * 32, "admin_password": "long-enough-pw"},
              "storage": {"csv_interval_sec": 0}, "network": {"discover_on_start": False}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        proc = start_gunicorn(tmp_path / "config.yaml", log)
    try:
        base = f"http://{host}:{port}"

        def answering():
            try:
                return requests.get(base + "/api/health", timeout=2).status_code == 200
            except requests.RequestException:
                return None

        wait_for(answering, 60, 0.2, message="the app did not start:\n" + log_path.read_text()[-3000:])
        text = log_path.read_text()
        assert "converting" in text and "conversion done" in text, text[-3000:]
        assert not file_needs(data / "fleet.db")
        chart = requests.get(base + "/api/history?range=all", timeout=10).json()
        assert any(v for v in chart["series"]["hashrate_hs.sha256d"] if v)  # the old history, served
    finally:
        stop_group(proc)
    assert "Traceback" not in log_path.read_text()
