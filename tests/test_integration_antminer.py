"""Stock Antminers end to end: the real app and AntminerDriver against simulated S19 / S9 / L3+ on 127.84.0.0/24."""

from __future__ import annotations

import pytest

from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, add_miner, discover, live_app, wait_for
from tests.integration import poll_detail as detail

pytestmark = pytest.mark.integration

NET = "127.84.0"
S19, S9, L3, LOCKED = f"{NET}.10", f"{NET}.11", f"{NET}.12", f"{NET}.13"
REFUSED = "the Antminer web interface refused the login for user root (HTTP digest 401)"


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("antminer", S19, model="S19", restart_seconds=0.6),
             MinerSpec("antminer", S9, model="S9"),
             MinerSpec("antminer", L3, model="L3+"),
             MinerSpec("antminer", LOCKED, model="S19")]
    with SimFleet(specs, allow_any_client=True, seed=11) as fleet:
        fleet.miner(LOCKED).web_password = "s3cret"  # its owner changed the factory root/root
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    """A real Runtime and app (no scheduler: rounds are run by the test)."""
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset) as live:
        yield live.client, live.runtime


def add(client, ip, **extra):
    return add_miner(client, ip, "antminer", **extra)


def test_discovery_finds_every_antminer(live, sim):
    client, _ = live
    job = discover(client)
    assert job["state"] == "done" and job["total"] == 254
    assert {m["ip"]: m["family"] for m in job["found"]} == {ip: "antminer" for ip in (S19, S9, L3, LOCKED)}
    models = {m["ip"]: m["model"] for m in client.get("/api/miners").get_json()}
    assert models == {S19: "Antminer S19", S9: "Antminer S9", L3: "Antminer L3+", LOCKED: "Antminer S19"}


def test_reads_units_identity_and_capabilities(live, sim):
    client, runtime = live
    for ip in (S19, S9, L3):
        add(client, ip)
    s19 = client.get(f"/api/miners/{S19}").get_json()
    miner = sim.miner(S19)
    assert s19["hashrate_hs"] == pytest.approx(miner.hashrate_hs(), rel=0.06)  # ~95 TH/s in H/s
    assert s19["algorithm"] == "sha256d" and s19["power_w"] is None  # stock firmware reports no watts
    assert s19["mac"] == miner.mac("02:55:97") and s19["hostname"] == "Antminer"
    assert s19["firmware_version"] == "Fri Dec 11 11:15:40 CST 2020" and s19["state"] == "mining"
    assert [b["index"] for b in s19["boards"]] == [0, 1, 2] and len(s19["fan_rpm"]) == 4
    assert s19["capabilities"] == ["chips", "mode", "pools", "restart", "sleep", "wake"]
    assert s19["modes"] == ["sleep", "low", "normal"] and s19["errors"] == []
    l3 = client.get(f"/api/miners/{L3}").get_json()
    assert l3["algorithm"] == "scrypt" and l3["hashrate_hs"] == pytest.approx(sim.miner(L3).hashrate_hs(), rel=0.06)
    assert 4e8 < l3["hashrate_hs"] < 6e8  # ~504 MH/s written into "GHS" fields
    s9 = client.get(f"/api/miners/{S9}").get_json()
    assert [b["chips"] for b in s9["boards"]] == [63, 63, 63] and s9["hostname"] == "antMiner"
    for legacy in (l3, s9):  # 2017 firmware: positional CGI, no sleep mode
        assert legacy["capabilities"] == ["chips", "pools", "restart"] and legacy["modes"] == []


