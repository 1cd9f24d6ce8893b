"""Home Assistant MQTT discovery configs: a device per miner and one for the controller (pure functions).

Rules followed (Home Assistant's MQTT integration and sensor constants, checked by tests/test_mqtt_discovery.py):
config topics ``<prefix>/<component>/<node_id>/<object_id>/config`` with ids of [A-Za-z0-9_-]; a
``unique_id`` per entity and a ``device`` with ``identifiers``; ``state_topic`` for sensors and binary
sensors, ``command_topic`` for switch, number, select and button; a select lists its ``options``; a
number's ``min`` is below its ``max``; units that HA accepts for each ``device_class`` (power W, energy
kWh with state_class total_increasing, temperature °C, battery %). HA has no hashrate device class, so
hashrate is a plain measurement in TH/s. Every entity is unavailable while ``<base>/status`` is "offline".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from miners import base
from services.miner_state import MinerRecord
from services.mqtt.identity import miner_id
from services.mqtt.topics import CONTROL, Topics
from services.power.model_power import DEFAULT_MIN_FRACTION, MIN_FRACTION, lookup_model

API_MAX_W = 100_000  # POST /api/miners/<ip>/power accepts 1-100000 W (web/miner_commands.py); so do the command topics
ORIGIN = {"name": "minerfleet"}
MANUFACTURERS = {
    "antminer": "Bitmain", "vnish": "Bitmain", "luxos": "Bitmain", "braiins": "Bitmain", "hiveon": "Bitmain",
    "marathon": "Bitmain", "whatsminer": "MicroBT", "avalon": "Canaan", "auradine": "Auradine",
    "goldshell": "Goldshell", "innosilicon": "Innosilicon", "bitaxe": "Bitaxe", "nmminer": "NMMiner",
}
# Every entity key a miner can have: a deleted miner's configs are emptied for all of them.
MINER_KEYS = (("sensor", "hashrate"), ("sensor", "power"), ("sensor", "energy"), ("sensor", "temperature"),
              ("sensor", "fan"), ("sensor", "efficiency"), ("binary_sensor", "online"), ("switch", "mining"),
              ("number", "power_target"), ("select", "mode"), ("button", "restart"))


@dataclass(frozen=True)
class Site:
    """What every config of this controller shares."""

    name: str  # Config.site
    topics: Topics
    commands: bool  # mqtt.commands: controls are announced only when commands are taken
    dashboard_url: str | None = None  # the controller device's configuration_url

    @property
    def controller_ident(self) -> str:
        """The controller device's identifier (the miners' via_device)."""
        return f"minerfleet_{self.name}"

    def node(self, miner: str) -> str:
        """The discovery node_id of one miner (site in it: several controllers share one HA)."""
        return f"minerfleet_{self.name}_{miner}"

    @property
    def controller_node(self) -> str:
        """The controller's node_id."""
        return f"minerfleet_{self.name}_controller"

    def availability(self) -> dict[str, Any]:
        """The availability keys every entity carries."""
        return {"availability_topic": self.topics.status, "payload_available": "online",
                "payload_not_available": "offline"}


def power_range(record: MinerRecord, min_w: float | None = None, max_w: float | None = None,
                nominal_w: float | None = None) -> tuple[int, int] | None:
    """(min, max) watts for a miner's power-target number: config overrides, else the model table; None = unknown."""
    row = lookup_model(record.family, record.model)
    nominal = nominal_w or (row.nominal_w if row else None)
    if nominal is None and (min_w is None or max_w is None):
        return None
    low = min_w if min_w is not None else nominal * MIN_FRACTION.get(record.family, DEFAULT_MIN_FRACTION)
    high = max_w if max_w is not None else nominal
    low, high = max(1, int(low)), min(API_MAX_W, int(round(high)))
    return (low, high) if low < high else None


def _device(record: MinerRecord, site: Site) -> dict[str, Any]:
    status = record.status
    model = (status.model if status and status.model else record.model) or record.family
    device: dict[str, Any] = {
        "identifiers": [f"{site.node(miner_id(record.ip))}"],
        "name": record.name or f"{model} {record.ip}",
        "model": model,
        "via_device": site.controller_ident,
        "configuration_url": f"http://{record.ip}/",
    }
    if MANUFACTURERS.get(record.family):
        device["manufacturer"] = MANUFACTURERS[record.family]
    firmware = " ".join(x for x in (status.firmware if status else None,
                                     status.firmware_version if status else None) if x)
    if firmware:
        device["sw_version"] = firmware
    return device


