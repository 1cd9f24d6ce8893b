"""Events that cannot be flooded: refusals of unauthenticated callers aggregate per source and minute,
bodies are never echoed, the EMS call log stays bounded, and events have a retention."""

from __future__ import annotations

import sqlite3
import time

import pytest

from database import queries
from tests.conftest import TEST_PASSWORD, TEST_TOKEN
from tests.test_ems_api import EMS, EMS_TOKEN, build, drain

MARKER = "FLOOD-MARKER-7f3a"


def event_rows(runtime) -> int:
    with runtime.db.read() as conn:
        return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]


@pytest.fixture
def ems_app(tmp_path):
    app, runtime = build(tmp_path)
    yield app, runtime
    drain(runtime)
    runtime.shutdown()


def test_a_thousand_refused_ems_calls_write_one_row_with_their_count(ems_app):
    app, runtime = ems_app
    client = app.test_client()
    before = event_rows(runtime)
    body = {"activationPowerInKw": 0.05, "note": MARKER + "\x1b[31m\n"}
    started = time.monotonic()
    for i in range(1000):
        headers = {} if i % 2 else {"Authorization": "Bearer wrong-token-0123456789"}
        assert client.post("/api/activate", json=body, headers=headers).status_code == 401
    elapsed = time.monotonic() - started
    runtime.failures.flush()
    with runtime.db.read() as conn:
        rows = [dict(r) for r in queries.recent_events(conn, limit=100) if r["source"] == "127.0.0.1"]
    # One row per minute: the loop may straddle one minute boundary (two rows), never more.
    assert event_rows(runtime) - before == len(rows) and 1 <= len(rows) <= 2, (rows, elapsed)
    assert sum(r["count"] for r in rows) == 1000
    assert all(r["kind"] == "ems" and r["actor"] == "ems" and "-> 401 refused" in r["message"] for r in rows)
    detail = client.get("/api/ems").get_json()
    text = str(rows) + str(detail) + str(client.get("/api/events?limit=1000").get_json())
    assert MARKER not in text and "\x1b" not in text  # the body of a caller without the token is never kept
    # The dashboard's call log holds at most a couple of aggregated records, with the count.
    refused = [c for c in detail["calls"] if c["status"] == 401]
    assert 1 <= len(refused) <= 4 and sum(c["count"] for c in refused) == 1000


def test_a_flood_from_many_sources_keeps_the_real_ems_calls_in_the_log(ems_app):
    app, runtime = ems_app
    client = app.test_client()
    assert client.post("/api/activate", json={"activationPowerInKw": 0.045}, headers=EMS).status_code == 200
    for i in range(300):
        reply = client.get("/api/status", environ_overrides={"REMOTE_ADDR": f"10.1.{i // 250}.{i % 250 + 1}"})
        assert reply.status_code == 401
    calls = client.get("/api/ems").get_json()["calls"]
    assert len(calls) <= 50
    assert any(c["call"] == "POST /api/activate" and c["status"] == 200 for c in calls)  # not pushed out
    assert len(runtime.autocontrol.ems.refused) <= 20


def test_an_authorized_ems_call_keeps_a_short_clean_description(ems_app):
    app, runtime = ems_app
    client = app.test_client()
    raw = '{"activationPowerInKw": "\\u0007x\x01' + "y" * 500 + '"}'
    reply = client.post("/api/activate", data=raw.encode(), content_type="application/json", headers=EMS)
    assert reply.status_code == 400
    call = client.get("/api/ems").get_json()["calls"][0]
    with runtime.db.read() as conn:
        event = next(r for r in queries.recent_events(conn) if r["kind"] == "ems")
    for text in (call["request"], event["message"]):
        assert not any(not ch.isprintable() for ch in text), repr(text)
    assert len(call["request"]) <= 120


def test_failed_logins_and_refused_writes_are_counted_not_one_row_each(client, runtime):
    from web import auth as auth_module

    auth_module._FAILED_LOGINS.clear()
    before = event_rows(runtime)
    codes = [client.post("/login", json={"password": f"wrong-{MARKER}"}).status_code for _ in range(40)]
    assert codes.count(401) == 5 and codes.count(429) == 35
    for _ in range(40):
        assert client.post("/api/miners/10.0.0.1/restart", json={"x": MARKER}).status_code == 401
        assert client.post("/api/miners/10.0.0.1/restart", headers={"Authorization": "Bearer nope-0123456789abcdef"}
                           ).status_code == 401
    runtime.failures.flush()
    with runtime.db.read() as conn:
        rows = [dict(r) for r in queries.recent_events(conn, limit=100)][: event_rows(runtime) - before]
    by_kind = {}
    for row in rows:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["count"]
    assert by_kind == {"login_failed": 40, "write_refused": 80}, rows
    assert len(rows) <= 4  # two kinds, at most one minute boundary each
    assert MARKER not in str(rows)
    assert all(r["source"] == "127.0.0.1" for r in rows)
    assert "/api/miners/<ip>/restart" in str(rows)  # the route, not the caller's own text
    auth_module._FAILED_LOGINS.clear()
    assert client.post("/login", json={"password": TEST_PASSWORD}).status_code == 200


