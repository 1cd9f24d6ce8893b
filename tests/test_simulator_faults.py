"""The simulator's lying-miner faults (drip, huge, wrongtypes, absurd) on every transport it speaks.

HTTP (AxeOS, Vnish REST), the cgminer API on 4028 (stock Antminer, Avalon), the
length-prefixed Whatsminer API 3 on 4433 and NMMiner's UDP telemetry, talked to
with plain sockets (the simulator is an independent implementation; nothing
here uses miners/).
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time

import pytest

from simulator import MinerSpec, SimFleet, lies
from simulator.__main__ import parse_faults
from simulator.faults import FAULTS, HUGE_BYTES, huge_parts

NET = "127.163.0"
AXE, S9, AVALON, M60S, NM, VNISH = (f"{NET}.{n}" for n in (10, 11, 12, 13, 14, 15))
SINK = f"{NET}.1"
FAST_DRIP_S = 0.1  # the default is 1 s; the tests check the spacing at a tenth of it


@pytest.fixture(scope="module")
def sink():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((SINK, 0))
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def sim(sink):
    fleet = SimFleet([MinerSpec("bitaxe", AXE, firmware_version="v2.12.0"), MinerSpec("antminer", S9),
                      MinerSpec("avalon", AVALON), MinerSpec("whatsminer", M60S, model="M60S"),
                      MinerSpec("nmminer", NM), MinerSpec("vnish", VNISH)],
                     port_offset=10000, allow_any_client=True, seed=5)
    nm = fleet.miner(NM)
    nm.telemetry_target = sink.getsockname()
    nm.interval_s = 0.05
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture
def fault(sim):
    """set(ip, fault, drip_interval_s=None): the fault is cleared after the test."""
    touched: list[str] = []

    def apply(ip: str, name: str, drip_interval_s: float | None = None) -> None:
        if drip_interval_s is not None:
            sim.call(lambda: setattr(sim.miner(ip), "drip_interval_s", drip_interval_s))
        sim.set_fault(ip, name)
        touched.append(ip)

    yield apply
    for ip in touched:
        sim.set_fault(ip, None)
        sim.call(lambda ip=ip: setattr(sim.miner(ip), "drip_interval_s", 1.0))


# --- plain-socket clients ---------------------------------------------------------------------
def _connect(ip: str, port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection((ip, port), timeout=timeout)


def http_get(sim, ip: str, path: str) -> tuple[bytes, bytes]:
    """(head, body) of one GET with Connection: close, read to the end."""
    with _connect(ip, 80 + sim.port_offset) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n".encode())
        data = _read_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def cg(sim, ip: str, command: str) -> bytes:
    """One cgminer API exchange; the reply without its NUL."""
    with _connect(ip, 4028 + sim.port_offset) as sock:
        sock.sendall(json.dumps({"command": command}).encode())
        data = _read_all(sock)
    assert data.endswith(b"\x00"), data[-40:]
    return data[:-1]


def api3(sim, ip: str, payload: dict) -> bytes:
    """One Whatsminer API 3 frame's body."""
    with _connect(ip, 4433 + sim.port_offset) as sock:
        body = json.dumps(payload).encode()
        sock.sendall(struct.pack("<I", len(body)) + body)
        (length,) = struct.unpack("<I", sock.recv(4, socket.MSG_WAITALL))
        chunks, size = [], 0
        while size < length:
            chunk = sock.recv(min(1 << 20, length - size))
            assert chunk, "closed inside the frame"
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def datagram_from(sink: socket.socket, ip: str, predicate=lambda d: True, timeout: float = 3.0) -> bytes:
    """The next datagram from ``ip`` that satisfies ``predicate``."""
    deadline = time.monotonic() + timeout
    sink.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            data, sender = sink.recvfrom(70000)
        except TimeoutError:
            continue
        if sender[0] == ip and predicate(data):
            return data
    raise AssertionError(f"no matching datagram from {ip}")


def drip_bytes(sock: socket.socket, count: int) -> tuple[bytes, list[float]]:
    """The first ``count`` bytes and when each arrived (monotonic)."""
    got, times = b"", []
    while len(got) < count:
        chunk = sock.recv(count - len(got))
        assert chunk, "closed while dripping"
        got += chunk
        times.extend([time.monotonic()] * len(chunk))
    return got, times


