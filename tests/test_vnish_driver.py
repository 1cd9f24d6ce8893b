"""Vnish drivers against requests-mock (HTTP) and a fake cgminer API (TCP): requests sent, auth, narrowing."""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import parse_qsl

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, fixture_bytes, fixture_json  # noqa: E402

import miners  # noqa: E402
from miners import vnish_legacy  # noqa: E402
from miners.base import (  # noqa: E402
    Credentials,
    MinerAuthError,
    MinerError,
    MinerProtocolError,
    MinerUnreachable,
    NotSupported,
    PoolConfig,
)
from miners.vnish import VnishDriver  # noqa: E402
from miners.vnish_legacy import VnishLegacyDriver  # noqa: E402
from miners.vnish_rest import VnishRestDriver  # noqa: E402

HOST = "127.85.6.1"
API = f"http://{HOST}/api/v1"
INFO = fixture_json("vnish/api_v1_info.s19_vnish_1.2.6.json")
SUMMARY = fixture_json("vnish/api_v1_summary.s19_vnish_1.2.0-beta10.json")
PRESETS = fixture_json("vnish/api_v1_autotune_presets.s19_vnish_1.2.6.json")
POOLS = [PoolConfig("stratum+tcp://new.example:3333", "me.1", "s3cret-pw")]


def info_for(version: str) -> dict:
    return dict(INFO, fw_version=version)


def settings(preset: str = "3200", pools: list | None = None) -> dict:
    # GET /settings of Vnish 1.x: NOT captured; ViewConfig of the OpenAPI, trimmed to what the driver uses.
    return {"miner": {"overclock": {"preset": preset, "globals": {"freq": 675, "volt": 1380}, "modded_psu": False},
                      "pools": pools or [{"url": "old.example:3333", "user": "old", "pass": "x"}] * 3},
            "ui": {}, "regional": {"timezone": {"current": "GMT"}}, "network": {}}


@pytest.fixture
def rest():
    d = VnishRestDriver(HOST, port=80, timeout=2)
    yield d
    d.close()


# --- Vnish 1.x --------------------------------------------------------------------------------
def test_read_is_unauthenticated_and_learns_presets_with_one_unlock(rest, requests_mock):
    requests_mock.get(f"{API}/info", json=INFO)
    requests_mock.get(f"{API}/summary", json=SUMMARY)
    unlock = requests_mock.post(f"{API}/unlock", json={"token": "tok-1"})
    presets = requests_mock.get(f"{API}/autotune/presets", json=PRESETS)
    status = rest.read()
    rest.read()
    assert status.model == "Antminer S19" and status.power_w == 3733.0
    assert unlock.call_count == 1 and unlock.last_request.json() == {"pw": "admin"}  # factory password
    assert presets.call_count == 1 and presets.last_request.headers["Authorization"] == "Bearer tok-1"
    assert "Authorization" not in requests_mock.request_history[0].headers  # /info needs none
    assert rest.modes[:3] == ("disabled", "1100", "1300")
    # The watt steps the allocator plans with: every preset named by watts, "disabled" has none.
    assert rest.power_steps_w[:3] == (1100.0, 1300.0, 1500.0) and len(rest.power_steps_w) == len(rest.modes) - 1
    assert "power_percent" not in rest.capabilities  # 1.2.6: no throttle
    assert VnishRestDriver.capabilities >= {"power_percent"}  # the class keeps the family maximum


def test_wrong_password_403_is_clear_and_reads_do_not_retry_it(requests_mock):
    d = VnishRestDriver(HOST, port=80, timeout=2, credentials=Credentials("", "guess"))
    requests_mock.get(f"{API}/info", json=INFO)
    requests_mock.get(f"{API}/summary", json=SUMMARY)
    unlock = requests_mock.post(f"{API}/unlock", status_code=403, json={"unlock_timeout": 0})
    stop = requests_mock.post(f"{API}/mining/stop", text="")
    status = d.read()
    d.read()
    assert unlock.call_count == 1  # a wrong password is not retried on every poll (Vnish answers 429 next)
    assert status.hashrate_hs and any("403 wrong password" in e for e in status.errors)
    with pytest.raises(MinerAuthError, match="403 wrong password") as info:
        d.sleep()
    assert "guess" not in str(info.value) and not stop.called and d.modes == ()


def test_too_many_tries_429_names_the_wait(rest, requests_mock):
    requests_mock.post(f"{API}/unlock", status_code=429, json={"unlock_timeout": 57})
    with pytest.raises(MinerAuthError, match="429 too many requests.*57 s"):
        rest.restart()


