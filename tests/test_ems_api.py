"""The EMS routes on the app with fake miners: auth, every bad input, idempotency, parallel background commands."""

from __future__ import annotations

import json
import threading
import time

import pytest
import yaml

from tests.conftest import TEST_PASSWORD, TEST_TOKEN
from tests.fakes import FakePowerDriver, fake_factory, reset_fakes

EMS_TOKEN = "ems-token-0123456789abcdef"
EMS = {"Authorization": f"Bearer {EMS_TOKEN}"}
IPS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")  # fakes draw 15 W x last octet: 15, 30, 45 W = 0.09 kW rated
STATUS_KEYS = {"isAvailableForDispatch", "runningStatus", "ratedPowerInKw", "activePowerInKw"}


def build(tmp_path, **sections):
    """(app, runtime) with fake miners polled once; ems token set and no battery unless sections say otherwise."""
    from app import create_app
    from database.db import Database
    from services.config import load_config
    from services.fleet import FleetManager
    from services.runtime import Runtime

    data = {"server": {"data_dir": "data"},
            "polling": {"interval_sec": 2, "timeout_sec": 0.5, "offline_after": 2, "workers": 8},
            "security": {"api_token": TEST_TOKEN, "admin_password": TEST_PASSWORD},
            "battery": {"source": "none"}, "ems": {"token": EMS_TOKEN}}
    for name, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(name, {}).update(values)
        else:
            data[name] = values
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, environ={})
    db = Database(config.data_path / "fleet.db")
    runtime = Runtime(config, fleet=FleetManager(config, db, driver_factory=fake_factory), db=db)
    for ip in IPS:
        runtime.fleet.add(ip, "fakepower")
    runtime.fleet.poll_round()
    app = create_app(config=config, runtime=runtime, start_background=False, test_config={"TESTING": True})
    return app, runtime


@pytest.fixture
def env(tmp_path):
    reset_fakes()
    app, runtime = build(tmp_path)
    yield app.test_client(), runtime
    FakePowerDriver.release_commands = None
    runtime.shutdown()


def drain(runtime):
    """Wait until the background tick a route kicked has finished."""
    runtime.autocontrol.wait_kicked(10)


def ems_events(runtime):
    from database import queries

    with runtime.db.read() as conn:
        return [dict(r) for r in queries.recent_events(conn, limit=500) if r["kind"] == "ems"]


def activate(client, body, headers=EMS, **kwargs):
    return client.post("/api/activate", json=body, headers=headers, **kwargs)


# --- GET /api/status ---------------------------------------------------------------------
def test_status_is_exactly_the_contract(env):
    client, runtime = env
    reply = client.get("/api/status", headers=EMS)
    assert reply.status_code == 200
    body = reply.get_json()
    assert set(body) == STATUS_KEYS
    assert body == {"isAvailableForDispatch": True, "runningStatus": 1, "ratedPowerInKw": 0.09,
                    "activePowerInKw": 0.09}
    assert isinstance(body["ratedPowerInKw"], float) and isinstance(body["activePowerInKw"], float)
    assert isinstance(body["runningStatus"], int) and not isinstance(body["runningStatus"], bool)
    assert ems_events(runtime) == []  # an authorized status read is counted, not an event
    assert client.get("/api/ems").get_json()["status_calls"] == 1


@pytest.mark.parametrize("headers, fragment", [
    ({}, "authentication required"),
    ({"Authorization": "Bearer wrong-token-0123456789"}, "wrong EMS token"),
    ({"Authorization": f"Bearer {TEST_TOKEN}"}, "wrong EMS token"),  # the dashboard's API token is not the EMS's
    ({"Authorization": EMS_TOKEN}, "authentication required"),  # no "Bearer"
])
def test_status_refuses_other_credentials(env, headers, fragment):
    client, runtime = env
    reply = client.get("/api/status", headers=headers)
    assert reply.status_code == 401 and fragment in reply.get_json()["error"]
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    event = ems_events(runtime)[0]
    assert event["actor"] == "ems" and "GET /api/status -> 401" in event["message"]


def test_dashboard_session_is_not_an_ems_credential(env):
    client, runtime = env
    assert client.post("/login", json={"password": TEST_PASSWORD}).status_code == 200
    origin = {"Origin": "http://localhost"}
    assert client.get("/api/status", headers=origin).status_code == 401
    reply = client.post("/api/activate", json={"activationPowerInKw": 0.05}, headers=origin)
    assert reply.status_code == 401 and reply.get_json()["accepted"] is False
    assert client.post("/api/deactivate", headers=origin).status_code == 401
    assert runtime.autocontrol.ems.state.mode == "idle"


