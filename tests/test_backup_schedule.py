"""Scheduled backups to a folder (services/backup_schedule.py), with an injected clock and archive builder.

First-run timing, the prune (N newest of this site, nothing foreign), no final-named file after a
copy that fails midway (ENOSPC), the refusal when the folder has no room, one run at a time, the
retry back-off and the "failing" condition the alerts read. No network (loopback range 127.86.13.x
is this feature's, docs/contracts.md; nothing here dials).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services import backup
from services import backup_schedule as bs
from services.config import ConfigError, load_config

T0 = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc).timestamp()
HOUR = 3600.0


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y%m%d-%H%M%S")


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Builder:
    """build_archive's stand-in: an unlinked temp file of ``size`` bytes named as the real one names it."""

    def __init__(self, size: int = 300_000) -> None:
        self.size = size
        self.calls: list[dict[str, Any]] = []
        self.gate: threading.Event | None = None  # set: the build waits for it (a long run)
        self.entered = threading.Event()
        self.files: list[Any] = []

    def __call__(self, config: Any, *, include_secrets: bool, now: float | None = None,
                 work: Path | None = None) -> backup.BackupFile:
        self.calls.append({"include_secrets": include_secrets, "now": now, "work": work})
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        fh = tempfile.TemporaryFile()
        fh.write(os.urandom(self.size))
        fh.seek(0)
        self.files.append(fh)
        return backup.BackupFile(file=fh, size=self.size, filename=f"minerfleet-{config.site}-{_stamp(now)}.tar.gz",
                                 manifest={})


class Events(list):
    def __call__(self, kind: str, message: str, *, actor: str = "system", severity: str | None = None) -> None:
        self.append((kind, message, actor, severity))


def _config(tmp_path: Path, folder: Path | str, **backup_keys: Any) -> Any:
    keys = {"dir": str(folder), "allow_same_disk": True, **backup_keys}
    lines = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in keys.items())
    path = tmp_path / "config.yaml"
    path.write_text(f"server:\n  data_dir: data\nsite: barn\nbackup:\n{lines}")
    config = load_config(path, environ={})
    config.data_path.mkdir(parents=True, exist_ok=True)
    return config


class Harness:
    def __init__(self, tmp_path: Path, **backup_keys: Any) -> None:
        self.tmp = tmp_path
        self.folder = tmp_path / "stick"
        self.folder.mkdir()
        self.config = _config(tmp_path, self.folder, **backup_keys)
        self.clock = Clock()
        self.builder = Builder()
        self.events = Events()
        self.launched: list[Any] = []
        self.free = 10 * 2**30
        self.schedule = bs.BackupSchedule(lambda: self.config, event=self.events, launch=self.launched.append,
                                          clock=self.clock, build=self.builder,
                                          disk_usage=lambda path: SimpleNamespace(free=self.free))

    def reconfigure(self, **backup_keys: Any) -> None:
        self.config = _config(self.tmp, backup_keys.pop("dir", self.folder), **backup_keys)

    def archive(self, ts: float, site: str = "barn", size: int = 10) -> Path:
        path = self.folder / f"minerfleet-{site}-{_stamp(ts)}.tar.gz"
        path.write_bytes(b"a" * size)
        return path

    def names(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir())


@pytest.fixture
def h(tmp_path):
    return Harness(tmp_path)


# --- config ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, line", [
    ("backup:\n  dir: usb/backups\n", "backup.dir: must be an absolute path like /mnt/usb/minerfleet (or empty = off), "
                                      "got 'usb/backups'"),
    ("backup:\n  every_hours: 0\n", "backup.every_hours: must be 1-168, got 0"),
    ("backup:\n  every_hours: 169\n", "backup.every_hours: must be 1-168, got 169"),
    ("backup:\n  keep: 0\n", "backup.keep: must be 1-100, got 0"),
    ("backup:\n  keep: 101\n", "backup.keep: must be 1-100, got 101"),
    ("backup:\n  include_secrets: maybe\n", "backup.include_secrets: expected true or false, got 'maybe'"),
])
def test_start_up_refuses_bad_backup_keys_with_one_line_naming_the_key(tmp_path, text, line):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == line