def test_expired_token_is_renewed_once_and_the_command_retried(rest, requests_mock):
    unlock = requests_mock.post(f"{API}/unlock", [{"json": {"token": "old"}}, {"json": {"token": "new"}}])
    restart = requests_mock.post(f"{API}/mining/restart", [{"status_code": 401}, {"status_code": 200, "text": ""}])
    rest.restart()
    assert unlock.call_count == 2 and restart.call_count == 2
    assert [r.headers["Authorization"] for r in restart.request_history] == ["Bearer old", "Bearer new"]


def test_a_fresh_token_refused_again_is_an_auth_error(rest, requests_mock):
    requests_mock.post(f"{API}/unlock", json={"token": "t"})
    requests_mock.post(f"{API}/mining/start", status_code=401)
    with pytest.raises(MinerAuthError, match="fresh token"):
        rest.wake()


def test_control_paths_and_firmware_refusals(rest, requests_mock):
    requests_mock.post(f"{API}/unlock", json={"token": "t"})
    for path in ("mining/stop", "mining/start", "mining/restart", "system/reboot"):
        requests_mock.post(f"{API}/{path}", text="")
    rest.sleep()
    rest.wake()
    rest.restart()
    rest.reboot()
    paths = [r.path for r in requests_mock.request_history if r.path != "/api/v1/unlock"]
    assert paths == ["/api/v1/mining/stop", "/api/v1/mining/start", "/api/v1/mining/restart", "/api/v1/system/reboot"]
    requests_mock.post(f"{API}/mining/stop", status_code=500,
                       json={"err": "CGMiner err: Cgminer error failed-to-activate-pause-mode "})
    with pytest.raises(MinerError, match="failed-to-activate-pause-mode"):
        rest.sleep()


def test_power_watts_picks_the_preset_at_or_below_and_says_so(rest, requests_mock):
    requests_mock.post(f"{API}/unlock", json={"token": "t"})
    requests_mock.get(f"{API}/autotune/presets", json=PRESETS)
    requests_mock.get(f"{API}/settings", [{"json": settings("disabled")}, {"json": settings("3200")}])
    post = requests_mock.post(f"{API}/settings", json={"restart_required": False, "reboot_required": False})
    message = rest.set_power_watts(3300)
    body = post.last_request.json()
    assert body["miner"]["overclock"]["preset"] == "3200"
    assert body["miner"]["overclock"]["globals"] == {"freq": 675, "volt": 1380}  # read-modify-write keeps the rest
    assert "'3200'" in message and "3300 W" in message and "not tuned" in message
    with pytest.raises(ValueError, match="lowest is 1100 W"):
        rest.set_power_watts(900)


def test_preset_write_is_read_back(rest, requests_mock):
    requests_mock.post(f"{API}/unlock", json={"token": "t"})
    requests_mock.get(f"{API}/autotune/presets", json=PRESETS)
    requests_mock.get(f"{API}/settings", json=settings("disabled"))  # the firmware kept the old one
    requests_mock.post(f"{API}/settings", json={"restart_required": False, "reboot_required": False})
    with pytest.raises(MinerProtocolError, match="kept preset 'disabled'"):
        rest.set_mode("1500")
    with pytest.raises(ValueError, match="unknown Vnish preset"):
        rest.set_mode("turbo")


def test_pools_are_always_three_and_read_back(rest, requests_mock):
    requests_mock.post(f"{API}/unlock", json={"token": "t"})
    stored = [{"url": "stratum+tcp://new.example:3333", "user": "me.1", "pass": "s3cret-pw"},
              {"url": "", "user": "", "pass": ""}, {"url": "", "user": "", "pass": ""}]
    requests_mock.get(f"{API}/settings", json=settings(pools=stored))
    post = requests_mock.post(f"{API}/settings", json={"restart_required": True, "reboot_required": False})
    rest.set_pools(POOLS)
    assert post.last_request.json() == {"miner": {"pools": stored}}
    with pytest.raises(ValueError):
        rest.set_pools(POOLS * 4)


def test_refusal_text_never_carries_the_pool_password(rest, requests_mock):
    requests_mock.post(f"{API}/unlock", json={"token": "t"})
    requests_mock.post(f"{API}/settings", status_code=500, json={"err": "bad pass s3cret-pw for pool"})
    with pytest.raises(MinerError) as info:
        rest.set_pools(POOLS)
    assert "s3cret-pw" not in str(info.value) and "***" in str(info.value)


