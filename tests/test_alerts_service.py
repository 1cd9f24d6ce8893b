"""AlertService on the real Runtime with fake drivers: offline -> one alert after its hold -> one "resolved";
a storm of 20 -> one digest; acknowledgement, mutes and quiet hours; the /api/alerts routes."""

from __future__ import annotations

import dataclasses
import time

from services.alerts.service import AlertService, RUNNING_KEY
from tests.fakes import FakeDriver

NET = "127.84.10"


class Inbox:
    """Stands in for the Notifier: records what would be sent (the channel layer has its own tests)."""

    def __init__(self) -> None:
        self.sent = []
        self.closed = False

    def send(self, notification) -> bool:
        self.sent.append(notification)
        return True

    def channels(self) -> list[dict]:
        return [{"url": "json://receiver/", "ok": True, "last_error": None, "failing_since": None}]

    def test(self, timeout_s: float = 20.0) -> list[dict]:
        return [{"url": "json://receiver/", "ok": True, "error": None}]

    def close(self, timeout_s: float = 5.0) -> None:
        self.closed = True


def _service(runtime, inbox=None, **alerts) -> AlertService:
    cfg = runtime.config
    cfg = dataclasses.replace(cfg, alerts=dataclasses.replace(cfg.alerts, **alerts))
    runtime.alerts = AlertService(cfg, runtime, notifier=inbox)
    return runtime.alerts


def _events(runtime, kind):
    with runtime.db.read() as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM events WHERE kind = ? ORDER BY id", (kind,))]


def _fail(runtime, ips, rounds=2):
    for ip in ips:
        FakeDriver.behaviour[ip] = "fail"
    for _ in range(rounds):
        runtime.fleet.poll_round()


def test_offline_alerts_after_its_hold_once_and_resolves_once(runtime):
    inbox = Inbox()
    alerts = _service(runtime, inbox, offline_after_min=5)
    ip = f"{NET}.5"
    runtime.fleet.add(ip, "fake", name="Garage S19")
    runtime.fleet.poll_round()
    t0 = time.time()
    assert not alerts.tick(t0)
    _fail(runtime, [ip])
    alerts.tick(t0 + 1)
    assert alerts.alerts() == []  # pending: a flapping Wi-Fi miner comes back before 5 minutes
    changes = alerts.tick(t0 + 1 + 300)
    assert [p.kind for p in changes.raised] == ["miner_offline"]
    for later in (310, 320, 330):
        assert not alerts.tick(t0 + later)  # one alert per problem, not one per check
    [item] = alerts.alerts()
    assert item["kind"] == "miner_offline" and item["miner"] == ip and item["severity"] == "warning"
    assert item["acknowledged"] is False and item["since"].endswith("Z")
    assert "connection refused" in item["message"]
    [message] = inbox.sent
    assert message.title == f"Garage S19 ({ip}) is offline"
    assert f"#miner={ip}" in message.body and message.severity == "warning"
    FakeDriver.behaviour[ip] = "ok"
    runtime.fleet.poll_round()
    changes = alerts.tick(t0 + 400)
    assert [p.kind for p in changes.resolved] == ["miner_offline"]
    assert alerts.alerts() == []
    assert inbox.sent[-1].title == f"Garage S19 ({ip}) is back online" and len(inbox.sent) == 2
    assert len(_events(runtime, "alert")) == 1 and len(_events(runtime, "alert_resolved")) == 1
    assert _events(runtime, "alert")[0]["severity"] == "warning"


def test_offline_after_zero_alerts_at_the_poll_that_marks_it_offline(runtime):
    inbox = Inbox()
    alerts = _service(runtime, inbox, offline_after_min=0)
    ip = f"{NET}.6"
    runtime.fleet.add(ip, "fake")
    runtime.fleet.poll_round()
    _fail(runtime, [ip], rounds=1)
    assert not alerts.tick()  # one failed poll of offline_after 2: not offline yet
    runtime.fleet.poll_round()
    assert [p.kind for p in alerts.tick().raised] == ["miner_offline"]


def test_a_miner_back_before_its_hold_never_alerts(runtime):
    inbox = Inbox()
    alerts = _service(runtime, inbox, offline_after_min=5)
    ip = f"{NET}.7"
    runtime.fleet.add(ip, "fake")
    runtime.fleet.poll_round()
    t0 = time.time()
    _fail(runtime, [ip])
    alerts.tick(t0)
    FakeDriver.behaviour[ip] = "ok"
    runtime.fleet.poll_round()
    alerts.tick(t0 + 200)
    alerts.tick(t0 + 400)
    assert inbox.sent == [] and _events(runtime, "alert") == [] and alerts.alerts() == []


