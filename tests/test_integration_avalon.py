"""The real app (real drivers, real FleetManager) against simulated Avalons, Bitaxes, a NerdQAxe++ (127.87.0.0/24)."""

from __future__ import annotations

import pytest

from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, discover, live_app, poll_detail, wait_for

pytestmark = pytest.mark.integration

NET = "127.87.0"
NANO3S, AVALON_Q, NANO3 = f"{NET}.10", f"{NET}.11", f"{NET}.12"
GAMMA, SUPRA_OLD, NERD = f"{NET}.13", f"{NET}.14", f"{NET}.15"
SPECS = [
    MinerSpec("avalon", NANO3S, model="Avalon Nano3s", restart_seconds=0.4),
    MinerSpec("avalon", AVALON_Q, model="Avalon Q", restart_seconds=0.4),
    MinerSpec("avalon", NANO3, model="Avalon Nano3", restart_seconds=0.4),
    MinerSpec("bitaxe", GAMMA, model="BM1370", firmware_version="v2.14.2", restart_seconds=0.4),
    MinerSpec("bitaxe", SUPRA_OLD, model="BM1368", firmware_version="v2.9.0", restart_seconds=0.4),
    MinerSpec("bitaxe", NERD, model="NerdQAxe++", firmware_version="v1.1.0-beta1", restart_seconds=0.4),
]
FAMILY = {NANO3S: "avalon", AVALON_Q: "avalon", NANO3: "avalon", GAMMA: "bitaxe", SUPRA_OLD: "bitaxe",
          NERD: "bitaxe"}


@pytest.fixture(scope="module")
def sim():
    with SimFleet(SPECS, allow_any_client=True, seed=11) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def live(tmp_path_factory, sim):
    """A real Runtime and app (no scheduler), with every simulated miner discovered once."""
    with live_app(tmp_path_factory.mktemp("avalon"), f"{NET}.0/24", sim.port_offset) as live:
        before = snapshot(sim)
        job = discover(live.client, timeout=8.0)
        yield live.client, live.runtime, job, before


def snapshot(sim) -> dict:
    """Every setting a write could change, per miner."""
    out = {}
    for miner in sim.miners:
        out[miner.ip] = (miner.reboots, getattr(miner, "mode", None), getattr(miner, "level", None),
                         getattr(miner, "soft_off", None), getattr(miner, "fan_setting", None),
                         [(p.url, p.user) for p in getattr(miner, "pool_file", [])], getattr(miner, "frequency", None),
                         getattr(miner, "core_voltage", None), getattr(miner, "paused", None),
                         getattr(miner, "shut_down", None))
    return out


def back_online(runtime, client, ip: str, reboots_before: int, sim) -> dict:
    wait_for(lambda: sim.miner(ip).reboots > reboots_before and sim.miner(ip).listening)
    return wait_for(lambda: (lambda d: d if d["online"] and d["uptime_s"] is not None else None)(
        poll_detail(client, runtime, ip)))


def status_of(detail: dict) -> dict:
    """The reading fields sit at the top level of GET /api/miners/<ip> ("status" is online/offline)."""
    assert detail["online"], detail
    return detail


# --- discovery and reads ------------------------------------------------------------------------
def test_discovery_tells_the_families_apart_without_writing(live, sim):
    client, runtime, job, before = live
    assert job["state"] == "done" and job["total"] == 254
    assert {m["ip"]: m["family"] for m in job["found"]} == FAMILY
    assert snapshot(sim) == before  # read-only: nothing rebooted, switched, slept or re-pooled
    assert all(sim.miner(ip).setpool_calls == 0 for ip in (NANO3S, AVALON_Q, NANO3))
    models = {m["ip"]: m["model"] for m in client.get("/api/miners").get_json()}
    assert models[AVALON_Q] == "Avalon Q" and models[NANO3S] == "Avalon Nano3s"
    assert models[NERD] == "NerdQAxe++ BM1370"


