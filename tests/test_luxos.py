"""LuxOS: parsers on recorded LUXminer sections, session handling (reuse, stale, refused), profiles, pools."""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, fixture_json  # noqa: E402

from miners import cgminer_api, detect, make_driver  # noqa: E402
from miners.base import MODE, POWER_WATTS, MinerAuthError, PoolConfig  # noqa: E402
from miners.luxos import LuxOSDriver, parse_chips, parse_luxos, parse_profiles, profile_for_watts  # noqa: E402

SECTIONS = fixture_json("luxos/sections.s19jpro_luxminer_2026.9.21.json")
DESCRIPTION = "LUXminer 2026.9.21.003141-c8f244146"


def reply(section: str, body, code: int = 0, msg: str = "OK", letter: str = "S") -> dict:
    """A LUXminer reply around a recorded section (the fixture keeps sections, see its README)."""
    out = {"STATUS": [{"STATUS": letter, "When": 1, "Code": code, "Msg": msg, "Description": DESCRIPTION}], "id": 1}
    if section:
        out[section] = body if isinstance(body, list) else [body]
    return out


def recorded_replies() -> dict:
    s = SECTIONS
    return {"version": reply("VERSION", s["version"]), "summary": reply("SUMMARY", s["summary"]),
            "power": reply("POWER", s["power"]), "temps": reply("TEMPS", s["temps"]),
            "fans": {**reply("FANS", s["fans"]["fans"]), "FANCTRL": [s["fans"]["fanctrl"]]},
            "pools": reply("POOLS", s["pools"]), "profiles": reply("PROFILES", s["profiles"]),
            "config": reply("CONFIG", s["config"]), "devs": reply("DEVS", s["devs"]),
            "devdetails": reply("DEVDETAILS", s["devdetails"])}


# --- parsers ---------------------------------------------------------------------------------
def test_parse_recorded_s19j_pro():
    status = parse_luxos(recorded_replies())
    assert status.hashrate_hs == pytest.approx(9051.39e9)  # summary "GHS 5s" is GH/s
    assert status.power_w == 398
    assert any("estimate" in e and "PSU false" in e for e in status.errors)  # PSU false: not measured
    assert status.model == "Antminer S19j Pro"
    assert (status.firmware, status.firmware_version) == ("LuxOS", "2026.9.21.003141-c8f244146")
    assert status.hostname == "Antminer" and status.mac is None  # the source zeroed the MAC
    assert status.uptime_s == 22202 and status.shares_accepted == 452
    [board] = status.boards
    assert board.index == 1  # LUXminer's board id (this unit has one board, in slot 1)
    assert board.hashrate_hs == pytest.approx(9051391.48412893e6)  # devs "MHS 5s" is MH/s
    assert board.expected_hashrate_hs == pytest.approx(9390780.0e6)
    assert status.expected_hashrate_hs == pytest.approx(9390780.0e6)
    assert (board.chips, board.frequency_mhz, board.voltage_mv) == (126, 145, 12100.0)
    assert board.temp_c == 53.0  # hottest of TopLeft/TopRight/BottomLeft/BottomRight
    assert status.temp_c == 53.0
    assert status.fan_rpm == [960, 900, 900, 900] and status.fan_percent == 29
    assert [(p.url, p.active) for p in status.pools] == [("stratum+tcp://pool.example:3333", True)]
    assert "note: profile 145MHz" in status.errors
    assert status.state == "mining"


def test_curtailed_miner_reads_as_sleeping():
    replies = recorded_replies()
    replies["config"] = reply("CONFIG", dict(SECTIONS["config"], CurtailMode="Sleep"))
    assert parse_luxos(replies).state == "sleeping"


