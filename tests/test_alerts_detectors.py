"""The detectors on plain views (site conditions, what is and is not judged), the outbox's digests and the
book's holds; and the database-error, disk and EMS paths of the service on the fake runtime."""

from __future__ import annotations

import dataclasses
import sqlite3
import time

import pytest

from miners.base import BoardStatus, MinerStatus, PoolStatus
from services.alerts.book import AlertBook, Condition
from services.alerts.config import AlertsConfig
from services.alerts.detectors import Detectors, MinerView, SiteView
from services.alerts.outbox import RAISE, Item, Outbox
from services.alerts.service import AlertService, in_quiet_hours
from tests.test_alerts_service import Inbox

IP = "127.84.14.5"


def _kinds(conditions):
    return {(c.kind, c.subject) for c in conditions}


def _status(**kw):
    base = dict(hashrate_hs=100e12, temp_c=70.0, fan_rpm=[5000, 5000],
                boards=[BoardStatus(i, hashrate_hs=33e12, chips=76) for i in range(3)],
                pools=[PoolStatus("stratum+tcp://a:3333", status="Alive", active=True, priority=0),
                       PoolStatus("stratum+tcp://b:3333", status="Alive", priority=1)],
                shares_accepted=1000, shares_rejected=5)
    base.update(kw)
    return MinerStatus(**base)


def _view(status=None, **kw):
    return MinerView(ip=IP, name="S19", online=True, status=status or _status(), limit_c=100.0, **kw)


def test_a_healthy_miner_and_site_raise_nothing_and_are_judged():
    conditions, judged = Detectors(AlertsConfig()).check(time.time(), [_view()], SiteView(
        battery_configured=True, battery_connected=True, disk_used_pct=40.0))
    assert conditions == []
    assert {("miner_offline", IP), ("temp_high", IP), ("fan_failed", IP), ("board_missing", IP),
            ("pool_backup", IP), ("battery_lost", ""), ("disk_full", ""), ("database_error", "")} <= judged


def test_an_unpolled_or_stale_miner_is_not_judged():
    det = Detectors(AlertsConfig())
    _, judged = det.check(time.time(), [MinerView(ip=IP, name="x", online=None)], SiteView())
    assert not any(s == IP for _, s in judged)
    _, judged = det.check(time.time(), [MinerView(ip=IP, name="x", online=True, status=None)], SiteView())
    assert ("temp_high", IP) not in judged and ("miner_offline", IP) in judged


def test_site_conditions():
    site = SiteView(battery_configured=True, battery_connected=False, battery_error="timeout",
                    battery_lost_since=time.time() - 600, emergency=True, emergency_text="SOC 28 %", failsafe=True,
                    controlling=True, disk_used_pct=95.0, disk_text="95 %", db_error="OperationalError: disk I/O error",
                    channels=({"url": "json://x/", "ok": False, "last_error": "refused", "failing_since": 1.0},))
    conditions, _ = Detectors(AlertsConfig()).check(time.time(), [], site)
    assert _kinds(conditions) == {("battery_lost", ""), ("battery_low", ""), ("failsafe", ""), ("disk_full", ""),
                                  ("database_error", ""), ("notify_failed", "json://x/")}
    # The fail-safe only matters while the controller commands the miners.
    conditions, _ = Detectors(AlertsConfig()).check(time.time(), [], dataclasses.replace(site, controlling=False))
    assert ("failsafe", "") not in _kinds(conditions)


def test_a_fan_slot_empty_from_the_start_is_no_failure_but_one_that_stops_is():
    det = Detectors(AlertsConfig())
    now = time.time()
    assert det.check(now, [_view(_status(fan_rpm=[5000, 0, 5000, 0]))], SiteView())[0] == []
    conditions, _ = det.check(now, [_view(_status(fan_rpm=[5000, 0, 0, 0]))], SiteView())
    assert _kinds(conditions) == {("fan_failed", IP)} and "1 of 2 fans stopped" in conditions[0].message


