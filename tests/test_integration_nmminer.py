"""The real app (real Runtime, listener and driver) against simulated NMMiner / NMAxe on 127.89.0.0/16.

NMMiners have no TCP API: they are found by their telemetry broadcasts, not by a
scan. The simulator sends its datagrams UNICAST to the app's listener (bound to
127.89.0.1 on a free port), and takes config datagrams on its own 127.89.0.x:12347.
"""

from __future__ import annotations

import time

import pytest

from miners.nmminer import TELEMETRY
from simulator import MinerSpec, SimFleet
from tests import integration
from tests.integration import AUTH, discover, live_app

pytestmark = pytest.mark.integration

NET = "127.89.0"
NM = f"{NET}.10"  # NMMiner on an NM-TV-154 (ESP32): no power reading
AXE = f"{NET}.11"  # NMAxe (BM1366 board): reports "Power"
SECRET = "pool-secret-7f3a"


@pytest.fixture
def live(tmp_path):
    """Runtime started with the listener on, then the simulated miners aimed at it."""
    from simulator import default_port_offset

    offset = default_port_offset()
    with live_app(tmp_path, f"{NET}.0/24", offset, network={"probe_timeout_sec": 0.3},
                  nmminer={"listen": True, "bind": f"{NET}.1", "port": 0}) as live:
        runtime = live.runtime
        runtime.start()  # as in production: this starts the listener (nmminer.listen)
        assert runtime.nmminer_listener is not None
        sim = SimFleet([MinerSpec("nmminer", NM, model="NM-TV-154"), MinerSpec("nmminer", AXE, model="NMAxe")],
                       port_offset=offset, allow_any_client=True, seed=7)
        for miner in sim.miners:
            miner.telemetry_target = runtime.nmminer_listener.address
            miner.interval_s = 0.2
        with sim:
            yield live.client, runtime, sim
    TELEMETRY.forget(NM)
    TELEMETRY.forget(AXE)


def wait_for(predicate, timeout=8.0):
    """Telemetry arrives every 0.2 s: look for it twice as often as the shared default."""
    return integration.wait_for(predicate, timeout, step=0.05)


def online_miners(client) -> dict[str, dict]:
    return {m["ip"]: m for m in client.get("/api/miners").get_json() if m["online"]}


def test_miners_appear_without_discovery_with_the_right_readings(live):
    client, runtime, sim = live
    miners = wait_for(lambda: (lambda m: m if {NM, AXE} <= set(m) else None)(online_miners(client)))
    nm, axe = miners[NM], miners[AXE]
    assert nm["family"] == axe["family"] == "nmminer"
    assert nm["model"] == "NM-TV-154" and nm["firmware"] == "NMMiner"
    assert nm["hashrate_hs"] == pytest.approx(1010.9e3, rel=0.06)  # "1010.9KH/s" in H/s
    assert nm["power_w"] is None  # an ESP32 cannot measure power: None, never 0
    assert axe["model"] == "NMAxe" and axe["firmware"] == "NMAxe"
    assert axe["hashrate_hs"] == pytest.approx(480e9, rel=0.06)
    assert axe["power_w"] == pytest.approx(12.1, rel=0.1)  # the NMAxe's "Power": "12.1W"
    assert nm["capabilities"] == axe["capabilities"] == ["pools"]
    detail = client.get(f"/api/miners/{NM}").get_json()
    assert detail["status"] == "online" and detail["firmware_version"] == "v1.8.10"
    assert 10 < detail["temp_c"] < 90 and detail["uptime_s"] is not None
    stats = client.get("/api/stats").get_json()
    assert stats["power_reported_by"] == 1  # only the NMAxe
    events = client.get("/api/events").get_json()
    assert any(e["kind"] == "miner_added" and "broadcast" in e["message"] for e in events)


def test_discovery_scan_neither_finds_nor_touches_nmminers(live):
    """No TCP port on an NMMiner: a /24 sweep finds nothing there and sends it nothing."""
    client, runtime, sim = live
    before = [m.requests for m in sim.miners]
    job = discover(client, subnet=f"{NET}.0/24", timeout=12, step=0.05)
    assert job["state"] == "done" and not [f for f in job["found"] if f["ip"] in (NM, AXE)]
    assert [m.requests for m in sim.miners] == before and all(m.configs_applied == 0 for m in sim.miners)


