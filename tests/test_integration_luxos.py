"""LuxOS end to end: the real app and LuxOSDriver against simulated LUXminer S19k Pro / S19j Pro on 127.88.2.0/24."""

from __future__ import annotations

import pytest

from miners import cgminer_api
from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, add_miner, discover, live_app, wait_for
from tests.integration import poll_detail as detail

pytestmark = pytest.mark.integration

NET = "127.88.2"
KPRO, JPRO = f"{NET}.10", f"{NET}.11"


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("luxos", KPRO, model="Antminer S19k Pro", restart_seconds=0.5),
             MinerSpec("luxos", JPRO, model="Antminer S19j Pro", firmware_version="2026.9.21.003141")]
    with SimFleet(specs, allow_any_client=True, seed=9) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    """A real Runtime and app (no scheduler); the simulated miners back to their defaults."""
    def reset() -> None:
        for miner in sim.miners:
            miner.profile, miner.curtailed, miner.session_id = "default", False, None
            miner.session_thief = miner.expire_next_session_query = False
            miner.writes.clear()

    sim.call(reset)
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset) as live:
        yield live.client, live.runtime


def add(client, ip, **extra):
    return add_miner(client, ip, "luxos", **extra)


def test_discovery_finds_luxos_and_writes_nothing(live, sim):
    client, _ = live
    job = discover(client)
    assert job["state"] == "done" and job["total"] == 254
    assert {m["ip"]: m["family"] for m in job["found"]} == {KPRO: "luxos", JPRO: "luxos"}
    assert {m["ip"]: m["model"] for m in client.get("/api/miners").get_json()} == {
        KPRO: "Antminer S19k Pro", JPRO: "Antminer S19j Pro"}
    assert all(m.writes == [] and m.session_id is None for m in sim.miners)


def test_reads_units_profiles_and_capabilities(live, sim):
    client, _ = live
    add(client, KPRO)
    shown, miner = client.get(f"/api/miners/{KPRO}").get_json(), sim.miner(KPRO)
    assert shown["hashrate_hs"] == pytest.approx(miner.hashrate_ghs() * 1e9, rel=0.12)  # GHS -> H/s, ~120 TH/s
    assert shown["power_w"] == pytest.approx(miner.power_w(), rel=0.03)
    assert any("estimate" in e for e in shown["errors"])  # PSU false: watts estimated by LUXminer
    assert (shown["firmware"], shown["state"]) == ("LuxOS", "mining")
    assert shown["firmware_version"].startswith("2025.4.8.220305")
    assert [b["index"] for b in shown["boards"]] == [0, 1, 2] and {b["chips"] for b in shown["boards"]} == {77}
    assert {b["frequency_mhz"] for b in shown["boards"]} == {505.0} and 30 < shown["temp_c"] < 90
    assert len(shown["fan_rpm"]) == 4 and shown["pools"][0]["active"]
    assert shown["capabilities"] == ["chips", "mode", "pools", "power_watts", "restart", "sleep", "wake"]
    watts = [p["Watts"] for p in sorted(miner.profiles, key=lambda p: p["Watts"])]
    assert len(shown["modes"]) == len(watts) and "default" in shown["modes"]
    assert miner.writes == []


