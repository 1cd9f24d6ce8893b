"""Runtime: the single-poller lock, scheduler lifecycle, retention and roll-ups."""

from __future__ import annotations

import time

from database import queries
from services.runtime import Runtime


def test_second_process_gets_no_lock_and_runs_read_only(config):
    first = Runtime(config)
    second = Runtime(config)
    try:
        first.start()
        assert not first.read_only and first.scheduler is not None
        second.start()
        assert second.read_only and second.scheduler is None
    finally:
        second.shutdown()
        first.shutdown()
    third = Runtime(config)  # the lock is released at shutdown
    try:
        third.start()
        assert not third.read_only
    finally:
        third.shutdown()


def test_scheduler_jobs_never_overlap(config):
    rt = Runtime(config)
    try:
        rt.start()
        for job in rt.scheduler.get_jobs():
            assert job.max_instances == 1 and job.coalesce is True
        assert {job.id for job in rt.scheduler.get_jobs()} == {"poll", "maintenance", "battery", "autocontrol", "csv_log",
                                                                 "failure_counts"}
    finally:
        rt.shutdown()
    rt.shutdown()  # twice is harmless


def test_rollup_then_purge_keeps_averages(runtime):
    # One write block for the whole test: the runtime's own writes nest into it (same thread)
    with runtime.db.write() as conn:
        miner_id = runtime.fleet.add("10.0.0.1", "fake").id
        now = time.time()
        old = now - 5 * 86400  # beyond raw retention (3 days), within roll-up retention
        bucket = int(old // 300) * 300
        rows = [(miner_id, bucket + 15 * i, 100.0 + i, 10.0, 50.0 + i, 3000) for i in range(20)]  # 300 s of polls
        queries.insert_samples(conn, rows, [])
        queries.insert_samples(conn, [(miner_id, now - 60, 500.0, None, 60.0, 3000)], [])
        result = runtime.maintenance()
        assert result["raw_deleted"] == 20
        rolled = conn.execute("SELECT * FROM samples_5m WHERE miner_id = ? ORDER BY bucket_ts", (miner_id,)).fetchall()
        assert rolled[0]["bucket_ts"] == bucket and rolled[0]["n"] == 20
        assert rolled[0]["hashrate_hs"] == sum(100.0 + i for i in range(20)) / 20
        assert rolled[0]["temp_c"] == 69.0  # the hottest reading of the bucket
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 1
        # A week chart now reads the roll-up for the old part.
        history = queries.fleet_history(conn, now - 7 * 86400, 1800)
        assert history[0]["hashrate_hs"] > 0
        again = runtime.maintenance()  # idempotent
        assert again["raw_deleted"] == 0
        assert conn.execute("SELECT n FROM samples_5m WHERE bucket_ts = ?", (bucket,)).fetchone()[0] == 20


def test_history_buckets_average_per_miner_before_summing(runtime):
    # One write block for the whole test: the runtime's own writes nest into it (same thread)
    with runtime.db.write() as conn:
        a = runtime.fleet.add("10.0.0.1", "fake").id
        b = runtime.fleet.add("10.0.0.2", "fake").id
        t0 = int(time.time() // 600) * 600 - 600
        rows = [(a, t0 + 10, 10.0, 5.0, 40.0, 1), (a, t0 + 20, 30.0, 7.0, 40.0, 1), (b, t0 + 30, 100.0, None, 40.0, 1)]
        queries.insert_samples(conn, rows, [])
        (row,) = queries.fleet_history(conn, t0 - 1, 600)
        assert row["hashrate_hs"] == 20.0 + 100.0  # miner a averaged (20), then summed with b
        assert row["power_w"] == 6.0  # b reports no power: not counted as 0
        assert row["online"] == 2
