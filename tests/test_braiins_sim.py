"""The BraiinsOS simulator on the wire: BOSminer reply shapes, REST login/token expiry, writes and their effects."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from simulator import MinerSpec, SimFleet

NET = "127.88.3"
XP, S9, OLD = f"{NET}.10", f"{NET}.11", f"{NET}.12"


@pytest.fixture(scope="module")
def fleet():
    specs = [MinerSpec("braiins", XP, model="S19 XP", restart_seconds=0.3),
             MinerSpec("braiins", S9, model="S9", firmware_version="0.2.0+"),
             MinerSpec("braiins", OLD, model="S9", firmware_version="0.2.0")]
    with SimFleet(specs, allow_any_client=True, seed=3) as sim:
        yield sim


def raw(fleet, ip: str, request: bytes) -> bytes:
    with socket.create_connection((ip, 4028 + fleet.port_offset), timeout=2) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def api(fleet, ip: str, command: str) -> dict:
    data = raw(fleet, ip, json.dumps({"command": command}).encode())
    assert data.endswith(b"\x00")
    return json.loads(data[:-1])  # strict JSON: BOSminer replies are valid JSON


def url(fleet, ip: str, path: str) -> str:
    return f"http://{ip}:{80 + fleet.port_offset}/api/v1{path}"


def login(fleet, ip: str = XP, password: str = "root") -> requests.Response:
    return requests.post(url(fleet, ip, "/auth/login"), json={"username": "root", "password": password}, timeout=2)


def test_version_keys_per_generation(fleet):
    assert api(fleet, S9, "version")["VERSION"] == [{"API": "3.7", "BOSminer+": "0.2.0-36c56a9363"}]
    assert api(fleet, OLD, "version")["STATUS"][0]["Description"] == "BOSminer 0.2.0-d360818"
    assert "BOSer" in api(fleet, XP, "version")["VERSION"][0]


def test_bosminer_keys_are_sorted_and_floats_are_json_numbers(fleet):
    devs = api(fleet, S9, "devs")["DEVS"]
    assert [d["ID"] for d in devs] == [6, 7, 8]
    assert list(devs[0]) == sorted(devs[0])  # serde's BTreeMap order, as in the Foreman capture
    assert isinstance(devs[0]["MHS 5s"], float) and isinstance(devs[0]["Nominal MHS"], float)
    details = api(fleet, S9, "devdetails")["DEVDETAILS"]
    assert details[0]["Model"] == "Bitmain Antminer S9" and details[0]["Frequency"] > 1e8  # Hz
    tuner = api(fleet, S9, "tunerstatus")["TUNERSTATUS"][0]
    assert tuner["PowerLimit"] == 1300 and [c["HashchainIndex"] for c in tuner["TunerChainStatus"]] == [6, 7, 8]
    joined = api(fleet, S9, "summary+temps+fans")
    assert set(joined) == {"summary", "temps", "fans", "id"}


def test_pause_and_resume_replies_match_the_docs(fleet):
    paused = api(fleet, S9, "pause")
    assert paused["PAUSE"] == [True] and paused["STATUS"][0]["Code"] == 204
    assert fleet.miner(S9).paused and api(fleet, S9, "summary")["SUMMARY"][0]["MHS 5s"] == 0.0
    assert api(fleet, S9, "resume")["RESUME"] == [True]
    assert not fleet.miner(S9).paused


def test_rest_only_from_25_07(fleet):
    assert requests.post(url(fleet, S9, "/auth/login"), json={}, timeout=2).status_code == 404
    page = requests.get(f"http://{S9}:{80 + fleet.port_offset}/", timeout=2)
    assert page.status_code == 200 and "Braiins OS" in page.text


def test_login_token_raw_and_expiry(fleet):
    miner = fleet.miner(XP)
    assert login(fleet, password="nope").status_code == 401
    reply = login(fleet)
    token = reply.json()["token"]
    assert reply.json()["timeout_s"] == 3600
    assert requests.get(url(fleet, XP, "/miner/details"), timeout=2).status_code == 401  # no token
    assert requests.get(url(fleet, XP, "/miner/details"), headers={"Authorization": f"Bearer {token}"},
                        timeout=2).status_code == 401  # the token goes raw
    details = requests.get(url(fleet, XP, "/miner/details"), headers={"Authorization": token}, timeout=2).json()
    assert details["miner_identity"]["miner_model"] == "Antminer S19 XP" and details["status"] == 2
    fleet.call(lambda: setattr(miner, "token_ttl", 30.0))
    miner.skip(31)  # idle longer than timeout_s
    assert requests.get(url(fleet, XP, "/pools/"), headers={"Authorization": token}, timeout=2).status_code == 401
    fleet.call(lambda: setattr(miner, "token_ttl", 3600.0))


def test_rest_writes_change_reads(fleet):
    miner = fleet.miner(XP)
    token = login(fleet).json()["token"]
    auth = {"Authorization": token}
    put = lambda path, body=None: requests.put(url(fleet, XP, path), json=body, headers=auth, timeout=2)  # noqa: E731
    before = miner.hashrate_ghs()
    assert put("/performance/power-target", {"watt": 2000}).json() == {"watt": 2000}
    assert put("/performance/power-target", {"watt": 99999}).status_code == 400
    stats = requests.get(url(fleet, XP, "/miner/stats"), headers=auth, timeout=2).json()
    assert stats["power_stats"]["approximated_consumption"]["watt"] == pytest.approx(2000, rel=0.03)
    assert miner.hashrate_ghs() < before
    tuner = requests.get(url(fleet, XP, "/performance/tuner-state"), headers=auth, timeout=2).json()
    assert tuner["mode_state"]["powertargetmodestate"]["current_target"]["watt"] == 2000
    assert put("/actions/pause").json() is False and put("/actions/pause").json() is True  # "already paused"
    assert miner.hashrate_ghs() == 0
    assert put("/actions/resume").json() is False
    reboot = put("/actions/reboot")
    assert reboot.status_code == 204 and reboot.content == b""
    deadline = time.monotonic() + 2
    while miner.reboots == 0 and time.monotonic() < deadline:  # the reboot starts once the reply is flushed
        time.sleep(0.01)
    assert miner.reboots == 1
    fleet.call(lambda: setattr(miner, "power_target", miner.hw.default_watts))
