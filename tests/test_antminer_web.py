"""Stock Antminer web CGI: payload parsers on recorded replies, and the driver's control against requests-mock."""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import parse_qsl

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, fixture_bytes, fixture_json  # noqa: E402

from miners import antminer_cgi as cgi  # noqa: E402
from miners import json_repair  # noqa: E402
from miners.antminer import AntminerDriver, parse_antminer, parse_chips  # noqa: E402
from miners.antminer_web import web_port_for  # noqa: E402
from miners.base import (  # noqa: E402
    Credentials,
    MinerAuthError,
    MinerProtocolError,
    MinerUnreachable,
    NotSupported,
    PoolConfig,
)

HOST = "127.82.5.1"
BASE = f"http://{HOST}/cgi-bin"
# lighttpd's challenge on a stock S19 (realm and qop as pyasic/Foreman/asic-rs expect them).
CHALLENGE = {"WWW-Authenticate": 'Digest realm="antMiner Configuration", charset="UTF-8", algorithm=MD5, '
                                  'nonce="5f1c0ffee5f1c0ffee", qop="auth"'}
M000 = {"stats": "success", "code": "M000", "msg": "OK!"}
AUTH_MESSAGE = ("the Antminer web interface refused the login for user root (HTTP digest 401); "
                "set the miner's credentials")


def text(name: str) -> str:
    return fixture_bytes(f"antminer/{name}").decode()


def conf(name: str) -> dict:
    return cgi.parse_miner_conf(text(name))


@pytest.fixture
def driver():
    d = AntminerDriver(HOST, port=4028, timeout=2)
    yield d
    d.close()


# --- parsers on recorded replies ------------------------------------------------------------
def test_conf_with_leading_blank_lines_and_sleep_mode():
    raw = text("get_miner_conf.cgi.s19_sleeping.json")
    assert raw.startswith("\n\n{")  # the S19 CGI prints two empty lines first
    sleeping = cgi.parse_miner_conf(raw)
    assert sleeping["bitmain-work-mode"] == "1" and cgi.is_sleeping(sleeping)
    assert cgi.work_mode(sleeping) == 1
    assert not cgi.is_sleeping(conf("get_miner_conf.cgi.s19pro.json"))


@pytest.mark.parametrize("name, generation", [
    ("get_miner_conf.cgi.s19_sleeping.json", cgi.MODERN),
    ("get_miner_conf.cgi.s19pro.json", cgi.MODERN),
    ("get_miner_conf.cgi.s17_2019.json", cgi.LEGACY_WORK_MODE),
    ("get_miner_conf.cgi.s9_2017.json", cgi.LEGACY),
    ("get_miner_conf.cgi.l3plus_2017.json", cgi.LEGACY),
])
def test_generation_comes_from_the_config_keys(name, generation):
    assert cgi.generation(conf(name)) == generation


@pytest.mark.parametrize("version, generation", [
    ("Fri Dec 11 11:15:40 CST 2020", cgi.MODERN), ("Fri Nov 17 17:37:49 CST 2017", cgi.LEGACY),
    ("Tue Aug 20 10:37:07 CST 2019", cgi.LEGACY), (None, None), ("FR-1.12(251009-S21)", None),
])
def test_generation_guess_from_the_build_year(version, generation):
    assert cgi.guess_generation(version) == generation


def test_empty_fan_ctrl_value_is_repaired():
    # Foreman AntminerUtils.getConf patches '": ,' (an empty bitmain-fan-ctrl seen on some builds).
    assert cgi.parse_miner_conf('{"bitmain-fan-ctrl" : , "bitmain-fan-pwm" : "100"}')["bitmain-fan-ctrl"] is False
    with pytest.raises(MinerProtocolError):
        cgi.parse_miner_conf("<html>login</html>")


@pytest.mark.parametrize("name, model, mac, hostname, build", [
    ("get_system_info.cgi.s19j.json", "Antminer S19j", "A2:E1:2A:D0:11:A2", "Antminer",
     "Fri Sep 15 14:39:20 CST 2023"),
    ("get_system_info.cgi.s21.json", "Antminer S21", "02:55:97:22:3M:72", "Antminer", "FR-1.12(251009-S21)"),
])
def test_system_info(name, model, mac, hostname, build):
    info = cgi.parse_system_info(fixture_json(f"antminer/{name}"))
    assert (info.model, info.mac, info.hostname, info.firmware_build) == (model, mac, hostname, build)


