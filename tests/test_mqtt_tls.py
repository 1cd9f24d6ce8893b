"""TLS for both MQTT clients (services/mqtt_tls.py) against Debian's real mosquitto with a TLS listener.

A throwaway CA and server certificates are made here with the ``cryptography`` package (the way a home
user's own CA signs a Mosquitto certificate); brokers on 127.86.11.x (this helper's range in
docs/contracts.md). The publisher runs in the real app (live_app), the battery source on its own.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.battery.base import BatteryError
from services.battery.config import BatteryFields, MqttConfig
from services.battery.mqtt import MqttSource
from services.config import ConfigError, load_config
from services.config_edit import ConfigEditError, ConfigEditor
from services.config_keys import catalogue
from tests.integration import AUTH, live_app, wait_for
from tests.mqtt_broker import Broker, Listener, TlsFiles, require_mosquitto
from tests.resources import fd_names, open_fds

pytestmark = pytest.mark.integration

NET = "127.86.11"
GOOD, WRONG_NAME = f"{NET}.1", f"{NET}.2"  # the second broker's certificate names 127.86.11.99


# --- a throwaway PKI ----------------------------------------------------------------
def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)
    return path


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@dataclass(frozen=True)
class Ca:
    """A CA: its certificate file and the means to sign server certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    file: Path

    @classmethod
    def make(cls, directory: Path, common: str) -> "Ca":
        """A self-signed CA certificate, valid from an hour ago for a day."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(cert, key, _write_cert(cert, directory / f"{common}.crt"))

    def server(self, directory: Path, ip: str, *, expired: bool = False) -> TlsFiles:
        """A server certificate whose only SAN is ``ip`` (as for a broker reached by its LAN address)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3 if expired else 0)
        cert = (x509.CertificateBuilder().subject_name(_name(f"mosquitto {ip}")).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self.key, hashes.SHA256()))
        stem = ip.replace(".", "_") + ("-expired" if expired else "")
        return TlsFiles(certfile=_write_cert(cert, directory / f"server-{stem}.crt"),
                        keyfile=_write_key(key, directory / f"server-{stem}.key"), cafile=self.file)


    def client(self, directory: Path, name: str) -> tuple[Path, Path]:
        """A client certificate (clientAuth) for ``name`` and its key: (certificate file, key file)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(self.key, hashes.SHA256()))
        return _write_cert(cert, directory / f"client-{name}.crt"), _write_key(key, directory / f"client-{name}.key")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    return {"ca": Ca.make(directory, "home-ca"), "other": Ca.make(directory, "other-ca"), "dir": directory}


@pytest.fixture
def broker(tmp_path, pki):
    require_mosquitto()
    with Broker(tmp_path / "broker", GOOD, tls=pki["ca"].server(pki["dir"], GOOD)) as b:
        yield b


# --- helpers ----------------------------------------------------------------------------
def app_with_mqtt(tmp_path: Path, broker: Broker, **mqtt):
    tmp_path.mkdir(parents=True, exist_ok=True)
    section = {"enabled": True, "host": broker.host, "port": broker.port, "min_interval_sec": 0, **mqtt}
    return live_app(tmp_path, f"{NET}.0/24", 0, mqtt=section, battery={"source": "none"})


def settle(threads: int, fds: int) -> None:
    """Threads and descriptors back to what they were (paho's thread ends at close)."""
    wait_for(lambda: threading.active_count() <= threads, timeout=5,
             message=f"threads left: {[t.name for t in threading.enumerate()]}")
    assert not [t for t in threading.enumerate() if t.name.startswith(("mqtt-", "paho"))]
    wait_for(lambda: open_fds() <= fds, timeout=3, message="descriptors left:\n" + "\n".join(fd_names()))


def warm_up(tmp_path: Path, broker: Broker, pki) -> tuple[int, int]:
    """One run first (imports, first-time setup), then the counts the test compares against."""
    with app_with_mqtt(tmp_path / "warm", broker, ca_file=str(pki["ca"].file)) as live:
        live.runtime.start_mqtt()
        wait_for(lambda: live.runtime.mqtt.status()["connected"], message="connected (warm-up)")
    time.sleep(0.3)
    return threading.active_count(), open_fds()


# --- the publisher ------------------------------------------------------------------------
def test_publisher_with_ca_file_connects_and_publishes_online(tmp_path, broker, pki):
    threads, fds = warm_up(tmp_path, broker, pki)
    listener = Listener(broker, "minerfleet/#", ca_file=pki["ca"].file)
    try:
        with app_with_mqtt(tmp_path / "run", broker, ca_file=str(pki["ca"].file)) as live:
            live.runtime.start_mqtt()
            listener.wait_for("minerfleet/status", lambda p: p == b"online")
            assert [r for t, p, r in listener.messages if t == "minerfleet/status" and p == b"online"]
            status = wait_for(lambda: live.runtime.mqtt.status()["connected"] and live.runtime.mqtt.status(),
                              message="connected")
            assert status["tls"] is True and status["ca_file"] == str(pki["ca"].file)
            assert status["last_error"] is None
            listener.wait(lambda l: l.json("minerfleet/fleet") is not None, message="the fleet state over TLS")
    finally:
        listener.close()
    # A Listener joining afterwards still finds the retained "offline" the app left at close.
    late = Listener(broker, "minerfleet/status", ca_file=pki["ca"].file)
    try:
        late.wait_for("minerfleet/status", lambda p: p == b"offline")
        assert late.messages[0][2] is True  # retained
    finally:
        late.close()
    settle(threads, fds)


def test_publisher_with_system_cas_fails_on_the_certificate_and_keeps_retrying(tmp_path, broker, pki):
    threads, fds = warm_up(tmp_path, broker, pki)
    with app_with_mqtt(tmp_path / "run", broker, tls=True) as live:
        live.runtime.start_mqtt()
        mqtt = live.runtime.mqtt
        wait_for(lambda: mqtt.connect_failures >= 1, message="a failed attempt")
        running, fds_running = threading.active_count(), open_fds()
        # paho waits 1 s, then 2 s between attempts (reconnect_delay_set(1, 60)): three attempts in ~4 s.
        wait_for(lambda: mqtt.connect_failures >= 3, timeout=10, message="attempts after the first")
        status = mqtt.status()
        assert not status["connected"] and status["tls"] is True and status["ca_file"] is None
        error = status["last_error"]
        assert error.startswith(f"cannot connect to {GOOD}:{broker.port}: TLS: certificate verify failed: "), error
        # mosquitto sends its CA along (its cafile), so OpenSSL says "self-signed certificate in certificate chain".
        assert "self-signed certificate" in error and "set mqtt.ca_file" in error, error
        assert threading.active_count() <= running, [t.name for t in threading.enumerate()]  # no pile-up
        assert open_fds() <= fds_running + 1, "\n".join(fd_names())  # +1: an attempt in progress; failed ones closed
        events = live.client.get("/api/events?kind=mqtt_lost&limit=50", headers=AUTH).get_json()
        lost = [e for e in events if e["kind"] == "mqtt_lost"]  # one per outage, not one per attempt
        assert len(lost) == 1 and "TLS: certificate verify failed" in lost[0]["message"], lost
    settle(threads, fds)


def test_publisher_with_another_ca_names_its_ca_file(tmp_path, broker, pki):
    with app_with_mqtt(tmp_path, broker, ca_file=str(pki["other"].file)) as live:
        live.runtime.start_mqtt()
        error = wait_for(lambda: live.runtime.mqtt.status()["last_error"], message="an error")
        assert "TLS: certificate verify failed: self-signed certificate" in error, error
        assert f"mqtt.ca_file {pki['other'].file} did not sign the broker's certificate" in error, error
        assert not live.runtime.mqtt.status()["connected"]


def test_a_certificate_for_another_address_fails_the_hostname_check(tmp_path, pki):
    require_mosquitto()
    tls = pki["ca"].server(pki["dir"], f"{NET}.99")  # signed by the trusted CA, but for another address
    with Broker(tmp_path / "broker", WRONG_NAME, tls=tls) as wrong:
        with app_with_mqtt(tmp_path / "app", wrong, ca_file=str(pki["ca"].file)) as live:
            live.runtime.start_mqtt()
            error = wait_for(lambda: live.runtime.mqtt.status()["last_error"], message="an error")
            # Python's ssl (OpenSSL 3) checks the address against the certificate's IP SANs.
            assert (f"TLS: certificate verify failed: IP address mismatch, certificate is not valid for '{WRONG_NAME}'"
                    in error and "a host name or address that the broker's certificate lists" in error), error
            assert not live.runtime.mqtt.status()["connected"]
        # The battery source has the same check.
        source = _battery_source(wrong, pki["ca"].file)
        try:
            source.start()
            wait_for(lambda: "IP address mismatch" in source.status().last_error, message="the battery source says so")
        finally:
            source.close()


def test_an_expired_broker_certificate_is_named(tmp_path, pki):
    require_mosquitto()
    with Broker(tmp_path / "broker", f"{NET}.4", tls=pki["ca"].server(pki["dir"], f"{NET}.4", expired=True)) as old:
        with app_with_mqtt(tmp_path / "app", old, ca_file=str(pki["ca"].file)) as live:
            live.runtime.start_mqtt()
            error = wait_for(lambda: live.runtime.mqtt.status()["last_error"], message="an error")
            assert "TLS: certificate verify failed: certificate has expired" in error, error


def test_a_ca_file_gone_after_the_check_is_reported_not_raised(tmp_path, broker, pki):
    ca = tmp_path / "ca.crt"
    ca.write_bytes(pki["ca"].file.read_bytes())
    with app_with_mqtt(tmp_path / "app", broker, ca_file=str(ca)) as live:  # checked at load: fine
        ca.unlink()
        live.runtime.start_mqtt()  # start-up goes on without MQTT
        status = live.runtime.mqtt.status()
        assert not status["connected"]
        assert status["last_error"] == (f"TLS: mqtt.ca_file {ca} unusable: No such file or directory "
                                        "(not connecting; fix it and restart)")
    source = _battery_source(broker, pki["ca"].file)
    object.__setattr__(source.cfg, "ca_file", str(ca))  # as if removed after the start-up check
    with pytest.raises(BatteryError, match=f"MQTT: TLS: battery.mqtt.ca_file {ca} unusable"):
        source.read()
    assert "battery.mqtt.ca_file" in source.status().last_error
    source.close()


def test_tls_client_of_a_plain_port_and_plain_client_of_a_tls_port(tmp_path, broker, pki):
    require_mosquitto()
    with Broker(tmp_path / "plain", f"{NET}.3") as plain:
        with app_with_mqtt(tmp_path / "app", plain, ca_file=str(pki["ca"].file)) as live:
            live.runtime.start_mqtt()
            error = wait_for(lambda: live.runtime.mqtt.status()["last_error"], message="an error")
            # mosquitto 2.0 resets a connection whose first bytes are a TLS ClientHello.
            assert error.startswith(f"cannot connect to {NET}.3:{plain.port}: TLS: handshake failed: "), error
            assert "(is the port a TLS listener?)" in error, error
    # The usual mistake the other way round: port 8883 without mqtt.tls. paho alone would say nothing.
    with app_with_mqtt(tmp_path / "app2", broker) as live:
        live.runtime.start_mqtt()
        error = wait_for(lambda: live.runtime.mqtt.status()["last_error"], message="an error")
        assert error == (f"cannot connect to {GOOD}:{broker.port}: the broker closed the connection without "
                         "answering (a TLS listener? set mqtt.tls: true, or mqtt.ca_file) (retrying with backoff)")
    source = _battery_source(broker, None)
    try:
        source.start()
        line = wait_for(lambda: source.status().last_error, message="the battery source says why")
        assert "without answering (a TLS listener? set battery.mqtt.tls: true, or battery.mqtt.ca_file)" in line
    finally:
        source.close()


# --- the battery source ---------------------------------------------------------------------
def _battery_source(broker: Broker, ca_file, **cfg) -> MqttSource:
    fields = BatteryFields(soc="soc", pv_w="pv", load_w="load", battery_w="-bat")
    config = MqttConfig(host=broker.host, port=broker.port, topic="house/battery", fields=fields,
                        ca_file=str(ca_file) if ca_file else "", keepalive_sec=30, **cfg)
    config.validate()
    return MqttSource(config, max_age_sec=60)


def test_battery_source_over_tls_reads_a_published_soc(tmp_path, broker, pki):
    threads, fds = threading.active_count(), open_fds()
    publisher = Listener(broker, "house/#", ca_file=pki["ca"].file)
    source = _battery_source(broker, pki["ca"].file)
    try:
        publisher.publish("house/battery", json.dumps({"soc": 73.5, "pv": 1200, "load": 800, "bat": -400}),
                          retain=True)
        source.start()
        reading = wait_for(lambda: _try_read(source), message="a reading over TLS")
        assert reading.soc_pct == 73.5 and reading.battery_w == 400 and reading.source == "mqtt"
        assert source.status().connected and source.status().last_error == ""
    finally:
        source.close()
        publisher.close()
    settle(threads, fds)


def test_battery_source_with_system_cas_says_why_in_status(tmp_path, broker, pki):
    source = _battery_source(broker, None, tls=True)
    try:
        assert source.status().last_error == ""
        source.start()
        line = wait_for(lambda: source.status().last_error, message="an error in status")
        assert line.startswith(f"MQTT: not connected to {GOOD}:{broker.port}: TLS: certificate verify failed: "), line
        assert "set battery.mqtt.ca_file" in line, line
        with pytest.raises(Exception) as err:
            source.read()
        assert "no soc received yet" in str(err.value) and "TLS: certificate verify failed" in str(err.value)
        assert source.status().last_error.count("TLS:") == 1  # not repeated after a read
    finally:
        source.close()


def _try_read(source: MqttSource):
    try:
        return source.read()
    except Exception:  # noqa: BLE001 - not yet: no message received
        return None


# --- start-up checks ---------------------------------------------------------------------
@pytest.mark.parametrize("section, key", [("mqtt", "mqtt.ca_file"), ("battery", "battery.mqtt.ca_file")])
@pytest.mark.parametrize("value, message", [
    ("/nonexistent/ca.crt", "no such file: /nonexistent/ca.crt"),
    ("relative/ca.crt", "must be an absolute path, got 'relative/ca.crt'"),
    ("{dir}", "not a file: {dir}"),
    ("{dir}/note.txt", "not a PEM certificate (expected -----BEGIN CERTIFICATE-----): {dir}/note.txt"),
    ("{dir}/server.key", "not a PEM certificate (expected -----BEGIN CERTIFICATE-----): {dir}/server.key"),
    ("{dir}/ca.der", "not a PEM certificate (expected -----BEGIN CERTIFICATE-----): {dir}/ca.der"),
])
def test_bad_ca_file_is_refused_at_start_up_with_one_line(tmp_path, pki, section, key, value, message):
    (tmp_path / "note.txt").write_text("my broker's CA is on the NAS\n")
    _write_key(ec.generate_private_key(ec.SECP256R1()), tmp_path / "server.key")
    (tmp_path / "ca.der").write_bytes(pki["ca"].cert.public_bytes(serialization.Encoding.DER))
    value, message = value.format(dir=tmp_path), message.format(dir=tmp_path)
    data = {"mqtt": {"ca_file": value}} if section == "mqtt" else {"battery": {"mqtt": {"ca_file": value}}}
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value) == f"{key}: {message}"
    assert "\n" not in str(err.value)


