"""The pool library: named sets of 1-3 pools (URL, user, password) stored in the database.

A set is written to miners as their pool list, first = highest priority
(services/bulk.py applies it). Passwords are stored, because the miners need
them, but never leave this module except as the ``PoolConfig`` handed to a
driver: the API shows ``password_set`` instead, and nothing here logs one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from database.db import Database
from miners.base import PoolConfig
from services.pool_urls import check_url

MAX_POOLS = 3  # what the common firmwares hold (cgminer, Antminer, Whatsminer, Vnish: 3 slots)
MAX_NAME = 64
MAX_USER = 256
MAX_PASSWORD = 256
MAX_SETS = 200  # a library, not a log: bounds the table and the list reply
DEFAULT_PASSWORD = "x"  # sent when a pool has none: cgminer-style pools want a non-empty one


class UnknownPoolSet(LookupError):
    """No pool set with that id."""


class DuplicateName(ValueError):
    """Another pool set already has this name (names are unique, case-insensitively)."""


@dataclass(frozen=True)
class PoolEntry:
    """One pool of a set; the password is never in a repr, a log line or a reply."""

    url: str
    user: str
    password: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The pool as the API shows it: the password only as password_set."""
        return {"url": self.url, "user": self.user, "password_set": bool(self.password)}


@dataclass(frozen=True)
class PoolSet:
    """A named, ordered list of pools."""

    id: int
    name: str
    pools: tuple[PoolEntry, ...]
    created_ts: float
    updated_ts: float

    def to_dict(self) -> dict[str, Any]:
        """JSON view for the API (no passwords)."""
        return {"id": self.id, "name": self.name, "pools": [p.to_dict() for p in self.pools],
                "created_ts": self.created_ts, "updated_ts": self.updated_ts}

    def pool_configs(self) -> list[PoolConfig]:
        """What a driver's set_pools() takes, in priority order (a missing password is sent as "x")."""
        return [PoolConfig(url=p.url, user=p.user, password=p.password or DEFAULT_PASSWORD) for p in self.pools]

    def secrets(self) -> tuple[str, ...]:
        """The passwords, for scrubbing any text before it is shown or logged."""
        return tuple(p.password for p in self.pools if p.password and p.password != DEFAULT_PASSWORD)


# --- validation -------------------------------------------------------------------
def _text(value: Any, name: str, max_len: int, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    if not value.strip() and not empty:
        raise ValueError(f"{name} must not be empty")
    if len(value) > max_len:
        raise ValueError(f"{name} is too long ({len(value)} characters; at most {max_len})")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise ValueError(f"{name} must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid text") from None
    return value


def check_name(value: Any) -> str:
    """A set name: 1-64 printable characters, trimmed."""
    return _text(value, "name", MAX_NAME).strip()


def parse_pools(value: Any, previous: tuple[PoolEntry, ...] = ()) -> tuple[PoolEntry, ...]:
    """1-3 pools from ``[{"url", "user", "password"?}]``; ValueError naming the field otherwise.

    A password left out or null keeps the stored password of the ``previous`` pool with the
    same URL (so reordering pools never sends one pool's password to another server);
    ``""`` clears it.
    """
    if not isinstance(value, list) or not value:
        raise ValueError('pools must be a list of 1 to 3 {"url", "user", "password"} objects')
    if len(value) > MAX_POOLS:
        raise ValueError(f"pools: at most {MAX_POOLS} pools, got {len(value)}")
    unused = list(previous)
    out: list[PoolEntry] = []
    for i, item in enumerate(value):
        where = f"pools[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object with url, user and password")
        unknown = sorted(set(item) - {"url", "user", "password"})
        if unknown:
            raise ValueError(f"{where}.{str(unknown[0])[:40]}: unknown field (known: password, url, user)")
        try:
            url = check_url(item.get("url"))
        except ValueError as exc:
            raise ValueError(f"{where}.url {exc}") from None
        text_url = item["url"].strip()
        user = _text(item.get("user"), f"{where}.user", MAX_USER).strip()
        if any(ch.isspace() for ch in user):
            raise ValueError(f"{where}.user must not contain spaces")
        password = item.get("password")
        if password is None:
            match = next((p for p in unused if _same_url(p.url, url)), None)
            password = match.password if match is not None else ""
            if match is not None:
                unused.remove(match)
        else:
            password = _text(password, f"{where}.password", MAX_PASSWORD, empty=True)
        out.append(PoolEntry(url=text_url, user=user, password=password))
    return tuple(out)


