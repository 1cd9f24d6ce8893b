"""Whatsminer parsers on recorded replies (tests/fixtures/whatsminer, sources in its README)."""

from __future__ import annotations

import copy
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import fixture_bytes, fixture_json  # noqa: E402

from miners import cgminer_api  # noqa: E402
from miners.whatsminer_parse import (  # noqa: E402
    api_version,
    clean_firmware_version,
    firmware_date,
    is_off,
    model_name,
    parse_v2,
    parse_v2_boards,
    parse_v2_summary,
    parse_v3,
    summary_block,
)

TH = 1e12


def fx(name: str):
    return fixture_json(f"whatsminer/{name}")


def test_m31s_summary_units_power_fans_and_firmware():
    parsed = parse_v2_summary(summary_block(fx("summary.m31s.json")))
    assert parsed["hashrate_hs"] == pytest.approx(77909448.60e6)  # "MHS 1m" is MH/s
    assert parsed["expected_hashrate_hs"] == pytest.approx(75697e9)  # "Factory GHS" is GH/s
    assert parsed["power_w"] == 3553 and parsed["power_limit_w"] == 3600 and parsed["power_mode"] == "High"
    assert parsed["fan_rpm"] == [5700]  # "Fan Speed Out": 0 beside 5700 In is no reading
    assert parsed["uptime_s"] == 33102  # Elapsed (btminer), not Uptime (OS, 1405529)
    assert parsed["firmware_version"] == "20201202.22.REL"  # quotes removed
    assert parsed["mac"] == "C6:06:12:00:2D:63" and parsed["chip_temp_max"] == 93.0
    assert parsed["errors"] == ["error code 110", "error code 111", "error code 131"]


def test_m30s_summary_with_cgminer_description():
    parsed = parse_v2_summary(summary_block(fx("summary.m30s_cgminer_4.9.2.json")))
    assert parsed["power_w"] == 3230 and parsed["power_mode"] == "Normal"
    assert parsed["hashrate_hs"] == pytest.approx(85163473.24e6)
    assert parsed["expected_hashrate_hs"] == pytest.approx(86472e9)
    assert parsed["fan_rpm"] == [2370, 2430] and parsed["firmware_version"] == "20200512.13.REL"
    assert parsed["errors"] == ["error code 205"]


def test_power_minus_one_is_unknown_not_zero():
    # No capture with "Power": -1 was found; the reference (section 5) documents it.
    reply = copy.deepcopy(fx("summary.m31s.json"))
    reply["SUMMARY"][0]["Power"] = -1
    assert parse_v2_summary(summary_block(reply))["power_w"] is None
    assert parse_v2({"summary": reply}).power_w is None


def test_m20s_summary_with_escaped_quote_is_repaired():
    raw = fixture_bytes("whatsminer/raw/summary.m20s_escaped_quote.malformed.txt")
    reply = cgminer_api.parse_reply(raw, "summary")
    parsed = parse_v2_summary(summary_block(reply))
    assert parsed["firmware_version"] == "20200917.22.REL" and parsed["power_w"] == 3491
    assert parsed["hashrate_hs"] == pytest.approx(67266447.69e6)


def test_edevs_boards_by_asc():
    boards = parse_v2_boards(fx("edevs.m31s.json"))
    assert [b.index for b in boards] == [0, 1, 2]
    first = boards[0]
    assert first.hashrate_hs == pytest.approx(24720718.63e6) and first.chips == 105
    assert first.frequency_mhz == 686 and first.chip_temp_c == 77.44 and first.temp_c == 57.5
    assert first.hardware_errors == 0


def test_board_rate_mislabelled_as_mhs_on_newer_firmware():
    # Synthetic: a pyasic patch set reports DEVS "MHS 1m" in TH/s on 2025 builds, recognisable
    # by a value below the board's own "Factory GHS". No capture of that was found.
    dev = {"STATUS": [{"STATUS": "S"}], "DEVS": [{"ASC": 0, "MHS 1m": 61.2, "Factory GHS": 60350}]}
    assert parse_v2_boards(dev)[0].hashrate_hs == pytest.approx(61.2 * TH)
    normal = {"STATUS": [{"STATUS": "S"}], "DEVS": [{"ASC": 0, "MHS 1m": 61_200_000.0, "Factory GHS": 60350}]}
    assert parse_v2_boards(normal)[0].hashrate_hs == pytest.approx(61.2 * TH)


@pytest.mark.parametrize("name, numbers, active_url", [
    ("pools.m31s_numbered_from_1.json", [1, 2, 3], "stratum+tcp://btc.ss.poolin.com:443"),
    ("pools.m20s_numbered_from_0.json", [0, 1], "stratum+tcp://us-east.stratum.slushpool.com:3333"),
])
def test_pools_never_indexed_by_pool_number(name, numbers, active_url):
    reply = fx(name)
    assert [p["POOL"] for p in reply["POOLS"]] == numbers  # both numberings are real
    pools = parse_v2({"pools": reply}).pools
    assert [p.priority for p in pools] == list(range(len(numbers)))
    assert [p.url for p in pools if p.active] == [active_url]
    assert pools[0].accepted == reply["POOLS"][0]["Accepted"]


def test_status_old_and_new_api():
    assert is_off(fx("status.m31s_sleeping_old_api.json")["Msg"]) is True  # btmineroff "true"
    assert is_off(fx("status.m31s_v1.4.0.json")["Msg"]) is False  # mineroff "false"
    assert is_off({}) is None


