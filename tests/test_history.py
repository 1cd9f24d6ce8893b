"""services/history.py + database/series.py: buffered writes, roll-up tiers, tiered chart reads."""

from __future__ import annotations

import dataclasses
import random
import sqlite3

import pytest

from database import series as ts
from database.db import Database
from services.battery import BatteryReading
from services.config import StorageConfig
from services.history import LAST_SEEN_EVERY_S, History, stored_reading

T0 = 1_700_000_000 - 1_700_000_000 % 86400  # a UTC midnight
INTERVAL = 15


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "fleet.db")
    with database.write() as conn:
        for i, algo in ((1, "sha256d"), (2, "sha256d"), (3, "scrypt")):
            conn.execute("INSERT INTO miners (id, ip, family, algorithm, added_ts) VALUES (?, ?, 'fake', ?, 0)",
                         (i, f"10.0.0.{i}", algo))
    yield database
    database.close()


def make(db, clock, **storage) -> History:
    return History(db, dataclasses.replace(StorageConfig(), **storage), settle_s=5, clock=clock)


def poll(history: History, clock: Clock, start: float, end: float, *, rng: random.Random,
         missing: set[tuple[float, int]] = frozenset(), flush_every: int = 4) -> list[tuple]:
    """Rounds every INTERVAL s from start to end, flushing every few rounds; returns (ts, id, algo, h, p, t)."""
    made = []
    rounds = 0
    t = start
    while t < end:
        clock.t = t
        rows = []
        for miner_id, algo in ((1, "sha256d"), (2, "sha256d"), (3, "scrypt")):
            if (t, miner_id) in missing:
                continue
            h = rng.uniform(90e12, 110e12) if algo == "sha256d" else rng.uniform(1e9, 2e9)
            p = None if miner_id == 2 else rng.uniform(3000, 3300)  # miner 2 reports no power
            temp = rng.uniform(55, 75)
            rows.append((miner_id, algo, h, p, temp, 4000))
            made.append((t, miner_id, algo, *stored_reading(h, p, temp)))  # the precision history keeps
        history.add_round(t, rows)
        rounds += 1
        if rounds % flush_every == 0:
            clock.t = t + 1
            history.flush()
        t += INTERVAL
    clock.t = t
    history.flush()
    return made


