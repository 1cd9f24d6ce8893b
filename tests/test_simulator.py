"""The simulator speaks the firmware protocols: checked with plain sockets, http.client and requests.

Addresses: 127.81.0.0/16 only (docs/contracts.md). Nothing from miners/ is used.
"""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time

import pytest
import requests
from requests.auth import HTTPDigestAuth

from simulator import MinerSpec, SimFleet, SimulatorError, addresses, demo_specs, scaled_specs
from simulator import httpd
from simulator.__main__ import main as cli_main

RESTART_S = 0.4

CG = "127.81.1.1"  # generic cgminer, restart tests
S9 = "127.81.1.2"
S19 = "127.81.1.3"
L3 = "127.81.1.4"
GAMMA_212 = "127.81.1.5"  # frequency / restart (plain text reply)
SUPRA_26 = "127.81.1.6"
GAMMA_214 = "127.81.1.7"  # pause / resume
SUPRA_215 = "127.81.1.8"  # pools[]
ULTRA_29 = "127.81.1.9"
CG_FAULTS = "127.81.1.10"
MAX_213 = "127.81.1.11"  # restart (JSON reply)
CG_POOLS = "127.81.1.12"
S9_FAULTS = "127.81.1.13"
BITAXE_FAULTS = "127.81.1.14"


@pytest.fixture(scope="module")
def fleet():
    """One fleet for the module; every test owns the miners it changes."""
    specs = [
        MinerSpec("cgminer", CG, restart_seconds=RESTART_S),
        MinerSpec("antminer", S9, model="Antminer S9"),
        MinerSpec("antminer", S19, model="S19"),
        MinerSpec("antminer", L3, model="L3+"),
        MinerSpec("bitaxe", GAMMA_212, model="Gamma", firmware_version="v2.12.0", restart_seconds=RESTART_S),
        MinerSpec("bitaxe", SUPRA_26, model="Supra", firmware_version="v2.6.0"),
        MinerSpec("bitaxe", GAMMA_214, model="BM1370", firmware_version="v2.14.2"),
        MinerSpec("bitaxe", SUPRA_215, model="Supra", firmware_version="v2.15.0"),
        MinerSpec("bitaxe", ULTRA_29, model="Ultra", firmware_version="v2.9.0"),
        MinerSpec("cgminer", CG_FAULTS),
        MinerSpec("bitaxe", MAX_213, model="Max", firmware_version="v2.13.2", restart_seconds=RESTART_S),
        MinerSpec("cgminer", CG_POOLS),
        MinerSpec("antminer", S9_FAULTS, model="S9"),
        MinerSpec("bitaxe", BITAXE_FAULTS, model="Gamma", firmware_version="v2.12.0"),
    ]
    with SimFleet(specs, allow_any_client=True, seed=7) as sim:
        yield sim


# --- helpers -------------------------------------------------------------------------------

def cg_raw(fleet: SimFleet, ip: str, request: str | bytes, timeout: float = 3.0) -> bytes:
    """Send one API request, read to EOF (the server closes), return the raw bytes."""
    port = fleet.miner(ip).ports()["cgapi"]
    with socket.create_connection((ip, port), timeout=timeout) as sock:
        sock.sendall(request.encode() if isinstance(request, str) else request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def cg(fleet: SimFleet, ip: str, command: str, parameter: str | None = None) -> dict:
    """A JSON API call, parsed (the NUL stripped)."""
    req = {"command": command} if parameter is None else {"command": command, "parameter": parameter}
    raw = cg_raw(fleet, ip, json.dumps(req))
    assert raw.endswith(b"\x00")
    return json.loads(raw[:-1])


def url(fleet: SimFleet, ip: str, path: str) -> str:
    """http://ip:port/path for a miner's web port."""
    return f"http://{ip}:{fleet.miner(ip).ports()['http']}{path}"


def info(fleet: SimFleet, ip: str) -> dict:
    """GET /api/system/info."""
    r = requests.get(url(fleet, ip, "/api/system/info"), timeout=3)
    assert r.status_code == 200
    return r.json()


def raw_http(fleet: SimFleet, ip: str, request: bytes) -> bytes:
    """Send raw HTTP bytes on a fresh connection and read until the reply is complete or closed."""
    with socket.create_connection((ip, fleet.miner(ip).ports()["http"]), timeout=3) as sock:
        sock.sendall(request)
        data = b""
        sock.settimeout(0.5)
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if data.endswith(b"0\r\n\r\n"):
                    break
        except TimeoutError:
            pass
    return data


def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def refused(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), timeout=0.5).close()
    except ConnectionRefusedError:
        return True
    return False


