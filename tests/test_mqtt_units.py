"""MQTT publisher parts without a broker: config, topics, ids, energy, discovery rules, command parsing."""

from __future__ import annotations

import json

import pytest

from miners import base
from services.config import ConfigError, load_config
from services.miner_state import MinerRecord
from services.mqtt import discovery
from services.mqtt.commands import CommandRunner
from services.mqtt.energy import EnergyMeter
from services.mqtt.identity import client_id, install_id, ip_of, miner_id
from services.mqtt.topics import Topics
from tests.ha_discovery import check_all, check_config, render


def load(tmp_path, text, environ=None):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path, environ=environ or {})


# --- config ---------------------------------------------------------------------------------
def test_mqtt_config_defaults_are_the_contract(tmp_path):
    cfg = load(tmp_path, "").mqtt
    assert (cfg.enabled, cfg.port, cfg.base_topic, cfg.discovery_prefix, cfg.discovery, cfg.commands) == \
        (False, 1883, "minerfleet", "homeassistant", True, True)
    assert load(tmp_path, "").site == "home"


@pytest.mark.parametrize("text, key", [
    ("mqtt:\n  enabled: true\n", "mqtt.host: required"),
    ("mqtt:\n  port: 0\n", "mqtt.port:"),
    ("mqtt:\n  base_topic: 'a/#'\n", "mqtt.base_topic:"),
    ("mqtt:\n  base_topic: '/lead'\n", "mqtt.base_topic:"),
    ("mqtt:\n  discovery_prefix: 'ha/+'\n", "mqtt.discovery_prefix:"),
    ("mqtt:\n  client_id: 'has space'\n", "mqtt.client_id:"),
    ("mqtt:\n  min_interval_sec: -1\n", "mqtt.min_interval_sec:"),
    ("mqtt:\n  tls: yes please\n", "mqtt.tls: expected true or false"),
    ("mqtt:\n  brokerr: x\n", "mqtt.brokerr: unknown key"),
])
def test_mqtt_config_errors_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    assert str(err.value).startswith(key), str(err.value)


def test_password_from_environment_never_in_repr(tmp_path):
    cfg = load(tmp_path, "mqtt:\n  username: u\n", {"MQTT_PUBLISH_PASSWORD": "s3cret-pw"}).mqtt
    assert cfg.password == "s3cret-pw" and "s3cret" not in repr(cfg)
    # The battery source's MQTT_PASSWORD is a different setting.
    cfg2 = load(tmp_path, "", {"MQTT_PASSWORD": "battery-pw"})
    assert cfg2.mqtt.password == "" and cfg2.battery.mqtt.password == "battery-pw"


# --- topics and ids ---------------------------------------------------------------------------
def test_topics_and_site_placeholder():
    t = Topics.build("minerfleet/{site}", "homeassistant", "barn")
    assert t.status == "minerfleet/barn/status" and t.state("1_2_3_4") == "minerfleet/barn/1_2_3_4/state"
    assert t.parse_command("minerfleet/barn/1_2_3_4/mining/set") == ("1_2_3_4", "mining")
    assert t.parse_command("minerfleet/barn/control/policy/set") == ("control", "policy")
    for bad in ("minerfleet/barn/1_2_3_4/set", "other/1_2_3_4/mining/set", "minerfleet/barn/a/b/c/set",
                "minerfleet/barn//mining/set", "minerfleet/barn/1_2_3_4/mining"):
        assert t.parse_command(bad) is None, bad
    assert t.config("sensor", "n", "o") == "homeassistant/sensor/n/o/config"


def test_miner_ids_are_ha_safe_and_reversible():
    assert miner_id("192.168.1.50") == "192_168_1_50"
    assert ip_of("192_168_1_50") == "192.168.1.50"
    for bad in ("control", "1_2_3", "1_2_3_999", "a_b_c_d", "1_2_3_4_5", ""):
        assert ip_of(bad) is None, bad


