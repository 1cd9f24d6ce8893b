"""/api/settings/alert-channels on the real app (create_app with its running runtime, served on 127.86.12.x):
auth on every route, a json:// channel added live that the per-channel Test and a real alert reach (a
webhook receiver on 127.86.12.2), a bad URL refused with Apprise's reason and nothing written, removal,
ALERT_URLS refusing writes (409), and the URLs never in a reply, an event, a log line, GET /api/settings,
the Settings page's HTML or a backup without secrets. Threads and descriptors are counted around it."""

from __future__ import annotations

import io
import json
import logging
import os
import tarfile
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import TEST_PASSWORD, TEST_TOKEN
from tests.webhook import webhook_receiver
from tests.served_app import served_app

HOST = "127.86.12.1"  # this file's loopback range: 127.86.12.0/24 (docs/contracts.md)
HOOK_HOST = "127.86.12.2"  # the webhook receiver
DEAD_HOST = "127.86.12.3"  # nothing listens here: a refused connection
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
HOOK_SECRET = "hook-pass-5k2q"  # in the receiver channel's URL: must never come back
DEAD_SECRET = "dead-pass-8w1z"
CONFIG = (
    "# the test fleet\n"
    "network:\n  subnet: 127.86.12.240/29   # nobody answers here\n"
    "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
    "battery:\n  source: none\n"
    "alerts:\n  hold_min: 3   # a bit longer\n"
    f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
)


def _receiver():
    return webhook_receiver(HOOK_HOST)


def _served(path: Path, environ: dict[str, str] | None = None):
    """The real app on HOST; ``environ`` is what start-up and the Settings API see as the environment."""
    return served_app(path, HOST, settings_environ=environ or {})


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    with _served(path) as (base, runtime):
        yield base, runtime, path


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _events(base: str) -> list[dict]:
    body = requests.get(base + "/api/events?limit=50", headers=AUTH, timeout=5).json()
    return body["events"] if isinstance(body, dict) else body


def test_every_route_needs_credentials_reads_too(site):
    base, _runtime, path = site
    before = path.read_bytes()
    for method, route, body in [("GET", "", None), ("POST", "", {"url": "json://127.86.12.2:9/x"}),
                                ("DELETE", "/0123456789abcdef", None), ("POST", "/0123456789abcdef/test", None)]:
        reply = requests.request(method, f"{base}/api/settings/alert-channels{route}", json=body, timeout=5)
        assert reply.status_code == 401, (method, route, reply.status_code)
    assert path.read_bytes() == before


