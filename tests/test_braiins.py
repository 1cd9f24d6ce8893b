"""BraiinsOS / BOS+: parsers on recorded replies, REST token handling, the cgminer-API fallback."""

from __future__ import annotations

import json
import os
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, fixture_bytes, fixture_json  # noqa: E402

from miners import make_driver  # noqa: E402
from miners.base import (  # noqa: E402
    POOLS,
    POWER_WATTS,
    REBOOT,
    RESTART,
    SLEEP,
    WAKE,
    Credentials,
    MinerAuthError,
    NotSupported,
    PoolConfig,
)
from miners.braiins import (  # noqa: E402
    BraiinsDriver,
    model_name,
    parse_bos_version,
    parse_bosminer,
    parse_rest,
    parse_rest_pools,
    power_target_w,
)

REST = "braiins/rest_{}.bos_plus_25.11_s19xp.json"


def rest(name: str):
    return fixture_json(REST.format(name))


# --- REST parsers (BOS+ 25.11, S19 XP) ------------------------------------------------------------
def test_parse_rest_recorded_s19xp():
    status = parse_rest(rest("miner_details"), rest("miner_stats"), rest("miner_hw_hashboards"),
                        rest("cooling_state"), rest("performance_tuner_state"), rest("pools"))
    assert status.hashrate_hs == pytest.approx(121015.4090279137e9)  # last_5s, GH/s -> H/s
    assert status.expected_hashrate_hs == pytest.approx(119967.84610414201e9)  # nominal, not the sticker
    assert status.power_w == 2472  # approximated_consumption.watt
    assert status.model == "Antminer S19 XP"
    assert status.firmware == "BOS+" and status.firmware_version == "2025-11-21-0-eb658dcd-25.11-plus"
    assert status.mac == "90:34:86:54:14:C0" and status.hostname == "Antminer"
    assert status.uptime_s == 20359  # bosminer_uptime_s: the mining process, like cgminer's Elapsed
    assert (status.shares_accepted, status.shares_rejected) == (5048, 10)
    assert [b.index for b in status.boards] == [0, 1, 2]  # ids "1".."3" are strings
    first = status.boards[0]
    assert first.chips == 110 and first.frequency_mhz == 406.25 and first.voltage_mv == pytest.approx(12606.1)
    assert (first.temp_c, first.chip_temp_c) == (56.5, 71.5)
    assert first.hashrate_hs == pytest.approx(44372.60535253056e9)
    assert first.expected_hashrate_hs == pytest.approx(40139.961193194e9)
    assert status.fan_rpm == [5879, 5819, 5909, 5909] and status.fan_percent == 100.0
    assert status.temp_c == 71.5
    assert status.state == "mining"
    assert "note: power target 2431 W (BOS+ tuner)" in status.errors
    assert status.efficiency_j_th == pytest.approx(2472 / 121.0154, rel=1e-3)


def test_parse_rest_pools_recorded():
    pools = parse_rest_pools(rest("pools"))
    assert [(p.url, p.user, p.active, p.priority, p.status) for p in pools] == [
        ("stratum+tcp://example.pool.com:3333", "asic_rs.test", True, 0, "Alive"),
        ("stratum+tcp://example.pool2.com:3333", "asic_rs.test", False, 1, "Alive")]
    assert (pools[0].accepted, pools[0].rejected) == (5048, 10)


def test_power_target_and_paused_state():
    assert power_target_w(rest("performance_tuner_state")) == 2431
    details = dict(rest("miner_details"), status=3)  # 3 = paused (bos-plus-api miner.proto)
    stats = json.loads(fixture_bytes(REST.format("miner_stats")))
    stats["miner_stats"]["real_hashrate"]["last_5s"]["gigahash_per_second"] = 0.0
    assert parse_rest(details, stats, rest("miner_hw_hashboards")).state == "paused"


# --- cgminer-API parsers ----------------------------------------------------------------------
def s9_bos_plus_replies() -> dict:
    """The Foreman "S9 (bOS+)" captures (0.2.0; devs from a 0.4.0 unit) plus the Braiins docs'
    devdetails/tunerstatus outputs of another BOSminer+ 0.2.0 S9: three units, one shape."""
    names = {"version": "version.s9_bosminer_plus_0.2.0", "summary": "summary.s9_bosminer_plus_0.2.0",
             "pools": "pools.s9_bosminer_plus_0.2.0", "fans": "fans.s9_bosminer_plus_0.2.0",
             "temps": "temps.s9_bosminer_plus_0.2.0", "devs": "devs.s9_bosminer_plus_0.4.0",
             "devdetails": "devdetails.s9_bosminer_plus_0.2.0_docs",
             "tunerstatus": "tunerstatus.s9_bosminer_plus_0.2.0_docs"}
    return {cmd: fixture_json(f"braiins/{name}.json") for cmd, name in names.items()}