def test_reads_in_explicit_units(live, sim):
    client, runtime, _, _ = live
    q = status_of(poll_detail(client, runtime, AVALON_Q))
    assert 70e12 < q["hashrate_hs"] < 95e12 and q["expected_hashrate_hs"] == pytest.approx(83000e9)
    assert 1150 < q["power_w"] < 1500 and len(q["fan_rpm"]) == 4 and q["model"] == "Avalon Q"
    assert q["mac"].count(":") == 5  # "MAC" arrives without colons
    nano = status_of(poll_detail(client, runtime, NANO3S))
    assert 5.5e12 < nano["hashrate_hs"] < 7.5e12 and 120 < nano["power_w"] < 150 and nano["temp_c"] > 60
    nano3 = status_of(poll_detail(client, runtime, NANO3))
    assert 2.5e12 < nano3["hashrate_hs"] < 3.6e12 and nano3["power_w"] is None  # Nano 3 PS[]: not watts
    nerd = status_of(poll_detail(client, runtime, NERD))
    assert 4.3e12 < nerd["hashrate_hs"] < 5.6e12 and 75 < nerd["power_w"] < 110 and len(nerd["fan_rpm"]) == 2
    caps = {ip: client.get(f"/api/miners/{ip}").get_json()["capabilities"] for ip in FAMILY}
    assert "sleep" not in caps[NANO3S] and {"sleep", "wake", "mode", "pools", "chips"} <= set(caps[AVALON_Q])
    assert {"mode", "sleep", "wake"} <= set(caps[NERD]) and "fan" not in caps[NERD]
    assert "mode" in caps[GAMMA] and "sleep" not in caps[SUPRA_OLD]  # pause/resume arrived in AxeOS v2.14


