"""/api/settings on the real app (create_app with its running runtime, served over HTTP on 127.86.5.x):
auth on every route, secrets never in a reply or a log line, a change applied live (the poll job
rescheduled) or listed as needing a restart, a bad value refused with nothing written, and the API,
EMS and password rotations (the old secret refused afterwards, the new one accepted)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import TEST_PASSWORD, TEST_TOKEN
from tests.served_app import served_app

HOST = "127.86.5.1"  # this file's loopback range: 127.86.5.0/24 (docs/contracts.md)
EMS_TOKEN = "ems-token-0123456789abcdef"
EG4_SECRET = "eg4-portal-secret-pw"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
CONFIG = (
    "# the test fleet\n"
    "network:\n  subnet: 127.86.5.0/28   # nobody answers here\n"
    "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
    "battery:\n  source: none\n  eg4:\n    username: someone\n"
    f"    password: {EG4_SECRET}\n"
    f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    f"ems:\n  token: {EMS_TOKEN}\n"
)


def _served(path: Path):
    """The real app on HOST, started without the process environment."""
    return served_app(path, HOST, settings_environ={})


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    with _served(path) as (base, runtime):
        yield base, runtime, path


def _login(base: str, password: str = TEST_PASSWORD) -> requests.Session:
    s = requests.Session()
    s.headers["Origin"] = base  # a cookie write must name this host (web/auth.py)
    reply = s.post(base + "/login", json={"password": password}, timeout=5)
    assert reply.status_code == 200, reply.text
    return s


def test_every_route_needs_credentials(site):
    base, _runtime, path = site
    before = path.read_bytes()
    for method, route, body in [("GET", "", None), ("PATCH", "", {"polling.interval_sec": 5}),
                                ("GET", "/backups", None), ("POST", "/password", {"current": "x", "new": "y" * 9}),
                                ("POST", "/api-token", None), ("POST", "/ems-token", None)]:
        reply = requests.request(method, f"{base}/api/settings{route}", json=body, timeout=5)
        assert reply.status_code == 401, (method, route, reply.status_code)
        assert TEST_TOKEN not in reply.text and EMS_TOKEN not in reply.text
    # A logged-in browser's write without our Origin is another site's page: refused.
    s = _login(base)
    del s.headers["Origin"]
    assert s.patch(base + "/api/settings", json={"polling.interval_sec": 5}, timeout=5).status_code == 403
    assert path.read_bytes() == before


def test_get_shows_values_keys_and_never_a_secret(site, caplog):
    base, _runtime, path = site
    caplog.set_level(logging.DEBUG)
    reply = requests.get(base + "/api/settings", headers=AUTH, timeout=5)
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    body = reply.json()
    assert body["path"] == str(path.resolve())
    assert body["values"]["polling.interval_sec"] == 2 and body["values"]["network.subnet"] == "127.86.5.0/28"
    assert body["keys"]["polling.interval_sec"]["apply"] == "live" and body["keys"]["site"]["apply"] == "restart"
    assert body["secrets"]["ems.token"] == {"set": True, "from": "config.yaml"}
    assert body["secrets"]["battery.eg4.password"]["set"] is True
    assert body["secrets"]["security.admin_password"]["set"] is True
    assert body["comments_kept"] is True and body["backups_kept"] == 10
    for secret in (TEST_TOKEN, TEST_PASSWORD, EMS_TOKEN, EG4_SECRET):
        assert secret not in reply.text and secret not in caplog.text
    assert not any(k.endswith(("password", "token")) for k in body["values"])


def test_a_live_change_reschedules_polling_and_a_restart_key_says_so(site):
    base, runtime, path = site
    reply = requests.patch(base + "/api/settings", headers=AUTH, json={"polling.interval_sec": 7}, timeout=5)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["applied"] == ["polling.interval_sec"] and body["restart_required"] == []
    assert runtime.scheduler.get_job("poll").trigger.interval.total_seconds() == 7  # live: the job itself
    assert runtime.config.polling.interval_sec == 7
    assert yaml.safe_load(path.read_text())["polling"]["interval_sec"] == 7
    assert "# the test fleet" in path.read_text() and "# nobody answers here" in path.read_text()

    reply = requests.patch(base + "/api/settings", headers=AUTH,
                           json={"site": "shed", "network.discover_every_min": 30}, timeout=5).json()
    assert reply["restart_required"] == ["site"] and reply["applied"] == ["network.discover_every_min"]
    assert runtime.config.site == "home" and runtime.scheduler.get_job("discover") is not None
    settings = requests.get(base + "/api/settings", headers=AUTH, timeout=5).json()
    assert settings["values"]["site"] == "shed" and settings["restart_pending"] == ["site"]
    backups = requests.get(base + "/api/settings/backups", headers=AUTH, timeout=5).json()["backups"]
    assert len(backups) == 2 and all((path.parent / b["name"]).exists() for b in backups)
    events = requests.get(base + "/api/events?limit=20", headers=AUTH, timeout=5).json()
    rows = events["events"] if isinstance(events, dict) else events
    assert any(e["kind"] == "settings" and "polling.interval_sec = 7" in e["message"] and e["actor"] == "token"
               for e in rows)


def test_a_bad_value_is_400_with_the_key_and_nothing_written(site):
    base, runtime, path = site
    before = path.read_bytes()
    reply = requests.patch(base + "/api/settings", headers=AUTH,
                           json={"polling.interval_sec": 9, "network.subnet": "192.168.1.0/33"}, timeout=5)
    assert reply.status_code == 400
    assert reply.json() == {"error": "network.subnet: not a CIDR network like 192.168.1.0/24: '192.168.1.0/33'",
                            "key": "network.subnet"}
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.glob("config.yaml*")) == ["config.yaml"]
    assert runtime.scheduler.get_job("poll").trigger.interval.total_seconds() == 2  # nothing applied either
    reply = requests.patch(base + "/api/settings", headers=AUTH, json={"security.api_token": "x" * 20}, timeout=5)
    assert reply.status_code == 400 and reply.json()["key"] == "security.api_token"


def test_api_token_regeneration_refuses_the_old_token(site, caplog):
    base, _runtime, path = site
    caplog.set_level(logging.DEBUG)
    reply = requests.post(base + "/api/settings/api-token", headers=AUTH, timeout=5)
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    new = reply.json()["api_token"]
    assert len(new) >= 32 and new != TEST_TOKEN and reply.json()["shown_once"] is True
    write = {"polling.offline_after": 4}
    assert requests.patch(base + "/api/settings", headers=AUTH, json=write, timeout=5).status_code == 401
    fresh = {"Authorization": f"Bearer {new}"}
    assert requests.patch(base + "/api/settings", headers=fresh, json=write, timeout=5).status_code == 200
    # Stored where start-up reads it (DATA_DIR/api_token); config.yaml's token is gone (it would win).
    assert (path.parent / "data" / "api_token").read_text().strip() == new
    assert yaml.safe_load(path.read_text())["security"]["api_token"] == ""
    again = requests.get(base + "/api/settings", headers=fresh, timeout=5)
    assert new not in again.text and again.json()["secrets"]["security.api_token"] == {"set": True, "from": "data_dir"}
    assert new not in caplog.text and TEST_TOKEN not in caplog.text


def test_ems_token_rotation_and_clearing(site, caplog):
    base, _runtime, path = site
    caplog.set_level(logging.DEBUG)
    assert requests.get(base + "/api/status", headers={"Authorization": f"Bearer {EMS_TOKEN}"}, timeout=5).status_code == 200
    reply = requests.post(base + "/api/settings/ems-token", headers=AUTH, json={}, timeout=5)
    assert reply.status_code == 200
    new = reply.json()["ems_token"]
    assert requests.get(base + "/api/status", headers={"Authorization": f"Bearer {EMS_TOKEN}"}, timeout=5).status_code == 401
    assert requests.get(base + "/api/status", headers={"Authorization": f"Bearer {new}"}, timeout=5).status_code == 200
    assert yaml.safe_load(path.read_text())["ems"]["token"] == new
    assert EMS_TOKEN in (path.parent / reply.json()["backup"]).read_text()  # the copy is the old file (0600)
    assert new not in caplog.text and EMS_TOKEN not in caplog.text
    cleared = requests.post(base + "/api/settings/ems-token", headers=AUTH, json={"clear": True}, timeout=5)
    assert cleared.status_code == 200 and cleared.json()["ems_token"] is None
    assert requests.get(base + "/api/status", headers={"Authorization": f"Bearer {new}"}, timeout=5).status_code == 503


def test_password_change_keeps_this_session_and_ends_the_others(site):
    base, _runtime, path = site
    mine, other = _login(base), _login(base)
    wrong = mine.post(base + "/api/settings/password", json={"current": "not it", "new": "a-new-password"}, timeout=5)
    assert wrong.status_code == 403 and wrong.json()["key"] == "current"
    short = mine.post(base + "/api/settings/password", json={"current": TEST_PASSWORD, "new": "short"}, timeout=5)
    assert short.status_code == 400 and short.json()["key"] == "new"
    ok = mine.post(base + "/api/settings/password", json={"current": TEST_PASSWORD, "new": "a-new-password"}, timeout=5)
    assert ok.status_code == 200 and "a-new-password" not in ok.text
    assert mine.get(base + "/api/session", timeout=5).json()["logged_in"] is True
    assert other.get(base + "/api/session", timeout=5).json()["logged_in"] is False
    assert requests.post(base + "/login", json={"password": TEST_PASSWORD}, timeout=5).status_code == 401
    _login(base, "a-new-password")
    # The plain password left config.yaml (it would win over the hash); only a hash is stored.
    assert yaml.safe_load(path.read_text())["security"]["admin_password"] == ""
    stored = (path.parent / "data" / "admin_password.hash").read_text()
    assert stored.startswith("pbkdf2_sha256$") and "a-new-password" not in stored


def test_secrets_set_by_the_environment_are_refused_by_name(tmp_path):
    """EMS_TOKEN in the environment wins over config.yaml: rotating it here would do nothing."""
    from app import create_app
    from services.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    env = {"EMS_TOKEN": "ems-from-the-environment-0123"}
    app = create_app(config=load_config(path, environ=env), start_background=False,
                     test_config={"TESTING": True, "SETTINGS_ENVIRON": env})
    try:
        client = app.test_client()
        reply = client.post("/api/settings/ems-token", headers=AUTH, json={})
        assert reply.status_code == 409 and "EMS_TOKEN" in reply.get_json()["error"]
        assert path.read_text() == CONFIG
    finally:
        app.extensions["runtime"].shutdown()


def test_alert_triggers_and_the_sun_clock_apply_live(site):
    """alerts.* and autocontrol's sun keys need no restart (docs/settings.md): the running services take them."""
    base, runtime, _path = site
    alerts = runtime.alerts
    channels = alerts.cfg.urls
    reply = requests.patch(base + "/api/settings", headers=AUTH, timeout=5, json={
        "alerts.quiet_hours": "22:00-07:00", "alerts.offline_after_min": 12, "alerts.digest_at": 9,
        "alerts.network_difficulty": 1.5e14})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["restart_required"] == [] and "alerts.quiet_hours" in body["applied"]
    assert alerts.status()["quiet_hours"] == "22:00-07:00"
    assert alerts.cfg.offline_after_min == 12 and alerts._detectors.config.offline_after_min == 12
    assert alerts._outbox.digest_at == 9 and alerts.cfg.urls == channels  # the channels stay as set
    assert runtime.difficulty.alerts_difficulty == 1.5e14

    # The fixed sunset moved from 19:00 to 11:00: local noon is night from the next tick on.
    before = runtime.autocontrol.controller.sun
    noon = datetime.now(before.tz).astimezone(before.tz).replace(hour=12, minute=0, second=0).timestamp()
    assert before.state(noon).night is False
    reply = requests.patch(base + "/api/settings", headers=AUTH, json={"autocontrol.sunset_hour": 11}, timeout=5)
    assert reply.status_code == 200 and reply.json()["applied"] == ["autocontrol.sunset_hour"]
    sun = runtime.autocontrol.controller.sun
    assert sun is not before and sun.tz is before.tz and sun.state(noon).night is True
    # A change that leaves the sun keys alone keeps the clock (and its cached days).
    requests.patch(base + "/api/settings", headers=AUTH, json={"autocontrol.emergency_soc": 22}, timeout=5)
    assert runtime.autocontrol.controller.sun is sun