def assert_dripped(times: list[float], interval: float) -> None:
    """Bytes arrived one at a time, about ``interval`` apart (never two in one burst)."""
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(gap >= interval * 0.6 for gap in gaps), gaps


# --- the fault list and the command line -------------------------------------------------------------
def test_new_faults_are_known_and_parsed_from_the_command_line():
    assert {"drip", "huge", "wrongtypes", "absurd"} <= set(FAULTS)
    assert parse_faults(["drip"], ["127.1.0.1", "127.1.0.2"]) == {"127.1.0.1": "drip", "127.1.0.2": "drip"}
    assert parse_faults(["absurd", "127.1.0.2=huge"], ["127.1.0.1", "127.1.0.2"]) == {
        "127.1.0.1": "absurd", "127.1.0.2": "huge"}
    with pytest.raises(ValueError, match="unknown fault"):
        parse_faults(["127.1.0.1=lying"], ["127.1.0.1"])
    with pytest.raises(ValueError, match="not one of"):
        parse_faults(["127.9.9.9=drip"], ["127.1.0.1"])


# --- pure helpers ------------------------------------------------------------------------------------
def test_huge_parts_pad_valid_json_without_holding_it():
    total, pieces = huge_parts(b'{"a":1}', 1_000_000)
    parts = list(pieces)
    assert total == sum(map(len, parts)) >= 1_000_000
    assert max(map(len, parts)) <= 64 * 1024  # streamed: no piece is the whole padding
    doc = json.loads(b"".join(parts))
    assert doc["a"] == 1 and len(doc["padding"]) > 999_000
    assert json.loads(b"".join(huge_parts(b"{}", 5000)[1])) == {"padding": "0" * (5000 - 14)}
    assert json.loads(b"".join(huge_parts(b"[1, 2]", 5000)[1]))[1:] == [1, 2]
    total, pieces = huge_parts(b"ok", 5000)
    assert b"".join(pieces).strip() == b"ok" and total == 5000
    assert HUGE_BYTES >= 8 * 1024 * 1024


def test_category_names_the_fields_that_matter():
    names = {"GHS 5s": "hashrate", "MHS av": "hashrate", "hashRate_1m": "hashrate", "HS RT": "hashrate",
             "gigahash_per_second": "hashrate", "temp2": "temperature", "Chip Temp Max": "temperature",
             "TMax": "temperature", "power": "power", "Power": "power", "watt": "power", "PS": "power",
             "fanrpm": "fan", "fan1": "fan", "Fan Speed In": "fan", "Accepted": None, "Difficulty Accepted": None,
             "hr_realtime": "hashrate", "chain_rate1": "hashrate", "total rate": "hashrate", "PVT_T0": "temperature",
             "Pool Attempts": None, "Elapsed": None}
    assert {k: lies.category(k) for k in names} == names


CG_REPLY = json.dumps({"STATUS": [{"STATUS": "S", "When": 5, "Code": 11, "Msg": "Summary", "Description": "x"}],
                       "SUMMARY": [{"GHS 5s": 13500.5, "Temperature": 70, "Power": 1350, "Fan Speed In": 4000,
                                    "Accepted": 10, "Nested": {"count": 1}, "Ok": True}], "id": 1})


def test_wrong_types_keeps_the_envelope_and_breaks_every_value():
    for variant in range(lies.WRONGTYPE_VARIANTS):
        doc = json.loads(lies.wrong_types(CG_REPLY, variant))
        assert doc["STATUS"] == json.loads(CG_REPLY)["STATUS"] and doc["id"] == 1
        record = doc["SUMMARY"][0]
        if variant == 0:
            assert record["GHS 5s"] == record["Accepted"] == record["Ok"] == "lots"
        elif variant == 1:
            assert record == {"GHS 5s": None, "Temperature": None, "Power": None, "Fan Speed In": None,
                              "Accepted": None, "Nested": {"count": None}, "Ok": None}
        else:  # objects below the top are lists, numbers are objects
            assert record == [{}, {}, {}, {}, {}, [{}], True]


def test_wrong_types_in_text_mode():
    text = "STATUS=S,When=5,Code=11,Msg=Summary,Description=x|SUMMARY,Elapsed=12,GHS 5s=13.5|"
    out = lies.wrong_types(text, 0)
    assert out.startswith("STATUS=S,When=5,Code=11") and "Elapsed=lots" in out and "GHS 5s=lots" in out