def test_summary_cgi_status_items():
    summary = fixture_json("antminer/summary.cgi.s23_hydro.json")
    assert cgi.summary_errors(summary) == []  # all "s"; fans "" = not checked on a hydro unit
    summary["SUMMARY"][0]["status"][1].update(status="e", code=1001, msg="network down")
    assert cgi.summary_errors(summary) == ["network: network down (code 1001)"]


def test_chip_states_of_a_sleeping_s19_are_all_x():
    chips = parse_chips(fixture_json("antminer/stats.s19_sleeping.json"))
    assert len(chips) == 152 and {c.board for c in chips} == {1, 2}  # chain 1 reports no chips
    assert {c.state for c in chips} == {"x"}
    assert [c.index for c in chips if c.board == 1] == list(range(76))


def test_chip_states_ok_on_s17_and_l3plus():
    s17 = parse_chips(fixture_json("antminer/stats.s17_cgminer.json"))
    assert len(s17) == 144 and {c.state for c in s17} == {"ok"}
    l3 = parse_chips(json_repair.loads_lenient(text("raw/stats.l3plus_cgminer.malformed.txt")))
    assert len(l3) == 4 * 72 and {c.board for c in l3} == {0, 1, 2, 3}


def test_chip_letters_other_than_o_are_kept():
    stats = {"STATS": [{"Type": "Antminer S9"}, {"chain_acn6": 9, "chain_acs6": " oooxoooo -", "GHS 5s": "1"}]}
    states = [c.state for c in parse_chips(stats)]
    assert states == ["ok", "ok", "ok", "x", "ok", "ok", "ok", "ok", "-"]


def test_old_generation_sleep_mode_254_in_stats():
    stats = {"STATS": [{"Type": "Antminer S17"}, {"Mode": 254, "GHS 5s": 0.0, "chain_acn1": 0}]}
    assert parse_antminer({"stats": stats}).state == "sleeping"  # Foreman StockPowerModeStrategy


# --- write payloads against what tested clients post ------------------------------------------
NEW_POOLS = [PoolConfig(f"stratum+tcp://my-test-pool{n}.com:5588", f"my-test-username{n}", f"my-test-password{n}")
             for n in (1, 2, 3)]


def test_legacy_form_is_positional_like_the_foreman_l3_request():
    fields = cgi.legacy_fields(conf("get_miner_conf.cgi.l3plus_2017.json"), pools=cgi.new_pools(NEW_POOLS))
    body = cgi.encode_legacy_form(fields)
    assert body == fixture_bytes("antminer/set_miner_conf.request.l3plus_2017.form.txt")
    assert [k for k, _ in fields][9:] == ["_ant_nobeeper", "_ant_notempoverctrl", "_ant_fan_customize_switch",
                                         "_ant_fan_customize_value", "_ant_freq"]


def test_s17_sleep_form_adds_voltage_and_work_mode():
    fields = cgi.legacy_fields(conf("get_miner_conf.cgi.s17_2019.json"), work_mode_value=cgi.LEGACY_SLEEP)
    assert cgi.encode_legacy_form(fields) == fixture_bytes("antminer/set_miner_conf.request.s17_sleep.form.txt")


def test_modern_body_matches_the_foreman_s19pro_request_except_the_int_mode():
    body = cgi.modern_body(conf("get_miner_conf.cgi.s19pro.json"), pools=cgi.new_pools(NEW_POOLS))
    expected = fixture_json("antminer/set_miner_conf.request.s19pro.json")
    assert body["miner-mode"] == 0 and expected.pop("miner-mode") == "0"  # S19 XP only honours an int
    body.pop("miner-mode")
    assert body == expected


def test_legacy_form_refuses_characters_the_shell_script_cannot_decode():
    pools = cgi.new_pools([PoolConfig("stratum+tcp://p.example:3333", "w.1", "pa!ss")])
    with pytest.raises(ValueError) as info:
        cgi.encode_legacy_form(cgi.legacy_fields({}, pools=pools), frozenset({"pa!ss"}))
    assert "pool password" in str(info.value) and "pa!ss" not in str(info.value)
    ok = cgi.new_pools([PoolConfig("stratum+tcp://p.example:3333", "w.1", "a b+c/d:e@f")])
    assert b"_ant_pool1pw=a+b%2Bc%2Fd%3Ae%40f" in cgi.encode_legacy_form(cgi.legacy_fields({}, pools=ok))