def test_ems_not_configured_is_503(tmp_path):
    reset_fakes()
    app, runtime = build(tmp_path, ems={"token": ""})
    try:
        client = app.test_client()
        reply = client.get("/api/status", headers=EMS)
        assert reply.status_code == 503 and "ems.token" in reply.get_json()["error"]
        reply = activate(client, {"activationPowerInKw": 0.05})
        assert reply.status_code == 503 and reply.get_json() == {
            "accepted": False, "message": reply.get_json()["message"]}
        assert "EMS_TOKEN" in reply.get_json()["message"]
        assert client.post("/api/deactivate", headers=EMS).status_code == 503
        assert runtime.autocontrol.ems.state.mode == "idle" and FakePowerDriver.settings == []
    finally:
        runtime.shutdown()


def test_read_only_process_refuses_dispatch(env):
    client, runtime = env
    runtime.read_only = True
    reply = activate(client, {"activationPowerInKw": 0.05})
    assert reply.status_code == 503 and "read-only" in reply.get_json()["message"]
    assert runtime.autocontrol.ems.state.mode == "idle"


# --- POST /api/activate --------------------------------------------------------------------
def test_activate_spreads_the_kw_and_commands_in_the_background(env):
    client, runtime = env
    reply = activate(client, {"activationPowerInKw": 0.045})
    assert reply.status_code == 200
    body = reply.get_json()
    assert set(body) == {"accepted", "message"} and body["accepted"] is True and "0.045 kW" in body["message"]
    drain(runtime)
    watts = {ip: w for ip, kind, w in FakePowerDriver.settings if kind == "watts"}
    slept = {ip for ip, kind, _ in FakePowerDriver.settings if kind == "sleep"}
    assert sum(w for ip, w in watts.items() if ip not in slept) <= 45
    assert sum(w for ip, w in watts.items() if ip not in slept) >= 40
    status = client.get("/api/status", headers=EMS).get_json()
    assert status["runningStatus"] == 2
    detail = client.get("/api/ems").get_json()
    assert detail["state"] == "active" and detail["target_kw"] == 0.045 and detail["since"] is not None
    assert detail["decision"]["source"] == "ems" and detail["decision"]["target_w"] == 45
    assert detail["calls"][0]["call"] == "POST /api/activate" and detail["calls"][0]["status"] == 200


def test_activate_at_exactly_the_rated_power_is_accepted(env):
    client, runtime = env
    rated = client.get("/api/status", headers=EMS).get_json()["ratedPowerInKw"]
    assert activate(client, {"activationPowerInKw": rated}).status_code == 200
    drain(runtime)


BAD_BODIES = [
    (b"", "application/json", "empty body"),
    (b"   ", "application/json", "empty body"),
    (b'{"activationPowerInKw": 0.05}', "text/plain", "Content-Type"),
    (b'{"activationPowerInKw": 0.05}', "application/x-www-form-urlencoded", "Content-Type"),
    (b"activationPowerInKw=0.05", "application/x-www-form-urlencoded", "Content-Type"),
    (b"{}", "application/json", "missing"),
    (b'{"activationPower": 0.05}', "application/json", "missing"),
    (b'{"activationPowerInKw": "0.05"}', "application/json", "JSON number"),
    (b'{"activationPowerInKw": true}', "application/json", "JSON number"),
    (b'{"activationPowerInKw": null}', "application/json", "JSON number"),
    (b'{"activationPowerInKw": [0.05]}', "application/json", "JSON number"),
    (b'{"activationPowerInKw": -0.01}', "application/json", "above 0"),
    (b'{"activationPowerInKw": 0}', "application/json", "above 0"),
    (b'{"activationPowerInKw": 0.0}', "application/json", "above 0"),
    (b'{"activationPowerInKw": 0.5}', "application/json", "above the rated power"),
    (b'{"activationPowerInKw": 1e300}', "application/json", "above the rated power"),
    (b'{"activationPowerInKw": 1e400}', "application/json", "finite"),
    (b'{"activationPowerInKw": 1' + b"0" * 400 + b"}", "application/json", "finite"),
    (b'{"activationPowerInKw": NaN}', "application/json", "NaN is not a number"),
    (b'{"activationPowerInKw": Infinity}', "application/json", "Infinity is not a number"),
    (b'{"activationPowerInKw": -Infinity}', "application/json", "not a number"),
    (b'[0.05]', "application/json", "JSON object"),
    (b'0.05', "application/json", "JSON object"),
    (b'{"activationPowerInKw": 0.05} trailing', "application/json", "not valid JSON"),
    (b'{"activationPowerInKw": 0.05', "application/json", "not valid JSON"),
    (b'{"activationPowerInKw": 0.05, "activationPowerInKw": 0.06}', "application/json", "given twice"),
    (b'{"activationPowerInKw": 0.05, "extra": 1}', "application/json", "unknown field"),
    (b'\xff\xfe', "application/json", "UTF-8"),
    (b'{"activationPowerInKw": 0.05, "pad": "' + b"x" * 5000 + b'"}', "application/json", "too large"),
]


