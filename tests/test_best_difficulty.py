"""Best share difficulty: the shared SI parser and every family's parser on recorded replies.

Each fixture's source is in its directory's README. Which field means what (all-time or
session) is in docs/miners.md "Best difficulty" and in the parsers' comments.
"""

from __future__ import annotations

import copy
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import fixture_bytes, fixture_json  # noqa: E402

from miners import avalon, bitaxe, braiins, luxos, nmminer, vnish_rest  # noqa: E402
from miners.antminer import parse_antminer  # noqa: E402
from miners.cgminer import best_share, parse_cgminer  # noqa: E402
from miners.json_repair import loads_lenient  # noqa: E402
from miners.values import difficulty, si_number  # noqa: E402
from miners.vnish_legacy import parse_vnish_legacy  # noqa: E402
from miners.whatsminer_parse import parse_v2, parse_v3  # noqa: E402


# --- the shared parser ----------------------------------------------------------------------------
@pytest.mark.parametrize("text,value", [
    ("4.29G", 4.29e9),  # AxeOS <= v2.10 (recorded v2.6.0)
    ("3.83M", 3.83e6), ("1.2M", 1.2e6), ("512", 512.0), ("21.5T", 21.5e12), ("65.5K", 65.5e3), ("65.5k", 65.5e3),
    ("1.03 P", 1.03e15),  # a space before the letter (cgminer pads with sigdigits)
    (" 4.29G ", 4.29e9),
    ("1e+03K", 1e6),  # cgminer's "%.3g" of 999.6 K
    ("270M", 270e6),  # NerdOS before ~1.0.35 (hass-miner #543)
    ("  0.0000", 0.0),  # D3 cgminer 4.10 per-pool "Best Share" (Foreman AntminerStatsITest)
    ("4292734826", 4292734826.0), (4292734826, 4292734826.0), (11482220369, 11482220369.0), (0, 0.0),
    ("1.5E", 1.5e18),
])
def test_difficulty_parses_numbers_and_si_strings(text, value):
    assert difficulty(text) == pytest.approx(value)


@pytest.mark.parametrize("text", [
    "", " ", "N/A", "garbage", "G", "1.2.3K", "4.29 GH/s", "4.29g", "12 apples", "-1", -5, "-4.29G",
    None, True, False, [1], {"a": 1}, float("nan"), float("inf"), "nan", "inf", "1e400", "1e300P",
])
def test_difficulty_is_none_on_garbage(text):
    assert difficulty(text) is None


def test_si_number_keeps_the_sign_and_difficulty_does_not():
    assert si_number("-1.5K") == -1500.0 and difficulty("-1.5K") is None


# --- AxeOS / NerdOS ---------------------------------------------------------------------------------
def test_axeos_v2_6_prefers_the_exact_numbers_beside_the_strings():
    info = fixture_json("bitaxe/system_info.hex302_axeos_v2.6.0.json")
    assert info["bestDiff"] == "4.29G" and info["bestSessionDiff"] == "3.83M"  # the recorded strings
    status = bitaxe.parse_system_info(info)
    assert status.best_difficulty == 4292734826  # bestNonceDiff: all-time (NVS)
    assert status.best_session_difficulty == 3828108  # bestSessionNonceDiff: since boot


def test_axeos_suffixed_strings_alone():
    info = fixture_json("bitaxe/system_info.hex302_axeos_v2.6.0.json")
    del info["bestNonceDiff"], info["bestSessionNonceDiff"]
    status = bitaxe.parse_system_info(info)
    assert status.best_difficulty == pytest.approx(4.29e9) and status.best_session_difficulty == pytest.approx(3.83e6)


def test_axeos_numbers_from_v2_11_and_garbage():
    info = fixture_json("bitaxe/system_info.hex302_axeos_v2.6.0.json")
    for key in ("bestNonceDiff", "bestSessionNonceDiff"):
        del info[key]
    info["bestDiff"], info["bestSessionDiff"] = 123456789, 4321  # v2.11+: cJSON numbers
    status = bitaxe.parse_system_info(info)
    assert (status.best_difficulty, status.best_session_difficulty) == (123456789, 4321)
    info["bestDiff"], info["bestSessionDiff"] = "lots", None
    status = bitaxe.parse_system_info(info)
    assert (status.best_difficulty, status.best_session_difficulty) == (None, None)


