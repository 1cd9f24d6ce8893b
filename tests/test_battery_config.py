"""The battery section of config.yaml: defaults, contract keys, env secrets, one-line errors naming the key; the factory."""

from __future__ import annotations

import pytest

from services.battery.eg4 import EG4Source
from services.battery.factory import make_source
from services.battery.homeassistant import HomeAssistantSource
from services.battery.http_json import HttpJsonSource
from services.battery.mqtt import MqttSource
from services.battery.simulated import SimulatedSource
from services.config import ConfigError, load_config


def load_text(tmp_path, text, environ=None):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path, environ=environ or {})


def test_defaults_make_an_unedited_config_work(tmp_path):
    cfg = load_text(tmp_path, "")
    assert cfg.battery.source == "simulated" and cfg.battery.poll_sec == 10 and cfg.battery.max_age_sec == 120
    assert isinstance(make_source(cfg), SimulatedSource)


def test_contract_keys_for_http(tmp_path):
    cfg = load_text(tmp_path, """
battery:
  source: http
  poll_sec: 15
  max_age_sec: 90
  http:
    url: http://192.168.1.20/status.json
    fields:
      soc: battery.soc
      pv_w: pv.power
      load_w: load.power
      battery_w: -battery.power
      grid_w: grid.power
""")
    b = cfg.battery
    assert (b.poll_sec, b.max_age_sec, b.http.url) == (15, 90, "http://192.168.1.20/status.json")
    assert b.http.fields.battery_w == "-battery.power" and b.http.fields.grid_w == "grid.power"
    assert isinstance(make_source(cfg), HttpJsonSource)


def test_env_secrets_fill_eg4_and_ha(tmp_path):
    cfg = load_text(tmp_path, "battery:\n  source: eg4\n  eg4:\n    serial: '1234567890'\n",
                    {"EG4_USERNAME": "me", "EG4_PASSWORD": "pw-from-env", "HA_TOKEN": "tok-from-env"})
    assert cfg.battery.eg4.username == "me" and cfg.battery.eg4.password == "pw-from-env"
    assert cfg.battery.homeassistant.token == "tok-from-env"
    assert "pw-from-env" not in repr(cfg) and "tok-from-env" not in repr(cfg)
    src = make_source(cfg)
    assert isinstance(src, EG4Source) and "pw-from-env" not in repr(src)


def test_factory_builds_ha_and_mqtt(tmp_path):
    fields = "      soc: a\n      pv_w: b\n      load_w: c\n      battery_w: d\n"
    ha = load_text(tmp_path, "battery:\n  source: homeassistant\n  homeassistant:\n    token: t\n    entities:\n" + fields)
    assert isinstance(make_source(ha), HomeAssistantSource)
    mq = load_text(tmp_path, "battery:\n  source: mqtt\n  mqtt:\n    host: broker\n    topic: house/state\n    fields:\n" + fields)
    src = make_source(mq.battery)
    assert isinstance(src, MqttSource)
    src.close()


@pytest.mark.parametrize("text, message", [
    ("battery:\n  source: tesla\n", "battery.source: must be one of eg4, homeassistant, http, mqtt, simulated"),
    ("battery:\n  poll_sec: 0\n", "battery.poll_sec: must be 1-3600"),
    ("battery:\n  poll_sec: 61\n", "battery.max_age_sec: must be at least 2 x poll_sec"),
    ("battery:\n  max_age_sec: fresh\n", "battery.max_age_sec: expected a number"),
    ("battery:\n  colour: red\n", "battery.colour: unknown key"),
    ("battery:\n  http:\n    fields:\n      soc_pct: x\n", "battery.http.fields.soc_pct: unknown key"),
    ("battery:\n  http:\n    url: ftp://x\n", "battery.http.url: must start with http:// or https://"),
    ("battery:\n  source: http\n", "battery.http.url: required when source is http"),
    ("battery:\n  source: http\n  http:\n    url: http://x/\n    fields:\n      soc: a\n", "battery.http.fields.pv_w: required"),
    ("battery:\n  source: eg4\n", "battery.eg4.username: required when source is eg4"),
    ("battery:\n  source: eg4\n  eg4:\n    username: u\n    password: p\n", "battery.eg4.serial: the inverter serial number is required"),
    ("battery:\n  source: eg4\n  max_age_sec: 30\n  eg4:\n    username: u\n    password: p\n    serial: '1'\n",
     "battery.max_age_sec: must be at least 3 x eg4.min_poll_sec"),
    ("battery:\n  eg4:\n    min_poll_sec: 1\n", "battery.eg4.min_poll_sec: must be at least 5"),
    ("battery:\n  eg4:\n    load_field: pToUser\n", "battery.eg4.load_field: must be consumptionPower, consumptionPower114 or peps"),
    ("battery:\n  source: homeassistant\n", "battery.homeassistant.token: required"),
    ("battery:\n  source: mqtt\n", "battery.mqtt.host: required when source is mqtt"),
    ("battery:\n  mqtt:\n    port: 0\n", "battery.mqtt.port: must be 1-65535"),
    ("battery:\n  simulated:\n    efficiency: 1.5\n", "battery.simulated.efficiency: must be 0.5-1"),
    ("battery:\n  simulated:\n    latitude: 95\n", "battery.simulated.latitude: must be -90 to 90"),
    ("battery: [1]\n", "battery: expected a mapping"),
])
def test_bad_values_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as exc:
        load_text(tmp_path, text)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_shipped_config_battery_section_equals_the_defaults():
    from pathlib import Path

    from services.battery.config import BatteryConfig

    cfg = load_config(Path(__file__).resolve().parent.parent / "config.yaml", environ={})
    assert cfg.battery == BatteryConfig()
