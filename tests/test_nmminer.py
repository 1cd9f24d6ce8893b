"""NMMiner / NMAxe: the pure telemetry parser, the telemetry store and NMMinerDriver (UDP on loopback).

There is NO real capture of an NMMiner datagram in public sources (see
tests/fixtures/nmminer/README.md): the fixtures are the vendor's DOCUMENTATION
EXAMPLES, and the NMAxe datagram below is built here field by field from the
firmware source (ESP-Miner-NMAxe src/monitor/monitor.cpp @ 00bdcb3a).
"""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from miners import make_driver
from miners.base import POOLS, MinerProtocolError, MinerUnreachable, NotSupported, PoolConfig
from miners.nmminer import (
    CONFIG_PORT,
    NMMinerDriver,
    TelemetryStore,
    parse_power,
    parse_share,
    parse_si,
    parse_telemetry,
    parse_uptime,
    to_status,
)
from tests.test_miners_fakes import fixture_bytes, fixture_json

MINER = "127.89.1.10"

# Built from monitor.cpp swarm_thread_entry (NOT a capture): the NMAxe's own key spelling and formats.
NMAXE_DATAGRAM = {
    "ip": "127.89.1.11",
    "HashRate": "485.21GH/s",
    "Share": "3/2041/99.9%",
    "NetDiff": "126.9T",
    "PoolDiff": "1024",
    "LastDiff": "2.315K",
    "BestDiff": "1.205M\r38.71M",
    "Valid": 0,
    "Temp": 56,
    "RSSI": -61,
    "FreeHeap": 7950.43,
    "Uptime": "00d 02:00:05\r12d 03:04:05",
    "Version": "v2.5.12",
    "BoardType": "NMAxe",
    "Power": "12.4W",
    "PoolInUse": "public-pool.io:21496",
    "Lastseen": 2000,
}


# --- pure helpers -------------------------------------------------------------------------------
@pytest.mark.parametrize("text,value", [
    ("113.13K", 113.13e3), ("113.13KH/s", 113.13e3), ("113.13 KH/s", 113.13e3), ("993.22KH/s", 993.22e3),
    ("1.9715M", 1.9715e6), ("485.21GH/s", 485.21e9), ("89.47T", 89.47e12), ("0.001", 0.001), ("1024", 1024.0),
    ("0.00H/s", 0.0), ("4.021M", 4.021e6), ("1.5E", 1.5e18), (42, 42.0), (0.5, 0.5),
])
def test_parse_si(text, value):
    assert parse_si(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "N/A", "12 apples", None, True, float("nan"), "1.2.3K", "K"])
def test_parse_si_rejects_garbage(text):
    assert parse_si(text) is None


def test_parse_share_uptime_power():
    assert parse_share("1/138") == (1, 138)  # rejected/accepted (NMController_web: "Share (Reject/Accept)")
    assert parse_share("3/2041/99.9%") == (3, 2041)  # NMAxe appends the accept ratio
    assert parse_share("x/1") == (None, None) and parse_share(None) == (None, None)
    assert parse_uptime("00d 01:23:46") == 5026
    assert parse_uptime("12d 03:04:05") == 12 * 86400 + 3 * 3600 + 4 * 60 + 5
    assert parse_uptime("00d 02:00:05\r12d 03:04:05") == 7205  # session first, all-time second
    assert parse_uptime("01:23:46") is None and parse_uptime(5) is None
    assert parse_power("12.4W") == 12.4 and parse_power(None) is None and parse_power("n/a") is None


# --- the documented example and the firmware shape ------------------------------------------------------
def test_parse_vendor_documentation_example():
    """The README example (a documentation example, not a capture) in explicit units."""
    t = parse_telemetry(fixture_bytes("nmminer/udp12345_telemetry.example.json"))
    assert t.ip == "192.168.1.101" and t.board_type == "NMLotto" and t.firmware == "NMMiner"
    assert t.hashrate_hs == pytest.approx(113_130.0)
    assert (t.shares_rejected, t.shares_accepted) == (1, 138)
    assert t.net_diff == pytest.approx(89.47e12) and t.pool_diff == 0.001 and t.last_diff == 0.001
    assert t.best_diff == pytest.approx(4.021e6) and t.best_diff_ever is None
    assert t.blocks_found == 0 and t.progress == 0.167 and t.temp_c == 48.5 and t.rssi_dbm == -62
    assert t.free_heap_kb == 8203.9 and t.uptime_s == 5026 and t.version == "v0.3.01"
    assert t.pool_in_use == "public-pool.io:21496"
    status = to_status(t)
    assert status.power_w is None  # an ESP32 has no power sensor: None, never 0
    assert status.hashrate_hs == pytest.approx(113_130.0) and status.uptime_s == 5026
    assert status.model == "NMLotto" and status.firmware == "NMMiner" and status.firmware_version == "v0.3.01"
    assert status.shares_accepted == 138 and status.shares_rejected == 1 and status.temp_c == 48.5
    assert [(p.url, p.active) for p in status.pools] == [("public-pool.io:21496", True)]