def test_add_test_alert_and_remove_a_live_json_channel(site, caplog):
    base, runtime, path = site
    caplog.set_level(logging.DEBUG)
    api = f"{base}/api/settings/alert-channels"
    assert requests.get(api, headers=AUTH, timeout=5).json() == []
    assert runtime.alerts.notifier is None  # no channel at start: Apprise not even imported for it
    threads_before = threading.active_count()
    fds_before = len(os.listdir("/proc/self/fd"))
    with _receiver() as (port, received):
        url = f"json://ctl-user:{HOOK_SECRET}@{HOOK_HOST}:{port}/inbox-f00d"
        dead = f"json://dead:{DEAD_SECRET}@{DEAD_HOST}:1/x"
        reply = requests.post(api, headers=AUTH, json={"url": url}, timeout=10)
        assert reply.status_code == 201, reply.text
        body = reply.json()
        assert body["applied"] == "live"
        assert body["channel"]["label"] == f"JSON webhook · {HOOK_HOST}:{port}" and body["channel"]["scheme"] == "json"
        assert body["channel"]["from_env"] is False
        hook_id = body["channel"]["id"]
        # Written by the config writer: the user's comments kept, a dated copy made.
        assert yaml.safe_load(path.read_text())["alerts"]["urls"] == [url]
        assert "# a bit longer" in path.read_text() and list(path.parent.glob("config.yaml.*.bak"))
        assert runtime.config.alerts.urls == (url,)
        dead_id = requests.post(api, headers=AUTH, json={"url": dead}, timeout=10).json()["channel"]["id"]
        listed = requests.get(api, headers=AUTH, timeout=5)
        assert [c["id"] for c in listed.json()] == [hook_id, dead_id]

        # The Test button: through THAT channel only.
        result = requests.post(f"{api}/{hook_id}/test", headers=AUTH, timeout=30)
        assert result.status_code == 200, result.text
        assert result.json() == {"id": hook_id, "label": f"JSON webhook · {HOOK_HOST}:{port}", "ok": True,
                                 "error": None}
        assert len(received) == 1 and received[0]["path"] == "/inbox-f00d"
        assert received[0]["body"]["title"] == "Test from the mining controller"
        failed = requests.post(f"{api}/{dead_id}/test", headers=AUTH, timeout=30).json()
        assert failed["ok"] is False and failed["error"] and DEAD_SECRET not in failed["error"]
        assert len(received) == 1  # the dead channel's test did not go to the receiver

        # A real alert after the live add reaches it (the running mark is still set: "restarted after a crash").
        runtime.alerts.started()
        assert _wait(lambda: any("Controller restarted" in r["body"].get("title", "") for r in received))

        # Remove both; a second removal is 404.
        for cid in (dead_id, hook_id):
            gone = requests.delete(f"{api}/{cid}", headers=AUTH, timeout=10)
            assert gone.status_code == 200 and gone.json()["applied"] == "live"
        assert requests.delete(f"{api}/{hook_id}", headers=AUTH, timeout=10).status_code == 404
        assert requests.get(api, headers=AUTH, timeout=5).json() == []
        assert runtime.alerts.notifier is None and yaml.safe_load(path.read_text())["alerts"]["urls"] == []
        assert requests.post(f"{api}/{hook_id}/test", headers=AUTH, timeout=10).status_code == 404
        count = len(received)
        runtime.alerts.started()
        time.sleep(0.5)
        assert len(received) == count  # removed live: nothing goes to it any more

        # Again and again: still one sender thread, no descriptor left open.
        for _ in range(5):
            cid = requests.post(api, headers=AUTH, json={"url": url}, timeout=10).json()["channel"]["id"]
            assert requests.post(f"{api}/{cid}/test", headers=AUTH, timeout=30).json()["ok"] is True
            assert requests.delete(f"{api}/{cid}", headers=AUTH, timeout=10).status_code == 200
        assert sum(1 for t in threading.enumerate() if t.name == "alerts-notify") == 1
    assert _wait(lambda: threading.active_count() <= threads_before + 1)  # + the one alerts-notify thread
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 2

    events = [e for e in _events(base) if e["kind"] in ("settings", "alert_test")]
    texts = [e["message"] for e in events]
    assert "alert channel added: json://" in texts and "alert channel removed: json://" in texts
    assert "test message to a json:// channel: accepted" in texts
    assert all(e["actor"] == "token" for e in events)
    for secret in (HOOK_SECRET, DEAD_SECRET, "inbox-f00d", "ctl-user:"):
        assert secret not in json.dumps(events)
    # Logs: never a URL or a password. (A json:// path is not a secret to Apprise, whose privacy form shows
    # it: urllib3's DEBUG line of the request names it.)
    for secret in (HOOK_SECRET, DEAD_SECRET, url, dead, f"ctl-user:{HOOK_SECRET}"):
        assert secret not in caplog.text


def test_a_bad_url_is_400_with_apprises_reason_and_nothing_written(site, caplog):
    base, runtime, path = site
    caplog.set_level(logging.DEBUG)
    api = f"{base}/api/settings/alert-channels"
    before = path.read_bytes()
    reply = requests.post(api, headers=AUTH, json={"url": "discord://998877665544"}, timeout=10)
    assert reply.status_code == 400
    assert reply.json()["error"].startswith("url: Apprise cannot use this discord:// URL: An invalid Discord Webhook")
    assert "998877665544" not in reply.text and "998877665544" not in caplog.text
    reply = requests.post(api, headers=AUTH, json={"url": "nosuch://host.example/tok-123"}, timeout=10)
    assert reply.status_code == 400 and "tok-123" not in reply.text and "not a service Apprise knows" in reply.text
    for body in ({}, {"url": 5}, {"url": "json://a b"}, {"url": "json://x/y", "other": 1}):
        assert requests.post(api, headers=AUTH, json=body, timeout=10).status_code == 400
    assert path.read_bytes() == before and runtime.alerts.notifier is None
    ok = requests.post(api, headers=AUTH, json={"url": "json://127.86.12.9:9/x"}, timeout=10)
    assert ok.status_code == 201
    again = requests.post(api, headers=AUTH, json={"url": "json://127.86.12.9:9/x"}, timeout=10)
    assert again.status_code == 409 and "127.86.12.9:9/x" not in again.text


