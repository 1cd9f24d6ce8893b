"""Bitaxe/AxeOS and NerdQAxe++: the pure parser on recorded replies, and the driver with requests-mock.

The v2.9+ replies below are BUILT here from the field table of the reference
(section 3), because no public capture of a v2.9+ /api/system/info was found; the
recorded ones (fixtures) are v2.6.0 and NerdOS v1.1.0-beta1.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import fixture_json  # noqa: E402

from miners import bitaxe  # noqa: E402
from miners.base import (  # noqa: E402
    CHIPS,
    FAN,
    FREQUENCY,
    MODE,
    POOLS,
    RESTART,
    SLEEP,
    WAKE,
    MinerAuthError,
    MinerProtocolError,
    MinerUnreachable,
    NotSupported,
    PoolConfig,
)
from miners.bitaxe import BitaxeDriver  # noqa: E402

HOST = "127.82.10.1"
BASE = f"http://{HOST}"


def built_info(version: str, **extra) -> dict:
    """A /api/system/info shaped per reference section 3 for ``version`` (not a capture)."""
    info = {
        "power": 18.2, "voltage": 5093.75, "current": 3500.0, "temp": 58.5, "temp2": -1, "vrTemp": 61,
        "hashRate": 1071.5, "expectedHashrate": 1150.0, "coreVoltage": 1150, "coreVoltageActual": 1144,
        "frequency": 525, "fanspeed": 60, "fanrpm": 4200, "autofanspeed": 1, "manualFanSpeed": 100,
        "sharesAccepted": 10, "sharesRejected": 1, "uptimeSeconds": 3600, "ASICModel": "BM1370",
        "boardVersion": "601", "version": version, "hostname": "gamma", "macAddr": "AA:BB:CC:DD:EE:FF",
        "stratumURL": "public-pool.io", "stratumPort": 21496, "stratumUser": "bc1qexample.gamma",
        "fallbackStratumURL": "solo.ckpool.org", "fallbackStratumPort": 3333,
        "fallbackStratumUser": "bc1qexample.gamma", "isUsingFallbackStratum": 0, "miningPaused": False,
    }
    info.update(extra)
    return info


# --- parser on recorded replies ---------------------------------------------------------------
def test_parse_axeos_v2_6_hex():
    status = bitaxe.parse_system_info(fixture_json("bitaxe/system_info.hex302_axeos_v2.6.0.json"))
    assert status.hashrate_hs == pytest.approx(2372.7583341893742e9)
    assert status.expected_hashrate_hs is None  # not reported before ~v2.9, and never computed
    assert status.power_w == pytest.approx(58.35174560546875)
    assert status.voltage_mv == 1200 and status.frequency_mhz == 525
    assert status.temp_c == 58 and status.fan_rpm == [5515] and status.fan_percent == 35
    assert status.model == "Bitaxe Hex BM1366"
    assert status.firmware == "AxeOS" and status.firmware_version == "v2.6.0"
    assert status.mac == "C0:FA:38:6A:6E:B2" and status.hostname == "bitaxe"
    assert status.uptime_s == 212115 and (status.shares_accepted, status.shares_rejected) == (19739, 6)
    assert [(p.url, p.active, p.priority) for p in status.pools] == [
        ("stratum+tcp://public-pool.io:21496", True, 0), ("stratum+tcp://solo.ckpool.org:3333", False, 1)]
    board = status.boards[0]
    assert board.voltage_mv == 1194 and board.temp_c == 45 and board.chips == 1
    assert status.state == "mining" and status.errors == []


def test_parse_nerdqaxe_plus_plus():
    status = bitaxe.parse_system_info(fixture_json("bitaxe/system_info.nerdqaxepp_v1.1.0-beta1.json"),
                                      fixture_json("bitaxe/system_asic.nerdqaxepp_v1.1.0-beta1.json"))
    assert status.model == "NerdQAxe++ BM1370" and status.firmware == "NerdOS"
    assert status.firmware_version == "v1.1.0-beta1"
    assert status.hashrate_hs == pytest.approx(5455.551e9) and status.power_w == 103
    assert status.temp_c == pytest.approx(59.875)  # asicTemps are all 0 in this capture: ignored
    assert status.fan_rpm == [1796, 1557]  # fanrpm + fanrpm2
    assert status.boards[0].chips == 4
    assert status.pools[0].url == "stratum+tcp://172.17.1.6:2018"


def test_parse_with_asic_endpoint_model():
    info = built_info("v2.10.0")
    info.pop("boardVersion")
    status = bitaxe.parse_system_info(info, fixture_json("bitaxe/system_asic.supra_bm1368.json"))
    assert status.model == "Bitaxe Supra BM1370"  # deviceModel from /api/system/asic + ASICModel from info
    assert status.boards[0].chips == 1  # asicCount lives in /api/system/asic from ~v2.9
    assert status.expected_hashrate_hs == pytest.approx(1150e9)


def test_parse_paused_faulted_and_v2_15_pools():
    info = built_info("v2.15.0", miningPaused=True, power_fault="VIN too low", isUsingFallbackStratum=1,
                      primaryPoolIndex=0, secondaryPoolIndex=2, pools=[
                          {"id": 0, "stratumURL": "a.example", "stratumPort": 3333, "stratumUser": "u",
                           "stratumPassword": "*****"},
                          {"id": 1, "stratumURL": "", "stratumPort": 3333, "stratumUser": ""},
                          {"id": 2, "stratumURL": "b.example", "stratumPort": 4444, "stratumUser": "u",
                           "stratumTLS": True}])
    status = bitaxe.parse_system_info(info)
    assert status.state == "error" and "VIN too low" in status.errors[0]
    assert [(p.url, p.active, p.priority) for p in status.pools] == [
        ("stratum+tcp://a.example:3333", False, 0), ("stratum+ssl://b.example:4444", True, 1)]
    assert "*****" not in repr(status.pools)
    assert bitaxe.parse_system_info(built_info("v2.14.2", miningPaused=True)).state == "paused"


@pytest.mark.parametrize("text, version", [("v2.13.0b1", (2, 13, 0)), ("2.2.0", (2, 2, 0)),
                                           ("v1.1.0-beta1", (1, 1, 0)), ("", None), (None, None)])
def test_version_parsing(text, version):
    assert bitaxe.parse_version(text) == version


# --- driver over HTTP (requests-mock) ---------------------------------------------------------------
@pytest.fixture
def driver():
    d = BitaxeDriver(HOST, timeout=1)
    yield d
    d.close()


def test_read_fetches_asic_once_on_v2_9_and_later(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", json=built_info("v2.12.0"))
    asic = requests_mock.get(f"{BASE}/api/system/asic", json=fixture_json("bitaxe/system_asic.supra_bm1368.json"))
    first = driver.read()
    driver.read()
    assert asic.call_count == 1
    assert first.model == "Bitaxe Supra BM1370" and first.hashrate_hs == pytest.approx(1071.5e9)
    session = driver._session
    driver.read()
    assert driver._session is session  # one Session per driver instance


def test_read_skips_asic_on_old_builds(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", json=fixture_json("bitaxe/system_info.hex302_axeos_v2.6.0.json"))
    asic = requests_mock.get(f"{BASE}/api/system/asic", status_code=404)
    driver.read()
    assert asic.call_count == 0


def test_401_is_an_auth_error_with_the_access_rule(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", status_code=401, text="Unauthorized")
    with pytest.raises(MinerAuthError) as err:
        driver.read()
    assert "10/8, 172.16/12, 192.168/16" in str(err.value) and "401" in str(err.value)


@pytest.mark.parametrize("exc", [requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout,
                                 requests.exceptions.ConnectionError])
def test_timeouts_and_refusals_are_unreachable(driver, requests_mock, exc):
    requests_mock.get(f"{BASE}/api/system/info", exc=exc)
    with pytest.raises(MinerUnreachable):
        driver.read()


def test_non_json_is_a_protocol_error(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", text="<html>captive portal</html>")
    with pytest.raises(MinerProtocolError):
        driver.read()


@pytest.mark.parametrize("body", ["System will restart shortly.", '{"message":"System will restart shortly."}'])
def test_restart_accepts_text_or_json(driver, requests_mock, body):
    post = requests_mock.post(f"{BASE}/api/system/restart", text=body)
    driver.restart()
    assert post.call_count == 1


def test_capabilities_narrow_after_the_first_read(driver, requests_mock):
    maximum = {RESTART, SLEEP, WAKE, FREQUENCY, FAN, POOLS, MODE, CHIPS}
    assert BitaxeDriver.capabilities == maximum
    requests_mock.get(f"{BASE}/api/system/info", json=built_info("v2.13.2"))
    requests_mock.get(f"{BASE}/api/system/asic", json={})
    driver.read()
    assert driver.capabilities == {RESTART, FREQUENCY, FAN, POOLS, MODE}  # BM1370: presets; no hashrateMonitor
    assert BitaxeDriver.capabilities == maximum  # class keeps the maximum
    with pytest.raises(NotSupported, match="v2.14.0"):
        driver.sleep()


def test_sleep_and_wake_on_v2_14(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", json=built_info("v2.14.2"))
    pause = requests_mock.post(f"{BASE}/api/system/pause", json={"message": "Mining paused"})
    resume = requests_mock.post(f"{BASE}/api/system/resume", json={"message": "Mining resumed"})
    driver.sleep()
    driver.wake()
    assert pause.call_count == 1 and resume.call_count == 1
    assert SLEEP in driver.capabilities


def test_set_frequency_patches_and_reads_back(driver, requests_mock):
    state = built_info("v2.12.0")
    requests_mock.get(f"{BASE}/api/system/info", json=lambda request, context: state)

    def apply(request, context):
        state.update(request.json())
        return ""  # AxeOS answers 200 with an empty body

    patch = requests_mock.patch(f"{BASE}/api/system", text=apply)
    driver.set_frequency(575, 1200)
    assert patch.last_request.json() == {"frequency": 575, "coreVoltage": 1200}


def test_set_frequency_ignored_by_firmware_is_reported(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", json=built_info("v2.12.0"))  # never changes
    requests_mock.patch(f"{BASE}/api/system", text="")
    with pytest.raises(MinerProtocolError, match="did not apply frequency"):
        driver.set_frequency(600)
    with pytest.raises(ValueError):
        driver.set_frequency(600, board=1)


def test_set_frequency_rejected_values(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", json=built_info("v2.12.0"))
    requests_mock.patch(f"{BASE}/api/system", status_code=400, text="Wrong API input")
    with pytest.raises(Exception, match="Wrong API input"):
        driver.set_frequency(600)


@pytest.mark.parametrize("version, key", [("v2.6.0", "fanspeed"), ("v2.11.0", "fanspeed"),
                                          ("v2.12.0", "manualFanSpeed"), ("v2.15.0", "manualFanSpeed")])
def test_set_fan_key_depends_on_version(driver, requests_mock, version, key):
    state = built_info(version)
    requests_mock.get(f"{BASE}/api/system/info", json=lambda request, context: state)
    patch = requests_mock.patch(f"{BASE}/api/system", text=lambda request, context: state.update(request.json()) or "")
    driver.set_fan(70)
    assert patch.last_request.json() == {"autofanspeed": 0, key: 70}
    driver.set_fan(None)
    assert patch.last_request.json() == {"autofanspeed": 1}


def test_set_pools_flat_keys_up_to_v2_14(driver, requests_mock):
    state = built_info("v2.14.2")
    requests_mock.get(f"{BASE}/api/system/info", json=lambda request, context: {
        k: v for k, v in state.items() if "Password" not in k})
    patch = requests_mock.patch(f"{BASE}/api/system", text=lambda request, context: state.update(request.json()) or "")
    driver.set_pools([PoolConfig("stratum+tcp://eu.pool.example:3333", "me.bitaxe", "pw1"),
                      PoolConfig("stratum+tcp://solo.ckpool.org:3333", "me.bitaxe", "pw2")])
    assert patch.last_request.json() == {
        "stratumURL": "eu.pool.example", "stratumPort": 3333, "stratumUser": "me.bitaxe", "stratumPassword": "pw1",
        "fallbackStratumURL": "solo.ckpool.org", "fallbackStratumPort": 3333,
        "fallbackStratumUser": "me.bitaxe", "fallbackStratumPassword": "pw2"}


def test_set_pools_uses_pools_list_from_v2_15(driver, requests_mock):
    state = built_info("v2.15.0")

    def apply(request, context):
        body = request.json()
        for pool, prefix in zip(body["pools"], ("stratum", "fallbackStratum")):  # flat fields mirror pools[]
            state.update({f"{prefix}URL": pool["stratumURL"], f"{prefix}Port": pool["stratumPort"],
                          f"{prefix}User": pool["stratumUser"]})
        return ""

    requests_mock.get(f"{BASE}/api/system/info", json=lambda request, context: state)
    patch = requests_mock.patch(f"{BASE}/api/system", text=apply)
    driver.set_pools([PoolConfig("stratum+tcp://eu.pool.example:3333", "me.bitaxe", "pw1")])
    sent = patch.last_request.json()
    assert sent["pools"] == [{"id": 0, "stratumURL": "eu.pool.example", "stratumPort": 3333,
                              "stratumUser": "me.bitaxe", "stratumPassword": "pw1"}]
    assert "stratumURL" not in sent  # flat keys are silently ignored from v2.15


def test_set_pools_ignored_by_firmware_and_invalid_urls(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", json=built_info("v2.15.0"))
    requests_mock.patch(f"{BASE}/api/system", text="")
    with pytest.raises(MinerProtocolError) as err:
        driver.set_pools([PoolConfig("stratum+tcp://eu.pool.example:3333", "me", "topsecret")])
    assert "topsecret" not in str(err.value)
    for bad in ("eu.pool.example:3333", "stratum+tcp://eu.pool.example", "stratum+ssl://x:1"):
        with pytest.raises(ValueError):
            driver.set_pools([PoolConfig(bad, "me")])
    with pytest.raises(ValueError):
        driver.set_pools([PoolConfig("stratum+tcp://a:1", "u")] * 3)


def test_nerdqaxe_capabilities_and_fan(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", json=fixture_json("bitaxe/system_info.nerdqaxepp_v1.1.0-beta1.json"))
    asic = requests_mock.get(f"{BASE}/api/system/asic", json={})
    status = driver.read()
    assert status.model == "NerdQAxe++ BM1370" and asic.call_count == 0  # deviceModel is already in info
    # NerdOS: sleep = /api/system/shutdown, wake = restart; asicTemps all 0 in this capture: no chips
    assert driver.capabilities == {RESTART, FREQUENCY, POOLS, SLEEP, WAKE, MODE}
    with pytest.raises(NotSupported):
        driver.set_fan(50)


def test_nerdqaxe_401_mentions_otp(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", json=fixture_json("bitaxe/system_info.nerdqaxepp_v1.1.0-beta1.json"))
    requests_mock.post(f"{BASE}/api/system/restart", status_code=401)
    driver.read()
    with pytest.raises(MinerAuthError, match="TOTP"):
        driver.restart()


def test_trickling_http_body_is_cut_at_the_deadline():
    """A real socket (no mock): headers, then one body byte every 50 ms, forever."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
            try:
                while not stop.is_set():
                    conn.sendall(b" ")
                    time.sleep(0.05)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    d = BitaxeDriver("127.0.0.1", port=server.getsockname()[1], timeout=0.5)
    start = time.monotonic()
    try:
        with pytest.raises(MinerUnreachable, match="not finished"):
            d.read()
        assert time.monotonic() - start < 1.2
    finally:
        stop.set()
        d.close()
        server.close()