def test_parse_nmaxe_firmware_shape():
    t = parse_telemetry(json.dumps(NMAXE_DATAGRAM).encode())
    assert t.ip == "127.89.1.11" and t.firmware == "NMAxe" and t.board_type == "NMAxe"
    assert t.hashrate_hs == pytest.approx(485.21e9)
    assert (t.shares_rejected, t.shares_accepted) == (3, 2041)
    assert t.best_diff == pytest.approx(1.205e6) and t.best_diff_ever == pytest.approx(38.71e6)
    assert t.uptime_s == 7205 and t.power_w == 12.4 and t.temp_c == 56
    assert to_status(t).power_w == 12.4


def test_config_example_names_the_fields_the_driver_writes():
    """The documented config datagram (an example, not a capture) has the field names set_pools() uses."""
    doc = fixture_json("nmminer/udp12347_config.example.json")
    assert doc["IP"] == "0.0.0.0"  # the documented "every device" address, which the driver never sends
    for prefix in ("Primary", "Secondary"):
        assert doc[f"{prefix}Pool"].startswith("stratum+tcp://") and ":" in doc[f"{prefix}Pool"][14:]
        assert f"{prefix}Address" in doc and f"{prefix}Password" in doc
    sent = NMMinerDriver("192.168.1.50").config_datagram([PoolConfig("stratum+tcp://a.example:3333", "w1", "p1"),
                                                          PoolConfig("stratum+tcp://b.example:3334", "w2", "p2")])
    assert set(sent) - {"IP"} <= set(doc)  # nothing the firmware does not know


@pytest.mark.parametrize("data", [
    b"", b"not json", b"[1, 2]", b"\xff\xfe", b'{"IP": "192.168.1.5"}', b'{"HashRate": "1K"}',
    b'{"IP": "not-an-ip", "HashRate": "1K"}', b'{"IP": "192.168.1.5", "HashRate": "1K"',  # cut in half
])
def test_malformed_datagrams_raise_protocol_error(data):
    with pytest.raises(MinerProtocolError):
        parse_telemetry(data)


def test_unknown_values_are_none_not_zero():
    t = parse_telemetry(b'{"IP": "192.168.1.5", "HashRate": "fast", "Temp": "hot"}')
    assert t.hashrate_hs is None and t.temp_c is None and t.uptime_s is None and t.shares_accepted is None


# --- store and driver reads -------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_read_serves_fresh_telemetry_and_stale_is_unreachable():
    clock = Clock()
    store = TelemetryStore(clock)
    driver = NMMinerDriver(MINER, store=store)
    with pytest.raises(MinerUnreachable, match="no telemetry broadcast"):
        driver.read()
    store.put(MINER, parse_telemetry(dict(NMAXE_DATAGRAM, ip=MINER)))
    clock.now += 29
    assert driver.read().hashrate_hs == pytest.approx(485.21e9)
    clock.now += 2  # 31 s without a broadcast
    with pytest.raises(MinerUnreachable, match=r"no telemetry broadcast from this NMMiner for 31 s"):
        driver.read()


def test_registry_and_capabilities():
    driver = make_driver("nmminer", MINER, port_offset=10000)
    assert isinstance(driver, NMMinerDriver) and driver.port == CONFIG_PORT + 10000
    assert driver.capabilities == frozenset({POOLS})
    for action in (driver.restart, driver.sleep, driver.wake):
        with pytest.raises(NotSupported):
            action()
    with pytest.raises(NotSupported):
        driver.set_power_watts(10)


