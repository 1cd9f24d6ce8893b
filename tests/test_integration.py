"""The real app (real drivers, real FleetManager) against simulated miners on loopback."""

from __future__ import annotations

import time

import pytest

from simulator import MinerSpec, SimFleet, demo_specs
from tests.integration import AUTH, discover, live_app, wait_for

pytestmark = pytest.mark.integration

NET = "127.80.0"


@pytest.fixture(scope="module")
def sim():
    with SimFleet(demo_specs(f"{NET}.10", 12, restart_seconds=1.0), allow_any_client=True, seed=7) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    """A real Runtime and app (no scheduler: rounds are run by the test)."""
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset) as live:
        yield live.client, live.runtime


def test_discovery_finds_every_simulated_miner_with_the_right_family(live, sim):
    client, runtime = live
    job = discover(client)
    assert job["state"] == "done" and job["total"] == 254 and job["probed"] == 254
    found = {m["ip"]: m["family"] for m in job["found"]}
    expected = {m.spec.ip: m.spec.kind for m in sim.miners}
    assert found == expected
    miners = client.get("/api/miners").get_json()
    assert len(miners) == 12 and all(m["online"] for m in miners), [m for m in miners if not m["online"]]
    stats = client.get("/api/stats").get_json()
    assert stats["online"] == 12 and stats["miners_total"] == 12
    by_algo: dict[str, float] = {}
    for m in miners:
        by_algo[m["algorithm"]] = by_algo.get(m["algorithm"], 0.0) + m["hashrate_hs"]
    assert stats["hashrate_hs"] == pytest.approx(by_algo)
    assert "scrypt" in stats["hashrate_hs"]  # the simulated L3+
    # Power: Bitaxes report it, cgminer/stock Antminer do not -> None, never 0.
    for m in miners:
        if m["family"] == "bitaxe":
            assert m["power_w"] > 0
        else:
            assert m["power_w"] is None
    assert stats["power_reported_by"] == sum(m["family"] == "bitaxe" for m in miners)


def test_discovery_sends_no_write_command(live, sim):
    client, _ = live

    def settings():
        return {m.spec.ip: (m.reboots, getattr(m, "frequency", None), getattr(m, "core_voltage", None),
                            getattr(m, "paused", None)) for m in sim.miners}

    before = settings()
    requests_before = sum(m.requests for m in sim.miners)
    discover(client)
    assert sum(m.requests for m in sim.miners) > requests_before  # they were asked ...
    assert settings() == before  # ... and nothing was changed or restarted


def test_poll_round_reads_all_and_restart_resets_uptime(live, sim):
    client, runtime = live
    bitaxe_ip = next(m.spec.ip for m in sim.miners if m.spec.kind == "bitaxe")
    cgminer_ip = next(m.spec.ip for m in sim.miners if m.spec.kind == "cgminer")
    antminer_ip = next(m.spec.ip for m in sim.miners if m.spec.kind == "antminer")
    for ip, family in ((bitaxe_ip, "bitaxe"), (cgminer_ip, "cgminer"), (antminer_ip, "antminer")):
        assert client.post("/api/miners", json={"ip": ip, "family": family}, headers=AUTH).status_code == 201

    def uptime_at_least_3():
        runtime.fleet.poll_round()
        return (client.get(f"/api/miners/{cgminer_ip}").get_json()["uptime_s"] or 0) >= 3
    wait_for(uptime_at_least_3, timeout=10, step=0.5)
    before = client.get(f"/api/miners/{cgminer_ip}").get_json()["uptime_s"]
    reboots = {ip: sim.miner(ip).reboots for ip in (bitaxe_ip, cgminer_ip, antminer_ip)}
    for ip in (bitaxe_ip, cgminer_ip):
        reply = client.post(f"/api/miners/{ip}/restart", headers=AUTH)
        assert reply.status_code == 200, reply.get_json()
    # Stock Antminer: its API refuses writes (Code 45); the driver restarts it through the web CGI.
    reply = client.post(f"/api/miners/{antminer_ip}/restart", headers=AUTH)
    assert reply.status_code == 200, reply.get_json()

    def back_with_fresh_uptime():
        runtime.fleet.poll_round()
        detail = client.get(f"/api/miners/{cgminer_ip}").get_json()
        return detail["online"] and detail["uptime_s"] is not None and detail["uptime_s"] < before
    wait_for(back_with_fresh_uptime, timeout=10, step=0.3)
    assert client.get(f"/api/miners/{bitaxe_ip}").get_json()["online"]
    assert sim.miner(bitaxe_ip).reboots == reboots[bitaxe_ip] + 1
    assert sim.miner(cgminer_ip).reboots == reboots[cgminer_ip] + 1
    assert sim.miner(antminer_ip).reboots == reboots[antminer_ip] + 1


