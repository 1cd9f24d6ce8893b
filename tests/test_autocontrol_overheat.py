"""Overheat protection: the pure tracker (hysteresis, unknown temperatures, persistence) and the control loop."""

from __future__ import annotations

import dataclasses
import time

from services.power.overheat import OverheatTracker, Trip
from tests.control_site import IPS, ControlSite
from tests.fakes import FakePowerDriver


# --- the tracker ----------------------------------------------------------------------
def test_trips_at_the_limit_and_clears_only_below_the_resume_temperature():
    t = OverheatTracker()
    assert t.update("10.0.0.5", 89.9, 90, 10, 100.0, "S19 10.0.0.5") is None
    change = t.update("10.0.0.5", 96, 90, 10, 110.0, "S19 10.0.0.5")
    assert change is not None and change.tripped and change.ip == "10.0.0.5"
    assert change.text == "S19 10.0.0.5 96 C >= 90 C -> sleep until 80 C"
    assert t.overheated() == {"10.0.0.5"}
    # Between resume and limit: still tripped, and no second event.
    for temp in (97, 90, 85, 80.1):
        assert t.update("10.0.0.5", temp, 90, 10, 120.0, "S19 10.0.0.5") is None
    assert t.reason("10.0.0.5") == "S19 10.0.0.5 80.1 C, tripped at 96 C >= 90 C -> sleep until 80 C"
    cleared = t.update("10.0.0.5", 80, 90, 10, 130.0, "S19 10.0.0.5")
    assert cleared is not None and not cleared.tripped and "80 C <= 80 C" in cleared.text
    assert t.overheated() == set() and t.reason("10.0.0.5") == ""
    assert t.update("10.0.0.5", 85, 90, 10, 140.0) is None  # below the limit: no trip again


def test_unknown_temperature_never_trips_and_never_clears():
    t = OverheatTracker()
    assert t.update("a", None, 90, 10, 1.0) is None and t.overheated() == set()
    t.update("a", 95, 90, 10, 2.0)
    assert t.update("a", None, 90, 10, 3.0) is None
    assert t.overheated() == {"a"}
    assert "temperature unknown" in t.reason("a")
    assert t.status()[0]["temp_c"] is None and t.status()[0]["since"] == 2.0


def test_limit_zero_is_protection_off_and_lifts_a_trip():
    t = OverheatTracker()
    assert t.update("a", 120, 0, 10, 1.0) is None
    t.update("a", 95, 90, 10, 2.0)
    change = t.update("a", 95, 0, 10, 3.0)
    assert change is not None and not change.tripped and "protection off" in change.text
    assert t.overheated() == set()


def test_round_trip_keeps_trips_and_judges_by_the_current_limits():
    t = OverheatTracker()
    t.update("10.0.0.2", 100, 95, 10, 50.0, "M50 10.0.0.2")
    again = OverheatTracker.from_json(t.to_json())
    assert again.trips == t.trips
    # The limit was lowered in config meanwhile: 84 C is still above the new resume temperature 75 C.
    assert again.update("10.0.0.2", 84, 85, 10, 60.0, "M50 10.0.0.2") is None
    assert again.trips["10.0.0.2"].resume_c == 75 and again.trips["10.0.0.2"].since == 50.0
    assert OverheatTracker.from_json({"x": {"bogus": 1}, "y": 7}).trips == {}
    assert OverheatTracker.from_json(None).trips == {}


def test_retain_forgets_removed_miners():
    t = OverheatTracker({"a": Trip("a", 1.0, 95, 90, 80), "b": Trip("b", 1.0, 95, 90, 80)})
    assert t.retain(["a"]) is True and t.overheated() == {"a"}
    assert t.retain(["a"]) is False


def test_family_limits_when_the_config_sets_none():
    from services.power.overheat import default_limit_c

    assert default_limit_c("bitaxe") == 70  # below ESP-Miner's own 75 C overheat mode
    assert default_limit_c("whatsminer") == default_limit_c("antminer") == 100  # healthy chips read 93-95 C


# --- the control loop -----------------------------------------------------------------
class Loop(ControlSite):
    """The overheat tests' site: autocontrol enabled, limit 90 C, a full battery, the fleet polled once."""

    def __init__(self, runtime, monkeypatch, *, miners=(), **autocontrol):
        from tests.conftest import replace_config

        settings = {"enabled": True, "overheat_c": 90, **autocontrol}
        config = replace_config(runtime.config, miners=tuple(miners),
                                autocontrol=dataclasses.replace(runtime.config.autocontrol, **settings))
        super().__init__(runtime, monkeypatch, config, soc=100.0)
        runtime.fleet.poll_round()
        self.control = self.rebuild()

    def sent(self, since=0):
        return FakePowerDriver.settings[since:]

    def events(self, kind="overheat"):
        from database import queries

        with self.runtime.db.read() as conn:
            rows = queries.recent_events(conn, limit=500)
        return [dict(r) for r in rows if r["kind"] == kind]