def test_throttle_only_from_1_3(requests_mock):
    requests_mock.post(f"{API}/unlock", json={"token": "t"})
    throttle = requests_mock.post(f"{API}/mining/throttle", json={"restart_required": False,
                                                                  "reboot_required": False})
    old = VnishRestDriver(HOST, port=80, timeout=2)
    requests_mock.get(f"{API}/info", json=info_for("1.2.6"))
    with pytest.raises(NotSupported, match="1.3.0"):
        old.set_power_percent(50)
    new = VnishRestDriver(HOST, port=80, timeout=2)
    requests_mock.get(f"{API}/info", json=info_for("1.3.4"))
    new.set_power_percent(50)
    assert throttle.last_request.json() == {"percent": 50} and "power_percent" in new.capabilities
    with pytest.raises(ValueError, match="20 and 100"):
        new.set_power_percent(10)
    assert throttle.call_count == 1


def test_chips_endpoint_follows_the_version(requests_mock):
    board = [{"id": 1, "status": {"state": "mining"}, "hr_realtime": 1.0, "hr_nominal": 1.0, "freq": 680.0,
              "sensors": [], "chips": [{"id": 0, "hr": 400.0, "freq": 680, "volt": 368, "temp": 60.0, "errs": 0,
                                        "grade": "grey", "throttled": False}]}]
    requests_mock.get(f"{API}/boards", json=board)
    requests_mock.get(f"{API}/chains", json=board)
    requests_mock.get(f"{API}/info", json=info_for("1.3.4"))
    assert VnishRestDriver(HOST, port=80, timeout=2).read_chips()[0].hashrate_hs == 400e9
    assert requests_mock.request_history[-1].path == "/api/v1/boards"
    requests_mock.get(f"{API}/info", json=info_for("1.2.6"))
    VnishRestDriver(HOST, port=80, timeout=2).read_chips()
    assert requests_mock.request_history[-1].path == "/api/v1/chains"
    requests_mock.get(f"{API}/chains", status_code=404, json={"err": "Not found"})
    requests_mock.get(f"{API}/chips", json={"chips_per_chain": 1, "chains": [{"id": 1, "chips": [
        {"id": 0, "status": "grey", "hashrate": 390.0, "freq": 680, "temp": 60.0, "errors": 0}]}]})
    chips = VnishRestDriver(HOST, port=80, timeout=2).read_chips()
    assert requests_mock.request_history[-1].path == "/api/v1/chips" and chips[0].hashrate_hs == 390e9


# --- Vnish 3.x --------------------------------------------------------------------------------------
CHALLENGE = {"WWW-Authenticate": 'Digest realm="antMiner Configuration", charset="UTF-8", algorithm=MD5, '
                                  'nonce="5f1c0ffee5f1c0ffee", qop="auth"'}


def legacy_api() -> FakeCgminer:
    """The recorded Vnish 3.8.6 replies (no summary was captured: the driver reads stats)."""
    return FakeCgminer({"version": fixture_bytes("vnish/version.s9_vnish_3.8.6.json"),
                        "stats": fixture_bytes("vnish/raw/stats.s9_vnish_3.8.6.malformed.txt"),
                        "pools": fixture_bytes("vnish/pools.s9_vnish_3.8.6.json")}, host="127.85.6.2")


def legacy_driver(fake: FakeCgminer, password: str = "root") -> tuple[VnishLegacyDriver, str]:
    d = VnishLegacyDriver(fake.host, port=fake.port, web_port=18080, timeout=2,
                          credentials=Credentials("root", password))
    return d, f"http://{fake.host}:18080/cgi-bin"


# get_miner_conf.cgi of Vnish 3.x: NOT captured (see test_vnish_parsers.HAND_CONF).
CONF = {"pools": [{"url": "stratum+tcp://solo.antpool.com:3333", "user": "antminer_1", "pass": "123"}] * 3,
        "api-listen": True, "bitmain-fan-ctrl": False, "bitmain-fan-pwm": "100", "bitmain-freq": "600",
        "bitmain-freq1": "0", "bitmain-freq2": "0", "bitmain-freq3": "0", "bitmain-voltage": "920",
        "bitmain-voltage1": "0", "bitmain-voltage2": "0", "bitmain-voltage3": "0",
        "bitmain-autodownscale": False, "bitmain-autodownscale-step": "25", "asicboost": True}


