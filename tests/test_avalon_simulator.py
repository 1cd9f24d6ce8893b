"""The Avalon and NerdQAxe++ simulators on the wire (raw sockets and requests; no driver code involved)."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
import requests

from simulator import MinerSpec, SimFleet

NET = "127.87.1"
NANO3S, AVALON_Q, NANO3, NERD = f"{NET}.10", f"{NET}.11", f"{NET}.12", f"{NET}.13"


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("avalon", NANO3S, model="Avalon Nano3s", restart_seconds=0.3),
             MinerSpec("avalon", AVALON_Q, model="Avalon Q", restart_seconds=0.3),
             MinerSpec("avalon", NANO3, model="Avalon Nano3", restart_seconds=0.3),
             MinerSpec("bitaxe", NERD, model="NerdQAxe++", restart_seconds=0.3)]
    with SimFleet(specs, allow_any_client=True, seed=5) as fleet:
        yield fleet


def raw(sim, ip: str, request: bytes) -> bytes:
    with socket.create_connection((ip, 4028 + sim.port_offset), timeout=2) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def cmd(sim, ip: str, command: str, parameter: str | None = None) -> dict:
    body = {"command": command} if parameter is None else {"command": command, "parameter": parameter}
    data = raw(sim, ip, json.dumps(body).encode())
    assert data.endswith(b"\x00")  # api.c: strlen + 1
    return json.loads(data[:-1])


def tokens(text: str) -> dict[str, str]:
    return dict(re.findall(r"([A-Za-z][A-Za-z0-9_]*)\[([^\]]*)\]", text))


def test_nano3s_estats_shape(sim):
    reply = cmd(sim, NANO3S, "estats")
    record = reply["STATS"][0]
    assert reply["STATUS"][0]["Code"] == 70 and record["ID"] == "AVALON0" and record["MM Count"] == 1
    mm = tokens(record["MM ID0"])
    assert mm["Ver"] == "Nano3s-25021401_56abae7" and mm["SYSTEMSTATU"] == "Work: In Work, Hash Board: 1"
    assert len(mm["PS"].split()) == 7 and mm["WORKMODE"] == "2" and mm["MPO"] == "133"
    assert len(mm["PVT_T0"].split()) == 12 and "HBinfo" not in record
    version = cmd(sim, NANO3S, "version")["VERSION"][0]
    assert version["PROD"] == "Avalon Nano3s" and re.fullmatch(r"[0-9a-f]{12}", version["MAC"])


def test_avalon_q_summary_string_hbinfo_and_pool_password(sim):
    record = cmd(sim, AVALON_Q, "estats")["STATS"][0]
    assert record["MM ID0:Summary"].startswith("'STATS':{Ver[Q-25052801_14a19a2]")
    assert re.fullmatch(r"'HB0':\{PVT_T0\[[\d ]+\] PVT_V0\[[\d ]+\] MW0\[[\d ]+\]\}", record["HBinfo"])
    assert "HBinfo" not in cmd(sim, AVALON_Q, "stats")["STATS"][0]
    pool = cmd(sim, AVALON_Q, "pools")["POOLS"][0]
    assert list(pool).index("Password") == list(pool).index("User") + 1 and pool["Password"] == "x"
    assert "Password" not in cmd(sim, NANO3S, "pools")["POOLS"][0]


def test_nano3_has_only_worklevel(sim):
    mm = tokens(cmd(sim, NANO3, "stats")["STATS"][0]["MM ID0"])
    assert "WORKMODE" not in mm and mm["WORKLEVEL"] == "1" and mm["PS"].split()[:4] == ["0", "0", "0", "3"]
    assert {"ATA0", "ATA1", "ATA2"} <= set(mm)


def test_ascset_reply_forms(sim):
    help_msg = cmd(sim, AVALON_Q, "ascset", "0,help")["STATUS"][0]
    assert (help_msg["STATUS"], help_msg["Code"]) == ("I", 118) and "|softon|softoff|" in help_msg["Msg"]
    unknown = cmd(sim, NANO3S, "ascset", "0,softoff,1:1")["STATUS"][0]  # not in the Nano 3S source's table
    assert (unknown["STATUS"], unknown["Code"]) == ("E", 120)
    assert unknown["Msg"] == "ASC 0 set failed: Unknown option: softoff"
    get = cmd(sim, AVALON_Q, "ascset", "0,workmode,get")["STATUS"][0]
    assert get["Msg"] == "ASC 0 set info: workmode 1"
    bad = cmd(sim, AVALON_Q, "ascset", "0,workmode,set,7")["STATUS"][0]
    assert bad["Msg"] == "ASC 0 set failed: error:1 not support set workmode max_mode[2]"
    assert cmd(sim, AVALON_Q, "ascset", "0")["STATUS"][0]["Code"] == 116
    ok = cmd(sim, AVALON_Q, "ascset", "0,workmode,set,0")["STATUS"][0]
    assert (ok["STATUS"], ok["Code"], ok["Msg"]) == ("S", 119, "ASC 0 set OK") and sim.miner(AVALON_Q).mode == 0


def test_softoff_applies_at_its_time_and_softon_may_close_silently(sim):
    miner = sim.miner(AVALON_Q)
    when = int(time.time() + miner._skew) + 5
    reply = cmd(sim, AVALON_Q, "ascset", f"0,softoff,1:{when}")["STATUS"][0]
    assert reply["Msg"] == f"ASC 0 set info: success softoff:{when}"
    assert not miner.soft_off
    sim.call(lambda: miner.skip(6))
    mm = tokens(cmd(sim, AVALON_Q, "estats")["STATS"][0]["MM ID0:Summary"])
    assert mm["SYSTEMSTATU"] == "Work: In Idle, Hash Board: 1" and float(mm["GHSspd"]) == 0 and mm["Fan1"] == "0"
    later = int(time.time() + miner._skew) + 5
    assert raw(sim, AVALON_Q, json.dumps({"command": "ascset", "parameter": f"0,softon,1:{later}"}).encode()) == b""
    sim.call(lambda: miner.skip(6))
    mm = tokens(cmd(sim, AVALON_Q, "estats")["STATS"][0]["MM ID0:Summary"])  # events apply on the next request
    assert mm["SYSTEMSTATU"] == "Work: In Work, Hash Board: 1" and float(mm["GHSspd"]) > 0
    again = cmd(sim, AVALON_Q, "ascset", f"0,softon,1:{later}")["STATUS"][0]
    assert again["Msg"] == f"ASC 0 set info: success softon:{later}"


def test_setpool_checks_the_web_password_and_applies_at_boot(sim):
    miner = sim.miner(NANO3S)
    refused = cmd(sim, NANO3S, "setpool", "admin,wrong,0,stratum+tcp://x.example:3333,w,x")["STATUS"][0]
    assert refused["STATUS"] == "E" and miner.pool_file[0].url != "stratum+tcp://x.example:3333"
    done = cmd(sim, NANO3S, "setpool", "admin,root,0,stratum+tcp://x.example:3333,w,x")["STATUS"][0]
    assert done["STATUS"] == "S"
    assert cmd(sim, NANO3S, "pools")["POOLS"][0]["URL"] != "stratum+tcp://x.example:3333"  # not before a reboot
    reboots = miner.reboots
    assert cmd(sim, NANO3S, "ascset", "0,reboot,0")["STATUS"][0]["Code"] == 119
    deadline = time.monotonic() + 5
    while not (miner.reboots > reboots and miner.listening) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cmd(sim, NANO3S, "pools")["POOLS"][0]["URL"] == "stratum+tcp://x.example:3333"


def test_text_mode_escapes_commas(sim):
    data = raw(sim, NANO3S, b"estats").decode()
    assert data.startswith("STATUS=S,") and "SYSTEMSTATU[Work: In Work\\, Hash Board: 1]" in data


def test_nerdqaxe_info_shape_shutdown_and_otp(sim):
    base = f"http://{NERD}:{80 + sim.port_offset}"
    info = requests.get(f"{base}/api/system/info", timeout=2).json()
    assert info["deviceModel"] == "NerdQAxe++" and info["hostip"] == NERD and "ipv4" not in info
    assert info["asicTemps"] == [0, 0, 0, 0] and info["fanCount"] == 2 and info["otp"] is False
    assert {"hashRate_1d", "fanrpm2", "vrTempInt", "currentA", "shutdown"} <= set(info)
    asic = requests.get(f"{base}/api/system/asic", timeout=2).json()
    assert asic["absMaxFrequency"] == 800 and asic["defaultFrequency"] == 600
    assert requests.patch(f"{base}/api/system", json={"frequency": 900}, timeout=2).status_code == 200
    assert requests.get(f"{base}/api/system/info", timeout=2).json()["frequency"] == 800  # clamped to absMax
    miner = sim.miner(NERD)
    sim.call(lambda: setattr(miner, "otp_enabled", True))
    try:
        refused = requests.post(f"{base}/api/system/shutdown", timeout=2)
        assert refused.status_code == 401 and refused.text == "OTP/Session required" and not miner.shut_down
        ok = requests.post(f"{base}/api/system/shutdown", headers={"X-TOTP": miner.totp_code}, timeout=2)
        assert ok.text == "System will shutdown shortly."
        time.sleep(0.1)
        after = requests.get(f"{base}/api/system/info", timeout=2).json()
        assert after["shutdown"] is True and after["hashRate"] == 0
    finally:
        sim.call(lambda: setattr(miner, "otp_enabled", False))