def test_parse_bosminer_plus_s9():
    status = parse_bosminer(s9_bos_plus_replies())
    assert status.hashrate_hs == pytest.approx(15740915.842676325e6)  # summary MHS 5s
    assert status.expected_hashrate_hs == pytest.approx(3 * 4668300.0e6)  # devs Nominal MHS
    assert status.firmware == "BOSminer+" and status.firmware_version == "0.2.0-36c56a9363"
    assert status.model == "Antminer S9"  # devdetails "Bitmain Antminer S9"
    assert [b.index for b in status.boards] == [0, 1, 2]  # chains 6..8
    assert [b.temp_c for b in status.boards] == [75.0, 63.0, 70.0]
    assert [b.chip_temp_c for b in status.boards] == [None, None, None]  # Chip 0.0 = not read
    assert status.boards[0].frequency_mhz == pytest.approx(799.68, abs=0.01)  # Frequency is Hz
    assert status.boards[0].voltage_mv == pytest.approx(8416.8, abs=0.1)
    assert status.boards[0].chips == 63
    assert status.boards[2].hardware_errors == 1
    assert status.fan_rpm == [2820, 3780] and status.fan_percent == 40  # two fans in four slots
    assert status.power_w == 1419  # tunerstatus ApproximateMinerPowerConsumption
    assert "note: power limit 1420 W (BOS tuner)" in status.errors
    assert status.uptime_s == 3680 and status.shares_accepted == 153
    assert [p.active for p in status.pools] == [True, False, False]
    assert status.temp_c == 75.0


def test_parse_open_source_bosminer_s9():
    replies = {"version": fixture_json("braiins/version.s9_bosminer.json"),
               "summary": fixture_json("braiins/summary.s9_bosminer_0.2.0.json"),
               "pools": fixture_json("braiins/pools.s9_bosminer_0.2.0.json")}
    status = parse_bosminer(replies)
    assert (status.firmware, status.firmware_version) == ("BOSminer", "0.2.0-d360818")
    assert status.hashrate_hs == pytest.approx(14274425.317759488e6)
    assert status.power_w is None  # no tunerstatus: unknown, never 0
    assert [p.status for p in status.pools] == ["Alive", "Dead"]


def test_docs_temps_report_chip_temperatures():
    replies = {"summary": fixture_json("braiins/summary.s9_bosminer_plus_0.2.0.json"),
               "devs": fixture_json("braiins/devs.s9_bosminer_plus_0.4.0.json"),
               "temps": fixture_json("braiins/temps.s9_bosminer_plus_0.2.0_docs.json")}
    status = parse_bosminer(replies)
    assert [b.chip_temp_c for b in status.boards] == [104.625, 108.9375, 105.4375]
    assert status.temp_c == 108.9375


def test_version_keys_and_model_names():
    assert parse_bos_version(fixture_json("braiins/version.s9_bosminer.json"))["firmware"] == "BOSminer"
    boser = {"STATUS": [{"STATUS": "S"}], "VERSION": [{"API": "3.7", "BOSer": "x"}]}  # key per reference section 8
    assert parse_bos_version(boser) == {"firmware": "BOSer", "firmware_version": "x"}
    assert model_name("Bitmain Antminer S19XP") == "Antminer S19 XP"
    assert model_name("Bitmain Antminer S9") == "Antminer S9"


def test_pause_reply_shape_from_the_docs():
    reply = fixture_json("braiins/pause.s17_bosminer_plus_0.6.0_docs.json")
    assert reply["PAUSE"] == [True] and reply["STATUS"][0]["Code"] == 204
    assert fixture_json("braiins/resume.s17_bosminer_plus_0.6.0_docs.json")["RESUME"] == [True]


# --- the REST transport (requests-mock) ---------------------------------------------------------
HTTP_PORT = 18080
BASE = f"http://127.0.0.1:{HTTP_PORT}/api/v1"


def rest_driver(**kwargs) -> BraiinsDriver:
    return BraiinsDriver("127.0.0.1", port=14028, http_port=HTTP_PORT, timeout=2.0, **kwargs)


