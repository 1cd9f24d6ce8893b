"""The control loop wired into the runtime: decision -> plan -> commands, API, persistence."""

from __future__ import annotations

import time

import pytest

from services.battery import BatteryReading
from tests.fakes import FakePowerDriver

IPS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")  # fakes draw 15 W x last octet: 15, 30, 45 W


class Battery:
    """The battery reading the controller sees (the monitor's last reading)."""

    def __init__(self):
        self.reading = None

    def set(self, soc, age=0.0, pv_w=0.0):
        self.reading = BatteryReading(soc_pct=soc, pv_w=pv_w, load_w=500.0, battery_w=500.0 - pv_w, grid_w=None,
                                      measured_at=time.time() - age, source="test")


@pytest.fixture
def loop(runtime):
    from services.autocontrol import AutoControl

    for ip in IPS:
        runtime.fleet.add(ip, "fakepower")
    runtime.fleet.poll_round()
    battery = Battery()
    runtime.autocontrol = AutoControl(runtime.config, runtime.db, runtime.fleet, lambda: battery.reading)
    return runtime.autocontrol, battery


def enable(client, auth, **extra):
    reply = client.post("/api/autocontrol", json={"enabled": True, **extra}, headers=auth)
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def test_disabled_by_default_decides_but_sends_nothing(loop, client):
    control, battery = loop
    battery.set(55)
    body = control.tick()
    assert body["enabled"] is False and body["target_percent"] == 60 and "SOC 55%" in body["reason"]
    assert FakePowerDriver.settings == []
    status = client.get("/api/autocontrol").get_json()
    for key in ("enabled", "policy", "target_percent", "cap_percent", "reason", "battery_age_sec", "failsafe"):
        assert key in status
    assert status["policy"] == "ratchet"


def test_enabled_ratchet_commands_changed_settings_only(loop, client, auth):
    control, battery = loop
    enable(client, auth)
    battery.set(55)
    control.tick()
    sent = list(FakePowerDriver.settings)
    assert sent and all(kind == "watts" for _, kind, _ in sent)
    total = sum(w for _, _, w in sent)
    assert total == pytest.approx(0.6 * 90, abs=3)  # 60 % of the fleet's 90 W, whole watts rounded down
    control.tick()  # same decision: nothing new is sent
    assert FakePowerDriver.settings == sent
    events = client.get("/api/events?limit=50").get_json()
    assert any(e["actor"] == "controller" and e["kind"] == "command" for e in events)
    assert any(e["kind"] == "autocontrol" and "SOC 55%" in e["message"] for e in events)


def test_emergency_stops_the_fleet_at_once(loop, client, auth):
    control, battery = loop
    enable(client, auth)
    battery.set(80)
    control.tick()
    battery.set(29)
    body = control.tick()
    assert body["emergency"] is True and body["target_percent"] == 0
    slept = {ip for ip, kind, _ in FakePowerDriver.settings if kind == "sleep"}
    assert slept == set(IPS)


def test_stale_battery_data_is_the_failsafe(loop, client, auth):
    control, battery = loop
    enable(client, auth)
    battery.set(90, age=3600)
    body = control.tick()
    assert body["failsafe"] is True and "old" in body["reason"]


def test_state_survives_a_restart(loop, client, auth, runtime):
    from services.autocontrol import AutoControl

    control, battery = loop
    enable(client, auth)
    battery.set(55)
    control.tick()
    again = AutoControl(runtime.config, runtime.db, runtime.fleet, lambda: battery.reading)
    assert again.controller.state.enabled is True
    assert again.history.keys() == control.history.keys()
    before = len(FakePowerDriver.settings)
    again.tick()  # it knows what it already sent: no repeat after the restart
    assert len(FakePowerDriver.settings) == before


@pytest.mark.parametrize("body, fragment", [
    ({"enabled": "yes"}, "enabled"),
    ({"policy": "greedy"}, "policy"),
    ({"override": {"percent": 150, "minutes": 10}}, "percent"),
    ({"color": "red"}, "unknown field"),
])
def test_bad_posts_are_400_and_change_nothing(loop, client, auth, body, fragment):
    reply = client.post("/api/autocontrol", json=body, headers=auth)
    assert reply.status_code == 400 and fragment in reply.get_json()["error"]
    assert client.get("/api/autocontrol").get_json()["enabled"] is False


