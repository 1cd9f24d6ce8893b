"""Thin named queries over the fleet database; SQL with ? parameters, no ORM."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

# --- miners -------------------------------------------------------------------
def list_miners(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every known miner, in insertion order."""
    return conn.execute("SELECT * FROM miners ORDER BY id").fetchall()


def get_miner(conn: sqlite3.Connection, ip: str) -> sqlite3.Row | None:
    """One miner by IP, or None."""
    return conn.execute("SELECT * FROM miners WHERE ip = ?", (ip,)).fetchone()


def upsert_miner(conn: sqlite3.Connection, *, ip: str, family: str, port: int | None, model: str | None,
                 algorithm: str, source: str, name: str | None = None,
                 credentials: dict | None = None) -> int:
    """Insert a miner or update its identity; returns its id. Credentials are kept when not given."""
    conn.execute(
        """INSERT INTO miners (ip, port, family, model, name, algorithm, credentials, source, added_ts)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(ip) DO UPDATE SET port = excluded.port, family = excluded.family,
               model = COALESCE(excluded.model, miners.model), algorithm = excluded.algorithm,
               name = COALESCE(excluded.name, miners.name),
               credentials = COALESCE(excluded.credentials, miners.credentials)""",
        (ip, port, family, model, name, algorithm, json.dumps(credentials) if credentials else None,
         source, time.time()),
    )
    return conn.execute("SELECT id FROM miners WHERE ip = ?", (ip,)).fetchone()[0]


def set_credentials(conn: sqlite3.Connection, ip: str, credentials: dict | None) -> None:
    """Store a miner's login, or clear it (None: the driver's factory default applies again)."""
    conn.execute("UPDATE miners SET credentials = ? WHERE ip = ?",
                 (json.dumps(credentials) if credentials else None, ip))


def update_identity(conn: sqlite3.Connection, miner_id: int, model: str | None, algorithm: str) -> None:
    """Store what a read learnt about the miner's model and algorithm."""
    conn.execute("UPDATE miners SET model = COALESCE(?, model), algorithm = ? WHERE id = ?",
                 (model, algorithm, miner_id))


# Columns PATCH /api/miners/<ip> writes (services/miner_settings.py validates the values first).
SETTINGS_COLUMNS = ("name", "tags", "enabled", "notes", "location", "nominal_w", "min_w", "max_w",
                    "max_temp_c", "autocontrol")


def update_settings(conn: sqlite3.Connection, ip: str, values: dict[str, Any]) -> None:
    """Store a miner's browser/API settings (None clears one); tags as a JSON list, booleans as 0/1."""
    unknown = set(values) - set(SETTINGS_COLUMNS)
    if unknown:
        raise ValueError(f"not a settings column: {', '.join(sorted(unknown))}")
    if not values:
        return
    args = []
    for key, value in values.items():
        if key == "tags":  # None = not set here (config.yaml's apply); [] = none
            value = None if value is None else json.dumps(list(value))
        elif isinstance(value, bool):
            value = int(value)
        args.append(value)
    # Column names come from SETTINGS_COLUMNS only (checked above), never from the caller's text.
    conn.execute(f"UPDATE miners SET {', '.join(f'{k} = ?' for k in values)} WHERE ip = ?", (*args, ip))


def delete_miner(conn: sqlite3.Connection, ip: str) -> bool:
    """Remove a miner and its history; True if it existed."""
    return conn.execute("DELETE FROM miners WHERE ip = ?", (ip,)).rowcount > 0


# --- events and state -----------------------------------------------------------
# The severity of the events the controller writes by kind (alerts pass their own); the rest are "info".
EVENT_SEVERITY = {"miner_offline": "warning", "miner_unauthorized": "warning", "battery_lost": "warning",
                  "overheat": "critical", "login_failed": "warning", "ems_refused": "warning"}


def event_severity(kind: str) -> str:
    """info / warning / critical for an event kind written without one."""
    return EVENT_SEVERITY.get(kind, "info")


