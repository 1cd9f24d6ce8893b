"""MQTT source (optional; needs paho-mqtt, imported only when this source is used).

Two layouts, mixable:
- ``mqtt.topic`` carries one JSON object and each field is a dotted path into it;
- a field containing "/" is a topic of its own whose payload is a plain number, a JSON number,
  or ``{"value": x}`` (Victron Venus ``N/...`` topics). Solar Assistant publishes this way.
A leading "-" negates a field (Solar Assistant's battery power is + = charging).
MQTT messages carry no measurement time, so each value is stamped when it arrives and the
reading's measured_at is the OLDEST of the required values (measured_at_from = "received").
An empty payload (a vanished Victron device) or "unknown"/"unavailable" makes a value missing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from typing import Any, Callable

from services import mqtt_tls

from .base import BatteryError, BatteryReading, BatterySource, SourceStatus, dig, optional_number, signed_path
from .config import MqttConfig
from .plausibility import PlausibilityGuard

log = logging.getLogger(__name__)
QUANTITIES = ("soc", "pv_w", "load_w", "battery_w", "grid_w")


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT subscription matching with + and # wildcards."""
    pat, parts = pattern.split("/"), topic.split("/")
    for i, p in enumerate(pat):
        if p == "#":
            return True
        if i >= len(parts) or (p != "+" and p != parts[i]):
            return False
    return len(pat) == len(parts)


def _payload_number(payload: bytes) -> Any:
    """A plain-number payload, a JSON number, or {"value": x}; None when empty."""
    text = payload.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return text  # "unknown", "12.5 W" ... judged by optional_number
    if isinstance(data, dict):
        return data.get("value")
    return data


def _paho_client(cfg: MqttConfig) -> Any:
    """A paho-mqtt client, or a BatteryError naming the missing package."""
    try:
        import paho.mqtt.client as paho
    except ImportError:
        raise BatteryError("battery.source mqtt needs the Python package paho-mqtt "
                           "(.venv/bin/pip install paho-mqtt)") from None
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    mqtt_tls.configure(client, tls=cfg.tls, ca_file=cfg.ca_file,  # battery.mqtt.tls / ca_file / cert_file
                       cert_file=cfg.cert_file, key_file=cfg.key_file)
    return client