@pytest.mark.parametrize("raw, content_type, fragment", BAD_BODIES,
                         ids=[f"{i}-{f}" for i, (_, _, f) in enumerate(BAD_BODIES)])
def test_bad_activations_are_400_and_change_nothing(env, raw, content_type, fragment):
    client, runtime = env
    writes = []
    store = runtime.autocontrol.ems.store
    original = store.set
    store.set = lambda key, value: (writes.append(key), original(key, value))
    reply = client.post("/api/activate", data=raw, content_type=content_type, headers=EMS)
    assert reply.status_code == 400
    body = reply.get_json()
    assert set(body) == {"accepted", "message"} and body["accepted"] is False
    assert fragment in body["message"], body["message"]
    assert runtime.autocontrol.ems.state.mode == "idle" and writes == []
    drain(runtime)
    assert FakePowerDriver.settings == []
    event = ems_events(runtime)[0]
    assert "POST /api/activate" in event["message"] and "-> 400 refused" in event["message"]


def test_bad_activation_keeps_an_active_dispatch(env):
    client, runtime = env
    assert activate(client, {"activationPowerInKw": 0.045}).status_code == 200
    drain(runtime)
    sent = list(FakePowerDriver.settings)
    assert activate(client, {"activationPowerInKw": "0.09"}).status_code == 400
    drain(runtime)
    assert runtime.autocontrol.ems.state.target_kw == 0.045 and FakePowerDriver.settings == sent


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope-nope-nope-nope"},
                                     {"Authorization": f"Bearer {TEST_TOKEN}"}])
def test_activate_without_the_ems_token_is_401_and_changes_nothing(env, headers):
    client, runtime = env
    reply = activate(client, {"activationPowerInKw": 0.05}, headers=headers)
    assert reply.status_code == 401
    assert reply.get_json()["accepted"] is False and reply.get_json()["message"]
    drain(runtime)
    assert runtime.autocontrol.ems.state.mode == "idle" and FakePowerDriver.settings == []
    event = ems_events(runtime)[0]
    assert event["actor"] == "ems" and "-> 401 refused" in event["message"]
    assert "0.05" not in event["message"]  # a caller without the token never gets its body into the log


def test_the_same_activation_twice_sends_nothing_and_writes_nothing(env):
    client, runtime = env
    assert activate(client, {"activationPowerInKw": 0.045}).status_code == 200
    drain(runtime)
    runtime.autocontrol.tick()
    sent = list(FakePowerDriver.settings)
    writes = []
    store = runtime.autocontrol.ems.store
    original = store.set
    store.set = lambda key, value: (writes.append(key), original(key, value))
    reply = activate(client, {"activationPowerInKw": 45e-3})  # the same kW written differently
    assert reply.status_code == 200 and reply.get_json()["accepted"] is True
    assert "nothing changed" in reply.get_json()["message"]
    drain(runtime)
    assert FakePowerDriver.settings == sent and "ems.dispatch" not in writes


def test_a_new_target_is_sent_at_once_despite_the_grace_window(env):
    client, runtime = env
    assert activate(client, {"activationPowerInKw": 0.09}).status_code == 200
    drain(runtime)
    first = len(FakePowerDriver.settings)
    assert activate(client, {"activationPowerInKw": 0.03}).status_code == 200  # seconds later: grace is 300 s
    drain(runtime)
    later = FakePowerDriver.settings[first:]
    assert later, "a new dispatch must not wait for the grace window"
    runtime.autocontrol.tick()  # the next regular tick respects the grace window again: nothing new
    assert FakePowerDriver.settings[first:] == later


