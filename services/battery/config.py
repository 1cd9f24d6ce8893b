"""The ``battery`` section of config.yaml: typed, frozen, defaults in code.

Field specs (HTTP and MQTT paths, Home Assistant entity ids) may start with
"-" to negate the value, as evcc does: e.g. a source whose battery power is
+ = charging is configured as ``battery_w: "-battery.power"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from services import mqtt_tls

SOURCES = ("eg4", "homeassistant", "http", "mqtt", "simulated", "none")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class BatteryFields:
    """Where each quantity is found: a dotted JSON path, an MQTT topic, or an HA entity id ("" = not available)."""

    soc: str = ""
    pv_w: str = ""
    load_w: str = ""
    battery_w: str = ""  # after any "-", + must mean discharging
    grid_w: str = ""  # optional; after any "-", + must mean import

    def missing_required(self) -> list[str]:
        """Names of the required quantities left empty (grid_w is optional)."""
        return [n for n in ("soc", "pv_w", "load_w", "battery_w") if not getattr(self, n).strip()]


@dataclass(frozen=True)
class EG4Config:
    """EG4 / Luxpower cloud portal (WManage)."""

    base_url: str = "https://monitor.eg4electronics.com"  # or server.luxpowertek.com, eu./us./na./sea./af. hosts
    username: str = ""  # env EG4_USERNAME
    password: str = field(default="", repr=False)  # env EG4_PASSWORD; never logged or returned
    serial: str = ""  # the inverter's 10-digit serial number
    load_field: str = "consumptionPower"  # runtime field holding the house load; off-grid units: "peps" (EPS output)
    min_poll_sec: float = 20  # the device uploads every 5-30 s; faster polling only loads the portal
    session_lifetime_sec: float = 7200  # the portal's JSESSIONID lasts about 2 h
    refresh_margin_sec: float = 300  # log in again this long before the lifetime ends
    timeout_sec: float = 10

    def validate(self) -> None:
        _check(self.base_url.startswith(("http://", "https://")), f"base_url: must start with http:// or https://, got {self.base_url!r}")
        _check(self.load_field in ("consumptionPower", "consumptionPower114", "peps"),
               f"load_field: must be consumptionPower, consumptionPower114 or peps, got {self.load_field!r}")
        _check(self.min_poll_sec >= 5, f"min_poll_sec: must be at least 5, got {self.min_poll_sec}")
        _check(self.session_lifetime_sec >= 600, f"session_lifetime_sec: must be at least 600, got {self.session_lifetime_sec}")
        _check(0 <= self.refresh_margin_sec < self.session_lifetime_sec,
               f"refresh_margin_sec: must be 0 to below session_lifetime_sec, got {self.refresh_margin_sec}")
        _check(0.5 <= self.timeout_sec <= 60, f"timeout_sec: must be 0.5-60, got {self.timeout_sec}")


@dataclass(frozen=True)
class HomeAssistantConfig:
    """Home Assistant REST API, one entity per quantity."""

    url: str = "http://homeassistant.local:8123"
    token: str = field(default="", repr=False)  # long-lived access token (env HA_TOKEN); never logged or returned
    entities: BatteryFields = field(default_factory=BatteryFields)  # entity ids, e.g. sensor.battery_soc
    timeout_sec: float = 5

    def validate(self) -> None:
        _check(self.url.startswith(("http://", "https://")), f"url: must start with http:// or https://, got {self.url!r}")
        _check(0.5 <= self.timeout_sec <= 60, f"timeout_sec: must be 0.5-60, got {self.timeout_sec}")


@dataclass(frozen=True)
class HttpConfig:
    """Generic HTTP JSON (Solar Assistant, Victron Venus bridges, home-made meters)."""

    url: str = ""
    fields: BatteryFields = field(default_factory=BatteryFields)  # dotted paths into the JSON reply
    time_field: str = ""  # dotted path to the measurement time (epoch s/ms or ISO 8601); "" = receive time
    timeout_sec: float = 5

    def validate(self) -> None:
        _check(not self.url or self.url.startswith(("http://", "https://")), f"url: must start with http:// or https://, got {self.url!r}")
        _check(0.5 <= self.timeout_sec <= 60, f"timeout_sec: must be 0.5-60, got {self.timeout_sec}")


@dataclass(frozen=True)
class MqttConfig:
    """MQTT (needs the optional package paho-mqtt)."""

    host: str = ""
    port: int = 1883
    username: str = ""
    password: str = field(default="", repr=False)  # env MQTT_PASSWORD; never logged or returned
    topic: str = ""  # topic carrying one JSON object; fields are dotted paths into it
    fields: BatteryFields = field(default_factory=BatteryFields)  # a path, or a topic (contains "/") with a plain-number payload
    keepalive_sec: int = 60
    tls: bool = False  # TLS with the system's CA certificates (or ca_file's); brokers usually listen on 8883
    ca_file: str = ""  # a PEM CA certificate (the broker's own CA) to trust instead of the system's; implies TLS
    cert_file: str = ""  # a client certificate (PEM) for a broker that asks for one; implies TLS
    key_file: str = ""  # its private key (PEM, unencrypted, readable by the service's user only)

    def validate(self) -> None:
        _check(1 <= self.port <= 65535, f"port: must be 1-65535, got {self.port}")
        _check(10 <= self.keepalive_sec <= 3600, f"keepalive_sec: must be 10-3600, got {self.keepalive_sec}")
        problem = mqtt_tls.ca_file_problem(self.ca_file)
        _check(problem is None, f"ca_file: {problem}")
        pair = mqtt_tls.client_cert_problem(self.cert_file, self.key_file)
        _check(pair is None, f"{pair[0]}: {pair[1]}" if pair else "")


@dataclass(frozen=True)
class SimulatedConfig:
    """A simulated house for the demo and the bench: clear-sky PV, a load profile, a battery."""

    pv_kw: float = 10.0  # PV array peak (DC) power
    battery_kwh: float = 14.3  # usable battery capacity
    efficiency: float = 0.92  # battery round trip
    max_charge_w: float = 7000
    max_discharge_w: float = 7000
    base_load_w: float = 600  # the house without miners, before the daily profile
    initial_soc: float = 60
    # The inverter's discharge cut-off (backup reserve, "discharge cut-off SOC" on EG4/Victron): below
    # it the battery is not discharged and loads come from the grid (off-grid: go unmet). 0 = none.
    reserve_soc: float = 0
    grid_tied: bool = True  # false = off-grid: surplus is curtailed, deficit is unmet load
    latitude: float = 36.07  # Greensboro, NC (the bench's TMY3 file)
    longitude: float = -79.79

    def validate(self) -> None:
        _check(0 <= self.pv_kw <= 1000, f"pv_kw: must be 0-1000, got {self.pv_kw}")
        _check(0.1 <= self.battery_kwh <= 10000, f"battery_kwh: must be 0.1-10000, got {self.battery_kwh}")
        _check(0.5 <= self.efficiency <= 1, f"efficiency: must be 0.5-1, got {self.efficiency}")
        _check(self.max_charge_w > 0, f"max_charge_w: must be > 0, got {self.max_charge_w}")
        _check(self.max_discharge_w > 0, f"max_discharge_w: must be > 0, got {self.max_discharge_w}")
        _check(self.base_load_w >= 0, f"base_load_w: must be >= 0, got {self.base_load_w}")
        _check(0 <= self.initial_soc <= 100, f"initial_soc: must be 0-100, got {self.initial_soc}")
        _check(0 <= self.reserve_soc < 100, f"reserve_soc: must be 0 or more and below 100, got {self.reserve_soc}")
        _check(-90 <= self.latitude <= 90, f"latitude: must be -90 to 90, got {self.latitude}")
        _check(-180 <= self.longitude <= 180, f"longitude: must be -180 to 180, got {self.longitude}")


@dataclass(frozen=True)
class BatteryConfig:
    """Where the house battery's readings come from.

    The default source is ``simulated`` so that an unedited config.yaml starts
    and the demo shows a house; simulated readings carry source "simulated" so
    the controller and the UI can refuse or flag them on a real site.
    """

    source: str = "simulated"  # eg4 | homeassistant | http | mqtt | simulated | none (no battery: grid-only EMS site)
    poll_sec: float = 10  # how often the battery job reads (eg4 returns its cache between portal polls)
    max_age_sec: float = 120  # readings older than this are refused (stale)
    max_soc_rate_pct_per_min: float = 3.0  # faster SOC changes are rejected as implausible (1C = 1.67 %/min)
    max_power_w: float = 100000  # any power beyond this is rejected as implausible
    eg4: EG4Config = field(default_factory=EG4Config)
    homeassistant: HomeAssistantConfig = field(default_factory=HomeAssistantConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    simulated: SimulatedConfig = field(default_factory=SimulatedConfig)

    def validate(self) -> None:
        _check(self.source in SOURCES, f"source: must be one of {', '.join(SOURCES)}, got {self.source!r}")
        _check(1 <= self.poll_sec <= 3600, f"poll_sec: must be 1-3600, got {self.poll_sec}")
        _check(self.max_age_sec >= 2 * self.poll_sec,
               f"max_age_sec: must be at least 2 x poll_sec ({2 * self.poll_sec:g}), got {self.max_age_sec}")
        _check(0.1 <= self.max_soc_rate_pct_per_min <= 100,
               f"max_soc_rate_pct_per_min: must be 0.1-100, got {self.max_soc_rate_pct_per_min}")
        _check(math.isfinite(self.max_power_w) and self.max_power_w > 0, f"max_power_w: must be > 0, got {self.max_power_w}")
        if self.source == "eg4":
            _check(bool(self.eg4.username), "eg4.username: required when source is eg4 (or env EG4_USERNAME)")
            _check(bool(self.eg4.password), "eg4.password: required when source is eg4 (or env EG4_PASSWORD)")
            _check(self.eg4.serial.strip().isalnum(), f"eg4.serial: the inverter serial number is required when source is eg4, got {self.eg4.serial!r}")
            _check(self.max_age_sec >= 3 * self.eg4.min_poll_sec,
                   f"max_age_sec: must be at least 3 x eg4.min_poll_sec ({3 * self.eg4.min_poll_sec:g}) for eg4, got {self.max_age_sec}")
        elif self.source == "homeassistant":
            _check(bool(self.homeassistant.token), "homeassistant.token: required when source is homeassistant (or env HA_TOKEN)")
            missing = self.homeassistant.entities.missing_required()
            _check(not missing, f"homeassistant.entities.{missing[0] if missing else ''}: required when source is homeassistant")
        elif self.source == "http":
            _check(bool(self.http.url), "http.url: required when source is http")
            missing = self.http.fields.missing_required()
            _check(not missing, f"http.fields.{missing[0] if missing else ''}: required when source is http")
        elif self.source == "mqtt":
            _check(bool(self.mqtt.host), "mqtt.host: required when source is mqtt")
            missing = self.mqtt.fields.missing_required()
            _check(not missing, f"mqtt.fields.{missing[0] if missing else ''}: required when source is mqtt")
            paths = [getattr(self.mqtt.fields, n) for n in ("soc", "pv_w", "load_w", "battery_w", "grid_w")]
            _check(bool(self.mqtt.topic) or all("/" in p for p in paths if p),
                   "mqtt.topic: required unless every field is a topic of its own")


# Secrets (and the EG4 account) may come from the environment instead of config.yaml.
ENV_OVERRIDES = {
    "EG4_USERNAME": ("eg4", "username"),
    "EG4_PASSWORD": ("eg4", "password"),
    "EG4_SERIAL": ("eg4", "serial"),
    "HA_TOKEN": ("homeassistant", "token"),
    "MQTT_PASSWORD": ("mqtt", "password"),
}


def apply_env(data: dict, environ) -> None:
    """Put the battery environment overrides into the raw YAML data (in place)."""
    for var, (sub, key) in ENV_OVERRIDES.items():
        raw = environ.get(var)
        if not raw:
            continue
        battery = data.get("battery")
        if battery is None:
            battery = data["battery"] = {}
        if not isinstance(battery, dict):
            return  # _build reports "battery: expected a mapping"
        section = battery.get(sub)
        if section is None:
            section = battery[sub] = {}
        if not isinstance(section, dict):
            return
        section[key] = raw
