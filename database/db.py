"""SQLite connections: WAL, busy timeout, one connection per live thread.

Each thread gets its own connection (sqlite3 objects are not shared between
threads), and a connection lives no longer than its thread: when a new one is
opened, the connections of threads that have ended are closed first. Without
that, every short-lived thread (a command's re-poll timer, a discovery job)
left two descriptors (the database and its WAL) and a page cache behind for
ever: 10 commands took the worker from 472 to 495 descriptors.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

SCHEMA_VERSION = 2
_SCHEMA = Path(__file__).with_name("schema.sql")


def connect(path: str | Path) -> sqlite3.Connection:
    """Open one connection with the pragmas every user of the file needs."""
    # check_same_thread=False only so the connection of a thread that has ended (and
    # every one at shutdown) can be closed from another thread; while its thread
    # lives, a connection is used by that thread alone.
    conn = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")  # readers never block the poll writer
    conn.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; far fewer fsyncs on an SD card
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class Database:
    """Hands each thread its own connection to one file and closes it once the thread has ended."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._by_thread: dict[threading.Thread, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # The file holds miners' login passwords: owner-only, like the other secrets in
            # DATA_DIR. SQLite gives its -wal and -shm files the same mode.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._init_schema()

    def _init_schema(self) -> None:
        conn = self.conn()
        conn.executescript(_SCHEMA.read_text())
        # Version 2: events gained source and count (aggregated refusals); a version-1 file is altered once.
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        for name, decl in (("source", "TEXT"), ("count", "INTEGER NOT NULL DEFAULT 1")):
            if name not in columns:
                conn.execute(f"ALTER TABLE events ADD COLUMN {name} {decl}")
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (closing those of ended threads first)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.reap()
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._by_thread[threading.current_thread()] = conn
        return conn

    def reap(self) -> int:
        """Close the connections of threads that have ended; return how many were closed."""
        with self._lock:
            dead = [thread for thread in self._by_thread if not thread.is_alive()]
            conns = [self._by_thread.pop(thread) for thread in dead]
        for conn in conns:
            conn.close()
        return len(conns)

    def open_connections(self) -> int:
        """How many connections are open now (one per thread that has used the database)."""
        with self._lock:
            return len(self._by_thread)

    def close(self) -> None:
        """Close every connection (at shutdown; a checkpoint folds the WAL back)."""
        with self._lock:
            conns, self._by_thread = list(self._by_thread.values()), {}
        for conn in conns:
            conn.close()
        self._local = threading.local()