# --- set_pools over loopback UDP -------------------------------------------------------------------------
@pytest.fixture
def config_port():
    """A UDP socket on the miner's loopback address standing in for the firmware's 12347 listener."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((MINER, 0))
    sock.settimeout(0.05)
    yield sock
    sock.close()


def drain(sock: socket.socket) -> list[dict]:
    out = []
    while True:
        try:
            data, sender = sock.recvfrom(4096)
        except socket.timeout:
            return out
        out.append(json.loads(data))


def fresh_driver(port: int) -> NMMinerDriver:
    store = TelemetryStore()
    store.put(MINER, parse_telemetry(dict(NMAXE_DATAGRAM, ip=MINER)))
    driver = NMMinerDriver(MINER, port=port, store=store, timeout=2.0)
    driver.config_gap_s = 0.01
    return driver


def test_set_pools_sends_unicast_datagrams_to_the_miner_itself(config_port, caplog):
    driver = fresh_driver(config_port.getsockname()[1])
    caplog.set_level(logging.DEBUG)
    driver.set_pools([PoolConfig("stratum+tcp://solo.ckpool.org:3333", "bc1qexample.rig1", "s3cret-pool-pw"),
                      PoolConfig("stratum+tcp://public-pool.io:21496", "bc1qexample.rig1", "x")])
    got = drain(config_port)
    assert len(got) == 10  # the vendor tool's 10 copies: UDP may drop one, nothing acknowledges
    assert all(doc == got[0] for doc in got)
    assert got[0] == {
        "IP": MINER,  # this miner only, never "0.0.0.0"
        "PrimaryPool": "stratum+tcp://solo.ckpool.org:3333", "PrimaryAddress": "bc1qexample.rig1",
        "PrimaryPassword": "s3cret-pool-pw",
        "SecondaryPool": "stratum+tcp://public-pool.io:21496", "SecondaryAddress": "bc1qexample.rig1",
        "SecondaryPassword": "x",
    }
    assert "s3cret-pool-pw" not in caplog.text and "solo.ckpool.org" in caplog.text


def test_set_pools_with_one_pool_leaves_the_secondary_alone(config_port):
    driver = fresh_driver(config_port.getsockname()[1])
    driver.config_repeats = 1
    driver.set_pools([PoolConfig("stratum+tcp://solo.ckpool.org:3333", "w")])
    assert drain(config_port) == [{"IP": MINER, "PrimaryPool": "stratum+tcp://solo.ckpool.org:3333",
                                   "PrimaryAddress": "w", "PrimaryPassword": "x"}]


@pytest.mark.parametrize("pools,match", [
    ([], "at least one pool"),
    ([PoolConfig("http://pool:3333", "w")], "stratum"),
    ([PoolConfig("stratum+tcp://pool", "w")], "port"),
    ([PoolConfig("stratum+tcp://pool:3333", "")], "worker"),
    ([PoolConfig(f"stratum+tcp://p{i}:3333", "w") for i in range(3)], "at most 2"),
])
def test_set_pools_refuses_bad_values_before_sending(config_port, pools, match):
    driver = fresh_driver(config_port.getsockname()[1])
    with pytest.raises(ValueError, match=match):
        driver.set_pools(pools)
    assert drain(config_port) == []


@pytest.mark.parametrize("host", ["0.0.0.0", "255.255.255.255", "239.1.2.3", "nmminer.local"])
def test_never_addresses_every_device(host):
    with pytest.raises(ValueError):
        NMMinerDriver(host).config_datagram([PoolConfig("stratum+tcp://pool.example:3333", "w")])


def test_set_pools_to_a_silent_miner_sends_nothing(config_port):
    driver = NMMinerDriver(MINER, port=config_port.getsockname()[1], store=TelemetryStore())
    with pytest.raises(MinerUnreachable):
        driver.set_pools([PoolConfig("stratum+tcp://pool.example:3333", "w")])
    assert drain(config_port) == []


def test_set_pools_stays_within_the_timeout(config_port):
    driver = fresh_driver(config_port.getsockname()[1])
    driver.timeout, driver.config_gap_s = 0.3, 0.1
    started = time.monotonic()
    driver.set_pools([PoolConfig("stratum+tcp://pool.example:3333", "w")])
    assert time.monotonic() - started < 0.5
    assert 1 <= len(drain(config_port)) <= 4
