"""CSV logs in DATA_DIR/logs: rows, one header per file, empty cells, daily rotation, clean-up, errors."""

from __future__ import annotations

import csv
import dataclasses
import errno
import logging
import os
from datetime import date, datetime, timedelta, timezone

import pytest

from miners.base import MinerStatus
from services import csv_log
from services.battery import BatteryReading, SourceStatus
from services.csv_log import BATTERY_COLUMNS, MINER_COLUMNS, CsvLogger
from services.miner_state import MinerRecord
from tests.conftest import replace_config
from tests.fakes import FakeDriver

TZ = timezone(timedelta(hours=2))  # a fixed "local" zone: the tests do not depend on the machine's


def at(text: str) -> float:
    """Epoch seconds of a local (TZ) time like '2024-05-01 12:00:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


class Clock:
    def __init__(self, text: str):
        self.now = at(text)

    def __call__(self) -> float:
        return self.now


def record(ip: str, *, online: bool | None = True, status: MinerStatus | None = None, **kw) -> MinerRecord:
    return MinerRecord(id=1, ip=ip, family="fake", port=None, driver=FakeDriver(ip), online=online,
                       status=status, **kw)


class Source:
    """What the logger reads of a battery source: last_reading and status()."""

    def __init__(self, reading=None, connected=True, error=""):
        self.last_reading = reading
        self._status = SourceStatus(source="scripted", connected=connected, last_success_ts=None,
                                    last_error=error, max_age_sec=120, rejected_count=0, error_count=0)

    def status(self):
        return self._status


def rows_of(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def make(tmp_path, records=(), source=None, clock=None, keep_days=30):
    return CsvLogger(tmp_path / "logs", keep_days=keep_days, miners=lambda: list(records),
                     battery=(lambda: source) if source is not None else None,
                     clock=clock or Clock("2024-05-01 12:00:00"), tz=TZ)


def test_miner_rows_carry_readings_and_leave_unknowns_empty(tmp_path):
    online = record("10.0.0.1", name="rack-1", last_seen_ts=at("2024-05-01 11:59:58"),
                    status=MinerStatus(hashrate_hs=1.1e14, expected_hashrate_hs=1.2e14, power_w=3250.5, temp_c=71.25,
                                       fan_rpm=[5400, 5520], model="Whatsminer M30S", frequency_mhz=None,
                                       uptime_s=3600, state="mining"))
    no_power = record("10.0.0.2", status=MinerStatus(hashrate_hs=5e11, power_w=None, temp_c=None, fan_rpm=[]))
    offline = record("10.0.0.3", online=False, last_error="connection refused",
                     status=MinerStatus(hashrate_hs=9e13, power_w=3000.0, temp_c=80.0, fan_rpm=[6000], model="S19"))
    never = record("10.0.0.4", online=None, model="from-config")
    logger = make(tmp_path, [online, no_power, offline, never])

    assert logger.write() == {"miners": 4, "battery": 0}

    path = tmp_path / "logs" / "miners-2024-05-01.csv"
    header, *rows = rows_of(path)
    assert tuple(header) == MINER_COLUMNS
    a, b, c, d = (dict(zip(header, row)) for row in rows)
    assert a["time"] == "2024-05-01T12:00:00+02:00" and a["epoch"] == str(int(at("2024-05-01 12:00:00")))
    assert (a["ip"], a["name"], a["family"], a["model"], a["algorithm"]) == (
        "10.0.0.1", "rack-1", "fake", "Whatsminer M30S", "sha256d")
    assert (a["online"], a["status"], a["state"]) == ("1", "online", "mining")
    assert a["hashrate_hs"] == "110000000000000" and a["expected_hashrate_hs"] == "120000000000000"
    assert (a["power_w"], a["temp_c"], a["fan_rpm_max"], a["fan_rpm"]) == ("3250.5", "71.25", "5520", "5400;5520")
    assert a["uptime_s"] == "3600" and a["last_seen_epoch"] == str(int(at("2024-05-01 11:59:58")))
    assert a["frequency_mhz"] == "" and a["mode"] == "" and a["power_limit_w"] == "" and a["error"] == ""
    # Unknown is empty, never 0.
    assert (b["power_w"], b["temp_c"], b["fan_rpm_max"], b["fan_rpm"]) == ("", "", "", "")
    assert b["hashrate_hs"] == "500000000000"
    # Offline: the last good reading is not presented as current; identity and the error stay.
    assert (c["online"], c["status"], c["model"], c["error"]) == ("0", "offline", "S19", "connection refused")
    assert (c["hashrate_hs"], c["power_w"], c["temp_c"], c["fan_rpm_max"], c["state"]) == ("", "", "", "", "")
    # Not polled yet: online unknown.
    assert (d["online"], d["status"], d["model"], d["last_seen_epoch"]) == ("", "unknown", "from-config", "")


def test_battery_row_has_the_reading_age_and_source_status(tmp_path):
    clock = Clock("2024-05-01 12:00:00")
    reading = BatteryReading(soc_pct=55.5, pv_w=1200.0, load_w=400.0, battery_w=-800.0, grid_w=None,
                             measured_at=clock.now - 12.5, source="eg4", measured_at_from="device_change")
    logger = make(tmp_path, source=Source(reading), clock=clock)
    assert logger.write() == {"miners": 0, "battery": 1}
    assert not (tmp_path / "logs" / "miners-2024-05-01.csv").exists()  # no miners, no empty file

    header, row = rows_of(tmp_path / "logs" / "battery-2024-05-01.csv")
    assert tuple(header) == BATTERY_COLUMNS
    cells = dict(zip(header, row))
    assert (cells["soc_pct"], cells["pv_w"], cells["load_w"], cells["battery_w"]) == ("55.5", "1200", "400", "-800")
    assert cells["grid_w"] == ""  # not known: empty, not 0
    assert cells["measured_at"] == "2024-05-01T11:59:47+02:00" and cells["age_s"] == "12.5"
    assert cells["measured_at_from"] == "device_change" and cells["source"] == "scripted"
    assert cells["connected"] == "1" and cells["error"] == ""


def test_battery_without_a_reading_is_a_row_of_empty_cells_and_the_error(tmp_path):
    logger = make(tmp_path, source=Source(None, connected=False, error="portal login failed"))
    logger.write()
    header, row = rows_of(tmp_path / "logs" / "battery-2024-05-01.csv")
    cells = dict(zip(header, row))
    for key in ("soc_pct", "pv_w", "load_w", "battery_w", "grid_w", "measured_at", "measured_at_epoch", "age_s"):
        assert cells[key] == "", key
    assert cells["connected"] == "0" and cells["error"] == "portal login failed"


def test_text_that_a_spreadsheet_would_run_as_a_formula_is_defused(tmp_path):
    evil = record("10.0.0.1", name="=HYPERLINK(\"http://x\")", status=MinerStatus(model="@SUM(A1)"))
    make(tmp_path, [evil]).write()
    _, row = rows_of(tmp_path / "logs" / "miners-2024-05-01.csv")
    cells = dict(zip(MINER_COLUMNS, row))
    assert cells["name"] == "'=HYPERLINK(\"http://x\")" and cells["model"] == "'@SUM(A1)"
    assert csv_log.csv_cell(-800.0) == "-800"  # numbers are not text: a negative stays a number


def test_header_once_across_intervals_and_a_restart_mid_day(tmp_path):
    miners = [record("10.0.0.1", status=MinerStatus(hashrate_hs=1e12))]
    clock = Clock("2024-05-01 08:00:00")
    first = make(tmp_path, miners, Source(None), clock)
    first.write()
    clock.now += 60
    first.write()
    restarted = make(tmp_path, miners, Source(None), clock)  # the app restarts the same day
    clock.now += 60
    restarted.write()
    for kind, columns in (("miners", MINER_COLUMNS), ("battery", BATTERY_COLUMNS)):
        lines = rows_of(tmp_path / "logs" / f"{kind}-2024-05-01.csv")
        assert [tuple(line) for line in lines].count(columns) == 1
        assert tuple(lines[0]) == columns and len(lines) == 4


def test_an_existing_empty_file_gets_the_header(tmp_path):
    (tmp_path / "logs").mkdir()
    path = tmp_path / "logs" / "miners-2024-05-01.csv"
    path.touch()
    make(tmp_path, [record("10.0.0.1", status=MinerStatus())]).write()
    lines = rows_of(path)
    assert tuple(lines[0]) == MINER_COLUMNS and len(lines) == 2


def test_a_file_without_our_header_is_moved_aside_not_mixed(tmp_path, caplog):
    (tmp_path / "logs").mkdir()
    path = tmp_path / "logs" / "miners-2024-05-01.csv"
    path.write_text("2024-05-01T07:00:00+02:00,1714539600,10.0.0.1\n")  # rows without a header
    (tmp_path / "logs" / "miners-2024-05-01.1.csv").write_text("taken\n")
    with caplog.at_level(logging.WARNING, logger="services.csv_log"):
        make(tmp_path, [record("10.0.0.1", status=MinerStatus())]).write()
    assert (tmp_path / "logs" / "miners-2024-05-01.2.csv").read_text().startswith("2024-05-01T07:00:00")
    assert (tmp_path / "logs" / "miners-2024-05-01.1.csv").read_text() == "taken\n"
    lines = rows_of(path)
    assert tuple(lines[0]) == MINER_COLUMNS and len(lines) == 2
    assert "moved to miners-2024-05-01.2.csv" in caplog.text


def test_a_line_cut_by_a_crash_is_ended_before_new_rows(tmp_path):
    (tmp_path / "logs").mkdir()
    path = tmp_path / "logs" / "miners-2024-05-01.csv"
    path.write_text(",".join(MINER_COLUMNS) + "\n2024-05-01T07:00:00+02:00,17145")  # power lost mid-row
    make(tmp_path, [record("10.0.0.1", status=MinerStatus())]).write()
    lines = rows_of(path)
    assert len(lines) == 3 and lines[1] == ["2024-05-01T07:00:00+02:00", "17145"]
    assert lines[2][2] == "10.0.0.1"


def test_rotation_at_local_midnight(tmp_path):
    clock = Clock("2024-05-01 23:59:30")
    logger = make(tmp_path, [record("10.0.0.1", status=MinerStatus(hashrate_hs=1e12))], Source(None), clock)
    logger.write()
    clock.now += 60  # 00:00:30 the next day
    logger.write()
    for kind in ("miners", "battery"):
        before = rows_of(tmp_path / "logs" / f"{kind}-2024-05-01.csv")
        after = rows_of(tmp_path / "logs" / f"{kind}-2024-05-02.csv")
        assert len(before) == 2 and len(after) == 2
        assert before[1][0] == "2024-05-01T23:59:30+02:00" and after[1][0] == "2024-05-02T00:00:30+02:00"
        assert after[0] == before[0]  # each day's file starts with the header
    # The date is the LOCAL date: 23:59:30+02:00 is 21:59:30 UTC, 00:00:30+02:00 is still May 1 in UTC.
    assert not (tmp_path / "logs" / "miners-2024-05-03.csv").exists()


def test_old_files_are_deleted_only_when_they_match_our_pattern(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    today = date(2024, 5, 31)
    old = (today - timedelta(days=4)).isoformat()  # 2024-05-27
    kept = (today - timedelta(days=3)).isoformat()  # exactly keep_days back: kept
    names = [f"miners-{old}.csv", f"battery-{old}.csv", f"miners-{old}.1.csv", f"miners-{kept}.csv",
             f"battery-{kept}.csv", f"notes-{old}.csv", f"miners-{old}.csv.gz", f"miners-{old}.txt",
             "miners-2024-13-45.csv", "fleet.db"]
    for name in names:
        (logs / name).write_text("x\n")
    (logs / f"battery-{old}-dir.csv").mkdir()
    os.mkdir(logs / "sub")
    (logs / "sub" / f"miners-{old}.csv").write_text("x\n")  # not in our directory: not ours

    logger = make(tmp_path, clock=Clock("2024-05-31 12:00:00"), keep_days=3)
    removed = logger.purge(today)
    assert removed == sorted([f"battery-{old}.csv", f"miners-{old}.1.csv", f"miners-{old}.csv"])
    left = sorted(p.name for p in logs.iterdir())
    assert left == sorted(set(names) - set(removed) | {f"battery-{old}-dir.csv", "sub"})
    assert (logs / "sub" / f"miners-{old}.csv").exists()


def test_write_purges_once_a_day(tmp_path, monkeypatch):
    clock = Clock("2024-05-31 12:00:00")
    logger = make(tmp_path, [record("10.0.0.1", status=MinerStatus())], clock=clock, keep_days=1)
    calls = []
    real = logger.purge
    monkeypatch.setattr(logger, "purge", lambda day=None: calls.append(day) or real(day))
    logger.write()
    (tmp_path / "logs" / "miners-2024-05-29.csv").write_text("x\n")
    clock.now += 60
    logger.write()  # same day: no second scan of the directory
    assert calls == [date(2024, 5, 31)] and (tmp_path / "logs" / "miners-2024-05-29.csv").exists()
    clock.now += 86400
    logger.write()
    assert calls[-1] == date(2024, 6, 1)
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["miners-2024-05-31.csv", "miners-2024-06-01.csv"]


def test_an_unusable_directory_is_logged_once_and_never_raises(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be\n")  # fails for root too, unlike chmod
    logger = CsvLogger(blocker / "logs", keep_days=30, miners=lambda: [record("10.0.0.1", status=MinerStatus())],
                       battery=lambda: Source(None), clock=Clock("2024-05-01 12:00:00"), tz=TZ)
    with caplog.at_level(logging.ERROR, logger="services.csv_log"):
        assert logger.write() == {"miners": 0, "battery": 0}
        assert logger.write() == {"miners": 0, "battery": 0}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "logs directory" in errors[0].getMessage()


def test_disk_full_is_logged_once_per_distinct_error_and_writing_resumes(tmp_path, caplog, monkeypatch):
    clock = Clock("2024-05-01 12:00:00")
    logger = make(tmp_path, [record("10.0.0.1", status=MinerStatus())], Source(None), clock)
    failure = [OSError(errno.ENOSPC, "No space left on device")]

    def write(fd, data):
        if failure:
            raise failure[0]
        return real_write(fd, data)

    real_write = os.write
    monkeypatch.setattr(csv_log.os, "write", write)
    with caplog.at_level(logging.INFO, logger="services.csv_log"):
        for _ in range(3):
            assert logger.write() == {"miners": 0, "battery": 0}
            clock.now += 60
        failure[0] = PermissionError(errno.EACCES, "Permission denied")
        logger.write()
        clock.now += 60
        failure.clear()
        assert logger.write() == {"miners": 1, "battery": 1}
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 4  # (no space, permission) x (miners, battery): each distinct error once
    assert sum("No space left" in e for e in errors) == 2 and sum("Permission denied" in e for e in errors) == 2
    assert "works again" in caplog.text
    lines = rows_of(tmp_path / "logs" / "miners-2024-05-01.csv")
    assert tuple(lines[0]) == MINER_COLUMNS and len(lines) == 2  # the failed writes left nothing behind


def test_a_failing_battery_source_does_not_stop_the_miner_rows(tmp_path, caplog):
    class Broken:
        last_reading = None

        def status(self):
            raise RuntimeError("source bug")

    logger = make(tmp_path, [record("10.0.0.1", status=MinerStatus())], Broken())
    with caplog.at_level(logging.ERROR, logger="services.csv_log"):
        assert logger.write() == {"miners": 1, "battery": 0}
    assert "battery log failed" in caplog.text


def test_files_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        make(tmp_path, [record("10.0.0.1", status=MinerStatus())], Source(None)).write()
    finally:
        os.umask(old)
    for name in ("miners-2024-05-01.csv", "battery-2024-05-01.csv"):
        assert (tmp_path / "logs" / name).stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "logs").stat().st_mode & 0o007 == 0


def test_local_iso_uses_the_machine_zone_with_its_offset():
    text = csv_log.local_iso(1714557600.0)
    assert datetime.fromisoformat(text).timestamp() == 1714557600.0 and datetime.fromisoformat(text).tzinfo
    assert csv_log.local_iso(None) == ""


# --- wired into the runtime -------------------------------------------------------------------
def _with_interval(config, seconds):
    return replace_config(config, storage=dataclasses.replace(config.storage, csv_interval_sec=seconds))


def test_runtime_schedules_the_log_and_it_reads_memory_only(config):
    from database.db import Database
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from tests.fakes import fake_factory, reset_fakes

    reset_fakes()
    config = _with_interval(config, 30)
    db = Database(config.data_path / "fleet.db")
    rt = Runtime(config, fleet=FleetManager(config, db, driver_factory=fake_factory), db=db)
    try:
        rt.fleet.add("10.0.0.1", "fake")
        rt.fleet.poll_round()
        rt.start()
        job = rt.scheduler.get_job("csv_log")
        assert job is not None and job.trigger.interval.total_seconds() == 30
        rt.scheduler.shutdown(wait=True)  # the start-up poll round may be running: let it end first
        rt.scheduler = None
        reads = dict(FakeDriver.reads)
        assert rt.csv_log.append_every_s == 600  # storage.csv_append_sec: rows wait in memory
        assert rt.csv_log.write()["miners"] == 0
        assert rt.csv_log.flush()["miners"] == 1
        assert FakeDriver.reads == reads  # no device was asked for anything
        (path,) = (config.data_path / "logs").glob("miners-*.csv")
        assert rows_of(path)[1][2] == "10.0.0.1"
    finally:
        rt.shutdown()


def test_no_log_job_when_the_interval_is_zero_or_the_process_is_read_only(config):
    from services.runtime import Runtime

    off = Runtime(_with_interval(config, 0))
    try:
        off.start()
        assert off.scheduler.get_job("csv_log") is None and off.csv_log is None
        second = Runtime(_with_interval(config, 30))  # another process: no lock, no jobs, no log
        try:
            second.start()
            assert second.read_only and second.csv_log is None
        finally:
            second.shutdown()
    finally:
        off.shutdown()


@pytest.mark.parametrize("value, expected", [(None, ""), (float("nan"), ""), (True, "1"), (False, "0"), (0, "0"),
                                             (0.0, "0"), (12.3456, "12.346"), (1e15, "1000000000000000"),
                                             ("ok", "ok"), ("-x", "'-x")])
def test_cells(value, expected):
    assert csv_log.csv_cell(value) == expected


def test_rows_wait_in_memory_and_are_appended_together(tmp_path, monkeypatch):
    """append_every_s: one open/write/close per kind for many intervals (fewer, larger writes on an SD card)."""
    clock = Clock("2024-05-01 23:50:00")
    logger = CsvLogger(tmp_path / "logs", keep_days=30, miners=lambda: [record("10.0.0.1", status=MinerStatus())],
                       battery=lambda: Source(), clock=clock, tz=TZ, append_every_s=600)
    appends: list[tuple[str, str, int]] = []
    real = logger.append
    monkeypatch.setattr(logger, "append", lambda kind, day, body: appends.append((kind, str(day), body.count("\n")))
                        or real(kind, day, body))
    for _ in range(9):  # 23:50 ... 23:58
        assert logger.write() == {"miners": 0, "battery": 0}
        clock.now += 60
    assert appends == [] and not (tmp_path / "logs" / "miners-2024-05-01.csv").exists()
    for _ in range(3):  # 23:59, 00:00 (a new day), 00:01
        logger.write()
        clock.now += 60
    # Ten minutes after the first queued row (at 00:00): one append per kind and day, each day's rows in
    # its own file.
    assert appends == [("miners", "2024-05-01", 10), ("miners", "2024-05-02", 1),
                       ("battery", "2024-05-01", 10), ("battery", "2024-05-02", 1)]
    assert logger.flush() == {"miners": 1, "battery": 1}  # at shutdown: what is left (00:01)
    assert len(rows_of(tmp_path / "logs" / "miners-2024-05-01.csv")) == 1 + 10
    assert len(rows_of(tmp_path / "logs" / "miners-2024-05-02.csv")) == 1 + 2


def test_a_disabled_miner_gets_no_rows(tmp_path):
    """Not polled while disabled: a row each interval would repeat its last reading as if it were current."""
    mining = record("10.0.0.1", status=MinerStatus(hashrate_hs=1e14, power_w=3000.0))
    switched_off = record("10.0.0.2", status=MinerStatus(hashrate_hs=1e14, power_w=3000.0), enabled=False)
    logger = make(tmp_path, [mining, switched_off])
    assert logger.write() == {"miners": 1, "battery": 0}
    _, *rows = rows_of(tmp_path / "logs" / "miners-2024-05-01.csv")
    assert [row[MINER_COLUMNS.index("ip")] for row in rows] == ["10.0.0.1"]