# --- POST /api/deactivate --------------------------------------------------------------------
def test_deactivate_stops_every_controllable_miner_and_repeats_harmlessly(env):
    client, runtime = env
    assert activate(client, {"activationPowerInKw": 0.09}).status_code == 200
    drain(runtime)
    reply = client.post("/api/deactivate", headers=EMS)
    assert reply.status_code == 200 and reply.get_json()["accepted"] is True
    assert set(reply.get_json()) == {"accepted", "message"}
    drain(runtime)
    assert {ip for ip, kind, _ in FakePowerDriver.settings if kind == "sleep"} == set(IPS)
    assert client.get("/api/status", headers=EMS).get_json()["runningStatus"] == 1
    sent = list(FakePowerDriver.settings)
    again = client.post("/api/deactivate", data="garbage", content_type="text/plain", headers=EMS)
    assert again.status_code == 200 and "already deactivated" in again.get_json()["message"]
    drain(runtime)
    runtime.autocontrol.tick()  # still held at zero: nothing new, nothing woken
    assert FakePowerDriver.settings == sent
    assert client.get("/api/ems").get_json()["state"] == "stopped"


def test_deactivate_needs_the_ems_token(env):
    client, runtime = env
    assert client.post("/api/deactivate").status_code == 401
    assert client.post("/api/deactivate", headers={"Authorization": f"Bearer {TEST_TOKEN}"}).status_code == 401
    assert runtime.autocontrol.ems.state.mode == "idle"


def test_operator_release_hands_a_stopped_fleet_back(env):
    client, runtime = env
    auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
    assert activate(client, {"activationPowerInKw": 0.05}).status_code == 200
    reply = client.post("/api/ems/release", headers=auth)
    assert reply.status_code == 409 and "dispatch is active" in reply.get_json()["message"]
    assert client.post("/api/ems/release", headers=EMS).status_code == 401  # an operator action, not the EMS's
    assert client.post("/api/deactivate", headers=EMS).status_code == 200
    assert client.post("/api/ems/release", headers=auth).status_code == 200
    drain(runtime)
    assert runtime.autocontrol.ems.state.mode == "idle"
    assert client.get("/api/status", headers=EMS).get_json()["runningStatus"] == 1


def test_enabling_autocontrol_releases_a_stopped_fleet(env):
    client, runtime = env
    assert client.post("/api/deactivate", headers=EMS).status_code == 200
    auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
    assert client.post("/api/autocontrol", json={"enabled": True}, headers=auth).status_code == 200
    drain(runtime)
    assert runtime.autocontrol.ems.state.mode == "idle"


# --- the reply does not wait for the miners ----------------------------------------------------
def test_reply_returns_before_a_blocking_miner_answers(env, monkeypatch):
    client, runtime = env
    release = threading.Event()
    started = threading.Event()

    def slow_watts(driver, watts):
        started.set()
        release.wait(10)
        FakePowerDriver.settings.append((driver.host, "watts", watts))

    monkeypatch.setattr(FakePowerDriver, "set_power_watts", slow_watts)
    t0 = time.monotonic()
    reply = activate(client, {"activationPowerInKw": 0.06})
    elapsed = time.monotonic() - t0
    assert reply.status_code == 200 and elapsed < 0.5, elapsed
    assert started.wait(5), "the commands did go out in the background"
    assert FakePowerDriver.settings == []  # still blocked: the reply was an acknowledgement, not delivery
    release.set()
    drain(runtime)
    assert len([s for s in FakePowerDriver.settings if s[1] == "watts"]) >= 2


def test_commands_of_one_plan_go_out_in_parallel(env, monkeypatch):
    client, runtime = env
    inside, peak, lock = [0], [0], threading.Lock()

    def slow_watts(driver, watts):
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.3)
        with lock:
            inside[0] -= 1
        FakePowerDriver.settings.append((driver.host, "watts", watts))

    monkeypatch.setattr(FakePowerDriver, "set_power_watts", slow_watts)
    t0 = time.monotonic()
    assert activate(client, {"activationPowerInKw": 0.09}).status_code == 200
    drain(runtime)
    assert len(FakePowerDriver.settings) == 3 and peak[0] == 3
    assert time.monotonic() - t0 < 0.8  # three 0.3 s commands, not 0.9 s in a row


