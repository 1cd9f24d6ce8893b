"""The JSON API through Flask's test client, with fake drivers."""

from __future__ import annotations


import pytest

from tests.conftest import TEST_PASSWORD, TEST_TOKEN
from tests.fakes import FakeDriver


@pytest.fixture
def fleet(runtime):
    for ip in ("10.0.0.2", "10.0.0.10", "10.0.0.1"):
        runtime.fleet.add(ip, "fake")
    runtime.fleet.poll_round()
    return runtime.fleet


def login(client, password=TEST_PASSWORD, origin="http://localhost"):
    return client.post("/login", json={"password": password}, headers={"Origin": origin})


def test_list_is_sorted_by_ip_and_has_the_contract_fields(client, fleet):
    miners = client.get("/api/miners").get_json()
    assert [m["ip"] for m in miners] == ["10.0.0.1", "10.0.0.2", "10.0.0.10"]
    for key in ("ip", "family", "model", "firmware", "algorithm", "online", "status", "hashrate_hs",
                "power_w", "temp_c", "fan_rpm", "capabilities", "last_seen"):
        assert key in miners[0]
    assert miners[0]["capabilities"] == ["pools", "restart"]


def test_stats_agree_with_the_list(client, fleet):
    miners = client.get("/api/miners").get_json()
    stats = client.get("/api/stats").get_json()
    assert stats["miners_total"] == len(miners)
    assert stats["online"] == sum(m["online"] for m in miners)
    assert stats["hashrate_hs"]["sha256d"] == pytest.approx(sum(m["hashrate_hs"] for m in miners))
    assert stats["power_w"] == pytest.approx(sum(m["power_w"] for m in miners))


def test_detail_and_unknown_and_bad_ip(client, fleet):
    detail = client.get("/api/miners/10.0.0.2").get_json()
    assert detail["ip"] == "10.0.0.2" and "boards" in detail and detail["credentials_set"] is False
    assert client.get("/api/miners/10.0.0.99").status_code == 404
    reply = client.get("/api/miners/not-an-ip")
    assert reply.status_code == 400 and "IPv4" in reply.get_json()["error"]


@pytest.mark.parametrize("method, path, body", [
    ("post", "/api/miners/10.0.0.1/restart", None),
    ("delete", "/api/miners/10.0.0.1", None),
    ("post", "/api/miners", {"ip": "10.0.0.5", "family": "fake"}),
    ("post", "/api/discover", {"subnet": "10.0.0.0/30"}),
])
def test_writes_need_credentials(client, fleet, method, path, body):
    reply = getattr(client, method)(path, json=body)
    assert reply.status_code == 401
    assert "error" in reply.get_json()
    wrong = getattr(client, method)(path, json=body, headers={"Authorization": "Bearer wrong-token-123456"})
    assert wrong.status_code == 401
    assert FakeDriver.restarts == []
    assert len(client.get("/api/miners").get_json()) == 3


def test_restart_with_token(client, fleet, auth):
    reply = client.post("/api/miners/10.0.0.1/restart", headers=auth)
    assert reply.status_code == 200 and reply.get_json()["ok"] is True
    assert FakeDriver.restarts == ["10.0.0.1"]
    events = client.get("/api/events?miner=10.0.0.1").get_json()
    assert events[0]["actor"] == "token" and events[0]["message"] == "restart ok"


