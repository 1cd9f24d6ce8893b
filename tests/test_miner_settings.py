"""Miner settings: validation, precedence (browser/API > config.yaml > model table), PATCH, disabled miners."""

from __future__ import annotations

import dataclasses
import time

import pytest

from services import bulk
from services import miner_settings as ms
from services.battery import BatteryReading
from services.config import MinerEntry
from tests.conftest import TEST_TOKEN, replace_config
from tests.fakes import FakeDriver, FakePowerDriver

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
NOTHING = {"name": None, "tags": (), "enabled": True, "notes": None, "location": None, "nominal_w": None,
           "min_w": None, "max_w": None, "max_temp_c": None, "autocontrol": None}


# --- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"colour": "red"}, "colour: unknown setting"),
    ({"name": "x" * 65}, "name: at most 64 characters"),
    ({"name": 5}, "name: must be a string"),
    ({"name": "a\x00b"}, "name: control characters"),
    ({"tags": "solar"}, "tags: must be a list"),
    ({"tags": [f"t{i}" for i in range(17)]}, "tags: at most 16"),
    ({"tags": ["ok", ""]}, "tags[1]: 1-32 characters"),
    ({"tags": ["x" * 33]}, "tags[0]: 1-32 characters"),
    ({"tags": ["semi;colon"]}, "tags[0]: 1-32 characters"),
    ({"tags": [3]}, "tags[0]: must be a string"),
    ({"notes": "n" * 1001}, "notes: at most 1000 characters"),
    ({"location": "l" * 65}, "location: at most 64 characters"),
    ({"enabled": None}, "enabled: must be true or false"),
    ({"enabled": "yes"}, "enabled: must be true or false"),
    ({"autocontrol": 1}, "autocontrol: must be true or false or null"),
    ({"max_w": True}, "max_w: must be a number"),
    ({"max_w": "900"}, "max_w: must be a number"),
    ({"nominal_w": 0}, "nominal_w: must be above 0"),
    ({"min_w": 100001}, "min_w: must be above 0 and at most 100000"),
    ({"min_w": 900, "max_w": 800}, "min_w: must be at most max_w"),
    ({"max_temp_c": 29}, "max_temp_c: must be 30-130"),
])
def test_bad_values_are_refused_naming_the_key(changes, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ms.validate(changes, NOTHING, None)


def test_values_are_normalised():
    out = ms.validate({"name": "  rig 1 ", "tags": [" solar", "shed", "solar"], "notes": "two\nlines",
                       "location": "", "max_w": 900, "autocontrol": None}, NOTHING, None)
    assert out == {"name": "rig 1", "tags": ("solar", "shed"), "notes": "two\nlines", "location": None,
                   "max_w": 900.0, "autocontrol": None}


def test_limits_are_checked_against_the_config_values_they_would_meet():
    entry = MinerEntry(ip="10.0.0.1", max_w=1000)
    with pytest.raises(ValueError, match=r"min_w: must be at most max_w \(1000"):
        ms.validate({"min_w": 1200}, NOTHING, entry)
    # ... and a value set here counts, not the config's, once it exists
    assert ms.validate({"min_w": 1200}, {**NOTHING, "max_w": 1500.0}, entry) == {"min_w": 1200.0}


def test_the_event_text_lists_what_changed_and_not_notes_text():
    text = ms.describe({**NOTHING, "max_w": 1200.0}, {"max_w": 1000.0, "notes": "secret plan", "enabled": False,
                                                      "tags": ("a", "b"), "name": None})
    assert text == ("disabled: not polled or commanded; "
                    "settings changed: tags unset -> 'a, b'; notes changed; max_w 1200 -> 1000")
    assert ms.describe(NOTHING, {"name": None, "enabled": True}) is None


# --- precedence -----------------------------------------------------------------------------------
def test_a_value_set_here_beats_config_which_beats_the_default():
    entry = MinerEntry(ip="10.0.0.1", name="yaml name", nominal_w=1400, max_temp_c=90, autocontrol=False)
    eff = ms.effective({**NOTHING, "nominal_w": 1000.0}, entry)
    assert (eff["name"], eff["nominal_w"], eff["max_temp_c"], eff["autocontrol"]) == ("yaml name", 1000.0, 90, False)
    eff = ms.effective({**NOTHING, "name": "browser", "autocontrol": True}, entry)
    assert (eff["name"], eff["nominal_w"], eff["autocontrol"]) == ("browser", 1400, True)
    eff = ms.effective(NOTHING, None)
    assert (eff["name"], eff["nominal_w"], eff["autocontrol"]) == (None, None, True)


@pytest.fixture
def yaml_fleet(tmp_path):
    """A runtime whose config.yaml lists 10.0.0.1 with a name and limits (fake drivers)."""
    from database.db import Database
    from services.config import load_config
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from tests.conftest import BASE_CONFIG
    from tests.fakes import fake_factory, reset_fakes

    path = tmp_path / "config.yaml"
    path.write_text(BASE_CONFIG + "miners:\n  - ip: 10.0.0.1\n    family: fakepower\n    name: from yaml\n"
                                  "    nominal_w: 40\n    max_w: 35\n    tags: [shed, solar]\n"
                                  "    location: barn, rack 2\n    notes: fan replaced 2026-11\n")
    config = load_config(path, environ={})
    reset_fakes()
    db = Database(config.data_path / "fleet.db")
    rt = Runtime(config, fleet=FleetManager(config, db, driver_factory=fake_factory), db=db)
    rt._add_configured_miners()
    yield rt
    FakeDriver.release.set()
    rt.shutdown()


def test_patch_wins_over_yaml_and_null_goes_back_to_it(yaml_fleet):
    fleet = yaml_fleet.fleet
    record = fleet.get("10.0.0.1")
    assert (record.name, record.nominal_w, record.max_w, record.set_here) == ("from yaml", 40, 35, frozenset())
    fleet.update_settings("10.0.0.1", {"name": "browser", "max_w": 30}, actor="token")
    assert (record.name, record.max_w, record.set_here) == ("browser", 30.0, {"name", "max_w"})
    # A restart re-adds the config miners: the browser's values stay.
    yaml_fleet._add_configured_miners()
    fleet._records.clear()
    fleet._load_from_db()
    record = fleet.get("10.0.0.1")
    assert (record.name, record.max_w) == ("browser", 30.0)
    fleet.update_settings("10.0.0.1", {"name": None, "max_w": None}, actor="token")
    assert (record.name, record.max_w, record.set_here) == ("from yaml", 35, frozenset())


def test_yaml_tags_location_and_notes_apply_until_set_here_and_null_or_empty_list_differ(yaml_fleet):
    fleet = yaml_fleet.fleet
    record = fleet.get("10.0.0.1")
    assert (record.tags, record.location, record.notes) == (("shed", "solar"), "barn, rack 2", "fan replaced 2026-11")
    assert fleet.miners_list()[0]["tags"] == ["shed", "solar"]
    assert bulk.tagged(fleet, "solar") == ["10.0.0.1"]  # bulk actions (and rules) find a YAML tag
    fleet.update_settings("10.0.0.1", {"tags": ["rack 1"], "location": "house"}, actor="token")
    assert (record.tags, record.location, record.notes) == (("rack 1",), "house", "fan replaced 2026-11")
    fleet.update_settings("10.0.0.1", {"tags": []}, actor="token")  # [] = none here, whatever the file says
    assert record.tags == () and "tags" in record.set_here
    fleet._records.clear()
    fleet._load_from_db()  # a restart keeps "none"
    assert fleet.get("10.0.0.1").tags == ()
    fleet.update_settings("10.0.0.1", {"tags": None, "location": None}, actor="token")  # null: back to the file's
    record = fleet.get("10.0.0.1")
    assert (record.tags, record.location) == (("shed", "solar"), "barn, rack 2") and "tags" not in record.set_here


@pytest.mark.parametrize("entry, line", [
    ("    tags: [ok, 'bad/tag']\n", "miners[0].tags[1]: 1-32 characters of letters, digits, space, _ . -; got 'bad/tag'"),
    ("    location: " + "x" * 65 + "\n", "miners[0].location: at most 64 characters, got 65"),
])
def test_a_bad_yaml_tag_or_location_stops_start_up_naming_it(tmp_path, entry, line):
    from services.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text("miners:\n  - ip: 10.0.0.1\n    family: bitaxe\n" + entry)
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value) == line