def test_hung_miner_does_not_delay_the_round(live, sim):
    client, runtime = live
    ips = [m.spec.ip for m in sim.miners[:4]]
    for ip in ips:
        runtime.fleet.add(ip, sim.miner(ip).spec.kind)
    sim.set_fault(ips[0], "hang")
    try:
        started = time.monotonic()
        summary = runtime.fleet.poll_round()
        elapsed = time.monotonic() - started
        assert elapsed < runtime.config.polling.timeout_sec + 1.0, elapsed
        assert summary["ok"] == 3
        assert runtime.fleet.get(ips[1]).online
        assert runtime.fleet.get(ips[0]).last_error
    finally:
        sim.set_fault(ips[0], None)


def test_reset_and_malformed_miners(live, sim):
    client, runtime = live
    cg = [m.spec.ip for m in sim.miners if m.spec.kind == "cgminer"][:2]
    for ip in cg:
        runtime.fleet.add(ip, "cgminer")
    sim.set_fault(cg[0], "reset")
    sim.set_fault(cg[1], "malformed")
    try:
        runtime.fleet.poll_round()
        assert runtime.fleet.get(cg[0]).last_error  # a reset is one failed poll, not a crash
        assert runtime.fleet.get(cg[1]).online  # the known malformations are repaired
    finally:
        sim.set_fault(cg[0], None)
        sim.set_fault(cg[1], None)


def test_bitaxe_access_rule_shows_a_clear_message(live):
    client, runtime = live
    strict = SimFleet([MinerSpec("bitaxe", f"{NET[:-1]}1.10")], allow_any_client=False, seed=1)
    strict.start()
    try:
        reply = client.post("/api/miners", json={"ip": f"{NET[:-1]}1.10", "family": "bitaxe"}, headers=AUTH)
        assert reply.status_code == 201
        miner = reply.get_json()
        assert miner["status"] == "unauthorized"
        assert "10/8" in miner["last_error"] and "192.168" in miner["last_error"]
    finally:
        strict.stop()


def test_cgminer_pools_change_in_priority_order(live, sim):
    client, runtime = live
    ip = next(m.spec.ip for m in sim.miners if m.spec.kind == "cgminer")
    assert client.post("/api/miners", json={"ip": ip, "family": "cgminer"}, headers=AUTH).status_code == 201
    pools = [{"url": "stratum+tcp://new-pool.example:3333", "user": "me.cg", "password": "pool-pw-1"},
             {"url": "stratum+tcp://backup.example:443", "user": "me.cg"}]
    reply = client.post(f"/api/miners/{ip}/pools", json={"pools": pools}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    assert "pool-pw-1" not in reply.get_data(as_text=True)
    runtime.fleet.poll_round([runtime.fleet.get(ip)])
    read = client.get(f"/api/miners/{ip}").get_json()["pools"]
    ordered = sorted(read, key=lambda p: p["priority"])
    assert [p["url"] for p in ordered][:2] == ["stratum+tcp://new-pool.example:3333", "stratum+tcp://backup.example:443"]
    assert "pool-pw-1" not in client.get(f"/api/miners/{ip}").get_data(as_text=True)