# --- cgminer framing -------------------------------------------------------------------------

def test_reply_ends_with_one_nul_and_server_closes(fleet):
    raw = cg_raw(fleet, CG, '{"command":"version"}')
    assert raw.endswith(b"\x00") and raw.count(b"\x00") == 1
    reply = json.loads(raw[:-1])
    assert reply["STATUS"][0]["STATUS"] == "S" and reply["STATUS"][0]["Code"] == 22
    assert reply["VERSION"] == [{"CGMiner": "4.11.1", "API": "3.7"}]  # generic cgminer: no Type key
    assert reply["id"] == 1


def test_plain_text_request_gets_text_reply(fleet):
    raw = cg_raw(fleet, CG, "summary")
    assert raw.endswith(b"|\x00")
    text = raw[:-1].decode()
    status, summary = text.split("|")[:2]
    assert status.startswith("STATUS=S,When=") and "Code=11,Msg=Summary,Description=cgminer 4.11.1" in status
    assert summary.startswith("SUMMARY,Elapsed=") and "MHS av=" in summary
    pools = cg_raw(fleet, CG, "pools|")[:-1].decode()
    assert "|POOL=0,URL=stratum+tcp://" in pools


def test_text_mode_join(fleet):
    text = cg_raw(fleet, CG, "version+config")[:-1].decode()
    assert text.startswith("CMD=version|STATUS=S,") and "|VERSION,CGMiner=4.11.1,API=3.7|" in text
    assert "|CMD=config|STATUS=S," in text and "|CONFIG,ASC Count=2," in text


def test_bad_requests(fleet):
    assert cg(fleet, CG, "nosuchcommand")["STATUS"][0]["Code"] == 14
    bad = json.loads(cg_raw(fleet, CG, '{"command": ')[:-1])
    assert bad["STATUS"][0]["Code"] == 23 and bad["STATUS"][0]["Msg"] == "Invalid JSON"


def test_generic_cgminer_reads(fleet):
    summary = cg(fleet, CG, "summary")["SUMMARY"][0]
    assert summary["MHS av"] > 400_000  # two Compac F sticks, about 270 GH/s each
    assert "Power" not in json.dumps(summary)
    devs = cg(fleet, CG, "devs")
    assert devs["STATUS"][0]["Msg"] == "2 ASC(s)" and [d["Name"] for d in devs["DEVS"]] == ["GSF", "GSF"]
    stats = cg(fleet, CG, "stats")["STATS"]
    assert [s["ID"] for s in stats] == ["GSF0", "GSF1", "POOL0", "POOL1"]
    config = cg(fleet, CG, "config")["CONFIG"][0]
    assert config["ASC Count"] == 2 and config["Strategy"] == "Failover"


def test_multicommand_shape(fleet):
    reply = cg(fleet, CG, "summary+pools+stats+summary")
    assert list(reply) == ["summary", "pools", "stats", "id"] and reply["id"] == 1
    for name in ("summary", "pools", "stats"):
        assert isinstance(reply[name], list) and len(reply[name]) == 1
        assert reply[name][0]["id"] == 1 and reply[name][0]["STATUS"][0]["STATUS"] == "S"
    assert "SUMMARY" in reply["summary"][0] and "POOLS" in reply["pools"][0]
    mixed = cg(fleet, CG, "version+restart+bogus")
    assert mixed["restart"][0]["STATUS"][0]["Code"] == 45  # not joinable
    assert mixed["bogus"][0]["STATUS"][0]["Code"] == 14
    assert fleet.miner(CG).listening  # the joined restart did not run


# --- stock Antminer --------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["restart", "addpool", "switchpool", "devdetails", "estats", "config"])
def test_stock_antminer_denies_all_but_five_reads(fleet, command):
    status = cg(fleet, S19, command)["STATUS"][0]
    assert (status["STATUS"], status["Code"]) == ("E", 45)
    assert status["Msg"] == f"Access denied to '{command}' command"


