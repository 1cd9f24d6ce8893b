"""battery.* changed on the Settings page applies at once (the real app served on 127.86.14.x):
no battery -> an HTTP meter -> MQTT -> no battery again, each time the source rebuilt, the old one
closed (no thread or descriptor left behind), the job added, re-timed or removed, and the controller
holding its stale-data fail-safe until the new source's first reading."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from tests.battery_meter import BatteryMeter
from tests.conftest import TEST_PASSWORD, TEST_TOKEN
from tests.resources import open_fds
from tests.served_app import served_app

HOST = "127.86.14.1"  # this file's loopback range: 127.86.14.0/24 (docs/contracts.md)
METER_HOST = "127.86.14.2"
NO_BROKER = "127.86.14.3"  # nothing listens here: the MQTT source keeps trying
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
CONFIG = (
    "network:\n  subnet: 127.86.14.0/28\n  discover_on_start: false\n"
    "polling:\n  interval_sec: 30\n  timeout_sec: 1\n"
    "battery:\n  source: none\n"
    f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
)


@pytest.fixture
def meter():
    m = BatteryMeter(METER_HOST)
    yield m
    m.close()


@pytest.fixture
def site(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    with served_app(path, HOST, settings_environ={}) as (base, runtime):
        yield base, runtime


def _patch(base: str, body: dict) -> dict:
    reply = requests.patch(base + "/api/settings", headers=AUTH, json=body, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _battery(base: str) -> dict:
    return requests.get(base + "/api/battery", timeout=5).json()


def _wait(what: str, check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _meter_keys(meter: BatteryMeter) -> dict:
    return {"battery.source": "http", "battery.poll_sec": 1, "battery.max_soc_rate_pct_per_min": 100,
            "battery.http.url": meter.url, "battery.http.time_field": "time",
            "battery.http.fields.soc": "soc", "battery.http.fields.pv_w": "pv", "battery.http.fields.load_w": "load",
            "battery.http.fields.battery_w": "battery", "battery.http.fields.grid_w": "grid"}


def _mqtt_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if "paho" in t.name.lower()]


def test_a_new_source_reads_at_once_and_the_old_one_is_closed(site, meter):
    base, runtime = site
    assert runtime.scheduler.get_job("battery") is None and not _battery(base)["configured"]
    keys = requests.get(base + "/api/settings", headers=AUTH, timeout=5).json()["keys"]
    assert keys["battery.source"]["apply"] == "live" and keys["battery.mqtt.host"]["apply"] == "live"

    # No battery -> the meter: applied now, the job added and run, a reading within a second or two.
    meter.set(soc=61.0, pv_w=2100.0)
    reply = _patch(base, _meter_keys(meter))
    assert "battery.source" in reply["applied"] and reply["restart_required"] == []
    assert runtime.config.battery.source == "http" and runtime.scheduler.get_job("battery") is not None
    served = _wait("the meter's reading", lambda: (b := _battery(base))["reading"] and b)
    assert served["configured"] and served["reading"]["soc_pct"] == 61.0 and served["reading"]["source"] == "http"
    assert runtime.autocontrol.has_battery

    # poll_sec alone re-times the job and keeps the source (and its reading).
    source = runtime.battery.source
    _patch(base, {"battery.poll_sec": 4})
    assert runtime.battery.source is source and runtime.battery.source.last_reading is not None
    assert runtime.scheduler.get_job("battery").trigger.interval.total_seconds() == 4
    # Another source's key changes nothing running either.
    _patch(base, {"battery.mqtt.port": 1884})
    assert runtime.battery.source is source

    # The meter -> MQTT (no broker): a new source with no reading yet; the controller's safety sees stale data.
    threads_before, fds_before = _mqtt_threads(), open_fds()
    _patch(base, {"battery.source": "mqtt", "battery.mqtt.host": NO_BROKER, "battery.mqtt.topic": "house/state",
                  "battery.mqtt.fields.soc": "soc", "battery.mqtt.fields.pv_w": "pv",
                  "battery.mqtt.fields.load_w": "load", "battery.mqtt.fields.battery_w": "battery"})
    assert runtime.battery.source is not source and runtime.battery.source.name == "mqtt"
    assert runtime.battery.source.last_reading is None and runtime.autocontrol.reading() is None
    _wait("the MQTT source's thread", lambda: len(_mqtt_threads()) > len(threads_before))
    status = _wait("the failed read", lambda: (b := _battery(base))["status"]["last_error"] and b)
    assert status["configured"] and status["reading"] is None

    # MQTT -> no battery: the job goes, the MQTT thread stops, and nothing is left open.
    reply = _patch(base, {"battery.source": "none"})
    assert "battery.source" in reply["applied"]
    assert runtime.scheduler.get_job("battery") is None and not _battery(base)["configured"]
    assert not runtime.autocontrol.has_battery
    _wait("the MQTT thread to stop", lambda: _mqtt_threads() == threads_before)
    _wait("the MQTT socket to close", lambda: open_fds() <= fds_before)


def test_a_battery_set_later_gets_its_csv_rows_and_a_settings_event(site, meter):
    """A site started without a battery writes battery rows in its CSV log once one is set."""
    base, runtime = site
    runtime.csv_log.write()
    assert runtime.csv_log.flush()["battery"] == 0  # no battery: no battery row
    meter.set(soc=47.5)
    _patch(base, _meter_keys(meter))
    _wait("a reading", lambda: _battery(base)["reading"])
    runtime.csv_log.write()
    assert runtime.csv_log.flush()["battery"] == 1
    day_file = next((runtime.data_dir / "logs").glob("battery-*.csv"))
    assert "47.5" in day_file.read_text()
    events = requests.get(base + "/api/events?limit=20", headers=AUTH, timeout=5).json()
    rows = events["events"] if isinstance(events, dict) else events
    assert any(e["kind"] == "settings" and "battery.source" in e["message"] for e in rows)
