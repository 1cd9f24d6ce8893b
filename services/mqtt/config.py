"""The ``mqtt`` section of config.yaml: the broker this controller publishes to (docs/mqtt.md).

Not the battery's MQTT source (``battery.mqtt``, which only reads): its password
comes from MQTT_PASSWORD, this one's from MQTT_PUBLISH_PASSWORD, so both can differ.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field

from services import mqtt_tls

# A topic level or several, without MQTT wildcards, "$" at the start or empty levels.
_TOPIC_RE = re.compile(r"^[A-Za-z0-9_{}\-]+(/[A-Za-z0-9_{}\-]+)*$")
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{0,64}$")
PASSWORD_ENV = "MQTT_PUBLISH_PASSWORD"


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class MqttPublisherConfig:
    """Where and how the fleet is published; off until ``enabled: true``."""

    enabled: bool = False
    host: str = ""  # the broker's name or address (required when enabled)
    port: int = 1883  # 8883 is the usual TLS port
    username: str = ""
    password: str = field(default="", repr=False)  # env MQTT_PUBLISH_PASSWORD; never logged or returned
    tls: bool = False  # TLS with the system's CA certificates (or ca_file's)
    ca_file: str = ""  # a PEM CA certificate (the broker's own CA) to trust instead of the system's; implies TLS
    cert_file: str = ""  # a client certificate (PEM) for a broker that asks for one; implies TLS
    key_file: str = ""  # its private key (PEM, unencrypted, readable by the service's user only)
    # Every topic of this controller starts with it; "{site}" is replaced by the site name, so several
    # controllers on one broker can share one setting: "minerfleet/{site}" (docs/scale-out.md).
    base_topic: str = "minerfleet"
    discovery: bool = True  # publish Home Assistant MQTT discovery configs
    discovery_prefix: str = "homeassistant"  # Home Assistant's default
    # Command topics (<base>/<miner>/<control>/set): anyone who may publish to the broker can then
    # switch miners (MQTT has no per-message login; the broker's ACLs are the access control).
    commands: bool = True
    client_id: str = ""  # "" = minerfleet-<site>-<install id> (stable per DATA_DIR)
    min_interval_sec: float = 15  # a state topic is published at most this often
    keepalive_sec: int = 60

    def validate(self) -> None:
        _check(not self.enabled or self.host.strip() != "", "host: required when enabled (the broker's name or address)")
        _check(self.host == self.host.strip() and " " not in self.host, f"host: not a host name: {self.host!r}")
        _check(1 <= self.port <= 65535, f"port: must be 1-65535, got {self.port}")
        _check(bool(_TOPIC_RE.match(self.base_topic)),
               f"base_topic: topic levels of letters, digits, '-', '_' (and {{site}}), got {self.base_topic!r}")
        _check(bool(_TOPIC_RE.match(self.discovery_prefix)) and "{" not in self.discovery_prefix,
               f"discovery_prefix: topic levels of letters, digits, '-' or '_', got {self.discovery_prefix!r}")
        _check(bool(_CLIENT_ID_RE.match(self.client_id)),
               f"client_id: up to 64 letters, digits, '-' or '_', got {self.client_id!r}")
        _check(0 <= self.min_interval_sec <= 3600, f"min_interval_sec: must be 0-3600, got {self.min_interval_sec}")
        _check(10 <= self.keepalive_sec <= 3600, f"keepalive_sec: must be 10-3600, got {self.keepalive_sec}")
        _check(not self.password or bool(self.username), "password: needs a username")
        problem = mqtt_tls.ca_file_problem(self.ca_file)
        _check(problem is None, f"ca_file: {problem}")
        pair = mqtt_tls.client_cert_problem(self.cert_file, self.key_file)
        _check(pair is None, f"{pair[0]}: {pair[1]}" if pair else "")


def apply_env(data: dict, environ: typing.Mapping[str, str]) -> None:
    """MQTT_PUBLISH_PASSWORD replaces mqtt.password: the secret can stay out of config.yaml."""
    raw = environ.get(PASSWORD_ENV)
    if not raw:
        return
    section = data.get("mqtt")
    if section is None:
        section = data["mqtt"] = {}
    if isinstance(section, dict):  # otherwise the loader reports "mqtt: expected a mapping of keys"
        section["password"] = raw