def test_stock_antminer_reads(fleet):
    for command in ("stats", "pools", "devs", "summary", "version"):
        raw = cg_raw(fleet, S19, json.dumps({"command": command}))
        assert json.loads(raw[:-1])["STATUS"][0]["STATUS"] == "S"
    version = cg(fleet, S9, "version")["VERSION"][0]
    assert version["Type"] == "Antminer S9" and version["BMMiner"] == "2.0.0"
    assert "Power" not in json.dumps(cg(fleet, S9, "summary"))  # stock firmware reports no power


def test_s9_stats_is_glued_and_uses_chains_6_to_8(fleet):
    raw = cg_raw(fleet, S9, '{"command":"stats"}')[:-1].decode()
    assert '"Type":"Antminer S9"}{"STATS":0' in raw
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    dev = json.loads(raw.replace("}{", "},{"))["STATS"][1]
    assert [dev[f"chain_acn{i}"] for i in range(1, 17)] == [0] * 5 + [63] * 3 + [0] * 8
    assert dev["fan5"] > 0 and dev["fan6"] > 0 and dev["fan1"] == 0
    assert isinstance(dev["GHS 5s"], str) and isinstance(dev["GHS av"], float)
    assert 12000 < dev["GHS av"] < 15000
    assert dev["chain_acs6"].count("o") == 63


def test_s19_stats_x19_layout(fleet):
    reply = cg(fleet, S19, "stats")  # valid JSON on X19
    dev = reply["STATS"][1]
    assert [dev[f"chain_acn{i}"] for i in range(1, 5)] == [76, 76, 76, 0]
    assert len(dev["temp_chip1"].split("-")) == 4 and dev["temp_chip4"] == "0-0-0-0"
    pools = cg(fleet, S19, "pools")["POOLS"]
    assert len(pools) == 3 and "Pool Stale%%" in pools[0]
    assert cg(fleet, S19, "devs")["DEVS"][0]["Name"] == "BTM_SOC"
    assert cg(fleet, S19, "summary+pools")["STATUS"][0]["Code"] == 14  # joins fail on S19


def test_l3_reports_mhs_in_ghs_fields(fleet):
    raw = cg_raw(fleet, L3, '{"command":"stats"}')[:-1].decode()
    assert '"Type":"Antminer L3+"}{' in raw
    dev = json.loads(raw.replace("}{", "},{"))["STATS"][1]
    assert 450 < float(dev["GHS 5s"]) < 560  # ~504 MH/s written into a "GHS" field
    summary = cg(fleet, L3, "summary")["SUMMARY"][0]
    assert 450 < summary["GHS av"] < 560


def test_antminer_web_wants_digest_auth(fleet):
    r = requests.get(url(fleet, S9, "/"), timeout=3)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith('Digest realm="antMiner Configuration"')
    assert requests.get(url(fleet, S9, "/cgi-bin/get_system_info.cgi"), timeout=3).status_code == 401
    ok = requests.get(url(fleet, S9, "/"), auth=HTTPDigestAuth("root", "root"), timeout=3)
    assert ok.status_code == 200
    wrong = requests.get(url(fleet, S9, "/"), auth=HTTPDigestAuth("root", "nope"), timeout=3)
    assert wrong.status_code == 401


# --- restarts ----------------------------------------------------------------------------------

def test_cgminer_restart_goes_down_and_comes_back_with_uptime_reset(fleet):
    miner = fleet.miner(CG)
    miner.skip(500)
    assert cg(fleet, CG, "summary")["SUMMARY"][0]["Elapsed"] >= 500
    raw = cg_raw(fleet, CG, '{"command":"restart"}')
    assert raw == b'{"STATUS":"RESTART","id":1}\x00'
    assert refused(CG, miner.ports()["cgapi"])
    wait_until(lambda: not refused(CG, miner.ports()["cgapi"]))
    assert cg(fleet, CG, "summary")["SUMMARY"][0]["Elapsed"] < 5


