"""SQLite connections: WAL, busy timeout, and a small fixed pool shared by every thread.

SQLite has one writer at a time, so the app has one write connection, held under
a lock by whoever writes (the poll round's samples, control state, events, the
hourly roll-up), and a few read-only connections for the dashboard's queries.
A thread takes a connection for one ``with`` block and gives it back; a nested
block in the same thread gets the connection it already holds.

Why not one connection per thread (as before): every thread that ever touched
the database kept its own connection, two descriptors and its own page cache;
16 concurrent chart requests took the worker from 49 to 99 MB, and every
short-lived thread left its connection behind (10 commands: 472 -> 495
descriptors). The pool bounds both: at most ``1 + readers`` connections, each
with a page cache of ``cache_kib``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from database import migrate as migration
from database import queries

SCHEMA_VERSION = 3  # database/migrate.py LAYOUT_VERSION: time-clustered history with roll-up tiers
_SCHEMA = Path(__file__).with_name("schema.sql")

READERS = 3  # read-only connections: a few dashboard queries at once on a Pi's 4 cores
CACHE_KIB = 2048  # page cache per connection (SQLite's default size, now bounded in count)
WAIT_S = 30.0  # longest a caller waits for a connection before DatabaseBusy


class NeedsMigration(RuntimeError):
    """The file is in an older layout (or half converted) and this caller may not convert it."""


class DatabaseBusy(sqlite3.OperationalError):
    """No connection came free within the wait (every one held by a long query or write)."""


def connect(path: str | Path, *, read_only: bool = False, cache_kib: int = CACHE_KIB) -> sqlite3.Connection:
    """Open one connection with the pragmas every user of the file needs."""
    # check_same_thread=False: a pooled connection is used by one thread at a time, but not
    # always the same thread (Python's sqlite3 is built threadsafe; the pool serialises use).
    conn = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")  # readers never block the poll writer
    conn.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; far fewer fsyncs on an SD card
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
    if read_only:
        conn.execute("PRAGMA query_only=1")  # a write through a reader is a bug: make it fail loudly
    return conn


class _Slot:
    """What one thread holds now: the connection and how deeply it is nested."""

    def __init__(self, conn: sqlite3.Connection, writer: bool) -> None:
        self.conn, self.writer, self.depth = conn, writer, 0


class WriteHealth:
    """The last failed write, until a write succeeds again (the alerts' "database error")."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.error_since: float | None = None
        self.failures = 0

    def failed(self, exc: BaseException) -> None:
        """A write block ended in a database error."""
        self.failures += 1
        if self.error is None:
            self.error_since = time.time()
        self.error = f"{type(exc).__name__}: {exc}"

    def succeeded(self) -> None:
        """A write block committed: the database is writable again."""
        if self.error is not None:
            self.error, self.error_since = None, None


class Database:
    """One SQLite file behind one write connection and a few read-only ones, shared by all threads."""

    def __init__(self, path: str | Path, *, readers: int = READERS, cache_kib: int = CACHE_KIB,
                 wait_s: float = WAIT_S, migrate: bool = False) -> None:
        """Open (or create) the file; an old-layout file is converted if ``migrate``, else refused."""
        self.path = Path(path)
        self.readers = max(1, int(readers))
        self.cache_kib = int(cache_kib)
        self.wait_s = float(wait_s)
        self._held = threading.local()  # this thread's _Slot, while it is inside a with-block
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._idle: list[sqlite3.Connection] = []  # readers not in use
        self._opened_readers = 0
        self._cond = threading.Condition()
        self._closed = False
        self.health = WriteHealth()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # The file holds miners' login passwords: owner-only, like the other secrets in
            # DATA_DIR. SQLite gives its -wal and -shm files the same mode.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._init_schema(migrate)

    def _init_schema(self, migrate: bool) -> None:
        with self.write() as conn:
            old_layout = migration.needs_migration(conn)
        if old_layout:
            self._close_writer()  # also before refusing: a later Database(..., migrate=True) needs the file alone
            if not migrate:
                raise NeedsMigration(
                    f"{self.path} holds history in the old layout (or a conversion that did not finish); "
                    f"convert it with: python -m database.migrate {self.path}")
            migration.migrate(self.path)
        with self.write() as conn:
            conn.executescript(_SCHEMA.read_text())
            # Events gained source and count (aggregated refusals) in version 2; a version-1 file is altered once.
            columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
            for name, decl in (("source", "TEXT"), ("count", "INTEGER NOT NULL DEFAULT 1"),
                               ("severity", "TEXT NOT NULL DEFAULT 'info'")):
                if name not in columns:
                    conn.execute(f"ALTER TABLE events ADD COLUMN {name} {decl}")
            if "severity" not in columns:  # the events written before severities: by their kind
                for kind, severity in queries.EVENT_SEVERITY.items():
                    conn.execute("UPDATE events SET severity = ? WHERE kind = ?", (severity, kind))
            migration.add_miner_columns(conn)  # per-miner settings (issue 15) on a file made before them
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _close_writer(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    # --- taking a connection --------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """The write connection for one block (waits for another writer to finish)."""
        slot: _Slot | None = getattr(self._held, "slot", None)
        if slot is not None and slot.writer:
            yield from self._nested(slot)
            return
        if slot is not None:
            # A reader asking to write would hold a reader while waiting for the writer; a
            # programming error, and a deadlock with a writer that then asks to read.
            raise RuntimeError("write() inside read(): take write() for the whole block")
        if not self._write_lock.acquire(timeout=self.wait_s):
            raise DatabaseBusy(f"database write lock not free within {self.wait_s:g} s")
        try:
            self._check_open()
            if self._writer is None:
                self._writer = connect(self.path, cache_kib=self.cache_kib)
            try:
                yield from self._hold(_Slot(self._writer, writer=True))
            except sqlite3.Error as exc:
                self.health.failed(exc)
                raise
            self.health.succeeded()
        finally:
            self._write_lock.release()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection for one block (the write connection if this thread holds it)."""
        slot: _Slot | None = getattr(self._held, "slot", None)
        if slot is not None:
            yield from self._nested(slot)  # a writer reads its own uncommitted rows
            return
        conn = self._take_reader()
        try:
            yield from self._hold(_Slot(conn, writer=False))
        finally:
            self._give_back(conn)

    def _nested(self, slot: _Slot) -> Iterator[sqlite3.Connection]:
        slot.depth += 1
        try:
            yield slot.conn
        finally:
            slot.depth -= 1

    def _hold(self, slot: _Slot) -> Iterator[sqlite3.Connection]:
        self._held.slot = slot
        try:
            yield slot.conn
        finally:
            self._held.slot = None
            if slot.conn.in_transaction:
                # A block left a transaction open (an exception between BEGIN and COMMIT that
                # skipped its ROLLBACK): never hand the next user a half-written transaction.
                slot.conn.execute("ROLLBACK")

    def _take_reader(self) -> sqlite3.Connection:
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or self._idle or self._opened_readers < self.readers,
                                       timeout=self.wait_s):
                raise DatabaseBusy(f"no database connection free within {self.wait_s:g} s")
            self._check_open()
            if self._idle:
                return self._idle.pop()
            self._opened_readers += 1
        try:
            return connect(self.path, read_only=True, cache_kib=self.cache_kib)
        except BaseException:
            with self._cond:
                self._opened_readers -= 1
                self._cond.notify()
            raise

    def _give_back(self, conn: sqlite3.Connection) -> None:
        with self._cond:
            if self._closed:
                self._opened_readers -= 1
                conn.close()
            else:
                self._idle.append(conn)
            self._cond.notify()

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseBusy("database closed")

    # --- accounting and shutdown ------------------------------------------------------
    def open_connections(self) -> int:
        """How many connections are open now (at most 1 + readers)."""
        with self._cond:
            return self._opened_readers + (self._writer is not None)

    def close(self) -> None:
        """Close every connection (at shutdown; a reader in use is closed when given back)."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._opened_readers -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()
        if self._write_lock.acquire(timeout=self.wait_s):
            try:
                if self._writer is not None:
                    self._writer.close()  # the last close checkpoints the WAL back into the file
                    self._writer = None
            finally:
                self._write_lock.release()
