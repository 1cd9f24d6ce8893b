"""PriceService: stale fallback, backoff, the refresh job's timing, prices.json, secrets kept out."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest

from services.prices import cache
from services.prices.config import FixedConfig, PricesConfig, TibberConfig, TouPeriod
from services.prices.model import make_slots
from services.prices.service import BACKOFF_FIRST_S, PriceService
from services.prices.sources.base import Fetched, PriceError
from services.prices.zone import Zone
from tests.test_prices_sources import ReplyServer

T0 = 1715112600.0  # 2024-05-07 20:10 UTC
SLOTS = make_slots([(T0 - 600, T0 + 1200, 20.0), (T0 + 1200, T0 + 3000, -3.0)], "p/kWh")
OCTOPUS = PricesConfig(source="octopus", default_price=25.0, timezone="Europe/London")


class Clock:
    """A settable clock."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedSource:
    """Answers from a list: a Fetched, or an exception to raise."""

    name = "octopus"

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.closed = False

    def fetch(self, now: float, window: tuple[float, float]) -> Fetched:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        self.closed = True


GOOD = Fetched(SLOTS, "p/kWh", "GBP")


def service(cfg=OCTOPUS, *answers, clock=None, data_dir=None):
    return PriceService(cfg, data_dir, source=ScriptedSource(*(answers or (GOOD,))), clock=clock or Clock())


def test_before_any_fetch_the_default_price_is_stale_and_says_so():
    svc = service()
    now = svc.current(T0)
    assert (now.price, now.price_main, now.stale, now.unit, now.currency) == (25.0, pytest.approx(0.25), True, "p/kWh", "GBP")
    assert "no prices fetched yet" in now.reason and "default_price 25" in now.reason


def test_a_covered_now_is_fresh_then_stale_when_the_slots_run_out():
    clock = Clock()
    svc = service(clock=clock)
    assert svc.refresh() is True
    now = svc.current(T0)
    assert (now.price, now.stale, now.slot_start, now.slot_end, now.source) == (20.0, False, T0 - 600, T0 + 1200, "octopus")
    assert svc.current(T0 + 1300).price == -3.0  # negative prices are prices
    late = svc.current(T0 + 4000)
    assert late.stale and late.price == 25.0 and "no published price covers this time" in late.reason


def test_no_default_means_no_price_never_zero():
    svc = service(replace(OCTOPUS, default_price=None))
    svc.refresh()
    late = svc.current(T0 + 4000)
    assert late.stale and late.price is None and late.price_main is None and "no default_price" in late.reason


def test_prices_older_than_max_age_are_stale_even_inside_a_slot():
    cfg = replace(OCTOPUS, refresh_min=5, max_age_min=10)
    slots = make_slots([(T0 - 600, T0 + 7200, 20.0)], "p/kWh")
    svc = service(cfg, Fetched(slots, "p/kWh", "GBP"))
    svc.refresh()
    assert not svc.current(T0 + 599).stale
    old = svc.current(T0 + 601)
    assert old.stale and old.price == 25.0 and "over max_age_min 10" in old.reason


def test_a_failed_refresh_keeps_the_slots_and_reports_the_error():
    clock = Clock()
    svc = service(OCTOPUS, GOOD, PriceError("octopus: HTTP 503"), clock=clock)
    svc.refresh()
    clock.now += 1800
    assert svc.refresh() is False
    assert svc.current(T0 + 60).price == 20.0  # still covered and young enough
    status = svc.status(T0 + 60)
    assert status["error"] == "octopus: HTTP 503" and status["stale"] is False
    assert "last error: octopus: HTTP 503" in svc.current(T0 + 4000).reason


def test_backoff_doubles_up_to_refresh_min_and_success_resets_it():
    clock = Clock()
    svc = service(replace(OCTOPUS, refresh_min=10), PriceError("octopus: unreachable (ConnectTimeout)"), clock=clock)
    assert svc.due(clock.now)
    waits = []
    for _ in range(6):
        svc.refresh()
        waits.append(svc.retry_in(clock.now))
        assert not svc.due(clock.now + waits[-1] - 1) and svc.due(clock.now + waits[-1])
        clock.now += waits[-1]
    assert waits == [BACKOFF_FIRST_S, 2 * BACKOFF_FIRST_S, 4 * BACKOFF_FIRST_S, 8 * BACKOFF_FIRST_S, 600, 600]
    svc.source.answers = [GOOD]
    svc.refresh()
    assert svc.retry_in(clock.now) == 600 and svc.status(clock.now)["error"] is None


def test_tick_fetches_only_when_due():
    clock = Clock()
    svc = service(clock=clock)
    svc.tick()
    svc.tick()
    assert svc.source.calls == 1
    clock.now += 30 * 60
    svc.tick()
    assert svc.source.calls == 2


def test_an_unexpected_parser_error_counts_as_a_failure(caplog):
    svc = service(OCTOPUS, KeyError("boom"))
    with caplog.at_level(logging.ERROR):
        assert svc.refresh() is False
    assert svc.status(T0)["error"] == "octopus: unexpected KeyError" and svc.retry_in(T0) == BACKOFF_FIRST_S