def test_full_v2_read_combines_replies():
    status = parse_v2({
        "summary": fx("summary.m31s.json"), "edevs": fx("edevs.m31s.json"),
        "pools": fx("pools.m31s_numbered_from_1.json"), "status": fx("status.m31s_v1.4.0.json"),
        # No get_version / devdetails / get_miner_info capture exists: minimal synthetic shapes.
        "get_version": {"STATUS": "S", "Code": 131, "Msg": {"api_ver": "2.0.5", "fw_ver": "20210322.22.REL"}},
        "devdetails": {"STATUS": [{"STATUS": "S"}], "DEVDETAILS": [{"Driver": "bitmicro", "Model": "M31SV10"}]},
        "get_miner_info": {"STATUS": "S", "Code": 131, "Msg": {"hostname": "WhatsMiner", "mac": "c6:06:12:00:2d:63"}},
    })
    assert status.state == "mining" and status.model == "Whatsminer M31S V10" and status.firmware == "btminer"
    assert status.firmware_version == "20210322.22.REL"  # get_version wins over the summary's copy
    assert status.hashrate_hs == pytest.approx(77909448.60e6) and status.power_w == 3553
    assert len(status.boards) == 3 and status.temp_c == 93.0 and status.hostname == "WhatsMiner"
    assert status.mac == "C6:06:12:00:2D:63" and status.pools[0].active
    assert status.efficiency_j_th == pytest.approx(3553 / 77.9094486, rel=1e-6)


def test_sleeping_v2_miner_reports_zero_hashrate_and_sleeping():
    status = parse_v2({"status": fx("status.m31s_sleeping_old_api.json")})
    assert status.state == "sleeping" and status.hashrate_hs == 0.0
    assert status.power_w is None  # nothing read: unknown, not 0
    assert status.firmware_version == "20210109.22.REL"


def test_summary_in_flat_msg_form_is_accepted():
    # Synthetic: reported (not captured) for 2025 builds answering `summary` in the flat shape.
    block = summary_block({"STATUS": "S", "Code": 131, "Msg": {"MHS 1m": 1000.0, "Power": 3000, "Elapsed": 5}})
    assert block["Power"] == 3000
    assert summary_block({"STATUS": "S", "Code": 131, "Msg": {"mineroff": "false"}}) == {}


def test_api3_device_info_and_vendor_summary():
    info = fx("get_device_info.api3.json")["msg"]
    summary = fx("get_miner_status_summary.api3.vendor_doc_example.json")["msg"]["summary"]
    status = parse_v3(info, summary)
    assert status.model == "Whatsminer M60S VK40" and status.firmware_version == "20251209.16.Rel2"
    assert status.mac == "CE:02:01:00:8C:36" and status.hostname == "WhatsMiner"
    assert status.hashrate_hs == pytest.approx(101.847 * TH)  # TH/s, not MH/s
    assert status.expected_hashrate_hs == pytest.approx(101.366 * TH)
    assert status.power_w == 3268 and status.fan_rpm == [4980, 5070] and status.uptime_s == 1074
    assert status.temp_c == 100.3 and status.state == "mining"  # miner.working "true"


def test_api3_edevs_pools_and_stopped_service():
    # No capture of API 3 edevs/pools: field names from pyasic's BTMinerV3EdevItem/BTMinerV3Pool.
    edevs = [{"id": 0, "slot": 0, "hash-average": 60.5, "factory-hash": 60.35, "freq": 490, "effective-chips": 225,
              "chip-temp-min": 60.0, "chip-temp-avg": 75.0, "chip-temp-max": 88.5}]
    pools = [{"id": 1, "url": "stratum+tcp://a.example:3333", "status": "alive", "account": "u.1",
              "stratum-active": True, "reject-rate": 0.0, "last-share-time": 0},
             {"id": 2, "url": "stratum+tcp://b.example:3333", "status": "alive", "account": "u.1",
              "stratum-active": False}]
    info = copy.deepcopy(fx("get_device_info.api3.json")["msg"])
    info["miner"]["working"] = "false"
    status = parse_v3(info, {"hash-realtime": 0.0, "power-realtime": 0}, edevs, pools)
    assert status.boards[0].hashrate_hs == pytest.approx(60.5 * TH) and status.boards[0].chips == 225
    assert [p.url for p in status.pools if p.active] == ["stratum+tcp://a.example:3333"]
    assert [p.priority for p in status.pools] == [0, 1]
    assert status.state == "sleeping" and status.hashrate_hs == 0.0 and status.power_w == 0.0


@pytest.mark.parametrize("raw, shown", [
    ("M30S+V40", "Whatsminer M30S+ V40"), ("M60S_VK40", "Whatsminer M60S VK40"), ("M31SV10", "Whatsminer M31S V10"),
    ("M30S++_VH70", "Whatsminer M30S++ VH70"), ("M20S", "Whatsminer M20S"), ("", None), (None, None),
])
def test_model_names(raw, shown):
    assert model_name(raw) == shown


def test_versions_and_dates():
    assert api_version("2.0.5") == (2, 0, 5) and api_version("whatsminer v1.4.0") == (1, 4, 0)
    assert api_version("whatsminer v1.3") == (1, 3, 0) and api_version(None) is None
    assert firmware_date("20251209.16.Rel2") == 20251209 and firmware_date("'20201202.22.REL'") == 20201202
    assert firmware_date("v1") is None
    assert clean_firmware_version("'20200917.22.REL'") == "20200917.22.REL" and clean_firmware_version("''") is None
