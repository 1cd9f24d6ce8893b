"""Home Assistant and generic HTTP JSON sources, and the shared plausibility guard."""

from __future__ import annotations

import math

import pytest
import requests_mock as rm

from services.battery import BatteryError, BatteryReading, PlausibilityGuard
from services.battery.config import BatteryFields, HomeAssistantConfig, HttpConfig
from services.battery.homeassistant import HomeAssistantSource
from services.battery.http_json import HttpJsonSource, parse_timestamp

HA = "http://ha.test:8123"
TOKEN = "ha-long-lived-secret-token"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def ha_state(state, unit=None, reported="2023-11-14T22:13:10+00:00"):
    body = {"state": state, "attributes": {}, "last_updated": "2023-11-14T20:00:00+00:00", "last_reported": reported}
    if unit:
        body["attributes"]["unit_of_measurement"] = unit
    return body


def ha_source(clock, **entities):
    ents = {"soc": "sensor.soc", "pv_w": "sensor.pv", "load_w": "sensor.load", "battery_w": "sensor.batt", **entities}
    return HomeAssistantSource(HomeAssistantConfig(url=HA, token=TOKEN, entities=BatteryFields(**ents)),
                               max_age_sec=120, clock=clock)


def mock_ha(m, **states):
    defaults = {"sensor.soc": ha_state("87", "%"), "sensor.pv": ha_state("2.5", "kW"),
                "sensor.load": ha_state("900", "W"), "sensor.batt": ha_state("-1200", "W"),
                "sensor.grid": ha_state("-400", "W")}
    defaults.update(states)
    for entity, body in defaults.items():
        m.get(f"{HA}/api/states/{entity}", json=body)


def test_ha_reads_entities_with_token_units_and_sign():
    clock = Clock()
    with rm.Mocker() as m:
        mock_ha(m)
        r = ha_source(clock, grid_w="sensor.grid").read()
        assert m.last_request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert (r.soc_pct, r.pv_w, r.load_w, r.battery_w, r.grid_w) == (87, 2500, 900, -1200, -400)
    assert r.measured_at == T0 - 10 and r.measured_at_from == "device"


def test_ha_minus_prefix_negates_a_charge_positive_sensor():
    with rm.Mocker() as m:
        mock_ha(m, **{"sensor.batt": ha_state("1200", "W")})  # this sensor's + means charging
        r = ha_source(Clock(), battery_w="-sensor.batt").read()
    assert r.battery_w == -1200


@pytest.mark.parametrize("state", ["unknown", "unavailable", ""])
def test_ha_unknown_unavailable_are_missing_not_zero(state):
    src = ha_source(Clock())
    with rm.Mocker() as m:
        mock_ha(m, **{"sensor.soc": ha_state(state, "%")})
        with pytest.raises(BatteryError, match="sensor.soc: missing"):
            src.read()
    assert src.last_reading is None and "missing" in src.status().last_error


def test_ha_unknown_grid_is_none_because_grid_is_optional():
    with rm.Mocker() as m:
        mock_ha(m, **{"sensor.grid": ha_state("unavailable", "W")})
        r = ha_source(Clock(), grid_w="sensor.grid").read()
    assert r.grid_w is None and r.soc_pct == 87


def test_ha_errors_are_clear_and_hide_the_token():
    src = ha_source(Clock())
    with rm.Mocker() as m:
        m.get(f"{HA}/api/states/sensor.soc", status_code=401)
        with pytest.raises(BatteryError, match="refused the token") as exc:
            src.read()
    assert TOKEN not in str(exc.value) and TOKEN not in repr(src) and TOKEN not in str(src.status())
    with rm.Mocker() as m:
        mock_ha(m, **{"sensor.pv": ha_state("5", "kWh")})
        with pytest.raises(BatteryError, match="not a power unit"):
            src.read()


def test_ha_old_sensor_data_is_stale():
    with rm.Mocker() as m:
        old = "2023-11-14T22:00:00+00:00"  # 800 s before T0, max_age 120
        mock_ha(m, **{k: ha_state(v, u, reported=old) for k, v, u in
                      [("sensor.soc", "87", "%"), ("sensor.pv", "1", "kW"), ("sensor.load", "1", "W"), ("sensor.batt", "1", "W")]})
        with pytest.raises(BatteryError, match="800 s old"):
            ha_source(Clock()).read()


# --- generic HTTP JSON ----------------------------------------------------------
URL = "http://meter.test/api/status"


def http_source(clock, time_field="", **fields):
    f = {"soc": "battery.soc", "pv_w": "pv.0.power", "load_w": "house.load", "battery_w": "battery.power", **fields}
    return HttpJsonSource(HttpConfig(url=URL, fields=BatteryFields(**f), time_field=time_field), max_age_sec=120, clock=clock)


DOC = {"battery": {"soc": "64.5", "power": 800}, "pv": [{"power": 3100}], "house": {"load": 1500},
       "grid": {"power": -200}, "ts": T0 - 5}


