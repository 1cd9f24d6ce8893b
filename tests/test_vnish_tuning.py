"""Per-board tuning and thermal target of Vnish: parsers on recorded replies, limits, requests (requests-mock).

The ``/model`` reply is recorded (tests/fixtures/vnish/api_v1_model.s19_vnish_1.2.6.json);
``/settings`` of Vnish 1.x was never captured, so ``settings()`` writes its ``overclock``,
``cooling`` and ``misc`` sections after the 1.3.4 OpenAPI schema (OverclockSettingsRaw,
CoolingSettingsRaw, AdvancedSettingsRaw). The Vnish 3.x config is hand-written too, in the
keys the CGI script writes (tests/fixtures/vnish/README.md).
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import fixture_json  # noqa: E402

from miners.base import MinerProtocolError, NotSupported  # noqa: E402
from miners.tuning import CONTROLLER, DOCUMENTED, FIRMWARE, Range  # noqa: E402
from miners.vnish_legacy import parse_legacy_tuning  # noqa: E402
from miners.vnish_rest import VnishRestDriver  # noqa: E402
from miners.vnish_rest_tuning import model_limits, overclock_change, parse_tuning  # noqa: E402

HOST = "127.86.7.250"  # never contacted: requests-mock answers
API = f"http://{HOST}/api/v1"
MODEL = fixture_json("vnish/api_v1_model.s19_vnish_1.2.6.json")


def settings(preset: str = "disabled", chains: list | None = None, mode: dict | None = None,
             modded_psu: bool = False, restart_temp: int = 105) -> dict:
    return {"miner": {"overclock": {"preset": preset, "globals": {"freq": 675, "volt": 1380},
                                    "chains": chains if chains is not None else [], "modded_psu": modded_psu},
                      "cooling": {"mode": mode or {"name": "auto", "param": 65}, "fan_min_count": 4},
                      "misc": {"restart_temp": restart_temp},
                      "pools": [{"url": "", "user": "", "pass": ""}] * 3},
            "ui": {}, "regional": {"timezone": {"current": "GMT"}}, "network": {}}


# --- limits ------------------------------------------------------------------------------------
def test_model_limits_from_the_recorded_s19_reply():
    limits = model_limits(MODEL)
    assert limits["frequency"] == Range(50, 1000, FIRMWARE)
    # 10 mV units: 1200..1535, but 1500 without a modded PSU (max_voltage_stock_psu).
    assert limits["voltage"] == Range(12000, 15000, FIRMWARE)
    assert model_limits(MODEL, modded_psu=True)["voltage"] == Range(12000, 15350, FIRMWARE)
    assert limits["thermal"] == Range(20, 90, FIRMWARE)
    assert limits["warn_mhz"] == 850 and limits["chains"] == 3


def test_model_limits_absent_or_nonsense_are_none():
    assert model_limits({})["frequency"] is None and model_limits(None)["thermal"] is None
    inverted = {"overclock": {"min_freq": 900, "max_freq": 100}, "cooling": {"min_target_temp": "20"}}
    assert model_limits(inverted)["frequency"] is None and model_limits(inverted)["thermal"] is None


def test_range_check_names_the_bounds_and_their_source():
    Range(50, 1000).check(50, "frequency", "MHz")
    with pytest.raises(ValueError, match=r"1001 MHz is outside 50\.\.1000 MHz \(the firmware's limits\)"):
        Range(50, 1000).check(1001, "frequency", "MHz")
    with pytest.raises(ValueError, match="publishes none"):
        Range(40, 90, CONTROLLER).check(95, "target temperature", "C")


# --- Vnish 1.x parser --------------------------------------------------------------------------
def test_parse_tuning_globals_chains_and_thermal():
    tuning = parse_tuning(settings(chains=[{"freq": 0}, {"freq": 700, "chips": [0] * 3}]), MODEL)
    assert tuning.frequency_mhz == 675 and tuning.voltage_mv == 13800
    assert [(b.index, b.frequency_mhz, b.follows_global) for b in tuning.boards] == [
        (0, None, True), (1, 700, False), (2, None, True)]  # three chains from /model, only two listed
    assert tuning.per_board_frequency and not tuning.per_board_voltage
    assert tuning.thermal_target_c == 65 and tuning.thermal_limit_c == 105
    assert tuning.frequency_warn_mhz == 850 and tuning.preset == "disabled" and tuning.notes == []
    data = tuning.to_dict()
    assert data["frequency_range"] == {"min": 50, "max": 1000, "source": "firmware"}


def test_parse_tuning_with_a_preset_and_manual_fan_says_so():
    tuning = parse_tuning(settings(preset="3250", mode={"name": "manual", "param": 80}), MODEL)
    assert tuning.thermal_target_c is None
    assert any("preset '3250'" in n for n in tuning.notes) and any("'manual'" in n for n in tuning.notes)
    with pytest.raises(MinerProtocolError):
        parse_tuning({"ui": {}}, MODEL)


def test_overclock_change_global_resets_chains_and_board_keeps_the_rest():
    current = {"preset": "3250", "globals": {"freq": 675, "volt": 1380}, "modded_psu": False,
               "chains": [{"freq": 700, "chips": [1, 2]}, {"freq": 0}]}
    glob = overclock_change(current, 600, 13500, None, 3)
    assert glob["preset"] == "disabled" and glob["globals"] == {"freq": 600, "volt": 1350}
    assert glob["chains"] == [{"freq": 0, "chips": [1, 2]}, {"freq": 0}, {"freq": 0}]
    one = overclock_change(current, 720, None, 2, 3)
    assert one["globals"] == {"freq": 675, "volt": 1380}
    assert [c["freq"] for c in one["chains"]] == [700, 0, 720] and one["chains"][0]["chips"] == [1, 2]
    assert current["chains"][0]["freq"] == 700  # the input is not changed


# --- Vnish 3.x parser --------------------------------------------------------------------------
def test_parse_legacy_tuning_overrides_and_temperatures():
    conf = {"bitmain-freq": "650", "bitmain-freq1": "0", "bitmain-freq2": "700", "bitmain-freq3": "",
            "bitmain-voltage": "890", "bitmain-voltage1": "0", "bitmain-voltage2": "9.1", "bitmain-voltage3": "0",
            "bitmain-target-temp": "75", "bitmain-tempoff": "105"}
    tuning = parse_legacy_tuning(conf)
    assert tuning.frequency_mhz == 650 and tuning.voltage_mv == 8900
    assert [(b.frequency_mhz, b.voltage_mv, b.follows_global) for b in tuning.boards] == [
        (None, None, True), (700, pytest.approx(9100), False), (None, None, True)]
    assert tuning.per_board_voltage and tuning.frequency_range.source == DOCUMENTED
    assert tuning.thermal_target_c == 75 and tuning.thermal_limit_c == 105
    assert tuning.thermal_range.source == CONTROLLER
    # The CGI writes no bitmain-target-temp for "0": the firmware default applies.
    missing = parse_legacy_tuning({"bitmain-freq": "650"})
    assert missing.thermal_target_c is None and missing.notes


# --- Vnish 1.x driver: values refused before anything is sent --------------------------------
@pytest.fixture
def rest(requests_mock):
    requests_mock.post(f"{API}/unlock", json={"token": "tok"})
    requests_mock.get(f"{API}/model", json=MODEL)
    d = VnishRestDriver(HOST, port=80, timeout=2)
    yield d
    d.close()


def test_out_of_range_frequency_voltage_and_target_post_nothing(rest, requests_mock):
    requests_mock.get(f"{API}/settings", json=settings())
    post = requests_mock.post(f"{API}/settings", json={"restart_required": False, "reboot_required": False})
    for args in ((1001,), (49,), (600, 15100), (600, 11900), (600, None, 3)):
        with pytest.raises(ValueError):
            rest.set_frequency(*args)
    with pytest.raises(NotSupported, match="one chain voltage"):
        rest.set_frequency(600, 13500, 1)
    for target in (19, 91):
        with pytest.raises(ValueError, match=r"20\.\.90"):
            rest.set_thermal_target(target)
    assert post.call_count == 0


def test_target_at_or_above_the_restart_temperature_and_manual_fan_are_refused(rest, requests_mock):
    post = requests_mock.post(f"{API}/settings", json={})
    requests_mock.get(f"{API}/settings", json=settings(restart_temp=80))
    with pytest.raises(ValueError, match="restart temperature 80"):
        rest.set_thermal_target(80)
    requests_mock.get(f"{API}/settings", json=settings(mode={"name": "immers"}))
    with pytest.raises(NotSupported, match="immers"):
        rest.set_thermal_target(70)
    assert post.call_count == 0


def test_per_board_frequency_posts_the_overclock_and_reads_it_back(rest, requests_mock):
    before = settings(preset="3250", chains=[{"freq": 0}] * 3)
    after = settings(preset="disabled", chains=[{"freq": 0}, {"freq": 720}, {"freq": 0}])
    requests_mock.get(f"{API}/settings", [{"json": before}, {"json": after}])
    post = requests_mock.post(f"{API}/settings", json={"restart_required": False, "reboot_required": False})
    note = rest.set_frequency(720, board=1)
    sent = post.last_request.json()["miner"]["overclock"]
    assert sent["preset"] == "disabled" and [c["freq"] for c in sent["chains"]] == [0, 720, 0]
    assert sent["globals"] == {"freq": 675, "volt": 1380}
    assert post.last_request.headers["Authorization"] == "Bearer tok"
    assert "'3250' switched to 'disabled'" in note


def test_a_write_the_miner_did_not_store_is_reported(rest, requests_mock):
    requests_mock.get(f"{API}/settings", json=settings())  # never changes
    requests_mock.post(f"{API}/settings", json={})
    with pytest.raises(MinerProtocolError, match="stored other overclock"):
        rest.set_frequency(600)
    with pytest.raises(MinerProtocolError, match="another cooling mode"):
        rest.set_thermal_target(70)


@pytest.mark.parametrize("model", [{"json": {"full_name": "Antminer S19"}}, {"status_code": 404, "json": {"err": "x"}}])
def test_no_limits_from_model_means_no_manual_frequency(requests_mock, model):
    requests_mock.post(f"{API}/unlock", json={"token": "tok"})
    requests_mock.get(f"{API}/model", **model)
    requests_mock.get(f"{API}/settings", json=settings())
    post = requests_mock.post(f"{API}/settings", json={})
    d = VnishRestDriver(HOST, port=80, timeout=2)
    try:
        assert any("no overclock limits" in n for n in d.tuning().notes)
        with pytest.raises(NotSupported, match="no overclock limits"):
            d.set_frequency(600)
        with pytest.raises(NotSupported, match="no target-temperature limits"):
            d.set_thermal_target(70)
    finally:
        d.close()
    assert post.call_count == 0
