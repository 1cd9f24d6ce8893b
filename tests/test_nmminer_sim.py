"""The NMMiner / NMAxe simulator on its own: datagram shapes, the config "IP" rule, silence when down.

Talks to the simulator with plain sockets only (the simulator is an independent
implementation; these tests do not use miners/ either).
"""

from __future__ import annotations

import json
import re
import socket
import time

import pytest

from simulator import MinerSpec, SimFleet
from simulator.nmminer import CONFIG_PORT, format_si, format_uptime

NM, AXE, OTHER = "127.89.3.10", "127.89.3.11", "127.89.3.12"
SINK = "127.89.3.1"


@pytest.fixture
def sink():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((SINK, 0))
    sock.settimeout(1.0)
    yield sock
    sock.close()


@pytest.fixture
def sim(sink):
    fleet = SimFleet([MinerSpec("nmminer", NM), MinerSpec("nmminer", AXE, model="NMAxe"),
                      MinerSpec("nmminer", OTHER, model="LilyGO T-Display S3")], port_offset=0, seed=3)
    for miner in fleet.miners:
        miner.telemetry_target = sink.getsockname()
        miner.interval_s = 0.05
    fleet.start()
    yield fleet
    fleet.stop()


def receive(sink: socket.socket, ip: str, timeout: float = 2.0) -> dict:
    """The next complete datagram from ``ip``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data, sender = sink.recvfrom(4096)
        if sender[0] == ip:
            return json.loads(data)
    raise AssertionError(f"nothing from {ip}")


def send_config(ip: str, doc: dict) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(json.dumps(doc).encode(), (ip, CONFIG_PORT))  # unicast to one loopback miner


def test_formats():
    assert format_si(113_130, 5) == "113.13K" and format_si(89.47e12, 4) == "89.47T"
    assert format_si(0.001, 4) == "0.001" and format_si(4.021e6, 4) == "4.021M" and format_si(1024, 4) == "1.024K"
    assert format_uptime(5026) == "00d 01:23:46" and format_uptime(12 * 86400 + 5) == "12d 00:00:05"


def test_nmminer_and_nmaxe_datagram_shapes(sim, sink):
    nm = receive(sink, NM)
    assert list(nm) == ["IP", "BoardType", "HashRate", "Share", "NetDiff", "PoolDiff", "LastDiff", "BestDiff",
                        "Valid", "Progress", "Temp", "RSSI", "FreeHeap", "Uptime", "Version", "PoolInUse"]
    assert nm["IP"] == NM and re.fullmatch(r"\d+\.\d+[KM]H/s", nm["HashRate"]) and nm["PoolInUse"] == "public-pool.io:21496"
    assert "Power" not in nm and nm["Uptime"].startswith("00d 00:00:")
    axe = receive(sink, AXE)
    assert axe["ip"] == AXE and "IP" not in axe and re.fullmatch(r"\d+\.\d+GH/s", axe["HashRate"])
    assert axe["Power"].endswith("W") and axe["Share"].endswith("%") and axe["Share"].count("/") == 2
    assert "\r" in axe["BestDiff"] and "\r" in axe["Uptime"] and isinstance(axe["Temp"], int)


def test_config_applies_to_its_own_ip_or_everyone_only(sim, sink):
    new = {"PrimaryPool": "stratum+tcp://solo.ckpool.org:3333", "PrimaryAddress": "bc1qsim.w", "PrimaryPassword": "p"}
    send_config(NM, {"IP": OTHER, **new})  # addressed to another device: ignored
    send_config(NM, {"IP": NM, "PrimaryPool": "stratum+tcp://solo.ckpool.org:3333"})
    send_config(NM, b"not json".decode())
    time.sleep(0.2)
    nm = sim.miner(NM)
    assert nm.configs_ignored == 2 and nm.configs_applied == 1
    assert nm.pool_in_use == "solo.ckpool.org:3333"
    assert nm.pools[1]["url"] == "stratum+tcp://pool.tazmining.ch:33333"  # left out: unchanged

    def pool_in_broadcast():
        doc = receive(sink, NM)
        return doc["PoolInUse"] == "solo.ckpool.org:3333"
    deadline = time.monotonic() + 2
    while not pool_in_broadcast():
        assert time.monotonic() < deadline
    # "0.0.0.0" = every device that hears it; here it is sent unicast to one simulated miner only.
    send_config(OTHER, {"IP": "0.0.0.0", **new})
    time.sleep(0.2)
    assert sim.miner(OTHER).configs_applied == 1 and sim.miner(OTHER).pools[0]["user"] == "bc1qsim.w"
    assert sim.miner(AXE).configs_applied == 0


def test_down_and_restart_silence_the_miner(sim, sink):
    receive(sink, NM)
    sim.set_fault(NM, "down")
    time.sleep(0.15)
    sent = sim.miner(NM).sent
    time.sleep(0.3)
    assert sim.miner(NM).sent == sent and not sim.miner(NM).listening
    sim.set_fault(NM, None)
    receive(sink, NM)
    sim.restart(NM, seconds=0.3)
    time.sleep(0.1)
    assert not sim.miner(NM).listening
    doc = receive(sink, NM)
    assert doc["Uptime"] == "00d 00:00:00" and sim.miner(NM).reboots == 1


def test_malformed_fault_tears_the_datagram(sim, sink):
    sim.set_fault(AXE, "malformed")
    deadline = time.monotonic() + 2
    while True:
        data, sender = sink.recvfrom(4096)
        if sender[0] == AXE:
            break
        assert time.monotonic() < deadline
    with pytest.raises(ValueError):
        json.loads(data)
    sim.set_fault(AXE, None)
