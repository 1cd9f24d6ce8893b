"""Home Assistant's MQTT discovery rules, for checking the configs we publish (tests only).

Transcribed from Home Assistant's own source (home-assistant/core, 2025):
- homeassistant/components/mqtt/discovery.py: the config topic
  ``<prefix>/<component>/[<node_id>/]<object_id>/config``, node_id and object_id of [a-zA-Z0-9_-].
- homeassistant/components/mqtt/schemas.py (MQTT_ENTITY_DEVICE_INFO_SCHEMA): a device needs at least one
  of identifiers/connections; its keys; configuration_url a URL.
- homeassistant/components/mqtt/config.py (MQTT_RO_SCHEMA: state_topic required; MQTT_RW_SCHEMA:
  command_topic required) and the platforms sensor.py, binary_sensor.py, switch.py, number.py
  (min < max), select.py (options required), button.py.
- homeassistant/components/sensor/const.py: DEVICE_CLASS_UNITS and DEVICE_CLASS_STATE_CLASSES (the
  entries for the device classes used here); binary_sensor and button device classes.
The discovery schemas drop unknown keys silently (vol.REMOVE_EXTRA), so a misspelt key would be lost
without an error: every key used must be one HA knows for that platform.
"""

from __future__ import annotations

import json
import re
from typing import Any

TOPIC_RE = re.compile(r"^(?P<prefix>.+?)/(?P<component>\w+)/(?P<node_id>[a-zA-Z0-9_-]+)/"
                      r"(?P<object_id>[a-zA-Z0-9_-]+)/config$")

DEVICE_KEYS = {"identifiers", "connections", "manufacturer", "model", "model_id", "name", "hw_version",
               "serial_number", "sw_version", "via_device", "suggested_area", "configuration_url"}
COMMON_KEYS = {"name", "unique_id", "device", "origin", "availability_topic", "payload_available",
               "payload_not_available", "availability", "availability_mode", "icon", "entity_category",
               "enabled_by_default", "json_attributes_topic", "json_attributes_template", "qos", "object_id",
               "default_entity_id", "entity_picture", "encoding"}
PLATFORM_KEYS = {
    "sensor": {"state_topic", "value_template", "unit_of_measurement", "device_class", "state_class",
               "expire_after", "force_update", "last_reset_value_template", "options",
               "suggested_display_precision"},
    "binary_sensor": {"state_topic", "value_template", "payload_on", "payload_off", "device_class",
                      "expire_after", "force_update", "off_delay"},
    "switch": {"state_topic", "value_template", "command_topic", "command_template", "payload_on",
               "payload_off", "state_on", "state_off", "optimistic", "retain", "device_class"},
    "number": {"state_topic", "value_template", "command_topic", "command_template", "min", "max", "step",
               "mode", "unit_of_measurement", "device_class", "optimistic", "retain", "payload_reset"},
    "select": {"state_topic", "value_template", "command_topic", "command_template", "options", "optimistic",
               "retain"},
    "button": {"command_topic", "command_template", "payload_press", "device_class", "retain"},
}
REQUIRED = {"sensor": {"state_topic"}, "binary_sensor": {"state_topic"}, "switch": {"command_topic"},
            "number": {"command_topic"}, "select": {"command_topic", "options"}, "button": {"command_topic"}}
# sensor/const.py, for the device classes a miner or the controller can use.
SENSOR_UNITS = {"power": {"W", "kW", "MW", "GW", "TW", "mW", "BTU/h"},
                "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal",
                           "Mcal", "Gcal"},
                "temperature": {"°C", "°F", "K"}, "battery": {"%"}}
SENSOR_STATE_CLASSES = {"power": {"measurement"}, "energy": {"total", "total_increasing"},
                        "temperature": {"measurement"}, "battery": {"measurement"}}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
NUMBER_UNITS = {"power": {"W", "kW", "MW", "GW", "TW", "mW", "BTU/h"}}
BINARY_SENSOR_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
                         "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving",
                         "occupancy", "opening", "plug", "power", "presence", "problem", "running", "safety",
                         "smoke", "sound", "tamper", "update", "vibration", "window"}
BUTTON_CLASSES = {"identify", "restart", "update"}
ENTITY_CATEGORIES = {"config", "diagnostic"}
_TOPIC_CHARS = re.compile(r"^[^#+\x00]+$")