def test_defaults_are_off_daily_and_seven(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("backup:\n  dir: /mnt/usb/minerfleet\n")
    b = load_config(path, environ={}).backup
    assert (b.dir, b.every_hours, b.keep, b.include_secrets, b.allow_same_disk) == (
        "/mnt/usb/minerfleet", 24, 7, False, False)
    path.write_text("{}\n")
    assert load_config(path, environ={}).backup.dir == ""


# --- first-run timing -------------------------------------------------------------------------------
def test_first_run_a_few_minutes_after_start_when_the_folder_is_empty(h):
    h.schedule.start()
    assert h.schedule.status()["next_run_ts"] == T0 + bs.FIRST_DELAY_S  # provisional, before any folder I/O
    assert h.schedule.tick() is False
    assert h.schedule.status()["next_run_ts"] == T0 + bs.FIRST_DELAY_S
    h.clock.now = T0 + bs.FIRST_DELAY_S - 1
    assert h.schedule.tick() is False and h.launched == []
    h.clock.now = T0 + bs.FIRST_DELAY_S
    assert h.schedule.tick() is True and len(h.launched) == 1
    assert h.schedule.status()["running"] is True
    assert h.schedule.tick() is False  # never a second while one runs
    assert h.launched[0]()["ok"] is True  # the launched job is the run
    assert h.schedule.status()["next_run_ts"] == T0 + bs.FIRST_DELAY_S + 24 * HOUR


def test_first_run_every_hours_after_the_newest_archive_in_the_folder(h):
    h.archive(T0 - 30 * HOUR)
    newest = h.archive(T0 - 2 * HOUR, size=1234)
    h.schedule.start()
    h.schedule.tick()
    s = h.schedule.status()
    assert s["next_run_ts"] == T0 + 22 * HOUR
    assert (s["last_ok_ts"], s["last_file"], s["last_size"]) == (T0 - 2 * HOUR, newest.name, 1234)
    assert [a["name"] for a in s["archives"]] == [newest.name, f"minerfleet-barn-{_stamp(T0 - 30 * HOUR)}.tar.gz"]


def test_an_overdue_or_future_archive_and_a_changed_interval(h):
    h.archive(T0 - 30 * HOUR)  # overdue: a few minutes after start, not at once
    h.schedule.tick()
    assert h.schedule.status()["next_run_ts"] == T0 + bs.FIRST_DELAY_S
    h.archive(T0 + 50 * HOUR)  # a clock that was wrong when it was written: counts as now
    h.reconfigure(every_hours=6)  # a live change re-plans at the next tick
    h.schedule.tick()
    assert h.schedule.status()["next_run_ts"] == T0 + 6 * HOUR
    assert h.schedule.status()["every_hours"] == 6


def test_off_means_no_next_run_and_no_run(h):
    h.reconfigure(dir="")
    h.schedule.start()
    h.clock.now = T0 + 1000 * HOUR
    assert h.schedule.tick() is False and h.launched == []
    s = h.schedule.status()
    assert s["enabled"] is False and s["next_run_ts"] is None and s["archives"] == []
    assert h.schedule.run()["error"] == "scheduled backups are off (backup.dir is empty)"


# --- one run ------------------------------------------------------------------------------------------
def test_a_run_writes_the_final_name_with_its_mode_and_an_event(h):
    result = h.schedule.run()
    name = f"minerfleet-barn-{_stamp(T0)}.tar.gz"
    assert result == {"ok": True, "file": name, "size": h.builder.size, "deleted": []}
    path = h.folder / name
    assert path.stat().st_size == h.builder.size and path.stat().st_mode & 0o777 == 0o644
    assert h.names() == [name]  # no temporary file left
    assert h.builder.calls == [{"include_secrets": False, "now": T0, "work": h.folder / bs.WORK_SUBDIR}]  # built on the stick
    assert h.builder.files[0].closed  # the unlinked work file is released
    [(kind, message, actor, severity)] = h.events
    assert (kind, actor, severity) == ("backup_saved", "system", "info") and f"{name} (293 KB) in {h.folder}" in message
    s = h.schedule.status()
    assert (s["last_ok_ts"], s["last_file"], s["last_size"], s["last_error"]) == (T0, name, h.builder.size, None)
    assert [a["name"] for a in s["archives"]] == [name]

    h.reconfigure(include_secrets=True)
    h.clock.now = T0 + HOUR
    assert h.schedule.run()["ok"]
    secret = h.folder / f"minerfleet-barn-{_stamp(T0 + HOUR)}.tar.gz"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert h.builder.calls[-1]["include_secrets"] is True and "WITH secrets" in h.events[-1][1]


class WorkBuilder(Builder):
    """build_archive(work=...)'s shape: the archive left named in the work folder (BackupFile.path)."""

    def __call__(self, config: Any, *, include_secrets: bool, now: float | None = None,
                 work: Path | None = None) -> backup.BackupFile:
        self.calls.append({"include_secrets": include_secrets, "now": now, "work": work})
        path = work / "backup-abc.tar.gz"
        fh = open(path, "w+b")
        fh.write(b"z" * self.size)
        fh.seek(0)
        self.files.append(fh)
        return backup.BackupFile(file=fh, size=self.size, filename=f"minerfleet-{config.site}-{_stamp(now)}.tar.gz",
                                 manifest={}, path=path)


def test_an_archive_built_on_the_stick_is_renamed_not_copied_and_a_failed_rename_leaves_nothing(h, monkeypatch):
    h.builder = h.schedule._build = WorkBuilder()
    h.free = 0  # no room for a copy: a rename needs none (the build checked the stick's space itself)
    result = h.schedule.run()
    name = f"minerfleet-barn-{_stamp(T0)}.tar.gz"
    assert result["ok"] is True and h.names() == [name]  # the work folder removed once empty
    assert (h.folder / name).read_bytes() == b"z" * h.builder.size and (h.folder / name).stat().st_mode & 0o777 == 0o644

    def refuse(src, dst):  # the stick pulled at the rename
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(bs.os, "replace", refuse)
    h.clock.now = T0 + HOUR
    result = h.schedule.run()
    assert result["ok"] is False and "Input/output error" in result["error"]
    assert h.names() == [name]  # no half-done archive, no work folder
    assert all(f.closed for f in h.builder.files)


def test_prune_keeps_the_newest_n_of_this_site_and_never_touches_foreign_files(h):
    h.reconfigure(keep=3)
    ours = [h.archive(T0 - d * HOUR) for d in (1, 5, 9, 30, 70)]
    foreign = {
        "minerfleet-barn-2-20261201-000000.tar.gz": b"another site whose name starts like ours",
        "minerfleet-shed-20261101-000000.tar.gz": b"another site",
        "minerfleet-barn-20261101-000000.tar.gz.bak": b"a copy the owner made",
        "minerfleet-barn-20261101-0000.tar.gz": b"not our stamp",
        "minerfleet-barn-20261399-000000.tar.gz": b"not a date",
        "holiday.jpg": b"photo",
        ".minerfleet-shed-20261101-000000.tar.gz.partial": b"another site's copy in progress",
    }
    for name, data in foreign.items():
        (h.folder / name).write_bytes(data)
    (h.folder / "minerfleet-barn-20261001-000000.tar.gz").symlink_to(h.folder / "holiday.jpg")  # a link: not ours
    (h.folder / "minerfleet-barn-20261002-000000.tar.gz").mkdir()  # a folder: not ours
    stale = h.folder / f".minerfleet-barn-{_stamp(T0 - 50 * HOUR)}.tar.gz.partial"  # left by a killed run
    stale.write_bytes(b"half")
    os.utime(stale, (T0 - 50 * HOUR, T0 - 50 * HOUR))
    fresh = h.folder / f".minerfleet-barn-{_stamp(T0 - 60)}.tar.gz.partial"  # maybe another writer's, now
    fresh.write_bytes(b"half")
    os.utime(fresh, (T0 - 60, T0 - 60))

    result = h.schedule.run()
    assert result["ok"] and sorted(result["deleted"]) == sorted(p.name for p in ours[2:])
    kept = [p.name for p in ours[:2]] + [result["file"]]
    assert all((h.folder / n).is_file() for n in kept)
    assert not any(p.exists() for p in ours[2:]) and not stale.exists() and fresh.exists()
    for name, data in foreign.items():
        assert (h.folder / name).read_bytes() == data, name
    assert (h.folder / "minerfleet-barn-20261001-000000.tar.gz").is_symlink()
    assert (h.folder / "minerfleet-barn-20261002-000000.tar.gz").is_dir()
    assert "3 older deleted (keep 3)" in h.events[-1][1]


def test_the_new_archive_is_kept_even_when_the_clock_is_behind(h):
    """A Pi without a clock battery may run before NTP: its new archive's stamp is older than the folder's."""
    h.reconfigure(keep=2)
    later = [h.archive(T0 + d * HOUR) for d in (10, 20)]
    result = h.schedule.run()
    assert (h.folder / result["file"]).exists() and later[1].exists() and not later[0].exists()


def test_enospc_midway_leaves_no_final_named_file(h, monkeypatch):
    def copy_then_fill(source, out, stop):
        out.write(source.read(100_000))
        out.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bs, "_copy", copy_then_fill)
    h.archive(T0 - 48 * HOUR)
    before = h.names()
    result = h.schedule.run()
    assert result["ok"] is False
    assert result["error"] == "the folder ran out of space while writing; nothing was kept under the archive's name"
    assert h.names() == before  # neither the final name nor the temporary file
    assert h.builder.files[0].closed
    assert h.events[-1][0] == "backup_failed" and h.events[-1][3] == "warning"
    s = h.schedule.status()
    assert s["last_error"] == result["error"] and s["last_error_ts"] == T0 and s["failures"] == 1