def test_pools_write_changes_what_the_miner_broadcasts(live):
    client, runtime, sim = live
    wait_for(lambda: NM in online_miners(client))
    reply = client.post(f"/api/miners/{NM}/pools", headers=AUTH, json={"pools": [
        {"url": "stratum+tcp://solo.ckpool.org:3333", "user": "bc1qtestworker.nm1", "password": SECRET},
        {"url": "stratum+tcp://pool.tazmining.ch:33333", "user": "bc1qtestworker.nm1", "password": "x"}]})
    assert reply.status_code == 200, reply.get_json()
    assert SECRET not in reply.get_data(as_text=True)
    miner = sim.miner(NM)
    assert miner.configs_applied >= 1 and miner.pools[0] == {
        "url": "stratum+tcp://solo.ckpool.org:3333", "user": "bc1qtestworker.nm1", "password": SECRET}
    assert miner.pools[1]["url"] == "stratum+tcp://pool.tazmining.ch:33333"
    assert sim.miner(AXE).configs_applied == 0 and sim.miner(AXE).requests == 0  # unicast: one miner only

    def pool_shown():
        runtime.fleet.poll_round()
        pools = client.get(f"/api/miners/{NM}").get_json()["pools"]
        return pools and pools[0]["url"] == "solo.ckpool.org:3333"
    wait_for(pool_shown)  # the next broadcasts report the new PoolInUse
    for path in ("/api/events", f"/api/miners/{NM}", "/api/miners"):
        assert SECRET not in client.get(path).get_data(as_text=True)


def test_bad_pool_values_and_a_wrong_token_change_nothing(live):
    client, runtime, sim = live
    wait_for(lambda: NM in online_miners(client))
    miner = sim.miner(NM)
    before = (miner.requests, [dict(p) for p in miner.pools])
    reply = client.post(f"/api/miners/{NM}/pools", headers=AUTH,
                        json={"pools": [{"url": "http://solo.ckpool.org:3333", "user": "w"}]})
    assert reply.status_code == 400 and "stratum+tcp://" in reply.get_json()["error"]
    reply = client.post(f"/api/miners/{NM}/pools", headers={"Authorization": "Bearer wrong-token-0123456789"},
                        json={"pools": [{"url": "stratum+tcp://evil.example:3333", "user": "w"}]})
    assert reply.status_code == 401
    time.sleep(0.3)
    assert (miner.requests, miner.pools) == before


def test_unsupported_actions_answer_409(live):
    client, runtime, sim = live
    wait_for(lambda: AXE in online_miners(client))
    calls = [("restart", None), ("sleep", None), ("wake", None), ("power", {"watts": 10}),
             ("power", {"percent": 50}), ("mode", {"mode": "eco"}), ("frequency", {"mhz": 500}),
             ("fan", {"percent": 50})]
    for action, body in calls:
        reply = client.post(f"/api/miners/{AXE}/{action}", headers=AUTH, json=body or {})
        assert reply.status_code == 409, (action, reply.get_json())
        assert "nmminer" in reply.get_json()["error"]
    assert client.get(f"/api/miners/{AXE}/chips").status_code == 409
    assert sim.miner(AXE).requests == 0


def test_a_silent_miner_goes_offline_and_cannot_be_configured(live):
    client, runtime, sim = live
    wait_for(lambda: NM in online_miners(client))
    runtime.fleet.get(NM).driver.stale_after_s = 0.5  # 30 s in production
    sim.set_fault(NM, "down")  # powered off: no more broadcasts
    time.sleep(0.7)
    for _ in range(2):
        runtime.fleet.poll_round()
    detail = client.get(f"/api/miners/{NM}").get_json()
    assert detail["status"] == "offline" and "no telemetry broadcast from this NMMiner" in detail["last_error"]
    reply = client.post(f"/api/miners/{NM}/pools", headers=AUTH,
                        json={"pools": [{"url": "stratum+tcp://solo.ckpool.org:3333", "user": "w"}]})
    assert reply.status_code == 502 and "no telemetry broadcast" in reply.get_json()["error"]
    sim.set_fault(NM, None)

    def back():
        runtime.fleet.poll_round()
        return client.get(f"/api/miners/{NM}").get_json()["online"]
    wait_for(back)


def test_torn_datagrams_are_ignored(live):
    client, runtime, sim = live
    listener = runtime.nmminer_listener
    wait_for(lambda: AXE in online_miners(client))
    sim.set_fault(AXE, "malformed")
    try:
        wait_for(lambda: listener.malformed >= 2)
        assert client.get(f"/api/miners/{AXE}").get_json()["online"]  # the last good reading stays
    finally:
        sim.set_fault(AXE, None)
