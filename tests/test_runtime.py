"""Runtime: the single-poller lock, scheduler lifecycle, retention and roll-ups."""

from __future__ import annotations

from services.runtime import Runtime


def test_second_process_gets_no_lock_and_runs_read_only(config):
    first = Runtime(config)
    second = Runtime(config)
    try:
        first.start()
        assert not first.read_only and first.scheduler is not None
        second.start()
        assert second.read_only and second.scheduler is None
    finally:
        second.shutdown()
        first.shutdown()
    third = Runtime(config)  # the lock is released at shutdown
    try:
        third.start()
        assert not third.read_only
    finally:
        third.shutdown()


def test_scheduler_jobs_never_overlap(config):
    rt = Runtime(config)
    try:
        rt.start()
        for job in rt.scheduler.get_jobs():
            assert job.max_instances == 1 and job.coalesce is True
        assert {job.id for job in rt.scheduler.get_jobs()} == {"poll", "maintenance", "battery", "autocontrol", "csv_log",
                                                                 "failure_counts", "history_flush", "wal_checkpoint", "alerts",
                                                                 "backup_schedule", "cost_warmup"}
    finally:
        rt.shutdown()
    rt.shutdown()  # twice is harmless


def test_scan_on_start_is_not_skipped_by_an_early_nmminer_broadcast(config, monkeypatch):
    """The demo's NMMiners broadcast at once: a miner they add must not count as 'a fleet is already known'."""
    import services.runtime as runtime_module

    def listener_that_hears_a_broadcast_at_once(cfg, fleet):
        fleet.add("127.80.0.250", "nmminer", source="broadcast")
        return None

    monkeypatch.setattr(runtime_module, "start_nmminer_listener", listener_that_hears_a_broadcast_at_once)
    import dataclasses

    config = dataclasses.replace(config, network=dataclasses.replace(config.network, discover_on_start=True))
    rt = Runtime(config)
    scans = []
    monkeypatch.setattr(rt, "_periodic_discovery", lambda: scans.append(len(rt.fleet.records())))
    try:
        rt.start()
        assert scans == [1]  # the scan ran although the broadcast had already added a miner
    finally:
        rt.shutdown()


def test_cost_days_are_computed_ahead_and_a_failure_is_only_logged(runtime, caplog, monkeypatch):
    """warm_costs (90 s after start, then hourly with maintenance): a cost request then only adds today."""
    import time as clock

    book = runtime.costs
    assert book._days == {}
    runtime.warm_costs()
    periods = book.periods(clock.time())
    closed = book._day_starts(min(since for since, _ in periods.values()), periods["today"][0])
    assert closed and sorted(book._days) == closed  # every closed day since the start of last month

    def broken(now):
        raise OSError("disk I/O error")

    monkeypatch.setattr(book, "report", broken)
    runtime.maintenance()  # hourly: retention, then the warm-up, whose failure stays a log line
    assert "closed days not computed ahead" in caplog.text
