"""Bitaxe / NerdQAxe++ additions: mode presets per ASIC, NerdOS shutdown/restart as sleep/wake, OTP refusals,
per-chip data. Recorded replies from tests/fixtures/bitaxe (sources in its README); the v2.11+ AxeOS replies are
built from the reference's field table (no public v2.11+ capture was found), as in test_miners_bitaxe.py."""

from __future__ import annotations

import copy
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_bitaxe import BASE, HOST, built_info  # noqa: E402
from test_miners_fakes import fixture_json  # noqa: E402

from miners import bitaxe  # noqa: E402
from miners.base import CHIPS, MODE, SLEEP, WAKE, MinerAuthError, MinerProtocolError, NotSupported  # noqa: E402
from miners.bitaxe import ASIC_OPTIONS, AsicOptions, BitaxeDriver, mode_presets  # noqa: E402

NERD_INFO = "bitaxe/system_info.nerdqaxepp_v1.1.0-beta1.json"
NERD_ASIC = "bitaxe/system_asic.nerdqaxepp_v1.1.0-beta1.json"


@pytest.fixture
def driver():
    d = BitaxeDriver(HOST, timeout=2)
    yield d
    d.close()


# --- presets -------------------------------------------------------------------------------
@pytest.mark.parametrize("asic, expected", [
    # ESP-Miner main/device_config.h lists + the rule in bitaxe.mode_presets
    ("BM1397", {"eco": (400, 1350), "standard": (425, 1400), "turbo": (600, 1450), "overclock": (650, 1500)}),
    ("BM1366", {"eco": (400, 1150), "standard": (485, 1200), "turbo": (575, 1250), "overclock": (625, 1300)}),
    ("BM1368", {"eco": (400, 1150), "standard": (490, 1166), "turbo": (575, 1200), "overclock": (625, 1250)}),
    ("BM1370", {"eco": (400, 1100), "standard": (525, 1150), "turbo": (625, 1200), "overclock": (675, 1250)}),
])
def test_presets_per_asic(asic, expected):
    assert mode_presets(ASIC_OPTIONS[asic]) == expected


def test_presets_from_the_recorded_supra_asic_reply_match_the_table():
    options = bitaxe.asic_options({"ASICModel": "BM1368"}, fixture_json("bitaxe/system_asic.supra_bm1368.json"))
    assert mode_presets(options) == mode_presets(ASIC_OPTIONS["BM1368"])


def test_nerdqaxe_presets_use_its_own_lists_and_caps():
    options = bitaxe.asic_options(fixture_json(NERD_INFO), fixture_json(NERD_ASIC))
    presets = mode_presets(options)
    assert presets["standard"] == (600, 1150) and presets["eco"] == (500, 1140)  # ecoFrequency 0 = not set
    assert presets["turbo"] == (600, 1160) and presets["overclock"] == (650, 1170)
    capped = mode_presets(AsicOptions((500, 600), (1100, 1150), 600, 1150, 450, 1100, max_mhz=620, max_mv=1150))
    assert capped["eco"] == (450, 1100) and capped["overclock"] == (620, 1150)


def test_no_options_known_means_no_mode(driver, requests_mock):
    info = built_info("v2.12.0", ASICModel="BM1485")
    requests_mock.get(f"{BASE}/api/system/info", json=info)
    requests_mock.get(f"{BASE}/api/system/asic", status_code=404)
    driver.read()
    assert MODE not in driver.capabilities
    with pytest.raises(NotSupported):
        driver.set_mode("eco")


# --- set_mode on AxeOS -------------------------------------------------------------------------
def axeos_state(version: str, **extra) -> dict:
    state = built_info(version, **extra)
    return state


def patched_axeos(requests_mock, state: dict, asic: dict | None):
    def on_patch(request, context):
        for key, value in request.json().items():
            if key in ("frequency", "coreVoltage", "overclockEnabled"):
                state[key] = value
        context.status_code = 200
        return ""

    requests_mock.get(f"{BASE}/api/system/info", json=lambda r, c: copy.deepcopy(state))
    requests_mock.get(f"{BASE}/api/system/asic", json=asic or {}, status_code=200 if asic else 404)
    return requests_mock.patch(f"{BASE}/api/system", text=on_patch)


def test_set_mode_patches_the_preset_and_reads_back(driver, requests_mock):
    state = axeos_state("v2.12.0")
    asic = {"ASICModel": "BM1370", "deviceModel": "Gamma", "asicCount": 1, "defaultFrequency": 525,
            "frequencyOptions": [400, 490, 525, 550, 600, 625], "defaultVoltage": 1150,
            "voltageOptions": [1000, 1060, 1100, 1150, 1200, 1250]}
    patch = patched_axeos(requests_mock, state, asic)
    driver.set_mode("eco")
    assert patch.last_request.json() == {"frequency": 400, "coreVoltage": 1100}
    driver.set_mode("turbo")
    assert (state["frequency"], state["coreVoltage"]) == (625, 1200)
    with pytest.raises(NotSupported, match="overclockEnabled"):  # AxeOS's own gate for values outside the lists
        driver.set_mode("overclock")
    assert patch.call_count == 2
    state["overclockEnabled"] = 1
    driver.set_mode("overclock")
    assert (state["frequency"], state["coreVoltage"]) == (675, 1250)
    with pytest.raises(ValueError):
        driver.set_mode("ludicrous")


