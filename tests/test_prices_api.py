"""GET /api/prices end to end: recorded Octopus pages on a loopback server, the app's route, the runtime's job."""

from __future__ import annotations

import os
import threading
import time

import pytest

from services.config import load_config
from services.fleet import FleetManager
from services.prices.service import PriceService
from services.runtime import Runtime
from database.db import Database
from tests.conftest import BASE_CONFIG, TEST_TOKEN
from tests.fakes import fake_factory, reset_fakes
from tests.test_prices_sources import AGILE, OUTGOING, ReplyServer, octopus_route, ts

NOW = ts("2024-05-07T20:10:00+00:00")


@pytest.fixture
def octopus():
    server = ReplyServer(octopus_route)
    yield server
    server.close()


def write_config(tmp_path, server_url: str, extra: str = "") -> object:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"{BASE_CONFIG}{extra}"
        "prices:\n  source: octopus\n  timezone: Europe/London\n  default_price: 30\n"
        f"  octopus:\n    product: {AGILE}\n    region: J\n    export_product: {OUTGOING}\n    base_url: {server_url}\n")
    return load_config(path, environ={})


@pytest.fixture
def app_runtime(tmp_path, octopus):
    config = write_config(tmp_path, octopus.url)
    reset_fakes()
    db = Database(config.data_path / "fleet.db")
    runtime = Runtime(config, fleet=FleetManager(config, db, driver_factory=fake_factory), db=db)
    runtime.prices.clock = lambda: NOW
    from app import create_app

    app = create_app(config=config, runtime=runtime, start_background=False, test_config={"TESTING": True})
    yield app, runtime
    runtime.shutdown()


def test_get_api_prices_returns_the_recorded_octopus_slots(app_runtime, octopus):
    app, runtime = app_runtime
    client = app.test_client()
    before = client.get("/api/prices").get_json()
    assert before["now"] == 30 and before["stale"] is True and before["slots"] == [] and before["age_sec"] is None
    assert runtime.prices.refresh()
    body = client.get("/api/prices").get_json()
    assert body["source"] == "octopus" and body["currency"] == "GBP" and body["unit"] == "p/kWh"
    assert body["now"] == 20.1915 and body["stale"] is False and body["error"] is None and body["age_sec"] == 0
    assert len(body["slots"]) == 9
    assert {"start": "2024-05-07T21:00:00+01:00", "end": "2024-05-07T21:30:00+01:00", "price": 20.1915} in body["slots"]
    assert {"start": "2026-05-25T14:00:00+01:00", "end": "2026-05-25T14:30:00+01:00", "price": -3.0} in body["slots"]
    assert {"start": "2026-05-25T14:00:00+01:00", "end": "2026-05-25T14:30:00+01:00", "price": -3.0} in body["export"]
    paths = {seen.path for seen in octopus.seen}
    assert paths == {f"/v1/products/{AGILE}/electricity-tariffs/E-1R-{AGILE}-J/standard-unit-rates/",
                     f"/v1/products/{OUTGOING}/electricity-tariffs/E-1R-{OUTGOING}-J/standard-unit-rates/"}


def test_reads_need_login_when_configured(tmp_path, octopus):
    config = write_config(tmp_path, octopus.url, "  reads_require_login: true\n")
    runtime = Runtime(config)
    try:
        from app import create_app

        client = create_app(config=config, runtime=runtime, start_background=False,
                            test_config={"TESTING": True}).test_client()
        assert client.get("/api/prices").status_code == 401
        assert client.get("/api/prices", headers={"Authorization": f"Bearer {TEST_TOKEN}"}).status_code == 200
    finally:
        runtime.shutdown()


def test_the_runtime_job_fetches_and_shutdown_closes(tmp_path, octopus):
    config = write_config(tmp_path, octopus.url)
    runtime = Runtime(config)
    runtime.prices.clock = lambda: NOW  # the recorded slots are from May 2024
    try:
        runtime.start()
        assert "prices" in {job.id for job in runtime.scheduler.get_jobs()}
        deadline = time.monotonic() + 10
        while not runtime.prices.slots() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(runtime.prices.slots()) == 9  # the job runs once at start
        assert (config.data_path / "prices.json").exists()
    finally:
        runtime.shutdown()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_descriptors_and_threads_flat_after_close(tmp_path, octopus):
    config = write_config(tmp_path, octopus.url)
    warm = PriceService(config.prices, None, clock=lambda: NOW)
    warm.refresh()  # imports and the server's first connections happen before counting
    warm.close()
    fds, threads = open_fds(), threading.active_count()
    for _ in range(3):
        svc = PriceService(config.prices, tmp_path, clock=lambda: NOW)
        for _ in range(5):
            assert svc.refresh()
        svc.close()
    deadline = time.monotonic() + 5  # the server's handler threads end once the client hangs up
    while (open_fds() > fds or threading.active_count() > threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds() <= fds and threading.active_count() <= threads, (fds, open_fds(), threads, threading.active_count())