def test_install_id_is_stable_per_data_dir(tmp_path):
    first = install_id(tmp_path)
    assert first == install_id(tmp_path) and len(first) == 8
    (tmp_path / "other").mkdir()
    assert install_id(tmp_path / "other") != first
    assert client_id("", "home", tmp_path) == f"minerfleet-home-{first}"
    assert client_id("mine", "home", tmp_path) == "mine"


# --- energy -------------------------------------------------------------------------------------
def test_energy_integrates_polled_power_and_skips_gaps():
    meter = EnergyMeter()
    assert meter.add("m", 1000.0, 3600.0) == 0.0  # first reading: nothing yet
    assert meter.add("m", 1000.0, 3600.0) == 0.0  # the same reading again adds nothing
    assert meter.add("m", 1010.0, 7200.0) == pytest.approx(0.01)  # 3600 W for 10 s = 0.01 kWh
    assert meter.add("m", 1020.0, None) == pytest.approx(0.03)  # 7200 W for 10 s
    assert meter.add("m", 1030.0, 100.0) == pytest.approx(0.03)  # unknown power counts nothing
    assert meter.add("m", 1030.0 + 3600, 100.0) == pytest.approx(0.03)  # an hour's gap: no guess
    assert meter.add("m", None, None) == pytest.approx(0.03)
    meter.forget("m")
    assert meter.get("m") == 0.0


# --- discovery rules ------------------------------------------------------------------------------
class FakeDriver:
    def __init__(self, caps, modes=()):
        self.capabilities = frozenset(caps)
        self.modes = tuple(modes)
        self.port = 80


def record(ip, family, caps, modes=(), model=None, power=12.0, name=None):
    status = base.MinerStatus(hashrate_hs=1.2e12, power_w=power, temp_c=55.0, fan_rpm=[3000], model=model,
                              firmware="AxeOS", firmware_version="v2.14.0")
    return MinerRecord(id=1, ip=ip, family=family, port=None, driver=FakeDriver(caps, modes), model=model,
                       name=name, status=status, online=True, last_seen_ts=1000.0)


def site(commands=True):
    return discovery.Site("home", Topics.build("minerfleet", "homeassistant", "home"), commands, "http://pi:5000/")


ALL_CONTROLS = {base.SLEEP, base.WAKE, base.POWER_WATTS, base.MODE, base.RESTART}


def test_discovery_configs_pass_home_assistants_rules():
    s = site()
    whatsminer = record("10.0.0.5", "whatsminer", ALL_CONTROLS | {base.POWER_PERCENT}, ("low", "normal", "high"),
                        model="M30S+", power=3300.0)
    bitaxe = record("10.0.0.6", "bitaxe", {base.SLEEP, base.WAKE, base.MODE, base.RESTART},
                    ("eco", "standard"), model="Bitaxe Gamma")
    percent_only = record("10.0.0.7", "avalon", {base.POWER_PERCENT})
    configs = {}
    for rec in (whatsminer, bitaxe, percent_only):
        configs.update(discovery.miner_configs(rec, s, discovery.power_range(rec)))
    configs.update(discovery.controller_configs(s, battery=True, price_unit="p/kWh"))
    raw = {t: json.dumps(p) for t, p in configs.items()}
    assert check_all(raw) == []
    wm = {t.split("/")[1] + "/" + t.split("/")[3]: p for t, p in configs.items() if "10_0_0_5" in t}
    assert set(wm) == {"sensor/hashrate", "sensor/power", "sensor/energy", "sensor/efficiency",
                       "sensor/temperature", "sensor/fan", "binary_sensor/online", "switch/mining",
                       "number/power_target", "select/mode", "button/restart"}
    assert wm["sensor/hashrate"]["unit_of_measurement"] == "TH/s" and "device_class" not in wm["sensor/hashrate"]
    assert wm["sensor/energy"]["state_class"] == "total_increasing"
    assert wm["number/power_target"]["min"] == 1020 and wm["number/power_target"]["max"] == 3400  # M30S+: 0.3 x 3400 W
    assert wm["select/mode"]["options"] == ["low", "normal", "high"]
    device = wm["sensor/power"]["device"]
    assert device["via_device"] == "minerfleet_home" and device["manufacturer"] == "MicroBT"
    assert device["configuration_url"] == "http://10.0.0.5/" and device["sw_version"] == "AxeOS v2.14.0"
    bx = {t.split("/")[1] + "/" + t.split("/")[3] for t in configs if "10_0_0_6" in t}
    assert "number/power_target" not in bx and "switch/mining" in bx
    pct = configs["homeassistant/number/minerfleet_home_10_0_0_7/power_target/config"]
    assert (pct["unit_of_measurement"], pct["min"], pct["max"]) == ("%", 0, 100)
    # The templates render against a state payload as HA renders them.
    from services.mqtt.payloads import miner_state

    state = json.dumps(miner_state(whatsminer, "home", 0.5))
    assert float(render(wm["sensor/hashrate"]["value_template"], state)) == pytest.approx(1.2)
    assert render(wm["binary_sensor/online"]["value_template"], state) == "ON"
    assert render(wm["switch/mining"]["value_template"], state) == "ON"
    assert float(render(wm["sensor/energy"]["value_template"], state)) == 0.5