# --- Avalon writes --------------------------------------------------------------------------------
def test_avalon_modes_change_power_and_hashrate(live, sim):
    client, runtime, _, _ = live
    reply = client.post(f"/api/miners/{AVALON_Q}/mode", json={"mode": "high"}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    assert sim.miner(AVALON_Q).mode == 2
    q = status_of(poll_detail(client, runtime, AVALON_Q))
    assert q["expected_hashrate_hs"] == pytest.approx(100000e9) and q["power_w"] > 1450
    assert client.post(f"/api/miners/{NANO3S}/mode", json={"mode": "low"}, headers=AUTH).status_code == 200
    nano = status_of(poll_detail(client, runtime, NANO3S))
    assert nano["expected_hashrate_hs"] == pytest.approx(4200e9) and nano["power_w"] < 100
    assert client.post(f"/api/miners/{NANO3}/mode", json={"mode": "high"}, headers=AUTH).status_code == 200
    assert sim.miner(NANO3).level == 2  # the Nano 3 writes worklevel (its stats carry only WORKLEVEL)
    reply = client.post(f"/api/miners/{AVALON_Q}/mode", json={"mode": "turbo"}, headers=AUTH)
    assert reply.status_code == 400


def test_calibrating_avalon_refuses_and_nothing_changes(live, sim):
    client, runtime, _, _ = live
    sim.call(lambda: setattr(sim.miner(NANO3S), "calibrating", True))
    try:
        before = sim.miner(NANO3S).mode
        reply = client.post(f"/api/miners/{NANO3S}/mode", json={"mode": "medium"}, headers=AUTH)
        assert reply.status_code == 502 and "calibrating" in reply.get_json()["error"]
        assert sim.miner(NANO3S).mode == before
    finally:
        sim.call(lambda: setattr(sim.miner(NANO3S), "calibrating", False))


def test_avalon_q_soft_off_and_on(live, sim):
    client, runtime, _, _ = live
    miner = sim.miner(AVALON_Q)
    assert client.post(f"/api/miners/{AVALON_Q}/sleep", headers=AUTH).status_code == 200
    sim.call(lambda: miner.skip(6))  # softoff is scheduled 5 s ahead on the miner's clock
    q = status_of(poll_detail(client, runtime, AVALON_Q))
    assert q["state"] == "sleeping" and q["hashrate_hs"] == 0 and q["power_w"] < 200
    reply = client.post(f"/api/miners/{AVALON_Q}/wake", headers=AUTH)  # the sim closes without a reply here
    assert reply.status_code == 200, reply.get_json()
    sim.call(lambda: miner.skip(6))
    q = status_of(poll_detail(client, runtime, AVALON_Q))
    assert q["state"] == "mining" and q["hashrate_hs"] > 50e12


def test_unsupported_actions_answer_409(live, sim):
    client, _, _, _ = live
    for ip, path, body in ((NANO3S, "sleep", None), (NANO3S, "wake", None), (AVALON_Q, "power", {"watts": 900}),
                           (AVALON_Q, "frequency", {"mhz": 500}), (NERD, "fan", {"percent": 50}),
                           (SUPRA_OLD, "sleep", None)):
        reply = client.post(f"/api/miners/{ip}/{path}", json=body or {}, headers=AUTH)
        assert reply.status_code == 409, (ip, path, reply.get_json())
    assert client.get(f"/api/miners/{NERD}/chips").status_code == 409  # NerdQAxe++ asicTemps are all 0


def test_avalon_fan_and_chips(live, sim):
    client, runtime, _, _ = live
    assert client.post(f"/api/miners/{AVALON_Q}/fan", json={"percent": 80}, headers=AUTH).status_code == 200
    assert status_of(poll_detail(client, runtime, AVALON_Q))["fan_percent"] == 80
    assert client.post(f"/api/miners/{AVALON_Q}/fan", json={"percent": 10}, headers=AUTH).status_code == 400
    assert client.post(f"/api/miners/{AVALON_Q}/fan", json={"percent": None}, headers=AUTH).status_code == 200
    chips = client.get(f"/api/miners/{AVALON_Q}/chips").get_json()["chips"]
    assert len(chips) == 160 and all(c["temp_c"] > 40 and c["voltage_mv"] > 200 for c in chips)
    assert len(client.get(f"/api/miners/{NANO3S}/chips").get_json()["chips"]) == 12


def test_avalon_pools_need_the_web_password(live, sim):
    client, runtime, _, _ = live
    miner = sim.miner(AVALON_Q)
    pools = {"pools": [{"url": "stratum+tcp://pool.example.org:3333", "user": "fleet.q", "password": "pw1"}]}
    wrong = client.put(f"/api/miners/{AVALON_Q}/credentials", json={"username": "admin", "password": "nope"},
                       headers=AUTH)
    assert wrong.status_code == 200
    before = snapshot(sim)[AVALON_Q]
    reply = client.post(f"/api/miners/{AVALON_Q}/pools", json=pools, headers=AUTH)
    body = reply.get_json()
    assert reply.status_code == 502 and "refused the login" in body["error"] and "nope" not in body["error"]
    assert snapshot(sim)[AVALON_Q] == before  # no pool written, no reboot
    assert client.put(f"/api/miners/{AVALON_Q}/credentials", json={"username": "admin", "password": "admin"},
                      headers=AUTH).status_code == 200
    reboots = miner.reboots
    reply = client.post(f"/api/miners/{AVALON_Q}/pools", json=pools, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    detail = back_online(runtime, client, AVALON_Q, reboots, sim)  # cgminer loads the pool file at boot
    assert detail["pools"][0]["url"] == "stratum+tcp://pool.example.org:3333"
    assert "pw1" not in str(client.get(f"/api/miners/{AVALON_Q}").get_json())


def test_avalon_restart_and_reboot(live, sim):
    client, runtime, _, _ = live
    for path in ("restart", "reboot"):  # cgminer `restart` (process) and `ascset|0,reboot,0` (device)
        reboots = sim.miner(NANO3).reboots
        assert client.post(f"/api/miners/{NANO3}/{path}", headers=AUTH).status_code == 200
        detail = back_online(runtime, client, NANO3, reboots, sim)
        assert detail["uptime_s"] < 5


# --- Bitaxe / NerdQAxe++ modes --------------------------------------------------------------------
def test_bitaxe_mode_presets(live, sim):
    client, runtime, _, _ = live
    gamma = sim.miner(GAMMA)
    assert client.post(f"/api/miners/{GAMMA}/mode", json={"mode": "eco"}, headers=AUTH).status_code == 200
    assert (gamma.frequency, gamma.core_voltage) == (400, 1100)
    eco = status_of(poll_detail(client, runtime, GAMMA))
    assert client.post(f"/api/miners/{GAMMA}/mode", json={"mode": "turbo"}, headers=AUTH).status_code == 200
    turbo = status_of(poll_detail(client, runtime, GAMMA))
    assert (turbo["frequency_mhz"], turbo["voltage_mv"]) == (625, 1200)
    assert turbo["expected_hashrate_hs"] > eco["expected_hashrate_hs"] and turbo["power_w"] > eco["power_w"]
    reply = client.post(f"/api/miners/{GAMMA}/mode", json={"mode": "overclock"}, headers=AUTH)
    assert reply.status_code == 409 and "overclockEnabled" in reply.get_json()["error"]
    assert gamma.frequency == 625
    sim.call(lambda: gamma.settings.update(overclockEnabled=1))
    assert client.post(f"/api/miners/{GAMMA}/mode", json={"mode": "overclock"}, headers=AUTH).status_code == 200
    assert (gamma.frequency, gamma.core_voltage) == (675, 1250)
    assert client.post(f"/api/miners/{SUPRA_OLD}/mode", json={"mode": "standard"}, headers=AUTH).status_code == 200
    assert (sim.miner(SUPRA_OLD).frequency, sim.miner(SUPRA_OLD).core_voltage) == (490, 1166)


def test_nerdqaxe_modes_shutdown_and_otp(live, sim):
    client, runtime, _, _ = live
    nerd = sim.miner(NERD)
    assert client.post(f"/api/miners/{NERD}/mode", json={"mode": "eco"}, headers=AUTH).status_code == 200
    assert (nerd.frequency, nerd.core_voltage) == (500, 1140)
    assert client.post(f"/api/miners/{NERD}/sleep", headers=AUTH).status_code == 200
    asleep = status_of(wait_for(lambda: (lambda d: d if d["state"] == "sleeping" else None)(
        poll_detail(client, runtime, NERD))))
    assert asleep["hashrate_hs"] == 0
    reboots = nerd.reboots
    assert client.post(f"/api/miners/{NERD}/wake", headers=AUTH).status_code == 200  # NerdOS: a restart
    awake = back_online(runtime, client, NERD, reboots, sim)
    assert awake["state"] == "mining" and awake["hashrate_hs"] > 3e12
    sim.call(lambda: setattr(nerd, "otp_enabled", True))
    try:
        poll_detail(client, runtime, NERD)  # the driver learns "otp": true
        before = snapshot(sim)[NERD]
        for path, body in (("restart", None), ("mode", {"mode": "turbo"}), ("sleep", None)):
            reply = client.post(f"/api/miners/{NERD}/{path}", json=body or {}, headers=AUTH)
            assert reply.status_code == 502 and "OTP enabled" in reply.get_json()["error"], reply.get_json()
        assert snapshot(sim)[NERD] == before
    finally:
        sim.call(lambda: setattr(nerd, "otp_enabled", False))


def test_wrong_api_token_changes_nothing(live, sim):
    client, _, _, _ = live
    before = snapshot(sim)
    bad = {"Authorization": "Bearer not-the-token"}
    for ip, path, body in ((AVALON_Q, "mode", {"mode": "low"}), (AVALON_Q, "sleep", None),
                           (GAMMA, "mode", {"mode": "eco"}), (NERD, "restart", None)):
        reply = client.post(f"/api/miners/{ip}/{path}", json=body or {}, headers=bad)
        assert reply.status_code == 401, (ip, path, reply.status_code)
    assert snapshot(sim) == before
