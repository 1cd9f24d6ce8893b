"""Sessions held on the server: logout ends the session for good, a new password ends all of them."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import TEST_PASSWORD, TEST_TOKEN

ORIGIN = {"Origin": "http://localhost"}
RESTART = "/api/miners/10.0.0.1/restart"


def login(client, password=TEST_PASSWORD):
    return client.post("/login", json={"password": password})


def cookie(client) -> str:
    return client.get_cookie("session").value


def stolen(app, value: str):
    """A second browser holding a copy of the cookie (what a sniffer or a shared machine keeps)."""
    other = app.test_client()
    other.set_cookie("session", value)
    return other


@pytest.fixture
def fleet(runtime):
    runtime.fleet.add("10.0.0.1", "fake")
    runtime.fleet.poll_round()
    return runtime.fleet


def test_logout_revokes_the_session_on_the_server(app, client, fleet):
    assert login(client).status_code == 200
    copy = cookie(client)
    assert client.post(RESTART, headers=ORIGIN).status_code == 200
    assert client.post("/logout", headers=ORIGIN).status_code == 200
    replay = stolen(app, copy)  # the logged-out cookie, replayed
    assert replay.post(RESTART, headers=ORIGIN).status_code == 401
    assert replay.get("/api/session").get_json() == {"logged_in": False}
    assert app.extensions["sessions"].count() == 0


def test_logout_needs_our_origin(app, client, fleet):
    assert login(client).status_code == 200
    for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Referer": "http://evil.example/page"}):
        reply = client.post("/logout", headers=headers)
        assert reply.status_code == 403 and "Origin" in reply.get_json()["error"]
    assert client.get("/api/session").get_json() == {"logged_in": True}  # a foreign page cannot log us out
    assert client.post("/logout", headers={"Referer": "http://localhost/"}).status_code == 200
    assert client.get("/api/session").get_json() == {"logged_in": False}


def test_a_new_login_gets_a_new_id_and_ends_the_old_one(app, client, fleet):
    assert login(client).status_code == 200
    first = cookie(client)
    assert login(client).status_code == 200
    assert cookie(client) != first
    assert stolen(app, first).post(RESTART, headers=ORIGIN).status_code == 401
    assert client.post(RESTART, headers=ORIGIN).status_code == 200


def test_sessions_survive_a_restart(config, runtime, fleet):
    from app import create_app
    from database.db import Database
    from services.runtime import Runtime

    app = create_app(config=config, runtime=runtime, start_background=False, test_config={"TESTING": True})
    client = app.test_client()
    assert login(client).status_code == 200
    copy = cookie(client)
    second_runtime = Runtime(config, db=Database(config.data_path / "fleet.db"))
    try:
        restarted = create_app(config=config, runtime=second_runtime, start_background=False,
                               test_config={"TESTING": True})
        assert stolen(restarted, copy).get("/api/session").get_json() == {"logged_in": True}
        assert stolen(restarted, "forged-not-signed").get("/api/session").get_json() == {"logged_in": False}
    finally:
        second_runtime.shutdown()


@pytest.fixture
def hashed(tmp_path, monkeypatch):
    """An app whose password is only a hash file (as install.sh leaves it), with its CONFIG in the env."""
    from app import create_app
    from services.config import load_config
    from services.credentials import reset_password

    for var in ("ADMIN_PASSWORD", "API_TOKEN", "DATA_DIR", "PORT", "EMS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"server": {"data_dir": "data"}, "battery": {"source": "none"},
                                    "security": {"api_token": TEST_TOKEN}}))
    monkeypatch.setenv("CONFIG", str(path))
    config = load_config(path, environ={})
    password = reset_password(config.data_path)
    app = create_app(config=config, start_background=False, test_config={"TESTING": True})
    yield app, password, config
    app.extensions["runtime"].shutdown()


def test_a_password_reset_ends_every_session_at_once(hashed, capsys):
    from database import queries
    from services import credentials
    from services.sessions import STATE_KEY

    app, password, config = hashed
    browsers = [app.test_client() for _ in range(3)]
    for browser in browsers:
        assert login(browser, password).status_code == 200
        assert browser.get("/api/session").get_json() == {"logged_in": True}
    db = app.extensions["runtime"].db
    with db.read() as conn:
        assert len(queries.get_state(conn, STATE_KEY)) == 3
    # The CLI path (install.sh --reset-password) while the server runs: no restart.
    assert credentials.main(["reset-password"]) == 0
    printed = capsys.readouterr().out
    new_password = printed.split("New dashboard password: ")[1].split()[0]
    assert new_password != password
    for browser in browsers:
        assert browser.get("/api/session").get_json() == {"logged_in": False}
        assert browser.post("/api/discover", json={}, headers=ORIGIN).status_code == 401
    fresh = app.test_client()
    assert login(fresh, password).status_code == 401  # the old password is refused at once
    assert login(fresh, new_password).status_code == 200
    assert fresh.get("/api/session").get_json() == {"logged_in": True}
    with db.read() as conn:
        assert len(queries.get_state(conn, STATE_KEY)) == 1  # the old ones are dropped from the store too


def test_a_changed_plain_password_ends_the_sessions(config, runtime):
    """ADMIN_PASSWORD / security.admin_password changed and the app restarted: old cookies are refused."""
    import dataclasses

    from app import create_app
    from database.db import Database
    from services.runtime import Runtime

    app = create_app(config=config, runtime=runtime, start_background=False, test_config={"TESTING": True})
    client = app.test_client()
    assert login(client).status_code == 200
    copy = cookie(client)
    changed = dataclasses.replace(config, security=dataclasses.replace(config.security,
                                                                       admin_password="another password 2"))
    second_runtime = Runtime(changed, db=Database(changed.data_path / "fleet.db"))
    try:
        restarted = create_app(config=changed, runtime=second_runtime, start_background=False,
                               test_config={"TESTING": True})
        assert stolen(restarted, copy).get("/api/session").get_json() == {"logged_in": False}
    finally:
        second_runtime.shutdown()


def test_the_session_store_is_bounded_and_expires():
    from services.sessions import SessionStore

    saved = {}
    now = [1000.0]
    store = SessionStore(lambda: saved.get("v"), lambda v: saved.__setitem__("v", v), clock=lambda: now[0],
                         lifetime_s=100, max_sessions=3)
    ids = []
    for _ in range(5):
        ids.append(store.create("stamp"))
        now[0] += 1
    assert store.count() == 3 and len(saved["v"]) == 3
    assert [store.valid(sid, "stamp") for sid in ids] == [False, False, True, True, True]  # the oldest went
    assert not store.valid(ids[4], "another-password")
    assert not any(ids[4] in key for key in saved["v"])  # only hashes of the ids are kept
    now[0] += 100
    assert not store.valid(ids[4], "stamp")  # expired