def test_http_dotted_paths_lists_and_numeric_strings():
    with rm.Mocker() as m:
        m.get(URL, json=DOC)
        r = http_source(Clock(), grid_w="grid.power").read()
    assert (r.soc_pct, r.pv_w, r.load_w, r.battery_w, r.grid_w) == (64.5, 3100, 1500, 800, -200)
    assert r.measured_at == T0 and r.measured_at_from == "received"  # no time field: said so


def test_http_sign_conversion_for_charge_positive_source():
    # e.g. Solar Assistant: battery + = charging, so the path is negated into our + = discharging.
    with rm.Mocker() as m:
        m.get(URL, json=DOC)
        r = http_source(Clock(), battery_w="-battery.power").read()
    assert r.battery_w == -800


def test_http_time_field_epoch_seconds_ms_and_iso():
    assert parse_timestamp(T0) == T0
    assert parse_timestamp(T0 * 1000) == T0
    assert parse_timestamp("2023-11-14T22:13:20Z") == T0
    assert parse_timestamp("2023-11-14T22:13:20") is None  # no zone: refused
    with rm.Mocker() as m:
        m.get(URL, json=DOC)
        r = http_source(Clock(), time_field="ts").read()
    assert r.measured_at == T0 - 5 and r.measured_at_from == "device"


def test_http_missing_path_and_bad_replies_are_errors():
    src = http_source(Clock(), soc="battery.nope")
    with rm.Mocker() as m:
        m.get(URL, json=DOC)
        with pytest.raises(BatteryError, match=r"soc \(battery.nope\): missing"):
            src.read()
        m.get(URL, text="<html>")
        with pytest.raises(BatteryError, match="not JSON"):
            http_source(Clock()).read()
        m.get(URL, status_code=503)
        with pytest.raises(BatteryError, match="HTTP 503"):
            http_source(Clock()).read()


def test_http_repr_hides_url_credentials():
    src = HttpJsonSource(HttpConfig(url="http://user:pw-secret@meter.test/x"), max_age_sec=60)
    assert "pw-secret" not in repr(src)


# --- plausibility ------------------------------------------------------------------
def reading(soc, t, **kw):
    base = {"pv_w": 1000.0, "load_w": 500.0, "battery_w": 0.0, "grid_w": None}
    base.update(kw)
    return BatteryReading(soc_pct=soc, measured_at=t, source="test", **base)


@pytest.mark.parametrize("bad, why", [
    (reading(101, T0), "outside 0-100"),
    (reading(-1, T0), "outside 0-100"),
    (reading(math.nan, T0), "soc_pct missing"),
    (reading(50, T0, pv_w=None), "pv_w missing"),
    (reading(50, T0, load_w=math.inf), "load_w missing"),
    (reading(50, T0, pv_w=-5000), "negative"),
    (reading(50, T0, battery_w=2e6), "beyond"),
    (reading(50, T0, grid_w=math.nan), "grid_w not finite"),
])
def test_guard_rejects_and_counts(bad, why):
    guard = PlausibilityGuard()
    with pytest.raises(ValueError, match=why):
        guard.check(bad)
    assert guard.rejected_count == 1


def test_guard_soc_rate_limit_from_c_rate():
    guard = PlausibilityGuard(max_soc_rate_pct_per_min=2.0, soc_jump_slack_pct=1.0)
    guard.check(reading(50, T0))
    guard.check(reading(52.9, T0 + 60))  # 2 %/min + 1 % slack allows 3
    with pytest.raises(ValueError, match="SOC jumped"):
        guard.check(reading(70, T0 + 120))  # +17 % in a minute: a glitch
    guard.check(reading(54, T0 + 120))  # compared with the last ACCEPTED reading
    with pytest.raises(ValueError, match="before the previous"):
        guard.check(reading(54, T0 + 10))
    assert guard.rejected_count == 2


def test_source_rejects_implausible_and_keeps_status():
    clock = Clock()
    src = http_source(clock)
    with rm.Mocker() as m:
        m.get(URL, json=DOC)
        src.read()
        clock.t += 10
        m.get(URL, json={**DOC, "battery": {"soc": 5, "power": 0}})  # 64.5 -> 5 % in 10 s
        with pytest.raises(BatteryError, match="implausible reading rejected: SOC jumped"):
            src.read()
        m.get(URL, json={**DOC, "battery": {"soc": 180, "power": 0}})
        with pytest.raises(BatteryError, match="outside 0-100"):
            src.read()
    st = src.status()
    assert st.rejected_count == 2 and not st.connected and src.last_reading.soc_pct == 64.5


def test_status_turns_disconnected_when_the_last_reading_ages_out():
    clock = Clock()
    src = http_source(clock)
    with rm.Mocker() as m:
        m.get(URL, json=DOC)
        src.read()
    assert src.status().connected and src.status().last_success_ts == T0
    clock.t += 121  # no read since: the reading is older than max_age_sec
    st = src.status()
    assert not st.connected and st.last_measured_at == T0 and st.error_count == 0