def test_read_only_announces_no_controls_and_unknown_power_is_a_box():
    rec = record("10.0.0.5", "braiins", ALL_CONTROLS, model=None)
    ro = discovery.miner_configs(rec, site(commands=False))
    assert {t.split("/")[1] for t in ro} == {"sensor", "binary_sensor"}
    assert "switch" not in str(discovery.controller_configs(site(commands=False), battery=False))
    rw = discovery.miner_configs(rec, site(), discovery.power_range(rec))
    number = rw["homeassistant/number/minerfleet_home_10_0_0_5/power_target/config"]
    assert (number["min"], number["max"], number["mode"]) == (1, discovery.API_MAX_W, "box")


def test_a_miner_without_power_readings_gets_no_power_sensors():
    rec = record("10.0.0.8", "antminer", set(), power=None)
    keys = {t.split("/")[3] for t in discovery.miner_configs(rec, site())}
    assert not keys & {"power", "energy", "efficiency"} and "hashrate" in keys


def test_the_schema_check_catches_what_ha_refuses():
    ok = {"name": "P", "unique_id": "u", "state_topic": "a/b", "device": {"identifiers": ["d"]}}
    assert check_config("homeassistant/sensor/n/o/config", json.dumps(ok)) == []
    bad = [({**ok, "unit_of_measurement": "TH/s", "device_class": "power"}, "unit"),
           ({**ok, "device_class": "energy", "unit_of_measurement": "kWh", "state_class": "measurement"},
            "state_class"),
           ({k: v for k, v in ok.items() if k != "state_topic"}, "state_topic required"),
           ({**ok, "device": {"name": "x"}}, "identifiers"),
           ({**ok, "unit_of_measurment": "W"}, "does not know")]
    for payload, what in bad:
        problems = check_config("homeassistant/sensor/n/o/config", json.dumps(payload))
        assert problems and what in problems[0], (payload, problems)
    assert check_config("homeassistant/sensor/n.x/o/config", json.dumps(ok))
    assert check_config("homeassistant/number/n/o/config",
                        json.dumps({**ok, "command_topic": "c", "min": 5, "max": 5}))
    assert "also used" in check_all({"homeassistant/sensor/n/a/config": json.dumps(ok),
                                     "homeassistant/sensor/n/b/config": json.dumps(ok)})[0]


# --- command parsing (a fake fleet: what reaches FleetManager.command) ------------------------------
class FakeFleet:
    def __init__(self, rec):
        self.rec = rec
        self.calls = []

    def get(self, ip):
        from services.fleet import UnknownMiner

        if ip != self.rec.ip:
            raise UnknownMiner(ip)
        return self.rec

    def command(self, ip, action, *args, actor="system"):
        if action not in ("sleep", "wake", "restart", "set_mode") and \
                {"set_power_watts": base.POWER_WATTS}.get(action, action) not in self.rec.driver.capabilities:
            raise base.NotSupported(f"cannot {action}")
        self.calls.append((ip, action, args, actor))
        return f"{action} sent to {ip}"