def test_twenty_miners_down_at_once_is_one_digest(runtime):
    inbox = Inbox()
    alerts = _service(runtime, inbox, offline_after_min=0)
    ips = [f"{NET}.{i}" for i in range(20, 40)]
    for ip in ips:
        runtime.fleet.add(ip, "fake")
    runtime.fleet.poll_round()
    _fail(runtime, ips)
    assert len(alerts.tick().raised) == 20
    [digest] = inbox.sent
    assert digest.title == "20 miners offline: switch or power?"
    assert all(ip in digest.body for ip in ips[:20]) or "and " in digest.body
    assert len(alerts.alerts()) == 20  # the error window still lists each one
    for ip in ips:
        FakeDriver.behaviour[ip] = "ok"
    runtime.fleet.poll_round()
    alerts.tick()
    assert len(inbox.sent) == 2 and inbox.sent[1].title == "20 resolved: miner offline"


def test_quiet_hours_hold_non_critical_messages_and_drop_what_cleared(runtime, monkeypatch):
    inbox = Inbox()
    alerts = _service(runtime, inbox, offline_after_min=0, quiet_hours="22:00-07:00")
    quiet = {"now": True}
    monkeypatch.setattr("services.alerts.service.in_quiet_hours", lambda minutes, now: quiet["now"])
    a, b = f"{NET}.50", f"{NET}.51"
    runtime.fleet.add(a, "fake")
    runtime.fleet.add(b, "fake")
    runtime.fleet.poll_round()
    _fail(runtime, [a, b])
    alerts.tick()
    assert inbox.sent == [] and len(alerts.alerts()) == 2  # shown on the dashboard, not sent at night
    FakeDriver.behaviour[a] = "ok"
    runtime.fleet.poll_round()
    alerts.tick()
    assert inbox.sent == []
    quiet["now"] = False
    alerts.tick()
    assert [m.title for m in inbox.sent] == [f"Fake X1 ({b}) is offline"]  # a's raise and resolve never go


def test_critical_alerts_go_during_quiet_hours(runtime, monkeypatch):
    inbox = Inbox()
    alerts = _service(runtime, inbox, hold_min=0, quiet_hours="00:00-24:00")
    monkeypatch.setattr("services.alerts.service.in_quiet_hours", lambda minutes, now: True)
    ip = f"{NET}.60"
    runtime.fleet.add(ip, "fake")
    runtime.fleet.poll_round()  # the fake reads 50 + 60 = 110 C, above the 100 C default limit
    alerts.tick()
    assert [m.title for m in inbox.sent] == [f"Fake X1 ({ip}) is too hot"]
    assert inbox.sent[0].severity == "critical"


def test_mute_drops_the_messages_but_not_the_error_window(runtime, client, auth):
    inbox = Inbox()
    alerts = _service(runtime, inbox, offline_after_min=0)
    reply = client.post("/api/alerts/mute", json={"kind": "miner_offline", "minutes": 60}, headers=auth)
    assert reply.status_code == 200 and "miner_offline" in reply.get_json()["muted"]
    ip = f"{NET}.70"
    runtime.fleet.add(ip, "fake")
    runtime.fleet.poll_round()
    _fail(runtime, [ip])
    alerts.tick()
    assert inbox.sent == [] and len(client.get("/api/alerts").get_json()) == 1
    assert client.post("/api/alerts/mute", json={"kind": "miner_offline", "unmute": True},
                       headers=auth).get_json()["muted"] == {}
    for body in ({"kind": "nope"}, {"kind": "miner_offline", "minutes": 0}, {"kind": "miner_offline", "minutes": "1"},
                 {"kind": "miner_offline", "unmute": False}, {"kind": "miner_offline", "forever": True}):
        assert client.post("/api/alerts/mute", json=body, headers=auth).status_code == 400, body


def test_ack_one_and_all_through_the_api(runtime, client, auth):
    alerts = _service(runtime, Inbox(), offline_after_min=0)
    ips = [f"{NET}.80", f"{NET}.81", f"{NET}.82"]
    for ip in ips:
        runtime.fleet.add(ip, "fake")
    runtime.fleet.poll_round()
    _fail(runtime, ips)
    alerts.tick()
    listed = client.get("/api/alerts").get_json()
    assert len(listed) == 3 and client.get("/api/alerts/status").get_json()["count"] == 3
    assert client.post(f"/api/alerts/{listed[0]['id']}/ack").status_code == 401  # writes need credentials
    assert client.post(f"/api/alerts/{listed[0]['id']}/ack", headers=auth).get_json() == {"ok": True}
    assert client.post("/api/alerts/a999/ack", headers=auth).status_code == 404
    assert client.get("/api/alerts/status").get_json()["count"] == 2
    assert client.post("/api/alerts/ack-all", headers=auth).get_json() == {"ok": True, "acknowledged": 2}
    assert all(a["acknowledged"] for a in client.get("/api/alerts").get_json())
    assert client.get("/api/alerts/status").get_json()["count"] == 0
    # Acknowledged problems are still active; a restart keeps them and their acknowledgement.
    again = AlertService(runtime.config, runtime, notifier=Inbox())
    assert [a["acknowledged"] for a in again.alerts()] == [True, True, True]