def add_event(conn: sqlite3.Connection, kind: str, message: str, *, miner_ip: str | None = None,
              actor: str | None = None, ts: float | None = None, source: str | None = None,
              count: int = 1, severity: str | None = None) -> int:
    """Record one event (state change, command and its outcome, discovery); returns its id."""
    cur = conn.execute("INSERT INTO events (ts, kind, miner_ip, actor, message, source, count, severity) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (ts or time.time(), kind, miner_ip, actor, message, source, count,
                        severity or event_severity(kind)))
    return int(cur.lastrowid)


def update_event_count(conn: sqlite3.Connection, event_id: int, count: int, message: str, ts: float) -> None:
    """Bring an aggregated event up to date: its count, latest message and time."""
    conn.execute("UPDATE events SET count = ?, message = ?, ts = ? WHERE id = ?", (count, message, ts, event_id))


def purge_events(conn: sqlite3.Connection, now: float, keep_days: float, max_rows: int) -> int:
    """Drop events older than keep_days, then the oldest beyond max_rows; returns how many went."""
    gone = conn.execute("DELETE FROM events WHERE ts < ?", (now - keep_days * 86400,)).rowcount
    # The newest max_rows ids stay (ids grow with time; the ts of an aggregated row moves, its id does not).
    gone += conn.execute("DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
                         (max_rows,)).rowcount
    return gone


def recent_events(conn: sqlite3.Connection, limit: int = 100, miner_ip: str | None = None) -> list[sqlite3.Row]:
    """Newest events first."""
    return find_events(conn, limit=limit, miner_ip=miner_ip)[0]


def find_events(conn: sqlite3.Connection, *, limit: int = 100, miner_ip: str | None = None,
                kinds: tuple[str, ...] = (), severities: tuple[str, ...] = (),
                actors: tuple[str | None, ...] | None = None, text: str | None = None,
                before_id: int | None = None, count: bool = False) -> tuple[list[sqlite3.Row], int | None]:
    """Newest events first, filtered (actors may hold None: no actor); with ``count``, how many match in all."""
    where, args = [], []
    if miner_ip:
        where.append("e.miner_ip = ?")
        args.append(miner_ip)
    if kinds:
        where.append(f"e.kind IN ({','.join('?' * len(kinds))})")
        args.extend(kinds)
    if severities:
        where.append(f"e.severity IN ({','.join('?' * len(severities))})")
        args.extend(severities)
    if actors is not None:
        named = [a for a in actors if a is not None]
        parts = [f"e.actor IN ({','.join('?' * len(named))})"] if named else []
        if None in actors:
            parts.append("e.actor IS NULL")
        where.append("(" + " OR ".join(parts or ["0"]) + ")")
        args.extend(named)
    if text:
        # LIKE with the user's text as a literal: % and _ escaped.
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(e.message LIKE ? ESCAPE '\\' OR e.kind LIKE ? ESCAPE '\\' "
                     "OR e.miner_ip LIKE ? ESCAPE '\\' OR m.name LIKE ? ESCAPE '\\' OR m.model LIKE ? ESCAPE '\\')")
        args.extend([pattern] * 5)
    total = None
    clause = " WHERE " + " AND ".join(where) if where else ""
    base = "FROM events e LEFT JOIN miners m ON m.ip = e.miner_ip"
    if count:
        total = conn.execute(f"SELECT COUNT(*) {base}{clause}", args).fetchone()[0]
    if before_id is not None:
        clause += (" AND " if clause else " WHERE ") + "e.id < ?"
        args.append(before_id)
    # The miner's name as the dashboard shows it: the user's, else its model.
    rows = conn.execute(f"SELECT e.*, COALESCE(m.name, m.model) AS miner_name {base}{clause} ORDER BY e.id DESC LIMIT ?",
                        (*args, limit)).fetchall()
    return rows, total


def event_kinds(conn: sqlite3.Connection) -> list[str]:
    """The kinds present among the events, sorted (the Events page's filter)."""
    return [row[0] for row in conn.execute("SELECT DISTINCT kind FROM events ORDER BY kind")]


def get_state(conn: sqlite3.Connection, key: str) -> Any:
    """A stored state value (decoded JSON), or None."""
    row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


def set_state(conn: sqlite3.Connection, key: str, value: Any) -> None:
    """Store a state value that must survive a restart."""
    conn.execute("INSERT OR REPLACE INTO state (key, value, updated_ts) VALUES (?, ?, ?)",
                 (key, json.dumps(value), time.time()))