def test_a_stop_during_the_copy_leaves_nothing(h):
    h.schedule.close()  # the controller is stopping: the copy ends at its next MB
    result = h.schedule.run()
    assert result == {"ok": False, "error": "stopped: the controller is shutting down"}
    assert h.names() == []


def test_too_little_free_space_is_refused_before_writing(h):
    h.free = h.builder.size + bs.SPACE_MARGIN - 1
    result = h.schedule.run()
    assert result["ok"] is False and result["error"].startswith(f"not enough free space in {h.folder}: ")
    assert "backup.keep (7) + 1" in result["error"]
    assert h.names() == [] and h.builder.files[0].closed
    h.free = h.builder.size + bs.SPACE_MARGIN
    assert h.schedule.run()["ok"] is True


def test_a_missing_read_only_or_same_disk_folder_is_a_clear_failure(h, tmp_path):
    h.reconfigure(dir=str(tmp_path / "not-mounted"))
    result = h.schedule.run()
    assert result["error"] == f"folder {tmp_path / 'not-mounted'} not found: is the USB stick or NAS share mounted?"
    assert h.builder.calls == []  # nothing built for nowhere
    h.reconfigure(allow_same_disk=False)  # tmp_path is on the data folder's disk
    result = h.schedule.run()
    assert result["error"].startswith(f"{h.folder} is on the same disk as the data folder")
    assert h.names() == []