def test_good_ca_file_and_tls_keys_load(tmp_path, pki):
    path = tmp_path / "config.yaml"
    ca = str(pki["ca"].file)
    path.write_text(json.dumps({"mqtt": {"ca_file": ca},
                                "battery": {"mqtt": {"tls": True, "ca_file": ca, "port": 8883}}}))
    config = load_config(path, environ={})
    assert config.mqtt.ca_file == ca and config.mqtt.tls is False  # ca_file alone implies TLS
    assert config.battery.mqtt.tls is True and config.battery.mqtt.ca_file == ca


def test_settings_page_edits_the_battery_tls_keys(tmp_path, pki):
    keys = catalogue()
    assert keys["battery.mqtt.tls"].kind == "boolean" and keys["battery.mqtt.ca_file"].kind == "text"
    assert not keys["battery.mqtt.ca_file"].secret and keys["battery.mqtt.ca_file"].live  # the source is rebuilt
    assert "mqtt.ca_file" not in keys  # the publisher's section stays in the file
    path = tmp_path / "config.yaml"
    path.write_text("battery:\n  source: none\n")
    editor = ConfigEditor(path, environ={})
    with pytest.raises(ConfigEditError) as err:
        editor.apply({"battery.mqtt.ca_file": "/nonexistent/ca.crt"})
    assert "battery.mqtt.ca_file: no such file: /nonexistent/ca.crt" in str(err.value)
    assert path.read_text() == "battery:\n  source: none\n"
    result = editor.apply({"battery.mqtt.tls": True, "battery.mqtt.ca_file": str(pki["ca"].file)})
    assert result.config.battery.mqtt.ca_file == str(pki["ca"].file) and result.config.battery.mqtt.tls



