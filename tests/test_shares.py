"""services/shares.py: share counters per miner and pool, written with the history flush, read per range."""

from __future__ import annotations

import dataclasses
import sqlite3
from types import SimpleNamespace

import pytest

from database.db import Database
from miners.base import MinerStatus, PoolStatus
from services.config import StorageConfig
from services.history import History
from services.shares import KEY_BITS, POOL_BITS, ShareLog, counters

T0 = 1_700_000_000 - 1_700_000_000 % 86400  # a UTC midnight
POOL = "stratum+tcp://solo.ckpool.org:3333"
BACKUP = "stratum+tcp://public-pool.io:21496"
USER = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4.rig"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "fleet.db")
    with database.write() as conn:
        for i in (1, 2):
            conn.execute("INSERT INTO miners (id, ip, family, added_ts) VALUES (?, ?, 'fake', 0)", (i, f"10.0.0.{i}"))
    yield database
    database.close()


def _bitaxe(t, accepted, rejected, online=True):
    """AxeOS: session totals, two pools, the first in use."""
    status = MinerStatus(shares_accepted=accepted, shares_rejected=rejected,
                         pools=[PoolStatus(POOL, USER, active=True, priority=0), PoolStatus(BACKUP, USER, priority=1)])
    return SimpleNamespace(id=1, ip="10.0.0.1", status=status, online=online, last_seen_ts=t)


def _cgminer(t, pools):
    """cgminer API: counters per pool (url, accepted, rejected)."""
    status = MinerStatus(shares_accepted=sum(a for _, a, _ in pools), shares_rejected=sum(r for _, _, r in pools),
                         pools=[PoolStatus(url, "acct.w2", active=(i == 0), priority=i, accepted=a, rejected=r)
                                for i, (url, a, r) in enumerate(pools)])
    return SimpleNamespace(id=2, ip="10.0.0.2", status=status, online=True, last_seen_ts=t)


def make(db, clock, **storage):
    cfg = dataclasses.replace(StorageConfig(), **storage)
    history = History(db, cfg, settle_s=5, clock=clock)
    shares = ShareLog(db, cfg, clock=clock)
    history.companions.append(shares)
    return history, shares


def test_counters_per_pool_or_totals_for_the_pool_in_use():
    assert counters(_bitaxe(0, 10, 1).status) == [(POOL, USER, 10, 1)]
    two = _cgminer(0, [(POOL, 5, 0), (BACKUP, 0, 0), ("stratum+tcp://x:1", 3, 1)]).status
    assert counters(two) == [(POOL, "acct.w2", 5, 0), ("stratum+tcp://x:1", "acct.w2", 3, 1)]  # unused backup: no row
    assert counters(MinerStatus()) == []
    assert counters(MinerStatus(shares_accepted=4, shares_rejected=0)) == [("", "", 4, 0)]  # no pool known


def _rows(db, table):
    with db.read() as conn:
        return [(r[0] >> KEY_BITS, (r[0] >> POOL_BITS) & 0xFFFFF, r[1], r[2])
                for r in conn.execute(f"SELECT id, accepted, rejected FROM {table} ORDER BY id")]


