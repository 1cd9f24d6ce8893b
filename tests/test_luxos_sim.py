"""The LuxOS simulator on the wire: LUXminer reply shapes, single session with expiry, curtail and profiles."""

from __future__ import annotations

import json
import socket

import pytest

from simulator import MinerSpec, SimFleet

IP = "127.88.4.10"


@pytest.fixture(scope="module")
def fleet():
    with SimFleet([MinerSpec("luxos", IP, model="S19k Pro")], allow_any_client=True, seed=4) as sim:
        yield sim


def api(fleet, command: str, parameter: str | None = None) -> dict:
    body = {"command": command} if parameter is None else {"command": command, "parameter": parameter}
    with socket.create_connection((IP, 4028 + fleet.port_offset), timeout=2) as sock:
        sock.sendall(json.dumps(body).encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.endswith(b"\x00")
    return json.loads(data[:-1])


def status(reply: dict) -> tuple[str, int, str]:
    head = reply["STATUS"][0]
    return head["STATUS"], head["Code"], head["Msg"]


def test_identity_and_units(fleet):
    version = api(fleet, "version")["VERSION"][0]
    assert version["Type"] == "Antminer S19k Pro" and version["LUXminer"].startswith("2025.4.8.220305-")
    assert api(fleet, "version")["STATUS"][0]["Description"].startswith("LUXminer ")
    power = api(fleet, "power")["POWER"][0]
    assert power["PSU"] is False and 2500 < power["Watts"] < 3000
    devs = api(fleet, "devs")["DEVS"]
    assert [d["ID"] for d in devs] == [0, 1, 2] and list(devs[0]) == sorted(devs[0])
    assert set(api(fleet, "temps")["TEMPS"][0]) >= {"ID", "TopLeft", "TopRight", "BottomLeft", "BottomRight"}
    assert len(api(fleet, "healthchipget", "1")["CHIPS"]) == 77
    assert status(api(fleet, "summary+pools"))[0] == "E"  # joins refused (unverified, see the module)


def test_one_session_at_a_time_with_idle_expiry(fleet):
    miner = fleet.miner(IP)
    assert api(fleet, "session")["SESSION"] == [{"SessionID": ""}]
    sid = api(fleet, "logon")["SESSION"][0]["SessionID"]
    assert status(api(fleet, "logon"))[:2] == ("E", 402)  # "Another session is active"
    assert api(fleet, "session")["SESSION"][0]["SessionID"] == sid
    assert status(api(fleet, "curtail", "wrong,sleep"))[0] == "E" and not miner.curtailed
    miner.skip(61)  # LUXminer sessions expire after 60 s idle
    assert status(api(fleet, "curtail", f"{sid},sleep"))[0] == "E" and not miner.curtailed
    assert api(fleet, "session")["SESSION"][0]["SessionID"] == ""


def test_curtail_and_profiles_change_reads(fleet):
    miner = fleet.miner(IP)
    fleet.call(miner.writes.clear)  # writes records every state-changing command received, refused ones too
    sid = api(fleet, "logon")["SESSION"][0]["SessionID"]
    assert status(api(fleet, "curtail", f"{sid},sleep"))[0] == "S"
    assert api(fleet, "config")["CONFIG"][0]["CurtailMode"] == "Sleep"
    assert api(fleet, "summary")["SUMMARY"][0]["GHS 5s"] == 0.0 and api(fleet, "power")["POWER"][0]["Watts"] < 40
    api(fleet, "curtail", f"{sid},wakeup")
    low = min(api(fleet, "profiles")["PROFILES"], key=lambda p: p["Watts"])
    assert api(fleet, "profileset", f"{sid},{low['Profile Name']}")["PROFILE"] == [{"Profile": low["Profile Name"]}]
    assert api(fleet, "power")["POWER"][0]["Watts"] == pytest.approx(low["Watts"], rel=0.03)
    assert api(fleet, "profileset", f"{sid},0,default")["PROFILE"][0]["Profile"] == "default"  # older form
    assert status(api(fleet, "logoff", sid))[0] == "S" and miner.session_id is None
    assert miner.writes == ["curtail", "curtail", "profileset", "profileset"]
    assert status(api(fleet, "addpool", "stratum+tcp://x.example:3333,w,p"))[0] == "S"  # no session needed


def test_config_reads_follow_the_recorded_shapes(fleet):
    """groups / fans / tempctrl: what pyasic's get_config multicommand asks for (tempctrl+fans+pools+groups+...)."""
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures" / "luxos"
    recorded = json.loads((fixtures / "groups.luxos-tooling.json").read_text())
    groups = api(fleet, "groups")
    assert status(groups) == ("S", 324, "List groups") == status(recorded)
    assert set(groups["GROUPS"][0]) == set(recorded["GROUPS"][0]) and groups["GROUPS"][0]["Quota"] == 1.0
    assert {p["GROUP"] for p in api(fleet, "pools")["POOLS"]} <= {g["GROUP"] for g in groups["GROUPS"]}
    sections = json.loads((fixtures / "sections.s19jpro_luxminer_2026.9.21.json").read_text())
    fans = api(fleet, "fans")
    assert len(fans["FANS"]) == 4 and fans["FANCTRL"] == [sections["fans"]["fanctrl"]]
    assert set(api(fleet, "tempctrl")["TEMPCTRL"][0]) == set(sections["tempctrl"])
    # stats: the bmminer-style STATS[1] keys pyasic and asic-rs read (the shape itself is unverified)
    stats = api(fleet, "stats")["STATS"]
    assert stats[0]["Type"] == "Antminer S19k Pro" and stats[1]["Elapsed"] >= 1
    board = stats[1]
    assert board["chain_acn1"] == 77 and len(board["temp_pcb3"].split("-")) == 4 and board["freq2"] > 0
    assert sum(board[f"chain_rate{n}"] for n in (1, 2, 3)) == pytest.approx(board["GHS av"], rel=0.05)
