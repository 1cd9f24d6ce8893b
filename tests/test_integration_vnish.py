"""Vnish through the real app (real drivers, real FleetManager) against the Vnish simulators on 127.85.0.0/24.

One S19 on Vnish 1.2.6 and one L7 on 1.3.4 (REST, unlock tokens), one S9 on Vnish
3.9.0 (cgminer API + digest CGI). Every write the family supports is checked in
what later reads return; every unsupported one answers 409; wrong passwords give a
clear 502 and change nothing; an expired token is renewed without the user noticing.
"""

from __future__ import annotations

import time

import pytest

from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, add_miner, discover, live_app
from tests.integration import poll_detail as detail, post_action as post

pytestmark = pytest.mark.integration

NET = "127.85.0"
S19, L7, S9 = f"{NET}.10", f"{NET}.11", f"{NET}.12"


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("vnish", S19, model="Antminer S19", firmware_version="1.2.6", restart_seconds=0.5),
             MinerSpec("vnish", L7, model="Antminer L7", firmware_version="1.3.4", restart_seconds=0.5),
             MinerSpec("vnish_legacy", S9, model="Antminer S9", firmware_version="3.9.0", restart_seconds=0.5)]
    with SimFleet(specs, allow_any_client=True, seed=11) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    """A real Runtime and app (no scheduler: rounds are run by the test)."""
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset) as live:
        yield live.client, live.runtime


def add(client, ip, **extra):
    return add_miner(client, ip, "vnish", **extra)


def writes(sim):
    """Everything a write could change on the three simulated miners."""
    s19, l7, s9 = sim.miner(S19), sim.miner(L7), sim.miner(S9)
    return (s19.settings_writes, s19.state, l7.settings_writes, l7.state, l7.throttle, s9.conf_writes,
            s9.sleeping, s9.mining_restarts, s9.reboots, s19.reboots, l7.reboots)


def test_discovery_finds_both_generations_as_vnish_and_writes_nothing(live, sim):
    client, runtime = live
    before = writes(sim)
    job = discover(client)
    assert job["state"] == "done"
    assert {m["ip"]: m["family"] for m in job["found"]} == {S19: "vnish", L7: "vnish", S9: "vnish"}
    assert writes(sim) == before
    miners = {m["ip"]: m for m in client.get("/api/miners").get_json()}
    assert all(miners[ip]["online"] for ip in (S19, L7, S9)), miners


def test_reads_have_the_right_units_and_values(live, sim):
    client, runtime = live
    for ip in (S19, L7, S9):
        add(client, ip)
    s19, l7, s9 = (client.get(f"/api/miners/{ip}").get_json() for ip in (S19, L7, S9))
    status = s19["last_reading"]
    assert s19["model"] == "Antminer S19" and status["firmware"] == "Vnish" and status["firmware_version"] == "1.2.6"
    assert 90e12 < status["hashrate_hs"] < 110e12 and status["algorithm"] == "sha256d"  # GH/s -> H/s
    assert 3000 < status["power_w"] < 3500 and len(status["boards"]) == 3
    assert status["boards"][0]["voltage_mv"] == 14000
    assert [p["url"] for p in status["pools"]] == ["btc.foundryusapool.com:3333", "btc.foundryusapool.com:443"]
    assert l7["last_reading"]["algorithm"] == "scrypt" and 8e9 < l7["last_reading"]["hashrate_hs"] < 10e9  # MH/s -> H/s
    assert "power_percent" in l7["capabilities"] and "power_percent" not in s19["capabilities"]
    assert "3200" in s19["modes"] and "disabled" in s19["modes"]
    # The family driver hands the generation's watt steps on (the allocator plans the presets).
    steps = runtime.fleet.get(S19).driver.power_steps_w
    assert steps == tuple(sorted(float(m) for m in s19["modes"] if m.isdigit())) and 3200.0 in steps
    status = s9["last_reading"]
    assert s9["model"] == "Antminer S9" and status["firmware_version"] == "3.9.0"
    assert 12e12 < status["hashrate_hs"] < 16e12 and 1300 < status["power_w"] < 1700  # chain_consumption sum
    assert [b["frequency_mhz"] for b in status["boards"]] == [650] * 3
    assert [b["voltage_mv"] for b in status["boards"]] == [8800] * 3
    assert s9["modes"] == ["low_power", "balanced", "performance"]
    assert "frequency" in s9["capabilities"] and "power_watts" not in s9["capabilities"]