T0 = time.time()


def test_hot_miner_sleeps_under_fleet_and_miner_overrides_others_keep_theirs(runtime, monkeypatch):
    loop = Loop(runtime, monkeypatch)
    loop.control.command({"override": {"percent": 100}}, by="test")
    loop.control.command({"override": {"percent": 100, "miner": IPS[0]}}, by="test")
    loop.tick(T0)
    assert sorted(loop.sent()) == [(IPS[0], "watts", 15), (IPS[1], "watts", 30), (IPS[2], "watts", 45)]
    before = len(loop.sent())
    loop.temps[IPS[0]] = 96
    body = loop.tick(T0 + 10)  # 10 s after its last command: inside the 300 s grace window, still stopped
    assert loop.sent(before) == [(IPS[0], "sleep", None)]
    assert body["overheated"] == [{"ip": IPS[0], "temp_c": 96, "limit_c": 90, "resume_c": 80, "since": T0 + 10,
                                   "reason": f"Fake X1 {IPS[0]} 96 C >= 90 C -> sleep until 80 C"}]
    assert body["source"] == "override" and body["target_percent"] == 100  # the others are not overheating
    assert body["miner_overrides"][IPS[0]]["percent"] == 100  # the manual wish stays, it is just outranked
    plan = {m["ip"]: m for m in body["plan"]["miners"]}
    assert plan[IPS[0]]["on"] is False and plan[IPS[0]]["explanation"].startswith("overheated: Fake X1 10.0.0.1 96 C")
    assert plan[IPS[1]]["on"] and plan[IPS[2]]["on"]
    loop.tick(T0 + 20)
    assert loop.sent(before) == [(IPS[0], "sleep", None)]  # asleep: nothing repeated


def test_events_once_per_trip_and_once_per_clear(runtime, monkeypatch):
    loop = Loop(runtime, monkeypatch, min_off_sec=0, grace_sec=0)
    loop.tick(T0)
    loop.temps[IPS[1]] = 92
    for dt in (10, 20, 30):
        loop.tick(T0 + dt)
    events = loop.events()
    assert len(events) == 1 and events[0]["actor"] == "controller" and events[0]["miner_ip"] == IPS[1]
    assert "92 C >= 90 C -> sleep until 80 C" in events[0]["message"]
    loop.temps[IPS[1]] = 81
    loop.tick(T0 + 40)
    assert len(loop.events()) == 1 and loop.control.overheat.overheated() == {IPS[1]}
    before = len(loop.sent())
    loop.temps[IPS[1]] = 79
    body = loop.tick(T0 + 50)
    loop.tick(T0 + 60)
    events = loop.events()
    assert len(events) == 2 and "79 C <= 80 C: cooled down" in events[0]["message"]  # newest first
    assert body["overheated"] == []
    # min_off_sec 0 from config: it may run again at once.
    assert (IPS[1], "wake", None) in loop.sent(before)
    # Tripping again is a new event.
    loop.temps[IPS[1]] = 95
    loop.tick(T0 + 70)
    assert len(loop.events()) == 3


def test_a_cooled_miner_waits_out_min_off_sec(runtime, monkeypatch):
    loop = Loop(runtime, monkeypatch, min_off_sec=600, grace_sec=0)
    loop.tick(T0)
    loop.temps[IPS[2]] = 95
    loop.tick(T0 + 10)
    assert (IPS[2], "sleep", None) in loop.sent()
    loop.temps[IPS[2]] = 70
    before = len(loop.sent())
    body = loop.tick(T0 + 100)
    assert body["overheated"] == [] and (IPS[2], "wake", None) not in loop.sent(before)
    assert "minimum off-time" in {m["ip"]: m for m in body["plan"]["miners"]}[IPS[2]]["explanation"]
    loop.tick(T0 + 620)
    assert (IPS[2], "wake", None) in loop.sent(before)


def test_every_miner_hot_is_a_safety_decision(runtime, monkeypatch):
    loop = Loop(runtime, monkeypatch)
    loop.tick(T0)
    for ip in IPS:
        loop.temps[ip] = 99
    body = loop.tick(T0 + 10)
    assert body["source"] == "safety" and body["target_percent"] == 0 and "overheating" in body["reason"]
    assert {ip for ip, kind, _ in loop.sent() if kind == "sleep"} == set(IPS)
    assert len(body["overheated"]) == 3
    # One cool miner: the fleet decision is the policy's again.
    loop.temps[IPS[0]] = 60
    body = loop.tick(T0 + 20)
    assert body["source"] == "policy" and [o["ip"] for o in body["overheated"]] == list(IPS[1:])