# --- mutual TLS: a broker that asks for a client certificate -----------------------------------
MUTUAL = f"{NET}.5"


@pytest.fixture
def mutual(tmp_path, pki):
    """mosquitto with require_certificate: clients need a certificate signed by home-ca."""
    require_mosquitto()
    server = pki["ca"].server(pki["dir"], MUTUAL)
    tls = TlsFiles(server.certfile, server.keyfile, server.cafile, require_certificate=True)
    with Broker(tmp_path / "mutual", MUTUAL, tls=tls) as b:
        yield b


def test_publisher_with_a_client_certificate_connects_to_a_broker_that_asks_for_one(tmp_path, mutual, pki):
    cert, key = pki["ca"].client(pki["dir"], "minerfleet")
    listener = Listener(mutual, "minerfleet/#", ca_file=pki["ca"].file, client_cert=pki["ca"].client(pki["dir"], "test"))
    try:
        with app_with_mqtt(tmp_path / "run", mutual, ca_file=str(pki["ca"].file), cert_file=str(cert),
                           key_file=str(key)) as live:
            live.runtime.start_mqtt()
            listener.wait_for("minerfleet/status", lambda p: p == b"online")
            status = wait_for(lambda: live.runtime.mqtt.status()["connected"] and live.runtime.mqtt.status(),
                              message="connected with the client certificate")
            assert status["tls"] is True and status["client_cert"] == str(cert) and status["last_error"] is None
            assert "key_file" not in json.dumps(status) and str(key) not in json.dumps(status)
    finally:
        listener.close()