# --- the aggregator alone ---------------------------------------------------------------------------
class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path):
    from database.db import Database

    database = Database(tmp_path / "fleet.db")
    yield database
    database.close()


def test_one_row_per_kind_source_and_minute(db):
    from services.failure_log import FailureLog

    clock = Clock(1_800_000_000.0 - 1_800_000_000.0 % 60)
    log = FailureLog(db.write, clock=clock)
    for _ in range(5):
        log.note("login_failed", "10.0.0.7", "wrong password")
    log.note("login_failed", "10.0.0.8", "wrong password")
    log.note("ems", "10.0.0.7", "GET /api/status -> 401 refused")
    assert event_count(db) == 3  # the first of each is written at once
    clock.now += 61  # the next minute: the same source starts a new row, the old one gets its count
    log.note("login_failed", "10.0.0.7", "wrong password")
    with db.read() as conn:
        rows = conn.execute("SELECT kind, source, count, message FROM events ORDER BY id").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("login_failed", "10.0.0.7", 5), ("login_failed", "10.0.0.8", 1),
                                                   ("ems", "10.0.0.7", 1), ("login_failed", "10.0.0.7", 1)]
    assert "5 times in the minute" in rows[0][3] and "(from 10.0.0.7)" in rows[0][3]
    assert log.flush() == 0 and log.pending() == 1  # the old minutes are gone from memory


def test_distinct_sources_are_capped_per_minute(db):
    from services.failure_log import OTHER, FailureLog

    clock = Clock(1_800_000_020.0)
    log = FailureLog(db.write, clock=clock, max_sources=10)
    for i in range(500):
        log.note("write_refused", f"10.9.{i // 200}.{i % 200}", "POST /api/x -> 401")
    log.flush()
    with db.read() as conn:
        rows = conn.execute("SELECT source, count FROM events").fetchall()
    assert len(rows) == 11 and log.pending() <= 11
    assert dict(rows)[OTHER] == 490 and sum(r[1] for r in rows) == 500


def event_count(db) -> int:
    with db.read() as conn:
        return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]


# --- retention ----------------------------------------------------------------------------------------
def test_maintenance_drops_old_events_and_caps_the_rows(tmp_path):
    import yaml

    from services.config import load_config
    from services.runtime import Runtime

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"server": {"data_dir": "data"}, "battery": {"source": "none"},
                                    "security": {"api_token": TEST_TOKEN, "admin_password": TEST_PASSWORD},
                                    "storage": {"events_retention_days": 7, "events_max_rows": 1000}}))
    runtime = Runtime(load_config(path, environ={}))
    try:
        now = time.time()
        with runtime.db.write() as conn:
            conn.executemany("INSERT INTO events (ts, kind, message) VALUES (?, 'test', ?)",
                             [(now - 10 * 86400, f"old {i}") for i in range(300)]
                             + [(now - 60 + i * 0.01, f"new {i}") for i in range(1500)])
        result = runtime.maintenance()
        assert result["events_deleted"] == 300 + 500
        kept = [r[0] for r in conn.execute("SELECT message FROM events ORDER BY id")]
        assert len(kept) == 1000 and kept[0] == "new 500" and kept[-1] == "new 1499"
        assert runtime.maintenance()["events_deleted"] == 0
    finally:
        runtime.shutdown()


def test_an_old_database_gains_source_and_count(tmp_path):
    from database.db import Database

    path = tmp_path / "fleet.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, "
                 "miner_ip TEXT, actor TEXT, message TEXT NOT NULL)")
    conn.execute("INSERT INTO events (ts, kind, message) VALUES (1, 'old', 'kept')")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    db = Database(path)
    try:
        with db.read() as conn:
            row = dict(conn.execute("SELECT * FROM events").fetchone())
        assert row["message"] == "kept" and row["count"] == 1 and row["source"] is None
        with db.read() as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    finally:
        db.close()


def test_config_validates_the_event_keys(tmp_path):
    from services.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    for bad, fragment in (("storage: {events_retention_days: 0}", "storage.events_retention_days"),
                          ("storage: {events_max_rows: 10}", "storage.events_max_rows")):
        path.write_text(bad)
        with pytest.raises(ConfigError, match=fragment):
            load_config(path, environ={})
    path.write_text("")
    storage = load_config(path, environ={}).storage
    assert storage.events_retention_days == 90 and storage.events_max_rows == 100000


def test_no_ems_token_in_the_aggregated_rows(ems_app):
    app, runtime = ems_app
    client = app.test_client()
    client.get("/api/status", headers={"Authorization": f"Bearer {EMS_TOKEN}x"})
    client.get("/api/status", headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    runtime.failures.flush()
    with runtime.db.read() as conn:
        text = str([dict(r) for r in queries.recent_events(conn)])
    assert EMS_TOKEN not in text and TEST_TOKEN not in text


def test_a_database_error_never_turns_a_refusal_into_a_500(client, runtime, monkeypatch):
    from services import failure_log

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(failure_log.queries, "add_event", broken)
    reply = client.post("/api/miners/10.0.0.1/restart")
    assert reply.status_code == 401 and "authentication required" in reply.get_json()["error"]
    assert runtime.failures.pending() == 0
