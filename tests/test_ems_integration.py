"""EMS dispatch against simulated miners on loopback (127.82.50.0/24): measured power follows the fleet."""

from __future__ import annotations

import time

import pytest

from simulator import SimFleet
from simulator.spec import MinerSpec
from tests.integration import add_miner, live_app, wait_for

pytestmark = pytest.mark.integration

NET = "127.82.50"
EMS_TOKEN = "ems-token-0123456789abcdef"
EMS = {"Authorization": f"Bearer {EMS_TOKEN}"}
FLEET = (  # (kind, model, firmware, family): watts, percent, modes and a miner that reports no power
    ("bitaxe", "BM1370", "v2.14.2", "bitaxe"),
    ("antminer", "Antminer S19", None, "antminer"),  # stock: no power reading -> estimated
    ("braiins", "Antminer S19 XP", "25.11", "braiins"),
    ("whatsminer", "M30S+", None, "whatsminer"),
)


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec(kind, f"{NET}.{10 + i}", model=model, firmware_version=fw)
             for i, (kind, model, fw, _) in enumerate(FLEET)]
    with SimFleet(specs, allow_any_client=True, seed=5) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset, ems={"token": EMS_TOKEN},
                  battery={"source": "none"}, polling={"timeout_sec": 3}) as app:
        for i, (_, _, _, family) in enumerate(FLEET):
            add_miner(app.client, f"{NET}.{10 + i}", family)
        app.runtime.fleet.poll_round()
        yield app.client, app.runtime
        # Leave the simulated miners as a later test expects them: running.
        app.runtime.autocontrol.wait_kicked()
        for m in sim.miners:
            app.client.post(f"/api/miners/{m.spec.ip}/wake",
                            headers={"Authorization": f"Bearer {app.config.security.api_token}"})


def drain(runtime):
    runtime.autocontrol.wait_kicked()


def measured_kw(client) -> float:
    """What the miners report now plus the estimate /api/ems gives for the ones without power."""
    miners = client.get("/api/miners").get_json()
    estimated = {e["ip"]: e["watts"] for e in client.get("/api/ems").get_json()["estimated"]}
    return sum(estimated.get(m["ip"], m["power_w"] or 0.0) for m in miners) / 1000


def test_dispatch_of_simulated_miners_is_measured(live):
    client, runtime = live
    before = client.get("/api/status", headers=EMS).get_json()
    assert before["isAvailableForDispatch"] is True and before["runningStatus"] == 1
    assert before["ratedPowerInKw"] > 9  # 17 W + 3250 + 3250 + 3400 W at most
    detail = client.get("/api/ems").get_json()
    assert [e["ip"] for e in detail["estimated"]] == [f"{NET}.11"]  # the stock S19 reports no power
    assert before["activePowerInKw"] == pytest.approx(measured_kw(client), abs=0.002)

    t0 = time.monotonic()
    reply = client.post("/api/activate", json={"activationPowerInKw": 4}, headers=EMS)
    assert reply.status_code == 200 and reply.get_json()["accepted"] is True
    assert time.monotonic() - t0 < 0.5
    drain(runtime)
    seen = []

    def settled():
        # The miners ramp (a mode change restarts hashing): poll until the measured power follows.
        runtime.fleet.poll_round()
        status = client.get("/api/status", headers=EMS).get_json()
        seen.append(status["activePowerInKw"])
        assert status["activePowerInKw"] == pytest.approx(measured_kw(client), abs=0.002)
        return status if abs(status["activePowerInKw"] - 4) <= 0.6 else None

    after = wait_for(settled, timeout=20, step=0.5, message=f"measured power never near 4 kW: {seen}")
    assert after["runningStatus"] == 2
    assert after["activePowerInKw"] != 4.0  # measured, not the 4.0 commanded

    sent = [s["ip"] for s in runtime.autocontrol.last_plan["settings"]]
    reply = client.post("/api/activate", json={"activationPowerInKw": 4.0}, headers=EMS)
    assert "nothing changed" in reply.get_json()["message"]
    drain(runtime)
    assert [s["ip"] for s in runtime.autocontrol.last_plan["settings"]] == sent  # no new plan was sent

    reply = client.post("/api/deactivate", headers=EMS)
    assert reply.status_code == 200 and reply.get_json()["accepted"] is True
    drain(runtime)

    def stopped():
        runtime.fleet.poll_round()
        status = client.get("/api/status", headers=EMS).get_json()
        return status if status["activePowerInKw"] < 0.1 else None

    assert wait_for(stopped, timeout=20, step=0.5)["runningStatus"] == 1
    assert all(not m["hashrate_hs"] for m in client.get("/api/miners").get_json())  # every miner stopped