# --- the API ---------------------------------------------------------------------------------------
def _events(client, kind="miner_settings"):
    return [e for e in client.get("/api/events?limit=50").get_json() if e["kind"] == kind]


def test_patch_contract(client, runtime):
    runtime.fleet.add("10.0.0.1", "fake")
    url = "/api/miners/10.0.0.1"
    assert client.patch(url, json={"name": "rig"}).status_code == 401  # writes need auth
    reply = client.patch(url, json={"name": "rig 1", "tags": ["shed", "solar"], "notes": "by the door",
                                    "location": "shed", "max_w": 900, "autocontrol": False}, headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert (body["name"], body["tags"], body["notes"], body["location"], body["max_w"], body["autocontrol"]) == \
        ("rig 1", ["shed", "solar"], "by the door", "shed", 900, False)
    listed = client.get("/api/miners").get_json()[0]
    assert (listed["name"], listed["tags"], listed["enabled"], listed["notes"]) == \
        ("rig 1", ["shed", "solar"], True, "by the door")
    events = _events(client)
    assert len(events) == 1 and events[0]["actor"] == "token"
    assert "name unset -> 'rig 1'" in events[0]["message"] and "by the door" not in events[0]["message"]

    # Refusals: 400 naming the key, nothing changed, no event.
    for bad, named in (({"colour": "red"}, "colour"), ({"tags": ["ok", "no;"]}, "tags[1]"),
                       ({"name": "new", "max_w": -1}, "max_w"), ({"enabled": "no"}, "enabled"), ({}, "at least one")):
        reply = client.patch(url, json=bad, headers=AUTH)
        assert reply.status_code == 400 and named in reply.get_json()["error"], (bad, reply.get_json())
    assert client.get(url).get_json()["name"] == "rig 1"
    assert len(_events(client)) == 1
    assert client.patch("/api/miners/10.0.0.9", json={"name": "x"}, headers=AUTH).status_code == 404
    # A PATCH that changes nothing writes no event.
    assert client.patch(url, json={"name": "rig 1"}, headers=AUTH).status_code == 200
    assert len(_events(client)) == 1


def test_a_disabled_miner_is_not_read_not_commanded_and_not_offline(client, runtime):
    fleet = runtime.fleet
    fleet.add("10.0.0.1", "fake")
    fleet.add("10.0.0.2", "fake")
    fleet.poll_round()
    reply = client.patch("/api/miners/10.0.0.1", json={"enabled": False}, headers=AUTH)
    assert reply.get_json()["status"] == "disabled" and reply.get_json()["online"] is False
    reads = FakeDriver.reads.get("10.0.0.1", 0)
    for _ in range(3):
        summary = fleet.poll_round()
    assert FakeDriver.reads.get("10.0.0.1", 0) == reads and summary["polled"] == 1
    stats = client.get("/api/stats").get_json()
    assert (stats["online"], stats["offline"], stats["disabled"], stats["miners_total"]) == (1, 0, 1, 2)
    reply = client.post("/api/miners/10.0.0.1/restart", json={}, headers=AUTH)
    assert reply.status_code == 409 and "disabled" in reply.get_json()["error"]
    assert "10.0.0.1" not in FakeDriver.restarts
    assert not [e for e in client.get("/api/events?limit=50").get_json() if e["kind"] == "miner_offline"]
    assert "disabled" in _events(client)[0]["message"]
    # Enabled again: read on the next round.
    client.patch("/api/miners/10.0.0.1", json={"enabled": True}, headers=AUTH)
    fleet.poll_round()
    assert FakeDriver.reads["10.0.0.1"] > reads
    assert client.get("/api/miners/10.0.0.1").get_json()["status"] == "online"


# --- autocontrol -----------------------------------------------------------------------------------
IPS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")  # fakepower: 15, 30 and 45 W at 100 %


class Battery:
    """The battery reading the controller sees (as tests/test_autocontrol.py)."""

    def __init__(self) -> None:
        self.reading = None

    def set(self, soc: float) -> None:
        self.reading = BatteryReading(soc_pct=soc, pv_w=0.0, load_w=500.0, battery_w=500.0, grid_w=None,
                                      measured_at=time.time(), source="test")


def _control(runtime, battery, miners=()):
    from services.autocontrol import AutoControl

    for ip in IPS:
        runtime.fleet.add(ip, "fakepower")
    runtime.fleet.poll_round()
    cfg = replace_config(runtime.config, miners=tuple(miners),
                         autocontrol=dataclasses.replace(runtime.config.autocontrol, enabled=True))
    return AutoControl(cfg, runtime.db, runtime.fleet, lambda: battery.reading)


def test_autocontrol_uses_the_limits_set_here_over_the_config(runtime):
    battery = Battery()
    control = _control(runtime, battery, miners=[MinerEntry(ip=IPS[2], max_w=40), MinerEntry(ip=IPS[0],
                                                                                           autocontrol=False)])
    fleet = runtime.fleet
    fleet.update_settings(IPS[2], {"max_w": 20})  # beats the config's 40
    fleet.update_settings(IPS[1], {"nominal_w": 60})  # no config entry: beats the model (30 W drawn)
    fleet.update_settings(IPS[0], {"autocontrol": True})  # beats the config's autocontrol: false
    battery.set(100)
    control.tick()
    sent = {ip: w for ip, kind, w in FakePowerDriver.settings if kind == "watts"}
    assert sent[IPS[2]] == 20 and sent[IPS[1]] == 60 and IPS[0] in sent
    fleet.update_settings(IPS[1], {"max_temp_c": 55})
    assert control.limit_c(fleet.get(IPS[1])) == 55


def test_a_disabled_miner_is_left_out_of_the_plan(runtime):
    battery = Battery()
    control = _control(runtime, battery)
    runtime.fleet.update_settings(IPS[1], {"enabled": False})
    battery.set(100)
    body = control.tick()
    assert IPS[1] not in {m["ip"] for m in body["plan"]["miners"]}
    assert IPS[1] not in {ip for ip, _, _ in FakePowerDriver.settings}
    assert body["plan"]["rated_w"] == 15 + 45


# --- alerts, metrics, MQTT ------------------------------------------------------------------------
def test_alerts_drop_a_disabled_miner_without_a_back_online_message(runtime):
    from tests.test_alerts_service import Inbox, _fail, _service

    inbox = Inbox()
    alerts = _service(runtime, inbox, offline_after_min=0)
    ip = "10.0.0.7"
    runtime.fleet.add(ip, "fake", name="Shed")
    runtime.fleet.poll_round()
    _fail(runtime, [ip])
    assert [p.kind for p in alerts.tick().raised] == ["miner_offline"]
    runtime.fleet.update_settings(ip, {"enabled": False})
    for _ in range(2):
        runtime.fleet.poll_round()
        assert not alerts.tick().raised
    assert alerts.alerts() == []
    assert [m.title for m in inbox.sent] == ["Shed (10.0.0.7) is offline"]  # no "back online": it is not


def test_metrics_skip_and_mqtt_marks_a_disabled_miner(runtime):
    from services.metrics.miners import miner_families
    from services.mqtt.payloads import miner_state

    fleet = runtime.fleet
    fleet.add("10.0.0.1", "fake")
    fleet.add("10.0.0.2", "fake")
    fleet.poll_round()
    fleet.update_settings("10.0.0.2", {"enabled": False})
    ips = {s.labels["ip"] for fam in miner_families(fleet.records(), "home") for s in fam.samples}
    assert ips == {"10.0.0.1"}
    state = miner_state(fleet.get("10.0.0.2"), "home", 0.0)
    assert (state["status"], state["online"], state["hashrate_hs"]) == ("disabled", False, None)
