"""Refusals of unauthenticated callers, counted: one event row per kind, source address and minute.

Anyone on the LAN can send a wrong EMS token, a wrong password or a write
without credentials as fast as the network allows. Writing one event (and one
log line) per refusal let 20 calls in 0.03 s write 20 rows: an SD card fills,
and fake "alerts" push the real events off the dashboard. Here the first
refusal of a (kind, source) in a minute is written at once (so it shows
immediately), later ones in the same minute only raise a counter in memory,
and ``flush()`` (every minute, and whenever that minute is over) writes the
count into the same row. No request body is ever part of the message.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Callable, ContextManager

from database import queries

log = logging.getLogger(__name__)

MAX_SOURCES = 256  # distinct (kind, source) rows per minute; more share one "other" row per kind
OTHER = "other"


@dataclass
class _Bucket:
    minute: int
    event_id: int
    text: str  # the latest refusal, without the source
    actor: str
    count: int = 1
    written: int = 1  # the count the row holds now
    last_ts: float = 0.0


def describe(text: str, source: str, count: int, minute: int) -> str:
    """'<text> (from <source>)', plus how many there were in that minute when more than one."""
    message = f"{text} (from {source})"
    if count > 1:
        start = time.strftime("%H:%M", time.localtime(minute * 60))
        message += f"; {count} times in the minute from {start}"
    return message


def _counted(bucket: "_Bucket | None", minute: int, text: str, now: float) -> bool:
    """Count one more refusal into ``bucket`` if it is this minute's; False when a row must be opened."""
    if bucket is None or bucket.minute != minute:
        return False
    bucket.count += 1
    bucket.text, bucket.last_ts = text, now
    return True


class FailureLog:
    """Counts refusals per (kind, source) and minute; thread-safe; writes through ``write()``."""

    def __init__(self, write: Callable[[], ContextManager[sqlite3.Connection]], clock: Callable[[], float] = time.time,
                 max_sources: int = MAX_SOURCES) -> None:
        """write opens a block holding the write connection (database.db.Database.write)."""
        self._write_conn = write
        self._clock = clock
        self._max_sources = max_sources
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], _Bucket] = {}

    def note(self, kind: str, source: str | None, text: str, actor: str = "anonymous") -> None:
        """Count one refusal: ``text`` says what was refused (never the body, never a secret)."""
        now = self._clock()
        minute = int(now // 60)
        source = (source or "?")[:64]
        with self._lock:
            key = (kind, source)
            bucket = self._open.get(key)
            if _counted(bucket, minute, text, now):
                return
            if bucket is None and len(self._open) >= self._max_sources:
                self._flush_locked(minute)  # rows of minutes that are over leave the table first
                if len(self._open) >= self._max_sources:
                    key = (kind, OTHER)
                    bucket = self._open.get(key)
                    if _counted(bucket, minute, text, now):
                        return
            if bucket is not None:  # the same source again in a new minute: close the old row first
                self._write(key, bucket)
            try:
                with self._write_conn() as conn:
                    event_id = queries.add_event(conn, kind, describe(text, key[1], 1, minute), actor=actor,
                                                 ts=now, source=key[1])
            except sqlite3.Error as exc:  # a busy or full database: the refusal itself still stands
                log.warning("%s not recorded: %s", kind, exc)
                return
            self._open[key] = _Bucket(minute, event_id, text, actor, last_ts=now)
        log.warning("%s: %s", kind, describe(text, key[1], 1, minute))

    def flush(self) -> int:
        """Write every count not yet in its row; forget the minutes that are over; returns rows updated."""
        with self._lock:
            return self._flush_locked(int(self._clock() // 60))

    def pending(self) -> int:
        """How many (kind, source) rows are open in memory (for tests and the soak)."""
        with self._lock:
            return len(self._open)

    def _flush_locked(self, minute: int) -> int:
        written = 0
        for key, bucket in list(self._open.items()):
            if bucket.count != bucket.written:
                self._write(key, bucket)
                written += 1
            if bucket.minute < minute:
                del self._open[key]
        return written

    def _write(self, key: tuple[str, str], bucket: _Bucket) -> None:
        if bucket.count == bucket.written:
            return
        message = describe(bucket.text, key[1], bucket.count, bucket.minute)
        try:
            with self._write_conn() as conn:
                queries.update_event_count(conn, bucket.event_id, bucket.count, message, bucket.last_ts)
        except sqlite3.Error as exc:  # tried again at the next flush while the minute's bucket is kept
            log.warning("%s count not recorded: %s", key[0], exc)
            return
        bucket.written = bucket.count
        log.warning("%s: %s", key[0], message)