def test_set_mode_on_v2_6_uses_esp_miner_table(driver, requests_mock):
    state = fixture_json("bitaxe/system_info.hex302_axeos_v2.6.0.json")  # BM1366, no /api/system/asic yet
    patch = patched_axeos(requests_mock, state, None)
    driver.set_mode("standard")
    assert patch.last_request.json() == {"frequency": 485, "coreVoltage": 1200}


def test_set_mode_ignored_by_firmware_is_reported(driver, requests_mock):
    state = axeos_state("v2.12.0")
    requests_mock.get(f"{BASE}/api/system/info", json=state)
    requests_mock.get(f"{BASE}/api/system/asic", status_code=404)
    requests_mock.patch(f"{BASE}/api/system", text="")  # 200, but nothing changes
    with pytest.raises(MinerProtocolError, match="did not apply"):
        driver.set_mode("eco")


# --- NerdOS ------------------------------------------------------------------------------------------
def test_nerdos_shutdown_is_sleep_and_restart_is_wake(driver, requests_mock):
    info = fixture_json(NERD_INFO)
    asleep = dict(info, shutdown=True, hashRate=0.0)
    requests_mock.get(f"{BASE}/api/system/info", [{"json": info}, {"json": info}, {"json": asleep}])
    shutdown = requests_mock.post(f"{BASE}/api/system/shutdown", text="System will shutdown shortly.")
    restart = requests_mock.post(f"{BASE}/api/system/restart", text="System will restart shortly.")
    driver.read()
    assert {SLEEP, WAKE, MODE} <= driver.capabilities and CHIPS not in driver.capabilities  # asicTemps all 0
    driver.wake()  # still mining: nothing to resume, no needless restart
    assert restart.call_count == 0
    driver.sleep()
    driver.wake()  # shut down: only a restart resumes
    assert shutdown.call_count == 1 and restart.call_count == 1
    assert bitaxe.parse_system_info(asleep).state == "sleeping"


def test_nerdos_parse_fields():
    status = bitaxe.parse_system_info(fixture_json(NERD_INFO), fixture_json(NERD_ASIC))
    assert status.fan_rpm == [1796, 1557] and status.temp_c == pytest.approx(59.875)  # hottest chip
    assert status.power_w == 103 and status.frequency_mhz == 680 and status.boards[0].chips == 4
    assert status.state == "mining" and bitaxe.parse_chips(fixture_json(NERD_INFO)) == []  # zeros: no reading
    with_temps = dict(fixture_json(NERD_INFO), asicTemps=[57.5, 58.0, 59.0, 58.5])
    assert [c.temp_c for c in bitaxe.parse_chips(with_temps)] == [57.5, 58.0, 59.0, 58.5]


def test_nerdos_set_mode_uses_its_asic_endpoint(driver, requests_mock):
    state = fixture_json(NERD_INFO)

    def on_patch(request, context):
        state.update(request.json())
        return ""

    requests_mock.get(f"{BASE}/api/system/info", json=lambda r, c: dict(state))
    asic = requests_mock.get(f"{BASE}/api/system/asic", json=fixture_json(NERD_ASIC))
    patch = requests_mock.patch(f"{BASE}/api/system", text=on_patch)
    driver.set_mode("eco")
    driver.set_mode("overclock")  # capped at absMaxFrequency 800 / absMaxVoltage 1400; here 650/1170
    assert [r.json() for r in patch.request_history] == [{"frequency": 500, "coreVoltage": 1140},
                                                         {"frequency": 650, "coreVoltage": 1170}]
    assert asic.call_count == 1  # fetched once per driver


def test_nerdos_otp_enabled_refuses_writes_before_sending(driver, requests_mock):
    requests_mock.get(f"{BASE}/api/system/info", json=dict(fixture_json(NERD_INFO), otp=True))
    restart = requests_mock.post(f"{BASE}/api/system/restart", text="")
    patch = requests_mock.patch(f"{BASE}/api/system", text="")
    driver.read()
    for action in (driver.restart, driver.sleep, lambda: driver.set_frequency(600, 1150)):
        with pytest.raises(MinerAuthError, match="NerdQAxe\\+\\+ has OTP enabled"):
            action()
    assert restart.call_count == 0 and patch.call_count == 0


@pytest.mark.parametrize("status, body, expect", [
    (401, "OTP/Session required", "has OTP enabled"),
    (401, "blocked for 5 minutes", "blocked for 5 minutes"),
    (403, "OTP/Session required", "has OTP enabled"),
    (401, "Unauthorized", "only answers clients on its LAN"),
])
def test_nerdos_write_refusals(driver, requests_mock, status, body, expect):
    requests_mock.get(f"{BASE}/api/system/info", json=fixture_json(NERD_INFO))  # "otp": false in the capture
    requests_mock.post(f"{BASE}/api/system/shutdown", status_code=status, text=body)
    driver.read()
    with pytest.raises(MinerAuthError, match=expect):
        driver.sleep()


def test_axeos_chips_from_hashrate_monitor(driver, requests_mock):
    info = built_info("v2.12.0", hashrateMonitor={"asics": [{"total": 1100.5, "domains": [275.0] * 4,
                                                             "errorCount": 3}]})
    requests_mock.get(f"{BASE}/api/system/info", json=info)
    requests_mock.get(f"{BASE}/api/system/asic", status_code=404)
    driver.read()
    assert CHIPS in driver.capabilities
    chips = driver.read_chips()
    assert chips[0].hashrate_hs == pytest.approx(1100.5e9) and chips[0].errors == 3
