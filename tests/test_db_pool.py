"""The connection pool (database/db.py): one writer, a few readers, shared by any number of threads."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from database.db import Database, DatabaseBusy


@pytest.fixture()
def db(tmp_path):
    database = Database(tmp_path / "fleet.db", readers=2, wait_s=2.0)
    yield database
    database.close()


def test_more_threads_than_connections_share_the_pool(db):
    inside, peak, lock = [0], [0], threading.Lock()
    start = threading.Barrier(12)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            start.wait()
            for _ in range(20):
                with db.read() as conn:
                    with lock:
                        inside[0] += 1
                        peak[0] = max(peak[0], inside[0])
                    conn.execute("SELECT COUNT(*) FROM miners").fetchone()
                    time.sleep(0.002)
                    with lock:
                        inside[0] -= 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert peak[0] == 2  # 12 threads, never more than the 2 readers at once
    assert db.open_connections() <= 3


def test_writes_from_many_threads_are_serialised_without_busy_errors(db):
    def writer(n: int) -> None:
        for i in range(25):
            with db.write() as conn:
                conn.execute("INSERT INTO events (ts, kind, message) VALUES (?, 'test', ?)", (time.time(), f"{n}-{i}"))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 200


def test_a_reader_refuses_writes(db):
    with db.read() as conn, pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("INSERT INTO events (ts, kind, message) VALUES (1, 'x', 'y')")


def test_nested_blocks_reuse_the_connection_held(db):
    with db.write() as outer:
        outer.execute("BEGIN")
        outer.execute("INSERT INTO events (ts, kind, message) VALUES (1, 'x', 'uncommitted')")
        with db.read() as inner:  # the writer reads its own uncommitted row
            assert inner is outer
            assert inner.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
        with db.write() as again:
            assert again is outer
        outer.execute("COMMIT")
    with db.read() as conn, pytest.raises(RuntimeError, match="inside read"):
        with db.write():
            pass
    with db.read() as conn:  # the refused nesting left the pool usable
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1


def test_an_open_transaction_is_rolled_back_when_the_block_fails(db):
    with pytest.raises(ZeroDivisionError):
        with db.write() as conn:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO events (ts, kind, message) VALUES (1, 'x', 'half')")
            1 / 0
    with db.write() as conn:
        assert not conn.in_transaction
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_a_caller_waits_then_gets_database_busy(tmp_path):
    db = Database(tmp_path / "fleet.db", readers=1, wait_s=0.3)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.read():
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(5)
    started = time.monotonic()
    with pytest.raises(DatabaseBusy):
        with db.read():
            pass
    assert 0.25 < time.monotonic() - started < 2
    release.set()
    thread.join()
    with db.read() as conn:  # free again
        conn.execute("SELECT 1")
    db.close()


def test_close_closes_every_connection(db):
    def use() -> None:
        with db.read() as conn:
            conn.execute("SELECT 1")

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.write() as conn:
        conn.execute("SELECT 1")
    assert db.open_connections() >= 2
    db.close()
    assert db.open_connections() == 0
    with pytest.raises(DatabaseBusy):
        with db.read():
            pass
