"""services/pools.py: a pool started whole has its bound of threads at once and starts no more."""

from __future__ import annotations

import threading
import time

from services.pools import started_pool
from services.scheduler import build_scheduler


def test_a_started_pool_has_all_its_threads_and_a_burst_adds_none():
    before = threading.active_count()
    pool = started_pool(6, "t")
    try:
        assert threading.active_count() == before + 6
        results = list(pool.map(lambda i: time.sleep(0.01) or i, range(60)))
        assert results == list(range(60))
        assert threading.active_count() == before + 6
    finally:
        pool.shutdown(wait=True)
    assert threading.active_count() == before


def test_the_scheduler_pool_is_one_thread_per_job():
    before = threading.active_count()
    ran = threading.Event()
    scheduler = build_scheduler([("a", ran.set, 0.05, True), ("b", lambda: None, 0.05, True)], one_off=1)
    scheduler.start()
    try:
        assert ran.wait(5)
        time.sleep(0.3)
        assert threading.active_count() == before + 3 + 1  # three job threads and the scheduler's own
    finally:
        scheduler.shutdown(wait=True)