def test_reply_ok_forms():
    assert cgi.reply_ok(json.dumps(M000)) and cgi.reply_ok("ok\n") and cgi.reply_ok("ok\nok\n")
    assert not cgi.reply_ok('{"stats":"error","code":"M001","msg":"bad"}') and not cgi.reply_ok("")


def test_web_port_follows_the_api_port_offset():
    assert web_port_for(4028) == 80 and web_port_for(14028) == 10080 and web_port_for(4029) == 81


# --- driver against requests-mock ---------------------------------------------------------------
def conf_text(data: dict) -> str:
    return "\n\n" + json.dumps(data, indent=0)


def test_digest_challenge_is_answered_and_the_nonce_reused(driver, requests_mock):
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", [
        {"status_code": 401, "headers": CHALLENGE, "text": "401 - Unauthorized"},
        {"status_code": 200, "text": text("get_miner_conf.cgi.s19pro.json")},
        {"status_code": 200, "text": text("get_miner_conf.cgi.s19pro.json")},
    ])
    driver._conf()
    driver._conf()
    history = requests_mock.request_history
    assert "Authorization" not in history[0].headers
    digest = history[1].headers["Authorization"]
    assert digest.startswith('Digest username="root", realm="antMiner Configuration"')
    assert 'uri="/cgi-bin/get_miner_conf.cgi"' in digest and "qop=\"auth\"" in digest
    assert len(history) == 3 and "nc=00000002" in history[2].headers["Authorization"]  # no second challenge
    assert driver.capabilities == {"restart", "sleep", "wake", "mode", "pools", "chips"}


def test_wrong_password_is_a_clear_auth_error_and_nothing_is_posted(requests_mock):
    driver = AntminerDriver(HOST, port=4028, timeout=2, credentials=Credentials("root", "wrong"))
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", status_code=401, headers=CHALLENGE, text="401")
    post = requests_mock.post(f"{BASE}/set_miner_conf.cgi", json=M000)
    for action in (lambda: driver.set_pools(NEW_POOLS[:1]), driver.sleep, driver.restart):
        requests_mock.get(f"{BASE}/reboot.cgi", status_code=401, headers=CHALLENGE)
        with pytest.raises(MinerAuthError) as info:
            action()
        assert str(info.value) == AUTH_MESSAGE and "wrong" not in str(info.value)
    assert not post.called


def test_pools_read_modify_write_on_the_json_cgi(driver, requests_mock):
    current = conf("get_miner_conf.cgi.s19pro.json")
    after = dict(current, pools=[{"url": "stratum+tcp://new.example:3333", "user": "me.1", "pass": "s3cret"},
                                 {"url": "", "user": "", "pass": ""}, {"url": "", "user": "", "pass": ""}])
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", [{"text": conf_text(current)}, {"text": conf_text(after)}])
    post = requests_mock.post(f"{BASE}/set_miner_conf.cgi", json=M000)
    driver.set_pools([PoolConfig("stratum+tcp://new.example:3333", "me.1", "s3cret")])
    sent = post.last_request
    assert sent.headers["Content-Type"] == "text/plain;charset=UTF-8"
    body = json.loads(sent.body)
    assert set(body) == {"bitmain-fan-ctrl", "bitmain-fan-pwm", "miner-mode", "freq-level", "pools"}
    assert body["pools"] == after["pools"]  # always exactly three, unused ones empty strings
    assert (body["bitmain-fan-ctrl"], body["bitmain-fan-pwm"], body["miner-mode"], body["freq-level"]) == \
        (False, "100", 0, "100")  # the rest comes from the config just read; the mode is kept


def test_pools_that_did_not_stick_are_an_error(driver, requests_mock):
    current = text("get_miner_conf.cgi.s19pro.json")
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", text=current)  # read back unchanged
    requests_mock.post(f"{BASE}/set_miner_conf.cgi", json=M000)  # ... though the CGI said M000
    with pytest.raises(MinerProtocolError, match="did not change"):
        driver.set_pools(NEW_POOLS[:1])