# --- measured power --------------------------------------------------------------------------
def test_active_power_is_measured_with_an_estimate_for_a_miner_without_power(tmp_path):
    from tests.fakes import FakeDriver

    reset_fakes()
    FakeDriver.behaviour["10.0.0.3"] = "nopower"
    app, runtime = build(tmp_path, miners=[{"ip": "10.0.0.3", "family": "fakepower", "nominal_w": 100}])
    try:
        client = app.test_client()
        status = client.get("/api/status", headers=EMS).get_json()
        assert status["activePowerInKw"] == pytest.approx(0.145)  # 15 + 30 measured + 100 estimated
        assert status["ratedPowerInKw"] == pytest.approx(0.145)
        detail = client.get("/api/ems").get_json()
        assert [e["ip"] for e in detail["estimated"]] == ["10.0.0.3"]
        assert detail["estimated"][0]["watts"] == 100 and "nominal" in detail["estimated"][0]["why"]
        assert activate(client, {"activationPowerInKw": 0.1}).status_code == 200
        drain(runtime)
        assert client.post("/api/deactivate", headers=EMS).status_code == 200
        drain(runtime)
        # Asleep (commanded off): its estimate is 0, never the commanded or nominal value.
        detail = client.get("/api/ems").get_json()
        assert detail["estimated"][0]["watts"] == 0
        # 10.0.0.1 stops reporting power: its 15 W at full setting were learned, so it stays dispatchable
        # (services/power/learned.py); 10.0.0.4 never reported any and has no model nominal: it is not.
        FakeDriver.behaviour["10.0.0.1"] = FakeDriver.behaviour["10.0.0.4"] = "nopower"
        runtime.fleet.add("10.0.0.4", "fakepower")
        runtime.fleet.poll_round()
        controllable = client.get("/api/ems").get_json()["controllable"]
        assert "10.0.0.1" in controllable and "10.0.0.4" not in controllable
    finally:
        runtime.shutdown()


def test_active_power_is_never_the_commanded_value(env):
    client, runtime = env
    assert activate(client, {"activationPowerInKw": 0.03}).status_code == 200
    drain(runtime)
    # The fakes keep reporting what they draw (90 W): measured, whatever was commanded.
    assert client.get("/api/status", headers=EMS).get_json()["activePowerInKw"] == 0.09


def test_offline_or_stale_miners_are_not_rated(env):
    client, runtime = env
    for record in runtime.fleet.records():
        record.last_seen_ts = time.time() - 3600
    status = client.get("/api/status", headers=EMS).get_json()
    assert status == {"isAvailableForDispatch": False, "runningStatus": 1, "ratedPowerInKw": 0.0,
                      "activePowerInKw": 0.0}
    reply = activate(client, {"activationPowerInKw": 0.01})
    assert reply.status_code == 400 and "rated power is 0" in reply.get_json()["message"]
    assert client.get("/api/ems").get_json()["unavailable_reason"].startswith("no controllable miner")


def test_rated_kw_from_config(tmp_path):
    reset_fakes()
    app, runtime = build(tmp_path, ems={"token": EMS_TOKEN, "rated_kw": 2.5})
    try:
        client = app.test_client()
        assert client.get("/api/status", headers=EMS).get_json()["ratedPowerInKw"] == 2.5
        assert activate(client, {"activationPowerInKw": 2.5}).status_code == 200
        assert activate(client, {"activationPowerInKw": 2.6}).status_code == 400
        assert client.get("/api/ems").get_json()["rated_kw_source"] == "config"
    finally:
        drain(runtime)
        runtime.shutdown()


# --- no secret anywhere ---------------------------------------------------------------------------
def test_no_secret_in_any_response_or_event(env):
    client, runtime = env
    replies = [
        client.get("/api/status", headers=EMS), client.get("/api/status"),
        client.get("/api/status", headers={"Authorization": f"Bearer {EMS_TOKEN}x"}),
        activate(client, {"activationPowerInKw": 0.05}), activate(client, {"activationPowerInKw": "x"}),
        activate(client, {"activationPowerInKw": 0.05}, headers={"Authorization": f"Bearer {TEST_TOKEN}"}),
        client.post("/api/deactivate", headers=EMS), client.get("/api/ems"), client.get("/api/autocontrol"),
        client.get("/api/battery"), client.get("/api/events?limit=1000"),
    ]
    drain(runtime)
    text = "\n".join(r.get_data(as_text=True) for r in replies)
    text += json.dumps(ems_events(runtime)) + json.dumps(client.get("/api/events?limit=1000").get_json())
    for secret in (EMS_TOKEN, TEST_TOKEN, TEST_PASSWORD, EMS_TOKEN[:12]):
        assert secret not in text
    runtime.failures.flush()
    events = ems_events(runtime)
    # 3 authorized calls are an event each; the 3 refusals from one address share a row per minute.
    assert len([e for e in events if e["source"] is None]) == 3
    assert sum(e["count"] for e in events if e["source"] == "127.0.0.1") == 3
