"""GET /api/history.csv: the bucketed fleet (and battery) or one miner's history as a CSV download."""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from datetime import datetime

import pytest

from services.battery import BatteryReading
from tests.conftest import TEST_TOKEN

BUCKET = 12  # range=1h: 3600 s / 300 points, a whole number of the fixture's 2 s poll interval


@pytest.fixture
def t0():
    """The start of a 1h-range bucket ten minutes ago."""
    return int((time.time() - 600) // BUCKET) * BUCKET


@pytest.fixture
def history(runtime, t0):
    """Two miners (sha256d and scrypt) with samples in two buckets; nothing polled."""
    fleet = runtime.fleet
    a = fleet.add("10.0.0.1", "fake").id
    b = fleet.add("10.0.0.2", "fake", algorithm="scrypt").id
    rounds = [(t0 + 1, [(a, "sha256d", 1e12, 15.0, 60.0, 3000)]), (t0 + 2, [(b, "scrypt", 5e9, None, None, None)]),
              (t0 + 3, [(a, "sha256d", 3e12, 25.0, 62.0, 3000)]),
              (t0 + BUCKET + 1, [(a, "sha256d", 4e12, None, 65.0, 3000)])]
    for at, rows in rounds:
        runtime.history.add_round(at, rows)
    runtime.history.flush()
    return runtime


def battery_sample(runtime, at, soc, grid_w=None):
    reading = BatteryReading(soc_pct=soc, pv_w=1000.0, load_w=400.0, battery_w=-600.0, grid_w=grid_w,
                             measured_at=at, source="scripted")
    runtime.history.add_battery(reading, at)  # left in the buffer: charts read it from there too


def parse(reply):
    return list(csv.reader(io.StringIO(reply.get_data(as_text=True))))


def test_fleet_export_is_a_csv_download_with_battery_columns(client, history, t0):
    battery_sample(history, t0 + 5, 55.0, grid_w=-200.0)
    battery_sample(history, t0 + 2 * BUCKET + 1, 56.5)  # a bucket in which no miner answered

    reply = client.get("/api/history.csv?range=1h")

    assert reply.status_code == 200
    assert reply.mimetype == "text/csv" and reply.mimetype_params.get("charset") == "utf-8"
    disposition = reply.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="history-fleet-1h-{time.strftime("%Y-%m-%d")}.csv"'
    assert reply.headers["X-Bucket-Seconds"] == str(BUCKET)
    header, *rows = parse(reply)
    assert header == ["time", "epoch", "hashrate_hs_scrypt", "hashrate_hs_sha256d", "power_w", "online",
                      "soc_pct", "pv_w", "load_w", "battery_w", "grid_w"]
    assert [row[1] for row in rows] == [str(t0), str(t0 + BUCKET), str(t0 + 2 * BUCKET)]
    for row in rows:
        stamp = datetime.fromisoformat(row[0])
        assert stamp.tzinfo is not None and stamp.timestamp() == int(row[1])  # local time with its offset
    first, second, third = (dict(zip(header, row)) for row in rows)
    # Each miner averaged in the bucket, then summed; b reports no power: not counted as 0.
    assert first["hashrate_hs_sha256d"] == "2000000000000" and first["hashrate_hs_scrypt"] == "5000000000"
    assert (first["power_w"], first["online"]) == ("20", "2")
    assert (first["soc_pct"], first["pv_w"], first["battery_w"], first["grid_w"]) == ("55", "1000", "-600", "-200")
    assert (second["hashrate_hs_sha256d"], second["hashrate_hs_scrypt"], second["power_w"]) == ("4000000000000", "", "")
    assert second["online"] == "1" and second["soc_pct"] == "" and second["grid_w"] == ""
    assert (third["hashrate_hs_sha256d"], third["power_w"], third["online"]) == ("", "", "0")
    assert (third["soc_pct"], third["grid_w"]) == ("56.5", "")  # grid not known: empty, not 0


def test_without_battery_history_there_are_no_battery_columns(client, history):
    header, *rows = parse(client.get("/api/history.csv?range=1h"))
    assert header == ["time", "epoch", "hashrate_hs_scrypt", "hashrate_hs_sha256d", "power_w", "online"]
    assert len(rows) == 2


def test_an_empty_database_gives_the_header_only(client, runtime):
    runtime.fleet.add("10.0.0.1", "fake")
    reply = client.get("/api/history.csv?range=24h")
    assert reply.status_code == 200
    assert parse(reply) == [["time", "epoch", "hashrate_hs_sha256d", "power_w", "online"]]


def test_one_miner(client, history, t0):
    battery_sample(history, t0 + 5, 55.0)
    reply = client.get("/api/history.csv?range=1h&ip=10.0.0.1")
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    assert f'filename="history-10.0.0.1-1h-{time.strftime("%Y-%m-%d")}.csv"' in reply.headers["Content-Disposition"]
    header, *rows = parse(reply)
    assert header == ["time", "epoch", "hashrate_hs", "power_w", "temp_c"]  # no battery in a miner's export
    assert [row[1:] for row in rows] == [[str(t0), "2000000000000", "20", "62"],
                                         [str(t0 + BUCKET), "4000000000000", "", "65"]]
    scrypt = parse(client.get("/api/history.csv?range=1h&ip=10.0.0.2"))
    assert scrypt[1][1:] == [str(t0), "5000000000", "", ""]


@pytest.mark.parametrize("query, status, fragment", [
    ("range=2y", 400, "range must be one of"),
    ("range=", 400, "range must be one of"),
    ("range=1h&ip=10.0.0.300", 400, "IPv4"),
    ("range=1h&ip=10.0.0.99", 404, "no miner with IP 10.0.0.99"),
])
def test_bad_requests_are_json_errors(client, history, query, status, fragment):
    reply = client.get(f"/api/history.csv?{query}")
    assert reply.status_code == status and reply.mimetype == "application/json"
    assert fragment in reply.get_json()["error"]
    assert "Content-Disposition" not in reply.headers


@pytest.mark.parametrize("name", ["1h", "6h", "24h", "3d", "1w", "all"])
def test_every_range_exports(client, history, name):
    history.maintenance()  # long ranges read the 5-minute roll-ups, as the charts do
    reply = client.get(f"/api/history.csv?range={name}")
    assert reply.status_code == 200 and f"-{name}-" in reply.headers["Content-Disposition"]
    header, *rows = parse(reply)
    assert header[:2] == ["time", "epoch"] and rows  # the samples are ten minutes old: in every range
    assert int(reply.headers["X-Bucket-Seconds"]) >= 2


def test_the_default_range_is_24h(client, history):
    reply = client.get("/api/history.csv")
    assert reply.status_code == 200 and "-24h-" in reply.headers["Content-Disposition"]


def test_reads_that_require_login_need_it_here_too(config, history):
    from app import create_app

    locked = dataclasses.replace(config, security=dataclasses.replace(config.security, reads_require_login=True))
    app = create_app(config=locked, runtime=history, start_background=False, test_config={"TESTING": True})
    client = app.test_client()
    for path in ("/api/history.csv?range=1h", "/api/history.csv?range=1h&ip=10.0.0.1"):
        reply = client.get(path)
        assert reply.status_code == 401 and reply.get_json() == {"error": "authentication required"}
        ok = client.get(path, headers={"Authorization": f"Bearer {TEST_TOKEN}"})
        assert ok.status_code == 200 and ok.mimetype == "text/csv"
    assert client.get("/api/history.csv?range=1h",
                      headers={"Authorization": "Bearer wrong-token-123456"}).status_code == 401