def test_without_a_client_certificate_the_status_says_the_broker_may_want_one(tmp_path, mutual, pki):
    with app_with_mqtt(tmp_path / "run", mutual, ca_file=str(pki["ca"].file)) as live:
        live.runtime.start_mqtt()
        error = wait_for(lambda: live.runtime.mqtt.status()["last_error"], message="an error")
        assert not live.runtime.mqtt.status()["connected"]
        assert "client certificate" in error and "mqtt.cert_file" in error, error
    # A certificate from a CA the broker does not trust is named too.
    cert, key = pki["other"].client(pki["dir"], "stranger")
    with app_with_mqtt(tmp_path / "run2", mutual, ca_file=str(pki["ca"].file), cert_file=str(cert),
                       key_file=str(key)) as live:
        live.runtime.start_mqtt()
        error = wait_for(lambda: live.runtime.mqtt.status()["last_error"], message="an error")
        assert f"mqtt.cert_file {cert}" in error, error


def test_battery_source_with_a_client_certificate_reads_a_published_soc(tmp_path, mutual, pki):
    threads, fds = threading.active_count(), open_fds()
    publisher = Listener(mutual, "house/#", ca_file=pki["ca"].file, client_cert=pki["ca"].client(pki["dir"], "house"))
    cert, key = pki["ca"].client(pki["dir"], "battery")
    source = _battery_source(mutual, pki["ca"].file, cert_file=str(cert), key_file=str(key))
    try:
        publisher.publish("house/battery", json.dumps({"soc": 64.0, "pv": 900, "load": 700, "bat": 200}), retain=True)
        source.start()
        reading = wait_for(lambda: _try_read(source), message="a reading over mutual TLS")
        assert reading.soc_pct == 64.0 and source.status().connected
    finally:
        source.close()
        publisher.close()
    settle(threads, fds)