def test_unknown_temperature_keeps_a_trip(runtime, monkeypatch):
    loop = Loop(runtime, monkeypatch)
    loop.tick(T0)
    loop.temps[IPS[0]] = 95
    loop.tick(T0 + 10)
    loop.temps[IPS[0]] = None  # asleep, this firmware reports no temperature
    body = loop.tick(T0 + 20)
    assert [o["ip"] for o in body["overheated"]] == [IPS[0]] and body["overheated"][0]["temp_c"] is None
    assert "temperature unknown" in body["overheated"][0]["reason"]


def test_per_miner_max_temp_c_and_overheat_off(runtime, monkeypatch):
    from services.config import MinerEntry

    loop = Loop(runtime, monkeypatch, overheat_c=0, miners=[MinerEntry(ip=IPS[2], max_temp_c=70)])
    loop.tick(T0)
    loop.temps.update({IPS[0]: 120, IPS[2]: 71})
    body = loop.tick(T0 + 10)
    assert [(o["ip"], o["limit_c"]) for o in body["overheated"]] == [(IPS[2], 70)]


def test_trips_survive_a_restart(runtime, monkeypatch):
    loop = Loop(runtime, monkeypatch)
    loop.tick(T0)
    loop.temps[IPS[0]] = 96
    loop.tick(T0 + 10)
    assert (IPS[0], "sleep", None) in loop.sent()
    again = loop.rebuild()
    assert again.overheat.overheated() == {IPS[0]} and again.overheat.trips[IPS[0]].since == T0 + 10
    loop.temps[IPS[0]] = 85  # still above the resume temperature
    before = len(loop.sent())
    body = loop.tick(T0 + 700, control=again)
    assert [o["ip"] for o in body["overheated"]] == [IPS[0]]
    assert not [s for s in loop.sent(before) if s[0] == IPS[0]]  # not woken by the restart
    assert len(loop.events()) == 1  # and no second trip event


def test_disabled_shows_what_would_be_stopped_and_sends_nothing(runtime, monkeypatch):
    loop = Loop(runtime, monkeypatch, enabled=False)
    loop.temps[IPS[1]] = 100
    body = loop.tick(T0)
    assert body["enabled"] is False and [o["ip"] for o in body["overheated"]] == [IPS[1]]
    assert FakePowerDriver.settings == []
    assert loop.events()[0]["message"].endswith("(autocontrol off: not stopped)")
    # Enabling later stops it at once.
    loop.control.command({"enabled": True}, by="test")
    loop.tick(T0 + 10)
    assert (IPS[1], "sleep", None) in loop.sent()


def test_miner_without_autocontrol_is_never_commanded_even_hot(runtime, monkeypatch):
    from services.config import MinerEntry

    loop = Loop(runtime, monkeypatch, miners=[MinerEntry(ip=IPS[2], autocontrol=False)])
    loop.control.command({"override": {"percent": 0, "miner": IPS[2]}}, by="test")
    loop.temps[IPS[2]] = 110
    loop.soc = 55
    body = loop.tick(T0)
    loop.soc = 20  # battery emergency: every controlled miner off
    body = loop.tick(T0 + 10)
    assert body["emergency"] is True
    assert not [s for s in loop.sent() if s[0] == IPS[2]]
    assert body["overheated"] == [] and not [e for e in loop.events() if e["miner_ip"] == IPS[2]]
    plan = {m["ip"]: m for m in body["plan"]["miners"]}
    assert plan[IPS[2]]["on"] is True and plan[IPS[2]]["expected_w"] == 45
    assert "autocontrol: false" in plan[IPS[2]]["explanation"]
    assert {ip for ip, kind, _ in loop.sent() if kind == "sleep"} == set(IPS[:2])


def test_all_controllable_hot_ignores_the_uncontrolled_miner(runtime, monkeypatch):
    from services.config import MinerEntry

    loop = Loop(runtime, monkeypatch, miners=[MinerEntry(ip=IPS[2], autocontrol=False)])
    loop.temps.update({IPS[0]: 95, IPS[1]: 95})
    body = loop.tick(T0)
    assert body["source"] == "safety" and "overheating" in body["reason"]


def test_no_configured_limit_uses_the_family_limit(runtime, monkeypatch):
    loop = Loop(runtime, monkeypatch, overheat_c=None)
    loop.temps[IPS[0]] = 96.0  # a healthy Whatsminer/Avalon chip maximum: no trip at the 100 C default
    loop.tick(time.time())
    assert loop.control.overheat.overheated() == set()
    loop.temps[IPS[0]] = 100.0
    loop.tick(time.time() + 30)
    assert loop.control.overheat.overheated() == {IPS[0]}