def conf_replies(*confs: dict) -> list[dict]:
    out = [{"status_code": 401, "headers": CHALLENGE, "text": "401"}]
    return out + [{"status_code": 200, "text": "\n" + json.dumps(c)} for c in confs]


def test_legacy_read_and_narrowing_from_recorded_replies():
    with legacy_api() as fake:
        d, _ = legacy_driver(fake)
        status = d.read()
    assert status.firmware_version == "3.8.6" and status.power_w == 1485.0
    assert d.capabilities == {"restart", "reboot", "sleep", "wake", "mode", "frequency", "pools", "chips", "autodownscale",
                              "thermal"}
    assert d.modes == ("low_power", "balanced", "performance")
    asked = {r["command"] for r in fake.requests}
    assert "stats" in asked and asked <= {"summary+stats+pools+version", "summary", "stats", "pools", "version"}


def test_legacy_set_frequency_posts_the_whole_form_in_order(requests_mock):
    with legacy_api() as fake:
        d, base = legacy_driver(fake)
        d.read()
        after = dict(CONF, **{"bitmain-freq": "650", "bitmain-voltage": "890"})
        requests_mock.get(f"{base}/get_miner_conf.cgi", conf_replies(CONF, CONF, after))
        post = requests_mock.post(f"{base}/set_miner_conf_custom.cgi", text="ok")
        d.set_mode("balanced")
    form = parse_qsl(post.last_request.text, keep_blank_values=True)
    assert [name for name, _ in form] == list(vnish_legacy.FORM_ORDER)
    values = dict(form)
    assert values["_ant_freq"] == "650" and values["_ant_voltage"] == "890"  # centivolts, like the config
    assert values["_ant_freq2"] == "0" and values["_ant_pool1pw"] == "123"  # the rest kept as read
    assert post.last_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert post.last_request.headers["Authorization"].startswith('Digest username="root"')


def test_legacy_per_board_frequency_and_range_checks(requests_mock):
    with legacy_api() as fake:
        d, base = legacy_driver(fake)
        d.read()
        after = dict(CONF, **{"bitmain-freq2": "700", "bitmain-voltage2": "900"})
        requests_mock.get(f"{base}/get_miner_conf.cgi", conf_replies(CONF, CONF, after))
        post = requests_mock.post(f"{base}/set_miner_conf_custom.cgi", text="ok")
        d.set_frequency(700, 9000, board=1)
        values = dict(parse_qsl(post.last_request.text, keep_blank_values=True))
        assert values["_ant_freq2"] == "700" and values["_ant_voltage2"] == "900" and values["_ant_freq"] == "600"
        for bad in ((50, None, None), (600, 20000, None), (600, None, 3)):
            with pytest.raises(ValueError):
                d.set_frequency(*bad)
        assert post.call_count == 1


def test_legacy_write_not_stored_is_reported(requests_mock):
    with legacy_api() as fake:
        d, base = legacy_driver(fake)
        d.read()
        requests_mock.get(f"{base}/get_miner_conf.cgi", conf_replies(CONF, CONF, CONF))
        requests_mock.post(f"{base}/set_miner_conf_custom.cgi", text="ok")
        with pytest.raises(MinerProtocolError, match="did not store bitmain-freq"):
            d.set_frequency(500)


def test_legacy_wrong_password_posts_nothing(requests_mock):
    with legacy_api() as fake:
        d, base = legacy_driver(fake, password="wrong")
        d.read()
        requests_mock.get(f"{base}/get_miner_conf.cgi", status_code=401, headers=CHALLENGE, text="401")
        sleep = requests_mock.post(f"{base}/do_sleep_mode.cgi", status_code=401, headers=CHALLENGE, text="401")
        post = requests_mock.post(f"{base}/set_miner_conf_custom.cgi", text="ok")
        for action in (lambda: d.set_pools(POOLS), lambda: d.set_frequency(600), d.sleep):
            with pytest.raises(MinerAuthError, match="refused the web login") as info:
                action()
            assert "wrong" not in str(info.value).replace("wrong password?", "")
        assert not post.called and sleep.call_count == 2  # the challenge, then the refused answer


def test_legacy_sleep_wake_and_restart_requests(requests_mock):
    with legacy_api() as fake:
        d, base = legacy_driver(fake)
        d.read()
        sleep = requests_mock.post(f"{base}/do_sleep_mode.cgi", text="ok")
        restart = requests_mock.get(f"{base}/reboot_cgminer.cgi", text="")
        d.sleep()
        assert sleep.last_request.text == "mode=1"
        d.wake()
        assert sleep.last_request.text == "mode=0"
        d.restart()
        assert restart.called


