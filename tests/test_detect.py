"""Discovery: the one-thread connect sweep (timing, drops, fd limit) and read-only fingerprinting."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, FakeHttp, SilentPort, fixture_bytes, status_reply  # noqa: E402

from miners import detect  # noqa: E402
from miners.detect import Detection  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Real `version` reply of an S9 on Vnish 3.8.6 (github:delawr0190/foreman-apps
# foreman-antminer/src/test/java/mn/foreman/antminer/AntminerStatsITest.java @ 06aef3a170,
# case "Antminer S9 (NiceHash)"), unescaped from the Java literal.
VNISH_VERSION = ('{"STATUS":[{"STATUS":"S","When":1600299177,"Code":22,"Msg":"CGMiner versions",'
                 '"Description":"cgminer 4.11.1"}],"VERSION":[{"CGMiner":"4.11.1","API":"3.7","Miner":"26.0.1.3",'
                 '"CompileTime":"Fri May  8 15:27:59 CST 2020","Type":"Antminer S9 (vnish 3.8.6)"}],"id":1}')


def listener(host: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(16)
    return sock


# --- sweep --------------------------------------------------------------------------------------
def test_sweep_of_a_slash_24_with_dropping_hosts_costs_one_deadline():
    hosts = [f"127.82.1.{i}" for i in range(1, 255)]
    with SilentPort("127.82.1.7", 4028), SilentPort("127.82.1.9", 80):
        a, b = listener("127.82.1.5", 4028), listener("127.82.1.6", 80)
        try:
            start = time.monotonic()
            found = detect.sweep(hosts, [80, 4028], timeout=0.6)
            elapsed = time.monotonic() - start
        finally:
            a.close()
            b.close()
    assert found == {"127.82.1.5": {4028}, "127.82.1.6": {80}}
    assert 0.55 < elapsed < 1.0  # the dropped SYNs cost exactly the deadline, once


def test_sweep_returns_early_when_every_port_has_answered():
    a = listener("127.82.2.10", 4028)
    try:
        start = time.monotonic()
        found = detect.sweep([f"127.82.2.{i}" for i in range(1, 255)], [80, 4028], timeout=2.0)
        elapsed = time.monotonic() - start
    finally:
        a.close()
    assert found == {"127.82.2.10": {4028}}
    assert elapsed < 0.5  # loopback refusals are immediate: no waiting for the deadline


def test_sweep_raises_the_soft_fd_limit_or_chunks():
    # In a child process (limits are per process): soft=hard=150 descriptors, 508 sockets needed.
    code = textwrap.dedent("""
        import json, resource, socket, sys, time
        sys.path.insert(0, sys.argv[1])
        from miners import detect
        srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.82.4.200", 4028)); srv.listen(8)
        resource.setrlimit(resource.RLIMIT_NOFILE, (150, 150))
        hosts = [f"127.82.4.{i}" for i in range(1, 255)]
        start = time.monotonic()
        found = detect.sweep(hosts, [80, 4028], timeout=0.5)
        print(json.dumps({"found": {h: sorted(p) for h, p in found.items()},
                          "elapsed": time.monotonic() - start}))
    """)
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["found"] == {"127.82.4.200": [4028]}
    assert result["elapsed"] < 1.5


def test_fd_budget_raises_the_soft_limit(monkeypatch):
    calls = []
    monkeypatch.setattr(detect.resource, "getrlimit", lambda which: (256, 4096))
    monkeypatch.setattr(detect.resource, "setrlimit", lambda which, limits: calls.append(limits))
    monkeypatch.setattr(detect, "_open_descriptors", lambda: 300)
    assert detect._fd_budget(1000) == 1000
    assert calls == [(300 + 1000 + detect._FD_RESERVE, 4096)]


def test_fd_budget_counts_what_is_open_now(monkeypatch):
    """A hard limit that cannot hold everything: the sweep gets what is free, the reserve stays free."""
    monkeypatch.setattr(detect.resource, "getrlimit", lambda which: (1024, 1024))
    monkeypatch.setattr(detect.resource, "setrlimit", lambda which, limits: None)
    monkeypatch.setattr(detect, "_open_descriptors", lambda: 500)
    assert detect._fd_budget(1000) == 1024 - 500 - detect._FD_RESERVE
    monkeypatch.setattr(detect, "_open_descriptors", lambda: 1000)  # nearly full: a small chunk, not EMFILE
    assert detect._fd_budget(1000) == 8


def test_open_descriptors_counts_a_new_file():
    before = detect._open_descriptors()
    with open(__file__):
        assert detect._open_descriptors() == before + 1


def test_sweep_of_nothing():
    assert detect.sweep([], [80]) == {}


# --- fingerprint table ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, family", [
    (fixture_bytes("cgminer/version.s9_bosminer.json").decode(), "braiins"),
    (fixture_bytes("cgminer/summary.m31s.json").decode(), "whatsminer"),  # Description "btminer"
    ('{"STATUS":[{"STATUS":"S"}],"DEVDETAILS":[{"Driver":"bitmicro","Model":"M30S+V40"}]}', "whatsminer"),
    ('{"STATUS":[{"STATUS":"S"}],"VERSION":[{"LUXminer":"2024.1","Type":"Antminer S19k Pro"}]}', "luxos"),
    (VNISH_VERSION, "vnish"),  # Type also contains "Antminer": Vnish must win
    (fixture_bytes("antminer/version.s9_hiveon.json").decode(), "hiveon"),
    (fixture_bytes("antminer/version.s19_sleeping.json").decode(), "antminer"),
    (fixture_bytes("cgminer/version.a1566.json").decode(), "avalon"),
    (status_reply("CGMiner versions", section="VERSION", body=[{"CGMiner": "4.12.0", "API": "3.7"}]), "cgminer"),
    ("HTTP/1.1 400 Bad Request", None),
])
def test_cgminer_fingerprint_table(text, family):
    assert detect.classify_cgminer(text) == family


def test_fingerprint_over_tcp_reads_version_only():
    with FakeCgminer({"version": fixture_bytes("antminer/version.s19_sleeping.json")},
                     host="127.82.1.5", port=4028) as fake:
        found = detect.fingerprint("127.82.1.5", {4028, 80})
    assert found == Detection("antminer", 4028, "Antminer S19", "cgminer-api")
    assert fake.requests == [{"command": "version"}]  # one round trip, nothing written


def test_generic_cgminer_gets_a_devdetails_probe():
    version = status_reply("CGMiner versions", section="VERSION", body=[{"CGMiner": "4.9.2", "API": "3.7"}])
    devdetails = status_reply("Device Details", section="DEVDETAILS", body=[{"Driver": "bitmicro", "Model": "M20S"}])
    with FakeCgminer({"version": version, "devdetails": devdetails}, host="127.82.1.5", port=4028) as fake:
        found = detect.fingerprint("127.82.1.5", {4028})
    assert found == Detection("whatsminer", 4028, "M20S", "cgminer-api")
    assert [r["command"] for r in fake.requests] == ["version", "devdetails"]


def test_avalon_and_vnish_models():
    with FakeCgminer({"version": fixture_bytes("cgminer/version.a1566.json")}, host="127.82.1.5", port=4028):
        assert detect.fingerprint("127.82.1.5", {4028}).model == "AvalonMiner 15-194"
    with FakeCgminer({"version": VNISH_VERSION}, host="127.82.1.5", port=4028):
        assert detect.fingerprint("127.82.1.5", {4028}) == Detection("vnish", 4028, "Antminer S9", "cgminer-api")


def test_bitaxe_by_system_info():
    body = fixture_bytes("bitaxe/system_info.nerdqaxepp_v1.1.0-beta1.json")
    with FakeHttp({("GET", "/api/system/info"): (200, {"Content-Type": "application/json"}, body)},
                  host="127.82.1.6", port=80) as fake:
        found = detect.fingerprint("127.82.1.6", {80})
    assert found == Detection("bitaxe", 80, "NerdQAxe++ BM1370", "http")
    assert fake.seen == [("GET", "/api/system/info")]


def test_axeos_access_rule_401_is_flagged_unauthorized():
    routes = {("GET", "/api/system/info"): (401, {}, "Unauthorized"),
              ("GET", "/"): (401, {}, "Unauthorized")}
    with FakeHttp(routes, host="127.82.1.6", port=80) as fake:
        found = detect.fingerprint("127.82.1.6", {80})
    assert found == Detection("bitaxe", 80, None, "http", unauthorized=True)
    assert all(method == "GET" for method, _ in fake.seen)


def test_axeos_page_marker_with_refused_api():
    routes = {("GET", "/api/system/info"): (401, {}, "Unauthorized"),
              ("GET", "/"): (200, {"Content-Type": "text/html"}, "<title>AxeOS</title>")}
    with FakeHttp(routes, host="127.82.1.6", port=80):
        assert detect.fingerprint("127.82.1.6", {80}) == Detection("bitaxe", 80, None, "http", unauthorized=True)


def test_antminer_by_digest_realm_and_unknown_pages():
    routes = {("GET", "/"): (401, {"WWW-Authenticate": 'Digest realm="antMiner Configuration", nonce="x"'}, "")}
    with FakeHttp(routes, host="127.82.1.6", port=80):
        assert detect.fingerprint("127.82.1.6", {80}) == Detection("antminer", 80, None, "http")
    with FakeHttp({("GET", "/"): (200, {}, "<html>my router</html>")}, host="127.82.1.6", port=80):
        assert detect.fingerprint("127.82.1.6", {80}) is None


def test_web_markers_of_other_firmwares():
    for page, family in (("Braiins OS", "braiins"), ("Luxor Firmware", "luxos"), ("AnthillOS", "vnish")):
        with FakeHttp({("GET", "/"): (200, {}, f"<html>{page}</html>")}, host="127.82.1.6", port=80):
            assert detect.fingerprint("127.82.1.6", {80}).family == family


def test_detect_end_to_end_and_with_port_offset():
    with FakeCgminer({"version": fixture_bytes("cgminer/version.s9_bosminer.json")}, host="127.82.1.8", port=4028):
        assert detect.detect("127.82.1.8", timeout=1) == Detection("braiins", 4028, None, "cgminer-api")
    with FakeCgminer({"version": fixture_bytes("antminer/version.s19_sleeping.json")},
                     host="127.82.1.8", port=24028):
        found = detect.detect("127.82.1.8", port_offset=20000, timeout=1)
    assert found == Detection("antminer", 24028, "Antminer S19", "cgminer-api")


def test_detect_nothing_there():
    start = time.monotonic()
    assert detect.detect("127.82.1.250", timeout=1) is None
    assert time.monotonic() - start < 0.5