def check_config(topic: str, raw: bytes | str, prefix: str = "homeassistant") -> list[str]:
    """Problems with one discovery message (empty list = HA would take it); an empty payload is a removal."""
    problems: list[str] = []
    match = TOPIC_RE.match(topic)
    if not match or match["prefix"] != prefix:
        return [f"{topic}: not <{prefix}>/<component>/<node_id>/<object_id>/config"]
    component = match["component"]
    if component not in PLATFORM_KEYS:
        return [f"{topic}: component {component!r} not checked here"]
    if not raw:
        return []
    try:
        cfg = json.loads(raw)
    except ValueError:
        return [f"{topic}: payload is not JSON"]
    if not isinstance(cfg, dict):
        return [f"{topic}: payload is not an object"]
    unknown = set(cfg) - COMMON_KEYS - PLATFORM_KEYS[component]
    if unknown:
        problems.append(f"{topic}: keys HA's {component} schema does not know: {sorted(unknown)}")
    for key in REQUIRED[component]:
        if not cfg.get(key):
            problems.append(f"{topic}: {key} required")
    for key in ("state_topic", "command_topic", "availability_topic"):
        if key in cfg and not (isinstance(cfg[key], str) and _TOPIC_CHARS.match(cfg[key])):
            problems.append(f"{topic}: {key} is not a topic without wildcards")
    if not isinstance(cfg.get("unique_id"), str) or not cfg["unique_id"]:
        problems.append(f"{topic}: unique_id missing")
    if not isinstance(cfg.get("name"), str) or not cfg["name"]:
        problems.append(f"{topic}: name missing")
    device = cfg.get("device")
    if not isinstance(device, dict):
        problems.append(f"{topic}: device block missing")
    else:
        if set(device) - DEVICE_KEYS:
            problems.append(f"{topic}: unknown device keys {sorted(set(device) - DEVICE_KEYS)}")
        ids = device.get("identifiers")
        if not (isinstance(ids, list) and ids and all(isinstance(i, str) and i for i in ids)):
            problems.append(f"{topic}: device.identifiers must be a non-empty list of strings")
        url = device.get("configuration_url")
        if url is not None and not re.match(r"^(https?|homeassistant)://\S+$", str(url)):
            problems.append(f"{topic}: device.configuration_url is not a URL: {url!r}")
    if "origin" in cfg and not (isinstance(cfg["origin"], dict) and cfg["origin"].get("name")):
        problems.append(f"{topic}: origin needs a name")
    if cfg.get("entity_category") not in (None, *ENTITY_CATEGORIES):
        problems.append(f"{topic}: entity_category {cfg['entity_category']!r}")
    dc, unit, sc = cfg.get("device_class"), cfg.get("unit_of_measurement"), cfg.get("state_class")
    if component == "sensor":
        if dc is not None:
            if dc not in SENSOR_UNITS:
                problems.append(f"{topic}: sensor device_class {dc!r} not one this check knows")
            elif unit not in SENSOR_UNITS[dc]:
                problems.append(f"{topic}: unit {unit!r} not allowed for device_class {dc}")
            elif sc is not None and sc not in SENSOR_STATE_CLASSES[dc]:
                problems.append(f"{topic}: state_class {sc!r} not allowed for device_class {dc}")
        if sc is not None and sc not in STATE_CLASSES:
            problems.append(f"{topic}: state_class {sc!r}")
        if "options" in cfg and dc != "enum":
            problems.append(f"{topic}: options only with device_class enum")
    elif component == "binary_sensor" and dc is not None and dc not in BINARY_SENSOR_CLASSES:
        problems.append(f"{topic}: binary_sensor device_class {dc!r}")
    elif component == "button" and dc is not None and dc not in BUTTON_CLASSES:
        problems.append(f"{topic}: button device_class {dc!r}")
    elif component == "number":
        low, high, step = cfg.get("min", 1), cfg.get("max", 100), cfg.get("step", 1)
        if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
            problems.append(f"{topic}: number needs min < max, got {low}, {high}")
        if not (isinstance(step, (int, float)) and step > 0):
            problems.append(f"{topic}: number step must be > 0")
        if cfg.get("mode", "auto") not in ("auto", "box", "slider"):
            problems.append(f"{topic}: number mode {cfg['mode']!r}")
        if dc is not None and (dc not in NUMBER_UNITS or unit not in NUMBER_UNITS[dc]):
            problems.append(f"{topic}: number device_class {dc!r} with unit {unit!r}")
    elif component == "select":
        options = cfg.get("options")
        if not (isinstance(options, list) and options and all(isinstance(o, str) for o in options)):
            problems.append(f"{topic}: select options must be a non-empty list of strings")
    return problems


def check_all(configs: dict[str, Any], prefix: str = "homeassistant") -> list[str]:
    """Problems across a set of discovery messages, unique_id clashes included."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for topic, raw in configs.items():
        problems += check_config(topic, raw, prefix)
        if raw:
            try:
                uid = json.loads(raw).get("unique_id")
            except (ValueError, AttributeError):
                continue
            if uid in seen:
                problems.append(f"{topic}: unique_id {uid!r} also used by {seen[uid]}")
            seen[uid] = topic
    return problems


def render(template: str, payload: bytes | str) -> str:
    """Render a value_template as HA does for a JSON state payload (value, value_json)."""
    from jinja2 import Environment

    text = payload.decode() if isinstance(payload, bytes) else payload
    try:
        value_json = json.loads(text)
    except ValueError:
        value_json = None
    return Environment().from_string(template).render(value=text, value_json=value_json)
