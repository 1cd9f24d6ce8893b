"""Backup and restore (issue 15 item 8): GET /api/backup, POST /api/restore, /api/restore/undo, /api/restore/status.

Done-when: a restore of a backup taken an hour earlier brings back miners, history and
settings, and a corrupted archive is refused with nothing changed. Also: undo, secrets only
on request, a snapshot taken while the poll loop writes is consistent, and the in-process
restart of the controller leaks no thread or descriptor. Loopback range: 127.86.4.x.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from tests.conftest import TEST_PASSWORD, TEST_TOKEN
from tests.fakes import fake_factory, reset_fakes

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
HOUR = 3600.0


def _config_text(interval: int) -> str:
    return ("# my fleet (a comment the owner wrote)\n"
            "server:\n  data_dir: data\n"
            f"polling:\n  interval_sec: {interval}\n  timeout_sec: 0.5\n  offline_after: 2\n  workers: 4\n"
            "storage:\n  flush_interval_sec: 0\n"
            "battery:\n  source: none\n"
            f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
            "ems:\n  token: ems-token-abcdefghijklmnop\n"
            "miners:\n  - ip: 10.0.0.9\n    family: fake\n    username: root\n    password: miner-secret-pw\n")


def _fake_runtime(config: Any) -> Any:
    from database.db import Database
    from services.fleet import FleetManager
    from services.runtime import Runtime

    db = Database(config.data_path / "fleet.db", migrate=True)
    return Runtime(config, fleet=FleetManager(config, db, driver_factory=fake_factory), db=db)


class Site:
    """A passive app (fake drivers) whose restarts build runtimes the same way."""

    def __init__(self, root: Path) -> None:
        from app import create_app
        from services.config import load_config
        from web.backup import CONFIG_ENVIRON, RUNTIME_FACTORY

        reset_fakes()
        self.root = root
        self.config_path = root / "config.yaml"
        self.config_path.write_text(_config_text(7))
        config = load_config(self.config_path, environ={})
        self.data = config.data_path
        self.app = create_app(config=config, runtime=_fake_runtime(config), start_background=False,
                              test_config={"TESTING": True})
        self.app.extensions[RUNTIME_FACTORY] = _fake_runtime
        self.app.extensions[CONFIG_ENVIRON] = {}  # as the config above was loaded
        self.client = self.app.test_client()

    @property
    def runtime(self) -> Any:
        return self.app.extensions["runtime"]

    def close(self) -> None:
        from tests.fakes import FakeDriver

        FakeDriver.release.set()
        self.runtime.shutdown()

    def history(self, start: float, end: float, ips: list[str]) -> None:
        """One round every 60 s from ``start`` to ``end`` for ``ips`` (written at once: flush_interval_sec 0)."""
        fleet = self.runtime.fleet
        ids = {ip: fleet.get(ip).id for ip in ips}
        at = start
        while at < end:
            self.runtime.history.add_round(at, [(ids[ip], "sha256d", 1e12, 15.0, 55.0, 3000) for ip in ips])
            at += 60.0
        self.runtime.history.flush()

    def rows(self, sql: str, *args: Any) -> list[tuple]:
        with self.runtime.db.read() as conn:
            return [tuple(r) for r in conn.execute(sql, args)]

    def files(self) -> dict[str, str]:
        """SHA-256 of the database (with its WAL), the config and the secret files: "nothing changed" means equal."""
        out = {}
        for path in (self.data / "fleet.db", Path(str(self.data / "fleet.db") + "-wal"), self.config_path,
                     self.data / "api_token", self.data / "secret_key", self.data / "admin_password.hash"):
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"
        return out

    def backup(self, query: str = "") -> bytes:
        reply = self.client.get("/api/backup" + query, headers=AUTH)
        assert reply.status_code == 200, reply.get_json()
        return reply.data

    def restore(self, archive: bytes, query: str = "") -> Any:
        return self.client.post("/api/restore" + query, data=archive, headers={**AUTH, "Content-Type": "application/gzip"})


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    yield s
    s.close()


def unpack(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def pack(members: list[tuple[str, bytes]], *, fix_manifest: bool = True, extra: Callable[[tarfile.TarFile], None] | None = None) -> bytes:
    """An archive of ``members`` (manifest first); fix_manifest recomputes sizes and hashes of the listed ones."""
    members = list(members)
    if fix_manifest:
        manifest = json.loads(dict(members)["manifest.json"])
        for name, blob in members:
            if name in manifest["members"]:
                manifest["members"][name] = {"size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
        members[0] = ("manifest.json", json.dumps(manifest).encode())
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, blob in members:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        if extra:
            extra(tar)
    return out.getvalue()


def members_of(archive: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]


def with_manifest(archive: bytes, **changes: Any) -> bytes:
    members = members_of(archive)
    manifest = json.loads(members[0][1])
    manifest.update(changes)
    members[0] = ("manifest.json", json.dumps(manifest).encode())
    return pack(members)


def db_of(archive: bytes, tmp_path: Path) -> sqlite3.Connection:
    path = tmp_path / f"from-archive-{time.monotonic_ns()}.db"
    path.write_bytes(unpack(archive)["fleet.db"])
    return sqlite3.connect(path)


# --- the Done-when scenario -------------------------------------------------------------------------
def test_restore_of_an_hour_old_backup_brings_back_miners_history_and_settings(site, tmp_path):
    fleet = site.runtime.fleet
    fleet.add("10.0.0.1", "fake", name="left-rack")
    fleet.add("10.0.0.2", "fake", credentials={"username": "root", "password": "db-secret-pw"})
    pools = [{"url": "stratum+tcp://pool.example:3333", "user": "bc1qexample.w1", "password": "pool-secret-pw"}]
    with site.runtime.db.write() as conn:
        conn.execute("INSERT INTO pool_sets (name, pools, created_ts, updated_ts) VALUES ('Main', ?, 1, 1)",
                     (json.dumps(pools),))
    now = time.time()
    site.history(now - 3 * HOUR, now - HOUR, ["10.0.0.1", "10.0.0.2"])
    samples_then = site.rows("SELECT count(*) FROM samples")[0][0]
    assert samples_then == 2 * 120

    archive = site.backup()
    files = unpack(archive)
    assert list(files) == ["manifest.json", "config.yaml", "fleet.db"]  # no secret files without ?secrets=1
    manifest = json.loads(files["manifest.json"])
    assert manifest["format"] == "minerfleet-backup" and manifest["format_version"] == 1
    assert manifest["schema_version"] == 3 and manifest["secrets_included"] is False and manifest["site"] == "home"
    for name in ("config.yaml", "fleet.db"):
        assert manifest["members"][name] == {"size": len(files[name]), "sha256": hashlib.sha256(files[name]).hexdigest()}
    config_copy = files["config.yaml"].decode()
    for secret in (TEST_TOKEN, TEST_PASSWORD, "ems-token-abcdefghijklmnop", "miner-secret-pw"):
        assert secret not in config_copy
    assert sorted(manifest["secrets_removed"]) == sorted(["security.api_token", "security.admin_password",
                                                          "ems.token", "miners[0].password"])
    assert yaml.safe_load(config_copy)["polling"]["interval_sec"] == 7
    assert "# my fleet (a comment the owner wrote)" in config_copy  # stripped by a round trip: comments kept
    snap = db_of(archive, tmp_path)
    assert snap.execute("SELECT count(*) FROM samples").fetchone()[0] == samples_then
    assert snap.execute("SELECT credentials FROM miners WHERE ip = '10.0.0.2'").fetchone()[0] is None
    assert b"db-secret-pw" not in files["fleet.db"]  # cleared with secure_delete: not left in a free page either
    assert b"pool-secret-pw" not in files["fleet.db"]
    assert json.loads(snap.execute("SELECT pools FROM pool_sets").fetchone()[0])[0]["password"] == ""
    assert snap.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    snap.close()

    # The hour after the backup: a miner goes, one comes, history grows, a setting changes.
    fleet.remove("10.0.0.1")
    fleet.add("10.0.0.3", "fake")
    site.history(now - HOUR, now, ["10.0.0.2", "10.0.0.3"])
    site.config_path.write_text(_config_text(9))
    old_runtime = site.runtime

    reply = site.restore(archive)
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert body["ok"] and body["restarted"] == "in-process" and body["undo"]["undo_available"]
    assert body["backup"]["secrets_included"] is False
    assert site.runtime is not old_runtime and old_runtime._stopped.is_set()

    miners = {m["ip"]: m for m in site.client.get("/api/miners").get_json()}
    assert set(miners) == {"10.0.0.1", "10.0.0.2"}
    assert miners["10.0.0.1"]["name"] == "left-rack"
    # No secrets in the backup: this controller's logins are kept (same IP), never lost.
    assert site.client.get("/api/miners/10.0.0.2").get_json()["credentials_set"] is True
    assert site.rows("SELECT count(*) FROM samples")[0][0] == samples_then
    newest_ms = site.rows("SELECT max(id >> 20) FROM samples")[0][0]
    assert newest_ms / 1000 < now - HOUR + 1
    assert site.runtime.config.polling.interval_sec == 7
    restored_config = yaml.safe_load(site.config_path.read_text())
    assert restored_config["polling"]["interval_sec"] == 7
    # The secrets the backup left out came back from the config it replaced, so the token still works.
    assert restored_config["security"]["api_token"] == TEST_TOKEN
    assert restored_config["miners"][0]["password"] == "miner-secret-pw"
    assert "# my fleet (a comment the owner wrote)" in site.config_path.read_text()
    assert json.loads(site.rows("SELECT pools FROM pool_sets")[0][0]) == pools  # its password kept too
    assert site.client.get("/api/backup", headers=AUTH).status_code == 200
    events = site.rows("SELECT kind, actor, message FROM events WHERE kind = 'restore'")
    assert events and events[-1][1] == "token" and "undo" in events[-1][2]
    status = site.client.get("/api/restore/status").get_json()
    assert status["undo_available"] and status["restored"]["created_ts"] == manifest["created_ts"]

    # Undo: the state from just before the restore is back, and there is no second undo.
    reply = site.client.post("/api/restore/undo", headers=AUTH)
    assert reply.status_code == 200, reply.get_json()
    miners = {m["ip"] for m in site.client.get("/api/miners").get_json()}
    assert miners == {"10.0.0.2", "10.0.0.3"}
    assert site.rows("SELECT count(*) FROM samples")[0][0] == samples_then + 2 * 60
    assert site.runtime.config.polling.interval_sec == 9
    assert site.config_path.read_text() == _config_text(9)  # the very bytes, comments included
    assert site.client.get("/api/restore/status").get_json()["undo_available"] is False
    assert site.client.post("/api/restore/undo", headers=AUTH).status_code == 409
    assert not (site.data / "restore-undo").exists()
    assert os.listdir(site.data / "backup-work") == []


def test_backup_needs_auth_even_with_open_reads_and_secrets_only_on_request(site, tmp_path):
    assert site.client.get("/api/backup").status_code == 401
    assert site.client.get("/api/restore/status").status_code == 200  # a plain read
    assert site.client.post("/api/restore", data=b"x").status_code == 401
    assert site.client.post("/api/restore/undo").status_code == 401
    assert site.client.get("/api/backup?secrets=maybe", headers=AUTH).status_code == 400
    assert site.client.head("/api/backup").status_code == 401
    head = site.client.head("/api/backup", headers=AUTH)
    assert head.status_code == 200 and head.data == b""
    assert site.rows("SELECT count(*) FROM events WHERE kind = 'backup'") == [(0,)]  # nothing was built
    # Leftovers of a killed backup (a day old) go at the next one; a fresh file of a running one stays.
    work = site.data / "backup-work"
    work.mkdir(exist_ok=True)
    (work / "snapshot-killed.db").write_bytes(b"x")
    os.utime(work / "snapshot-killed.db", (time.time() - 2 * 86400,) * 2)
    (work / "upload-running").write_bytes(b"y")

    reply = site.client.get("/api/backup?secrets=1", headers=AUTH)
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/gzip"
    assert reply.headers["Cache-Control"] == "no-store"
    assert "attachment; filename=minerfleet-home-" in reply.headers["Content-Disposition"]
    assert sorted(os.listdir(work)) == ["upload-running"]
    (work / "upload-running").unlink()
    files = unpack(reply.data)
    manifest = json.loads(files["manifest.json"])
    assert manifest["secrets_included"] is True and manifest["secrets_removed"] == []
    # The token and password are in this config (no DATA_DIR files for them): only the session key file.
    assert set(files) == {"manifest.json", "config.yaml", "fleet.db", "secrets/secret_key"}
    assert files["config.yaml"] == site.config_path.read_bytes()  # verbatim, comments and secrets
    assert files["secrets/secret_key"] == (site.data / "secret_key").read_bytes()
    events = site.rows("SELECT kind, actor, severity, message FROM events WHERE kind = 'backup'")
    assert events[-1][:3] == ("backup", "token", "warning") and "SECRETS" in events[-1][3]
    assert TEST_TOKEN not in events[-1][3]

    # A backup with secrets brings them back: the session key file as it was in the archive.
    original_key = (site.data / "secret_key").read_bytes()
    (site.data / "secret_key").write_text("another-key\n")
    assert site.restore(reply.data).status_code == 200
    assert (site.data / "secret_key").read_bytes() == original_key
    assert site.app.config["SECRET_KEY"] == original_key.decode().strip()
    assert site.client.post("/api/restore/undo", headers=AUTH).status_code == 200
    assert (site.data / "secret_key").read_text() == "another-key\n"


# --- refused archives change nothing ------------------------------------------------------------------------
def _corrupt_integrity(db: bytes, tmp_path: Path) -> bytes:
    """The same database with one index entry pointing at the wrong row: integrity_check fails, reads still work."""
    path = tmp_path / "corrupt.db"
    path.write_bytes(db)
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events_ts'").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    blob = bytearray(db)
    last = root * page_size - 1  # the last byte of the index's root (leaf) page: the last entry's rowid
    blob[last] ^= 0x40
    return bytes(blob)


def _refusals(good: bytes, tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    members = members_of(good)
    db = dict(members)["fleet.db"]
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01
    (tmp_path / "newer.db").write_bytes(db)
    conn = sqlite3.connect(tmp_path / "newer.db")
    conn.execute("PRAGMA user_version = 4")
    conn.close()

    def symlink(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("secrets/api_token")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)

    bad_config = [(n, b"polling:\n  interval_sec: 0\n" if n == "config.yaml" else b) for n, b in members]
    return {
        "flipped byte": (bytes(flipped), ""),
        "truncated": (good[: len(good) * 2 // 3], ""),
        "wrong manifest version": (with_manifest(good, format_version=99), "format version 99"),
        "newer schema in the manifest": (with_manifest(good, schema_version=4), "newer than this app"),
        "db failing integrity_check": (pack([(n, _corrupt_integrity(b, tmp_path) if n == "fleet.db" else b)
                                             for n, b in members]), "integrity check"),
        "db of a newer layout": (pack([(n, (tmp_path / "newer.db").read_bytes() if n == "fleet.db" else b)
                                       for n, b in members]), "layout 4"),
        "path traversal member": (pack(members + [("../../evil.sh", b"rm -rf /")], fix_manifest=True),
                                  "unsafe member path"),
        "absolute member": (pack(members + [("/etc/cron.d/evil", b"x")]), "unsafe member path"),
        "symlink member": (pack(members, extra=symlink), "not a regular file"),
        "sha256 mismatch": (pack([(n, b.replace(b"interval_sec: 7", b"interval_sec: 8") if n == "config.yaml" else b)
                                  for n, b in members],
                                 fix_manifest=False), "does not match"),
        "manifest not first": (pack(members[1:] + members[:1], fix_manifest=False), "first member"),
        "missing database": (pack(members[:2]), "lacks fleet.db"),
        "invalid config": (pack(bad_config), "polling.interval_sec"),
        "not a gzip": (b"PK\x03\x04 this is a zip", "not a readable backup archive"),
        "garbage sqlite": (pack([(n, b"SQLite format 3\x00" + b"\x00" * 100 if n == "fleet.db" else b)
                                 for n, b in members]), "fleet.db"),
    }


def test_corrupted_archives_are_refused_with_nothing_changed(site, tmp_path):
    site.runtime.fleet.add("10.0.0.1", "fake")
    site.history(time.time() - HOUR, time.time(), ["10.0.0.1"])
    good = site.backup()
    runtime = site.runtime
    before = site.files()
    for case, (archive, reason) in _refusals(good, tmp_path).items():
        reply = site.restore(archive)
        assert reply.status_code == 400, (case, reply.get_json())
        assert reason in reply.get_json()["error"], (case, reply.get_json()["error"])
        assert site.files() == before, case
        assert site.runtime is runtime, case
        assert os.listdir(site.data / "backup-work") == [], case
        assert not (site.data / "restore-undo").exists(), case
        assert [p.name for p in site.config_path.parent.iterdir() if ".restore-" in p.name] == [], case
    assert site.client.get("/api/restore/status").get_json()["undo_available"] is False
    # ?check=1 of a good archive: checked, nothing changed either.
    reply = site.restore(good, "?check=1")
    assert reply.status_code == 200 and reply.get_json()["checked"] is True
    assert site.files() == before and site.runtime is runtime


def test_bomb_and_oversized_uploads_are_refused(site, monkeypatch):
    from services import restore

    good = site.backup()
    members = members_of(good)
    manifest = json.loads(members[0][1])
    # A member far bigger than the manifest says (a gzip of zeros: 64 MB in ~64 KB): refused by size, unread.
    zeros = io.BytesIO()
    with gzip.GzipFile(fileobj=zeros, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        blob = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
        info = tarfile.TarInfo("fleet.db")
        info.size = 64 * 2**20

        class Zeros(io.RawIOBase):
            def readable(self):
                return True

            def readinto(self, b):
                b[:] = bytes(len(b))
                return len(b)
        tar.addfile(info, io.BufferedReader(Zeros()))
    before = site.files()
    reply = site.restore(zeros.getvalue())
    assert reply.status_code == 400 and "the manifest says" in reply.get_json()["error"]
    assert site.files() == before
    # Trailing data after the tar's end (8 MB of zeros in a few KB of gzip): the total-size fuse stops it.
    raw = gzip.decompress(good)
    reply = site.restore(gzip.compress(raw + bytes(8 * 2**20)))
    assert reply.status_code == 400 and "more than its manifest declares" in reply.get_json()["error"]
    assert site.files() == before
    monkeypatch.setattr(restore, "MAX_ARCHIVE_BYTES", 1000)
    reply = site.restore(good)
    assert reply.status_code == 413, reply.get_json()
    assert site.client.post("/api/restore", headers=AUTH).status_code == 400  # empty body
    assert os.listdir(site.data / "backup-work") == []


def test_multipart_upload_and_a_failed_start_rolls_back(site):
    from web.backup import RUNTIME_FACTORY

    site.runtime.fleet.add("10.0.0.1", "fake")
    good = site.backup()
    reply = site.client.post("/api/restore", headers=AUTH,
                             data={"archive": (io.BytesIO(good), "backup.tar.gz", "application/gzip")},
                             content_type="multipart/form-data")
    assert reply.status_code == 200, reply.get_json()
    assert site.client.post("/api/restore/undo", headers=AUTH).status_code == 200
    before = site.files()
    calls = []

    def fails_once(config):
        calls.append(config)
        if len(calls) == 1:
            raise RuntimeError("simulated start failure")
        return _fake_runtime(config)

    site.app.extensions[RUNTIME_FACTORY] = fails_once
    reply = site.restore(good)
    assert reply.status_code == 500 and "the previous data is back" in reply.get_json()["error"]
    assert len(calls) == 2
    after = site.files()
    before.pop("fleet.db-wal"), after.pop("fleet.db-wal")  # folded into the file by the stop
    assert after["config.yaml"] == before["config.yaml"]
    assert site.client.get("/api/miners").status_code == 200  # a working controller again
    assert {m["ip"] for m in site.client.get("/api/miners").get_json()} == {"10.0.0.1"}


def test_a_backup_from_another_data_folder_is_restored_into_this_one(site):
    members = members_of(site.backup())
    members = [(n, b.replace(b"data_dir: data", b"data_dir: /var/lib/minerfleet") if n == "config.yaml" else b)
               for n, b in members]
    reply = site.restore(pack(members))
    assert reply.status_code == 200, reply.get_json()
    assert f"server.data_dir kept as {site.data}" in reply.get_json()["backup"]["notes"]
    assert yaml.safe_load(site.config_path.read_text())["server"]["data_dir"] == str(site.data)
    assert site.runtime.config.data_path == site.data
    assert "# my fleet (a comment the owner wrote)" in site.config_path.read_text()


def test_old_layout_database_is_converted_on_restore(site, tmp_path):
    fixture = Path(__file__).parent / "fixtures" / "schema_v2.sql"
    conn = sqlite3.connect(tmp_path / "v2.db")
    conn.executescript(fixture.read_text())
    conn.execute("INSERT INTO miners (ip, family, added_ts) VALUES ('10.0.0.42', 'fake', 1)")
    conn.commit()
    conn.close()
    members = members_of(site.backup())
    members = [(n, (tmp_path / "v2.db").read_bytes() if n == "fleet.db" else b) for n, b in members]
    manifest = json.loads(members[0][1])
    manifest["schema_version"] = 2
    members[0] = ("manifest.json", json.dumps(manifest).encode())
    reply = site.restore(pack(members))
    assert reply.status_code == 200, reply.get_json()
    assert any("converted" in note for note in reply.get_json()["backup"]["notes"])
    assert [m["ip"] for m in site.client.get("/api/miners").get_json()] == ["10.0.0.42"]


# --- the real runtime: consistent snapshots while polling, no leaks across restarts ------------------------------
NET = "127.86.4"


@pytest.fixture(scope="module")
def sim():
    from simulator import SimFleet, demo_specs

    with SimFleet(demo_specs(f"{NET}.10", 6, restart_seconds=1.0), allow_any_client=True, seed=3) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    """The real app with its background runtime started (scheduler, poll loop, history flush every second)."""
    from app import create_app
    from services.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text(f"network:\n  subnet: {NET}.0/24\n  port_offset: {sim.port_offset}\n"
                    "polling:\n  interval_sec: 1\n  timeout_sec: 0.8\n  workers: 8\n"
                    "storage:\n  flush_interval_sec: 1\n"
                    "battery:\n  source: none\n"
                    f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n")
    app = create_app(config=load_config(path, environ={}), start_background=True, test_config={"TESTING": False})
    app.extensions["config_environ"] = {}  # web/backup.py: restored configs are loaded as this one was
    runtime = app.extensions["runtime"]
    assert runtime.scheduler is not None
    for miner in sim.miners:
        runtime.fleet.add(miner.spec.ip, miner.spec.kind)
    try:
        yield app
    finally:
        app.extensions["runtime"].shutdown()


def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _samples(app: Any) -> int:
    with app.extensions["runtime"].db.read() as conn:
        return conn.execute("SELECT count(*) FROM samples").fetchone()[0]


def test_backup_while_the_poll_loop_writes_is_consistent_and_never_blocks_it(live, tmp_path):
    from services import backup

    runtime = live.extensions["runtime"]
    _wait(lambda: _samples(live) >= 12)
    # Bulk history so the snapshot takes many steps (~8 MB, 1 MB each, with a pause between).
    with runtime.db.write() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, blob BLOB)")
        conn.executemany("INSERT INTO filler (blob) VALUES (randomblob(4000))", [()] * 2000)
    waits: list[float] = []
    stop = threading.Event()

    def writer() -> None:  # another writer as the poll loop is: each write must get the lock at once
        while not stop.is_set():
            started = time.monotonic()
            with runtime.db.write() as conn:
                conn.execute("INSERT INTO events (ts, kind, message) VALUES (?, 'test', 'during backup')",
                             (time.time(),))
            waits.append(time.monotonic() - started)
            time.sleep(0.01)

    thread = threading.Thread(target=writer)
    original = backup.snapshot_database
    dest = tmp_path / "snap.db"
    thread.start()
    try:
        started = time.monotonic()
        original(runtime.data_dir / "fleet.db", dest, include_secrets=False, pages=64, pause_s=0.02)
        took = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
    assert took > 0.5, took  # it did run in many steps, with the writer going on
    assert len(waits) > 20 and max(waits) < 0.5, (len(waits), max(waits))
    conn = sqlite3.connect(dest)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # One instant: every round's fleet total has its miners' samples (both are written in one transaction).
    rounds = {row[0] for row in conn.execute("SELECT id >> 8 FROM fleet_samples")}
    sampled = {row[0] for row in conn.execute("SELECT id >> 20 FROM samples")}
    assert rounds and rounds == sampled
    conn.close()

    # And through the API, twice while polling: each archive passes the restore's own checks.
    for _ in range(2):
        archive = live.test_client().get("/api/backup", headers=AUTH)
        assert archive.status_code == 200
        check = live.test_client().post("/api/restore?check=1", data=archive.data,
                                        headers={**AUTH, "Content-Type": "application/gzip"})
        assert check.status_code == 200, check.get_json()


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_restore_restarts_the_real_runtime_without_leaking_threads_or_descriptors(live):
    client = live.test_client()
    _wait(lambda: _samples(live) >= 12)
    archive = client.get("/api/backup", headers=AUTH).data

    def cycle() -> None:
        old = live.extensions["runtime"]
        reply = client.post("/api/restore", data=archive, headers={**AUTH, "Content-Type": "application/gzip"})
        assert reply.status_code == 200, reply.get_json()
        new = live.extensions["runtime"]
        assert new is not old and new.scheduler is not None and not new.read_only
        assert old._stopped.is_set() and old.db.open_connections() == 0
        rounds = _samples(live)
        _wait(lambda: _samples(live) > rounds)  # the new runtime polls and writes
        assert client.post("/api/restore/undo", headers=AUTH).status_code == 200
        _wait(lambda: _samples(live) > 0)

    cycle()  # warm-up: lazily made pools and imports exist from here on
    time.sleep(1.5)
    fds, threads = _fds(), threading.active_count()
    for _ in range(3):
        cycle()
    time.sleep(1.5)
    names = sorted(t.name for t in threading.enumerate())
    assert threading.active_count() <= threads, names
    assert _fds() <= fds + 2, (fds, _fds())  # +2: a reader connection of the pool may be open at the moment


# --- as start.sh runs it: gunicorn with its header-first worker --------------------------------------------------
def test_backup_and_restore_through_gunicorn(tmp_path):
    """A 2 MB archive downloaded and uploaded through serving/worker.py (a body past its 64 KB pre-read):
    the restore restarts the controller inside the same worker, which still polls and shuts down cleanly."""
    import socket

    import requests

    from database.db import Database
    from tests.gunicorn_proc import start_gunicorn, stop_group, workers

    host = f"{NET}.2"
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    config = tmp_path / "config.yaml"
    config.write_text(f"server:\n  host: {host}\n  port: {port}\n  data_dir: data\n"
                      "battery:\n  source: none\n"
                      f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n")
    db = Database(tmp_path / "data" / "fleet.db")
    with db.write() as conn:  # incompressible filler: the archive is well past the worker's pre-read
        conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, blob BLOB)")
        conn.executemany("INSERT INTO filler (blob) VALUES (randomblob(4000))", [()] * 500)
        conn.execute("INSERT INTO miners (ip, family, added_ts) VALUES ('10.9.9.9', 'bitaxe', 1)")
    db.close()
    base = f"http://{host}:{port}"
    with open(tmp_path / "gunicorn.log", "w+") as log:
        proc = start_gunicorn(config, log)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(base + "/api/restore/status", timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
            worker = workers(proc.pid)
            archive = requests.get(base + "/api/backup", headers=AUTH, timeout=30)
            assert archive.status_code == 200 and len(archive.content) > 1_500_000
            assert int(archive.headers["Content-Length"]) == len(archive.content)
            requests.delete(base + "/api/miners/10.9.9.9", headers=AUTH, timeout=5)
            reply = requests.post(base + "/api/restore", data=archive.content, timeout=60,
                                  headers={**AUTH, "Content-Type": "application/gzip"})
            assert reply.status_code == 200, reply.text
            assert workers(proc.pid) == worker  # restarted in-process: the same worker
            assert [m["ip"] for m in requests.get(base + "/api/miners", timeout=5).json()] == ["10.9.9.9"]
            assert requests.get(base + "/api/restore/status", timeout=5).json()["undo_available"] is True
        finally:
            stop_group(proc)
        log.seek(0)
        text = log.read()
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "internal error" not in text, text
    assert "controller stopped" not in text or text.count("controller started") >= 2, text