def test_absurd_values_by_field():
    first = json.loads(lies.absurd(CG_REPLY, 0))["SUMMARY"][0]
    assert (first["GHS 5s"], first["Temperature"], first["Power"], first["Fan Speed In"]) == (1e30, -300, -5, 10**7)
    assert first["Accepted"] == 10 and first["Nested"] == {"count": 1}
    second = json.loads(lies.absurd(CG_REPLY, 1))["SUMMARY"][0]
    assert math.isnan(second["GHS 5s"]) and second["Temperature"] == math.inf and second["Power"] == 1e9
    assert second["Fan Speed In"] == -1
    # Numbers inside strings: NMMiner's SI strings, Avalon's bracketed MM ID0 fields; nested unit objects.
    doc = json.loads(lies.absurd(json.dumps({"HashRate": "1.20MH/s", "Power": "4.5W", "Temp": 40,
                                             "MM ID0": "Ver[1.2] TMax[80] GHSspd[6789.69] PS[0 0 27525 4 0 3756 134]",
                                             "board_temp": {"degree_c": 55}}), 0))
    assert doc["HashRate"] == f"{1e30:.0f}MH/s" and doc["Power"] == "-5.0W" and doc["Temp"] == -300
    assert "Ver[1.2]" in doc["MM ID0"] and "TMax[-300.0]" in doc["MM ID0"]
    assert "PS[-5.0 -5.0 -5.0 -5.0 -5.0 -5.0 -5.0]" in doc["MM ID0"] and doc["board_temp"] == {"degree_c": -300}
    # Every number of a bmminer "min-max" string; bracketed text that is not a number (a version) stays.
    doc = json.loads(lies.absurd(json.dumps({"temp_chip1": "58-63", "MM ID0": "HashMcu0Ver[Q_hb_v1] TMax[80]"}), 0))
    assert doc["temp_chip1"] == "-300.0-300.0" and doc["MM ID0"] == "HashMcu0Ver[Q_hb_v1] TMax[-300.0]"
    glued = '{"STATUS":[{"STATUS":"S"}],"STATS":[{"Type":"S9"}{"GHS 5s":"13.5"}],"id":1}'
    assert json.loads(lies.absurd(glued, 0))["STATS"][1]["GHS 5s"] == f"{1e30:.0f}"


# --- HTTP (AxeOS, Vnish REST) ------------------------------------------------------------------------
def test_http_drip(sim, fault):
    fault(AXE, "drip", FAST_DRIP_S)
    with _connect(AXE, 80 + sim.port_offset) as sock:
        sock.sendall(f"GET /api/system/info HTTP/1.1\r\nHost: {AXE}\r\n\r\n".encode())
        got, times = drip_bytes(sock, 6)
    assert got == b"HTTP/1"
    assert_dripped(times, FAST_DRIP_S)
    assert sim.miner(AXE).drip_interval_s == FAST_DRIP_S


def test_drip_default_is_one_byte_a_second(sim, fault):
    fault(S9, "drip")
    with _connect(S9, 4028 + sim.port_offset) as sock:
        sock.sendall(b'{"command":"summary"}')
        got, times = drip_bytes(sock, 2)
    assert got == b'{"' and 0.8 <= times[1] - times[0] <= 2.0


def test_http_huge(sim, fault):
    fault(AXE, "huge")
    head, body = http_get(sim, AXE, "/api/system/info")
    assert f"Content-Length: {len(body)}".encode() in head and len(body) >= HUGE_BYTES
    doc = json.loads(body)
    assert len(doc["padding"]) > HUGE_BYTES - 10_000 and doc["hashRate"] > 0  # the real reply is still there


def test_http_wrong_types_and_absurd(sim, fault):
    fault(AXE, "wrongtypes")
    seen = [json.loads(http_get(sim, AXE, "/api/system/info")[1]) for _ in range(3)]
    assert seen[0]["hashRate"] == "lots" and seen[1]["hashRate"] is None and seen[2]["hashRate"] == {}
    assert isinstance(seen[2]["sharesRejectedReasons"], list)
    fault(AXE, "absurd")
    doc = json.loads(http_get(sim, AXE, "/api/system/info")[1])
    assert doc["hashRate"] in (1e30,) or math.isnan(doc["hashRate"])
    assert doc["temp"] in (-300, math.inf) and doc["power"] in (-5, 1e9) and doc["fanrpm"] in (10**7, -1)
    fault(VNISH, "absurd")
    summary = json.loads(http_get(sim, VNISH, "/api/v1/summary")[1])
    assert summary["miner"]["power_consumption"] in (-5, 1e9)
    # Errors and non-JSON pages are not rewritten: a client still sees the firmware's own refusals.
    head, body = http_get(sim, VNISH, "/api/v1/settings")
    assert head.startswith(b"HTTP/1.1 401")