def test_a_sleeping_or_commanded_miner_is_no_hashrate_drop():
    det = Detectors(AlertsConfig())
    now = time.time()
    low = _status(hashrate_hs=40e12)
    assert det.check(now, [_view(low, avg_1h_hs=100e12, last_command_ts=now - 600)], SiteView())[0] == []
    assert det.check(now, [_view(dataclasses.replace(low, state="sleeping"), avg_1h_hs=100e12)], SiteView())[0] == []
    conditions, _ = det.check(now, [_view(low, avg_1h_hs=100e12)], SiteView())
    assert _kinds(conditions) == {("hashrate_low", IP)} and "40 % of" in conditions[0].message
    # The average sinks towards the lower rate; the drop is still judged against the one from before it.
    conditions, _ = det.check(now + 600, [_view(low, avg_1h_hs=60e12)], SiteView())
    assert _kinds(conditions) == {("hashrate_low", IP)}


def test_hold_time_and_unknown_is_no_news():
    book = AlertBook()
    c = Condition("temp_high", IP, "105 C", hold_s=120)
    assert not book.observe(0, [c], set())
    assert not book.observe(60, [], set())  # not judged (stale reading): the pending condition stays
    assert [p.kind for p in book.observe(120, [c], set()).raised] == ["temp_high"]
    assert not book.observe(200, [], set())  # still not judged: the problem stays active
    assert [p.kind for p in book.observe(260, [], {("temp_high", IP)}).resolved] == ["temp_high"]


def test_digest_lists_at_most_25_and_counts_the_rest():
    box = Outbox(digest_at=5)
    for i in range(30):
        box.add(Item(f"miner_offline:10.0.0.{i}", "miner_offline", RAISE, f"S9 (10.0.0.{i})", "no answer",
                     f"http://pi:5000/#miner=10.0.0.{i}"))
    [message] = box.release(False, lambda kind: False)
    assert message.title == "30 miners offline: switch or power?"
    assert message.body.count("\n- ") + message.body.startswith("- ") == 25 and "and 5 more" in message.body
    assert message.body.endswith("http://pi:5000/")


def test_quiet_hours_span_midnight():
    def at(hour, minute=0):
        return time.mktime((2026, 12, 7, hour, minute, 0, 0, 0, -1))

    window = (22 * 60, 7 * 60)
    assert in_quiet_hours(window, at(23)) and in_quiet_hours(window, at(6, 59))
    assert not in_quiet_hours(window, at(7)) and not in_quiet_hours(window, at(12))
    assert not in_quiet_hours(None, at(23))


def test_database_write_error_is_an_alert_until_a_write_works(runtime):
    alerts = AlertService(runtime.config, runtime, notifier=Inbox())
    with pytest.raises(sqlite3.OperationalError):
        with runtime.db.write() as conn:
            conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert runtime.db.health.error and "no_such_table" in runtime.db.health.error
    changes = alerts.tick()  # its own writes (the alert event) succeed: the next check resolves it
    assert [p.kind for p in changes.raised] == ["database_error"]
    assert [p.kind for p in alerts.tick().resolved] == ["database_error"]


def test_disk_nearly_full(runtime, monkeypatch):
    alerts = AlertService(runtime.config, runtime, notifier=Inbox())
    monkeypatch.setattr("services.alerts.service._disk", lambda path: (97.0, "97 % of 32.0 GB used"))
    assert [p.kind for p in alerts.tick().raised] == ["disk_full"]
    assert alerts.alerts()[0]["message"] == "97 % of 32.0 GB used"


def test_ems_dispatch_started_ended_and_refused_are_notices(runtime):
    inbox = Inbox()
    alerts = AlertService(runtime.config, runtime, notifier=inbox)
    ems = runtime.autocontrol.ems
    alerts.tick()
    ems.record_call("POST /api/activate", '{"activationPowerInKw": 5}', 409, False, "battery below its floor")
    alerts.tick()
    assert [m.title for m in inbox.sent] == ["EMS call refused"]
    assert "battery below its floor" in inbox.sent[0].body


def test_ems_dispatch_start_and_end_are_one_notice_each(runtime):
    inbox = Inbox()
    alerts = AlertService(runtime.config, runtime, notifier=inbox)
    ems = runtime.autocontrol.ems
    alerts.tick()
    ems.activate(3.0, 10.0)
    alerts.tick()
    alerts.tick()
    ems.deactivate()
    alerts.tick()
    bodies = [m.body for m in inbox.sent if m.title == "EMS dispatch"]
    assert len(bodies) == 2 and bodies[0].startswith("started") and bodies[1].startswith("ended")
