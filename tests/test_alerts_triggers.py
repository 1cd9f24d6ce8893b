"""Each alert trigger driven by the simulator through the REAL drivers: a miner stopped, a board dropped, a fan
at 0, a pool refusing shares, the first pool dead, a hot chip; each raises its alert once and resolves once."""

from __future__ import annotations

import pytest

from services.alerts.service import AlertService
from simulator import MinerSpec, SimFleet
from tests.integration import add_miner, live_app
from tests.test_alerts_service import Inbox

NET = "127.84.11"
S19, AXE, M30 = f"{NET}.10", f"{NET}.11", f"{NET}.12"
FAMILY = {S19: "antminer", AXE: "bitaxe", M30: "whatsminer"}
# Hold times 0 so one check after one poll round decides; the offline/hashrate holds have their own tests.
ALERTS = {"offline_after_min": 0, "hold_min": 0, "hashrate_drop_min": 0, "reject_min_shares": 3,
          "reject_window_min": 30}


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("antminer", S19, model="S19"), MinerSpec("bitaxe", AXE),
             MinerSpec("whatsminer", M30, model="M30S+")]
    with SimFleet(specs, allow_any_client=True, seed=5) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    for ip in FAMILY:
        sim.set_fault(ip, None)
        sim.set_conditions(ip, [])
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset, alerts=ALERTS,
                  polling={"offline_after": 1}) as live:
        for ip, family in FAMILY.items():
            add_miner(live.client, ip, family)
        inbox = Inbox()
        live.runtime.alerts = AlertService(live.config, live.runtime, notifier=inbox)
        yield live.runtime, inbox


def check(runtime, rounds: int = 1) -> set[tuple[str, str]]:
    """Poll ``rounds`` full rounds (the control tick learns the 1-h averages), check; the active (kind, miner)."""
    for _ in range(rounds):
        runtime.fleet.poll_round()
        runtime.autocontrol.tick()
    runtime.alerts.tick()
    return {(a["kind"], a["miner"]) for a in runtime.alerts.alerts()}


def test_healthy_fleet_raises_nothing(live):
    runtime, inbox = live
    assert check(runtime, rounds=3) == set()
    assert inbox.sent == []


@pytest.mark.parametrize("ip", [S19, AXE, M30])
def test_stopped_miner_is_offline_then_back_online(live, sim, ip):
    runtime, inbox = live
    check(runtime)
    sim.set_fault(ip, "down")
    assert check(runtime) == {("miner_offline", ip)}
    sim.set_fault(ip, None)
    assert check(runtime) == set()
    assert [m.title.endswith("is offline") for m in inbox.sent] == [True, False]
    assert inbox.sent[1].title.endswith("is back online")


@pytest.mark.parametrize("ip", [S19, M30])
def test_dropped_board_is_a_missing_board_and_low_hashrate(live, sim, ip):
    runtime, inbox = live
    check(runtime, rounds=2)
    sim.set_conditions(ip, ["board_down"])
    active = check(runtime)
    assert ("board_missing", ip) in active and ("hashrate_low", ip) in active, active
    sim.set_conditions(ip, [])
    assert check(runtime) == set()
    titles = sorted(m.title.split(": ", 1)[1] for m in inbox.sent)
    assert titles == ["a hash board is missing", "every hash board is back", "hashrate back to normal",
                      "hashrate low (a board lost?)"]


@pytest.mark.parametrize("ip", [S19, AXE, M30])
def test_stopped_fan(live, sim, ip):
    runtime, _ = live
    check(runtime)
    sim.set_conditions(ip, ["fan_stopped"])
    assert check(runtime) == {("fan_failed", ip)}
    sim.set_conditions(ip, [])
    assert check(runtime) == set()


@pytest.mark.parametrize("ip", [S19, AXE, M30])
def test_hot_chip(live, sim, ip):
    runtime, inbox = live
    check(runtime)
    sim.set_conditions(ip, ["hot"])
    assert check(runtime) == {("temp_high", ip)}
    assert inbox.sent[-1].severity == "critical" and "limit" in inbox.sent[-1].body
    sim.set_conditions(ip, [])
    assert check(runtime) == set()


