"""Control endpoints: validation (400), unsupported actions (409), events without secrets."""

from __future__ import annotations

import pytest

import miners
from miners.base import ALL_CAPABILITIES
from tests.fakes import FakeDriver


@pytest.fixture
def fleet(runtime):
    runtime.fleet.add("10.0.0.1", "fake")
    runtime.fleet.poll_round()
    return runtime.fleet


@pytest.mark.parametrize("path, body", [
    ("sleep", None), ("wake", None), ("power", {"watts": 100}), ("power", {"percent": 50}),
    ("mode", {"mode": "eco"}), ("frequency", {"mhz": 500}), ("fan", {"percent": 50}), ("reboot", None),
    ("autodownscale", {"enabled": True}),
])
def test_unsupported_action_is_409_with_reason(client, fleet, auth, path, body):
    reply = client.post(f"/api/miners/10.0.0.1/{path}", json=body, headers=auth)
    assert reply.status_code == 409, reply.get_json()
    assert "fake miners cannot" in reply.get_json()["error"]


@pytest.mark.parametrize("path, body, fragment", [
    ("power", {}, "exactly one"),
    ("power", {"watts": 100, "percent": 5}, "exactly one"),
    ("power", {"watts": "100"}, "must be a number"),
    ("power", {"watts": float("nan")}, "not a number"),
    ("power", {"watts": True}, "must be a number"),
    ("power", {"watts": -5}, "between"),
    ("power", {"percent": 150}, "between"),
    ("power", {"watts": 10.5}, "whole number"),
    ("frequency", {"voltage_mv": 1200}, "mhz must be"),
    ("frequency", {"mhz": 500, "board": -1}, "board must be"),
    ("mode", {"mode": 3}, "mode"),
    ("fan", {}, "percent"),
    ("pools", {"pools": []}, "pools"),
    ("pools", {"pools": [{"url": 5, "user": "u"}]}, "must be a string"),
    ("pools", {"pools": ["stratum+tcp://a:1"]}, "must be an object"),
    ("autodownscale", {"enabled": "yes"}, "enabled"),
    ("autodownscale", {"enabled": True, "step_mhz": 500}, "between"),
    ("autodownscale", {"enabled": True, "speed": 5}, "unknown field"),
])
def test_bad_bodies_are_400_and_send_nothing(client, fleet, auth, path, body, fragment):
    if body and any(v != v for v in body.values() if isinstance(v, float)):
        reply = client.post(f"/api/miners/10.0.0.1/{path}", data='{"watts": NaN}',
                            headers={**auth, "Content-Type": "application/json"})
    else:
        reply = client.post(f"/api/miners/10.0.0.1/{path}", json=body, headers=auth)
    assert reply.status_code == 400, reply.get_json()
    assert fragment in reply.get_json()["error"]
    assert FakeDriver.pools == {}


def test_pools_in_priority_order_and_password_never_echoed(client, fleet, auth):
    body = {"pools": [{"url": "stratum+tcp://pool.example:3333", "user": "me.1", "password": "p00l-secret"},
                      {"url": "stratum+tcp://backup.example:443", "user": "me.1"}]}
    reply = client.post("/api/miners/10.0.0.1/pools", json=body, headers=auth)
    assert reply.status_code == 200, reply.get_json()
    assert "p00l-secret" not in reply.get_data(as_text=True)
    assert [p.url for p in FakeDriver.pools["10.0.0.1"]] == ["stratum+tcp://pool.example:3333",
                                                            "stratum+tcp://backup.example:443"]
    assert FakeDriver.pools["10.0.0.1"][1].password == "x"
    events = client.get("/api/events").get_data(as_text=True)
    assert "pool.example:3333" in events and "p00l-secret" not in events


def test_invalid_pool_url_is_400_and_logged(client, fleet, auth):
    reply = client.post("/api/miners/10.0.0.1/pools", json=[{"url": "http://pool:3333", "user": "u"}], headers=auth)
    assert reply.status_code == 400 and "stratum+tcp://" in reply.get_json()["error"]
    assert FakeDriver.pools == {}


def test_control_needs_credentials(client, fleet):
    for path in ("sleep", "wake", "power", "mode", "frequency", "pools", "fan"):
        assert client.post(f"/api/miners/10.0.0.1/{path}", json={}).status_code == 401


def test_chips_unsupported_is_409(client, fleet):
    reply = client.get("/api/miners/10.0.0.1/chips")
    assert reply.status_code == 409 and "per-chip" in reply.get_json()["error"]


def test_credentials_are_stored_not_returned(client, fleet, auth):
    reply = client.put("/api/miners/10.0.0.1/credentials", json={"username": "root", "password": "s3cret-pw"},
                       headers=auth)
    assert reply.status_code == 200
    detail = client.get("/api/miners/10.0.0.1").get_data(as_text=True)
    assert "s3cret-pw" not in detail and '"credentials_set":true' in detail.replace(" ", "")


def test_miner_types_come_from_the_driver_classes(client):
    matrix = client.get("/api/miner-types").get_json()
    for family, cls in miners.DRIVERS.items():
        assert set(matrix[family]["capabilities"]) == set(ALL_CAPABILITIES)
        for name, value in matrix[family]["capabilities"].items():
            assert value == (name in cls.capabilities), (family, name)
        assert matrix[family]["modes"] == list(cls.modes)


def test_credentials_can_be_cleared_and_empty_ones_are_refused(client, fleet, auth, runtime):
    assert client.put("/api/miners/10.0.0.1/credentials", json={"username": "", "password": ""},
                      headers=auth).status_code == 400
    client.put("/api/miners/10.0.0.1/credentials", json={"username": "root", "password": "pw-123"}, headers=auth)
    assert runtime.fleet.get("10.0.0.1").driver.credentials.password == "pw-123"
    reply = client.delete("/api/miners/10.0.0.1/credentials", headers=auth)
    assert reply.get_json() == {"ok": True, "credentials_set": False}
    assert client.get("/api/miners/10.0.0.1").get_json()["credentials_set"] is False
    assert runtime.fleet.get("10.0.0.1").driver.credentials.password == ""
    assert client.delete("/api/miners/10.0.0.1/credentials").status_code == 401


def test_database_file_is_owner_only(runtime):
    import stat

    mode = stat.S_IMODE(runtime.db.path.stat().st_mode)
    assert mode == 0o600, oct(mode)
