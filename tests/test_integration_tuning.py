"""Per-board tuning and thermal target through the real app against the Vnish simulators on 127.86.7.0/24.

An S19 on Vnish 1.2.6 and an L7 on 1.3.4 (REST: /model limits, /settings overclock
and cooling), an S9 on Vnish 3.9.0 (digest CGI form), and a Bitaxe (no thermal
target here). Every write is seen in the simulator and in later reads; values
outside the firmware's limits are refused with 400 before anything is sent; a
firmware that cannot answers 409; every command leaves an audit event.
"""

from __future__ import annotations

import os
import threading

import pytest

from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, add_miner, live_app
from tests.integration import poll_detail as detail, post_action as post

pytestmark = pytest.mark.integration

NET = "127.86.7"
S19, L7, S9, AXE = f"{NET}.10", f"{NET}.11", f"{NET}.12", f"{NET}.13"


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("vnish", S19, model="Antminer S19", firmware_version="1.2.6", restart_seconds=0.5),
             MinerSpec("vnish", L7, model="Antminer L7", firmware_version="1.3.4", restart_seconds=0.5),
             MinerSpec("vnish_legacy", S9, model="Antminer S9", firmware_version="3.9.0", restart_seconds=0.5),
             MinerSpec("bitaxe", AXE, restart_seconds=0.5)]
    with SimFleet(specs, allow_any_client=True, seed=17) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset) as live:
        yield live.client, live.runtime


def tuning(client, ip):
    reply = client.get(f"/api/miners/{ip}/tuning")
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def events(client, ip):
    return [e["message"] for e in client.get(f"/api/events?miner={ip}&kind=command", headers=AUTH).get_json()]


def test_rest_tuning_reports_the_firmware_limits(live, sim):
    client, runtime = live
    add_miner(client, S19, "vnish")
    data = tuning(client, S19)
    assert data["ip"] == S19 and data["capabilities"] == ["frequency", "thermal"]
    # The S19's /model figures (the recorded 1.2.6 example): 50..1000 MHz, 12.00..15.00 V on the stock PSU.
    assert data["frequency_range"] == {"min": 50, "max": 1000, "source": "firmware"}
    assert data["voltage_range"] == {"min": 12000, "max": 15000, "source": "firmware"}
    assert data["thermal_range"] == {"min": 20, "max": 90, "source": "firmware"}
    assert data["frequency_warn_mhz"] == 850 and data["thermal_target_c"] == 65 and data["thermal_limit_c"] == 105
    assert len(data["boards"]) == 3 and data["per_board_frequency"] and not data["per_board_voltage"]
    assert data["preset"] != "disabled" and any("switches it to 'disabled'" in n for n in data["notes"])
    assert "admin" not in str(data)


def test_rest_per_board_frequency_and_global_voltage(live, sim):
    client, runtime = live
    add_miner(client, L7, "vnish")
    miner = sim.miner(L7)
    reply = post(client, L7, "frequency", {"mhz": 500, "voltage_mv": 13000})
    assert reply.status_code == 200, reply.get_json()
    assert "switched to 'disabled'" in reply.get_json()["message"]
    overclock = miner.settings["miner"]["overclock"]
    assert overclock["preset"] == "disabled" and overclock["globals"] == {"freq": 500, "volt": 1300}
    assert post(client, L7, "frequency", {"mhz": 600, "board": 2}).status_code == 200
    assert [c["freq"] for c in miner.settings["miner"]["overclock"]["chains"]] == [0, 0, 600]
    boards = detail(client, runtime, L7)["last_reading"]["boards"]
    assert [(b["frequency_mhz"], b["voltage_mv"]) for b in boards] == [(500, 13000), (500, 13000), (600, 13000)]
    assert boards[2]["hashrate_hs"] > boards[0]["hashrate_hs"] * 1.1
    data = tuning(client, L7)
    assert [(b["frequency_mhz"], b["follows_global"]) for b in data["boards"]] == [
        (None, True), (None, True), (600, False)]
    assert data["frequency_mhz"] == 500 and data["voltage_mv"] == 13000 and data["preset"] == "disabled"
    # A global frequency puts every board back on it.
    assert post(client, L7, "frequency", {"mhz": 520}).status_code == 200
    assert [c["freq"] for c in miner.settings["miner"]["overclock"]["chains"]] == [0, 0, 0]
    assert any("set_frequency(600, 2) ok" in m for m in events(client, L7))


