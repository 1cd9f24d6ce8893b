"""BraiinsOS end to end: the real app and BraiinsDriver against a simulated BOS+ 25.11 S19 XP (REST)
and a BOSminer+ 0.2.0 S9 (cgminer API only) on 127.88.1.0/24."""

from __future__ import annotations

import pytest

from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, add_miner, discover, live_app
from tests.integration import poll_detail as detail

pytestmark = pytest.mark.integration

NET = "127.88.1"
XP, S9 = f"{NET}.10", f"{NET}.11"
TARGET = ("PUT", "/api/v1/performance/power-target")


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("braiins", XP, model="Antminer S19 XP", firmware_version="25.11", restart_seconds=0.5),
             MinerSpec("braiins", S9, model="Antminer S9", firmware_version="0.2.0+")]
    with SimFleet(specs, allow_any_client=True, seed=5) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    """A real Runtime and app (no scheduler); the XP simulator is reset to factory settings."""
    xp = sim.miner(XP)

    def reset() -> None:
        xp.password, xp.token_ttl, xp.power_target, xp.paused = "root", 3600.0, xp.hw.default_watts, False
        xp.expire_tokens()
        xp.rest_writes.clear()

    sim.call(reset)
    sim.call(lambda: setattr(sim.miner(S9), "paused", False))
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset) as live:
        yield live.client, live.runtime


def add(client, ip, **extra):
    return add_miner(client, ip, "braiins", **extra)


def test_discovery_finds_both_generations_and_writes_nothing(live, sim):
    client, _ = live
    job = discover(client)
    assert job["state"] == "done" and job["total"] == 254
    assert {m["ip"]: m["family"] for m in job["found"]} == {XP: "braiins", S9: "braiins"}
    xp = sim.miner(XP)
    assert xp.rest_writes == [] and xp.power_target == xp.hw.default_watts and not xp.paused
    assert not sim.miner(S9).paused


def test_reads_rest_and_cgminer_generations(live, sim):
    client, runtime = live
    add(client, XP)
    add(client, S9)
    xp, miner = client.get(f"/api/miners/{XP}").get_json(), sim.miner(XP)
    assert xp["hashrate_hs"] == pytest.approx(miner.hashrate_ghs() * 1e9, rel=0.15)  # ~141 TH/s in H/s
    assert xp["power_w"] == pytest.approx(miner.power_target, rel=0.03)  # approximated_consumption, W
    assert (xp["model"], xp["firmware"]) == ("Antminer S19 XP", "BOS+")
    assert xp["firmware_version"].endswith("25.11-plus") and xp["state"] == "mining"
    assert [b["index"] for b in xp["boards"]] == [0, 1, 2] and {b["chips"] for b in xp["boards"]} == {110}
    assert all(300 < b["frequency_mhz"] < 500 for b in xp["boards"])  # from hertz
    assert 40 < xp["temp_c"] < 100 and len(xp["fan_rpm"]) == 4
    assert xp["capabilities"] == ["pools", "power_watts", "reboot", "restart", "sleep", "wake"]
    assert xp["pools"][0]["active"] and xp["pools"][0]["url"] == miner.pools[0].url
    s9 = client.get(f"/api/miners/{S9}").get_json()
    assert (s9["model"], s9["firmware"]) == ("Antminer S9", "BOSminer+")
    assert s9["hashrate_hs"] == pytest.approx(sim.miner(S9).hashrate_ghs() * 1e9, rel=0.15)  # MHS -> H/s
    assert s9["power_w"] == pytest.approx(1300, rel=0.03)  # tunerstatus ApproximateMinerPowerConsumption
    assert [b["index"] for b in s9["boards"]] == [0, 1, 2]  # chains 6..8
    assert [b["frequency_mhz"] > 500 for b in s9["boards"]] == [True] * 3  # devdetails Hz -> MHz
    assert s9["capabilities"] == ["sleep", "wake"]  # no REST: pause/resume on the cgminer API only
    assert sim.miner(XP).rest_writes == []