def test_bitaxe_restart_plain_text_before_v2_13(fleet):
    miner = fleet.miner(GAMMA_212)
    miner.skip(300)
    assert info(fleet, GAMMA_212)["uptimeSeconds"] >= 300
    r = requests.post(url(fleet, GAMMA_212, "/api/system/restart"), timeout=3)
    assert r.status_code == 200 and r.text == "System will restart shortly."
    with pytest.raises(requests.ConnectionError):
        requests.get(url(fleet, GAMMA_212, "/api/system/info"), timeout=1)
    wait_until(lambda: not refused(GAMMA_212, miner.ports()["http"]))
    assert info(fleet, GAMMA_212)["uptimeSeconds"] < 5


def test_bitaxe_restart_json_from_v2_13(fleet):
    r = requests.post(url(fleet, MAX_213, "/api/system/restart"), timeout=3)
    assert r.json() == {"message": "System will restart shortly."}
    miner = fleet.miner(MAX_213)
    assert refused(MAX_213, miner.ports()["http"])
    wait_until(lambda: not refused(MAX_213, miner.ports()["http"]))


# --- AxeOS -------------------------------------------------------------------------------------

def test_frequency_change_moves_hashrate_power_and_temperature(fleet):
    before = info(fleet, GAMMA_214)
    assert before["frequency"] == 525 and before["expectedHashrate"] == pytest.approx(1071.0)
    r = requests.patch(url(fleet, GAMMA_214, "/api/system"), json={"frequency": 625, "coreVoltage": 1250},
                       timeout=3)
    assert r.status_code == 200 and r.content == b""
    after = info(fleet, GAMMA_214)
    assert after["frequency"] == 625 and after["coreVoltage"] == 1250
    assert after["expectedHashrate"] == pytest.approx(1071.0 * 625 / 525)
    assert after["hashRate_1h"] / before["hashRate_1h"] == pytest.approx(625 / 525, rel=0.03)
    dyn_ratio = (625 / 525) * (1250 / 1150) ** 2  # P ~ f V^2 for the ASIC part of the board
    assert 1.15 < after["power"] / before["power"] < dyn_ratio
    assert after["temp"] > before["temp"]
    requests.patch(url(fleet, GAMMA_214, "/api/system"), json={"frequency": 525, "coreVoltage": 1150}, timeout=3)


def test_fan_setting_key_depends_on_version(fleet):
    # v2.6: "fanspeed" is the manual setting.
    requests.patch(url(fleet, SUPRA_26, "/api/system"), json={"autofanspeed": 0, "fanspeed": 100}, timeout=3)
    assert info(fleet, SUPRA_26)["fanspeed"] == 100
    # v2.12+: "fanspeed" is only the read-out (ignored), "manualFanSpeed" sets it.
    base = "/api/system"
    requests.patch(url(fleet, GAMMA_214, base), json={"autofanspeed": 0, "fanspeed": 30}, timeout=3)
    assert info(fleet, GAMMA_214)["manualFanSpeed"] == 100
    hot = info(fleet, GAMMA_214)["temp"]
    requests.patch(url(fleet, GAMMA_214, base), json={"manualFanSpeed": 30}, timeout=3)
    slow = info(fleet, GAMMA_214)
    assert slow["fanspeed"] == pytest.approx(30) and slow["temp"] > hot  # less fan, a little hotter
    requests.patch(url(fleet, GAMMA_214, base), json={"autofanspeed": 1}, timeout=3)