def test_currency_mismatch_is_an_error():
    svc = service(replace(OCTOPUS, source="tibber", currency="EUR", tibber=TibberConfig(token="t")),
                  Fetched(make_slots([(T0, T0 + 3600, 1.7)], "NOK/kWh"), "NOK/kWh", "NOK"))
    assert svc.refresh() is False
    assert svc.status(T0)["error"] == "tibber: prices are in NOK, prices.currency says EUR"


def test_export_price_fills_slots_without_one():
    svc = service(replace(OCTOPUS, export_price=15.0))
    svc.refresh()
    assert svc.current(T0).export_price_main == pytest.approx(0.15)
    assert svc.current(T0 + 9999).export_price_main == pytest.approx(0.15)  # the default applies when stale too
    assert [e["price"] for e in svc.status(T0)["export"]] == pytest.approx([15.0, 15.0])


def test_cheapest_is_false_when_stale():
    svc = service()
    svc.refresh()
    assert svc.cheapest(T0, 0.5) is False  # 20.0 is dearer than -3.0
    assert svc.cheapest(T0 + 1300, 0.5) is True
    assert svc.cheapest(T0 + 9999, 24) is False


def test_status_is_the_api_body():
    svc = service()
    svc.refresh()
    body = svc.status(T0 + 5)
    assert body["source"] == "octopus" and body["currency"] == "GBP" and body["unit"] == "p/kWh"
    assert body["now"] == 20.0 and body["stale"] is False and body["age_sec"] == 5 and body["error"] is None
    assert body["default_price"] == 25.0 and body["timezone"] == "Europe/London"
    assert body["slots"][0] == {"start": "2024-05-07T21:00:00+01:00", "end": "2024-05-07T21:30:00+01:00", "price": 20.0}
    assert "export" not in body


def test_prices_json_survives_a_restart_and_is_written_only_on_change(tmp_path, monkeypatch):
    writes = []
    real_save = cache.save
    monkeypatch.setattr(cache, "save", lambda path, saved: (writes.append(saved.fetched_at), real_save(path, saved)))
    clock = Clock()
    first = service(clock=clock, data_dir=tmp_path)
    first.refresh()
    clock.now += 1800
    first.refresh()  # same slots: no write
    assert len(writes) == 1
    stored = json.loads((tmp_path / "prices.json").read_text())
    assert stored["unit"] == "p/kWh" and len(stored["slots"]) == 2
    second = PriceService(OCTOPUS, tmp_path, source=ScriptedSource(PriceError("octopus: HTTP 503")), clock=Clock(T0 + 60))
    assert second.current(T0 + 60).price == 20.0 and second.status(T0 + 60)["age_sec"] == 60
    other = PriceService(replace(OCTOPUS, octopus=replace(OCTOPUS.octopus, region="A")), tmp_path,
                         source=ScriptedSource(GOOD), clock=Clock())
    assert other.slots() == []  # another region: the file is not its prices


def test_a_broken_prices_json_is_ignored(tmp_path, caplog):
    (tmp_path / "prices.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        svc = service(data_dir=tmp_path)
    assert svc.slots() == [] and "prices.json ignored" in caplog.text


def test_fixed_source_needs_no_network():
    cfg = PricesConfig(source="fixed", currency="GBP", unit="p/kWh", timezone="Europe/London",
                       fixed=FixedConfig(price=24.5, periods=(TouPeriod(price=35.0, hours="16:00-19:00", days=("mon-fri",)),)))
    svc = PriceService(cfg, None, clock=Clock())
    assert svc.configured and svc.refresh()
    zone = Zone("Europe/London")
    assert svc.current(T0).price == 24.5  # 21:10 local
    assert svc.current(T0 - 3 * 3600).price == 35.0  # 18:10 local on a Tuesday
    assert svc.status(T0)["slots"][0]["start"] == zone.iso(zone.day_start(T0))


def test_none_source_has_no_job_and_no_price():
    svc = PriceService(PricesConfig(), None)
    assert not svc.configured and svc.refresh() is False
    now = svc.current(T0)
    assert now.stale and now.price is None and "prices.source: none" in now.reason
    svc.close()


def test_tibber_token_never_reaches_logs_status_or_file(tmp_path, caplog):
    token = "tibber-token-do-not-leak-42"
    server = ReplyServer(lambda seen: (401, {"errors": [{"message": "unauthorized"}]}))
    cfg = PricesConfig(source="tibber", tibber=TibberConfig(token=token, base_url=server.url))
    svc = PriceService(cfg, tmp_path, clock=Clock())
    try:
        with caplog.at_level(logging.DEBUG):
            assert svc.refresh() is False
            ok = PriceService(replace(cfg, tibber=replace(cfg.tibber, base_url=server.url)), tmp_path,
                              source=ScriptedSource(Fetched(make_slots([(T0, T0 + 3600, 1.7)], "NOK/kWh"), "NOK/kWh", "NOK")),
                              clock=Clock())
            ok.refresh()
    finally:
        svc.close()
        server.close()
    assert server.seen[0].headers["Authorization"] == f"Bearer {token}"
    assert svc.status(T0)["error"] == "tibber: HTTP 401"
    assert token not in caplog.text and token not in json.dumps(svc.status(T0))
    assert token not in (tmp_path / "prices.json").read_text()