def _entity(site: Site, node: str, key: str, name: str, device: dict[str, Any], **fields: Any) -> dict[str, Any]:
    payload = {"name": name, "unique_id": f"{node}_{key}", "device": device, "origin": ORIGIN,
               **site.availability()}
    payload.update({k: v for k, v in fields.items() if v is not None})
    return payload


def _sensor(site: Site, node: str, key: str, name: str, device: dict, state_topic: str, field: str, *,
            unit: str | None = None, device_class: str | None = None, state_class: str | None = "measurement",
            icon: str | None = None, template: str | None = None, category: str | None = None) -> dict:
    return _entity(site, node, key, name, device, state_topic=state_topic,
                   value_template=template or f"{{{{ value_json.{field} }}}}", unit_of_measurement=unit,
                   device_class=device_class, state_class=state_class, icon=icon, entity_category=category)


def miner_configs(record: MinerRecord, site: Site, power: tuple[int, int] | None = None) -> dict[str, dict]:
    """Config topic -> payload for every entity this miner has now (its controls only with commands on)."""
    mid = miner_id(record.ip)
    node = site.node(mid)
    device = _device(record, site)
    state = site.topics.state(mid)
    out: dict[str, dict] = {}

    def put(component: str, key: str, payload: dict) -> None:
        out[site.topics.config(component, node, key)] = payload

    put("sensor", "hashrate", _sensor(site, node, "hashrate", "Hashrate", device, state, "hashrate_ths",
                                      unit="TH/s", icon="mdi:speedometer"))
    reports_power = record.status is None or record.status.power_w is not None
    if reports_power:  # stock Antminer and cgminer report no power: no sensors that would stay unknown
        put("sensor", "power", _sensor(site, node, "power", "Power", device, state, "power_w",
                                       unit="W", device_class="power"))
        put("sensor", "energy", _sensor(site, node, "energy", "Energy (estimate)", device, state, "energy_kwh",
                                        unit="kWh", device_class="energy", state_class="total_increasing"))
        put("sensor", "efficiency", _sensor(site, node, "efficiency", "Efficiency", device, state,
                                            "efficiency_j_th", unit="J/TH", icon="mdi:leaf"))
    put("sensor", "temperature", _sensor(site, node, "temperature", "Temperature", device, state, "temp_c",
                                         unit="°C", device_class="temperature"))
    put("sensor", "fan", _sensor(site, node, "fan", "Fan", device, state, "fan_rpm", unit="rpm", icon="mdi:fan"))
    put("binary_sensor", "online", _entity(site, node, "online", "Online", device, state_topic=state,
                                           value_template="{{ 'ON' if value_json.online else 'OFF' }}",
                                           payload_on="ON", payload_off="OFF", device_class="connectivity"))
    if not site.commands:
        return out
    caps = record.driver.capabilities
    topics = site.topics
    if base.SLEEP in caps and base.WAKE in caps:
        put("switch", "mining", _entity(site, node, "mining", "Mining", device, state_topic=state,
                                        value_template="{{ 'ON' if value_json.mining else 'OFF' }}",
                                        command_topic=topics.command(mid, "mining"), payload_on="ON",
                                        payload_off="OFF", state_on="ON", state_off="OFF", icon="mdi:pickaxe"))
    if base.POWER_WATTS in caps:
        low, high = power or (1, API_MAX_W)
        put("number", "power_target", _entity(site, node, "power_target", "Power target", device,
                                       command_topic=topics.command(mid, "power"), min=low, max=high, step=1,
                                       unit_of_measurement="W", device_class="power",
                                       mode="slider" if power else "box", entity_category="config"))
    elif base.POWER_PERCENT in caps:
        put("number", "power_target", _entity(site, node, "power_target", "Power target", device,
                                       command_topic=topics.command(mid, "power"), min=0, max=100, step=1,
                                       unit_of_measurement="%", mode="slider", entity_category="config"))
    if base.MODE in caps and record.driver.modes:
        put("select", "mode", _entity(site, node, "mode", "Mode", device, command_topic=topics.command(mid, "mode"),
                                      options=list(record.driver.modes), entity_category="config"))
    if base.RESTART in caps:
        put("button", "restart", _entity(site, node, "restart", "Restart", device,
                                         command_topic=topics.command(mid, "restart"), payload_press="PRESS",
                                         device_class="restart", entity_category="config"))
    return out