def test_writes_need_credentials(loop, client):
    assert client.post("/api/autocontrol", json={"enabled": True}).status_code == 401
    assert client.get("/api/autocontrol").get_json()["enabled"] is False


def _with_config(runtime, battery, miners=(), **autocontrol):
    """An AutoControl (enabled) whose config has these miners: entries and autocontrol settings."""
    import dataclasses

    from services.autocontrol import AutoControl
    from tests.conftest import replace_config

    for ip in IPS:
        runtime.fleet.add(ip, "fakepower")
    runtime.fleet.poll_round()
    cfg = replace_config(runtime.config, miners=tuple(miners),
                         autocontrol=dataclasses.replace(runtime.config.autocontrol, enabled=True, **autocontrol))
    return AutoControl(cfg, runtime.db, runtime.fleet, lambda: battery.reading)


def test_per_miner_power_overrides_from_config_reach_the_allocator(runtime):
    from services.config import MinerEntry

    battery = Battery()
    control = _with_config(runtime, battery, miners=[MinerEntry(ip=IPS[2], max_w=20),
                                                     MinerEntry(ip=IPS[1], nominal_w=60)])
    battery.set(100)
    body = control.tick()
    sent = {ip: w for ip, kind, w in FakePowerDriver.settings if kind == "watts"}
    assert sent[IPS[2]] == 20  # capped by max_w although it draws 45 W at full power
    assert sent[IPS[1]] == 60  # 100 % of its configured nominal, not of the 30 W it draws
    assert body["plan"]["rated_w"] == 15 + 60 + 45


def test_allocator_timers_come_from_config(runtime):
    battery = Battery()
    control = _with_config(runtime, battery, grace_sec=0, min_on_sec=0, min_off_sec=0, min_interval_sec=0)
    s = control.allocator.settings
    assert (s.grace_sec, s.min_on_sec, s.min_off_sec) == (0, 0, 0)
    battery.set(100)
    control.tick()
    battery.set(55)  # 60 %: without a grace window the new watts go out at once
    control.tick()
    assert {ip for ip, kind, _ in FakePowerDriver.settings if kind == "watts"} == set(IPS)
    assert len(FakePowerDriver.settings) > 3


def test_default_timers_hold_a_change_inside_the_grace_window(runtime):
    battery = Battery()
    control = _with_config(runtime, battery, min_interval_sec=0)
    s = control.allocator.settings
    assert (s.grace_sec, s.min_on_sec, s.min_off_sec) == (300, 600, 600)
    battery.set(100)
    control.tick()
    first = len(FakePowerDriver.settings)
    battery.set(55)
    body = control.tick()
    assert len(FakePowerDriver.settings) == first
    assert all("grace window" in m["explanation"] for m in body["plan"]["miners"])


def test_miner_without_autocontrol_is_a_fixed_load(runtime):
    from services.config import MinerEntry

    battery = Battery()
    control = _with_config(runtime, battery, miners=[MinerEntry(ip=IPS[0], autocontrol=False)])
    battery.set(100)
    body = control.tick()
    assert IPS[0] not in {ip for ip, _, _ in FakePowerDriver.settings}
    plan = {m["ip"]: m for m in body["plan"]["miners"]}
    assert plan[IPS[0]]["kind"] == "fixed" and plan[IPS[0]]["expected_w"] == 15
    assert body["plan"]["rated_w"] == 90  # its watts are part of the fleet, as fleet_w counts them


def test_a_drifting_soc_under_the_same_cap_is_one_event(loop, client, auth):
    """The event log gets what the controller does, not every tick's SOC (it wrote one every 30 s)."""
    control, battery = loop
    for soc in (55.0, 55.4, 55.9, 56.3, 56.8):  # the same 60 % cap throughout
        battery.set(soc)
        control.tick()
    events = [e for e in client.get("/api/events?limit=100").get_json() if e["kind"] == "autocontrol"]
    assert len(events) == 1 and "SOC 55%" in events[0]["message"], events
    battery.set(35)  # SOC falls through a band: a lower cap at once, a new event
    control.tick()
    events = [e for e in client.get("/api/events?limit=100").get_json() if e["kind"] == "autocontrol"]
    assert len(events) == 2, events