def test_refusal_text_never_carries_the_pool_password(driver, requests_mock):
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", text=text("get_miner_conf.cgi.s19pro.json"))
    requests_mock.post(f"{BASE}/set_miner_conf.cgi", text='{"stats":"error","msg":"bad pass my-test-password1"}')
    with pytest.raises(MinerProtocolError) as info:
        driver.set_pools(NEW_POOLS[:1])
    assert "my-test-password1" not in str(info.value) and "***" in str(info.value)


@pytest.mark.parametrize("call, mode", [("sleep", 1), ("wake", 0), ("low", 3), ("normal", 0)])
def test_work_modes_write_miner_mode_and_read_bitmain_work_mode(driver, requests_mock, call, mode):
    current = conf("get_miner_conf.cgi.s19pro.json")
    after = dict(current, **{"bitmain-work-mode": str(mode)})
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", [{"text": conf_text(current)}, {"text": conf_text(after)}])
    post = requests_mock.post(f"{BASE}/set_miner_conf.cgi", json=M000)
    if call in ("sleep", "wake"):
        getattr(driver, call)()
    else:
        driver.set_mode(call)
    body = json.loads(post.last_request.body)
    assert body["miner-mode"] == mode and "bitmain-work-mode" not in body
    assert [p["pass"] for p in body["pools"]] == ["xxx"] * 3  # the current pools go back unchanged


def test_unknown_mode_is_a_value_error(driver, requests_mock):
    with pytest.raises(ValueError, match="unknown mode"):
        driver.set_mode("turbo")
    assert not requests_mock.called


def test_legacy_pools_post_the_positional_form(driver, requests_mock):
    current = conf("get_miner_conf.cgi.l3plus_2017.json")
    after = dict(current, pools=cgi.new_pools(NEW_POOLS))
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", [{"text": text("get_miner_conf.cgi.l3plus_2017.json")},
                                                   {"text": conf_text(after)}])
    post = requests_mock.post(f"{BASE}/set_miner_conf.cgi", text="ok\n")
    driver.set_pools(NEW_POOLS)
    sent = post.last_request
    assert sent.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert sent.body == fixture_bytes("antminer/set_miner_conf.request.l3plus_2017.form.txt")
    assert [k for k, _ in parse_qsl(sent.body.decode(), keep_blank_values=True)][:3] == \
        ["_ant_pool1url", "_ant_pool1user", "_ant_pool1pw"]
    assert driver.capabilities == {"restart", "pools", "chips"} and driver.modes == ()


def test_legacy_reply_timeout_counts_when_the_config_changed(driver, requests_mock):
    # The 2017 script answers "ok" only after restarting cgminer (~6 s): a timeout is not a failure.
    current = conf("get_miner_conf.cgi.s9_2017.json")
    after = dict(current, pools=cgi.new_pools(NEW_POOLS[:1]))
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", [{"text": conf_text(current)}, {"text": conf_text(after)}])
    requests_mock.post(f"{BASE}/set_miner_conf.cgi", exc=requests.exceptions.ReadTimeout)
    driver.set_pools(NEW_POOLS[:1])


def test_legacy_reply_timeout_without_change_is_unreachable(driver, requests_mock):
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", text=text("get_miner_conf.cgi.s9_2017.json"))
    requests_mock.post(f"{BASE}/set_miner_conf.cgi", exc=requests.exceptions.ReadTimeout)
    with pytest.raises(MinerUnreachable):
        driver.set_pools(NEW_POOLS[:1])


def test_s9_2017_has_no_sleep_mode(driver, requests_mock):
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", text=text("get_miner_conf.cgi.s9_2017.json"))
    post = requests_mock.post(f"{BASE}/set_miner_conf.cgi", text="ok")
    for action in (driver.sleep, driver.wake, lambda: driver.set_mode("low")):
        with pytest.raises(NotSupported, match="no sleep or power modes"):
            action()
    assert not post.called and driver.capabilities == {"restart", "pools", "chips"}


