"""Pool sets and bulk actions on the real app against simulated miners of several families (127.86.2.x)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, add_miner, live_app, wait_for

pytestmark = pytest.mark.integration

NET = "127.86.2"
ANTMINER, AXEOS, WHATSMINER, CGMINER = f"{NET}.10", f"{NET}.11", f"{NET}.12", f"{NET}.13"
OFFLINE = f"{NET}.30"  # nothing listens here: connection refused
SECRET = "int-pool-secret-4412"
SET = {"name": "Home pools", "pools": [
    {"url": "stratum+tcp://pool.example.org:3333", "user": "bc1qexample.rig", "password": SECRET},
    {"url": "stratum+tcp://backup.example.org:443", "user": "bc1qexample.rig"}]}


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("antminer", ANTMINER, model="S19", restart_seconds=0.3),
             MinerSpec("bitaxe", AXEOS, model="BM1370", firmware_version="v2.15.0"),
             MinerSpec("whatsminer", WHATSMINER, model="M30S+", restart_seconds=0.3),
             MinerSpec("cgminer", CGMINER, model="GekkoScience Compac F", devices=1)]
    with SimFleet(specs, allow_any_client=True, seed=5) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset, polling={"timeout_sec": 2}) as live:
        for ip, family in ((ANTMINER, "antminer"), (AXEOS, "bitaxe"), (WHATSMINER, "whatsminer"),
                           (CGMINER, "cgminer")):
            add_miner(live.client, ip, family)
        live.runtime.fleet.add(OFFLINE, "bitaxe")
        yield live.client, live.runtime


def _apply(client, set_id: int, ips: list[str]) -> dict:
    reply = client.post(f"/api/pool-sets/{set_id}/apply", json={"miners": ips}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    assert SECRET not in reply.get_data(as_text=True)
    return {r["ip"]: r for r in reply.get_json()["results"]}


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_pool_set_reaches_three_families_and_reads_back(live, sim):
    client, runtime = live
    set_id = client.post("/api/pool-sets", json=SET, headers=AUTH).get_json()["id"]
    ips = [ANTMINER, AXEOS, WHATSMINER, OFFLINE]
    results = _apply(client, set_id, ips)
    for ip in (ANTMINER, AXEOS, WHATSMINER):
        assert results[ip]["ok"] is True, results[ip]
        assert "read back" in results[ip]["message"]
        shown = client.get(f"/api/miners/{ip}").get_json()["pools"]
        ordered = sorted(shown, key=lambda p: p["priority"] if p["priority"] is not None else 99)
        assert [(p["url"], p["user"]) for p in ordered[:2]] == [(p["url"], p["user"]) for p in SET["pools"]]
    assert "AxeOS switches to it at its next restart" in results[AXEOS]["message"]
    # The offline miner failed with its reason; the others were not held up by it.
    assert results[OFFLINE]["ok"] is False and results[OFFLINE]["outcome"] == "failed"
    assert results[OFFLINE]["error"]
    # What the firmware was actually given, seen from the simulated miners' side.
    assert [p["url"] for p in sim.miner(ANTMINER).conf["pools"]][:2] == [p["url"] for p in SET["pools"]]
    assert sim.miner(WHATSMINER).pools[0].password == SECRET
    with runtime.db.read() as conn:
        events = [r["message"] for r in conn.execute("SELECT message FROM events WHERE kind IN "
                                                     "('pool_set', 'command') ORDER BY id")]
    assert any("applied to 4 miner(s): 3 done, 0 refused, 1 failed" in e for e in events), events
    assert sum("set_pools(2:" in e and e.endswith(" ok") for e in events) == 3
    assert not any(SECRET in e for e in events)
    # Applying again opens no new sockets or threads (the drivers' connections are reused, the pool closed).
    runtime.fleet.start_threads()
    time.sleep(1.2)  # the re-poll after the commands has run
    fds, threads = _fds(), threading.active_count()
    again = _apply(client, set_id, [ANTMINER, AXEOS, WHATSMINER])
    assert all(r["ok"] for r in again.values()), again
    time.sleep(1.2)
    wait_for(lambda: _fds() <= fds and threading.active_count() <= threads, timeout=5,
             message=f"fds {fds} -> {_fds()}, threads {threads} -> {threading.active_count()}")


def test_a_firmware_that_holds_fewer_pools_is_refused_with_its_reason(live):
    client, _ = live
    three = dict(SET, name="Three", pools=[*SET["pools"], {"url": "stratum+tcp://third.example.org:3333",
                                                            "user": "bc1qexample.rig"}])
    set_id = client.post("/api/pool-sets", json=three, headers=AUTH).get_json()["id"]
    results = _apply(client, set_id, [AXEOS, CGMINER])
    assert results[AXEOS]["outcome"] == "refused" and "at most 2 pools" in results[AXEOS]["error"]
    assert results[CGMINER]["ok"] is True, results[CGMINER]


def test_bulk_sleep_and_wake_over_a_mix(live, sim):
    client, runtime = live
    ips = [ANTMINER, AXEOS, WHATSMINER, CGMINER]
    reply = client.post("/api/miners/bulk", json={"action": "sleep", "miners": ips}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    results = {r["ip"]: r for r in reply.get_json()["results"]}
    for ip in (ANTMINER, AXEOS, WHATSMINER):
        assert results[ip]["ok"] is True, results[ip]
    assert results[CGMINER]["outcome"] == "refused" and "cannot sleep" in results[CGMINER]["error"]
    assert (reply.get_json()["ok"], reply.get_json()["failed"], reply.get_json()["refused"]) == (3, 1, 1)
    assert sim.miner(WHATSMINER).mining is False
    runtime.fleet.poll_round([runtime.fleet.get(ip) for ip in ips])
    assert client.get(f"/api/miners/{AXEOS}").get_json()["state"] in ("paused", "sleeping")
    reply = client.post("/api/miners/bulk", json={"action": "wake", "miners": ips}, headers=AUTH)
    results = {r["ip"]: r for r in reply.get_json()["results"]}
    assert all(results[ip]["ok"] for ip in (ANTMINER, AXEOS, WHATSMINER)), results
    assert sim.miner(WHATSMINER).mining is True
    with runtime.db.read() as conn:
        summaries = [r["message"] for r in conn.execute("SELECT message FROM events WHERE kind = 'bulk'")]
    assert summaries == ["sleep on 4 miner(s): 3 done, 1 refused, 0 failed",
                         "wake on 4 miner(s): 3 done, 1 refused, 0 failed"]


def test_bulk_on_a_disabled_miner_sends_nothing(live, sim):
    client, runtime = live
    runtime.fleet.get(WHATSMINER).enabled = False
    before = list(sim.miner(WHATSMINER).applied)
    reply = client.post("/api/miners/bulk", json={"action": "sleep", "miners": [WHATSMINER]}, headers=AUTH)
    result = reply.get_json()["results"][0]
    assert result["outcome"] == "refused" and "disabled" in result["error"]
    assert sim.miner(WHATSMINER).mining is True and list(sim.miner(WHATSMINER).applied) == before


def test_apply_by_a_tag_set_through_the_settings_route(live):
    client, _ = live
    for ip in (ANTMINER, WHATSMINER):
        reply = client.patch(f"/api/miners/{ip}", json={"tags": ["rack-a"]}, headers=AUTH)
        assert reply.status_code == 200, reply.get_json()
    set_id = client.post("/api/pool-sets", json=SET, headers=AUTH).get_json()["id"]
    reply = client.post(f"/api/pool-sets/{set_id}/apply", json={"tag": "rack-a"}, headers=AUTH)
    data = reply.get_json()
    assert [r["ip"] for r in data["results"]] == [ANTMINER, WHATSMINER]
    assert data["ok"] == 2 and data["failed"] == 0, data
