"""MQTT source: JSON-path and per-topic layouts, signs, missing values, staleness, paho optional."""

from __future__ import annotations

import sys

import pytest

from services.battery import BatteryError
from services.battery.config import BatteryFields, MqttConfig
from services.battery.mqtt import MqttSource, topic_matches

T0 = 1_700_000_000.0


class Clock:
    t = T0

    def __call__(self):
        return self.t


class FakeClient:
    """Records what MqttSource asks of a paho client."""

    def __init__(self):
        self.calls = []
        self.subscribed = []

    def username_pw_set(self, user, password):
        self.calls.append(("auth", user, password))

    def connect_async(self, host, port, keepalive):
        self.calls.append(("connect", host, port, keepalive))

    def loop_start(self):
        self.calls.append(("loop_start",))

    def loop_stop(self):
        self.calls.append(("loop_stop",))

    def disconnect(self):
        self.calls.append(("disconnect",))

    def subscribe(self, topic):
        self.subscribed.append(topic)


class Ok:
    is_failure = False


def make(clock, topic="", **fields):
    client = FakeClient()
    cfg = MqttConfig(host="broker.test", username="u", password="mq-secret", topic=topic, fields=BatteryFields(**fields))
    src = MqttSource(cfg, max_age_sec=60, clock=clock, client_factory=lambda _cfg: client)
    return src, client


def test_topic_wildcards():
    assert topic_matches("a/+/c", "a/b/c") and topic_matches("a/#", "a/b/c") and topic_matches("a/b", "a/b")
    assert not topic_matches("a/+", "a/b/c") and not topic_matches("a/b/c", "a/b")


def test_json_topic_with_paths_and_connection():
    clock = Clock()
    src, client = make(clock, topic="house/+/state", soc="bat.soc", pv_w="pv", load_w="load", battery_w="bat.p", grid_w="grid")
    with pytest.raises(BatteryError, match="no soc received yet"):
        src.read()
    assert ("connect", "broker.test", 1883, 60) in client.calls and ("auth", "u", "mq-secret") in client.calls
    src._on_connect(client, None, None, Ok())
    assert client.subscribed == ["house/+/state"]
    src.handle_message("house/main/state", b'{"bat": {"soc": 71, "p": -900}, "pv": 2000, "load": 800, "grid": -300}')
    clock.t += 5
    r = src.read()
    assert (r.soc_pct, r.pv_w, r.load_w, r.battery_w, r.grid_w) == (71, 2000, 800, -900, -300)
    assert r.measured_at == T0 and r.measured_at_from == "received"
    assert "mq-secret" not in repr(src)
    src.close()
    assert ("loop_stop",) in client.calls


def test_per_topic_solar_assistant_layout_with_sign_flip():
    clock = Clock()
    src, client = make(clock, soc="solar_assistant/total/battery_state_of_charge/state",
                       pv_w="solar_assistant/inverter_1/pv_power/state", load_w="solar_assistant/inverter_1/load_power/state",
                       battery_w="-solar_assistant/total/battery_power/state")  # SA: + = charging
    src._on_connect(client, None, None, Ok())
    assert len(client.subscribed) == 4
    src.handle_message("solar_assistant/total/battery_state_of_charge/state", b"55")
    src.handle_message("solar_assistant/inverter_1/pv_power/state", b"3000")
    src.handle_message("solar_assistant/inverter_1/load_power/state", b'{"value": 1000}')  # Victron style
    clock.t += 20
    src.handle_message("solar_assistant/total/battery_power/state", b"2000")
    r = src.read()
    assert r.battery_w == -2000 and r.soc_pct == 55 and r.load_w == 1000
    assert r.measured_at == T0  # the oldest required value


def test_unknown_or_empty_payload_is_missing_and_old_values_are_stale():
    clock = Clock()
    src, _ = make(clock, soc="s/soc", pv_w="s/pv", load_w="s/load", battery_w="s/bat")
    for topic, value in (("s/soc", b"80"), ("s/pv", b"0"), ("s/load", b"500"), ("s/bat", b"500")):
        src.handle_message(topic, value)
    assert src.read().soc_pct == 80
    src.handle_message("s/soc", b"unavailable")
    with pytest.raises(BatteryError, match="soc: missing"):
        src.read()
    src.handle_message("s/soc", b"80")
    src.handle_message("s/pv", b"")  # a vanished device
    with pytest.raises(BatteryError, match="pv_w: missing"):
        src.read()
    src.handle_message("s/pv", b"10")
    clock.t += 61  # nothing new for longer than max_age_sec
    with pytest.raises(BatteryError, match="61 s old"):
        src.read()


def test_without_paho_the_error_names_the_package(monkeypatch):
    for name in ("paho", "paho.mqtt", "paho.mqtt.client"):
        monkeypatch.setitem(sys.modules, name, None)  # import of a None module raises ImportError
    src = MqttSource(MqttConfig(host="broker.test", topic="t", fields=BatteryFields(soc="a", pv_w="b", load_w="c", battery_w="d")),
                     max_age_sec=60)
    with pytest.raises(BatteryError, match="needs the Python package paho-mqtt"):
        src.read()


def test_real_paho_client_is_built_when_installed():
    pytest.importorskip("paho.mqtt.client")
    from services.battery.mqtt import _paho_client
    client = _paho_client(MqttConfig(host="127.0.0.1"))
    assert hasattr(client, "connect_async") and hasattr(client, "loop_start")