def test_profiles_sorted_by_watts_and_power_target_choice():
    profiles = parse_profiles(reply("PROFILES", SECTIONS["profiles"]))
    assert len(profiles) == 22
    assert profiles[0] == {"name": "low", "watts": 820.0, "hashrate_ths": 19.4, "frequency_mhz": 100.0}
    assert [p["watts"] for p in profiles] == sorted(p["watts"] for p in profiles)
    assert profile_for_watts(profiles, 1500)["name"] == "270MHz"  # 1422 W, the highest at or below
    assert profile_for_watts(profiles, 3009)["name"] == "default"
    assert profile_for_watts(profiles, 819) is None


def test_version_section_from_luxor_tooling():
    version = fixture_json("luxos/version_section.s19xp_luxminer_2024.6.18.json")
    status = parse_luxos({"summary": reply("SUMMARY", SECTIONS["summary"]), "version": reply("VERSION", version)})
    assert status.model == "Antminer S19 XP" and status.firmware_version == "2024.6.18.181313-3afaf1f"


def test_recorded_status_block_and_fingerprint():
    events = fixture_json("luxos/events.s19kpro_luxminer_2025.9.8.json")
    assert cgminer_api.check_status(events, "events") is events
    assert detect.classify_cgminer(json.dumps(events)) == "luxos"


def test_parse_chips_synthetic():
    # SYNTHETIC: no real healthchipget capture is stored; the field names are those asic-rs parses
    # from its capture (Chip, "GHS 1m", Frequency, Healthy "Y"/"N") plus "Unknown" seen by another parser.
    body = [{"Board": 2, "Chip": 0, "GHS 1m": 1.52, "Frequency": 490.0, "Healthy": "Y"},
            {"Board": 2, "Chip": 1, "GHS 1m": 0.0, "Frequency": 490.0, "Healthy": "N"},
            {"Board": 2, "Chip": 2, "Healthy": "Unknown"}]
    chips = parse_chips(reply("CHIPS", body), board=2)
    assert [(c.board, c.index, c.state) for c in chips] == [(2, 0, "ok"), (2, 1, "unhealthy"), (2, 2, "unknown")]
    assert chips[0].hashrate_hs == pytest.approx(1.52e9) and chips[0].frequency_mhz == 490.0
    assert chips[2].hashrate_hs is None


# --- sessions (socket fake) ------------------------------------------------------------------------
def session_reply(sid: str) -> str:
    return json.dumps(reply("SESSION", {"SessionID": sid}))


def ok(msg: str = "OK") -> str:
    return json.dumps(reply(None, None, msg=msg))


def invalid_session(_request=None) -> str:
    return json.dumps(reply(None, None, code=401, msg="Invalid session id", letter="E"))


def driver_for(fake) -> LuxOSDriver:
    return LuxOSDriver(fake.host, port=fake.port, timeout=2.0)


def commands(fake) -> list[tuple[str, str | None]]:
    return [(r.get("command"), r.get("parameter")) for r in fake.requests]


def test_reuses_the_open_session_and_leaves_it_open():
    with FakeCgminer({"session": session_reply("abc"), "curtail": ok()}) as fake:
        driver_for(fake).sleep()
    assert commands(fake) == [("session", None), ("curtail", "abc,sleep")]


def test_logs_on_when_no_session_is_open_and_logs_off_after():
    with FakeCgminer({"session": session_reply(""), "logon": session_reply("s1"), "curtail": ok(),
                      "logoff": ok()}) as fake:
        driver_for(fake).wake()
    assert commands(fake) == [("session", None), ("logon", None), ("curtail", "s1,wakeup"), ("logoff", "s1")]


def test_stale_session_gets_one_new_logon():
    calls = iter([invalid_session(), ok()])
    with FakeCgminer({"session": session_reply("old"), "logon": session_reply("new"),
                      "curtail": lambda req: next(calls), "logoff": ok()}) as fake:
        driver_for(fake).sleep()
    assert commands(fake) == [("session", None), ("curtail", "old,sleep"), ("logon", None),
                              ("curtail", "new,sleep"), ("logoff", "new")]