def _same_url(stored: str, url: Any) -> bool:
    try:
        return check_url(stored) == url
    except ValueError:
        return False


# --- storage ----------------------------------------------------------------------
def _from_row(row: sqlite3.Row) -> PoolSet:
    pools = tuple(PoolEntry(url=p["url"], user=p["user"], password=p.get("password") or "")
                  for p in json.loads(row["pools"]))
    return PoolSet(id=row["id"], name=row["name"], pools=pools, created_ts=row["created_ts"],
                   updated_ts=row["updated_ts"])


def _pools_json(pools: tuple[PoolEntry, ...]) -> str:
    return json.dumps([{"url": p.url, "user": p.user, "password": p.password} for p in pools])


class PoolSets:
    """The pool_sets table (database/schema.sql): list, read, create, update, delete."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> list[PoolSet]:
        """Every set, by name."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM pool_sets ORDER BY name COLLATE NOCASE, id").fetchall()
        return [_from_row(row) for row in rows]

    def get(self, set_id: int) -> PoolSet:
        """One set (raises UnknownPoolSet)."""
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM pool_sets WHERE id = ?", (set_id,)).fetchone()
        if row is None:
            raise UnknownPoolSet(set_id)
        return _from_row(row)

    def create(self, name: Any, pools: Any) -> PoolSet:
        """Validate and store a new set (ValueError for bad input, DuplicateName, or too many sets)."""
        name, entries = check_name(name), parse_pools(pools)
        now = time.time()
        with self.db.write() as conn:
            count = conn.execute("SELECT COUNT(*) FROM pool_sets").fetchone()[0]
            if count >= MAX_SETS:
                raise ValueError(f"the library holds at most {MAX_SETS} pool sets; delete one first")
            self._check_unique(conn, name, None)
            cur = conn.execute("INSERT INTO pool_sets (name, pools, created_ts, updated_ts) VALUES (?, ?, ?, ?)",
                               (name, _pools_json(entries), now, now))
            set_id = int(cur.lastrowid)
        return PoolSet(set_id, name, entries, now, now)

    def update(self, set_id: int, *, name: Any = None, pools: Any = None) -> PoolSet:
        """Change a set's name and/or pools (None = keep); a pool's password left out keeps the stored one."""
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM pool_sets WHERE id = ?", (set_id,)).fetchone()
            if row is None:
                raise UnknownPoolSet(set_id)
            old = _from_row(row)
            new_name = check_name(name) if name is not None else old.name
            entries = parse_pools(pools, old.pools) if pools is not None else old.pools
            self._check_unique(conn, new_name, set_id)
            now = time.time()
            conn.execute("UPDATE pool_sets SET name = ?, pools = ?, updated_ts = ? WHERE id = ?",
                         (new_name, _pools_json(entries), now, set_id))
        return PoolSet(set_id, new_name, entries, old.created_ts, now)

    def delete(self, set_id: int) -> PoolSet:
        """Remove a set and return what it was (raises UnknownPoolSet)."""
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM pool_sets WHERE id = ?", (set_id,)).fetchone()
            if row is None:
                raise UnknownPoolSet(set_id)
            conn.execute("DELETE FROM pool_sets WHERE id = ?", (set_id,))
        return _from_row(row)

    @staticmethod
    def _check_unique(conn: sqlite3.Connection, name: str, set_id: int | None) -> None:
        row = conn.execute("SELECT id FROM pool_sets WHERE name = ? COLLATE NOCASE AND id IS NOT ?",
                           (name, set_id)).fetchone()
        if row is not None:
            raise DuplicateName(f"a pool set named {name!r} already exists")
