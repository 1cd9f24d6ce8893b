"""Whatsminer end to end: the real app and WhatsminerDriver against simulated btminer units on 127.86.0.0/24:
an M30S+ (API 2.0.5 on 4028), an M20S (old "whatsminer v1.3" API: no power limit) and an M60S
(2025 firmware: API 3 on 4433). Reads, every supported write, 409s, and auth failures that change nothing."""

from __future__ import annotations

import pytest

from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, add_miner, discover, live_app, wait_for
from tests.integration import poll_detail as detail, post_action as post

pytestmark = pytest.mark.integration

NET = "127.86.0"
V2, OLD, V3 = f"{NET}.10", f"{NET}.12", f"{NET}.11"
ALL_CAPS = ["mode", "pools", "power_percent", "power_watts", "reboot", "restart", "sleep", "wake"]


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("whatsminer", V2, model="M30S+", restart_seconds=0.3),
             MinerSpec("whatsminer", V3, model="M60S", restart_seconds=0.3),
             MinerSpec("whatsminer", OLD, model="M20S", restart_seconds=0.3)]
    with SimFleet(specs, allow_any_client=True, seed=11) as fleet:
        yield fleet


def factory_state(miner) -> tuple:
    """What a write could change on a simulated miner."""
    return (miner.mode, miner.mining, miner.power_limit, miner.power_percent, [(p.url, p.user) for p in miner.pools],
            tuple(miner.applied))