def test_session_refused_twice_is_an_auth_error_naming_no_session_id():
    with FakeCgminer({"session": session_reply("old"), "logon": session_reply("secretsid"),
                      "profileset": invalid_session, "logoff": ok()}) as fake:
        driver = driver_for(fake)
        driver._profiles = [{"name": "default", "watts": 3000.0, "hashrate_ths": 100.0, "frequency_mhz": 500.0}]
        with pytest.raises(MinerAuthError, match="nothing was changed") as info:
            driver.set_mode("default")
    assert "secretsid" not in str(info.value)
    assert [c for c, _ in commands(fake)].count("profileset") == 2


def test_another_active_session_is_reused_after_402():
    sessions = iter([session_reply(""), session_reply("theirs")])
    active = json.dumps(reply(None, None, code=402, msg="Another session is active", letter="E"))
    with FakeCgminer({"session": lambda req: next(sessions), "logon": active, "rebootdevice": ok()}) as fake:
        driver_for(fake).restart()
    assert commands(fake)[-1] == ("rebootdevice", "theirs")


def test_restart_is_rebootdevice_never_board_reboot():
    with FakeCgminer({"session": session_reply("abc"), "rebootdevice": b""}) as fake:  # drops the line
        driver_for(fake).restart()
    assert ("rebootdevice", "abc") in commands(fake) and "reboot" not in [c for c, _ in commands(fake)]


def test_power_target_picks_a_profile_and_says_so():
    profiles = json.dumps(reply("PROFILES", SECTIONS["profiles"]))
    with FakeCgminer({"profiles": profiles, "session": session_reply("abc"),
                      "profileset": json.dumps(reply("PROFILE", {"Profile": "270MHz"}))}) as fake:
        driver = driver_for(fake)
        driver.set_power_watts(1500)
        assert commands(fake)[-1] == ("profileset", "abc,270MHz")
        assert "270MHz (1422 W)" in driver._note[1]
        with pytest.raises(ValueError, match="lowest profile uses 820 W"):
            driver.set_power_watts(500)
    assert [c for c, _ in commands(fake)].count("profileset") == 1


def test_pools_need_no_session():
    pools = [json.dumps(reply("POOLS", SECTIONS["pools"])),
             json.dumps(reply("POOLS", [dict(SECTIONS["pools"][0], POOL=0, URL="stratum+tcp://new.example:3333",
                                              User="w2")]))]
    with FakeCgminer({"pools": lambda req: pools[0] if sum(c == "pools" for c, _ in commands(fake)) == 1
                      else pools[1],
                      "addpool": ok("Added pool 1: 'stratum+tcp://new.example:3333'"),
                      "switchpool": ok(), "removepool": ok()}) as fake:
        driver_for(fake).set_pools([PoolConfig("stratum+tcp://new.example:3333", "w2", "pw")])
    sent = commands(fake)
    assert ("addpool", "stratum+tcp://new.example:3333,w2,pw") in sent
    assert ("switchpool", "1") in sent and ("removepool", "0") in sent
    assert "session" not in [c for c, _ in sent] and "logon" not in [c for c, _ in sent]


def test_read_learns_modes_from_profiles_and_reads_once_per_instance():
    replies = {cmd: json.dumps(body) for cmd, body in recorded_replies().items()}
    with FakeCgminer(replies) as fake:
        driver = driver_for(fake)
        status = driver.read()
        driver.read()
    assert status.hashrate_hs == pytest.approx(9051.39e9)
    assert driver.modes[0] == "low" and len(driver.modes) == 22
    ladder = parse_profiles(recorded_replies()["profiles"])
    assert driver.power_steps_w == tuple(sorted({p["watts"] for p in ladder})) and driver.power_steps_w[0] == ladder[0]["watts"]
    assert {MODE, POWER_WATTS} <= driver.capabilities
    assert [c for c, _ in commands(fake)].count("profiles") == 1
    assert [c for c, _ in commands(fake)].count("version") == 1


def test_registry_builds_the_luxos_driver():
    assert isinstance(make_driver("luxos", "10.0.0.9"), LuxOSDriver)