def expect_fleet(made, since, bucket):
    """The oracle: per bucket and algorithm, the mean over rounds of the round's total; the most online."""
    rounds: dict = {}
    for t, _mid, algo, h, p, _temp in made:
        if t < since:
            continue
        total = rounds.setdefault((t, algo), [0.0, None, 0])
        total[0] += h
        if p is not None:
            total[1] = (total[1] or 0.0) + p
        total[2] += 1
    out: dict = {}
    for (t, algo), (h, p, online) in rounds.items():
        b = out.setdefault((int(t // bucket) * bucket, algo), [[], [], 0])
        b[0].append(h)
        if p is not None:
            b[1].append(p)
        b[2] = max(b[2], online)
    return {k: (sum(v[0]) / len(v[0]), sum(v[1]) / len(v[1]) if v[1] else None, v[2]) for k, v in out.items()}


def expect_miner(made, miner_id, since, bucket):
    out: dict = {}
    for t, mid, _algo, h, p, temp in made:
        if mid != miner_id or t < since:
            continue
        b = out.setdefault(int(t // bucket) * bucket, [[], [], []])
        b[0].append(h)
        if p is not None:
            b[1].append(p)
        b[2].append(temp)
    return {t: (sum(v[0]) / len(v[0]), sum(v[1]) / len(v[1]) if v[1] else None, max(v[2])) for t, v in out.items()}


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def check_fleet(history, made, since, bucket_s):
    bucket, rows = history.fleet_chart(since, bucket_s)
    want = expect_fleet(made, since, bucket)
    got = {(r["t"], r["algorithm"]): (r["hashrate_hs"], r["power_w"], r["online"]) for r in rows}
    assert set(got) == set(want)
    for key, (h, p, online) in want.items():
        gh, gp, gon = got[key]
        assert close(gh, h) and close(gp, p) and gon == online, (key, got[key], want[key])
    return bucket


def check_miner(history, made, miner_id, since, bucket_s):
    bucket, rows = history.miner_chart(miner_id, since, bucket_s)
    want = expect_miner(made, miner_id, since, bucket)
    got = {r["t"]: (r["hashrate_hs"], r["power_w"], r["temp_c"]) for r in rows}
    assert set(got) == set(want)
    for t, (h, p, temp) in want.items():
        assert close(got[t][0], h) and close(got[t][1], p) and close(got[t][2], temp), (t, got[t], want[t])
    return bucket


# --- buffering ----------------------------------------------------------------------------------
def test_rounds_wait_in_memory_until_the_flush_and_charts_include_them(db):
    clock = Clock(T0)
    history = make(db, clock)
    history.add_round(T0, [(1, "sha256d", 100e12, 3000.0, 60.0, 4000), (3, "scrypt", 1e9, None, 50.0, 0)])
    with db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0  # nothing written yet
    bucket, rows = history.fleet_chart(T0 - 60, 12)
    assert {(r["algorithm"], r["hashrate_hs"], r["online"]) for r in rows} == {("sha256d", 100e12, 1), ("scrypt", 1e9, 1)}
    assert history.miner_chart(1, T0 - 60, 12)[1][0]["power_w"] == 3000.0
    assert history.miner_chart(1, T0 - 60, 12)[1][0]["fan_rpm"] == 4000  # the detail's temperature & fan chart
    clock.t = T0 + 1
    assert history.flush()["samples"] == 2
    assert history.pending() == 0
    with db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM fleet_samples").fetchone()[0] == 2
    assert history.fleet_chart(T0 - 60, 12) == (bucket, rows)  # the same chart from the database


def test_a_failed_flush_keeps_the_rows_for_the_next(db, monkeypatch):
    clock = Clock(T0)
    history = make(db, clock)
    history.add_round(T0, [(1, "sha256d", 1.0, None, None, None)])

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ts, "insert_raw", broken)
    with pytest.raises(sqlite3.OperationalError):
        history.flush()
    history.add_round(T0 + 15, [(1, "sha256d", 2.0, None, None, None)])
    assert history.pending() == 4  # two miner rows and two fleet rows
    monkeypatch.undo()
    history.flush()
    with db.read() as conn:
        assert [r[0] for r in conn.execute("SELECT hashrate_hs FROM samples ORDER BY id")] == [1.0, 2.0]


def test_flush_interval_zero_writes_every_round(db):
    history = make(db, Clock(T0), flush_interval_sec=0)
    history.add_round(T0, [(1, "sha256d", 1.0, None, None, None)])
    with db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 1


def test_last_seen_is_written_every_ten_minutes_and_at_the_end(db):
    clock = Clock(T0)
    history = make(db, clock)

    def last_seen():
        with db.read() as conn:
            return conn.execute("SELECT last_seen_ts FROM miners WHERE id = 1").fetchone()[0]

    history.add_round(T0 + 10, [(1, "sha256d", 1.0, None, None, None)])
    clock.t = T0 + 60
    history.flush()
    assert last_seen() is None  # not due yet: a flush a minute must not rewrite the miners table
    history.add_round(T0 + LAST_SEEN_EVERY_S, [(1, "sha256d", 1.0, None, None, None)])
    clock.t = T0 + LAST_SEEN_EVERY_S + 1
    history.flush()
    assert last_seen() == T0 + LAST_SEEN_EVERY_S
    history.add_round(T0 + LAST_SEEN_EVERY_S + 15, [(1, "sha256d", 1.0, None, None, None)])
    history.flush(final=True)
    assert last_seen() == T0 + LAST_SEEN_EVERY_S + 15


def test_battery_readings_are_buffered_and_charted(db):
    clock = Clock(T0)
    history = make(db, clock)
    for i in range(6):
        reading = BatteryReading(soc_pct=50.0 + i, pv_w=1000.0, load_w=400.0, battery_w=-600.0,
                                 grid_w=None if i % 2 else -100.0, measured_at=T0 + 10 * i, source="scripted")
        history.add_battery(reading, T0 + 10 * i)
        if i == 2:
            clock.t = T0 + 25
            history.flush()
    bucket, rows = history.battery_chart(T0, 60)
    assert bucket == 60 and len(rows) == 1
    assert rows[0]["soc_pct"] == pytest.approx(52.5) and rows[0]["grid_w"] == -100.0  # NULL grid not counted as 0


# --- tiers ---------------------------------------------------------------------------------------
def test_tiers_fold_exactly_and_every_range_matches_the_raw_oracle(db):
    clock = Clock(T0)
    history = make(db, clock)
    rng = random.Random(7)
    end = T0 + 2 * 86400 + 3 * 3600 + 420  # two days, three hours and a bit: every tier has closed buckets
    missing = {(T0 + 3600 + 15 * k, 2) for k in range(30)}  # miner 2 offline for a while
    made = poll(history, clock, T0, end, rng=rng, missing=missing, flush_every=4)
    with db.read() as conn:
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("miner_5m", "miner_1h", "miner_1d", "fleet_5m", "fleet_1h", "fleet_1d")}
        assert counts["miner_1d"] == 2 * 3 and counts["fleet_1d"] == 2 * 2  # two closed days, 3 miners / 2 algos
        assert counts["miner_1h"] == (2 * 24 + 3) * 3
        # Every 5-minute bucket that ended settle_s (5 s) before the last flush, less the one in which
        # miner 2 was offline throughout.
        assert counts["miner_5m"] == ((end - 5 - T0) // 300) * 3 - 1
        one = conn.execute("SELECT * FROM miner_1h WHERE id = ?", (ts.MINER.key_of(T0 + 3600, 2, "1h"),)).fetchone()
        assert one["n"] == 240 - 30 and one["n_power_w"] == 0 and one["power_w"] is None
    for bucket_s in (12, 300, 900, 3600, 2 * 3600, 86400):
        for since in (T0, T0 + 1800, end - 4 * 3600):
            bucket = check_fleet(history, made, since - since % max(bucket_s, 1), bucket_s)
            assert bucket % (history.plan(bucket_s)[1]) == 0
            for miner_id in (1, 2, 3):
                check_miner(history, made, miner_id, since - since % bucket_s, bucket_s)
    assert history.plan(870) == ("5m", 900)  # 3d: a bucket rounded to whole 5-minute rows
    assert history.plan(105120) == ("1d", 172800)


def test_the_tier_a_chart_reads_is_what_the_plan_says(db, monkeypatch):
    clock = Clock(T0)
    history = make(db, clock)
    poll(history, clock, T0, T0 + 2 * 3600, rng=random.Random(1))
    read: list[str] = []
    real = ts.buckets

    def spy(conn, series, tier, *args, **kwargs):
        read.append(tier)
        return real(conn, series, tier, *args, **kwargs)

    monkeypatch.setattr(ts, "buckets", spy)
    history.fleet_chart(T0, 3600)
    assert read == ["1h", "5m", "raw"]  # the hours rolled, the 5-minute rows after them, then raw
    read.clear()
    history.fleet_chart(T0, 12)
    assert read == ["raw"]


def test_a_short_raw_retention_gives_way_to_the_roll_ups(db):
    clock = Clock(T0)
    history = make(db, clock)
    made = poll(history, clock, T0, T0 + 3 * 3600, rng=random.Random(3))
    history.purge(T0 + 3 * 3600, None)  # defaults: nothing is old enough yet
    with db.write() as conn:
        ts.purge(conn, ts.MINER, ts.RAW, T0 + 2 * 3600)
        ts.purge(conn, ts.FLEET, ts.RAW, T0 + 2 * 3600)
    # A chart from T0 at a 60 s bucket cannot come from raw any more: 5-minute rows, rounded.
    bucket, rows = history.fleet_chart(T0, 60)
    assert bucket == 300 and rows[0]["t"] == T0
    check_fleet(history, made, T0, 300)


def test_retention_per_tier_and_removed_miners(db):
    clock = Clock(T0)
    history = make(db, clock, raw_retention_days=1, rollup_retention_days=1, hourly_retention_days=2,
                   daily_retention_days=2)
    poll(history, clock, T0, T0 + 3 * 86400 + 600, rng=random.Random(5), flush_every=40)
    now = T0 + 3 * 86400 + 600
    counts = history.purge(now, [2])
    with db.read() as conn:
        assert ts.first_time(conn, ts.MINER, ts.RAW) >= now - 86400
        assert ts.first_time(conn, ts.MINER, "5m") >= now - 86400
        assert ts.first_time(conn, ts.FLEET, "1h") >= now - 2 * 86400
        for table in ("samples", "miner_5m", "miner_1h", "miner_1d"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE (id & {ts.MINER.mask}) = 2").fetchone()[0] == 0
            assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE (id & {ts.MINER.mask}) = 1").fetchone()[0] > 0
    assert counts["raw"] > 0 and counts["rollups"] > 0 and counts["removed"] > 0


def test_control_state_is_never_buffered(runtime):
    """A state write is on disk when it returns: another connection sees it with no flush."""
    runtime.autocontrol.store.set("test.key", {"a": 1})
    other = sqlite3.connect(runtime.db.path)
    try:
        assert other.execute("SELECT value FROM state WHERE key = 'test.key'").fetchone()[0] == '{"a": 1}'
    finally:
        other.close()


def test_a_removed_miner_history_goes_at_the_next_maintenance(runtime):
    fleet = runtime.fleet
    record = fleet.add("10.0.0.9", "fake")
    fleet.poll_round()
    runtime.history.flush()
    fleet.remove("10.0.0.9")
    with runtime.db.read() as conn:
        assert conn.execute(f"SELECT COUNT(*) FROM samples WHERE (id & {ts.MINER.mask}) = ?", (record.id,)).fetchone()[0] == 1
    assert runtime.maintenance()["removed_deleted"] >= 1
    with runtime.db.read() as conn:
        assert conn.execute(f"SELECT COUNT(*) FROM samples WHERE (id & {ts.MINER.mask}) = ?", (record.id,)).fetchone()[0] == 0
    again = fleet.add("10.0.0.9", "fake")
    assert again.id != record.id  # ids are never reused, so no new miner inherits old rows


def test_every_tier_table_in_schema_sql_has_the_columns_series_py_writes(db):
    """schema.sql spells the nine tier tables out for the reader; series.py folds into them by name."""
    with db.read() as conn:
        for series in ts.SERIES:
            for label, _size in ts.TIERS:
                columns = [row[1] for row in conn.execute(f"PRAGMA table_info({series.table(label)})")]
                assert columns == ts.tier_columns(series), series.table(label)


def test_a_partial_round_is_not_history(runtime):
    """The re-poll of one miner after a command must not store a fleet total of that one miner."""
    fleet = runtime.fleet
    fleet.add("10.0.0.1", "fake")
    fleet.add("10.0.0.2", "fake")
    fleet.poll_round()
    fleet.poll_round([fleet.get("10.0.0.1")])
    runtime.history.flush()
    with runtime.db.read() as conn:
        assert [tuple(r) for r in conn.execute("SELECT online FROM fleet_samples")] == [(2,)]
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 2


def test_readings_are_kept_at_a_precision_sqlite_stores_as_integers(db):
    """Whole H/s, W (0.1 W under 100 W) and degrees: SQLite then writes most raw values as 1-6 byte integers."""
    assert stored_reading(102_345_678_901_234.56, 3245.67, 64.44) == (102_345_678_901_235.0, 3246.0, 64.0)
    assert stored_reading(1.23456e12, 15.26, 58.5) == (1_234_560_000_000.0, 15.3, 58.0)
    assert stored_reading(None, None, None) == (None, None, None)
    history = make(db, Clock(T0))
    history.add_round(T0, [(1, "sha256d", 102_345_678_901_234.56, 3245.67, 64.44, 5000),
                           (3, "scrypt", 1.5e9, 15.26, 58.5, 0)])
    history.flush()
    with db.read() as conn:
        stored = conn.execute("SELECT typeof(hashrate_hs), typeof(power_w), typeof(temp_c), hashrate_hs, power_w, temp_c"
                              " FROM samples ORDER BY id").fetchall()
    stored = [tuple(row) for row in stored]
    # Read back as REAL (the column's affinity) whatever the bytes on disk.
    assert stored == [("real", "real", "real", 102_345_678_901_235.0, 3246.0, 64.0),
                      ("real", "real", "real", 1_500_000_000.0, 15.3, 58.0)]
    record = "SELECT SUM(pgsize - unused) FROM dbstat WHERE name = 'samples' AND pagetype = 'leaf'"
    with db.read() as conn:
        try:
            used = conn.execute(record).fetchone()[0]
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat")
    assert used < 2 * 36  # two rows of ~30 bytes (cell, header, 9-byte key, integers); 8-byte REALs made ~43 each