def mock_reads(requests_mock) -> None:
    for path, name in (("/miner/details", "miner_details"), ("/miner/stats", "miner_stats"),
                       ("/miner/hw/hashboards", "miner_hw_hashboards"), ("/cooling/state", "cooling_state"),
                       ("/performance/tuner-state", "performance_tuner_state"), ("/pools/", "pools")):
        requests_mock.get(BASE + path, json=rest(name))
    mock_constraints(requests_mock)


def mock_constraints(requests_mock):
    """GET /configuration/constraints: the documented S19k Pro range, 771-6435 W (see the fixtures README)."""
    body = fixture_json("braiins/rest_configuration_constraints.s19kpro_documented.json")
    return requests_mock.get(BASE + "/configuration/constraints", json=body)


def test_login_sends_default_credentials_and_the_token_raw(requests_mock):
    login = requests_mock.post(BASE + "/auth/login", json={"token": "tok123", "timeout_s": 3600})
    mock_reads(requests_mock)
    status = rest_driver().read()
    assert status.model == "Antminer S19 XP"
    assert login.call_count == 1 and login.last_request.json() == {"username": "root", "password": "root"}
    gets = [r for r in requests_mock.request_history if r.method == "GET"]
    assert gets and all(r.headers["Authorization"] == "tok123" for r in gets)  # no "Bearer "


def test_expired_token_logs_in_again_once_and_repeats(requests_mock):
    tokens = iter(["old", "new"])
    login = requests_mock.post(BASE + "/auth/login", json=lambda req, ctx: {"token": next(tokens), "timeout_s": 3600})
    mock_constraints(requests_mock)
    target = requests_mock.put(BASE + "/performance/power-target", [
        {"status_code": 401, "json": {"message": "Unauthorized"}}, {"json": {"watt": 2500}}])
    rest_driver().set_power_watts(2500)
    assert login.call_count == 2
    assert [r.headers["Authorization"] for r in target.request_history] == ["old", "new"]
    assert target.last_request.json() == {"watt": 2500}


def test_token_refused_twice_is_an_auth_error(requests_mock):
    requests_mock.post(BASE + "/auth/login", json={"token": "t", "timeout_s": 3600})
    requests_mock.put(BASE + "/actions/pause", status_code=401, json={})
    with pytest.raises(MinerAuthError, match="refused a fresh REST token"):
        rest_driver().sleep()


def test_wrong_password_is_a_clear_error_and_nothing_is_written(requests_mock):
    requests_mock.post(BASE + "/auth/login", status_code=401, json={"message": "Invalid credentials"})
    put = requests_mock.put(BASE + "/performance/power-target", json={"watt": 2500})
    driver = rest_driver(credentials=Credentials("root", "wrong-secret"))
    with pytest.raises(MinerAuthError) as info:
        driver.set_power_watts(2500)
    assert "refused the REST login as 'root'" in str(info.value)
    assert "wrong-secret" not in str(info.value)
    assert put.call_count == 0


def test_default_login_falls_back_to_the_empty_password(requests_mock):
    def login(request, context):
        if request.json()["password"] == "":
            return {"token": "t", "timeout_s": 60}
        context.status_code = 401
        return {}

    requests_mock.post(BASE + "/auth/login", json=login)
    requests_mock.put(BASE + "/actions/resume", json=True)
    driver = rest_driver()
    driver.wake()
    assert [r.json()["password"] for r in requests_mock.request_history if r.method == "POST"] == ["root", ""]


def test_power_target_is_the_only_write(requests_mock):
    requests_mock.post(BASE + "/auth/login", json={"token": "t", "timeout_s": 3600})
    requests_mock.put(BASE + "/performance/power-target", json={"watt": 1800})
    mock_constraints(requests_mock)
    rest_driver().set_power_watts(1800)
    writes = [(r.method, r.path) for r in requests_mock.request_history if r.method != "GET"]
    assert writes == [("POST", "/api/v1/auth/login"), ("PUT", "/api/v1/performance/power-target")]


def test_power_target_rejected_by_the_firmware_is_a_value_error(requests_mock):
    requests_mock.post(BASE + "/auth/login", json={"token": "t", "timeout_s": 3600})
    requests_mock.put(BASE + "/performance/power-target", status_code=400, json={"message": "out of range"})
    # Constraints not readable (404): the firmware's own check is what is left.
    requests_mock.get(BASE + "/configuration/constraints", status_code=404, json={"message": "Not Found"})
    with pytest.raises(ValueError, match="out of range"):
        rest_driver().set_power_watts(90000)
    with pytest.raises(ValueError):
        rest_driver().set_power_watts(50)  # refused before sending


