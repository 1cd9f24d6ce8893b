"""Vnish parsers on recorded replies (tests/fixtures/vnish/README.md names each source) and pure helpers.

Where no capture exists (chip_hr.json, get_miner_conf.cgi, /chains, /boards, /chips)
the reply below is written by hand from the third-party code and OpenAPI schemas
the README lists, and the test says so.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import fixture_bytes, fixture_json  # noqa: E402

from miners import vnish_legacy, vnish_rest  # noqa: E402
from miners.base import SCRYPT, SHA256D  # noqa: E402
from miners.json_repair import loads_lenient  # noqa: E402

GH, TH = 1e9, 1e12


def legacy_replies() -> dict:
    """The recorded Vnish 3.8.6 S9 replies (stats is the byte-faithful `}{` capture)."""
    stats = loads_lenient(fixture_bytes("vnish/raw/stats.s9_vnish_3.8.6.malformed.txt").decode())
    return {"version": fixture_json("vnish/version.s9_vnish_3.8.6.json"), "stats": stats,
            "pools": fixture_json("vnish/pools.s9_vnish_3.8.6.json")}


# --- Vnish 3.x (cgminer API) ----------------------------------------------------------------
def test_legacy_stats_capture_is_the_glued_malformation():
    raw = fixture_bytes("vnish/raw/stats.s9_vnish_3.8.6.malformed.txt").decode()
    assert '"Type":"Antminer S9 (vnish 3.8.6)"}{"STATS":0' in raw
    with pytest.raises(ValueError):
        import json
        json.loads(raw)
    assert loads_lenient(raw)["STATS"][1]["build_version"] == "3.8.6"


def test_legacy_s9_status_from_recorded_replies():
    status = vnish_legacy.parse_vnish_legacy(legacy_replies())
    assert status.model == "Antminer S9" and status.algorithm == SHA256D
    assert status.firmware == "Vnish" and status.firmware_version == "3.8.6"
    assert status.hashrate_hs == pytest.approx(12795.48 * GH)  # stats "GHS 5s" (no summary in the capture)
    assert status.expected_hashrate_hs == pytest.approx(12927.60 * GH)
    assert status.uptime_s == 3617
    assert [b.index for b in status.boards] == [0, 1, 2]  # chains 6..8
    assert [b.hashrate_hs for b in status.boards] == pytest.approx([4264.48 * GH, 4298.32 * GH, 4232.67 * GH])
    assert [b.voltage_mv for b in status.boards] == [9200.0, 9200.0, 9200.0]  # chain_vol 920 = 9.20 V
    assert [b.frequency_mhz for b in status.boards] == [600.0] * 3
    assert [b.chips for b in status.boards] == [63] * 3
    assert [b.temp_c for b in status.boards] == [65, 56, 63] and status.temp_c == 80
    assert status.power_w == 1485.0  # chain_consumption 3 x 495 W, Vnish's own estimate
    assert status.voltage_mv == 9200.0
    assert status.fan_rpm == [5400, 5880]


def test_legacy_pools_drop_the_devfee_pool():
    pools = vnish_legacy.parse_vnish_legacy(legacy_replies()).pools
    assert [p.url for p in pools] == ["stratum+tcp://solo.antpool.com:3333", "stratum+tcp://stratum.antpool.com:3333",
                                      "stratum+tcp://cn.ss.btc.com:3333"]
    assert [p.active for p in pools] == [True, False, False]
    assert pools[2].status == "Dead" and pools[0].accepted == 135


def test_vnish_version_from_type():
    assert vnish_legacy.parse_vnish_version("Antminer S9 (vnish 3.8.6)") == (3, 8, 6)
    assert vnish_legacy.parse_vnish_version("Antminer S9 (vnish for AWESOME 3.8.6)") == (3, 8, 6)
    assert vnish_legacy.parse_vnish_version("Antminer S17 (vnish 2.0.3)") == (2, 0, 3)
    assert vnish_legacy.parse_vnish_version("Antminer S9") is None


def test_voltage_units_both_forms():
    assert vnish_legacy.voltage_to_mv(920) == 9200.0
    assert vnish_legacy.voltage_to_mv("880") == 8800.0
    assert vnish_legacy.voltage_to_mv("8.8") == pytest.approx(8800.0)
    assert vnish_legacy.voltage_to_mv("0") is None and vnish_legacy.voltage_to_mv("") is None
    assert vnish_legacy.mv_to_conf(8900, "880") == "890"
    assert vnish_legacy.mv_to_conf(8900, "8.8") == "8.90"


def test_presets_only_for_sourced_models():
    s9 = vnish_legacy.presets_for("Antminer S9")
    assert list(s9) == ["low_power", "balanced", "performance"]
    assert (s9["balanced"].mhz, s9["balanced"].voltage_mv) == (650, 8900)
    assert vnish_legacy.presets_for("Antminer T9+") == s9
    assert vnish_legacy.presets_for("Antminer L3+") == {} and vnish_legacy.presets_for(None) == {}


# get_miner_conf.cgi of Vnish 3.x: NOT captured. Keys as read by the third-party tool
# (README: file id 515431207); only what build_form needs is given here.
HAND_CONF = {
    "pools": [{"url": "stratum+tcp://a.example:3333", "user": "w1", "pass": "x"},
              {"url": "stratum+tcp://b.example:3333", "user": "w2", "pass": "x"}],
    "bitmain-fan-ctrl": False, "bitmain-fan-pwm": "100", "bitmain-freq": "650", "bitmain-freq1": "0",
    "bitmain-voltage": "880", "bitmain-autodownscale": True, "asicboost": True,
}


def test_form_has_every_field_in_order():
    form = vnish_legacy.build_form(HAND_CONF, {"_ant_freq": "600"})
    names = [name for name, _ in form]
    assert names == list(vnish_legacy.FORM_ORDER) and len(names) == 50
    assert names[:3] == ["_ant_pool1url", "_ant_pool1user", "_ant_pool1pw"] and names[-1] == "_ant_dchain7"
    values = dict(form)
    assert values["_ant_freq"] == "600" and values["_ant_voltage"] == "880"
    assert values["_ant_pool2url"] == "stratum+tcp://b.example:3333"
    assert values["_ant_pool3url"] == "" and values["_ant_pool3pw"] == ""
    assert values["_ant_autodownscale"] == "true" and values["_ant_fan_customize_switch"] == "false"
    assert values["_ant_target_temp"] == "0"  # missing key: the documented default


def test_form_refuses_guessing_and_damaged_configs():
    with pytest.raises(Exception, match="bitmain-voltage"):
        vnish_legacy.build_form({k: v for k, v in HAND_CONF.items() if k != "bitmain-voltage"})
    with pytest.raises(Exception, match="damaged"):
        vnish_legacy.build_form({**HAND_CONF, "bitmain-fan-pwm": "_ant_fan_rpm_off"})
    with pytest.raises(ValueError):
        vnish_legacy.build_form(HAND_CONF, {"_ant_nonsense": "1"})


def test_chip_hr_hand_written_reply():
    # chip_hr.json: NOT captured; shape from the third-party reader (README: file id 515431207).
    reply = {"chiphr": [{"Asic00": "69", "Asic01": "70", "Asic02": "0"}, {"Asic00": "68", "Asic01": "71"}]}
    chips = vnish_legacy.parse_chip_hr(reply, GH, [" oox", " oo"])
    assert [(c.board, c.index) for c in chips] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert chips[0].hashrate_hs == 69 * GH and chips[2].hashrate_hs == 0
    assert [c.state for c in chips] == ["ok", "ok", "x", "ok", "ok"]
    no_acs = vnish_legacy.parse_chip_hr(reply, GH)
    assert no_acs[2].state == "no hashrate" and no_acs[0].state == "ok"
    with pytest.raises(Exception, match="chiphr"):
        vnish_legacy.parse_chip_hr({"boards": []}, GH)


# --- Vnish 1.x (REST) -----------------------------------------------------------------------------
def test_rest_summary_1_2_0_beta10_with_info():
    summary = fixture_json("vnish/api_v1_summary.s19_vnish_1.2.0-beta10.json")
    info = fixture_json("vnish/api_v1_info.s19_vnish_1.2.6.json")
    status = vnish_rest.parse_summary(summary, info)
    # 1.2.0 has no hr_realtime: the chains' hashrate_rt (GH/s per hr_measure) are summed.
    assert status.hashrate_hs == pytest.approx((31563.244 + 31518.17 + 32103.768) * GH)
    assert status.expected_hashrate_hs == pytest.approx(3 * 32196.64 * GH)
    assert status.power_w == 3733.0  # power_usage is watts on this build (no power_consumption key)
    assert status.model == "Antminer S19" and status.firmware == "Vnish" and status.firmware_version == "1.2.6"
    assert status.algorithm == SHA256D and status.state == "mining"
    assert [b.index for b in status.boards] == [0, 1, 2]
    assert [b.voltage_mv for b in status.boards] == [14000.0] * 3 and status.voltage_mv == 14000.0
    assert [b.frequency_mhz for b in status.boards] == [680.0] * 3
    assert [b.chips for b in status.boards] == [76] * 3 and all(b.chip_states is None for b in status.boards)
    # pcb_temp_sens: the "error" sensor (13) is skipped, the hottest measuring one counts.
    assert [b.temp_c for b in status.boards] == [37, 40, 41] and [b.chip_temp_c for b in status.boards] == [47, 50, 51]
    assert status.temp_c == 51
    assert status.fan_rpm == [6360, 5040, 6120, 5040] and status.fan_percent == 100
    assert [p.url for p in status.pools] == ["btc.foundryusapool.com:3333", "btc.foundryusapool.com:443",
                                             "btc.foundryusapool.com:25"]  # DevFee left out
    assert status.pools[0].active and status.shares_accepted == 153 and status.shares_rejected == 148
    assert status.uptime_s == 6 * 60 and status.mac == "FE:07:26:3C:BE:1B" and status.hostname == "antminer"


def test_rest_summary_alone_uses_its_own_system_block():
    status = vnish_rest.parse_summary(fixture_json("vnish/api_v1_summary.s19_vnish_1.2.0-beta10.json"))
    assert status.firmware_version == "1.2.0-beta10"  # from miner_type "(Vnish 1.2.0-beta10)"
    assert status.uptime_s == 9 * 86400 + 3 * 3600 + 58 * 60 and status.mac == "4E:9F:85:7B:57:7C"


def test_rest_failure_summary():
    status = vnish_rest.parse_summary(fixture_json("vnish/api_v1_summary.s19_vnish_1.2.6_failure.json"),
                                      fixture_json("vnish/api_v1_info.s19_vnish_1.2.6.json"))
    assert status.state == "error"
    assert status.errors == ["miner failure: Failed to parse miner configuration (code 1002)"]
    assert status.hashrate_hs == 0.0 and status.power_w is None  # 0 W reported while failed: unknown, not 0
    assert status.expected_hashrate_hs is None and status.temp_c is None
    assert status.pools == [] and status.boards == []


def test_rest_units_follow_hr_measure():
    assert vnish_rest.hashrate_scale({"hr_measure": "GH/s"}) == GH
    assert vnish_rest.hashrate_scale({"hr_measure": "MH/s"}) == 1e6
    assert vnish_rest.hashrate_scale({"hr_measure": "N/A", "algorithm": "scrypt"}) == 1e6
    assert vnish_rest.hashrate_scale({}) == GH
    summary = {"miner": {"hr_realtime": 9400.5, "hr_nominal": 9500.0, "power_consumption": 3400,
                         "miner_status": {"miner_state": "mining", "throttled": 60}, "chains": []}}
    status = vnish_rest.parse_summary(summary, {"hr_measure": "MH/s", "algorithm": "scrypt", "miner": "Antminer L7"})
    assert status.hashrate_hs == pytest.approx(9400.5e6) and status.algorithm == SCRYPT
    assert status.power_w == 3400 and status.errors == ["throttled to 60 %"]


@pytest.mark.parametrize("text, seconds", [("0:06", 360), ("9 days,  3:58", 9 * 86400 + 3 * 3600 + 58 * 60),
                                           ("1 day, 0:01", 86460), ("", None), ("soon", None)])
def test_uptime_strings(text, seconds):
    assert vnish_rest.parse_uptime(text) == seconds


def test_presets_fixture_and_picking():
    presets = fixture_json("vnish/api_v1_autotune_presets.s19_vnish_1.2.6.json")
    assert presets[0]["name"] == "disabled" and vnish_rest.preset_watts(presets[0]) is None
    assert vnish_rest.pick_preset(presets, 3300)["name"] == "3200"
    assert vnish_rest.pick_preset(presets, 3750)["name"] == "3750"
    assert vnish_rest.pick_preset(presets, 100000)["name"] == "4690"
    with pytest.raises(ValueError, match="lowest is 1100 W"):
        vnish_rest.pick_preset(presets, 1000)


def test_unlock_and_perf_summary_fixtures_have_the_documented_shape():
    assert len(fixture_json("vnish/api_v1_unlock.s19_vnish_1.2.6.json")["token"]) == 32
    perf = fixture_json("vnish/api_v1_perf-summary.s19_vnish_1.2.6.json")
    assert perf["current_preset"]["name"] == "disabled" and perf["current_preset"]["globals"]["freq"] == 675


def test_chain_chips_hand_written():
    # /chains (1.2.x) and /boards (1.3.x): NOT captured; AntmChainChips/AntmBoardChips of the OpenAPI.
    reply = [{"id": 1, "status": {"state": "mining"}, "hr_realtime": 900.0, "hr_nominal": 910.0, "freq": 680.0,
              "sensors": [], "chips": [{"id": 0, "hr": 410.5, "freq": 680, "volt": 368, "temp": 61.5, "errs": 0,
                                        "grade": "grey", "throttled": False},
                                       {"id": 1, "hr": 150.0, "freq": 680, "volt": 368, "temp": 63.0, "errs": 12,
                                        "grade": "orange", "throttled": False}]}]
    chips = vnish_rest.parse_chain_chips(reply, GH)
    assert [(c.board, c.index, c.state, c.errors) for c in chips] == [(0, 0, "ok", 0), (0, 1, "orange", 12)]
    assert chips[0].hashrate_hs == pytest.approx(410.5 * GH) and chips[0].frequency_mhz == 680
    assert chips[0].voltage_mv == 368 and chips[0].temp_c == 61.5


def test_chips_stats_hand_written():
    # Deprecated 1.2.x /chips: NOT captured; AntmChainsChipsStats of the 1.2.6 OpenAPI.
    reply = {"chips_per_chain": 2, "chains": [{"id": 2, "chips": [
        {"id": 0, "status": "red", "hashrate": 0.0, "freq": 680, "temp": 70.0, "errors": 99, "sensor": None}]}]}
    chips = vnish_rest.parse_chips_stats(reply, GH)
    assert [(c.board, c.index, c.state, c.errors, c.hashrate_hs) for c in chips] == [(1, 0, "red", 99, 0.0)]


def test_rest_version_parsing():
    assert vnish_rest.parse_version("1.2.0-beta10") == (1, 2, 0)
    assert vnish_rest.parse_version("1.3.4") == (1, 3, 4)
    assert vnish_rest.parse_version(None) is None
