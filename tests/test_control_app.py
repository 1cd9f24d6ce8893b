"""The control core inside the app: prices, hashprice and rules reach the step; GET /api/autocontrol names the layer.

The contract of issue 12: while ``stop-when-dear`` (price_above 30) fires, target_percent is 0,
layer is "rules" and rule is its name; the existing fields stay.
"""

from __future__ import annotations

import time

import pytest

from services.battery import BatteryReading
from tests.conftest import BASE_CONFIG, TEST_TOKEN
from tests.fakes import FakePowerDriver

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
IPS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")  # fake miners draw 15 W x last octet


def _app(tmp_path, price: float, extra: str = ""):
    from app import create_app
    from database.db import Database
    from services.config import load_config
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from tests.fakes import fake_factory, reset_fakes

    reset_fakes()
    path = tmp_path / "config.yaml"
    path.write_text(
        BASE_CONFIG +
        f"prices:\n  source: fixed\n  currency: GBP\n  unit: p/kWh\n  fixed:\n    price: {price}\n" + extra)
    config = load_config(path, environ={})
    db = Database(config.data_path / "fleet.db")
    runtime = Runtime(config, fleet=FleetManager(config, db, driver_factory=fake_factory), db=db)
    runtime.prices.refresh()
    for ip in IPS:
        runtime.fleet.add(ip, "fakepower")
    runtime.fleet.poll_round()
    app = create_app(config=config, runtime=runtime, start_background=False, test_config={"TESTING": True})
    return app.test_client(), runtime


@pytest.fixture
def dear(tmp_path):
    # No allocator timers (grace window, minimum on-time): the rule's sleep goes out on its first tick.
    client, runtime = _app(tmp_path, 35.0, "autocontrol:\n  grace_sec: 0\n  min_on_sec: 0\n")
    yield client, runtime
    runtime.shutdown()


def _battery(runtime, soc: float) -> None:
    reading = BatteryReading(soc_pct=soc, pv_w=3000.0, load_w=500.0, battery_w=-2500.0, grid_w=None,
                             measured_at=time.time(), source="test")
    runtime.autocontrol._reading = lambda: reading


MINIMAL = {"name": "stop-when-dear", "when": {"price_above": 30}, "then": {"action": "sleep"}}


def test_the_contract_rule_sleeps_the_fleet_and_names_itself(dear):
    client, runtime = dear
    _battery(runtime, 100)  # the ratchet alone would run the fleet at 100 %
    assert client.post("/api/autocontrol", json={"enabled": True}, headers=AUTH).status_code == 200
    body = runtime.autocontrol.tick()
    assert (body["layer"], body["rule"], body["target_percent"]) == ("policy", None, 100)
    reply = client.post("/api/rules", json=MINIMAL, headers=AUTH)
    assert reply.status_code == 201, reply.get_json()
    FakePowerDriver.settings.clear()
    runtime.autocontrol.tick()
    status = client.get("/api/autocontrol").get_json()
    assert (status["target_percent"], status["layer"], status["rule"]) == (0, "rules", "stop-when-dear")
    assert status["source"] == "rules" and status["reason"].startswith("rule stop-when-dear: ")
    for key in ("enabled", "policy", "cap_percent", "battery_age_sec", "failsafe", "timers", "plan", "ems"):
        assert key in status  # the existing fields stay
    assert {ip for ip, action, *_ in FakePowerDriver.settings if action == "sleep"} == set(IPS)
    # Safety still wins over the rule: an empty battery is "safety", whatever the rule wants.
    client.put("/api/rules/stop-when-dear", json={**MINIMAL, "then": {"action": "wake"}}, headers=AUTH)
    _battery(runtime, 5)
    status = runtime.autocontrol.tick()
    assert (status["layer"], status["rule"], status["target_percent"]) == ("safety", None, 0)


def test_a_cheap_price_does_not_fire_it_and_the_policy_decides(tmp_path):
    client, runtime = _app(tmp_path, 12.0)
    try:
        _battery(runtime, 100)
        client.post("/api/rules", json=MINIMAL, headers=AUTH)
        status = runtime.autocontrol.tick()
        assert (status["layer"], status["rule"], status["target_percent"]) == ("policy", None, 100)
        rules = client.get("/api/rules").get_json()["rules"]
        assert [r["state"] for r in rules if r["name"] == "stop-when-dear"] == ["armed"]
    finally:
        runtime.shutdown()


@pytest.mark.parametrize("pence, layer, target", [(0.6, "price", 100), (20.0, "policy", 0)])
def test_price_layer_with_a_fixed_hashprice_grid_mines_while_it_pays(tmp_path, pence, layer, target):
    """No battery (the solar policy wants 0 %). The fake miners make 1, 2 and 3 TH/s at 15, 30 and
    45 W: 15 J/TH each. A hashprice of 0.05 GBP per TH/s per day (pool fee 0) is 0.0020833 GBP per
    TH/s per hour; one TH/s draws 0.015 kW, so the break-even is 0.0020833 / 0.015 = 0.139 GBP/kWh
    = 13.9 p/kWh: at 0.6 p/kWh every miner pays (grid mining, 100 %), at 20 p/kWh none does."""
    extra = ("battery:\n  source: none\n"
             "profitability:\n  hashprice: 0.05\n  currency: GBP\n  pool_fee_percent: 0\n"
             "autocontrol:\n  enabled: true\n  grace_sec: 0\n  min_on_sec: 0\n  price:\n    enabled: true\n")
    client, runtime = _app(tmp_path, pence, extra)
    try:
        status = runtime.autocontrol.tick()
        assert (status["layer"], status["target_percent"]) == (layer, target)
        if layer == "price":
            assert status["reason"].startswith("price 0.6 p/kWh below the break-even of 3 of 3 miners")
            assert all(m["on"] for m in status["plan"]["miners"])
        assert status["price_band"]["floor_percent"] == target
        table = client.get("/api/profitability").get_json()
        assert {round(m["break_even"], 4) for m in table["miners"]} == {0.1389}
    finally:
        runtime.shutdown()


def test_a_rule_restart_goes_out_once_through_the_command_pool_with_actor_rules(tmp_path):
    """The fake family reads 50 C + last octet: a restart rule on temp_above_c 50 fires for each miner
    once (restart's default guard), sent as actor "rules" (the fakepower miners cannot restart: refused)."""
    from tests.fakes import FakeDriver

    client, runtime = _app(tmp_path, 10.0, "autocontrol:\n  enabled: true\n")
    _battery(runtime, 80)  # fresh battery data: no safety stop, under which rule commands are held
    try:
        for ip in ("10.0.1.1", "10.0.1.2"):
            runtime.fleet.add(ip, "fake")
        runtime.fleet.poll_round()
        rule = {"name": "kick", "when": {"temp_above_c": 50}, "then": {"action": "restart"}}
        assert client.post("/api/rules", json=rule, headers=AUTH).status_code == 201
        runtime.autocontrol.tick()
        runtime.autocontrol.tick()
        assert sorted(FakeDriver.restarts) == ["10.0.1.1", "10.0.1.2"]
        with runtime.db.read() as conn:
            actors = {r[0] for r in conn.execute("SELECT actor FROM events WHERE message LIKE '%restart%'")}
        assert "rules" in actors
    finally:
        runtime.shutdown()
