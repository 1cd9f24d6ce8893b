"""services/plausibility: bounds per family, values outside physics dropped with a note, logs rate-limited,
and every recorded real reply passing unflagged."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from miners import antminer, avalon, bitaxe, braiins, cgminer, luxos, nmminer, vnish_legacy, vnish_rest
from miners import whatsminer_parse as wm
from miners.json_repair import loads_lenient
from miners.base import SCRYPT, BoardStatus, MinerStatus
from services import plausibility
from services.plausibility import Screen, bounds_for, check
from tests.test_miners_fakes import FIXTURES, fixture_bytes, fixture_json

SHARED_REPLIES = Path(__file__).resolve().parents[2] / "shared" / "data" / "replies"


# --- bounds ------------------------------------------------------------------------------------
def test_bounds_per_family_and_algorithm():
    assert bounds_for("bitaxe", "sha256d").hashrate_hs == (0, 20e12)
    assert bounds_for("nmminer", "sha256d").hashrate_hs == (0, 5e12)
    assert bounds_for("antminer", "sha256d").hashrate_hs == (0, 3e15)  # an S23 Hyd. 3U is ~1.16 PH/s
    assert bounds_for("antminer", SCRYPT).hashrate_hs == (0, 100e9)  # L7 9.5 GH/s, L9 ~17 GH/s
    assert bounds_for("vnish", SCRYPT).hashrate_hs == (0, 100e9)
    assert bounds_for("bitaxe", "sha256d").power_w == (0, 400)
    assert bounds_for("whatsminer", "sha256d").power_w == (0, 15000)
    b = bounds_for("luxos", None)
    assert (b.temp_c, b.fan_rpm, b.fan_percent) == ((-40, 150), (0, 30000), (0, 100))


def healthy(**changes) -> MinerStatus:
    base = dict(hashrate_hs=110e12, expected_hashrate_hs=112e12, power_w=3250.0, temp_c=72.0, fan_rpm=[5400, 5460],
                fan_percent=60.0, boards=[BoardStatus(0, hashrate_hs=36e12, temp_c=60.0, chip_temp_c=75.0)])
    base.update(changes)
    return MinerStatus(**base)


def test_a_healthy_reading_is_returned_as_is():
    status = healthy()
    cleaned, dropped = check(status, "antminer")
    assert cleaned is status and dropped == [] and status.errors == []


@pytest.mark.parametrize("field,value", [
    ("hashrate_hs", 1e30), ("hashrate_hs", math.nan), ("hashrate_hs", -1.0), ("hashrate_hs", math.inf),
    ("temp_c", -300.0), ("temp_c", math.inf), ("temp_c", 151.0), ("power_w", -5.0), ("power_w", 1e9),
    ("fan_percent", 250.0), ("expected_hashrate_hs", 1e17), ("hashrate_hs", "1.2T"), ("power_w", True),
    ("best_difficulty", 1e30), ("best_session_difficulty", -1.0), ("best_session_difficulty", math.nan),
])
def test_each_value_outside_physics_becomes_none_with_a_note(field, value):
    status = healthy(**{field: value})
    cleaned, dropped = check(status, "antminer")
    assert getattr(cleaned, field) is None
    assert [d.field for d in dropped] == [field]
    assert len(cleaned.errors) == 1 and cleaned.errors[0].startswith(f"implausible {field} ")
    # Everything else is kept, and the driver's own object is untouched.
    assert cleaned.power_w == (None if field == "power_w" else 3250.0) and getattr(status, field) is value
    assert status.errors == []


def test_fans_and_boards():
    status = healthy(fan_rpm=[10_000_000, 5400, -1],
                     boards=[BoardStatus(0, hashrate_hs=1e30, temp_c=-273.0, chip_temp_c=70.0), BoardStatus(1)])
    cleaned, dropped = check(status, "whatsminer")
    assert cleaned.fan_rpm == [5400]
    assert (cleaned.boards[0].hashrate_hs, cleaned.boards[0].temp_c, cleaned.boards[0].chip_temp_c) == (None, None, 70)
    assert cleaned.boards[1] is status.boards[1]
    assert {d.field for d in dropped} == {"fan_rpm[0]", "fan_rpm[2]", "boards[0].hashrate_hs", "boards[0].temp_c"}


def test_family_bounds_catch_what_the_algorithm_bound_allows():
    # 50 TH/s is a fine Antminer but no Bitaxe: a unit or counter bug in the small-device firmware.
    assert check(healthy(hashrate_hs=50e12, power_w=15.0, expected_hashrate_hs=None, boards=[]), "bitaxe")[0].hashrate_hs is None
    assert check(healthy(hashrate_hs=50e12), "antminer")[0].hashrate_hs == 50e12
    scrypt = healthy(algorithm=SCRYPT, hashrate_hs=9.5e9, expected_hashrate_hs=None, boards=[])
    assert check(scrypt, "antminer")[1] == []
    assert check(healthy(algorithm=SCRYPT, hashrate_hs=110e12, boards=[], expected_hashrate_hs=None),
                 "antminer")[0].hashrate_hs is None


def test_screen_logs_once_per_miner_and_field_per_hour(caplog):
    now = [1000.0]
    screen = Screen(clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="services.plausibility")
    bad = healthy(temp_c=-300.0, power_w=1e9)
    for _ in range(5):
        assert screen.apply("127.0.0.5", "antminer", bad).temp_c is None
    screen.apply("127.0.0.6", "antminer", bad)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4  # two fields x two miners, not one per poll
    assert all("implausible" in line for line in lines)
    now[0] += 3601
    screen.apply("127.0.0.5", "antminer", bad)
    assert len(caplog.records) == 6


def test_screen_keeps_the_reading_if_the_check_itself_fails(monkeypatch, caplog):
    def broken(status, family):
        raise RuntimeError("bug")

    monkeypatch.setattr(plausibility, "check", broken)
    status = healthy()
    assert Screen().apply("127.0.0.5", "antminer", status) is status


# --- the fleet stores the screened reading ------------------------------------------------------------
def test_fleet_stores_none_and_the_note(monkeypatch, client, runtime):
    from tests.fakes import FakeDriver

    monkeypatch.setattr(FakeDriver, "read", lambda self: MinerStatus(hashrate_hs=1e30, power_w=-5.0, temp_c=-300.0,
                                                                       fan_rpm=[10**7], model="Liar"))
    fleet = runtime.fleet
    fleet.add("127.0.0.9", "fake")
    fleet.poll_round()
    detail = client.get("/api/miners/127.0.0.9").get_json()
    assert (detail["hashrate_hs"], detail["power_w"], detail["temp_c"], detail["fan_rpm"]) == (None, None, None, [])
    assert sum("implausible" in e for e in detail["errors"]) == 4
    fleet.history.flush()
    with fleet.db.read() as conn:
        row = conn.execute("SELECT hashrate_hs, power_w, temp_c, fan_rpm FROM samples").fetchone()
    assert tuple(row) == (None, None, None, None)


# --- every recorded real reply passes ---------------------------------------------------------------------
def _text(relative: str) -> str:
    return fixture_bytes(relative).decode()


def _lenient(relative: str):
    """A byte-faithful malformed recorded reply, repaired the way the drivers repair it."""
    return loads_lenient(_text(relative))


def _luxos() -> MinerStatus:
    from tests.test_luxos import recorded_replies

    return luxos.parse_luxos(recorded_replies())


RECORDED = {
    # name: (family, builder, fixture files it reads)
    "bitaxe axeos 2.6": ("bitaxe", lambda: bitaxe.parse_system_info(
        fixture_json("bitaxe/system_info.hex302_axeos_v2.6.0.json"), fixture_json("bitaxe/system_asic.supra_bm1368.json")),
        ["bitaxe/system_info.hex302_axeos_v2.6.0.json", "bitaxe/system_asic.supra_bm1368.json"]),
    "nerdqaxe++": ("bitaxe", lambda: bitaxe.parse_system_info(
        fixture_json("bitaxe/system_info.nerdqaxepp_v1.1.0-beta1.json"),
        fixture_json("bitaxe/system_asic.nerdqaxepp_v1.1.0-beta1.json")),
        ["bitaxe/system_info.nerdqaxepp_v1.1.0-beta1.json", "bitaxe/system_asic.nerdqaxepp_v1.1.0-beta1.json"]),
    "antminer s17": ("antminer", lambda: antminer.parse_antminer({"stats": fixture_json("antminer/stats.s17_cgminer.json"),
                                                                  "pools": fixture_json("antminer/pools.s17.json")}),
                     ["antminer/stats.s17_cgminer.json", "antminer/pools.s17.json"]),
    "antminer s19 sleeping": ("antminer", lambda: antminer.parse_antminer(
        {"stats": fixture_json("antminer/stats.s19_sleeping.json"), "version": fixture_json("antminer/version.s19_sleeping.json")}),
        ["antminer/stats.s19_sleeping.json", "antminer/version.s19_sleeping.json"]),
    "antminer s9 hiveon": ("antminer", lambda: antminer.parse_antminer(
        {"stats": _lenient("antminer/raw/stats.s9_hiveon.malformed.txt"),
         "version": fixture_json("antminer/version.s9_hiveon.json")}),
        ["antminer/raw/stats.s9_hiveon.malformed.txt", "antminer/version.s9_hiveon.json"]),
    "antminer l3+": ("antminer", lambda: antminer.parse_antminer(
        {"stats": _lenient("antminer/raw/stats.l3plus_cgminer.malformed.txt"),
         "pools": fixture_json("antminer/pools.l3plus.json")}),
        ["antminer/raw/stats.l3plus_cgminer.malformed.txt", "antminer/pools.l3plus.json"]),
    "avalon a1566": ("avalon", lambda: avalon.parse_avalon(
        {"stats": fixture_json("avalon/stats.a1566.json"), "devs": fixture_json("avalon/devs.a1566.json"),
         "pools": fixture_json("avalon/pools.a1566.json"), "version": fixture_json("avalon/version.a1566.json")}),
        ["avalon/stats.a1566.json", "avalon/devs.a1566.json", "avalon/pools.a1566.json", "avalon/version.a1566.json"]),
    "avalon 10xx joined": ("avalon", lambda: avalon.parse_avalon(
        {name: fixture_json("avalon/multicommand_pools+summary+stats.a10xx.json")[name][0]
         for name in ("summary", "stats", "pools")}), ["avalon/multicommand_pools+summary+stats.a10xx.json"]),
    "avalon nano3s mm": ("avalon", lambda: avalon.parse_avalon(
        {"estats": {"STATS": [{"MM ID0": _text("avalon/raw/stats_mm_id0.nano3s.txt")}]},
         "version": fixture_json("avalon/version.nano3s.json")}),
        ["avalon/raw/stats_mm_id0.nano3s.txt", "avalon/version.nano3s.json"]),
    "avalon q soft-off": ("avalon", lambda: avalon.parse_avalon(
        {"stats": {"STATS": [{"MM ID0:Summary": _text("avalon/raw/stats_mm_summary.avalon_q_softoff.txt")}]}}),
        ["avalon/raw/stats_mm_summary.avalon_q_softoff.txt"]),
    "avalon nano3 text": ("avalon", lambda: avalon.parse_avalon(
        {"stats": avalon.parse_text_reply(_text("avalon/raw/stats.nano3_textmode.txt").replace("\n", " "))}),
        ["avalon/raw/stats.nano3_textmode.txt"]),
    "cgminer a10xx joined": ("cgminer", lambda: cgminer.parse_cgminer(
        {name: fixture_json("cgminer/multicommand_pools+summary+stats.a10xx.json")[name][0]
         for name in ("summary", "stats", "pools")}), ["cgminer/multicommand_pools+summary+stats.a10xx.json"]),
    "cgminer a1566 devs": ("cgminer", lambda: cgminer.parse_cgminer(
        {"devs": fixture_json("cgminer/devs.a1566.json"), "pools": fixture_json("cgminer/pools.a1566.json"),
         "version": fixture_json("cgminer/version.a1566.json")}),
        ["cgminer/devs.a1566.json", "cgminer/pools.a1566.json", "cgminer/version.a1566.json"]),
    "cgminer m31s summary": ("cgminer", lambda: cgminer.parse_cgminer({"summary": fixture_json("cgminer/summary.m31s.json")}),
                             ["cgminer/summary.m31s.json"]),
    "cgminer bosminer s9": ("cgminer", lambda: cgminer.parse_cgminer(
        {"summary": fixture_json("cgminer/summary.s9_bosminer_0.2.0.json"),
         "pools": fixture_json("cgminer/pools.s9_bosminer_0.2.0.json"),
         "version": fixture_json("cgminer/version.s9_bosminer.json")}),
        ["cgminer/summary.s9_bosminer_0.2.0.json", "cgminer/pools.s9_bosminer_0.2.0.json",
         "cgminer/version.s9_bosminer.json"]),
    "braiins bosminer+ s9": ("braiins", lambda: braiins.parse_bosminer(
        {"summary": fixture_json("braiins/summary.s9_bosminer_plus_0.2.0.json"),
         "devs": fixture_json("braiins/devs.s9_bosminer_plus_0.4.0.json"),
         "devdetails": fixture_json("braiins/devdetails.s9_bosminer_plus_0.2.0_docs.json"),
         "temps": fixture_json("braiins/temps.s9_bosminer_plus_0.2.0.json"),
         "fans": fixture_json("braiins/fans.s9_bosminer_plus_0.2.0.json"),
         "tunerstatus": fixture_json("braiins/tunerstatus.s9_bosminer_plus_0.2.0_docs.json"),
         "pools": fixture_json("braiins/pools.s9_bosminer_plus_0.2.0.json"),
         "version": fixture_json("braiins/version.s9_bosminer_plus_0.2.0.json")}),
        ["braiins/summary.s9_bosminer_plus_0.2.0.json", "braiins/devs.s9_bosminer_plus_0.4.0.json",
         "braiins/devdetails.s9_bosminer_plus_0.2.0_docs.json", "braiins/temps.s9_bosminer_plus_0.2.0.json",
         "braiins/fans.s9_bosminer_plus_0.2.0.json", "braiins/tunerstatus.s9_bosminer_plus_0.2.0_docs.json",
         "braiins/pools.s9_bosminer_plus_0.2.0.json", "braiins/version.s9_bosminer_plus_0.2.0.json"]),
    "braiins docs temps/fans": ("braiins", lambda: braiins.parse_bosminer(
        {"summary": fixture_json("braiins/summary.s9_bosminer_0.2.0.json"),
         "temps": fixture_json("braiins/temps.s9_bosminer_plus_0.2.0_docs.json"),
         "fans": fixture_json("braiins/fans.s9_bosminer_plus_0.2.0_docs.json"),
         "pools": fixture_json("braiins/pools.s9_bosminer_0.2.0.json"),
         "version": fixture_json("braiins/version.s9_bosminer.json")}),
        ["braiins/summary.s9_bosminer_0.2.0.json", "braiins/temps.s9_bosminer_plus_0.2.0_docs.json",
         "braiins/fans.s9_bosminer_plus_0.2.0_docs.json", "braiins/pools.s9_bosminer_0.2.0.json",
         "braiins/version.s9_bosminer.json"]),
    "braiins rest s19xp": ("braiins", lambda: braiins.parse_rest(*(fixture_json(f"braiins/rest_{n}.bos_plus_25.11_s19xp.json") for n in (
        "miner_details", "miner_stats", "miner_hw_hashboards", "cooling_state", "performance_tuner_state", "pools"))),
        [f"braiins/rest_{n}.bos_plus_25.11_s19xp.json" for n in (
            "miner_details", "miner_stats", "miner_hw_hashboards", "cooling_state", "performance_tuner_state", "pools")]),
    "luxos s19j pro": ("luxos", _luxos, ["luxos/sections.s19jpro_luxminer_2026.9.21.json"]),
    "nmminer": ("nmminer", lambda: nmminer.to_status(nmminer.parse_telemetry(fixture_bytes("nmminer/udp12345_telemetry.example.json"))),
                ["nmminer/udp12345_telemetry.example.json"]),
    "vnish 1.2.0 summary": ("vnish", lambda: vnish_rest.parse_summary(
        fixture_json("vnish/api_v1_summary.s19_vnish_1.2.0-beta10.json"), fixture_json("vnish/api_v1_info.s19_vnish_1.2.6.json")),
        ["vnish/api_v1_summary.s19_vnish_1.2.0-beta10.json", "vnish/api_v1_info.s19_vnish_1.2.6.json"]),
    "vnish 1.2.6 failure": ("vnish", lambda: vnish_rest.parse_summary(
        fixture_json("vnish/api_v1_summary.s19_vnish_1.2.6_failure.json"), fixture_json("vnish/api_v1_info.s19_vnish_1.2.6.json")),
        ["vnish/api_v1_summary.s19_vnish_1.2.6_failure.json"]),
    "vnish 1.2.0-rc1 cgminer api": ("vnish", lambda: cgminer.parse_cgminer(
        {"summary": fixture_json("vnish/cgminer_summary.s19xp_vnish_1.2.0-rc1.json"),
         "stats": fixture_json("vnish/cgminer_stats.s19xp_vnish_1.2.0-rc1.json"),
         "pools": fixture_json("vnish/cgminer_pools.s19xp_vnish_1.2.0-rc1.json")}),
        ["vnish/cgminer_summary.s19xp_vnish_1.2.0-rc1.json", "vnish/cgminer_stats.s19xp_vnish_1.2.0-rc1.json",
         "vnish/cgminer_pools.s19xp_vnish_1.2.0-rc1.json"]),
    "vnish 3.8.6 s9": ("vnish", lambda: vnish_legacy.parse_vnish_legacy(
        {"stats": _lenient("vnish/raw/stats.s9_vnish_3.8.6.malformed.txt"),
         "version": fixture_json("vnish/version.s9_vnish_3.8.6.json"), "pools": fixture_json("vnish/pools.s9_vnish_3.8.6.json")}),
        ["vnish/raw/stats.s9_vnish_3.8.6.malformed.txt", "vnish/version.s9_vnish_3.8.6.json", "vnish/pools.s9_vnish_3.8.6.json"]),
    "whatsminer m31s": ("whatsminer", lambda: wm.parse_v2(
        {"summary": fixture_json("whatsminer/summary.m31s.json"), "edevs": fixture_json("whatsminer/edevs.m31s.json"),
         "pools": fixture_json("whatsminer/pools.m31s_numbered_from_1.json"),
         "status": fixture_json("whatsminer/status.m31s_v1.4.0.json")}),
        ["whatsminer/summary.m31s.json", "whatsminer/edevs.m31s.json", "whatsminer/pools.m31s_numbered_from_1.json",
         "whatsminer/status.m31s_v1.4.0.json"]),
    "whatsminer m30s cgminer 4.9.2": ("whatsminer", lambda: wm.parse_v2(
        {"summary": fixture_json("whatsminer/summary.m30s_cgminer_4.9.2.json"),
         "pools": fixture_json("whatsminer/pools.m20s_numbered_from_0.json"),
         "status": fixture_json("whatsminer/status.m31s_sleeping_old_api.json")}),
        ["whatsminer/summary.m30s_cgminer_4.9.2.json", "whatsminer/pools.m20s_numbered_from_0.json",
         "whatsminer/status.m31s_sleeping_old_api.json"]),
    "whatsminer m60s api 3": ("whatsminer", lambda: wm.parse_v3(
        fixture_json("whatsminer/get_device_info.api3.json")["msg"],
        fixture_json("whatsminer/get_miner_status_summary.api3.vendor_doc_example.json")["msg"]["summary"]),
        ["whatsminer/get_device_info.api3.json", "whatsminer/get_miner_status_summary.api3.vendor_doc_example.json"]),
}

# Recorded files that hold no reading (configs, writes, errors, crypto, identity only) or whose
# reading is only a variant of a case above that the parser cannot take on its own.
NOT_READINGS = {
    "schema_v2.sql",  # not a miner reply: the old database layout, for tests/test_migrate.py
    "antminer/get_miner_conf.cgi.l3plus_2017.json", "antminer/get_miner_conf.cgi.s17_2019.json",
    "antminer/get_miner_conf.cgi.s19_sleeping.json", "antminer/get_miner_conf.cgi.s19pro.json",
    "antminer/get_miner_conf.cgi.s9_2017.json", "antminer/get_system_info.cgi.s19j.json",
    "antminer/get_system_info.cgi.s21.json", "antminer/set_miner_conf.request.l3plus_2017.form.txt",
    "antminer/set_miner_conf.request.s17_sleep.form.txt", "antminer/set_miner_conf.request.s19pro.json",
    "antminer/summary.cgi.s23_hydro.json",  # web summary: errors only (checked below for its hashrate)
    "avalon/ascset_help.avalon_q.json", "avalon/ascset_softoff.avalon_q.json", "avalon/ascset_softon.avalon_q.json",
    "avalon/ascset_workmode.avalon_q.json", "avalon/raw/ascset_workmode.a10xx_textmode.manual.txt",
    "avalon/raw/version.a10xx_textmode.manual.txt", "avalon/raw/multicommand.a10xx_bare_nan.malformed.txt",
    "cgminer/raw/multicommand.a10xx_bare_nan.malformed.txt",  # hashrate nan: the case plausibility exists for
    "cgminer/raw/summary.m20s_escaped_quote.malformed.txt", "whatsminer/raw/summary.m20s_escaped_quote.malformed.txt",
    "braiins/pause.s17_bosminer_plus_0.6.0_docs.json", "braiins/resume.s17_bosminer_plus_0.6.0_docs.json",
    "braiins/tempctrl.s9_bosminer_plus_0.2.0_docs.json", "braiins/rest_version.bos_plus_25.11_s19xp.json",
    "braiins/rest_configuration_constraints.s19kpro_documented.json",  # power-target range, not a reading
    "luxos/events.s19kpro_luxminer_2025.9.8.json", "luxos/groups.luxos-tooling.json",
    "luxos/version_section.s19xp_luxminer_2024.6.18.json", "nmminer/udp12347_config.example.json",
    "vnish/api_v1_autotune_presets.s19_vnish_1.2.6.json", "vnish/api_v1_perf-summary.s19_vnish_1.2.6.json",
    "vnish/api_v1_unlock.s19_vnish_1.2.6.json", "vnish/api_v1_model.s19_vnish_1.2.6.json",  # limits, not a reading
    "whatsminer/enc_reply.m31s_status.json",
    "whatsminer/enc_request.m31s_status.json", "whatsminer/error.enc_json_load_err.json",
    "whatsminer/error.invalid_cmd.v1.3.json", "whatsminer/error.multicommand_with_cmd_key.json",
    "whatsminer/get_token.m31s.json",
    # mempool.space API replies for the hashprice (services/profitability), not miner readings
    "profitability/difficulty_adjustment.json", "profitability/hashrate_3d.json", "profitability/prices.json",
    "profitability/reward_stats_100.json", "profitability/tip_height.txt",
    # electricity price API replies (services/prices), not miner readings
    "prices/awattar_marketdata_de.json", "prices/comed_5minutefeed.json", "prices/comed_currenthouraverage.json",
    "prices/octopus_agile_page1.json", "prices/octopus_agile_page2.json", "prices/tibber_priceinfo.json",
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_no_recorded_real_reading_is_flagged(name):
    family, build, _files = RECORDED[name]
    status = build()
    assert status.hashrate_hs is not None or status.temp_c is not None or status.power_w is not None, \
        "the case parsed nothing: it would pass vacuously"
    cleaned, dropped = check(status, family)
    assert dropped == [], [d.note for d in dropped]
    assert cleaned is status


def test_the_s23_hydro_figure_is_inside_the_sha256_bound():
    rate = fixture_json("antminer/summary.cgi.s23_hydro.json")["SUMMARY"][0]["rate_5s"] * 1e9  # GH/s
    assert 500e12 < rate < bounds_for("antminer", "sha256d").hashrate_hs[1]


def test_every_recorded_file_is_considered():
    used = {f for _family, _build, files in RECORDED.values() for f in files}
    recorded = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.is_file() and p.name != "README.md"}
    assert recorded - used - NOT_READINGS == set(), "a new recorded reply: add it to RECORDED or NOT_READINGS"
    assert (used | NOT_READINGS) - recorded == set()


def test_shared_replies_are_all_among_the_fixtures():
    if not SHARED_REPLIES.is_dir():
        pytest.skip("shared/data/replies is not beside this checkout")
    shared = {str(p.relative_to(SHARED_REPLIES)) for p in SHARED_REPLIES.rglob("*") if p.is_file()
              and p.name != "README.md"}
    missing = [f for f in shared if not (FIXTURES / f).is_file()
               or (FIXTURES / f).read_bytes() != (SHARED_REPLIES / f).read_bytes()]
    assert missing == []


# --- parsers facing huge numbers (a lying miner; issue 10.8) -----------------------------------------
def test_parsers_take_huge_integers_and_counts_without_hanging_or_raising():
    """A 400-digit integer is no float (OverflowError) and a count of 10**30 is no loop bound."""
    import time

    from miners.bitaxe import parse_system_info
    from miners.whatsminer_parse import parse_v2_summary

    huge = 10 ** 400
    status = parse_system_info({"hashRate": huge, "power": huge, "temp": huge, "fanrpm": huge,
                                "uptimeSeconds": huge, "asicCount": huge})
    assert status.hashrate_hs is None and status.power_w is None and status.uptime_s is None
    started = time.monotonic()
    parsed = parse_v2_summary({"Error Code Count": 10 ** 30, "Error Code 0": 5, "Power": huge})
    assert time.monotonic() - started < 0.5
    assert parsed["errors"] == ["error code 5"] and parsed["power_w"] is None