class FakeControl:
    def __init__(self):
        self.bodies = []

    def command(self, body, by):
        if body.get("policy") not in (None, "ratchet", "surplus"):
            raise ValueError(f"policy: must be ratchet or surplus, got {body['policy']!r}")
        self.bodies.append((body, by))


def runner(rec):
    published = []
    fleet, control = FakeFleet(rec), FakeControl()
    r = CommandRunner(fleet, control, Topics.build("mf", "homeassistant", "home"),
                      lambda topic, body: published.append((topic, body)))
    return r, fleet, control, published


@pytest.mark.parametrize("target, control, payload, error", [
    ("10_0_0_5", "mining", b"maybe", "expected ON or OFF"),
    ("10_0_0_5", "power", b"abc", "watts: expected a number"),
    ("10_0_0_5", "power", b"12.5", "whole number"),
    ("10_0_0_5", "power", b"0", "watts: must be 1-100000"),
    ("10_0_0_5", "power", b"nan", "whole number"),
    ("10_0_0_5", "mode", b"ludicrous", "unknown mode"),
    ("10_0_0_5", "fly", b"1", "unknown control"),
    ("10_0_0_9", "mining", b"ON", "no miner 10_0_0_9"),
    ("nonsense", "mining", b"ON", "not a miner id"),
    ("10_0_0_5", "mining", b"\xff\xfe", "not UTF-8"),
    ("10_0_0_5", "mining", b"O" * 300, "longer than 256"),
    ("control", "policy", b"yolo", "policy: must be ratchet or surplus"),
    ("control", "fleet_target", b"101", "percent: must be 0-100"),
    ("control", "self_destruct", b"1", "unknown control"),
])
def test_bad_commands_are_answered_never_sent(target, control, payload, error):
    rec = record("10.0.0.5", "whatsminer", ALL_CONTROLS, ("low", "normal"))
    r, fleet, ctl, published = runner(rec)
    body = r.execute(target, control, payload)
    assert body["ok"] is False and error in body["error"], body
    assert fleet.calls == [] and ctl.bodies == []
    expected = "mf/control/result" if target in ("control", "nonsense") else f"mf/{target}/result"
    assert published == [(expected, body)]


def test_good_commands_reach_the_fleet_and_controller_as_mqtt():
    rec = record("10.0.0.5", "whatsminer", ALL_CONTROLS, ("low", "normal"))
    r, fleet, ctl, published = runner(rec)
    for control, payload in (("mining", b"OFF"), ("mining", b"on"), ("power", b"2500"), ("power", b"2500.0"),
                             ("mode", b"low"), ("restart", b"PRESS")):
        assert r.execute("10_0_0_5", control, payload)["ok"], (control, payload)
    assert [c[1:] for c in fleet.calls] == [("sleep", (), "mqtt"), ("wake", (), "mqtt"),
                                           ("set_power_watts", (2500,), "mqtt"),
                                           ("set_power_watts", (2500,), "mqtt"), ("set_mode", ("low",), "mqtt"),
                                           ("restart", (), "mqtt")]
    for control, payload in (("autocontrol", b"ON"), ("policy", b"surplus"), ("fleet_target", b"40"),
                             ("fleet_target", b"clear")):
        assert r.execute("control", control, payload)["ok"]
    assert ctl.bodies == [({"enabled": True}, "mqtt"), ({"policy": "surplus"}, "mqtt"),
                          ({"override": {"percent": 40}}, "mqtt"), ({"override": {"clear": True}}, "mqtt")]
    # A miner that cannot: the fleet's own refusal is the answer.
    bitaxe = record("10.0.0.5", "bitaxe", {base.MODE})
    r3, _, _, _ = runner(bitaxe)
    refused = r3.execute("10_0_0_5", "power", b"15")
    assert refused["ok"] is False and "cannot set_power_watts" in refused["error"]