def test_nerdqaxe_recorded():
    status = bitaxe.parse_system_info(fixture_json("bitaxe/system_info.nerdqaxepp_v1.1.0-beta1.json"))
    assert status.best_difficulty == 13790464144  # bestDiff = stratum.totalBestDiff
    assert status.best_session_difficulty == 14137811


def test_nerdqaxe_old_string_and_total_fallback():
    info = fixture_json("bitaxe/system_info.nerdqaxepp_v1.1.0-beta1.json")
    info["bestDiff"], info["bestSessionDiff"] = "270M", "1.2M"  # before ~1.0.35
    status = bitaxe.parse_system_info(info)
    assert (status.best_difficulty, status.best_session_difficulty) == (270e6, 1.2e6)
    del info["bestDiff"]
    assert bitaxe.parse_system_info(info).best_difficulty == 13790464144  # stratum.totalBestDiff


# --- cgminer-API families: "Best Share" is a session value -------------------------------------------
def test_generic_cgminer_summary_recorded():
    status = parse_cgminer({"summary": fixture_json("cgminer/summary.m31s.json")})
    assert status.best_session_difficulty == 1320888597 and status.best_difficulty is None


def test_stock_antminer_falls_back_to_the_pools():
    # Foreman's S17 case has no summary handler: the highest pool "Best Share" stands in.
    replies = {"stats": fixture_json("antminer/stats.s17_cgminer.json"),
               "pools": fixture_json("antminer/pools.s17.json")}
    status = parse_antminer(replies)
    assert status.best_session_difficulty == 1431836158 and status.best_difficulty is None


def test_summary_wins_over_the_pools_and_absent_means_none():
    summary = {"SUMMARY": [{"Best Share": 7}]}
    pools = fixture_json("antminer/pools.s17.json")
    assert best_share(summary, pools) == 7
    assert best_share({"SUMMARY": [{"Best Share": "lots"}]}, pools) == 1431836158
    assert best_share({"SUMMARY": [{"Elapsed": 5}]}, None) is None
    assert parse_cgminer({"stats": fixture_json("antminer/stats.s17_cgminer.json")}).best_session_difficulty is None


def test_vnish_legacy_pools_recorded():
    stats = loads_lenient(fixture_bytes("vnish/raw/stats.s9_vnish_3.8.6.malformed.txt").decode())
    status = parse_vnish_legacy({"version": fixture_json("vnish/version.s9_vnish_3.8.6.json"), "stats": stats,
                                 "pools": fixture_json("vnish/pools.s9_vnish_3.8.6.json")})
    assert status.best_session_difficulty == 47581166


def test_vnish_cgminer_api_summary_recorded():
    status = parse_cgminer({"summary": fixture_json("vnish/cgminer_summary.s19xp_vnish_1.2.0-rc1.json")})
    assert status.best_session_difficulty == 11482220369


def test_vnish_rest_recorded():
    status = vnish_rest.parse_summary(fixture_json("vnish/api_v1_summary.s19_vnish_1.2.0-beta10.json"))
    assert status.best_session_difficulty == 101399818 and status.best_difficulty is None
    failure = vnish_rest.parse_summary(fixture_json("vnish/api_v1_summary.s19_vnish_1.2.6_failure.json"))
    assert failure.best_session_difficulty == 0  # a real 0: no share yet, not "unknown"


def test_avalon_recorded():
    joined = fixture_json("avalon/multicommand_pools+summary+stats.a10xx.json")
    status = avalon.parse_avalon({name: joined[name][0] for name in ("summary", "stats", "pools")})
    assert status.best_session_difficulty == 222408 and status.best_difficulty is None
    pools_only = avalon.parse_avalon({"pools": fixture_json("avalon/pools.a1566.json")})
    assert pools_only.best_session_difficulty == 19649871


