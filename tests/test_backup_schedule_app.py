"""Scheduled backups with the real app (create_app with its background runtime, a temp data dir, a tmp folder as
backup.dir): "Back up now" through the API writes an archive that services/restore.py's own checks accept, a
second run while one runs is refused (409), the settings page's PATCH changes the schedule live, two failed
runs raise the "scheduled backup failing" alert and a good run resolves it, and runs leak no thread or
descriptor. Loopback range 127.86.13.x (docs/contracts.md); no miner is dialled.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.conftest import TEST_PASSWORD, TEST_TOKEN

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
NET = "127.86.13"


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def live(tmp_path):
    from app import create_app
    from services.config import load_config

    folder = tmp_path / "usb-stick"
    folder.mkdir()
    path = tmp_path / "config.yaml"
    path.write_text("# the shed's controller\n"
                    f"network:\n  subnet: {NET}.0/28\n"
                    "polling:\n  interval_sec: 2\n  timeout_sec: 0.5\n"
                    "battery:\n  source: none\n"
                    f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
                    "site: shed\n"
                    f"backup:\n  dir: {folder}\n  keep: 3\n"
                    "  allow_same_disk: true   # the test's folder shares the data folder's disk\n")
    app = create_app(config=load_config(path, environ={}), start_background=True, test_config={"TESTING": False})
    app.config["SETTINGS_ENVIRON"] = {}  # the settings editor loads the config as start-up did here
    runtime = app.extensions["runtime"]
    assert runtime.scheduler is not None and runtime.scheduler.get_job("backup_schedule") is not None
    try:
        yield app, runtime, folder, path
    finally:
        app.extensions["runtime"].shutdown()


def _status(client: Any) -> dict:
    reply = client.get("/api/backup/schedule", headers=AUTH)
    assert reply.status_code == 200
    return reply.get_json()


def _run(client: Any) -> dict:
    reply = client.post("/api/backup/schedule/run", headers=AUTH)
    assert reply.status_code == 202, reply.get_json()
    _wait(lambda: not _status(client)["running"])
    return _status(client)


def _events(runtime: Any, kind: str) -> list[tuple]:
    with runtime.db.read() as conn:
        return [tuple(r) for r in conn.execute("SELECT message, actor, severity FROM events WHERE kind = ? ORDER BY id",
                                               (kind,))]


def test_back_up_now_writes_an_archive_that_restore_accepts(live):
    from services import restore

    app, runtime, folder, config_path = live
    client = app.test_client()
    assert client.get("/api/backup/schedule").status_code == 401  # even with open reads, as GET /api/backup
    assert client.post("/api/backup/schedule/run").status_code == 401
    s = _status(client)
    assert s["enabled"] and s["dir"] == str(folder) and s["keep"] == 3 and s["every_hours"] == 24
    assert s["next_run_ts"] > time.time() + 200  # not at start-up: a few minutes after it
    assert s["last_ok_ts"] is None and s["archives"] == []

    s = _run(client)
    assert s["last_error"] is None, s["last_error"]
    [archive] = folder.iterdir()
    assert archive.name == s["last_file"] and archive.name.startswith("minerfleet-shed-")
    assert archive.stat().st_size == s["last_size"] and stat.S_IMODE(archive.stat().st_mode) == 0o644
    assert [a["name"] for a in s["archives"]] == [archive.name]
    assert s["next_run_ts"] == pytest.approx(s["last_ok_ts"] + 24 * 3600, abs=1)

    # services/restore.py's own validation, then the route's check mode.
    staged = restore.stage(archive, config_path=config_path, data_path=runtime.config.data_path, environ={})
    try:
        summary = staged.summary()
        assert summary["site"] == "shed" and summary["secrets_included"] is False
    finally:
        staged.discard()
    check = client.post("/api/restore?check=1", data=archive.read_bytes(),
                        headers={**AUTH, "Content-Type": "application/gzip"})
    assert check.status_code == 200, check.get_json()

    [(message, actor, severity)] = _events(runtime, "backup_saved")
    assert archive.name in message and (actor, severity) == ("system", "info")
    assert _events(runtime, "backup")[-1][1] == "token"  # who pressed "Back up now"


def test_a_second_run_while_one_runs_is_409(live):
    app, runtime, folder, _ = live
    client = app.test_client()
    schedule = runtime.backup_schedule
    gate, real = threading.Event(), schedule._build

    def slow_build(*args: Any, **kwargs: Any) -> Any:
        assert gate.wait(10)
        return real(*args, **kwargs)

    schedule._build = slow_build
    try:
        assert client.post("/api/backup/schedule/run", headers=AUTH).status_code == 202
        assert _status(client)["running"] is True
        second = client.post("/api/backup/schedule/run", headers=AUTH)
        assert second.status_code == 409 and "already running" in second.get_json()["error"]
        assert client.post("/api/backup/schedule/run", headers=AUTH, json={"now": True}).status_code == 400
    finally:
        gate.set()
    _wait(lambda: not _status(client)["running"])
    assert len(list(folder.iterdir())) == 1


def test_settings_change_the_schedule_live_and_failures_alert(live, tmp_path):
    app, runtime, folder, config_path = live
    client = app.test_client()
    refused = client.patch("/api/settings", headers=AUTH, json={"backup.dir": "usb/backups"})
    assert refused.status_code == 400 and refused.get_json()["key"] == "backup.dir"

    reply = client.patch("/api/settings", headers=AUTH, json={"backup.every_hours": 6, "backup.keep": 2,
                                                              "backup.include_secrets": True})
    assert reply.status_code == 200 and set(reply.get_json()["applied"]) == {
        "backup.every_hours", "backup.keep", "backup.include_secrets"}
    assert "# the shed's controller" in config_path.read_text()
    for _ in range(3):
        s = _run(client)
        time.sleep(1.05)  # a new stamp (one per second)
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 and names[-1] == s["last_file"]  # keep: 2, at once
    assert stat.S_IMODE((folder / s["last_file"]).stat().st_mode) == 0o600  # with secrets
    runtime.backup_schedule.tick()  # the scheduler's check re-plans with the new interval
    assert _status(client)["next_run_ts"] == pytest.approx(s["last_ok_ts"] + 6 * 3600, abs=1)

    # The stick is pulled: two failed runs are an alert; the next good one resolves it.
    gone = tmp_path / "not-mounted"
    assert client.patch("/api/settings", headers=AUTH, json={"backup.dir": str(gone)}).status_code == 200
    for _ in range(2):
        s = _run(client)
    assert s["last_error"] == f"folder {gone} not found: is the USB stick or NAS share mounted?"
    assert s["archives"] == [] and s["archives_error"]
    assert [p.kind for p in runtime.alerts.tick().raised] == ["backup_failing"]
    assert [e[2] for e in _events(runtime, "backup_failed")] == ["warning", "warning"]
    assert TEST_TOKEN not in str(_events(runtime, "backup_failed"))
    assert client.patch("/api/settings", headers=AUTH, json={"backup.dir": str(folder)}).status_code == 200
    assert _run(client)["failures"] == 0
    assert [p.kind for p in runtime.alerts.tick().resolved] == ["backup_failing"]

    assert client.patch("/api/settings", headers=AUTH, json={"backup.dir": ""}).status_code == 200
    s = _status(client)
    assert s["enabled"] is False and s["next_run_ts"] is None
    assert client.post("/api/backup/schedule/run", headers=AUTH).status_code == 409


def test_runs_leak_no_thread_or_descriptor(live):
    app, runtime, folder, _ = live
    client = app.test_client()
    _run(client)  # warm-up: the scheduler's pool threads and lazily opened connections exist from here on
    time.sleep(0.5)
    fds, threads = _fds(), threading.active_count()
    for _ in range(3):
        time.sleep(1.05)
        assert _run(client)["last_error"] is None
    time.sleep(0.5)
    assert threading.active_count() <= threads, sorted(t.name for t in threading.enumerate())
    assert _fds() <= fds + 2, (fds, _fds())  # +2: a reader connection of the pool may be open at the moment
    assert len(list(folder.iterdir())) == 3  # keep: 3
    assert not (folder / ".minerfleet-work").exists()  # the stick's work folder: gone after each run
    # Built on the stick: the data disk (the SD card) got neither the snapshot nor the archive.
    assert not Path(runtime.config.data_path, "backup-work").exists()
