"""A real mosquitto broker for the MQTT tests, started on a free port of a 127.85.1.x address.

Debian's package (``./test.sh`` installs it as root, like Chromium); without it the tests are
skipped when not root, and fail as root (test.sh should have installed it).
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def require_mosquitto() -> None:
    """Skip (not root) or fail (root: test.sh installs it) when Debian's mosquitto is missing."""
    if os.access(MOSQUITTO, os.X_OK):
        return
    if os.geteuid() == 0:
        pytest.fail(f"{MOSQUITTO} missing: ./test.sh installs Debian's mosquitto when run as root")
    pytest.skip(f"{MOSQUITTO} missing (sudo apt-get install mosquitto, or run ./test.sh as root)")


def free_port(host: str) -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a TLS listener: the server's certificate and key, and the CA that signed it."""

    certfile: Path
    keyfile: Path
    cafile: Path | None = None
    require_certificate: bool = False  # clients must present a certificate signed by cafile (mutual TLS)


class Broker:
    """One mosquitto process with a generated config; ``stop``/``start`` keep its address and port.

    With ``tls`` its only listener speaks TLS (mosquitto's certfile/keyfile/cafile; client certificates
    required with ``tls.require_certificate``).
    """

    def __init__(self, directory: Path, host: str, *, users: dict[str, str] | None = None,
                 tls: TlsFiles | None = None) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = free_port(host)
        self.users = users
        self.tls = tls
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "mosquitto.log"

    def _config(self) -> Path:
        lines = [f"listener {self.port} {self.host}", "persistence false", "log_dest stderr",
                 "log_type error", "log_type warning", f"user {getpass.getuser()}"]
        if self.tls is not None:  # these lines belong to the listener above them
            lines += [f"certfile {self.tls.certfile}", f"keyfile {self.tls.keyfile}"]
            if self.tls.cafile is not None:
                lines.append(f"cafile {self.tls.cafile}")
            if self.tls.require_certificate:
                lines.append("require_certificate true")
        if self.users:
            pw = self.dir / "passwd"
            pw.write_text("")
            for user, password in self.users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), user, password], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
            os.chmod(pw, 0o600)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self, timeout: float = 10.0) -> "Broker":
        """Start mosquitto and wait until it accepts connections."""
        conf = self._config()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log.read_text()[-500:]}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout} s")

    def stop(self) -> None:
        """Terminate mosquitto (SIGTERM, then SIGKILL) and wait for it."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class Listener:
    """A paho client in the test that subscribes and keeps every message, with waits on conditions."""

    def __init__(self, broker: Broker, *topics: str, username: str | None = None, password: str | None = None,
                 ca_file: str | Path | None = None, client_cert: tuple[Path, Path] | None = None):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []  # (topic, payload, retain)
        self._cond = threading.Condition()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{id(self):x}")
        if username:
            self._client.username_pw_set(username, password)
        if ca_file is not None:  # a TLS listener: trust this CA, check the broker's name as the app does
            cert, key = client_cert or (None, None)  # (certificate, key) for a broker that asks for one
            self._client.tls_set(ca_certs=str(ca_file), certfile=cert and str(cert), keyfile=key and str(key))
        self._topics = topics or ("#",)
        self._subscribed = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.connect(broker.host, broker.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(5):
            raise AssertionError("test listener did not subscribe")

    def _on_connect(self, client, _u, _f, reason, _p=None):
        client.subscribe([(t, 1) for t in self._topics])

    def _on_message(self, _c, _u, msg):
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        """Publish and wait until the broker has it."""
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def last(self, topic: str) -> bytes | None:
        """The newest payload seen on ``topic``."""
        with self._cond:
            for t, payload, _ in reversed(self.messages):
                if t == topic:
                    return payload
        return None

    def latest(self) -> dict[str, bytes]:
        """The newest payload per topic."""
        with self._cond:
            return {t: p for t, p, _ in self.messages}

    def wait(self, predicate, timeout: float = 10.0, message: str = "condition not met"):
        """Wait until ``predicate(self)`` is truthy (checked at every message) and return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{message} within {timeout} s")
                self._cond.wait(min(left, 0.2))

    def wait_for(self, topic: str, check=lambda p: True, timeout: float = 10.0, after: int = 0):
        """The first payload on ``topic`` (among messages from index ``after``) for which check(payload) holds."""
        def found(_self):
            for t, payload, _ in self.messages[after:]:
                if t == topic and check(payload):
                    return payload or b"<empty>"
            return None
        value = self.wait(found, timeout, f"no matching message on {topic}")
        return b"" if value == b"<empty>" else value

    def json(self, topic: str) -> Any:
        """The newest payload on ``topic`` as JSON."""
        raw = self.last(topic)
        return None if raw is None else json.loads(raw)

    def close(self) -> None:
        """Disconnect and end the client's thread."""
        self._client.disconnect()
        self._client.loop_stop()
        self._client = None  # paho closes its wake-up socket pair when the client is freed