def test_x19_sleep_low_wake_change_later_reads(live, sim):
    client, runtime = live
    add(client, S19)
    miner = sim.miner(S19)
    normal = detail(client, runtime, S19)["hashrate_hs"]
    assert client.post(f"/api/miners/{S19}/sleep", headers=AUTH).status_code == 200
    asleep = detail(client, runtime, S19)
    assert miner.sleeping and asleep["state"] == "sleeping" and asleep["hashrate_hs"] == 0
    assert asleep["online"] and all(rpm > 0 for rpm in asleep["fan_rpm"])  # fans keep turning
    reply = client.post(f"/api/miners/{S19}/mode", json={"mode": "low"}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    low = detail(client, runtime, S19)
    assert low["state"] == "mining" and 0.6 * normal < low["hashrate_hs"] < 0.8 * normal
    assert client.post(f"/api/miners/{S19}/wake", headers=AUTH).status_code == 200
    assert detail(client, runtime, S19)["hashrate_hs"] == pytest.approx(normal, rel=0.08)
    assert client.post(f"/api/miners/{S19}/mode", json={"mode": "turbo"}, headers=AUTH).status_code == 400


@pytest.mark.parametrize("ip", [S19, S9, L3])
def test_pools_write_in_both_dialects(live, sim, ip):
    client, runtime = live
    add(client, ip)
    pools = [{"url": "stratum+tcp://pool.example.org:3333", "user": "me.rig1", "password": "hunter2"},
             {"url": "stratum+tcp://backup.example.org:443", "user": "me.rig1", "password": "x"}]
    reply = client.post(f"/api/miners/{ip}/pools", json={"pools": pools}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    assert "hunter2" not in reply.get_data(as_text=True)
    assert [p["url"] for p in sim.miner(ip).conf["pools"]] == [pools[0]["url"], pools[1]["url"], ""]
    shown = detail(client, runtime, ip)["pools"]
    assert [(p["url"], p["user"]) for p in shown] == [(p["url"], p["user"]) for p in pools]
    assert "hunter2" not in str(shown)


def test_unsupported_actions_answer_409(live, sim):
    client, _ = live
    add(client, S9)
    add(client, S19)
    writes = sim.miner(S9).conf_writes
    for path, body in (("sleep", None), ("wake", None), ("mode", {"mode": "low"})):
        reply = client.post(f"/api/miners/{S9}/{path}", json=body, headers=AUTH)
        assert reply.status_code == 409 and "antminer" in reply.get_json()["error"], reply.get_json()
    for path, body in (("frequency", {"mhz": 600}), ("fan", {"percent": 80}), ("power", {"watts": 3000}),
                       ("power", {"percent": 80})):
        assert client.post(f"/api/miners/{S19}/{path}", json=body, headers=AUTH).status_code == 409
    assert sim.miner(S9).conf_writes == writes


def test_chips_show_the_firmware_letters(live, sim):
    client, _ = live
    add(client, S19)
    sim.call(lambda: sim.miner(S19).bad_chips.update({2: {5}}))
    try:
        chips = client.get(f"/api/miners/{S19}/chips").get_json()["chips"]
    finally:
        sim.call(lambda: sim.miner(S19).bad_chips.clear())
    assert len(chips) == 3 * 76
    assert [(c["board"], c["index"], c["state"]) for c in chips if c["state"] != "ok"] == [(1, 5, "x")]


def test_wrong_password_is_a_clear_error_and_changes_nothing(live, sim):
    client, runtime = live
    locked = sim.miner(LOCKED)
    writes = locked.conf_writes
    seen = add(client, LOCKED)  # factory root/root: the API reads, the web refuses
    assert seen["online"] and any(REFUSED in e for e in seen["errors"])
    for path, body in (("sleep", None), ("pools", {"pools": [{"url": "stratum+tcp://evil.example:1", "user": "x"}]}),
                       ("restart", None)):
        reply = client.post(f"/api/miners/{LOCKED}/{path}", json=body, headers=AUTH)
        assert reply.status_code == 502 and REFUSED in reply.get_json()["error"], reply.get_json()
    assert locked.conf_writes == writes and not locked.sleeping and locked.reboots == 0
    # The right password, stored through the API, unlocks control.
    reply = client.put(f"/api/miners/{LOCKED}/credentials", json={"username": "root", "password": "s3cret"},
                       headers=AUTH)
    assert reply.status_code == 200 and "s3cret" not in reply.get_data(as_text=True)
    assert client.post(f"/api/miners/{LOCKED}/sleep", headers=AUTH).status_code == 200
    assert locked.sleeping and detail(client, runtime, LOCKED)["errors"] == []
    assert client.post(f"/api/miners/{LOCKED}/wake", headers=AUTH).status_code == 200
    # A wrong password set later refuses again; a wrong API token never reaches the miner.
    client.put(f"/api/miners/{LOCKED}/credentials", json={"username": "root", "password": "nope"}, headers=AUTH)
    assert client.post(f"/api/miners/{LOCKED}/sleep", headers=AUTH).status_code == 502
    assert client.post(f"/api/miners/{LOCKED}/sleep", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert not locked.sleeping


def test_restart_reboots_and_uptime_starts_again(live, sim):
    client, runtime = live
    miner = sim.miner(S19)
    sim.call(lambda: miner.skip(600))
    add(client, S19)
    before = client.get(f"/api/miners/{S19}").get_json()["uptime_s"]
    reboots = miner.reboots
    assert before >= 600
    assert client.post(f"/api/miners/{S19}/restart", headers=AUTH).status_code == 200
    wait_for(lambda: miner.reboots == reboots + 1)  # the simulator reboots once its reply is flushed
    after = wait_for(lambda: (lambda d: d if d["online"] and d["uptime_s"] is not None and d["uptime_s"] < 60
                              else None)(detail(client, runtime, S19)))
    assert after["mac"] == miner.mac("02:55:97")  # system info read again after the boot