def test_rest_writes_change_later_reads(live, sim):
    client, runtime = live
    add(client, S19)
    add(client, L7)
    reply = post(client, S19, "power", {"watts": 2000})
    assert reply.status_code == 200, reply.get_json()
    assert sim.miner(S19).settings["miner"]["overclock"]["preset"] == "1900"
    status = detail(client, runtime, S19)["last_reading"]
    assert 1850 < status["power_w"] < 1950 and 70e12 < status["hashrate_hs"] < 75e12
    assert post(client, S19, "mode", {"mode": "2950"}).status_code == 200
    assert 2900 < detail(client, runtime, S19)["last_reading"]["power_w"] < 3000
    assert post(client, S19, "mode", {"mode": "turbo"}).status_code == 400

    assert post(client, S19, "sleep").status_code == 200
    status = detail(client, runtime, S19)["last_reading"]
    assert status["state"] == "sleeping" and status["hashrate_hs"] == 0 and status["power_w"] is None
    assert post(client, S19, "wake").status_code == 200
    assert detail(client, runtime, S19)["last_reading"]["state"] == "mining"

    restarts = sim.miner(S19).state_since
    assert post(client, S19, "restart").status_code == 200
    assert sim.miner(S19).state_since > restarts

    pools = [{"url": "stratum+tcp://pool.example.net:3333", "user": "me.s19", "password": "pool-s3cret"}]
    reply = post(client, S19, "pools", {"pools": pools})
    assert reply.status_code == 200 and "pool-s3cret" not in reply.get_data(as_text=True)
    assert [p["url"] for p in detail(client, runtime, S19)["last_reading"]["pools"]] == ["pool.example.net:3333"]
    assert sim.miner(S19).settings["miner"]["pools"][1] == {"url": "", "user": "", "pass": ""}

    before = detail(client, runtime, L7)["last_reading"]["hashrate_hs"]
    assert post(client, L7, "power", {"percent": 50}).status_code == 200
    status = detail(client, runtime, L7)["last_reading"]
    assert status["hashrate_hs"] < before * 0.6 and "throttled to 50 %" in status["errors"]
    assert post(client, L7, "power", {"percent": 10}).status_code == 400  # Vnish throttles 20..100


def test_rest_unsupported_actions_answer_409(live, sim):
    client, runtime = live
    add(client, S19)
    # Frequency is no longer one of them: Vnish 1.x takes it through /settings (tests/test_integration_tuning.py).
    for action, body in (("power", {"percent": 60}), ("fan", {"percent": 50})):
        reply = post(client, S19, action, body)
        assert reply.status_code == 409, (action, reply.get_json())
    assert "vnish" in post(client, S19, "power", {"percent": 60}).get_json()["error"]


def test_legacy_writes_change_later_reads(live, sim):
    client, runtime = live
    add(client, S9)
    miner = sim.miner(S9)
    assert post(client, S9, "frequency", {"mhz": 500}).status_code == 200
    status = detail(client, runtime, S9)["last_reading"]
    assert [b["frequency_mhz"] for b in status["boards"]] == [500] * 3 and status["hashrate_hs"] < 11.5e12
    reply = post(client, S9, "frequency", {"mhz": 600, "voltage_mv": 9000, "board": 1})
    assert reply.status_code == 200, reply.get_json()
    boards = detail(client, runtime, S9)["last_reading"]["boards"]
    assert [(b["frequency_mhz"], b["voltage_mv"]) for b in boards] == [(500, 8800), (600, 9000), (500, 8800)]
    assert boards[1]["hashrate_hs"] > boards[0]["hashrate_hs"] * 1.1
    assert post(client, S9, "frequency", {"mhz": 600, "board": 5}).status_code == 400

    assert post(client, S9, "mode", {"mode": "low_power"}).status_code == 200
    status = detail(client, runtime, S9)["last_reading"]
    assert [b["frequency_mhz"] for b in status["boards"]] == [387] * 3 and status["power_w"] < 1000

    assert post(client, S9, "sleep").status_code == 200
    status = detail(client, runtime, S9)["last_reading"]
    assert miner.sleeping and status["state"] == "sleeping" and status["hashrate_hs"] == 0
    assert post(client, S9, "wake").status_code == 200
    assert detail(client, runtime, S9)["last_reading"]["hashrate_hs"] > 5e12

    pools = [{"url": "stratum+tcp://pool.example.net:3333", "user": "me.s9", "password": "pool-s3cret"},
             {"url": "stratum+tcp://backup.example.net:443", "user": "me.s9", "password": "x"}]
    assert post(client, S9, "pools", {"pools": pools}).status_code == 200
    urls = [p["url"] for p in detail(client, runtime, S9)["last_reading"]["pools"]]
    assert urls == ["stratum+tcp://pool.example.net:3333", "stratum+tcp://backup.example.net:443"]
    assert miner.conf["pools"][2] == {"url": "", "user": "", "pass": ""}
    assert not any("_ant_" in str(v) for v in miner.conf.values())  # the whole form was sent: nothing shifted

    restarts = miner.mining_restarts
    assert post(client, S9, "restart").status_code == 200
    assert miner.mining_restarts == restarts + 1

    runtime.fleet.get(S9).driver.set_autodownscale(True, step_mhz=10, min_mhz=450)  # the extra, no endpoint yet
    assert miner.conf["bitmain-autodownscale"] is True and miner.conf["bitmain-autodownscale-min"] == "450"
    for action, body in (("power", {"watts": 1000}), ("power", {"percent": 50}), ("fan", {"percent": 50})):
        assert post(client, S9, action, body).status_code == 409, action