@pytest.mark.parametrize("ip", [S19, AXE, M30])
def test_pool_refusing_shares(live, sim, ip):
    runtime, _ = live
    check(runtime)
    sim.set_conditions(ip, ["rejecting"])
    for _ in range(2):
        sim.call(lambda: sim.miner(ip).skip(900))  # a quarter hour of shares at the miner's real rate
        active = check(runtime)
    assert active == {("shares_rejected", ip)}
    assert "rejected in the last" in runtime.alerts.alerts()[0]["message"]


@pytest.mark.parametrize("ip", [S19, AXE, M30])
def test_first_pool_dead_mines_on_the_backup(live, sim, ip):
    runtime, _ = live
    check(runtime)
    sim.set_conditions(ip, ["pool_down"])
    assert check(runtime) == {("pool_backup", ip)}
    sim.set_conditions(ip, [])
    assert check(runtime) == set()


def test_every_demo_family_healthy_raises_nothing(tmp_path):
    """Defaults checked against every firmware the simulator rebuilds from recorded replies: no false alarm."""
    from simulator import demo_specs

    net = "127.84.13"
    with SimFleet(demo_specs(f"{net}.10", 24), allow_any_client=True, seed=8) as fleet:
        with live_app(tmp_path, f"{net}.0/24", fleet.port_offset, alerts=ALERTS) as live:
            for miner in fleet.miners:
                if miner.kind != "nmminer":  # UDP telemetry only: the listener's own tests cover it
                    add_miner(live.client, miner.ip, miner.kind if miner.kind != "vnish_legacy" else "vnish")
            runtime = live.runtime
            runtime.alerts = AlertService(live.config, runtime, notifier=Inbox())
            for _ in range(3):
                fleet.call(lambda: [m.skip(300) for m in fleet.miners])
                active = check(runtime)
            online = [r.ip for r in runtime.fleet.records() if r.online]
            assert len(online) == 22, online
            assert active == set()


def test_a_solo_miner_finding_a_block_is_told_once(tmp_path, sim):
    """The session best difficulty (AxeOS bestSessionDiff) at or above the network difficulty: one notice."""
    for ip in FAMILY:
        sim.set_fault(ip, None)
        sim.set_conditions(ip, [])
    network = 1.2e14
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset,
                  alerts={**ALERTS, "network_difficulty": network, "best_difficulty": True}) as live:
        add_miner(live.client, AXE, "bitaxe")
        runtime = live.runtime
        inbox = Inbox()
        runtime.alerts = AlertService(live.config, runtime, notifier=inbox)
        check(runtime)
        assert inbox.sent == []  # the first reading only learns the bests
        sim.call(lambda: setattr(sim.miner(AXE), "best_session_diff", 1.5e14))
        check(runtime)
        check(runtime)
        blocks = [m for m in inbox.sent if "found a block" in m.title]
        assert len(blocks) == 1 and AXE in blocks[0].title and blocks[0].severity == "critical"
        assert "150.00T" in blocks[0].body and "120.00T" in blocks[0].body
        with runtime.db.read() as conn:
            kinds = [r[0] for r in conn.execute("SELECT kind FROM events WHERE kind LIKE 'b%'")]
        assert "block_found" in kinds


def test_overheat_stop_by_the_controller_is_one_critical_alert(tmp_path, sim):
    """Autocontrol on: a hot chip trips the overheat stop; the alert says the controller stopped it (no temp_high)."""
    for ip in FAMILY:
        sim.set_fault(ip, None)
        sim.set_conditions(ip, [])
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset, alerts=ALERTS, autocontrol={"enabled": True},
                  battery={"source": "simulated"}) as live:
        add_miner(live.client, AXE, "bitaxe")
        runtime = live.runtime
        runtime.battery.poll()
        inbox = Inbox()
        runtime.alerts = AlertService(live.config, runtime, notifier=inbox)
        check(runtime)
        sim.set_conditions(AXE, ["hot"])
        active = check(runtime)
        assert active == {("overheat_stop", AXE)}, active
        [alert] = runtime.alerts.alerts()
        assert alert["severity"] == "critical" and "C" in alert["message"]
        assert [m.title for m in inbox.sent] == [f"{alert['miner_name']} ({AXE}) stopped: overheating"]
    sim.set_conditions(AXE, [])
