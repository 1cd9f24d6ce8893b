"""Dashboard sessions held on the server, so that logging out (or a new password) really ends them.

The session cookie is signed by Flask and carries only a random session id.
The server keeps the live ids (as SHA-256 hashes, so the database alone lets
nobody in) with when they began and a stamp of the password they were opened
under. A session is valid while its id is kept, younger than the lifetime and
opened under the current password: logout forgets one id, a new password
(``install.sh --reset-password`` or a changed ADMIN_PASSWORD) changes the
stamp and so ends all of them. The set is saved in the ``state`` table on
every login and logout only (not per request: an SD card), so a restart keeps
people logged in, and it is bounded: the oldest session goes first.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from typing import Any, Callable

STATE_KEY = "auth.sessions"
MAX_SESSIONS = 32  # browsers logged in at once; a 33rd login ends the oldest session
LIFETIME_S = 30 * 86400


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    """Live session ids; thread-safe; persisted through ``load()``/``save(value)`` (JSON)."""

    def __init__(self, load: Callable[[], Any], save: Callable[[Any], None], *, clock: Callable[[], float] = time.time,
                 lifetime_s: float = LIFETIME_S, max_sessions: int = MAX_SESSIONS) -> None:
        """load/save read and write the stored mapping (e.g. the database state table)."""
        self._load, self._save = load, save
        self._clock = clock
        self.lifetime_s = lifetime_s
        self.max_sessions = max_sessions
        self._lock = threading.Lock()
        self._live: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        data = self._load()
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict)
                and isinstance(v.get("created"), (int, float)) and isinstance(v.get("stamp"), str)}

    def _prune(self, stamp: str, now: float) -> None:
        self._live = {k: v for k, v in self._live.items()
                      if v["stamp"] == stamp and now - v["created"] < self.lifetime_s}

    def create(self, stamp: str) -> str:
        """Open a session under the password ``stamp``; returns the id for the cookie."""
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._prune(stamp, now)
            while len(self._live) >= self.max_sessions:
                del self._live[min(self._live, key=lambda k: self._live[k]["created"])]
            self._live[_digest(sid)] = {"created": now, "stamp": stamp}
            self._save(dict(self._live))
        return sid

    def valid(self, sid: Any, stamp: str) -> bool:
        """True if ``sid`` is a live session opened under the current password ``stamp``."""
        if not isinstance(sid, str) or not sid:
            return False
        key = _digest(sid)
        with self._lock:
            entry = self._live.get(key)
            if entry is None:
                # Another process (a read-only second worker) may have opened it: look once in the store.
                # Only a cookie signed with our secret key gets here, so this cannot be flooded cheaply.
                entry = self._read().get(key)
                if entry is not None:
                    self._live[key] = entry
        return entry is not None and entry["stamp"] == stamp and self._clock() - entry["created"] < self.lifetime_s

    def revoke(self, sid: Any) -> bool:
        """End one session (logout); True if it was live."""
        if not isinstance(sid, str) or not sid:
            return False
        with self._lock:
            self._live.update({k: v for k, v in self._read().items() if k not in self._live})
            gone = self._live.pop(_digest(sid), None) is not None
            if gone:
                self._save(dict(self._live))
        return gone

    def count(self) -> int:
        """How many sessions are kept now."""
        with self._lock:
            return len(self._live)