def test_patch_reply_is_empty_chunked_and_errors(fleet):
    body = b'{"unknownKey": 1}'
    raw = raw_http(fleet, GAMMA_214, b"PATCH /api/system HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Transfer-Encoding: chunked" in head
    assert rest == b"0\r\n\r\n"
    bad = requests.patch(url(fleet, GAMMA_214, "/api/system"), data="{nope", timeout=3)
    assert (bad.status_code, bad.text) == (400, "Invalid JSON")
    wrong = requests.patch(url(fleet, GAMMA_214, "/api/system"), json={"frequency": "fast"}, timeout=3)
    assert (wrong.status_code, wrong.text) == (400, "Wrong API input")  # validation from v2.11


def test_fields_follow_firmware_version(fleet):
    old = info(fleet, SUPRA_26)
    assert old["version"] == "v2.6.0" and old["asicCount"] == 1 and isinstance(old["bestDiff"], str)
    assert "stratumDiff" in old and "expectedHashrate" not in old and "hashRate_1m" not in old
    assert requests.get(url(fleet, SUPRA_26, "/api/system/asic"), timeout=3).status_code == 404
    mid = info(fleet, ULTRA_29)
    assert "asicCount" not in mid and "poolDifficulty" in mid and mid["axeOSVersion"] == "v2.9.0"
    asic = requests.get(url(fleet, ULTRA_29, "/api/system/asic"), timeout=3).json()
    assert asic["asicCount"] == 1 and asic["deviceModel"] == "Ultra" and asic["ASICModel"] == "BM1366"
    new = info(fleet, GAMMA_214)
    assert isinstance(new["bestDiff"], int) and "hashRate_1m" in new and new["miningPaused"] is False
    for key, unit_range in (("voltage", (4800, 5200)), ("current", (1000, 6000)), ("power", (5, 40)),
                            ("coreVoltage", (1000, 1400)), ("temp", (30, 90)), ("hashRate", (500, 2000))):
        assert unit_range[0] < new[key] < unit_range[1], key
    assert new["ASICModel"] == "BM1370" and new["boardVersion"] == "601" and new["smallCoreCount"] == 2040


def test_pause_and_resume_only_from_v2_14(fleet):
    assert requests.post(url(fleet, MAX_213, "/api/system/pause"), timeout=3).status_code == 404
    r = requests.post(url(fleet, GAMMA_214, "/api/system/pause"), timeout=3)
    assert r.json() == {"message": "Mining paused"}
    paused = info(fleet, GAMMA_214)
    assert paused["miningPaused"] is True and paused["hashRate"] == 0
    r = requests.post(url(fleet, GAMMA_214, "/api/system/resume"), timeout=3)
    assert r.json() == {"message": "Mining resumed"} and info(fleet, GAMMA_214)["hashRate"] > 0


def test_http_keep_alive_head_and_unknown_paths(fleet):
    conn = http.client.HTTPConnection(GAMMA_214, fleet.miner(GAMMA_214).ports()["http"], timeout=3)
    conn.request("GET", "/api/system/info")
    first = conn.getresponse()
    length = len(first.read())
    sock = conn.sock
    conn.request("HEAD", "/api/system/info")
    head = conn.getresponse()
    assert head.read() == b"" and int(head.getheader("Content-Length")) > 0
    assert conn.sock is sock  # same TCP connection reused
    conn.request("GET", "/api/nothing/here")
    missing = conn.getresponse()
    assert missing.status == 404 and json.loads(missing.read()) == {"error": "unknown route"}
    conn.close()
    assert length > 500
    root = requests.get(url(fleet, GAMMA_214, "/"), timeout=3)
    assert root.status_code == 200 and "AxeOS" in root.text  # requests un-gzips
    raw = raw_http(fleet, GAMMA_214, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"Content-Encoding: gzip" in raw and b"Transfer-Encoding: chunked" in raw


def test_strict_access_gives_401_on_api_only():
    spec = MinerSpec("bitaxe", "127.81.2.1", model="Gamma", firmware_version="v2.12.0")
    with SimFleet([spec], allow_any_client=False) as strict:
        r = requests.get(url(strict, "127.81.2.1", "/api/system/info"), timeout=3)
        assert (r.status_code, r.text) == (401, "Unauthorized")
        assert requests.patch(url(strict, "127.81.2.1", "/api/system"), json={}, timeout=3).status_code == 401
        assert "AxeOS" in requests.get(url(strict, "127.81.2.1", "/"), timeout=3).text  # static files: no check


@pytest.mark.parametrize("client, origin, allowed", [
    ("192.168.1.20", None, True),
    ("10.1.2.3", "http://192.168.1.50", True),
    ("172.16.5.5", "http://172.31.0.1:8080/", True),
    ("192.168.1.20", "http://bitaxe.local", True),
    ("192.168.1.20", "http://8.8.8.8", False),
    ("192.168.1.20", "https://192.168.1.50", False),
    ("127.0.0.1", None, False),
    ("100.64.0.7", None, False),
    ("172.32.0.1", None, False),
])
def test_private_range_and_origin_rule(client, origin, allowed):
    spec = MinerSpec("bitaxe", "127.81.2.2")
    miner = SimFleet([spec], allow_any_client=False).miner("127.81.2.2")
    headers = {} if origin is None else {"origin": origin}
    request = httpd.Request("GET", "/api/system/info", "/api/system/info", "", "HTTP/1.1", headers, b"", client)
    assert miner.network_allowed(request) is allowed


# --- pools and counters --------------------------------------------------------------------------

def test_pool_changes_are_reflected(fleet):
    added = cg(fleet, CG_POOLS, "addpool", "stratum+tcp://pool.example:3333,worker,x")["STATUS"][0]
    assert added["Code"] == 55 and added["Msg"] == "Added pool 2: 'stratum+tcp://pool.example:3333'"
    assert cg(fleet, CG_POOLS, "switchpool", "2")["STATUS"][0]["Code"] == 27
    pools = cg(fleet, CG_POOLS, "pools")["POOLS"]
    active = [p for p in pools if p["Stratum Active"]]
    assert [p["URL"] for p in active] == ["stratum+tcp://pool.example:3333"] and active[0]["Priority"] == 0
    assert cg(fleet, CG_POOLS, "removepool", "2")["STATUS"][0]["Code"] == 67  # active
    assert cg(fleet, CG_POOLS, "removepool", "0")["STATUS"][0]["Code"] == 68
    assert cg(fleet, CG_POOLS, "switchpool", "9")["STATUS"][0]["Code"] == 26
    assert cg(fleet, CG_POOLS, "disablepool", "0")["STATUS"][0]["Code"] == 48
    assert cg(fleet, CG_POOLS, "disablepool", "0")["STATUS"][0]["Code"] == 50  # already (info)
    assert cg(fleet, CG_POOLS, "disablepool", "1")["STATUS"][0]["Code"] == 51  # last enabled one
    assert [p["Status"] for p in cg(fleet, CG_POOLS, "pools")["POOLS"]] == ["Disabled", "Alive"]
    assert cg(fleet, CG_POOLS, "enablepool", "0")["STATUS"][0]["Code"] == 47
    # AxeOS before v2.15: flat stratum keys.
    requests.patch(url(fleet, ULTRA_29, "/api/system"), json={"stratumURL": "pool.example", "stratumPort": 4444},
                   timeout=3)
    got = info(fleet, ULTRA_29)
    assert (got["stratumURL"], got["stratumPort"]) == ("pool.example", 4444)
    # v2.15: flat keys are ignored, pools[] works.
    requests.patch(url(fleet, SUPRA_215, "/api/system"), json={"stratumURL": "ignored.example"}, timeout=3)
    assert info(fleet, SUPRA_215)["stratumURL"] != "ignored.example"
    r = requests.patch(url(fleet, SUPRA_215, "/api/system"),
                       json={"pools": [{"id": 0, "stratumURL": "new.example", "stratumPort": 3333}]}, timeout=3)
    assert r.status_code == 200
    got = info(fleet, SUPRA_215)
    assert got["stratumURL"] == "new.example" and got["pools"][0]["stratumPassword"] == "*****"


def test_share_counters_grow_with_time(fleet):
    before = cg(fleet, S19, "summary")["SUMMARY"][0]["Accepted"]
    fleet.miner(S19).skip(600)
    assert cg(fleet, S19, "summary")["SUMMARY"][0]["Accepted"] > before
    bitaxe_before = info(fleet, ULTRA_29)["sharesAccepted"]
    fleet.miner(ULTRA_29).skip(600)
    assert info(fleet, ULTRA_29)["sharesAccepted"] > bitaxe_before


def test_seed_makes_readings_repeatable():
    spec = [MinerSpec("bitaxe", "127.81.3.1", model="Gamma")]
    readings = []
    for _ in range(2):
        with SimFleet(spec, allow_any_client=True, seed=42) as sim:
            readings.append(info(sim, "127.81.3.1")["hashRate"])
    assert readings[0] == readings[1]


# --- faults --------------------------------------------------------------------------------------

def test_fault_hang_keeps_the_socket_open_without_answer(fleet):
    fleet.set_fault(CG_FAULTS, "hang")
    try:
        with socket.create_connection((CG_FAULTS, fleet.miner(CG_FAULTS).ports()["cgapi"]), timeout=0.3) as sock:
            sock.sendall(b'{"command":"summary"}')
            with pytest.raises(TimeoutError):
                sock.recv(100)
        with pytest.raises(requests.Timeout):
            fleet.set_fault(BITAXE_FAULTS, "hang")
            requests.get(url(fleet, BITAXE_FAULTS, "/api/system/info"), timeout=0.3)
    finally:
        fleet.set_fault(CG_FAULTS, None)
        fleet.set_fault(BITAXE_FAULTS, None)
    assert cg(fleet, CG_FAULTS, "version")["STATUS"][0]["STATUS"] == "S"


def test_fault_reset_sends_rst(fleet):
    fleet.set_fault(CG_FAULTS, "reset")
    try:
        with pytest.raises(ConnectionResetError):
            cg_raw(fleet, CG_FAULTS, '{"command":"summary"}')
    finally:
        fleet.set_fault(CG_FAULTS, None)


def test_fault_malformed_gives_known_broken_json(fleet):
    fleet.set_fault(S9_FAULTS, "malformed")
    try:
        texts = [cg_raw(fleet, S9_FAULTS, '{"command":"summary"}')[:-1].decode() for _ in range(5)]
    finally:
        fleet.set_fault(S9_FAULTS, None)
    for text in texts:
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
    joined = "\n".join(texts)
    assert ",}]" in joined and ":[,{" in joined and '"GHS av":nan' in joined
    fleet.set_fault(BITAXE_FAULTS, "malformed")
    try:
        body = requests.get(url(fleet, BITAXE_FAULTS, "/api/system/info"), timeout=3).text
    finally:
        fleet.set_fault(BITAXE_FAULTS, None)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_fault_down_refuses_and_none_restores(fleet):
    port = fleet.miner(S9_FAULTS).ports()["cgapi"]
    fleet.set_fault(S9_FAULTS, "down")
    assert refused(S9_FAULTS, port) and refused(S9_FAULTS, fleet.miner(S9_FAULTS).ports()["http"])
    fleet.set_fault(S9_FAULTS, None)
    assert cg(fleet, S9_FAULTS, "version")["VERSION"][0]["Type"] == "Antminer S9"


def test_unknown_fault_is_rejected(fleet):
    with pytest.raises(ValueError):
        fleet.set_fault(CG_FAULTS, "explode")


# --- fleets ---------------------------------------------------------------------------------------

def test_500_miners_start_and_stop_quickly():
    specs = scaled_specs("127.81.100.1", 500)
    started = time.monotonic()
    with SimFleet(specs, allow_any_client=True) as big:
        start_s = time.monotonic() - started
        for spec in specs[::97]:
            miner = big.miner(spec.ip)
            if spec.kind == "bitaxe":
                assert info(big, spec.ip)["hostname"]
            else:
                assert cg(big, spec.ip, "version")["STATUS"][0]["STATUS"] == "S"
        stop_started = time.monotonic()
    assert start_s < 5 and time.monotonic() - stop_started < 5
    assert {s.kind for s in specs} == {"bitaxe", "cgminer", "antminer"}
    assert miner.ip == specs[485].ip


def test_bind_error_names_the_address():
    with socket.socket() as blocker:
        blocker.bind(("127.81.4.1", 4028))
        blocker.listen()
        with pytest.raises(SimulatorError, match=r"127\.81\.4\.1:4028"):
            SimFleet([MinerSpec("cgminer", "127.81.4.1")], port_offset=0).start()


def test_demo_and_scaled_specs():
    demo = demo_specs("127.81.5.10")
    assert [s.kind for s in demo].count("bitaxe") == 6 and len(demo) == 12
    assert {s.model for s in demo if s.kind == "antminer"} == {"Antminer S9", "Antminer S19", "Antminer L3+"}
    assert len({s.firmware_version for s in demo if s.kind == "bitaxe"}) == 6
    ips = addresses("127.81.5.250", 10)
    assert "127.81.5.255" not in ips and "127.81.6.0" not in ips and len(set(ips)) == 10
    with pytest.raises(ValueError):
        MinerSpec("bitaxe", "192.168.1.5")  # never anything but loopback


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--strict-access" in out and "--port-offset" in out and "--demo" in out


def test_gzip_index_is_valid():
    from simulator.axeos import INDEX_GZ
    assert b"<title>AxeOS</title>" in gzip.decompress(INDEX_GZ)