def test_s17_era_sleeps_with_work_mode_254(driver, requests_mock):
    current = conf("get_miner_conf.cgi.s17_2019.json")
    asleep = dict(current, **{"bitmain-work-mode": "254"})
    requests_mock.get(f"{BASE}/get_miner_conf.cgi", [{"text": text("get_miner_conf.cgi.s17_2019.json")},
                                                   {"text": conf_text(asleep)}])
    post = requests_mock.post(f"{BASE}/set_miner_conf.cgi", text="ok\n")  # the S17-era script's last echo
    driver.sleep()
    assert post.last_request.body == fixture_bytes("antminer/set_miner_conf.request.s17_sleep.form.txt")
    assert driver.capabilities == {"restart", "sleep", "wake", "pools", "chips"}


def test_restart_gets_reboot_cgi(driver, requests_mock):
    reboot = requests_mock.get(f"{BASE}/reboot.cgi", text="")
    driver.restart()
    assert reboot.called


def test_restart_counts_a_connection_dropped_by_the_reboot(driver, requests_mock):
    requests_mock.get(f"{BASE}/reboot.cgi",
                      exc=requests.exceptions.ConnectionError("Remote end closed connection without response"))
    driver.restart()
    requests_mock.get(f"{BASE}/reboot.cgi", exc=requests.exceptions.ConnectionError("Connection refused"))
    with pytest.raises(MinerUnreachable):
        driver.restart()


# --- read: API over TCP plus the web extras ------------------------------------------------------
def api_replies() -> dict:
    return {"stats": fixture_bytes("antminer/stats.s19_sleeping.json"),
            "version": fixture_bytes("antminer/version.s19_sleeping.json")}


def test_read_adds_system_info_and_sleep_state(requests_mock):
    with FakeCgminer(api_replies()) as fake:
        driver = AntminerDriver(fake.host, port=fake.port, timeout=2)
        base = driver.web.url("/cgi-bin")
        info = requests_mock.get(f"{base}/get_system_info.cgi", text=text("get_system_info.cgi.s19j.json"))
        requests_mock.get(f"{base}/get_miner_conf.cgi", text=text("get_miner_conf.cgi.s19_sleeping.json"))
        requests_mock.get(f"{base}/summary.cgi", text=text("summary.cgi.s23_hydro.json"))
        status = driver.read()
        driver.read()
    assert status.state == "sleeping" and status.hashrate_hs == 0 and status.fan_rpm == [1560, 1560, 600, 720]
    assert (status.mac, status.hostname) == ("A2:E1:2A:D0:11:A2", "Antminer")
    assert status.model == "Antminer S19"  # the API's Type wins over minertype
    assert status.firmware_version == "Fri Sep 15 14:39:20 CST 2023"  # firmware build from the web
    assert status.power_w is None
    assert status.errors == ["summary: Invalid command", "pools: Invalid command"]  # only the fake API's gaps
    assert info.call_count == 1  # system info is read once per boot, the config every poll


def test_read_survives_a_refused_web_login(requests_mock):
    with FakeCgminer(api_replies()) as fake:
        driver = AntminerDriver(fake.host, port=fake.port, timeout=2, credentials=Credentials("root", "nope"))
        base = driver.web.url("/cgi-bin")
        requests_mock.get(f"{base}/get_system_info.cgi", status_code=401, headers=CHALLENGE)
        status = driver.read()
    assert status.hashrate_hs == 0 and status.model == "Antminer S19"  # the API still reads
    assert status.errors[-1] == AUTH_MESSAGE and status.state == "idle"  # sleep unknown without the config
    assert driver.capabilities == {"restart", "sleep", "wake", "mode", "pools", "chips"}  # 2020 build: X19 CGI


def test_read_of_a_2017_build_narrows_before_the_config_is_readable(requests_mock):
    replies = {"stats": fixture_bytes("antminer/raw/stats.l3plus_cgminer.malformed.txt")}
    with FakeCgminer(replies) as fake:
        driver = AntminerDriver(fake.host, port=fake.port, timeout=2)
        requests_mock.get(driver.web.url("/cgi-bin/get_system_info.cgi"), exc=requests.exceptions.ConnectTimeout)
        status = driver.read()
    assert status.errors[-1].startswith("web interface: ") and "get_system_info.cgi" in status.errors[-1]
    assert driver.capabilities == {"restart", "pools", "chips"}  # CompileTime Aug 2017: legacy CGI, no sleep