def test_pause_reply_must_be_a_bare_boolean(requests_mock):
    requests_mock.post(BASE + "/auth/login", json={"token": "t", "timeout_s": 3600})
    requests_mock.put(BASE + "/actions/pause", json=False)
    rest_driver().sleep()
    requests_mock.put(BASE + "/actions/pause", json={"paused": True})
    with pytest.raises(Exception, match="JSON boolean"):
        rest_driver().sleep()


def test_reboot_answers_204_without_a_body(requests_mock):
    requests_mock.post(BASE + "/auth/login", json={"token": "t", "timeout_s": 3600})
    reboot = requests_mock.put(BASE + "/actions/reboot", status_code=204)
    rest_driver().reboot()
    assert reboot.call_count == 1


def test_set_pools_uses_the_batch_endpoint_and_reads_back(requests_mock):
    requests_mock.post(BASE + "/auth/login", json={"token": "t", "timeout_s": 3600})
    new = [{"name": "foremanGroup", "strategy": {"quota": {"value": 1}}, "uid": "0",
            "pools": [{"url": "stratum+tcp://pool.example:3333", "user": "w1", "enabled": True, "alive": True,
                       "active": True, "uid": "a"}]}]
    requests_mock.get(BASE + "/pools/", [{"json": rest("pools")}, {"json": new}])
    batch = requests_mock.put(BASE + "/pools/batch", json=[])
    rest_driver().set_pools([PoolConfig("stratum+tcp://pool.example:3333", "w1", "pool-secret")])
    body = batch.last_request.json()
    assert body[0]["name"] == "foremanGroup"  # the existing group's name is kept
    assert body[0]["pools"] == [{"url": "stratum+tcp://pool.example:3333", "user": "w1", "password": "pool-secret",
                                 "enabled": True}]


def test_read_with_a_refused_login_falls_back_to_the_cgminer_api(requests_mock):
    requests_mock.post(BASE + "/auth/login", status_code=401, json={})
    replies = {cmd: json.dumps(body) for cmd, body in s9_bos_plus_replies().items()}
    with FakeCgminer(replies) as fake:
        driver = BraiinsDriver("127.0.0.1", port=fake.port, http_port=HTTP_PORT, timeout=2.0,
                               credentials=Credentials("root", "nope"))
        status = driver.read()
        assert status.hashrate_hs == pytest.approx(15740915.842676325e6)
        assert "refused the REST login" in status.errors[0] and "cgminer API" in status.errors[0]
        assert driver.capabilities == frozenset({RESTART, REBOOT, SLEEP, WAKE, POWER_WATTS, POOLS})  # REST exists
        with pytest.raises(MinerAuthError):
            driver.sleep()  # never sent through the unauthenticated cgminer API instead
        assert not any(r.get("command") in ("pause", "resume") for r in fake.requests)


def test_firmware_without_rest_uses_the_cgminer_api_for_pause(requests_mock):
    requests_mock.post(BASE + "/auth/login", status_code=404, text="Not Found")
    replies = {cmd: json.dumps(body) for cmd, body in s9_bos_plus_replies().items()}
    replies["pause"] = fixture_bytes("braiins/pause.s17_bosminer_plus_0.6.0_docs.json")
    with FakeCgminer(replies) as fake:
        driver = BraiinsDriver("127.0.0.1", port=fake.port, http_port=HTTP_PORT, timeout=2.0)
        assert driver.read().firmware == "BOSminer+"
        assert driver.capabilities == frozenset({SLEEP, WAKE})
        driver.sleep()
        assert fake.requests[-1] == {"command": "pause"}
        with pytest.raises(NotSupported, match="no REST API"):
            driver.set_power_watts(1000)


def test_unreachable_rest_on_a_known_rest_miner_is_an_outage(requests_mock):
    requests_mock.post(BASE + "/auth/login", json={"token": "t", "timeout_s": 3600})
    mock_reads(requests_mock)
    driver = rest_driver()
    driver.read()
    requests_mock.get(BASE + "/miner/details", exc=requests.exceptions.ConnectionError("Connection refused"))
    with pytest.raises(Exception, match="refused"):
        driver.read()


def test_registry_builds_the_braiins_driver_with_both_ports():
    driver = make_driver("braiins", "10.0.0.5", port_offset=10000)
    assert isinstance(driver, BraiinsDriver)
    assert (driver.port, driver.http_port) == (14028, 10080)
    assert driver.credentials.username == "root" and "password=***" in repr(driver.credentials)