def test_power_watts_picks_the_highest_profile_below_and_is_the_only_write(live, sim):
    client, runtime = live
    add(client, KPRO)
    miner = sim.miner(KPRO)
    reply = client.post(f"/api/miners/{KPRO}/power", json={"watts": 2000}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    fitting = max((p for p in miner.profiles if p["Watts"] <= 2000), key=lambda p: p["Watts"])
    assert miner.profile == fitting["Profile Name"]
    assert miner.writes == ["profileset"]  # logon/logoff are session bookkeeping, not changes
    assert miner.session_id is None  # the driver logged off the session it opened
    shown = detail(client, runtime, KPRO)
    assert shown["power_w"] == pytest.approx(fitting["Watts"], rel=0.03)
    assert any(f"power target 2000 W -> LuxOS profile {fitting['Profile Name']}" in e for e in shown["errors"])
    too_low = client.post(f"/api/miners/{KPRO}/power", json={"watts": 100}, headers=AUTH)
    assert too_low.status_code == 400 and "lowest profile" in too_low.get_json()["error"]
    assert miner.writes == ["profileset"]


def test_mode_sleep_wake_change_later_reads(live, sim):
    client, runtime = live
    add(client, KPRO)
    miner = sim.miner(KPRO)
    modes = client.get(f"/api/miners/{KPRO}").get_json()["modes"]
    lowest = modes[0]
    assert client.post(f"/api/miners/{KPRO}/mode", json={"mode": lowest}, headers=AUTH).status_code == 200
    low = detail(client, runtime, KPRO)
    assert miner.profile == lowest and f"note: profile {lowest}" in low["errors"]
    assert low["power_w"] == pytest.approx(miner.current_profile()["Watts"], rel=0.03)
    assert client.post(f"/api/miners/{KPRO}/mode", json={"mode": "turbo"}, headers=AUTH).status_code == 400
    assert client.post(f"/api/miners/{KPRO}/sleep", headers=AUTH).status_code == 200
    asleep = detail(client, runtime, KPRO)
    assert miner.curtailed and asleep["state"] == "sleeping" and asleep["hashrate_hs"] == 0
    assert asleep["power_w"] < 100
    assert client.post(f"/api/miners/{KPRO}/wake", headers=AUTH).status_code == 200
    assert detail(client, runtime, KPRO)["state"] == "mining"
    assert miner.writes == ["profileset", "curtail", "curtail"]


def test_restart_reboots_the_device_and_pools_change(live, sim):
    client, runtime = live
    add(client, KPRO)
    miner = sim.miner(KPRO)
    reboots = miner.reboots
    assert client.post(f"/api/miners/{KPRO}/restart", headers=AUTH).status_code == 200
    assert miner.reboots == reboots + 1 and miner.writes == ["rebootdevice"]
    wait_for(lambda: miner.listening and not miner.rebooting, timeout=6, step=0.05)  # back after 0.5 s
    assert detail(client, runtime, KPRO)["uptime_s"] < 30
    pools = [{"url": "stratum+tcp://pool.example.org:700", "user": "fleet.k", "password": "pool-pw"}]
    reply = client.post(f"/api/miners/{KPRO}/pools", json={"pools": pools}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    shown = detail(client, runtime, KPRO)["pools"]
    assert [(p["url"], p["user"], p["active"]) for p in shown] == [("stratum+tcp://pool.example.org:700", "fleet.k",
                                                                    True)]


def test_chips_and_unsupported_actions(live, sim):
    client, _ = live
    add(client, KPRO)
    miner = sim.miner(KPRO)
    reply = client.get(f"/api/miners/{KPRO}/chips", headers=AUTH)
    assert reply.status_code == 200
    chips = reply.get_json()["chips"]
    assert len(chips) == 3 * 77 and {c["board"] for c in chips} == {0, 1, 2}
    bad = {(c["board"], c["index"]) for c in chips if c["state"] == "unhealthy"}
    assert bad == miner.bad_chips and all(c["hashrate_hs"] > 0 for c in chips if c["state"] == "ok")
    for path, body in (("frequency", {"mhz": 500}), ("fan", {"percent": 80}), ("power", {"percent": 50})):
        reply = client.post(f"/api/miners/{KPRO}/{path}", json=body, headers=AUTH)
        assert reply.status_code == 409, (path, reply.get_json())
    assert miner.writes == []


def test_refused_session_is_a_clear_error_and_changes_nothing(live, sim):
    client, _ = live
    add(client, KPRO)
    miner = sim.miner(KPRO)
    sim.call(lambda: setattr(miner, "session_thief", True))  # another tool kills every session we open
    reply = client.post(f"/api/miners/{KPRO}/power", json={"watts": 2000}, headers=AUTH)
    assert reply.status_code == 502
    error = reply.get_json()["error"]
    assert error.startswith("the miner refused the login") and "nothing was changed" in error
    assert miner.profile == "default" and miner.writes == ["profileset", "profileset"]  # both refused


def test_stale_session_gets_one_new_logon(live, sim):
    client, _ = live
    add(client, KPRO)
    miner = sim.miner(KPRO)
    host, port = KPRO, 4028 + sim.port_offset
    cgminer_api.send_command(host, port, "logon", timeout=2)  # a session left open by an earlier run
    sim.call(lambda: setattr(miner, "expire_next_session_query", True))  # named by `session`, then expired
    assert client.post(f"/api/miners/{KPRO}/sleep", headers=AUTH).status_code == 200
    assert miner.curtailed and miner.writes == ["curtail", "curtail"]  # stale refused, then done


def test_luxos_credentials_are_never_sent(live, sim):
    client, _ = live
    add(client, JPRO, username="root", password="not-used-pw")  # LUXminer's API has no password
    miner = sim.miner(JPRO)
    assert client.post(f"/api/miners/{JPRO}/sleep", headers=AUTH).status_code == 200
    assert miner.curtailed
    assert client.get(f"/api/miners/{JPRO}").get_json()["model"] == "Antminer S19j Pro"
