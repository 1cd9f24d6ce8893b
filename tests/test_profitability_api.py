"""GET /api/profitability through the real app with fake miners, with and without an electricity price service."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from services.profitability import NetworkFigures, ProfitabilityConfig, ProfitabilityService
from tests.conftest import TEST_TOKEN
from tests.fakes import FakeDriver

# The worked example's network (tests/test_profitability_maths.py): 0.0022311064 USD per TH/s per hour.
PER_TH_HOUR = 0.0535465540 / 24


@pytest.fixture
def priced(runtime):
    """Three fake miners (10.0.0.95: 95 TH/s at 1425 W; .20 reports no power; .30 offline), a fixed hashprice."""
    runtime.profitability = ProfitabilityService(ProfitabilityConfig(
        network=NetworkFigures(difficulty=1.10e14, btc_price=95_000, fees_btc=0.02)))
    FakeDriver.behaviour.update({"10.0.0.20": "nopower", "10.0.0.30": "fail"})
    for ip in ("10.0.0.95", "10.0.0.20", "10.0.0.30"):
        runtime.fleet.add(ip, "fake")
    runtime.fleet.poll_round()
    return runtime


class Prices:
    """What services/prices exposes: current(now) -> an object with price_main (and currency)."""

    def __init__(self, price, currency="USD", fail=False):
        self.price, self.currency, self.fail = price, currency, fail

    def current(self, now):
        if self.fail:
            raise RuntimeError("source down")
        return SimpleNamespace(price_main=self.price, currency=self.currency, stale=False, reason="")


def by_ip(body):
    return {m["ip"]: m for m in body["miners"]}


def test_without_a_price_service_break_even_is_shown_and_cost_is_null(client, priced, monkeypatch):
    # monkeypatch puts back whatever Runtime built (services/prices, once it lands) before its shutdown.
    monkeypatch.setattr(priced, "prices", None, raising=False)
    body = client.get("/api/profitability").get_json()
    assert body["source"] == "fixed" and body["currency"] == "USD" and body["error"] is None
    assert body["hashprice"]["per_th_hour"] == pytest.approx(PER_TH_HOUR, abs=1e-8)
    assert body["hashprice"]["source"] == "config" and body["hashprice"]["stale"] is False
    assert body["electricity"] == {"price_main": None, "unit": "USD/kWh", "stale": None, "reason": None,
                                   "error": "no electricity price source"}
    miners = by_ip(body)
    big = miners["10.0.0.95"]
    # 95 TH/s x 0.0022311064 = 0.2119551 USD/h over 1.425 kW = 0.148740 USD/kWh.
    assert big["revenue_per_hour"] == pytest.approx(0.2119551, abs=1e-6)
    assert big["break_even"] == pytest.approx(0.148740, abs=1e-6)
    assert big["cost_per_hour"] is None and big["profit_per_hour"] is None
    assert (big["hashrate_basis"], big["power_basis"], big["mining"]) == ("measured", "measured", True)
    assert miners["10.0.0.20"]["power_w"] is None and miners["10.0.0.20"]["break_even"] is None
    assert miners["10.0.0.30"]["online"] is False and miners["10.0.0.30"]["break_even"] is None
    assert sorted(body["not_counted"]) == ["10.0.0.20", "10.0.0.30"]
    assert body["fleet"]["miners"] == 1 and body["fleet"]["break_even"] == pytest.approx(0.148740, abs=1e-6)


def test_with_a_price_service_cost_and_profit_per_miner_and_fleet(client, priced, monkeypatch):
    monkeypatch.setattr(priced, "prices", Prices(0.10), raising=False)
    body = client.get("/api/profitability").get_json()
    assert body["electricity"]["price_main"] == 0.10 and body["electricity"]["error"] is None
    big = by_ip(body)["10.0.0.95"]
    assert big["cost_per_hour"] == pytest.approx(0.1425)
    assert big["profit_per_hour"] == pytest.approx(0.2119551 - 0.1425, abs=1e-6)
    assert body["fleet"]["cost_per_hour"] == pytest.approx(0.1425)
    assert body["fleet_now"]["profit_per_hour"] == pytest.approx(0.0694551, abs=1e-6)


def test_a_price_in_another_currency_is_not_mixed_in(client, priced, monkeypatch):
    monkeypatch.setattr(priced, "prices", Prices(0.25, currency="GBP"), raising=False)
    body = client.get("/api/profitability").get_json()
    assert body["electricity"]["price_main"] is None and "GBP" in body["electricity"]["error"]
    assert by_ip(body)["10.0.0.95"]["cost_per_hour"] is None


def test_a_failing_price_service_does_not_break_the_route(client, priced, monkeypatch):
    monkeypatch.setattr(priced, "prices", Prices(0.1, fail=True), raising=False)
    reply = client.get("/api/profitability")
    assert reply.status_code == 200
    assert reply.get_json()["electricity"]["error"] == "electricity price unavailable"


def test_not_configured_says_how_to_configure(client, runtime):
    body = client.get("/api/profitability").get_json()
    assert body["hashprice"] is None and "profitability.hashprice" in body["error"]
    assert body["miners"] == [] and body["fleet"]["break_even"] is None


def test_reads_follow_reads_require_login(config, runtime):
    from dataclasses import replace

    from app import create_app

    closed = replace(config, security=replace(config.security, reads_require_login=True))
    app = create_app(config=closed, runtime=runtime, start_background=False, test_config={"TESTING": True})
    client = app.test_client()
    assert client.get("/api/profitability").status_code == 401
    ok = client.get("/api/profitability", headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    assert ok.status_code == 200


def test_runtime_builds_the_service_from_config_and_closes_it(runtime):
    assert isinstance(runtime.profitability, ProfitabilityService)
    assert runtime.profitability.cfg == runtime.config.profitability
    runtime.shutdown()
    assert runtime.profitability._closed


def test_the_started_runtime_refreshes_from_mempool_and_stops_cleanly(config):
    """Runtime.start() schedules the refresh (source mempool): the first reply lands without any request."""
    from dataclasses import replace

    from database.db import Database
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from tests.fakes import fake_factory
    from tests.test_profitability_service import MempoolStub

    stub = MempoolStub()
    try:
        live = replace(config, profitability=ProfitabilityConfig(source="mempool", base_url=stub.base_url,
                                                                 fee_blocks=100, timeout_sec=2))
        db = Database(live.data_path / "fleet.db")
        runtime = Runtime(live, fleet=FleetManager(live, db, driver_factory=fake_factory), db=db)
        runtime.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and runtime.profitability.hashprice() is None:
                time.sleep(0.05)
            hp = runtime.profitability.hashprice()
            assert sorted(stub.paths) == sorted(MempoolStub.ROUTES)
            assert hp is not None and hp.source == "mempool" and hp.stale is False and hp.btc_price == 43753
        finally:
            runtime.shutdown()
        assert runtime.profitability._closed
    finally:
        stub.close()