def test_urls_never_leave_the_server(site, caplog):
    base, _runtime, path = site
    caplog.set_level(logging.DEBUG)
    secret_url = f"ntfy://alice:{HOOK_SECRET}@ntfy.example.com/topic-9q8w"
    tg = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/55555"
    # Written by hand (offline: nothing is sent at start-up), then listed.
    path.write_text(path.read_text().replace("alerts:\n", f"alerts:\n  urls:\n    - {secret_url}\n    - {tg}\n"))
    secrets = (HOOK_SECRET, "alice", "topic-9q8w", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "123456789", "55555")
    listed = requests.get(f"{base}/api/settings/alert-channels", headers=AUTH, timeout=5)
    assert [c["label"] for c in listed.json()] == ["ntfy · ntfy.example.com", "Telegram"]
    session = requests.Session()
    session.headers["Origin"] = base
    assert session.post(base + "/login", json={"password": TEST_PASSWORD}, timeout=5).status_code == 200
    page = session.get(base + "/settings", timeout=5)
    settings = requests.get(base + "/api/settings", headers=AUTH, timeout=5)
    backup = requests.get(base + "/api/backup", headers=AUTH, timeout=30)
    assert backup.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(backup.content), mode="r:gz") as tar:
        config_member = tar.extractfile("config.yaml").read().decode()
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert "alerts.urls" in manifest["secrets_removed"]
    assert yaml.safe_load(config_member)["alerts"].get("urls") is None
    for text in (listed.text, page.text, settings.text, config_member, caplog.text):
        for secret in secrets:
            assert secret not in text, secret
    # With ?secrets=1 the owner gets them back (the backup restores them).
    full = requests.get(base + "/api/backup?secrets=1", headers=AUTH, timeout=30)
    with tarfile.open(fileobj=io.BytesIO(full.content), mode="r:gz") as tar:
        assert secret_url in tar.extractfile("config.yaml").read().decode()


def test_alert_urls_from_the_environment_are_listed_and_never_written(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    env_url = "json://127.86.12.4:9/from-env-path"
    with _served(path, {"ALERT_URLS": env_url}) as (base, runtime):
        api = f"{base}/api/settings/alert-channels"
        listed = requests.get(api, headers=AUTH, timeout=5).json()
        assert listed == [{"id": listed[0]["id"], "scheme": "json", "label": "JSON webhook · 127.86.12.4:9",
                           "from_env": True}]
        before = path.read_bytes()
        reply = requests.post(api, headers=AUTH, json={"url": "json://127.86.12.9:9/x"}, timeout=10)
        assert reply.status_code == 409 and "ALERT_URLS" in reply.json()["error"]
        assert requests.delete(f"{api}/{listed[0]['id']}", headers=AUTH, timeout=10).status_code == 409
        assert path.read_bytes() == before and runtime.alerts.notifier is not None
        # Its Test still works (the running channel): a refused port, an honest failure.
        result = requests.post(f"{api}/{listed[0]['id']}/test", headers=AUTH, timeout=30).json()
        assert result["ok"] is False and "from-env-path" not in json.dumps(result)


def test_a_channel_the_running_service_cannot_take_is_saved_for_the_restart(site, monkeypatch):
    base, runtime, path = site
    api = f"{base}/api/settings/alert-channels"

    def refuse(_urls):
        raise RuntimeError("this notifier cannot change its channels: restart to use them")

    monkeypatch.setattr(runtime.alerts, "set_channels", refuse)
    reply = requests.post(api, headers=AUTH, json={"url": "json://127.86.12.9:9/later"}, timeout=10)
    assert reply.status_code == 201 and reply.json()["applied"] == "restart"
    assert yaml.safe_load(path.read_text())["alerts"]["urls"] == ["json://127.86.12.9:9/later"]
    assert runtime.config.alerts.urls == () and runtime.alerts.notifier is None  # not running it
    cid = reply.json()["channel"]["id"]
    test = requests.post(f"{api}/{cid}/test", headers=AUTH, timeout=10)
    assert test.status_code == 409  # saved, not in use until a restart
    assert any(e["message"] == "alert channel added: json:// (used after a restart)" for e in _events(base))