def test_test_message_needs_a_channel_and_credentials(runtime, client, auth):
    _service(runtime, None)
    assert client.post("/api/alerts/test").status_code == 401
    reply = client.post("/api/alerts/test", headers=auth)
    assert reply.status_code == 409 and "alerts.urls" in reply.get_json()["error"]
    _service(runtime, Inbox())
    assert client.post("/api/alerts/test", headers=auth).get_json() == {
        "ok": True, "results": [{"url": "json://receiver/", "ok": True, "error": None}]}


def test_a_restart_after_a_crash_is_told_and_a_clean_one_is_not(runtime):
    inbox = Inbox()
    alerts = _service(runtime, inbox)
    alerts.started()
    assert inbox.sent == []
    # No stopped(): the process died. The next start tells it.
    again = _service(runtime, inbox)
    again.started()
    assert [m.title for m in inbox.sent] == ["Controller restarted after a crash"]
    again.stopped()
    with runtime.db.read() as conn:
        from database import queries

        assert queries.get_state(conn, RUNNING_KEY) is None
    third = _service(runtime, inbox)
    third.started()
    assert len(inbox.sent) == 1


def test_events_filters_and_paging(runtime, client):
    fleet = runtime.fleet
    fleet.add(f"{NET}.90", "fake", name="Shed")
    for i in range(30):
        fleet.event("command", f"restart {i} ok", miner_ip=f"{NET}.90", actor="session")
    fleet.event("overheat", "too hot", miner_ip=f"{NET}.90", actor="controller")
    fleet.event("rule", "peak-half-power fired", actor="rules")
    reply = client.get("/api/events?kind=command&limit=10")
    page = reply.get_json()
    assert len(page) == 10 and reply.headers["X-Total-Count"] == "30"
    assert page[0]["message"] == "restart 29 ok" and page[0]["miner_name"] == "Shed"
    nxt = client.get(f"/api/events?kind=command&limit=10&before={page[-1]['id']}").get_json()
    assert nxt[0]["message"] == "restart 19 ok"
    assert [e["kind"] for e in client.get("/api/events?severity=critical").get_json()] == ["overheat"]
    assert [e["kind"] for e in client.get("/api/events?actor=rule").get_json()] == ["rule"]
    assert {e["actor"] for e in client.get("/api/events?actor=user").get_json()} == {"session"}
    assert [e["message"] for e in client.get("/api/events?q=restart 7").get_json()] == ["restart 7 ok"]
    assert client.get("/api/events?q=100%").get_json() == []  # % is a literal, not a wildcard
    assert len(client.get("/api/events?q=shed&kind=overheat").get_json()) == 1  # the miner's name matches
    assert "overheat" in client.get("/api/events/kinds").get_json()
    for bad in ("severity=loud", "actor=martians", "before=x", "limit=x", "miner=nope"):
        assert client.get(f"/api/events?{bad}").status_code == 400, bad


def test_real_channel_end_to_end_and_its_thread_ends_at_shutdown(tmp_path):
    """alerts.urls with a json:// receiver on loopback: an offline miner's alert arrives; shutdown ends the thread."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from database.db import Database
    from services.config import load_config
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from tests.conftest import BASE_CONFIG
    from tests.fakes import fake_factory, reset_fakes

    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((f"{NET}.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    before = {t.name for t in threading.enumerate()}
    try:
        path = tmp_path / "config.yaml"
        path.write_text(BASE_CONFIG + f"alerts:\n  offline_after_min: 0\n  urls: [json://{NET}.1:{server.server_address[1]}/]\n")
        config = load_config(path, environ={})
        reset_fakes()
        db = Database(config.data_path / "fleet.db")
        runtime = Runtime(config, fleet=FleetManager(config, db, driver_factory=fake_factory), db=db)
        try:
            ip = f"{NET}.100"
            runtime.fleet.add(ip, "fake", name="Loft")
            runtime.fleet.poll_round()
            _fail(runtime, [ip])
            runtime.alerts.tick()
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
            assert got and got[0]["title"] == f"Loft ({ip}) is offline" and got[0]["type"] == "warning"
            assert "alerts-notify" in {t.name for t in threading.enumerate()}
            assert [r["ok"] for r in runtime.alerts.test("token")] == [True]
        finally:
            runtime.shutdown()
        time.sleep(0.2)
        assert {t.name for t in threading.enumerate()} - before == set()
    finally:
        server.shutdown()
        server.server_close()


def test_events_name_an_unnamed_miner_by_its_model(runtime, client):
    ip = f"{NET}.91"
    runtime.fleet.add(ip, "fake")
    runtime.fleet.poll_round()  # learns the model "Fake X1"
    runtime.fleet.event("command", "restart ok", miner_ip=ip, actor="token")
    [event] = client.get(f"/api/events?miner={ip}&kind=command").get_json()
    assert event["miner_name"] == "Fake X1"
    assert client.get("/api/events?q=fake x1&kind=command").get_json()[0]["miner_ip"] == ip