def test_chips_endpoint_returns_chips_for_both_generations(live, sim):
    client, runtime = live
    for ip, count in ((S19, 3 * 76), (L7, 3 * 120), (S9, 3 * 63)):
        add(client, ip)
        reply = client.get(f"/api/miners/{ip}/chips")
        assert reply.status_code == 200, reply.get_json()
        chips = reply.get_json()["chips"]
        assert len(chips) == count and {c["board"] for c in chips} == {0, 1, 2}
        assert all(c["hashrate_hs"] is not None for c in chips)
        assert any(c["state"] not in ("ok", None) for c in chips)  # the simulated weak chip shows
    # chip_hr.json numbers are GH/s per chip: a board's chips add up to the board's hashrate.
    s9_chips = client.get(f"/api/miners/{S9}/chips").get_json()["chips"]
    board0 = detail(client, runtime, S9)["last_reading"]["boards"][0]["hashrate_hs"]
    assert sum(c["hashrate_hs"] for c in s9_chips if c["board"] == 0) == pytest.approx(board0, rel=0.1)


def test_wrong_passwords_give_a_clear_error_and_change_nothing(live, sim):
    client, runtime = live
    add(client, S19, password="not-the-password")
    add(client, S9, username="root", password="not-the-password")
    before = writes(sim)
    # Three commands on the S19: with the poll's unlock that is four wrong passwords, one
    # short of the simulated lockout (429), so the fixed password works right after.
    for ip, action, body in ((S19, "sleep", None), (S19, "power", {"watts": 2000}),
                             (S19, "pools", {"pools": [{"url": "stratum+tcp://x.example:3333", "user": "u"}]}),
                             (S9, "sleep", None), (S9, "frequency", {"mhz": 500}), (S9, "restart", None)):
        reply = post(client, ip, action, body)
        assert reply.status_code == 502, (ip, action, reply.get_json())
        assert reply.get_json()["error"].startswith("the miner refused the login")
        assert "not-the-password" not in reply.get_data(as_text=True)
    assert writes(sim) == before
    # Reads need no login on either generation: the miners stay online, the reason is shown.
    s19 = detail(client, runtime, S19)
    assert s19["online"] and any("403 wrong password" in e for e in s19["last_reading"]["errors"])
    # Fixing the password makes the same command work.
    reply = client.put(f"/api/miners/{S19}/credentials", json={"username": "", "password": "admin"}, headers=AUTH)
    assert reply.status_code == 200
    assert post(client, S19, "sleep").status_code == 200 and sim.miner(S19).state == "stopped"
    assert post(client, S19, "wake").status_code == 200


def test_expired_token_is_renewed_transparently(live, sim):
    client, runtime = live
    add(client, L7)
    miner = sim.miner(L7)
    assert post(client, L7, "power", {"percent": 90}).status_code == 200
    unlocks = miner.unlock_calls
    sim.call(miner.expire_tokens)
    reply = post(client, L7, "power", {"percent": 80})
    assert reply.status_code == 200, reply.get_json()
    assert miner.throttle == 80 and miner.unlock_calls == unlocks + 1
    miner.token_ttl = 0.2  # tokens now die quickly on their own
    assert post(client, L7, "power", {"percent": 70}).status_code == 200
    time.sleep(0.3)
    assert post(client, L7, "power", {"percent": 100}).status_code == 200 and miner.throttle == 100
    miner.token_ttl = 3600.0