def test_two_runs_at_once_the_second_is_refused(h):
    h.builder.gate = threading.Event()
    first: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: first.update(h.schedule.run()))
    thread.start()
    try:
        assert h.builder.entered.wait(5)
        assert h.schedule.status()["running"] is True
        assert h.schedule.run_now() is False and h.launched == []
        with pytest.raises(bs.Busy):
            h.schedule.run()
        h.clock.now = T0 + 1000 * HOUR
        assert h.schedule.tick() is False  # due, but one is running
    finally:
        h.builder.gate.set()
        thread.join(10)
    assert first["ok"] is True and len(h.builder.calls) == 1
    assert h.schedule.status()["running"] is False
    assert h.schedule.run_now() is True  # free again


def test_failures_back_off_alert_after_two_and_clear_on_success(h, tmp_path):
    h.reconfigure(dir=str(tmp_path / "gone"), every_hours=6)
    assert h.schedule.run()["ok"] is False
    assert h.schedule.status()["next_run_ts"] == T0 + HOUR
    assert h.schedule.failing() is None  # one failure is not yet a problem
    h.clock.now = T0 + HOUR
    h.schedule.run()
    assert h.schedule.status()["next_run_ts"] == T0 + 3 * HOUR  # 2 h
    why, since = h.schedule.failing()
    assert since == T0 and why.startswith("2 runs in a row failed; the last: folder ")
    for _ in range(3):
        h.schedule.run()
    assert h.schedule.status()["next_run_ts"] == h.clock.now + 6 * HOUR  # capped at every_hours
    h.reconfigure(every_hours=6)  # the stick is back
    assert h.schedule.run()["ok"] is True
    assert h.schedule.failing() is None and h.schedule.status()["failures"] == 0
    assert h.schedule.status()["last_error"] is not None  # the last failure stays shown, with its time


def test_describe_never_quotes_the_config_text():
    import yaml

    try:
        yaml.safe_load("security:\n  api_token: [s3cret-token-value\n")
    except yaml.YAMLError as exc:
        text = bs.describe(exc)
    assert "s3cret" not in text and "python -m services.config" in text
    assert bs.describe(OSError(errno.EROFS, "Read-only file system", "/mnt/x")).startswith(
        "read-only file system (/mnt/x): under systemd allow the folder with ReadWritePaths")
    assert bs.describe(KeyError("api_token=abc")) == "unexpected error (KeyError); the log has the details"


def test_alerts_raise_and_resolve_scheduled_backup_failing():
    from services.alerts.config import AlertsConfig
    from services.alerts.detectors import Detectors, SiteView

    det = Detectors(AlertsConfig())
    conditions, judged = det.check(T0, [], SiteView(backup_judged=True, backup_failing=("2 runs in a row failed", T0)))
    assert [(c.kind, c.message, c.since) for c in conditions] == [("backup_failing", "2 runs in a row failed", T0)]
    conditions, judged = det.check(T0, [], SiteView(backup_judged=True))
    assert conditions == [] and ("backup_failing", "") in judged  # judged and fine: a raised one resolves
    assert ("backup_failing", "") not in det.check(T0, [], SiteView())[1]
