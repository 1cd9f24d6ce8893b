"""Thin named queries over the fleet database; SQL with ? parameters, no ORM."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any, Iterable

ROLLUP_BUCKET_S = 300


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


def delete_miner(conn: sqlite3.Connection, ip: str) -> bool:
    """Remove a miner and its history; True if it existed."""
    return conn.execute("DELETE FROM miners WHERE ip = ?", (ip,)).rowcount > 0


# --- samples ------------------------------------------------------------------
def insert_samples(conn: sqlite3.Connection, rows: Iterable[tuple], seen: Iterable[tuple]) -> None:
    """Write one poll round in ONE transaction (one fsync per round on the SD card).

    rows: (miner_id, ts, hashrate_hs, power_w, temp_c, fan_rpm); seen: (ts, miner_id).
    """
    conn.execute("BEGIN")
    try:
        conn.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("UPDATE miners SET last_seen_ts = ? WHERE id = ?", seen)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def rollup_and_purge(conn: sqlite3.Connection, now: float, raw_days: float, rollup_days: float) -> tuple[int, int]:
    """Fold finished 5-minute buckets into samples_5m, then drop expired rows.

    Returns (raw rows deleted, rollup rows deleted). Buckets already rolled up
    are recomputed (INSERT OR REPLACE), so running twice is harmless.
    """
    last_full = int(now // ROLLUP_BUCKET_S) * ROLLUP_BUCKET_S
    conn.execute("BEGIN")
    try:
        since = conn.execute("SELECT COALESCE(MAX(bucket_ts), 0) FROM samples_5m").fetchone()[0]
        conn.execute(
            f"""INSERT OR REPLACE INTO samples_5m (miner_id, bucket_ts, hashrate_hs, power_w, temp_c, n)
                SELECT miner_id, CAST(ts / {ROLLUP_BUCKET_S} AS INTEGER) * {ROLLUP_BUCKET_S} AS b,
                       AVG(hashrate_hs), AVG(power_w), MAX(temp_c), COUNT(*)
                FROM samples WHERE ts >= ? AND ts < ? GROUP BY miner_id, b""",
            (since, last_full),
        )
        raw = conn.execute("DELETE FROM samples WHERE ts < ?", (now - raw_days * 86400,)).rowcount
        conn.execute("DELETE FROM battery_samples WHERE ts < ?", (now - raw_days * 86400,))
        old = conn.execute("DELETE FROM samples_5m WHERE bucket_ts < ?", (now - rollup_days * 86400,)).rowcount
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return raw, old


def _history_source(conn: sqlite3.Connection, since: float, bucket_s: int) -> tuple[str, str]:
    """Pick raw samples when they cover the range and the bucket is fine, else the 5-minute roll-up."""
    oldest = conn.execute("SELECT MIN(ts) FROM samples").fetchone()[0]
    if bucket_s < ROLLUP_BUCKET_S or (oldest is not None and oldest <= since + ROLLUP_BUCKET_S):
        return "samples", "ts"
    return "samples_5m", "bucket_ts"


def miner_history(conn: sqlite3.Connection, miner_id: int, since: float, bucket_s: int) -> list[sqlite3.Row]:
    """Per-bucket averages for one miner: (t, hashrate_hs, power_w, temp_c)."""
    table, col = _history_source(conn, since, bucket_s)
    return conn.execute(
        f"""SELECT CAST({col} / ? AS INTEGER) * ? AS t, AVG(hashrate_hs) AS hashrate_hs,
                   AVG(power_w) AS power_w, MAX(temp_c) AS temp_c
            FROM {table} WHERE miner_id = ? AND {col} >= ? GROUP BY t ORDER BY t""",
        (bucket_s, bucket_s, miner_id, since),
    ).fetchall()


def fleet_history(conn: sqlite3.Connection, since: float, bucket_s: int) -> list[sqlite3.Row]:
    """Per-bucket fleet totals: (t, algorithm, hashrate_hs, power_w, online).

    Each miner is averaged within the bucket first, then miners are summed, so a
    bucket holding three polls of one miner does not count it three times.
    """
    table, col = _history_source(conn, since, bucket_s)
    return conn.execute(
        f"""SELECT t, algorithm, SUM(h) AS hashrate_hs, SUM(p) AS power_w, COUNT(*) AS online
            FROM (SELECT CAST(s.{col} / ? AS INTEGER) * ? AS t, m.algorithm AS algorithm,
                         AVG(s.hashrate_hs) AS h, AVG(s.power_w) AS p
                  FROM {table} s JOIN miners m ON m.id = s.miner_id
                  WHERE s.{col} >= ? GROUP BY s.miner_id, t)
            GROUP BY t, algorithm ORDER BY t""",
        (bucket_s, bucket_s, since),
    ).fetchall()


def oldest_sample_ts(conn: sqlite3.Connection) -> float | None:
    """Time of the oldest stored sample (raw or rolled up), for range=all."""
    row = conn.execute(
        "SELECT MIN(x) FROM (SELECT MIN(ts) AS x FROM samples UNION ALL SELECT MIN(bucket_ts) FROM samples_5m)"
    ).fetchone()
    return row[0]


# --- battery -------------------------------------------------------------------
def insert_battery_sample(conn: sqlite3.Connection, reading: Any, received_ts: float) -> None:
    """Store one battery reading (a services.battery BatteryReading)."""
    conn.execute("INSERT INTO battery_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (reading.measured_at, received_ts, reading.soc_pct, reading.pv_w, reading.load_w,
                  reading.battery_w, reading.grid_w, reading.source, reading.measured_at_from))


def battery_history(conn: sqlite3.Connection, since: float, bucket_s: int) -> list[sqlite3.Row]:
    """Per-bucket battery averages: (t, soc_pct, pv_w, load_w, battery_w, grid_w)."""
    return conn.execute(
        """SELECT CAST(ts / ? AS INTEGER) * ? AS t, AVG(soc_pct) AS soc_pct, AVG(pv_w) AS pv_w,
                  AVG(load_w) AS load_w, AVG(battery_w) AS battery_w, AVG(grid_w) AS grid_w
           FROM battery_samples WHERE ts >= ? GROUP BY t ORDER BY t""",
        (bucket_s, bucket_s, since),
    ).fetchall()


# --- events and state -----------------------------------------------------------
def add_event(conn: sqlite3.Connection, kind: str, message: str, *, miner_ip: str | None = None,
              actor: str | None = None, ts: float | None = None, source: str | None = None,
              count: int = 1) -> int:
    """Record one event (state change, command and its outcome, discovery); returns its id."""
    cur = conn.execute("INSERT INTO events (ts, kind, miner_ip, actor, message, source, count) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (ts or time.time(), kind, miner_ip, actor, message, source, count))
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
    if miner_ip:
        return conn.execute("SELECT * FROM events WHERE miner_ip = ? ORDER BY id DESC LIMIT ?",
                            (miner_ip, limit)).fetchall()
    return conn.execute("SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,)).fetchall()


def get_state(conn: sqlite3.Connection, key: str) -> Any:
    """A stored state value (decoded JSON), or None."""
    row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


def set_state(conn: sqlite3.Connection, key: str, value: Any) -> None:
    """Store a state value that must survive a restart."""
    conn.execute("INSERT OR REPLACE INTO state (key, value, updated_ts) VALUES (?, ?, ?)",
                 (key, json.dumps(value), time.time()))