def test_session_login_and_origin_check(client, fleet):
    assert login(client, "wrong password").status_code == 401
    assert client.get("/api/session").get_json() == {"logged_in": False}
    assert login(client).status_code == 200
    assert client.get("/api/session").get_json() == {"logged_in": True}
    foreign = client.post("/api/miners/10.0.0.1/restart", headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    missing = client.post("/api/miners/10.0.0.1/restart")
    assert missing.status_code == 403
    assert FakeDriver.restarts == []
    ok = client.post("/api/miners/10.0.0.1/restart", headers={"Origin": "http://localhost"})
    assert ok.status_code == 200
    assert client.post("/logout").status_code == 403  # logout has the Origin rule of every cookie write
    assert client.post("/logout", headers={"Origin": "http://localhost"}).status_code == 200
    assert client.post("/api/miners/10.0.0.1/restart", headers={"Origin": "http://localhost"}).status_code == 401


def test_login_is_rate_limited(client, fleet):
    from web import auth as auth_module

    auth_module._FAILED_LOGINS.clear()
    codes = [login(client, "nope-nope").status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    auth_module._FAILED_LOGINS.clear()


def test_no_response_contains_a_secret(client, fleet, auth, runtime):
    runtime.fleet.add("10.0.0.20", "fake", credentials={"username": "root", "password": "miner-secret-pw"})
    login(client)
    bodies = []
    for path in ("/api/miners", "/api/miners/10.0.0.20", "/api/stats", "/api/events", "/api/health",
                 "/api/discover", "/api/session", "/api/history?range=1h", "/"):
        bodies.append(client.get(path, headers=auth).get_data(as_text=True))
    text = "\n".join(bodies)
    for secret in (TEST_TOKEN, TEST_PASSWORD, "miner-secret-pw"):
        assert secret not in text
    assert client.get("/api/miners/10.0.0.20").get_json()["credentials_set"] is True


@pytest.mark.parametrize("body, content_type, fragment", [
    ("{not json", "application/json", "not valid JSON"),
    ("[1, 2]", "application/json", "JSON object"),
    ('{"ip": "10.0.0.300", "family": "fake"}', "application/json", "not an IPv4"),
    ('{"ip": 12}', "application/json", "must be a string"),
    ('{"ip": "10.0.0.5", "family": "toaster"}', "application/json", "unknown family"),
    ('{"ip": "10.0.0.5", "family": "fake", "port": "80"}', "application/json", "port must be"),
    ("ip=10.0.0.5", "application/x-www-form-urlencoded", "Content-Type: application/json"),
])
def test_add_miner_bad_input_is_400_and_changes_nothing(client, fleet, auth, body, content_type, fragment):
    reply = client.post("/api/miners", data=body, headers={**auth, "Content-Type": content_type})
    assert reply.status_code == 400
    assert fragment in reply.get_json()["error"]
    assert len(client.get("/api/miners").get_json()) == 3


def test_add_and_delete_miner(client, fleet, auth):
    reply = client.post("/api/miners", json={"ip": "10.0.0.5", "family": "fake"}, headers=auth)
    assert reply.status_code == 201
    assert reply.get_json()["online"] is True  # polled at once
    assert client.delete("/api/miners/10.0.0.5", headers=auth).get_json() == {"deleted": "10.0.0.5"}
    assert client.delete("/api/miners/10.0.0.5", headers=auth).status_code == 404


def test_discover_rejects_bad_subnets(client, fleet, auth):
    for subnet, fragment in (("10.0.0.0/33", "CIDR"), ("10.0.0.0/8", "at most"), (5, "string")):
        reply = client.post("/api/discover", json={"subnet": subnet}, headers=auth)
        assert reply.status_code == 400, subnet
        assert fragment in reply.get_json()["error"] or fragment == "CIDR"


def test_history_ranges(client, fleet):
    for name in ("1h", "6h", "24h", "3d", "1w", "all"):
        data = client.get(f"/api/history?range={name}").get_json()
        assert data["range"] == name and data["bucket_s"] >= 2
        assert len(data["ts"]) == len(data["series"]["power_w"]) == len(data["series"]["online"])
    data = client.get("/api/history?range=1h").get_json()
    assert data["series"]["online"][-1] == 3
    assert data["series"]["hashrate_hs.sha256d"][-1] == pytest.approx(13e12)
    assert client.get("/api/history?range=2y").status_code == 400
    one = client.get("/api/miners/10.0.0.2/history?range=24h").get_json()
    assert one["series"]["power_w"] == [30.0]
    assert one["series"]["temp_c"] == [52.0] and one["series"]["fan_rpm"] == [3000]


def test_unknown_api_path_is_json_404(client):
    reply = client.get("/api/nothing-here")
    assert reply.status_code == 404 and "error" in reply.get_json()
    reply = client.put("/api/stats")
    assert reply.status_code == 405 and "error" in reply.get_json()


def test_reads_can_require_login(config, runtime):
    import dataclasses

    from app import create_app

    locked = dataclasses.replace(config, security=dataclasses.replace(config.security, reads_require_login=True))
    app = create_app(config=locked, runtime=runtime, start_background=False, test_config={"TESTING": True})
    client = app.test_client()
    assert client.get("/api/miners").status_code == 401
    assert client.get("/api/miners", headers={"Authorization": f"Bearer {TEST_TOKEN}"}).status_code == 200


def test_list_carries_the_active_pool(client, fleet):
    """The Miners table's Pool column reads `pool` from the list: the active pool, else the first, else null."""
    from miners.base import MinerStatus, PoolStatus
    from services.miner_state import _pool_url

    assert client.get("/api/miners").get_json()[0]["pool"] is None  # the fake lists no pools
    backup = PoolStatus("stratum+tcp://backup.example:3333", active=False)
    main = PoolStatus("stratum+tcp://main.example:3333", active=True)
    assert _pool_url(MinerStatus(pools=[backup, main])) == main.url
    assert _pool_url(MinerStatus(pools=[backup])) == backup.url
    assert _pool_url(None) is None