def test_out_of_range_values_are_refused_before_sending(live, sim):
    client, runtime = live
    for ip in (S19, S9):
        add_miner(client, ip, "vnish")
    s19, s9 = sim.miner(S19), sim.miner(S9)
    before = (s19.settings_writes, s9.conf_writes)
    for ip, body, fragment in ((S19, {"mhz": 1001}, "50..1000"), (S19, {"mhz": 600, "voltage_mv": 15100}, "15000"),
                               (S19, {"mhz": 600, "board": 3}, "boards 0..2"), (S9, {"mhz": 1200}, "100..1175"),
                               (S9, {"mhz": 600, "board": 3}, "boards 0..2")):
        reply = post(client, ip, "frequency", body)
        assert reply.status_code == 400 and fragment in reply.get_json()["error"], (ip, body, reply.get_json())
    for ip, target, fragment in ((S19, 95, "20..90"), (S19, 10, "20..90"), (S9, 95, "40..90")):
        reply = post(client, ip, "thermal", {"target_c": target})
        assert reply.status_code == 400 and fragment in reply.get_json()["error"], (ip, target, reply.get_json())
    # Vnish 1.x has no per-board voltage: the firmware cannot, so 409.
    reply = post(client, S19, "frequency", {"mhz": 600, "voltage_mv": 13500, "board": 1})
    assert reply.status_code == 409 and "one chain voltage" in reply.get_json()["error"]
    assert (s19.settings_writes, s9.conf_writes) == before
    assert any("refused" in m or "failed" in m for m in events(client, S19))
    # The API's own bounds come first: a body outside any firmware's range never reaches the driver.
    assert post(client, S19, "thermal", {"target_c": 500}).status_code == 400
    assert post(client, S19, "thermal", {"target_c": "hot"}).status_code == 400


def test_rest_thermal_target_is_set_and_read_back(live, sim):
    client, runtime = live
    add_miner(client, S19, "vnish")
    miner = sim.miner(S19)
    reply = post(client, S19, "thermal", {"target_c": 60})
    assert reply.status_code == 200 and reply.get_json()["target_c"] == 60, reply.get_json()
    assert miner.settings["miner"]["cooling"]["mode"] == {"name": "auto", "param": 60}
    assert tuning(client, S19)["thermal_target_c"] == 60
    assert any("set_thermal_target(60) ok" in m for m in events(client, S19))
    # Manual fan: the firmware holds no target, so the command is refused (409) and nothing is written.
    miner.settings["miner"]["cooling"]["mode"] = {"name": "manual", "param": 70}
    writes = miner.settings_writes
    reply = post(client, S19, "thermal", {"target_c": 62})
    assert reply.status_code == 409 and "manual" in reply.get_json()["error"]
    assert miner.settings_writes == writes and tuning(client, S19)["thermal_target_c"] is None
    miner.settings["miner"]["cooling"]["mode"] = {"name": "auto", "param": 65}


def test_legacy_tuning_per_board_and_thermal_target(live, sim):
    client, runtime = live
    add_miner(client, S9, "vnish")
    miner = sim.miner(S9)
    data = tuning(client, S9)
    assert data["per_board_voltage"] and data["frequency_range"]["source"] == "documented"
    assert data["thermal_range"]["source"] == "controller" and data["thermal_limit_c"] == 105
    restarts = miner.mining_restarts
    reply = post(client, S9, "frequency", {"mhz": 600, "voltage_mv": 9000, "board": 2})
    assert reply.status_code == 200, reply.get_json()
    assert miner.mining_restarts == restarts + 1  # _ant_presave "0": bmminer restarted and runs the new values
    boards = detail(client, runtime, S9)["last_reading"]["boards"]
    assert (boards[2]["frequency_mhz"], boards[2]["voltage_mv"]) == (600, 9000)
    data = tuning(client, S9)
    assert (data["boards"][2]["frequency_mhz"], data["boards"][2]["voltage_mv"]) == (600, 9000)
    assert data["boards"][0]["follows_global"]
    assert post(client, S9, "thermal", {"target_c": 72}).status_code == 200
    assert miner.conf["bitmain-target-temp"] == "72" and tuning(client, S9)["thermal_target_c"] == 72
    assert not any("_ant_" in str(v) for v in miner.conf.values())


def test_a_miner_without_tuning_answers_409(live, sim):
    client, runtime = live
    add_miner(client, AXE, "bitaxe")
    reply = client.get(f"/api/miners/{AXE}/tuning")
    assert reply.status_code == 409 and "bitaxe" in reply.get_json()["error"]
    reply = post(client, AXE, "thermal", {"target_c": 60})
    assert reply.status_code == 409, reply.get_json()
    assert client.get("/api/miners/127.86.7.99/tuning").status_code == 404
    assert client.post(f"/api/miners/{S19}/thermal", json={"target_c": 60}).status_code in (401, 403)


def test_a_disabled_miner_is_not_contacted(live, sim):
    client, runtime = live
    add_miner(client, S19, "vnish")
    runtime.fleet.get(S19).enabled = False
    try:
        before = sim.miner(S19).settings_writes
        assert client.get(f"/api/miners/{S19}/tuning").status_code == 409
        assert post(client, S19, "thermal", {"target_c": 60}).status_code == 409
        assert sim.miner(S19).settings_writes == before
    finally:
        runtime.fleet.get(S19).enabled = True


def test_tuning_reads_leave_no_threads_or_connections_behind(live, sim):
    client, runtime = live
    add_miner(client, S19, "vnish")
    tuning(client, S19)
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        tuning(client, S19)
    assert threading.active_count() <= threads
    assert len(os.listdir("/proc/self/fd")) <= fds  # the driver's one pooled connection is reused