class MqttSource(BatterySource):
    """Keeps the latest value of each quantity from MQTT messages."""

    name = "mqtt"

    def __init__(self, cfg: MqttConfig, *, max_age_sec: float, guard: PlausibilityGuard | None = None,
                 clock: Callable[[], float] = time.time,
                 client_factory: Callable[[MqttConfig], Any] = _paho_client) -> None:
        super().__init__(max_age_sec=max_age_sec, guard=guard, clock=clock)
        self.cfg = cfg
        self._client_factory = client_factory
        self._client: Any = None
        self._connected = False
        self._answered = True  # the broker answered (CONNACK) the current attempt; reset by on_pre_connect
        self._conn_error = ""  # why the last connect attempt failed ("" after a connect): TLS, refused, timeout
        self._values: dict[str, tuple[float | None, float]] = {}  # quantity -> (value, received at)
        self._vlock = threading.Lock()  # paho calls on_message from its own thread
        self._specs = {q: signed_path(getattr(cfg.fields, q)) for q in QUANTITIES if getattr(cfg.fields, q).strip()}

    def __repr__(self) -> str:
        return f"MqttSource(host={self.cfg.host!r}, port={self.cfg.port}, topic={self.cfg.topic!r})"

    # --- connection -------------------------------------------------------------
    def subscriptions(self) -> list[str]:
        """The topics to subscribe to."""
        topics = [self.cfg.topic] if self.cfg.topic else []
        topics += [path for path, _ in self._specs.values() if "/" in path]
        return sorted(set(topics))

    def start(self) -> None:
        """Connect in the background (idempotent); paho reconnects by itself."""
        if self._client is not None:
            return
        try:
            client = self._client_factory(self.cfg)
        except (OSError, ValueError) as exc:  # a TLS file removed or replaced since the start-up check
            raise BatteryError(f"MQTT: TLS: {mqtt_tls.files_text(self.cfg, 'battery.mqtt.')} unusable: "
                               f"{getattr(exc, 'strerror', None) or exc}") from None
        if self.cfg.username:
            client.username_pw_set(self.cfg.username, self.cfg.password or None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_pre_connect = self._on_pre_connect
        client.on_message = lambda _c, _u, msg: self.handle_message(msg.topic, msg.payload)
        client.connect_async(self.cfg.host, self.cfg.port, self.cfg.keepalive_sec)
        client.loop_start()
        self._client = client

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason_code: Any, _props: Any = None) -> None:
        self._answered = True
        failed = getattr(reason_code, "is_failure", False)
        self._connected = not failed
        if failed:
            self._conn_error = f"the broker refused the connection: {reason_code}"
            log.warning("MQTT %s:%s refused the connection: %s", self.cfg.host, self.cfg.port, reason_code)
            return
        self._conn_error = ""
        for topic in self.subscriptions():
            client.subscribe(topic)

    def _on_pre_connect(self, _client: Any, _userdata: Any) -> None:
        self._answered = False

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected = False
        if not self._answered and self._client is not None:
            # Dropped before any CONNACK: most often plain MQTT sent to a TLS port.
            self._set_conn_error(mqtt_tls.unanswered(mqtt_tls.tls_on(self.cfg),
                                                     "battery.mqtt.", self.cfg.cert_file))

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        """paho's thread: keep why the attempt failed (a TLS failure must not read like a silent broker)."""
        try:
            why = mqtt_tls.current_error(tls=mqtt_tls.tls_on(self.cfg),
                                         ca_key="battery.mqtt.ca_file", ca_file=self.cfg.ca_file)
        except Exception:  # noqa: BLE001 - paho's thread must live on whatever the description does
            why = ""
        self._set_conn_error(why or "connect failed")

    def _set_conn_error(self, why: str) -> None:
        if why != self._conn_error:  # logged once per cause, not once per retry
            log.warning("MQTT %s:%s: %s (retrying)", self.cfg.host, self.cfg.port, why)
        self._conn_error = why

    # --- messages ----------------------------------------------------------------
    def handle_message(self, topic: str, payload: bytes) -> None:
        """Store the values a message carries (called by paho's thread, or by tests)."""
        now = self.clock()
        found: dict[str, Any] = {}
        if self.cfg.topic and topic_matches(self.cfg.topic, topic):
            try:
                data = json.loads(payload.decode("utf-8", "replace"))
            except ValueError:
                data = None
            if data is not None:
                for q, (path, _sign) in self._specs.items():
                    if "/" not in path:
                        value = dig(data, path)
                        if value is not None:
                            found[q] = value
        for q, (path, _sign) in self._specs.items():
            if "/" in path and topic == path:
                found[q] = _payload_number(payload)
        with self._vlock:
            for q, raw in found.items():
                try:
                    number = optional_number(raw, q)
                except BatteryError:
                    number = None  # garbage is missing data, never zero
                self._values[q] = (None if number is None else number * self._specs[q][1], now)

    def _fetch(self) -> BatteryReading:
        self.start()
        now = self.clock()
        with self._vlock:
            values = dict(self._values)
        got: dict[str, float | None] = {}
        stamps = []
        for q in ("soc", "pv_w", "load_w", "battery_w"):
            if q not in values:
                where = "" if self._connected else f" (not connected to {self._where()})"
                raise BatteryError(f"MQTT: no {q} received yet{where}")
            value, at = values[q]
            if value is None:
                raise BatteryError(f"MQTT {q}: missing (last message had no usable value)")
            got[q] = value
            stamps.append(at)
        grid = values.get("grid_w")
        grid_w = grid[0] if grid and now - grid[1] <= self.max_age_sec else None
        return BatteryReading(soc_pct=got["soc"], pv_w=got["pv_w"], load_w=got["load_w"], battery_w=got["battery_w"],
                              grid_w=grid_w, measured_at=min(stamps), source=self.name, measured_at_from="received")

    def _where(self) -> str:
        """host:port, and why the last connect attempt failed when it did."""
        where = f"{self.cfg.host}:{self.cfg.port}"
        return f"{where}: {self._conn_error}" if self._conn_error else where

    def _session_age(self) -> float | None:
        return None

    def status(self) -> SourceStatus:
        """The base status; while not connected, last_error also says why the connection fails."""
        status = super().status()
        # Only while the source has no fresh reading: readings still within max_age_sec stay usable.
        if status.connected or self._connected or not self._conn_error or self._conn_error in status.last_error:
            return status
        line = f"MQTT: not connected to {self._where()}"
        return dataclasses.replace(status, last_error=f"{status.last_error}; {line}" if status.last_error else line)

    def close(self) -> None:
        """Stop paho's thread and disconnect."""
        if self._client is not None:
            try:
                self._client.loop_stop()
                self._client.disconnect()
            finally:
                self._client = None
                self._connected = False
