"""services/energy_cost.py: kWh per miner from stored power readings, priced by the slots that applied."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from database.db import Database
from services.config import StorageConfig
from services.energy_cost import CostBook, HourPrices, PriceLog
from services.history import History
from services.prices.model import PriceSlot
from services.prices.zone import Zone

NOV30 = datetime(2026, 11, 30, tzinfo=timezone.utc).timestamp()
DEC1 = NOV30 + 86400
DEC2 = DEC1 + 86400
INTERVAL = 60  # one round a minute: 60 readings of 1000 W = 1 kWh an hour


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "fleet.db")
    with database.write() as conn:
        for i in (1, 2):
            conn.execute("INSERT INTO miners (id, ip, family, algorithm, added_ts) VALUES (?, ?, 'fake', 'sha256d', 0)",
                         (i, f"10.0.0.{i}"))
    yield database
    database.close()


def rounds(history: History, clock: Clock, start: float, end: float) -> None:
    """Miner 1 draws 1000 W every round; miner 2 reports no power (a firmware without a power reading)."""
    t = start
    while t < end:
        clock.t = t
        history.add_round(t, [(1, "sha256d", 100e12, 1000.0, 60.0, 4000), (2, "sha256d", 1e12, None, 50.0, 0)])
        t += INTERVAL
        if int(t) % 3600 == 0:
            clock.t = t + 1
            history.flush()
    clock.t = end
    history.flush()


def slot(start: float, end: float, price: float) -> PriceSlot:
    return PriceSlot(start, end, price * 100, price)  # ct/kWh and EUR/kWh


def book(db, history, log, *, held=(), default=None) -> CostBook:
    return CostBook(history, log, Zone("UTC"), interval_s=lambda: INTERVAL, held=lambda: list(held),
                    default_main=lambda: default)


def test_periods_priced_by_logged_held_and_default_prices(db):
    clock = Clock(NOV30)
    history = History(db, StorageConfig(), settle_s=5, clock=clock)
    rounds(history, clock, NOV30, DEC2 + 6 * 3600)
    log = PriceLog(db)
    # Nov 30 applied: 0.10 EUR/kWh until noon, 0.30 after; Dec 1 has no slot (default 0.25); today's are held.
    assert log.record([slot(NOV30, NOV30 + 12 * 3600, 0.10), slot(NOV30 + 12 * 3600, DEC1, 0.30)], "fixed", DEC1) == 2
    held = [slot(DEC2 + h * 1800, DEC2 + (h + 1) * 1800, 0.50) for h in range(48)]
    report = book(db, history, log, held=held, default=0.25).report(DEC2 + 6 * 3600)

    one = {period: dataclasses.astuple(usage) for period, usage in report[1].items()}
    assert one["last_month"] == pytest.approx((24000.0, 4.8, 24, 0))
    assert one["yesterday"] == pytest.approx((24000.0, 6.0, 24, 0))
    assert one["month"] == pytest.approx((30000.0, 9.0, 30, 0))
    assert one["today"] == pytest.approx((6000.0, 3.0, 6, 0))
    assert 2 not in report  # no power reading at all: no energy, never an invented 0


def test_hours_without_any_price_are_counted_not_costed(db):
    clock = Clock(DEC2)
    history = History(db, StorageConfig(), settle_s=5, clock=clock)
    rounds(history, clock, DEC2, DEC2 + 3 * 3600)
    log = PriceLog(db)
    report = book(db, history, log, held=[slot(DEC2, DEC2 + 3600, 0.40)]).report(DEC2 + 3 * 3600)
    today = report[1]["today"]
    assert (today.wh, today.hours, today.unpriced_h) == pytest.approx((3000.0, 3, 2))
    assert today.cost == pytest.approx(0.40)  # only the priced hour
    assert today.to_dict(priced=True) == {"kwh": 3.0, "cost": 0.4, "unpriced_h": 2}
    assert today.to_dict(priced=False)["cost"] is None


def test_closed_days_are_computed_once_today_every_time(db):
    clock = Clock(DEC1)
    history = History(db, StorageConfig(), settle_s=5, clock=clock)
    rounds(history, clock, DEC1, DEC2 + 2 * 3600)
    calls: list[float] = []
    original = history.power_sums

    def counting(since, bucket):
        calls.append(since)
        return original(since, bucket)

    history.power_sums = counting
    costs = book(db, history, PriceLog(db), default=0.1)
    first = costs.report(DEC2 + 2 * 3600)
    rounds(history, clock, DEC2 + 2 * 3600, DEC2 + 3 * 3600)
    second = costs.report(DEC2 + 3 * 3600)
    assert calls[0] < DEC1 and calls[1:] == [DEC2]  # the second request read today's hours only
    assert first[1]["yesterday"].wh == second[1]["yesterday"].wh == pytest.approx(24000.0)
    assert (first[1]["today"].wh, second[1]["today"].wh) == pytest.approx((2000.0, 3000.0))


def test_price_log_keeps_each_slot_once_after_it_started(db):
    log = PriceLog(db)
    slots = [slot(DEC2 + h * 3600, DEC2 + (h + 1) * 3600, 0.1 * (h + 1)) for h in range(4)]
    assert log.record(slots, "octopus", DEC2 + 1800) == 1  # only the slot that has started: later ones may change
    assert log.record(slots, "octopus", DEC2 + 1900) == 0  # nothing new: no write
    assert log.record(slots, "octopus", DEC2 + 2 * 3600 + 1) == 2
    assert [row[0] for row in log.between(DEC2, DEC2 + 4 * 3600)] == [DEC2, DEC2 + 3600, DEC2 + 7200]
    assert PriceLog(db).record(slots, "octopus", DEC2 + 2 * 3600 + 1) == 0  # a restart reads where it stopped
    assert log.purge(DEC2 + 3600 + 1) == 1


def test_hour_price_weights_slots_and_fills_gaps_with_the_default():
    prices = HourPrices([(0, 900, 0.2), (900, 1800, 0.4)], [], 0.1)
    assert prices.price(0) == pytest.approx((0.2 * 900 + 0.4 * 900 + 0.1 * 1800) / 3600)
    assert prices.price(7200) == pytest.approx(0.1)
    assert HourPrices([], [], None).price(0) is None
    assert HourPrices([(0, 3600, 0.3)], [slot(0, 3600, 0.9)], None).price(0) == pytest.approx(0.3)  # applied wins


def test_api_cost_per_miner(client, runtime):
    """One poll round of a fake miner drawing 30 W: its energy today through the route, no cost without a price."""
    from tests.fakes import FakeDriver  # noqa: F401 (registers the "fake" family)

    runtime.fleet.add("10.0.0.2", "fake")
    runtime.fleet.poll_round()  # one reading, still in the history buffer: counted as a flushed one would be
    body = client.get("/api/energy/cost").get_json()
    assert [p["key"] for p in body["periods"]] == ["today", "yesterday", "month", "last_month"]
    interval = runtime.config.polling.interval_sec
    (miner,) = body["miners"]
    assert miner["ip"] == "10.0.0.2"
    assert miner["today"]["kwh"] == pytest.approx(30.0 * interval / 3600 / 1000, abs=1e-6)  # the reply keeps 6 decimals
    assert miner["today"]["cost"] is None and body["priced"] is False  # prices.source none, no default_price
    assert body["fleet"]["today"]["kwh"] == miner["today"]["kwh"]
    assert miner["yesterday"] == {"kwh": None, "cost": None, "unpriced_h": 0}
