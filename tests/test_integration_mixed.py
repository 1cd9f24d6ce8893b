"""Discovery on a mixed /24 holding one simulated miner of every family: each is told apart, and
nothing but read requests (and logins that reads need) is sent while discovering."""

from __future__ import annotations

import json
import re
import socket
import threading

import pytest

from simulator import SimFleet, demo_specs
from simulator.fleet import DEMO_LAYOUT
from tests.integration import discover, live_app

pytestmark = pytest.mark.integration

NET = "127.80.3"
# Simulator kinds whose family name differs from the kind.
KIND_FAMILY = {"vnish_legacy": "vnish"}
# NMMiners are not scanned for: they broadcast telemetry over UDP (see test_integration_nmminer).
NOT_SCANNED = {"nmminer"}

# cgminer-style API commands that only read (any family's); anything else during discovery is a write.
READ_COMMANDS = {"version", "devdetails", "summary", "stats", "estats", "pools", "devs", "edevs", "config",
                 "get_version", "get_miner_info", "status", "get_psu", "temps", "fans", "power", "profiles",
                 "tunerstatus", "litestats"}
# HTTP POSTs that reads need: a login that returns a token, changing nothing on the miner.
LOGIN_PATHS = {"/api/v1/unlock", "/api/v1/auth/login"}


class WireRecorder:
    """Records every payload this process sends over TCP while active (requests and raw sockets alike)."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self._lock = threading.Lock()
        self._orig = (socket.socket.send, socket.socket.sendall)

    def __enter__(self):
        recorder, (send, sendall) = self, self._orig

        def rec_send(sock, data, *args):
            recorder._add(data)
            return send(sock, data, *args)

        def rec_sendall(sock, data, *args):
            recorder._add(data)
            return sendall(sock, data, *args)

        socket.socket.send, socket.socket.sendall = rec_send, rec_sendall
        return self

    def __exit__(self, *exc):
        socket.socket.send, socket.socket.sendall = self._orig

    def _add(self, data) -> None:
        if threading.current_thread().name.startswith("sim-fleet"):
            return  # the simulator's replies (it runs in this process), not the app's requests
        with self._lock:
            self.payloads.append(bytes(data))


def _avalon_query(parameter: str) -> bool:
    """Avalon's ``ascset`` doubles as its query command: ``0,help`` lists options, ``0,<opt>,get`` reads one."""
    return parameter == "0,help" or parameter.endswith(",get")


def writes_in(payloads: list[bytes]) -> list[str]:
    """Every payload that is not a read (or a login) request, described."""
    found = []
    for raw in payloads:
        text = raw.decode("latin-1")
        http = re.match(r"^([A-Z]+) (\S+) HTTP/1\.[01]", text)
        if http:
            method, path = http.groups()
            if method not in ("GET", "HEAD") and not (method == "POST" and path in LOGIN_PATHS):
                found.append(f"HTTP {method} {path}")
            continue
        body = text[4:] if len(raw) >= 4 and int.from_bytes(raw[:4], "little") == len(raw) - 4 else text
        body = body.strip().rstrip("\x00")
        if not body or body.startswith(("Authorization", "Content", "Host", "Accept", "User-Agent", "{\"pw\"",
                                        "{\"username\"")):
            continue  # header or body continuation of an HTTP request already checked
        try:
            doc = json.loads(body)
        except ValueError:
            command, _, parameter = body.partition("|")  # cgminer plain-text form
            if command == "ascset" and _avalon_query(parameter):
                continue
            if command and command not in READ_COMMANDS:
                found.append(f"text command {command!r}")
            continue
        if not isinstance(doc, dict):
            continue
        if "enc" in doc:
            found.append("an encrypted (write) btminer command")
            continue
        command = doc.get("command") or doc.get("cmd") or ""
        if command == "ascset" and _avalon_query(str(doc.get("parameter", ""))):
            continue
        for part in str(command).split("+"):
            if part and part not in READ_COMMANDS and not part.startswith("get."):
                found.append(f"command {part!r}")
    return found


@pytest.fixture(scope="module")
def sim():
    specs = [s for s in demo_specs(f"{NET}.10", len(DEMO_LAYOUT), restart_seconds=1.0) if s.kind not in NOT_SCANNED]
    with SimFleet(specs, allow_any_client=True, seed=11) as fleet:
        yield fleet


def test_every_family_is_told_apart_and_nothing_is_written(tmp_path, sim):
    # Polling as the app ships it (offline_after left to its default), with a longer timeout.
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset, polling={"timeout_sec": 3, "offline_after": None}) as live:
        client = live.client
        with WireRecorder() as wire:
            job = discover(client, timeout=60)
        assert job["state"] == "done", job
        found = {m["ip"]: m["family"] for m in job["found"]}
        expected = {m.spec.ip: KIND_FAMILY.get(m.spec.kind, m.spec.kind) for m in sim.miners}
        assert found == expected
        assert writes_in(wire.payloads) == []
        assert len(wire.payloads) > len(expected)  # the recorder did see the traffic
        assert all(m.reboots == 0 for m in sim.miners)
        online = {m["ip"]: m["online"] for m in client.get("/api/miners").get_json()}
        assert all(online.values()), [ip for ip, ok in online.items() if not ok]


def test_the_recorder_does_catch_writes():
    samples = [b'{"command":"restart"}', b"PATCH /api/system HTTP/1.1\r\nHost: x\r\n\r\n",
               b'{"command":"summary+addpool"}', b"ascset|0,softoff,1:2", b'{"enc": 1, "data": "abc"}',
               b'{"cmd":"set.miner.service","param":"stop"}']
    assert len(writes_in(samples)) == len(samples)
    assert writes_in([b'{"command":"summary+stats+pools"}', b'{"command":"ascset","parameter":"0,help"}', b"GET /api/system/info HTTP/1.1\r\n\r\n",
                      b"POST /api/v1/unlock HTTP/1.1\r\n\r\n", b'{"cmd":"get.device.info"}']) == []