def _port_open(ip: str, port: int) -> bool:
    """True once the (rebooted) miner accepts connections on this port again."""
    import socket

    try:
        with socket.create_connection((ip, port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def live(tmp_path, sim):
    """A real Runtime and app (no scheduler); every simulated miner back to factory settings."""
    def reset() -> None:
        for miner in sim.miners:
            miner.mode, miner.mining, miner.power_limit, miner.power_percent = "normal", True, miner.hw.power_limit, 100
            miner.password, miner.write_enabled, miner.reject_tokens = "admin", True, False
            miner.v3_accounts = {"super": "super"}
            miner.applied.clear()
            miner._tokens.clear()

    sim.call(reset)
    # A test that reboots a miner returns once it answers again; this makes sure no test starts
    # against a miner still booting (a closed API 3 port reads as a different failure).
    wait_for(lambda: all(m.listening and all(_port_open(m.ip, port) for port in m.ports().values())
                         for m in sim.miners), message="a simulated Whatsminer is not listening")
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset) as live:
        yield live.client, live.runtime


def add(client, ip, **extra):
    return add_miner(client, ip, "whatsminer", **extra)


def test_discovery_finds_every_generation_and_writes_nothing(live, sim):
    client, _ = live
    before = {m.ip: (factory_state(m), m.token_requests) for m in sim.miners}
    job = discover(client)
    assert job["state"] == "done" and job["total"] == 254
    assert {m["ip"]: m["family"] for m in job["found"]} == {V2: "whatsminer", V3: "whatsminer", OLD: "whatsminer"}
    assert {m.ip: (factory_state(m), m.token_requests) for m in sim.miners} == before  # no get_token, no write


def test_reads_in_explicit_units(live, sim):
    client, runtime = live
    for ip in (V2, V3, OLD):
        add(client, ip)
    for ip, model, firmware, caps in ((V2, "Whatsminer M30S+ V40", "20230412.18.Rel", ALL_CAPS),
                                      (V3, "Whatsminer M60S VK40", "20251209.16.Rel2", ALL_CAPS),
                                      (OLD, "Whatsminer M20S V10", "20200917.22.REL",
                                       [c for c in ALL_CAPS if c != "power_watts"])):
        miner, data = sim.miner(ip), client.get(f"/api/miners/{ip}").get_json()
        assert data["online"] and data["state"] == "mining", data
        assert (data["model"], data["firmware"], data["firmware_version"]) == (model, "btminer", firmware)
        # API 2 MH/s and API 3 TH/s both end up in H/s; power in W as the firmware measures it.
        assert data["hashrate_hs"] == pytest.approx(miner.hashrate_ghs() * 1e9, rel=0.05)
        assert data["expected_hashrate_hs"] == pytest.approx(miner.hw.factory_ghs * 1e9, rel=0.001)
        assert data["power_w"] == pytest.approx(miner.target_power(), rel=0.03)
        assert [b["index"] for b in data["boards"]] == [0, 1, 2]
        assert {b["chips"] for b in data["boards"]} == {miner.hw.chips}
        assert 40 < data["temp_c"] < 110 and len(data["fan_rpm"]) == 2 and data["mac"] == miner.mac_address
        assert data["capabilities"] == caps
        assert data["pools"][0]["active"] and data["pools"][0]["url"] == miner.pools[0].url
    assert all(m.applied == [] for m in sim.miners)


@pytest.mark.parametrize("ip", [V2, V3], ids=["api2", "api3"])
def test_every_write_changes_what_later_reads_return(live, sim, ip):
    client, runtime = live
    add(client, ip)
    miner = sim.miner(ip)
    normal = detail(client, runtime, ip)["power_w"]
    assert post(client, ip, "mode", {"mode": "low"}).status_code == 200
    low = detail(client, runtime, ip)
    assert low["power_w"] == pytest.approx(normal * 0.82, rel=0.03)
    assert low["hashrate_hs"] < 0.9 * miner.hw.factory_ghs * 1e9
    assert post(client, ip, "mode", {"mode": "high"}).status_code == 200
    assert detail(client, runtime, ip)["power_w"] > normal * 1.05
    assert post(client, ip, "mode", {"mode": "normal"}).status_code == 200
    assert post(client, ip, "power", {"percent": 70}).status_code == 200
    assert detail(client, runtime, ip)["power_w"] == pytest.approx(normal * 0.7, rel=0.03)
    assert post(client, ip, "sleep").status_code == 200
    asleep = detail(client, runtime, ip)
    assert asleep["state"] == "sleeping" and asleep["hashrate_hs"] == 0 and asleep["online"]
    assert post(client, ip, "wake").status_code == 200
    assert detail(client, runtime, ip)["state"] == "mining"
    pools = [{"url": "stratum+tcp://pool.example.org:3333", "user": "fleet.w1", "password": "pool-secret"},
             {"url": "stratum+tcp://backup.example.org:443", "user": "fleet.w1"}]
    reply = post(client, ip, "pools", {"pools": pools})
    assert reply.status_code == 200 and "pool-secret" not in reply.get_data(as_text=True)
    data = detail(client, runtime, ip)
    assert [p["url"] for p in data["pools"]] == [p["url"] for p in pools] and data["pools"][0]["active"]
    assert miner.pools[0].password == "pool-secret"  # it reached the miner (inside the encryption)
    uptime = miner.elapsed()
    miner.skip(30)
    assert post(client, ip, "restart").status_code == 200  # the mining service, not the OS
    assert detail(client, runtime, ip)["uptime_s"] < uptime + 30 and miner.reboots == 0
    assert post(client, ip, "power", {"watts": 3000}).status_code == 200  # the miner restarts to apply it
    # While the miner boots, a read can land before the API 3 port is back and carry no power:
    # wait for a full reading rather than racing the boot.
    after = wait_for(lambda: miner.listening and all(_port_open(ip, port) for port in miner.ports().values())
                     and (d := detail(client, runtime, ip))["online"] and d["power_w"] is not None and d, timeout=8)
    assert miner.reboots == 1 and miner.power_limit == 3000
    assert after["power_w"] <= 3000 * 1.03
    miner.skip(30)
    # The whole device this time. Under load the simulated boot can still be settling: a refused
    # connection sends nothing, so asking again until it is accepted reboots it exactly once.
    wait_for(lambda: post(client, ip, "reboot").status_code == 200, timeout=8)
    back = wait_for(lambda: miner.reboots == 2 and miner.listening and (d := detail(client, runtime, ip))["online"]
                    and d["uptime_s"] is not None and d, timeout=8)
    assert back["uptime_s"] < 30


def test_unsupported_actions_answer_409(live, sim):
    client, runtime = live
    for ip in (V2, V3, OLD):
        add(client, ip)
    for ip in (V2, V3):
        for action, body in (("frequency", {"mhz": 600}), ("fan", {"percent": 50})):
            reply = post(client, ip, action, body)
            assert reply.status_code == 409 and "whatsminer" in reply.get_json()["error"]
        assert client.get(f"/api/miners/{ip}/chips", headers=AUTH).status_code == 409
    reply = post(client, OLD, "power", {"watts": 3000})  # "whatsminer v1.3" has no adjust_power_limit
    assert reply.status_code == 409 and "firmware version" in reply.get_json()["error"]
    assert post(client, OLD, "power", {"percent": 80}).status_code == 200
    assert sim.miner(OLD).applied == ["set_power_pct"]


def test_wrong_password_is_refused_clearly_and_changes_nothing(live, sim):
    client, runtime = live
    add(client, V2, username="admin", password="not-the-password")
    miner = sim.miner(V2)
    before = factory_state(miner)
    reply = post(client, V2, "mode", {"mode": "low"})
    assert reply.status_code == 502 and reply.get_json()["miner_error"] == "auth"
    assert "refused the login" in reply.get_json()["error"] and "password is wrong" in reply.get_json()["error"]
    assert "not-the-password" not in reply.get_data(as_text=True)
    assert factory_state(miner) == before
    # The right password through PUT /credentials: the same write now works.
    sim.call(lambda: setattr(miner, "password", "n3w-admin"))
    assert client.put(f"/api/miners/{V2}/credentials", json={"username": "admin", "password": "n3w-admin"},
                      headers=AUTH).status_code == 200
    assert post(client, V2, "mode", {"mode": "low"}).status_code == 200 and miner.mode == "low"


def test_write_switch_off_is_refused_clearly_and_changes_nothing(live, sim):
    client, runtime = live
    add(client, V2)
    miner = sim.miner(V2)
    sim.call(lambda: setattr(miner, "write_enabled", False))
    before = factory_state(miner)
    reply = post(client, V2, "sleep")
    assert reply.status_code == 502 and "write switch is off" in reply.get_json()["error"]
    assert factory_state(miner) == before and detail(client, runtime, V2)["state"] == "mining"


def test_expired_token_is_renewed_and_a_rejected_one_changes_nothing(live, sim):
    client, runtime = live
    add(client, V2)
    miner = sim.miner(V2)
    assert post(client, V2, "mode", {"mode": "low"}).status_code == 200
    tokens, errors = miner.token_requests, miner.token_errors
    miner.skip(1801)  # the miner's 30-minute token life passes; the driver still holds its token
    assert post(client, V2, "mode", {"mode": "high"}).status_code == 200
    assert miner.mode == "high" and miner.token_requests == tokens + 1 and miner.token_errors == errors + 1
    sim.call(lambda: setattr(miner, "reject_tokens", True))
    before = factory_state(miner)
    reply = post(client, V2, "mode", {"mode": "normal"})
    assert reply.status_code == 502 and "check token error" in reply.get_json()["error"]
    assert factory_state(miner) == before


def test_api3_wrong_password_and_switch_off_change_nothing(live, sim):
    client, runtime = live
    add(client, V3, username="super", password="wrong-pw")
    miner = sim.miner(V3)
    before = factory_state(miner)
    reply = post(client, V3, "sleep")
    assert reply.status_code == 502 and "account 'super'" in reply.get_json()["error"]
    assert "wrong-pw" not in reply.get_data(as_text=True) and factory_state(miner) == before
    assert client.put(f"/api/miners/{V3}/credentials", json={"username": "super", "password": "super"},
                      headers=AUTH).status_code == 200
    sim.call(lambda: setattr(miner, "write_enabled", False))
    assert post(client, V3, "sleep").status_code == 502 and factory_state(miner) == before
    sim.call(lambda: setattr(miner, "write_enabled", True))
    assert post(client, V3, "sleep").status_code == 200 and not miner.mining
