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


def test_connections_of_ended_threads_are_closed(runtime):
    db = runtime.db
    db.conn()
    baseline = open_fds()

    def touch() -> None:
        db.conn().execute("SELECT COUNT(*) FROM miners").fetchone()

    for _ in range(100):
        thread = threading.Thread(target=touch)
        thread.start()
        thread.join()
    db.conn()  # a live thread asking again changes nothing
    assert db.reap() <= 1  # the last thread's connection at most: each new one closed its predecessors'
    assert db.open_connections() <= 2
    assert open_fds() <= baseline + 2, (baseline, open_fds())