def miner_config_topics(mid: str, site: Site) -> list[str]:
    """Every config topic a miner can have (a deleted miner's are all emptied)."""
    return [site.topics.config(component, site.node(mid), key) for component, key in MINER_KEYS]


def controller_configs(site: Site, *, battery: bool, price_unit: str | None = None) -> dict[str, dict]:
    """Config topic -> payload for the controller device: autocontrol, policy, fleet target, SOC, decision, EMS."""
    node = site.controller_node
    topics = site.topics
    device: dict[str, Any] = {"identifiers": [site.controller_ident], "name": f"Minerfleet {site.name}",
                              "manufacturer": "minerfleet", "model": "Mining fleet controller"}
    if site.dashboard_url:
        device["configuration_url"] = site.dashboard_url
    out: dict[str, dict] = {}

    def put(component: str, key: str, payload: dict) -> None:
        out[topics.config(component, node, key)] = payload

    put("sensor", "fleet_power", _sensor(site, node, "fleet_power", "Fleet power", device, topics.fleet,
                                         "power_w", unit="W", device_class="power"))
    put("sensor", "fleet_hashrate", _sensor(site, node, "fleet_hashrate", "Fleet hashrate", device, topics.fleet,
                                            "hashrate_ths", unit="TH/s", icon="mdi:speedometer"))
    put("sensor", "miners_online", _sensor(site, node, "miners_online", "Miners online", device, topics.fleet,
                                           "online", icon="mdi:server-network"))
    put("sensor", "target", _sensor(site, node, "target", "Target", device, topics.control, "target_percent",
                                    unit="%", icon="mdi:target"))
    put("sensor", "decision", _sensor(site, node, "decision", "Decision", device, topics.control, "reason",
                                      state_class=None, icon="mdi:head-cog",
                                      # HA keeps at most 255 characters of a state
                                      template="{{ (value_json.reason or '')[:250] }}"))
    put("sensor", "ems_state", _sensor(site, node, "ems_state", "EMS state", device, topics.control, "ems_state",
                                       state_class=None, icon="mdi:transmission-tower"))
    put("sensor", "price", _sensor(site, node, "price", "Electricity price", device, topics.control, "price",
                                   unit=price_unit, state_class="measurement" if price_unit else None,
                                   icon="mdi:cash"))
    if battery:
        put("sensor", "soc", _sensor(site, node, "soc", "Battery SOC", device, topics.battery, "soc_pct",
                                     unit="%", device_class="battery"))
    if site.commands:
        put("switch", "autocontrol", _entity(site, node, "autocontrol", "Autocontrol", device,
                                             state_topic=topics.control,
                                             value_template="{{ 'ON' if value_json.enabled else 'OFF' }}",
                                             command_topic=topics.command(CONTROL, "autocontrol"),
                                             payload_on="ON", payload_off="OFF", state_on="ON", state_off="OFF",
                                             icon="mdi:solar-power"))
        put("select", "policy", _entity(site, node, "policy", "Policy", device, state_topic=topics.control,
                                        value_template="{{ value_json.policy }}",
                                        command_topic=topics.command(CONTROL, "policy"),
                                        options=["ratchet", "surplus"], entity_category="config"))
        put("number", "fleet_target", _entity(site, node, "fleet_target", "Fleet target (override)", device,
                                              state_topic=topics.control,
                                              value_template="{{ value_json.override_percent }}",
                                              command_topic=topics.command(CONTROL, "fleet_target"),
                                              min=0, max=100, step=1, unit_of_measurement="%", mode="slider"))
    return out


def empty(topics: Iterable[str]) -> dict[str, str]:
    """An empty retained payload per topic: Home Assistant removes those entities."""
    return {topic: "" for topic in topics}
