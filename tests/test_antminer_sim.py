"""The simulated stock Antminer's web CGI: digest auth, config reads/writes in both dialects, sleep, reboot."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests
from requests.auth import HTTPDigestAuth

from simulator import MinerSpec, SimFleet
from simulator.antminer_cgi import parse_legacy_form

S19, S9, L3 = "127.84.200.1", "127.84.200.2", "127.84.200.3"
ROOT = HTTPDigestAuth("root", "root")


@pytest.fixture(scope="module")
def fleet():
    specs = [MinerSpec("antminer", S19, model="S19", restart_seconds=0.4), MinerSpec("antminer", S9, model="S9"),
             MinerSpec("antminer", L3, model="L3+")]
    with SimFleet(specs, allow_any_client=True, seed=3) as sim:
        yield sim


def url(fleet, ip: str, path: str) -> str:
    return f"http://{ip}:{fleet.miner(ip).ports()['http']}{path}"


def cg(fleet, ip: str, command: str) -> dict:
    with socket.create_connection((ip, fleet.miner(ip).ports()["cgapi"]), timeout=3) as sock:
        sock.sendall(json.dumps({"command": command}).encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data.rstrip(b"\x00").decode().replace("}{", "},{"))


def get(fleet, ip, path, auth=ROOT):
    return requests.get(url(fleet, ip, path), auth=auth, timeout=3)


def post(fleet, ip, path, body: bytes, auth=ROOT):
    return requests.post(url(fleet, ip, path), data=body, auth=auth, timeout=3)


def conf(fleet, ip) -> dict:
    return json.loads(get(fleet, ip, "/cgi-bin/get_miner_conf.cgi").text)


def three_pools(first: str) -> list[dict]:
    return [{"url": first, "user": "me.1", "pass": "pw"}] + [{"url": "", "user": "", "pass": ""}] * 2


def test_conf_text_like_the_captures(fleet):
    modern = get(fleet, S19, "/cgi-bin/get_miner_conf.cgi").text
    assert modern.startswith('\n\n{\n"pools" : [\n{\n"url" : ') and '"bitmain-work-mode" : "0"' in modern
    legacy = get(fleet, S9, "/cgi-bin/get_miner_conf.cgi").text
    assert legacy.startswith('{\n"pools"') and "bitmain-work-mode" not in legacy and '"multi-version" : "1"' in legacy
    assert "bitmain-pwth" in modern and "bitmain-pwth" not in legacy
    info = get(fleet, L3, "/cgi-bin/get_system_info.cgi").json()
    assert info["minertype"] == "Antminer L3+" and info["cgminer_version"] == "4.9.0"
    assert get(fleet, S9, "/cgi-bin/summary.cgi").status_code == 404  # X19 only


def test_wrong_password_and_stale_uri_change_nothing(fleet):
    miner = fleet.miner(S19)
    writes, before = miner.conf_writes, conf(fleet, S19)
    body = json.dumps({"miner-mode": 1, "pools": three_pools("stratum+tcp://evil:1")}).encode()
    assert post(fleet, S19, "/cgi-bin/set_miner_conf.cgi", body, auth=HTTPDigestAuth("root", "nope")).status_code == 401
    # A digest computed for another URI is refused as well (lighttpd checks the uri field).
    session = requests.Session()
    session.auth = ROOT
    assert session.get(url(fleet, S19, "/"), timeout=3).status_code == 200
    auth = session.auth.build_digest_header("GET", url(fleet, S19, "/"))
    assert requests.post(url(fleet, S19, "/cgi-bin/set_miner_conf.cgi"), data=body, timeout=3,
                         headers={"Authorization": auth}).status_code == 401
    assert miner.conf_writes == writes and conf(fleet, S19) == before and not miner.sleeping


def test_x19_sleep_reads_zero_with_fans_and_x_chips_then_wakes(fleet):
    miner = fleet.miner(S19)
    current = conf(fleet, S19)
    echoed = {"bitmain-work-mode": "1", "pools": current["pools"]}  # the read key: accepted, then ignored
    assert post(fleet, S19, "/cgi-bin/set_miner_conf.cgi", json.dumps(echoed).encode()).json()["code"] == "M000"
    assert not miner.sleeping
    body = {"bitmain-fan-ctrl": False, "bitmain-fan-pwm": "100", "miner-mode": 1, "freq-level": "100",
            "pools": current["pools"]}
    assert post(fleet, S19, "/cgi-bin/set_miner_conf.cgi", json.dumps(body).encode()).json() == \
        {"stats": "success", "code": "M000", "msg": "OK!"}
    assert conf(fleet, S19)["bitmain-work-mode"] == "1" and miner.sleeping
    dev = cg(fleet, S19, "stats")["STATS"][1]
    assert dev["GHS 5s"] == 0 and dev["chain_rate1"] == "0.00" and set(dev["chain_acs1"].replace(" ", "")) == {"x"}
    assert all(dev[f"fan{i}"] > 0 for i in range(1, 5)) and dev["temp2_1"] < 45
    assert cg(fleet, S19, "summary")["SUMMARY"][0]["GHS av"] == 0
    body["miner-mode"] = 3
    post(fleet, S19, "/cgi-bin/set_miner_conf.cgi", json.dumps(body).encode())
    low = cg(fleet, S19, "summary")["SUMMARY"][0]["GHS av"]
    body["miner-mode"] = 0
    post(fleet, S19, "/cgi-bin/set_miner_conf.cgi", json.dumps(body).encode())
    normal = cg(fleet, S19, "summary")["SUMMARY"][0]["GHS av"]
    assert 0.6 * normal < low < 0.8 * normal and not miner.sleeping


def test_x19_pools_must_be_three_and_show_in_the_api(fleet):
    miner = fleet.miner(S19)
    writes = miner.conf_writes
    two = {"miner-mode": 0, "pools": three_pools("stratum+tcp://a.example:3333")[:2]}
    reply = post(fleet, S19, "/cgi-bin/set_miner_conf.cgi", json.dumps(two).encode()).json()
    assert reply["stats"] == "error" and miner.conf_writes == writes
    ok = {"miner-mode": 0, "pools": three_pools("new.example:700")}
    post(fleet, S19, "/cgi-bin/set_miner_conf.cgi", json.dumps(ok).encode())
    pools = cg(fleet, S19, "pools")["POOLS"]
    assert [p["URL"] for p in pools] == ["stratum+tcp://new.example:700", "", ""]  # cgminer adds the scheme
    assert pools[0]["User"] == "me.1" and "pw" not in json.dumps(pools)
    assert conf(fleet, S19)["pools"][0]["url"] == "new.example:700"  # the config keeps what was posted


def test_legacy_form_is_read_by_position(fleet):
    form = ("_ant_pool1url=stratum%2Btcp%3A%2F%2Fp.example%3A3333&_ant_pool1user=w.1&_ant_pool1pw=a+b%2Bc"
            "&_ant_pool2url=&_ant_pool2user=&_ant_pool2pw=&_ant_pool3url=&_ant_pool3user=&_ant_pool3pw="
            "&_ant_nobeeper=false&_ant_notempoverctrl=false&_ant_fan_customize_switch=true"
            "&_ant_fan_customize_value=80&_ant_freq=600")
    reply = post(fleet, S9, "/cgi-bin/set_miner_conf.cgi", form.encode())
    assert reply.text == "ok\n"
    written = conf(fleet, S9)
    assert written["pools"][0] == {"url": "stratum+tcp://p.example:3333", "user": "w.1", "pass": "a b+c"}
    assert (written["bitmain-fan-ctrl"], written["bitmain-fan-pwm"], written["bitmain-freq"]) == (True, "80", "600")
    assert written["multi-version"] == "1"
    assert [p["URL"] for p in cg(fleet, S9, "pools")["POOLS"]] == ["stratum+tcp://p.example:3333", "", ""]
    # Names are not checked: the same fields in another order land in the wrong slots, as on the real script.
    swapped = parse_legacy_form(b"_ant_pool1user=w.1&_ant_pool1url=stratum%2Btcp%3A%2F%2Fp%3A1")
    assert swapped == {"pool1url": "_ant_pool1user=w.1", "pool1user": "_ant_pool1url=stratum+tcp://p:1"}


def test_legacy_l3_has_no_work_mode(fleet):
    miner = fleet.miner(L3)
    body = json.dumps({"miner-mode": 1, "pools": three_pools("x:1")}).encode()
    post(fleet, L3, "/cgi-bin/set_miner_conf.cgi", body)  # a JSON body read as one positional word
    assert not miner.sleeping and cg(fleet, L3, "summary")["SUMMARY"][0]["GHS av"] > 400


def test_reboot_cgi_goes_unreachable_then_back_with_uptime_reset(fleet):
    miner = fleet.miner(S19)
    miner.skip(300)
    reboots = miner.reboots
    assert get(fleet, S19, "/cgi-bin/reboot.cgi").status_code == 200
    # The listeners close on the simulator's loop just after the reply; give it that moment.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and miner.listening:
        time.sleep(0.01)
    with pytest.raises(requests.ConnectionError):
        requests.get(url(fleet, S19, "/"), timeout=1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not miner.listening:
        time.sleep(0.05)
    assert miner.reboots == reboots + 1
    assert cg(fleet, S19, "summary")["SUMMARY"][0]["Elapsed"] < 5
