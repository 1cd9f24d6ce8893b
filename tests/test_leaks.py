"""No descriptor or thread leaks: 100 commands, 100 threads that touch the database, a discovery sweep."""

from __future__ import annotations

import os
import threading
import time

from tests.fakes import FakeDriver


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_100_commands_leave_descriptors_and_threads_flat(client, auth, runtime):
    runtime.fleet.add("10.0.0.7", "fake")
    runtime.fleet.poll_round()
    # Warm up: the executor's threads, the re-poll thread and their connections exist from here on.
    for _ in range(5):
        assert client.post("/api/miners/10.0.0.7/restart", headers=auth).status_code == 200
    settle(lambda: not runtime.fleet._repoll_queued)
    time.sleep(1.2)
    fds_before, threads_before = open_fds(), threading.active_count()
    for _ in range(100):
        assert client.post("/api/miners/10.0.0.7/restart", headers=auth).status_code == 200
    assert FakeDriver.restarts.count("10.0.0.7") == 105
    assert settle(lambda: not runtime.fleet._repoll_queued)
    time.sleep(1.2)  # the last re-poll's round
    fds_after, threads_after = open_fds(), threading.active_count()
    assert fds_after <= fds_before, (fds_before, fds_after)
    assert threads_after <= threads_before, (threads_before, threads_after)
    # The 100 commands' effects were re-polled in a few batched rounds, not 100 timer threads.
    assert FakeDriver.reads["10.0.0.7"] < 30


def test_threads_share_the_pool_and_leave_no_connection_behind(runtime):
    db = runtime.db
    with db.read() as conn:
        conn.execute("SELECT 1").fetchone()
    baseline = open_fds()

    def touch() -> None:
        with db.read() as conn:
            conn.execute("SELECT COUNT(*) FROM miners").fetchone()
        with db.write() as conn:
            conn.execute("SELECT COUNT(*) FROM events").fetchone()

    for _ in range(100):  # 100 short-lived threads, one after another
        thread = threading.Thread(target=touch)
        thread.start()
        thread.join()
    assert db.open_connections() <= 1 + db.readers
    # Each connection is the database file and its WAL: at most the pool's, never one per thread.
    assert open_fds() <= baseline + 2 * (1 + db.readers), (baseline, open_fds())

