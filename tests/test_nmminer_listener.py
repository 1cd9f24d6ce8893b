"""The NMMiner UDP listener on loopback: telemetry makes miners appear, bad datagrams are ignored, stale is offline.

Datagrams are sent from addresses in 127.89.0.0/16 to a listener bound to
127.89.0.1 on a free port (never a broadcast address).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import time
from typing import Any

import pytest

from services.config import NMMinerConfig
from miners.nmminer import TELEMETRY, TelemetryStore
from services.nmminer_listener import ListenerSettings, NMMinerListener, is_lan_sender, settings_from_config

LISTEN_IP = "127.89.0.1"


def with_nmminer(config: Any, **section: Any) -> Any:
    """A copy of ``config`` with the given ``nmminer`` section (listen on loopback, any free port by default)."""
    values = {"listen": True, "bind": LISTEN_IP, "port": 0, **section}
    return dataclasses.replace(config, nmminer=NMMinerConfig(**values))


def datagram(ip: str, hashrate: str = "1006.1KH/s", **extra: Any) -> bytes:
    doc = {"IP": ip, "BoardType": "NM-TV-154", "HashRate": hashrate, "Share": "0/57", "NetDiff": "126.9T",
           "PoolDiff": "0.001", "LastDiff": "0.004", "BestDiff": "12.05K", "Valid": 0, "Progress": 0.5,
           "Temp": 47.2, "RSSI": -58, "FreeHeap": 142.6, "Uptime": "00d 00:10:00", "Version": "v1.8.10",
           "PoolInUse": "public-pool.io:21496"}
    doc.update(extra)
    return json.dumps(doc).encode()


def send_from(ip: str, payload: bytes, target: tuple[str, int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ip, 0))
        sock.sendto(payload, target)


def wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def fleet(config):
    """A real FleetManager (real drivers) on a temporary database."""
    from database.db import Database
    from services.fleet import FleetManager

    db = Database(config.data_path / "fleet.db")
    manager = FleetManager(config, db)
    yield manager
    manager.shutdown()
    db.close()


@pytest.fixture
def listener(fleet):
    lst = NMMinerListener(fleet, bind=LISTEN_IP, port=0).start()
    yield lst
    lst.stop()
    for ip in TELEMETRY.ips():
        if ip.startswith("127.89."):
            TELEMETRY.forget(ip)


def test_a_broadcasting_miner_appears_in_the_fleet_without_a_scan(listener, fleet):
    send_from("127.89.2.10", datagram("127.89.2.10"), listener.address)
    record = wait_for(lambda: next((r for r in fleet.records() if r.ip == "127.89.2.10"), None))
    assert record.family == "nmminer" and record.model == "NM-TV-154"
    wait_for(lambda: fleet.get("127.89.2.10").online)  # polled at once, from memory
    status = fleet.get("127.89.2.10").status
    assert status.hashrate_hs == pytest.approx(1006.1e3) and status.power_w is None
    assert fleet.get("127.89.2.10").to_dict()["capabilities"] == ["pools"]
    # Further datagrams update the readings; the miner is not added twice.
    send_from("127.89.2.10", datagram("127.89.2.10", hashrate="998.20KH/s"), listener.address)
    wait_for(lambda: listener.received == 2)
    fleet.poll_round()
    assert fleet.get("127.89.2.10").status.hashrate_hs == pytest.approx(998.2e3)
    assert listener.added == 1 and len(fleet.records()) == 1


def test_malformed_datagrams_are_counted_and_logged_once(listener, fleet, caplog):
    caplog.set_level(logging.DEBUG, logger="services.nmminer_listener")
    for payload in (b"garbage", b'{"IP": "127.89.2.11"}', datagram("127.89.2.11")[:40], b"\xff\xfe"):
        send_from("127.89.2.11", payload, listener.address)
    wait_for(lambda: listener.malformed == 4)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "malformed" in r.getMessage()]
    assert len(warnings) == 1  # once; the rest at debug level
    assert fleet.records() == [] and TELEMETRY.get("127.89.2.11") is None
    send_from("127.89.2.11", datagram("127.89.2.11"), listener.address)  # the listener still works
    wait_for(lambda: listener.received == 1)


def test_a_sender_claiming_another_ip_is_ignored(listener, fleet):
    send_from("127.89.2.12", datagram("127.89.2.99"), listener.address)
    wait_for(lambda: listener.ignored == 1)
    assert fleet.records() == [] and TELEMETRY.get("127.89.2.99") is None


def test_non_lan_senders_are_ignored():
    lst = NMMinerListener(None, store=TelemetryStore())
    for sender in ("8.8.8.8", "100.64.1.2", "169.254.1.1", "not-an-ip"):
        assert lst.handle(datagram(sender if sender[0].isdigit() else "8.8.8.8"), sender) is None
    assert lst.ignored == 4 and lst.received == 0
    for sender in ("10.1.2.3", "172.16.0.9", "192.168.1.50", "127.89.0.5"):
        assert is_lan_sender(sender)
        assert lst.handle(datagram(sender), sender) is not None
    assert not is_lan_sender("172.32.0.1")


def test_stale_telemetry_makes_the_miner_unreachable(listener, fleet):
    send_from("127.89.2.13", datagram("127.89.2.13"), listener.address)
    wait_for(lambda: fleet.get("127.89.2.13").online if listener.added else False)
    record = fleet.get("127.89.2.13")
    record.driver.stale_after_s = 0.2  # the default is 30 s; the miner has gone quiet since
    time.sleep(0.3)
    for _ in range(fleet.config.polling.offline_after):
        fleet.poll_round()
    assert not record.online and "no telemetry broadcast from this NMMiner for" in record.last_error


def test_a_removed_miner_is_not_re_added_until_restart(listener, fleet):
    send_from("127.89.2.14", datagram("127.89.2.14"), listener.address)
    wait_for(lambda: listener.added == 1)
    fleet.remove("127.89.2.14")
    send_from("127.89.2.14", datagram("127.89.2.14"), listener.address)
    wait_for(lambda: listener.received == 2)
    assert fleet.records() == []


def test_a_known_miner_of_another_family_is_left_alone(listener, fleet):
    fleet.add("127.89.2.15", "bitaxe")
    send_from("127.89.2.15", datagram("127.89.2.15"), listener.address)
    wait_for(lambda: listener.received == 1)
    assert fleet.get("127.89.2.15").family == "bitaxe" and listener.added == 0


def test_stop_is_prompt_and_frees_the_port(fleet):
    lst = NMMinerListener(fleet, bind=LISTEN_IP, port=0).start()
    port = lst.address[1]
    assert lst.running
    started = time.monotonic()
    lst.stop()
    assert time.monotonic() - started < 1.5 and not lst.running
    lst.stop()  # twice is harmless
    again = NMMinerListener(fleet, bind=LISTEN_IP, port=port).start()
    again.stop()


def test_bind_failure_names_the_address(fleet):
    with pytest.raises(OSError, match=r"UDP 192\.0\.2\.1:"):
        NMMinerListener(fleet, bind="192.0.2.1", port=0).start()  # not an address of this host


def test_settings_default_off(config):
    assert settings_from_config(config) == ListenerSettings(enabled=False, bind="0.0.0.0", port=12345)
    assert settings_from_config(with_nmminer(config, listen=True, bind="0.0.0.0", port=12345)).enabled


def test_runtime_starts_and_stops_the_listener_only_when_enabled(config):
    from services.runtime import Runtime

    off = Runtime(config)
    try:
        off.start()
        assert off.nmminer_listener is None
    finally:
        off.shutdown()
    on = Runtime(with_nmminer(config))
    try:
        on.start()
        listener = on.nmminer_listener
        assert listener is not None and listener.running and listener.address[0] == LISTEN_IP
        send_from("127.89.2.16", datagram("127.89.2.16"), listener.address)
        wait_for(lambda: any(r.ip == "127.89.2.16" for r in on.fleet.records()))
        assert on.fleet.get("127.89.2.16").family == "nmminer"
    finally:
        on.shutdown()
        TELEMETRY.forget("127.89.2.16")
    assert not listener.running


def test_spoofed_senders_cannot_grow_the_fleet_or_the_store_without_end(fleet, monkeypatch):
    import services.nmminer_listener as mod

    monkeypatch.setattr(mod, "MAX_AUTO_ADD", 3)
    store = TelemetryStore(max_entries=5)
    lst = NMMinerListener(fleet, store=store)
    for i in range(8):
        ip = f"10.89.0.{i + 1}"
        lst.handle(datagram(ip), ip)
    assert lst.added == 3 and len(fleet.records()) == 3
    assert len(store.ips()) == 5 and store.get("10.89.0.8") is not None