def test_one_row_per_bucket_written_with_the_history_flush(db):
    clock = Clock(T0)
    history, shares = make(db, clock)
    # A Bitaxe polled every 15 s for 20 minutes: 5 accepted shares a minute, a reject every 4 minutes.
    for i in range(80):
        clock.t = T0 + 15 * i
        shares.observe([_bitaxe(clock.t, 5 * i // 4, i // 16)])
        if i % 8 == 7:
            history.flush()  # every 2 minutes, as storage.flush_interval_sec
    # 20 minutes: 4 five-minute buckets; the last is open (not written), the hourly bucket too.
    rows = _rows(db, "shares_5m")
    assert [(m, miner) for m, miner, _, _ in rows] == [(T0 // 60 + 5 * k, 1) for k in range(3)]
    assert [(a, r) for _, _, a, r in rows] == [(5 * 19 // 4, 19 // 16), (5 * 39 // 4, 39 // 16), (5 * 59 // 4, 59 // 16)]
    assert _rows(db, "shares_1h") == []
    history.flush(final=True)  # at shutdown: the open buckets too
    assert len(_rows(db, "shares_5m")) == 4 and _rows(db, "shares_1h") == [(T0 // 60, 1, 5 * 79 // 4, 79 // 16)]


def test_totals_and_chart_from_stored_rows_and_memory(db):
    clock = Clock(T0)
    history, shares = make(db, clock)
    accepted = rejected = 0
    for i in range(240):  # an hour at 15 s
        clock.t = T0 + 15 * i
        accepted += 2
        rejected += i % 30 == 0
        if i == 120:  # the miner rebooted half-way: its counters start again at 0
            accepted, rejected = 1, 0
        shares.observe([_bitaxe(clock.t, accepted, rejected)])
        if i % 8 == 7:
            history.flush()
    total = shares.totals(T0 - 1)[(1, POOL, USER)]
    # Counted from the first stored value: the first 5-minute row (i = 19: 40 accepted, 1 rejected).
    # Then +2 a reading up to the reboot (240), the reboot's row counts from 0 (i = 139: 39), +2 a
    # reading to the end (239). Rejects: 1 (i = 0) to 4 before the reboot, then 0 to 3 (i = 150, 180, 210).
    assert total == {"accepted": (240 - 40) + 39 + (239 - 39), "rejected": 6}
    times, pools = shares.chart(1, T0 - 1, 600)
    assert len(times) == 7 and sum(pools[(POOL, USER)]["accepted"]) == total["accepted"]
    assert sum(pools[(POOL, USER)]["rejected"]) == 6
    # The last 30 minutes only: from the 5-minute row before (its last value is the baseline).
    recent = shares.totals(T0 + 1800)[(1, POOL, USER)]
    assert recent["accepted"] == pytest.approx(2 * 120, abs=2 * 20)  # within one 5-minute row of the edge


def test_per_pool_counters_and_a_pool_change(db):
    clock = Clock(T0)
    history, shares = make(db, clock)
    for i in range(40):
        clock.t = T0 + 30 * i
        second = max(0, i - 20)  # the miner moves to its second pool after 10 minutes
        shares.observe([_cgminer(clock.t, [(POOL, min(i, 20) * 3, 0), (BACKUP, second * 4, second // 5)])])
        if i % 4 == 3:
            history.flush()
    totals = shares.totals(T0 - 1)
    # Ten readings a bucket; each pool counts from its first stored row: the first pool's bucket 0
    # (i = 9: 27) to its last value (60); the second pool's first row is bucket 2 (i = 29: 36), its
    # latest i = 39 (76). Before i = 21 the second pool counts nothing and has no rows.
    assert totals[(2, POOL, "acct.w2")] == {"accepted": 60 - 27, "rejected": 0}
    assert totals[(2, BACKUP, "acct.w2")] == {"accepted": 76 - 36, "rejected": 19 // 5 - 9 // 5}


def test_a_failed_flush_keeps_the_rows(db, monkeypatch):
    clock = Clock(T0)
    history, shares = make(db, clock)
    for i in range(30):
        clock.t = T0 + 15 * i
        shares.observe([_bitaxe(clock.t, i, 0)])
    history.add_round(clock.t, [(1, "sha256d", 1e12, 15.0, 50.0, 3000)])
    assert shares.pending() == 1  # the first 5-minute bucket closed
    real = shares._pool_id

    def broken(*args):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(shares, "_pool_id", broken)
    with pytest.raises(sqlite3.OperationalError):
        history.flush()
    assert _rows(db, "shares_5m") == [] and shares.pending() == 1
    monkeypatch.setattr(shares, "_pool_id", real)
    history.flush()
    assert [a for _, _, a, _ in _rows(db, "shares_5m")] == [19]


def test_a_miner_gone_quiet_closes_its_bucket_at_the_next_flush(db):
    clock = Clock(T0)
    history, shares = make(db, clock)
    shares.observe([_bitaxe(T0 + 10, 7, 1)])
    clock.t = T0 + 400  # its bucket ended 100 s ago, no reading since (offline)
    shares.observe([_bitaxe(T0 + 10, 7, 1, online=False)])
    history.add_round(clock.t, [(2, "sha256d", 1e12, 15.0, 50.0, 3000)])
    history.flush()
    assert _rows(db, "shares_5m") == [(T0 // 60, 1, 7, 1)]


def test_retention_and_removed_miners(db):
    clock = Clock(T0)
    history, shares = make(db, clock, rollup_retention_days=1, hourly_retention_days=2)
    for day in range(4):
        for i in range(3):
            clock.t = T0 + day * 86400 + 300 * i
            shares.observe([_bitaxe(clock.t, i, 0), _cgminer(clock.t, [(POOL, i + 1, 0)])])
        history.flush(final=True)
    before = len(_rows(db, "shares_5m")), len(_rows(db, "shares_1h"))
    history.purge(T0 + 3 * 86400 + 3600, removed_miners=[2])
    after_5m, after_1h = _rows(db, "shares_5m"), _rows(db, "shares_1h")
    assert before == (24, 8)
    assert {m for m, _, _, _ in after_5m} >= {T0 // 60 + 3 * 1440} and min(m for m, _, _, _ in after_5m) >= (T0 + 2 * 86400) // 60
    assert min(m for m, _, _, _ in after_1h) >= (T0 + 86400) // 60
    assert {miner for _, miner, _, _ in after_5m + after_1h} == {1}


def test_memory_forgets_keys_long_unseen(db):
    clock = Clock(T0)
    history, shares = make(db, clock)
    shares.observe([_bitaxe(T0, 5, 0)])
    clock.t = T0 + 3 * 3600  # its buckets closed and were written; the miner was removed meanwhile
    history.add_round(clock.t, [(2, "sha256d", 1e12, 15.0, 50.0, 3000)])
    history.flush()
    assert shares._latest == {} and shares._written == {}
    assert [(a, r) for _, _, a, r in _rows(db, "shares_5m")] == [(5, 0)]
    assert [(a, r) for _, _, a, r in _rows(db, "shares_1h")] == [(5, 0)]
