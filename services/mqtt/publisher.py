"""The MQTT publisher: availability with a last will, state after every poll round, HA discovery, commands.

Threads: paho's network thread (``loop_start``: connects, reconnects with backoff, calls the
callbacks below) and one worker ("mqtt-publish") that builds and publishes payloads. The poll
thread only calls ``on_round``, which sets a flag: a slow or dead broker never holds a poll round.
Commands run on their own thread (commands.py). ``close`` ends all three and the socket.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from services import mqtt_tls
from services.config import Config
from services.miner_state import iso
from services.mqtt import discovery, payloads
from services.mqtt.commands import CommandRunner
from services.mqtt.energy import EnergyMeter
from services.mqtt.identity import client_id, miner_id
from services.mqtt.topics import CONTROL, Topics

log = logging.getLogger(__name__)

QOS = 1  # retained configs and states must arrive; the broker keeps one copy per topic
UNSENT_RETRY_S = 1.0  # configs paho had no room for are tried again this soon (its queue drains in ms on a LAN)
IDLE_WAKE_S = 30.0  # the worker looks again this often without a round (battery, controller, throttled states)
FORCE_AFTER_COMMAND_S = 10.0  # a commanded miner's state bypasses the throttle this long (its re-poll shows it)
MAX_QUEUED = 5000  # paho's outgoing queue bound (a full round of a 500-miner fleet fits ten times)
DEVICES_FILE = "mqtt_devices.json"  # miner ids announced to HA: one deleted while the app was down is cleared


class MqttPublisher:
    """Publishes one controller's fleet to a broker (docs/mqtt.md)."""

    def __init__(self, config: Config, runtime: Any, *, client_factory: Callable[..., Any] | None = None) -> None:
        self.config = config
        self.cfg = config.mqtt
        self.site = config.site
        self.runtime = runtime
        self.fleet = runtime.fleet
        self.topics = Topics.build(self.cfg.base_topic, self.cfg.discovery_prefix, self.site)
        self.client_id = client_id(self.cfg.client_id, self.site, config.data_path)
        self.energy = EnergyMeter()
        self._client_factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._worker: threading.Thread | None = None
        self._connected = False
        self._answered = True  # the broker answered (CONNACK) the current attempt; reset by on_pre_connect
        self._full_sync = False  # set on (re)connect and by republish(): everything again, unthrottled
        self._round = False  # a poll round (or a delete) happened since the worker last looked
        self._last_sent: dict[str, float] = {}  # state topic -> monotonic time of its last publish
        self._sent_config: dict[str, str] = {}  # discovery topic -> the payload last published there
        # Configs paho's queue had no room for (a first burst of a large fleet: 500 miners are ~5,000
        # config and state messages): sent, in order, on the next passes instead of being lost.
        self._unsent_config: dict[str, str] = {}
        self._queue_full_logged = False
        self._force_until: dict[str, float] = {}  # target -> monotonic deadline of its unthrottled state
        self._last_brief: dict[str, tuple] = {}  # miner id -> (state name, run state) last seen
        self._miner_sig: dict[str, tuple] = {}  # miner id -> what its discovery configs were built from
        self._controller_topics: set[str] = set()  # every controller config topic announced by this process
        self._devices_path = config.data_path / DEVICES_FILE
        self._announced: set[str] = self._load_devices()  # miner ids with configs on the broker
        self.connects = 0
        self.connect_failures = 0  # attempts that failed before the broker answered (refused, TLS, timeout)
        self.published = 0
        self.last_publish_ts: float | None = None
        self.last_error: str | None = None
        self.last_error_ts: float | None = None
        self.commands: CommandRunner | None = None
        if self.cfg.commands:
            self.commands = CommandRunner(self.fleet, runtime.autocontrol, self.topics, self._publish_json,
                                          on_done=self._commanded)

    # --- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (paho's thread retries with backoff) and start the worker."""
        host, port = self.cfg.host, self.cfg.port
        try:
            self._client = self._make_client()
        except (OSError, ValueError) as exc:  # a TLS file removed or replaced since the start-up check
            why = getattr(exc, "strerror", None) or exc
            self._error(f"TLS: {mqtt_tls.files_text(self.cfg, 'mqtt.')} unusable: {why} "
                        "(not connecting; fix it and restart)")
            return
        self._client.connect_async(host, port, keepalive=self.cfg.keepalive_sec)
        self._client.loop_start()
        if self.commands is not None:
            self.commands.start()
        self._worker = threading.Thread(target=self._work, name="mqtt-publish", daemon=True)
        self._worker.start()
        log.info("mqtt: publishing to %s:%d as %s under %s/", host, port, self.client_id, self.topics.base)

    def _make_client(self) -> Any:
        if self._client_factory is not None:
            return self._client_factory(self)
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True)
        if self.cfg.username:
            client.username_pw_set(self.cfg.username, self.cfg.password or None)
        mqtt_tls.configure(client, tls=self.cfg.tls, ca_file=self.cfg.ca_file,  # mqtt.tls / ca_file / cert_file
                           cert_file=self.cfg.cert_file, key_file=self.cfg.key_file)
        # The broker publishes this if the connection dies without a DISCONNECT (crash, power cut, network).
        client.will_set(self.topics.status, "offline", qos=QOS, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_pre_connect = self._on_pre_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def close(self, timeout: float = 5.0) -> None:
        """Publish "offline", disconnect, end the worker, the command thread and paho's thread; safe twice."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout)
        if self.commands is not None:
            self.commands.close(timeout)
        client = self._client
        if client is None:
            return
        try:
            if self._connected:
                # A clean DISCONNECT suppresses the last will, so say it ourselves.
                info = client.publish(self.topics.status, "offline", qos=QOS, retain=True)
                info.wait_for_publish(timeout=2.0)
        except Exception as exc:  # noqa: BLE001 - the broker went away meanwhile: the will says it
            log.debug("mqtt: offline not published at close: %s", exc)
        try:
            client.disconnect()
        finally:
            client.loop_stop()  # joins paho's thread; the socket is closed by disconnect
        self._connected = False
        # paho closes its internal wake-up socket pair only when the client object is freed.
        self._client = None
        log.info("mqtt: disconnected from %s:%d", self.cfg.host, self.cfg.port)

    # --- what the rest of the app calls ---------------------------------------------
    def on_round(self, _message: dict | None = None) -> None:
        """FleetManager listener (the poll thread): only marks work for the worker, never blocks."""
        self._round = True
        self._wake.set()

    def republish(self) -> None:
        """Publish availability, discovery and every state again now (the dashboard's button)."""
        with self._lock:
            self._full_sync = True
        self._wake.set()

    def status(self) -> dict[str, Any]:
        """Connection state for the dashboard and the API; never the password."""
        return {
            "enabled": True, "connected": self._connected, "host": self.cfg.host, "port": self.cfg.port,
            "tls": mqtt_tls.tls_on(self.cfg), "ca_file": self.cfg.ca_file or None,
            "client_cert": self.cfg.cert_file or None,
            "username": self.cfg.username or None, "client_id": self.client_id,
            "base_topic": self.topics.base, "status_topic": self.topics.status,
            "discovery": self.cfg.discovery, "discovery_prefix": self.cfg.discovery_prefix,
            "commands": self.cfg.commands, "min_interval_sec": self.cfg.min_interval_sec,
            "connects": self.connects, "published": self.published,
            "last_publish": iso(self.last_publish_ts), "last_publish_ts": self.last_publish_ts,
            "last_error": self.last_error, "last_error_at": iso(self.last_error_ts),
            "devices": len(self._announced),
            "configs": sum(1 for text in list(self._sent_config.values()) if text),  # retained on the broker
            "configs_waiting": len(self._unsent_config),  # not yet taken by paho's queue
        }

    # --- paho callbacks (paho's network thread: quick, never raise) ------------------
    def _on_pre_connect(self, _client: Any, _userdata: Any) -> None:
        self._answered = False

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        self._answered = True
        if getattr(reason, "is_failure", False):
            self._error(f"the broker refused the connection: {reason}")
            return
        self.connects += 1
        client.publish(self.topics.status, "online", qos=QOS, retain=True)
        client.subscribe(self.topics.ha_status, qos=QOS)
        if self.commands is not None:
            client.subscribe(self.topics.commands, qos=QOS)
        if self.last_error is not None or self.connects > 1:
            log.warning("mqtt: connected to %s:%d again", self.cfg.host, self.cfg.port)
            self._event("mqtt_connected", f"MQTT broker {self.cfg.host}:{self.cfg.port} connected again", "info")
        # Set after the event: whoever sees `connected` also finds the reconnection on the Events page.
        self.last_error = None
        self._connected = True
        # A restarted broker without persistence has lost every retained message: publish all again.
        self.republish()

    def _on_connect_fail(self, _client: Any, _userdata: Any) -> None:
        self.connect_failures += 1
        # Why: a TLS failure (wrong CA, a certificate for another name) must not read like a broker that is down.
        try:
            why = mqtt_tls.current_error(tls=mqtt_tls.tls_on(self.cfg), ca_key="mqtt.ca_file",
                                         ca_file=self.cfg.ca_file)
        except Exception:  # noqa: BLE001 - paho's thread must live on whatever the description does
            why = ""
        where = f"{self.cfg.host}:{self.cfg.port}"
        self._error(f"cannot connect to {where}: {why} (retrying with backoff)" if why
                    else f"cannot connect to {where} (retrying with backoff)")

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if self._closed.is_set() or not self._connected:
            self._connected = False
            if not self._closed.is_set() and not self._answered:
                # Dropped before any CONNACK: paho only says "lost"; most often plain MQTT sent to a TLS port.
                why = mqtt_tls.unanswered(mqtt_tls.tls_on(self.cfg), "mqtt.",
                                          self.cfg.cert_file)
                self._error(f"cannot connect to {self.cfg.host}:{self.cfg.port}: {why} (retrying with backoff)")
            return
        # The reason is recorded before `connected` turns false: status() never shows a drop without its reason.
        message = f"connection lost: {reason} (reconnecting)"
        previous = self._record_error(message)
        self._connected = False
        self._report_error(message, previous)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        try:
            if message.topic == self.topics.ha_status:
                if message.payload == b"online":  # Home Assistant started: announce again
                    self.republish()
                return
            if self.commands is not None and not message.retain:  # a retained command is a stale one
                self.commands.submit(message.topic, bytes(message.payload))
        except Exception:  # noqa: BLE001 - never let a message end paho's thread
            log.exception("mqtt: message on %s not handled", getattr(message, "topic", "?"))

    def _error(self, message: str) -> None:
        self._report_error(message, self._record_error(message))

    def _record_error(self, message: str) -> str | None:
        """Set the error status() shows; returns the one before it."""
        previous = self.last_error
        self.last_error, self.last_error_ts = message, time.time()
        return previous

    def _report_error(self, message: str, previous: str | None) -> None:
        """Log a new error; the first of an outage also becomes an event (one per outage, not one per retry)."""
        if message != previous:
            log.warning("mqtt: %s", message)
            if previous is None:
                self._event("mqtt_lost", f"MQTT broker {self.cfg.host}:{self.cfg.port}: {message}", "warning")

    def _event(self, kind: str, message: str, severity: str) -> None:
        try:
            self.fleet.event(kind, message, severity=severity)
        except Exception as exc:  # noqa: BLE001 - the database closing at shutdown must not end paho's thread
            log.debug("mqtt: event %s not recorded: %s", kind, exc)

    # --- the worker -------------------------------------------------------------------
    def _work(self) -> None:
        wait = IDLE_WAKE_S
        while not self._closed.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._closed.is_set():
                return
            try:
                wait = self._cycle()
            except Exception as exc:  # noqa: BLE001 - keep publishing next round whatever broke this one
                log.exception("mqtt: publishing failed")
                self._error(f"publishing failed: {type(exc).__name__}")
                wait = IDLE_WAKE_S

    def _cycle(self) -> float:
        """One look: integrate energy, publish what is due; returns seconds until the next due publish."""
        now = time.monotonic()
        records = self.fleet.records()
        for record in records:
            online = bool(record.online and record.status)
            self.energy.add(miner_id(record.ip), record.last_seen_ts if online else None,
                            record.status.power_w if online else None)
        self._round = False
        if not self._connected:
            return IDLE_WAKE_S
        with self._lock:
            full, self._full_sync = self._full_sync, False
        if full:
            self._sent_config.clear()
            self._unsent_config.clear()
            self._last_sent.clear()
            self._miner_sig.clear()
            self._publish(self.topics.status, "online")
        if self.cfg.discovery:
            self._discovery(records)
        wait = self._states(records, now, full)
        return min(wait, UNSENT_RETRY_S) if self._unsent_config else wait

    def _discovery(self, records: list) -> None:
        site = discovery.Site(self.site, self.topics, self.cfg.commands,
                              getattr(getattr(self.runtime, "alerts", None), "dashboard_url", None))
        wanted: dict[str, dict] = {}
        current: set[str] = set()
        for record in records:
            mid = miner_id(record.ip)
            current.add(mid)
            # Configs are rebuilt only when what they show changed (a 500-miner fleet, every round).
            status = record.status
            sig = (record.name, record.model, record.family, record.driver.capabilities, record.driver.modes,
                   status.model if status else None, status.firmware if status else None,
                   status.firmware_version if status else None, status is None or status.power_w is not None,
                   record.min_w, record.max_w, record.nominal_w)
            if self._miner_sig.get(mid) == sig:
                continue
            self._miner_sig[mid] = sig
            # The limits in effect: the miner's settings (browser/API), else its config.yaml entry.
            power = discovery.power_range(record, record.min_w, record.max_w, record.nominal_w)
            configs = discovery.miner_configs(record, site, power)
            wanted.update(configs)
            # Controls a miner lost (commands off, a firmware that cannot) are emptied too.
            wanted.update({t: {} for t in discovery.miner_config_topics(mid, site) if t not in configs})
        price = self.runtime.prices.current(time.time()) if self.runtime.prices.configured else None
        controller = discovery.controller_configs(site, battery=self.runtime.battery.configured,
                                                  price_unit=f"{price.unit}/kWh" if price and price.unit else None)
        # An entity the controller no longer has (the battery set to none on the Settings page) is emptied.
        self._controller_topics.update(controller)
        wanted.update({t: {} for t in self._controller_topics if t not in controller})
        wanted.update(controller)
        for mid in sorted(self._announced - current):  # deleted miners: empty configs and state
            wanted.update({t: {} for t in discovery.miner_config_topics(mid, site)})
            self._miner_sig.pop(mid, None)
            self._publish(self.topics.state(mid), "")
            self.energy.forget(mid)
        for topic, payload in wanted.items():
            text = json.dumps(payload, sort_keys=True, separators=(",", ":")) if payload else ""
            # Only changes; after a (re)connect everything, empties included (controls gone while we were away).
            if self._sent_config.get(topic) != text:
                self._unsent_config[topic] = text
        for topic, text in list(self._unsent_config.items()):
            if not self._publish(topic, text):
                break  # paho's queue is full (or the link dropped): the rest go on the next pass
            self._sent_config[topic] = text
            del self._unsent_config[topic]
        if current != self._announced:
            self._announced = current
            self._save_devices()

    def _states(self, records: list, now: float, full: bool) -> float:
        interval = self.cfg.min_interval_sec
        wall = time.time()
        next_due = IDLE_WAKE_S
        bodies: list[tuple[str, str, Callable[[], dict]]] = []
        changed: set[str] = set()
        for record in records:
            mid = miner_id(record.ip)
            # Online/offline and mining/sleeping changes go out at once; the throttle is for the numbers.
            brief = (record.state_name, record.status.state if record.online and record.status else None)
            if self._last_brief.get(mid) != brief:
                changed.add(mid)
                self._last_brief[mid] = brief
            bodies.append((self.topics.state(mid), mid,
                           lambda r=record, m=mid: payloads.miner_state(r, self.site, self.energy.get(m), wall)))
        bodies.append((self.topics.fleet, "fleet", lambda: payloads.fleet_state(self.fleet.stats(), self.site)))
        if self.runtime.battery.configured:
            bodies.append((self.topics.battery, "battery",
                           lambda: payloads.battery_state(self.runtime.battery.snapshot(), self.site)))
        bodies.append((self.topics.control, CONTROL, self._control_body))
        for topic, key, build in bodies:
            last = self._last_sent.get(topic)
            with self._lock:
                forced = self._force_until.get(key, 0.0) > now
            if full or forced or key in changed or last is None or now - last >= interval:
                self._publish_json(topic, build(), retain=True)
                self._last_sent[topic] = now
            else:
                next_due = min(next_due, interval - (now - last))
        with self._lock:
            self._force_until = {k: v for k, v in self._force_until.items() if v > now}
        return max(next_due, 0.05)

    def _control_body(self) -> dict:
        prices = self.runtime.prices
        price = prices.current(time.time()) if prices.configured else None
        return payloads.control_state(self.runtime.autocontrol.status(), price, self.site)

    def _commanded(self, target: str) -> None:
        """After a command: the target's state goes out with its re-poll, not one throttle interval later."""
        with self._lock:
            self._force_until[target] = time.monotonic() + FORCE_AFTER_COMMAND_S
        if target == CONTROL:
            self._wake.set()

    # --- publishing ---------------------------------------------------------------------
    def _publish_json(self, topic: str, body: dict, retain: bool = False) -> None:
        self._publish(topic, json.dumps(body, separators=(",", ":")), retain=retain)

    def _publish(self, topic: str, payload: str, retain: bool = True) -> bool:
        """Hand one message to paho; False when it was not queued (not connected, or paho's queue is full)."""
        client = self._client
        if client is None or not self._connected:
            return False
        info = client.publish(topic, payload, qos=QOS, retain=retain)
        if info.rc == 0:
            self.published += 1
            self.last_publish_ts = time.time()
            self._queue_full_logged = False
            return True
        if not self._queue_full_logged:  # once per burst, not once per message
            log.warning("mqtt: paho refused a publish (rc %s, %d messages queued at most): the rest of this "
                        "burst waits for the next pass", info.rc, MAX_QUEUED)
            self._queue_full_logged = True
        return False

    # --- announced devices, kept across restarts -----------------------------------------
    def _load_devices(self) -> set[str]:
        try:
            data = json.loads(self._devices_path.read_text())
            key = f"{self.topics.discovery_prefix}|{self.site}"
            return {str(m) for m in data.get(key, [])}
        except (OSError, ValueError, AttributeError):
            return set()

    def _save_devices(self) -> None:
        key = f"{self.topics.discovery_prefix}|{self.site}"
        try:
            tmp = Path(f"{self._devices_path}.tmp")
            tmp.write_text(json.dumps({key: sorted(self._announced)}))
            os.replace(tmp, self._devices_path)
        except OSError as exc:
            log.warning("mqtt: %s not written: %s", self._devices_path, exc.strerror)
