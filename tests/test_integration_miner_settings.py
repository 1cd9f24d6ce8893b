"""Miner settings on the real app against simulated Bitaxes (127.86.1.x): a disabled miner gets no request."""

from __future__ import annotations

import pytest

from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, add_miner, live_app, post_action, wait_for

pytestmark = pytest.mark.integration

NET = "127.86.1"
OFF, ON = f"{NET}.10", f"{NET}.11"


@pytest.fixture(scope="module")
def sim():
    with SimFleet([MinerSpec("bitaxe", OFF), MinerSpec("bitaxe", ON)], allow_any_client=True, seed=3) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset) as live:
        yield live.client, live.runtime


def _samples(runtime, ip: str) -> int:
    runtime.history.flush()
    record = runtime.fleet.get(ip)
    with runtime.db.read() as conn:
        return conn.execute("SELECT COUNT(*) FROM samples WHERE (id & ?) = ?",
                            ((1 << 20) - 1, record.id)).fetchone()[0]


def test_a_disabled_miner_gets_no_request_and_keeps_its_history(live, sim):
    client, runtime = live
    fleet = runtime.fleet
    for ip in (OFF, ON):
        add_miner(client, ip, "bitaxe")
    for _ in range(2):
        fleet.poll_round()
    kept = _samples(runtime, OFF)
    assert kept == 2

    reply = client.patch(f"/api/miners/{OFF}", json={"enabled": False, "tags": ["bench"]}, headers=AUTH)
    assert reply.status_code == 200 and reply.get_json()["status"] == "disabled"
    off_before, on_before = sim.miner(OFF).requests, sim.miner(ON).requests
    for _ in range(3):
        fleet.poll_round()
    assert post_action(client, OFF, "restart").status_code == 409
    assert client.get(f"/api/miners/{OFF}/chips").status_code == 409
    assert sim.miner(OFF).requests == off_before  # not one request over three rounds and two refusals
    assert sim.miner(ON).requests > on_before
    assert sim.miner(OFF).reboots == 0
    assert _samples(runtime, OFF) == kept  # its history stays, and no new rows
    history = client.get(f"/api/miners/{OFF}/history?range=1h").get_json()
    assert any(v is not None for v in history["series"]["hashrate_hs"]), history
    listed = {m["ip"]: m for m in client.get("/api/miners").get_json()}
    assert (listed[OFF]["status"], listed[OFF]["enabled"], listed[OFF]["tags"]) == ("disabled", False, ["bench"])
    assert listed[OFF]["hashrate_hs"] is None  # the last reading is not shown as if it were current
    stats = client.get("/api/stats").get_json()
    assert (stats["online"], stats["offline"], stats["disabled"]) == (1, 0, 1)

    # Enabled again: read within a second (the re-poll), online, history grows again.
    client.patch(f"/api/miners/{OFF}", json={"enabled": True}, headers=AUTH)
    wait_for(lambda: sim.miner(OFF).requests > off_before, timeout=5, message="not polled after re-enabling")
    wait_for(lambda: client.get(f"/api/miners/{OFF}").get_json()["status"] == "online", timeout=5)
    fleet.poll_round()
    assert _samples(runtime, OFF) == kept + 1