def test_legacy_restart_that_never_answers_counts_as_sent(requests_mock):
    import requests as rq

    with legacy_api() as fake:
        d, base = legacy_driver(fake)
        d.read()
        requests_mock.get(f"{base}/reboot_cgminer.cgi", exc=rq.exceptions.ReadTimeout)
        d.restart()  # third-party tools: the script often never answers
        requests_mock.get(f"{base}/reboot_cgminer.cgi", exc=rq.exceptions.ConnectionError("Connection refused"))
        with pytest.raises(MinerUnreachable):
            d.restart()


def test_legacy_chips_and_autodownscale(requests_mock):
    with legacy_api() as fake:
        d, base = legacy_driver(fake)
        d.read()
        requests_mock.get(f"{base}/chip_hr.json", text=json.dumps({"chiphr": [{"Asic00": "69"}, {"Asic00": "0"}]}))
        chips = d.read_chips()
        assert [(c.board, c.hashrate_hs, c.state) for c in chips] == [(0, 69e9, "ok"), (1, 0.0, "ok")]
        after = dict(CONF, **{"bitmain-autodownscale": True, "bitmain-autodownscale-step": "10"})
        requests_mock.get(f"{base}/get_miner_conf.cgi", conf_replies(CONF, after))
        post = requests_mock.post(f"{base}/set_miner_conf_custom.cgi", text="ok")
        d.set_autodownscale(True, step_mhz=10)
        values = dict(parse_qsl(post.last_request.text, keep_blank_values=True))
        assert values["_ant_autodownscale"] == "true" and values["_ant_autodownscale_step"] == "10"
        with pytest.raises(ValueError):
            d.set_autodownscale(True, prec=0)


def test_legacy_non_3x_build_is_read_only():
    version = fixture_bytes("vnish/version.s9_vnish_3.8.6.json").replace(b"vnish 3.8.6", b"vnish 2.0.3")
    with FakeCgminer({"version": version, "pools": fixture_bytes("vnish/pools.s9_vnish_3.8.6.json"),
                      "stats": fixture_bytes("vnish/raw/stats.s9_vnish_3.8.6.malformed.txt")
                      .replace(b"vnish 3.8.6", b"vnish 2.0.3").replace(b'"3.8.6"', b'"2.0.3"')},
                     host="127.85.6.3") as fake:
        d, _ = legacy_driver(fake)
        status = d.read()
        assert d.capabilities == frozenset() and any("3.x only" in e for e in status.errors)
        with pytest.raises(NotSupported):
            d.sleep()


# --- the family driver: which generation ------------------------------------------------------------
def test_family_picks_rest_when_info_says_vnish(requests_mock):
    requests_mock.get(f"http://{HOST}:10080/api/v1/info", json=INFO)
    requests_mock.get(f"http://{HOST}:10080/api/v1/summary", json=SUMMARY)
    requests_mock.post(f"http://{HOST}:10080/api/v1/unlock", status_code=403, json={"unlock_timeout": 0})
    d = miners.make_driver("vnish", HOST, port_offset=10000, timeout=2)
    assert isinstance(d, VnishDriver) and d.port == 10080 and d.api_port == 14028
    assert d.capabilities == VnishDriver.capabilities  # the family maximum until the first read
    d.read()
    assert d.generation == "1.x" and "frequency" in d.capabilities and "power_watts" in d.capabilities
    with pytest.raises(NotSupported):
        d.set_autodownscale(True)


def test_family_picks_legacy_from_the_cgminer_type(requests_mock):
    with legacy_api() as fake:
        requests_mock.get(f"http://{fake.host}:18080/api/v1/info", status_code=401, headers=CHALLENGE)
        d = VnishDriver(fake.host, port=18080, timeout=2)
        d.api_port = fake.port
        status = d.read()
    assert d.generation == "3.x" and status.firmware_version == "3.8.6"
    assert "power_watts" not in d.capabilities and d.modes == ("low_power", "balanced", "performance")
    with pytest.raises(NotSupported):
        d.set_power_watts(1000)


def test_family_says_when_nothing_answers():
    d = VnishDriver("127.85.6.250", port=18081, timeout=0.5)
    d.api_port = 18082
    with pytest.raises(MinerUnreachable, match="neither"):
        d.read()