# --- cgminer API (4028) ------------------------------------------------------------------------------------
def test_cgapi_huge(sim, fault):
    fault(S9, "huge")
    reply = cg(sim, S9, "summary")
    assert len(reply) >= HUGE_BYTES
    doc = json.loads(reply)
    assert doc["STATUS"][0]["STATUS"] == "S" and doc["SUMMARY"][0]["GHS 5s"]


def test_cgapi_drip(sim, fault):
    fault(AVALON, "drip", FAST_DRIP_S)
    with _connect(AVALON, 4028 + sim.port_offset) as sock:
        sock.sendall(b'{"command":"version"}')
        got, times = drip_bytes(sock, 5)
    assert got == b'{"STA'
    assert_dripped(times, FAST_DRIP_S)


def test_cgapi_wrong_types_and_absurd(sim, fault):
    fault(S9, "wrongtypes")
    stats = json.loads(cg(sim, S9, "stats"))  # glued "}{" on the real S9: the lie is valid JSON
    assert stats["STATUS"][0]["STATUS"] == "S" and stats["STATS"][1]["Elapsed"] == "lots"
    fault(AVALON, "absurd")
    mm = json.loads(cg(sim, AVALON, "stats"))["STATS"][0]["MM ID0"]
    assert "TMax[-300.0]" in mm or "TMax[inf]" in mm
    assert "GHSspd[1000000000000000019884624838656]" in mm or "GHSspd[nan]" in mm


# --- Whatsminer API 3 (4433) ------------------------------------------------------------------------------
def test_api3_every_fault(sim, fault):
    fault(M60S, "wrongtypes")
    doc = json.loads(api3(sim, M60S, {"cmd": "get.miner.status", "param": "summary"}))
    assert doc["code"] == 0 and doc["msg"]["summary"]["elapsed"] == "lots"
    fault(M60S, "absurd")
    doc = json.loads(api3(sim, M60S, {"cmd": "get.miner.status", "param": "summary"}))
    summary = doc["msg"]["summary"]
    assert summary["hash-realtime"] == 1e30 or math.isnan(summary["hash-realtime"])
    fault(M60S, "huge")
    body = api3(sim, M60S, {"cmd": "get.device.info"})
    assert len(body) >= HUGE_BYTES and json.loads(body)["code"] == 0
    fault(M60S, "drip", FAST_DRIP_S)
    with _connect(M60S, 4433 + sim.port_offset) as sock:
        payload = json.dumps({"cmd": "get.device.info"}).encode()
        sock.sendall(struct.pack("<I", len(payload)) + payload)
        got, times = drip_bytes(sock, 4)
    assert struct.unpack("<I", got)[0] > 100
    assert_dripped(times, FAST_DRIP_S)


# --- NMMiner UDP ----------------------------------------------------------------------------------------------
def test_udp_every_fault(sim, sink, fault):
    fault(NM, "huge")
    data = datagram_from(sink, NM, lambda d: len(d) > 60000)
    assert len(data) == 65507 and json.loads(data)["IP"] == NM  # NMMiner (not NMAxe): upper-case "IP"
    fault(NM, "absurd")
    doc = json.loads(datagram_from(sink, NM, lambda d: len(d) < 60000))
    assert doc["Temp"] in (-300, math.inf) and doc["HashRate"].startswith(("1000000000000000019884624838656", "nan"))
    fault(NM, "wrongtypes")
    doc = json.loads(datagram_from(sink, NM, lambda d: b"GH/s" not in d and b"KH/s" not in d and len(d) < 60000))
    assert doc["Temp"] in ("lots", None, {})
    fault(NM, "drip", FAST_DRIP_S)
    first = datagram_from(sink, NM, lambda d: len(d) == 1)
    second = datagram_from(sink, NM, lambda d: len(d) == 1)
    assert first + second == b'{"'


def test_clearing_a_fault_restores_normal_replies(sim, fault):
    fault(S9, "absurd")
    sim.set_fault(S9, None)
    doc = json.loads(cg(sim, S9, "summary"))
    assert 1000 < float(doc["SUMMARY"][0]["GHS 5s"]) < 100_000