@pytest.mark.parametrize("section, prefix", [("mqtt", "mqtt."), ("battery", "battery.mqtt.")])
def test_a_bad_client_certificate_pair_is_refused_at_start_up_with_one_line(tmp_path, pki, section, prefix):
    cert, key = pki["ca"].client(pki["dir"], "pair")
    _other_cert, other_key = pki["ca"].client(pki["dir"], "other-pair")
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")))
    cases = [
        ({"cert_file": str(cert)}, "key_file: required with cert_file (the client certificate's private key, PEM)"),
        ({"key_file": str(key)}, "cert_file: required with key_file (the client certificate, PEM)"),
        ({"cert_file": "client.crt", "key_file": str(key)}, "cert_file: must be an absolute path, got 'client.crt'"),
        ({"cert_file": str(cert), "key_file": "/nonexistent/c.key"}, "key_file: no such file: /nonexistent/c.key"),
        ({"cert_file": str(cert), "key_file": str(other_key)}, f"key_file: {other_key} is not the private key of {cert}"),
        ({"cert_file": str(cert), "key_file": str(encrypted)},
         f"key_file: {encrypted} is encrypted (a passphrase cannot be given): store it unencrypted, owner-only"),
        ({"cert_file": str(pki["ca"].file), "key_file": str(key)},
         f"key_file: {key} is not the private key of {pki['ca'].file}"),
    ]
    path = tmp_path / "config.yaml"
    for keys, message in cases:
        data = {"mqtt": keys} if section == "mqtt" else {"battery": {"mqtt": keys}}
        path.write_text(json.dumps(data))
        with pytest.raises(ConfigError) as err:
            load_config(path, environ={})
        assert str(err.value) == f"{prefix}{message}", keys
    path.write_text(json.dumps({"mqtt": {"cert_file": str(cert), "key_file": str(key)}}))
    config = load_config(path, environ={})  # a good pair loads, and implies TLS
    assert config.mqtt.cert_file == str(cert)
