"""Runtime: the single-poller lock, scheduler lifecycle, retention and roll-ups."""

from __future__ import annotations

import time

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
                                                                 "failure_counts", "history_flush", "wal_checkpoint", "alerts"}
    finally:
        rt.shutdown()
    rt.shutdown()  # twice is harmless