def test_power_target_is_applied_visible_and_the_only_write(live, sim):
    client, runtime = live
    add(client, XP)
    miner = sim.miner(XP)
    before = detail(client, runtime, XP)
    reply = client.post(f"/api/miners/{XP}/power", json={"watts": 2500}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    assert miner.power_target == 2500
    assert miner.rest_writes == [TARGET]  # no configuration rewrite, nothing else
    after = detail(client, runtime, XP)
    assert after["power_w"] == pytest.approx(2500, rel=0.03)
    assert after["hashrate_hs"] < before["hashrate_hs"] * 0.95
    assert "note: power target 2500 W (BOS+ tuner)" in after["errors"]
    out_of_range = client.post(f"/api/miners/{XP}/power", json={"watts": 9000}, headers=AUTH)
    assert out_of_range.status_code == 400 and miner.power_target == 2500


def test_sleep_wake_restart_and_pools_change_later_reads(live, sim):
    client, runtime = live
    add(client, XP)
    miner = sim.miner(XP)
    assert client.post(f"/api/miners/{XP}/sleep", headers=AUTH).status_code == 200
    paused = detail(client, runtime, XP)
    assert miner.paused and paused["state"] == "paused" and paused["hashrate_hs"] == 0
    assert client.post(f"/api/miners/{XP}/wake", headers=AUTH).status_code == 200
    assert detail(client, runtime, XP)["state"] == "mining"
    miner.skip(120)
    assert detail(client, runtime, XP)["uptime_s"] >= 120
    restarts = miner.mining_restarts
    assert client.post(f"/api/miners/{XP}/restart", headers=AUTH).status_code == 200
    assert miner.mining_restarts == restarts + 1 and detail(client, runtime, XP)["uptime_s"] < 60
    pools = [{"url": "stratum+tcp://pool.example.org:3333", "user": "fleet.xp", "password": "pool-pw"},
             {"url": "stratum+tcp://backup.example.org:3333", "user": "fleet.xp"}]
    reply = client.post(f"/api/miners/{XP}/pools", json={"pools": pools}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    shown = detail(client, runtime, XP)["pools"]
    assert [(p["url"], p["user"]) for p in shown] == [(p["url"], p["user"]) for p in pools]
    assert shown[0]["active"] and "pool-pw" not in str(shown)
    assert ("PUT", "/api/v1/pools/batch") in miner.rest_writes


def test_legacy_bos_pauses_over_the_cgminer_api_and_refuses_the_rest(live, sim):
    client, runtime = live
    add(client, S9)
    assert client.post(f"/api/miners/{S9}/sleep", headers=AUTH).status_code == 200
    assert sim.miner(S9).paused and detail(client, runtime, S9)["state"] == "paused"
    assert client.post(f"/api/miners/{S9}/wake", headers=AUTH).status_code == 200
    assert not sim.miner(S9).paused
    for path, body in (("power", {"watts": 1000}), ("pools", {"pools": [{"url": "stratum+tcp://a.b:1", "user": "u"}]}),
                       ("restart", None)):
        reply = client.post(f"/api/miners/{S9}/{path}", json=body, headers=AUTH)
        assert reply.status_code == 409 and "this firmware version" in reply.get_json()["error"]


def test_unsupported_actions_answer_409(live, sim):
    client, _ = live
    add(client, XP)
    for path, body in (("frequency", {"mhz": 500}), ("fan", {"percent": 80}), ("mode", {"mode": "eco"}),
                       ("power", {"percent": 50})):
        reply = client.post(f"/api/miners/{XP}/{path}", json=body, headers=AUTH)
        assert reply.status_code == 409, (path, reply.get_json())
    assert client.get(f"/api/miners/{XP}/chips", headers=AUTH).status_code == 409
    assert sim.miner(XP).rest_writes == []


def test_wrong_password_is_a_clear_error_and_changes_nothing(live, sim):
    client, runtime = live
    miner = sim.miner(XP)
    sim.call(lambda: setattr(miner, "password", "owner-set-pw"))
    add(client, XP)  # factory root/root is refused: reads fall back to the cgminer API
    shown = detail(client, runtime, XP)
    assert shown["online"] and shown["hashrate_hs"] > 0
    assert "refused the REST login" in shown["errors"][0]
    reply = client.put(f"/api/miners/{XP}/credentials", json={"username": "root", "password": "wrong-pw"},
                       headers=AUTH)
    assert reply.status_code == 200
    reply = client.post(f"/api/miners/{XP}/power", json={"watts": 2000}, headers=AUTH)
    assert reply.status_code == 502 and reply.get_json()["error"].startswith("the miner refused the login")
    assert "wrong-pw" not in reply.get_json()["error"]
    assert miner.power_target == miner.hw.default_watts and miner.rest_writes == []
    client.put(f"/api/miners/{XP}/credentials", json={"username": "root", "password": "owner-set-pw"}, headers=AUTH)
    assert client.post(f"/api/miners/{XP}/power", json={"watts": 2000}, headers=AUTH).status_code == 200
    assert miner.power_target == 2000 and miner.rest_writes == [TARGET]
    assert "refused" not in " ".join(detail(client, runtime, XP)["errors"])


def test_expired_token_logs_in_again_once(live, sim):
    client, runtime = live
    miner = sim.miner(XP)
    add(client, XP)
    logins = miner.logins
    sim.call(miner.expire_tokens)  # the miner forgot our token (timeout_s passed, or it rebooted)
    assert client.post(f"/api/miners/{XP}/power", json={"watts": 2200}, headers=AUTH).status_code == 200
    assert miner.logins == logins + 1 and miner.power_target == 2200
    assert miner.rest_writes == [TARGET]  # the first PUT was refused (401) before it changed anything