def test_braiins_cgminer_api_recorded():
    status = braiins.parse_bosminer({"summary": fixture_json("braiins/summary.s9_bosminer_plus_0.2.0.json"),
                                     "pools": fixture_json("braiins/pools.s9_bosminer_plus_0.2.0.json")})
    assert status.best_session_difficulty == 65536 and status.best_difficulty is None


def test_braiins_rest_recorded():
    rest = "braiins/rest_{}.bos_plus_25.11_s19xp.json"
    status = braiins.parse_rest(fixture_json(rest.format("miner_details")), fixture_json(rest.format("miner_stats")),
                                fixture_json(rest.format("miner_hw_hashboards")))
    assert status.best_session_difficulty == 2713716437 and status.best_difficulty is None


def test_luxos_has_both_recorded():
    summary = fixture_json("luxos/sections.s19jpro_luxminer_2026.9.21.json")["summary"]
    status = luxos.parse_luxos({"summary": {"SUMMARY": [summary]}})  # the fixture keeps sections (README)
    assert status.best_difficulty == 415192685  # "Best Share": kept across restarts
    assert status.best_session_difficulty == 9741461  # "Best Session Share"


def test_whatsminer_api2_recorded():
    status = parse_v2({"summary": fixture_json("whatsminer/summary.m30s_cgminer_4.9.2.json")})
    assert status.best_session_difficulty == 887052932 and status.best_difficulty is None
    pools_only = parse_v2({"pools": fixture_json("whatsminer/pools.m20s_numbered_from_0.json")})
    assert pools_only.best_session_difficulty == 5452261792


def test_whatsminer_api3_has_no_best_share():
    doc = fixture_json("whatsminer/get_miner_status_summary.api3.vendor_doc_example.json")
    status = parse_v3(fixture_json("whatsminer/get_device_info.api3.json")["msg"], doc["msg"]["summary"])
    assert (status.best_difficulty, status.best_session_difficulty) == (None, None)


# --- NMMiner / NMAxe ----------------------------------------------------------------------------------
def test_nmminer_recorded_one_value_is_the_session():
    status = nmminer.to_status(nmminer.parse_telemetry(fixture_bytes("nmminer/udp12345_telemetry.example.json")))
    assert status.best_session_difficulty == pytest.approx(4.021e6) and status.best_difficulty is None


def test_nmaxe_session_and_all_time():
    doc = copy.deepcopy(fixture_json("nmminer/udp12345_telemetry.example.json"))
    doc.update({"BoardType": "NMAxe", "BestDiff": "1.205M\r38.71M", "Power": "12.4W"})
    status = nmminer.to_status(nmminer.parse_telemetry(doc))
    assert status.best_session_difficulty == pytest.approx(1.205e6)
    assert status.best_difficulty == pytest.approx(38.71e6)
    doc["BestDiff"] = "-3\rlots"
    status = nmminer.to_status(nmminer.parse_telemetry(doc))
    assert (status.best_session_difficulty, status.best_difficulty) == (None, None)


# --- the API view ---------------------------------------------------------------------------------------
def test_record_shows_both_in_list_and_detail_and_none_while_offline():
    from miners.base import MinerStatus
    from services.miner_state import MinerRecord
    from tests.fakes import FakeDriver

    status = MinerStatus(hashrate_hs=1e12, best_difficulty=4292734826.0, best_session_difficulty=3828108.0)
    record = MinerRecord(id=1, ip="127.84.3.1", family="fake", port=None, driver=FakeDriver("127.84.3.1"),
                         status=status, online=True)
    for view in (record.to_dict(), record.to_dict(detail=True)):
        assert (view["best_difficulty"], view["best_session_difficulty"]) == (4292734826.0, 3828108.0)
    record.online = False
    for view in (record.to_dict(), record.to_dict(detail=True)):
        assert (view["best_difficulty"], view["best_session_difficulty"]) == (None, None)
    assert record.to_dict(detail=True)["last_reading"]["best_difficulty"] == 4292734826.0  # kept for the record
