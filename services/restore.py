"""Restore a backup archive (services/backup.py): check all of it first, then swap the files, keeping one undo copy.

``stage()`` reads the archive once, as a stream, and changes nothing the app
uses: the manifest must be first and of a known format version; every other
member must be a regular file named in it (no links, directories, devices or
paths), of the size it declares, within fixed bounds, with the SHA-256 it
declares; the total read is bounded (no decompression bomb) and the disk must
have room. The database must pass ``PRAGMA integrity_check`` and be of a layout
this code knows (an older one is converted by database/migrate.py, a newer one
refused); the config must load with services/config.py's validation. What it
wrote lives in DATA_DIR/backup-work and beside the config file until
``apply()`` or ``Staged.discard()``.

``apply()`` runs with the controller stopped (web/backup.py stops and restarts
it): the current database, config and secret files are linked or copied into
DATA_DIR/restore-undo (the ONE undo copy, replacing an older one), then the
staged files are moved over them with ``os.replace``, each one atomic. ``undo()``
puts the undo copy back the same way.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from database import migrate
from database.db import Database
from services import backup
from services.alerts.service import RUNNING_KEY
from services.config import ConfigError, load_config
from services.jsonbody import BadJson, decode

KNOWN_FORMAT_VERSIONS = (1,)
MAX_ARCHIVE_BYTES = 4 * 2**30  # an upload; a year of history at 200 miners compresses to well under this
MAX_MEMBER_BYTES = {backup.MANIFEST: 64 * 1024, backup.CONFIG: 2**20, backup.DATABASE: 16 * 2**30}
MAX_SECRET_BYTES = 4096  # a password hash, a token or a key: one line
_HEADER_ALLOWANCE = 64 * 1024  # tar headers, pax records and the end-of-archive padding
SPACE_MARGIN = 64 * 2**20  # left free on the data disk after staging
UNDO_DIR = "restore-undo"
UNDO_INFO = "undo.json"
_CHUNK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class RestoreError(Exception):
    """The archive (or this machine's state) does not allow a restore; ``status`` for the HTTP reply."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class _Bounded:
    """A reader that refuses to deliver more than ``limit`` bytes in total (the decompression-bomb fuse)."""

    def __init__(self, raw: Any, limit: int) -> None:
        self.raw, self.limit, self.read_bytes = raw, limit, 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes; RestoreError once the archive unpacks to more than its manifest allows."""
        want = self.limit - self.read_bytes + 1 if size is None or size < 0 else size
        data = self.raw.read(min(want, self.limit - self.read_bytes + 1))
        self.read_bytes += len(data)
        if self.read_bytes > self.limit:
            raise RestoreError("the archive unpacks to more than its manifest declares (refused: not a backup of ours)")
        return data


@dataclass
class Staged:
    """A checked archive, unpacked beside the files it will replace; nothing in use has changed yet."""

    manifest: dict[str, Any]
    directory: Path  # DATA_DIR/backup-work/restore-*
    database: Path
    config: Path | None = None  # beside the config file (same directory: os.replace is atomic)
    secrets: dict[str, Path] = field(default_factory=dict)  # DATA_DIR file name -> staged copy
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """What the archive is, for replies and events (never a secret)."""
        m = self.manifest
        return {"created": m.get("created"), "created_ts": m.get("created_ts"), "site": m.get("site"),
                "app_version": m.get("app_version"), "schema_version": m.get("schema_version"),
                "secrets_included": m.get("secrets_included"), "miners": m.get("miners"), "notes": list(self.notes)}

    def discard(self) -> None:
        """Remove every staged file (a refused or finished restore)."""
        if self.config is not None:
            _unlink(self.config)
        shutil.rmtree(self.directory, ignore_errors=True)


# --- reading and checking the archive -------------------------------------------------------
def _check_manifest(raw: bytes) -> dict[str, Any]:
    try:
        manifest = decode(raw, max_bytes=MAX_MEMBER_BYTES[backup.MANIFEST])
    except BadJson as exc:
        raise RestoreError(f"manifest.json: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != backup.FORMAT:
        raise RestoreError("manifest.json: not a minerfleet backup manifest")
    version = manifest.get("format_version")
    if version not in KNOWN_FORMAT_VERSIONS or isinstance(version, bool):
        raise RestoreError(f"backup format version {version!r} is not known to this app (it reads "
                           f"{', '.join(map(str, KNOWN_FORMAT_VERSIONS))}): made by a newer app? update this one first")
    schema = manifest.get("schema_version")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 0:
        raise RestoreError("manifest.json: schema_version must be a whole number")
    if schema > migrate.LAYOUT_VERSION:
        raise RestoreError(f"the database in this backup has layout {schema}, newer than this app's "
                           f"{migrate.LAYOUT_VERSION}: update the app (git pull; ./install.sh), then restore")
    if not isinstance(manifest.get("secrets_included"), bool):
        raise RestoreError("manifest.json: secrets_included must be true or false")
    members = manifest.get("members")
    if not isinstance(members, dict) or backup.CONFIG not in members or backup.DATABASE not in members:
        raise RestoreError("manifest.json: members must list config.yaml and fleet.db")
    allowed = {backup.CONFIG, backup.DATABASE} | (set(backup.SECRET_FILES) if manifest["secrets_included"] else set())
    for name, facts in members.items():
        if name not in allowed:
            raise RestoreError(f"manifest.json: unexpected member {name[:80]!r}")
        size = facts.get("size") if isinstance(facts, dict) else None
        digest = facts.get("sha256") if isinstance(facts, dict) else None
        limit = MAX_MEMBER_BYTES.get(name, MAX_SECRET_BYTES)
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= limit:
            raise RestoreError(f"manifest.json: {name}: size must be 0-{limit} bytes")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise RestoreError(f"manifest.json: {name}: sha256 must be 64 lowercase hex digits")
    return manifest


def _member_name_problem(member: tarfile.TarInfo, expected: Mapping[str, Any], seen: set[str]) -> str | None:
    name = member.name
    shown = name[:80]
    if name.startswith(("/", "\\")) or ".." in name.split("/") or "\\" in name:
        return f"unsafe member path {shown!r} (absolute or leaving the archive)"
    if not member.isreg() or member.issparse():
        return f"member {shown!r} is not a regular file (links, directories and devices are refused)"
    if name not in expected:
        return f"member {shown!r} is not listed in the manifest"
    if name in seen:
        return f"member {shown!r} appears twice"
    if member.size != expected[name]["size"]:
        return f"member {shown!r}: {member.size} bytes, the manifest says {expected[name]['size']}"
    return None


def _copy_member(source: Any, dest: Path, size: int) -> str:
    """Write ``size`` bytes of ``source`` to a new owner-only file; returns their SHA-256."""
    digest = hashlib.sha256()
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        left = size
        while left:
            chunk = source.read(min(_CHUNK, left))
            if not chunk:
                raise RestoreError(f"{dest.name}: the archive ends inside this member (truncated)")
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _unpack(archive: Path, into: Path) -> dict[str, Any]:
    """Check and unpack every member into ``into`` (named by member, '/' -> '_'); returns the manifest."""
    seen: set[str] = set()
    manifest: dict[str, Any] | None = None
    try:
        with open(archive, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            bounded = _Bounded(gz, MAX_MEMBER_BYTES[backup.MANIFEST] + _HEADER_ALLOWANCE)
            with tarfile.open(fileobj=bounded, mode="r|") as tar:
                for member in tar:
                    if manifest is None:
                        if member.name != backup.MANIFEST or not member.isreg():
                            raise RestoreError("manifest.json must be the archive's first member: not a backup of ours")
                        if member.size > MAX_MEMBER_BYTES[backup.MANIFEST]:
                            raise RestoreError("manifest.json is too large")
                        fh = tar.extractfile(member)
                        manifest = _check_manifest(fh.read(member.size) if fh else b"")
                        members = manifest["members"]
                        bounded.limit = (bounded.read_bytes + sum(m["size"] for m in members.values())
                                         + _HEADER_ALLOWANCE * (1 + len(members)))
                        _check_space(into, manifest)
                        continue
                    members = manifest["members"]
                    problem = _member_name_problem(member, members, seen)
                    if problem:
                        raise RestoreError(problem)
                    seen.add(member.name)
                    fh = tar.extractfile(member)
                    digest = _copy_member(fh, into / member.name.replace("/", "_"), member.size)
                    if digest != members[member.name]["sha256"]:
                        raise RestoreError(f"{member.name}: SHA-256 does not match the manifest (damaged archive)")
            while bounded.read(_CHUNK):  # to the gzip trailer: its CRC is checked, trailing junk is bounded
                pass
    except RestoreError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise RestoreError(f"not a readable backup archive ({type(exc).__name__}: {str(exc)[:120]})") from None
    except OSError as exc:
        raise RestoreError(f"could not unpack the archive: {exc.strerror or exc}", 500) from None
    if manifest is None:
        raise RestoreError("empty archive: no manifest.json")
    missing = sorted(set(manifest["members"]) - seen)
    if missing:
        raise RestoreError(f"the archive lacks {', '.join(missing)} (truncated?)")
    return manifest


def _check_space(directory: Path, manifest: dict[str, Any]) -> None:
    db_size = manifest["members"][backup.DATABASE]["size"]
    # An old layout is converted in place: room for the file twice while it runs.
    need = db_size * (2 if manifest["schema_version"] < migrate.LAYOUT_VERSION else 1) + SPACE_MARGIN
    free = shutil.disk_usage(directory).free
    if free < need:
        raise RestoreError(f"not enough free space for this backup: {need // 2**20} MB needed, "
                           f"{free // 2**20} MB free in {directory.parent.parent}", 507)


def _check_database(path: Path, manifest: dict[str, Any]) -> list[str]:
    """Integrity, layout and usability of the unpacked database; converts an older layout. Returns notes."""
    with open(path, "rb") as fh:
        if fh.read(16) != _SQLITE_MAGIC:
            raise RestoreError("fleet.db: not an SQLite database")
    notes: list[str] = []
    try:
        conn = sqlite3.connect(str(path), isolation_level=None)
        try:
            rows = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
            if rows != ["ok"]:
                raise RestoreError(f"fleet.db fails SQLite's integrity check: {'; '.join(map(str, rows))[:300]}")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            old = migrate.needs_migration(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"fleet.db: SQLite cannot read it ({exc})") from None
    if version > migrate.LAYOUT_VERSION:
        raise RestoreError(f"fleet.db has layout {version}, newer than this app's {migrate.LAYOUT_VERSION}: "
                           "update the app, then restore")
    if "miners" not in tables:
        raise RestoreError("fleet.db: no miners table: not a fleet database")
    if old:
        try:
            migrate.migrate(path)
        except (migrate.MigrationError, sqlite3.Error) as exc:
            raise RestoreError(f"fleet.db: its old layout cannot be converted: {exc}") from None
        notes.append(f"database converted from layout {version} to {migrate.LAYOUT_VERSION}")
    try:  # the app's own open: schema additions of this version, the same checks as at start
        Database(path, readers=1).close()
        conn = sqlite3.connect(str(path), isolation_level=None)
        try:
            # The backup was taken while the controller ran: its "running" mark would read as a crash.
            conn.executemany("DELETE FROM state WHERE key = ?",
                             [(key,) for key in (RUNNING_KEY, *backup.VOLATILE_STATE_KEYS)])
            conn.execute("PRAGMA journal_mode=DELETE")
        finally:
            conn.close()
    except (sqlite3.Error, RuntimeError) as exc:
        raise RestoreError(f"fleet.db: this app cannot open it ({type(exc).__name__}: {exc})") from None
    return notes


def _check_secret(name: str, path: Path) -> None:
    text = path.read_bytes()
    try:
        line = text.decode("ascii").strip()
    except UnicodeDecodeError:
        raise RestoreError(f"{name}: not a secret file of ours (not ASCII)") from None
    if not line or "\n" in line:
        raise RestoreError(f"{name}: not a secret file of ours (must be one non-empty line)")


def _redact(message: str, data: dict[str, Any]) -> str:
    """``message`` with every secret value of the config data replaced by *** (a reply or event never shows one)."""
    _, removed = backup.strip_config_secrets(data)
    values: list[str] = []
    for key in removed:
        if key.startswith("miners["):
            continue
        node: Any = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        values += [str(v) for v in (node if isinstance(node, list) else [node]) if v not in (None, "")]
    values += [str(m["password"]) for m in data.get("miners") or [] if isinstance(m, dict) and m.get("password")]
    for value in sorted(values, key=len, reverse=True):
        message = message.replace(value, "***")
    return message


def _stage_config(unpacked: Path, manifest: dict[str, Any], config_path: Path, data_path: Path,
                  environ: Mapping[str, str]) -> tuple[Path, list[str]]:
    """The backup's config, checked by load_config, written beside the config file; returns it and notes."""
    raw = unpacked.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RestoreError(f"config.yaml in the backup is not readable YAML ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(data, dict):
        raise RestoreError("config.yaml in the backup is not a mapping of sections")
    notes: list[str] = []
    edits: list[Callable[[dict[str, Any], bool], Any]] = []
    if not manifest["secrets_included"]:
        try:
            current = backup.read_config_data(config_path)
        except (backup.BackupError, yaml.YAMLError):
            current = {}
        taken = backup.merge_config_secrets(data, current)
        if taken:
            edits.append(lambda tree, quote: backup.merge_config_secrets(tree, current, quote=quote))
            notes.append(f"secrets not in the backup kept from this controller's config: {', '.join(taken)}")
    directory = config_path.parent
    if not os.access(directory, os.W_OK):
        raise RestoreError(f"cannot write {directory}: the service needs write access to the config's folder "
                           "to replace the config file atomically (docs/backup.md)", 409)

    def write() -> Path:
        blob = raw
        if edits:  # the backup's own text, edited with its comments kept (services/yaml_roundtrip.py)
            text, _ = backup.rewrite_config(raw.decode("utf-8"), lambda tree, quote: [e(tree, quote) for e in edits])
            blob = ("# Restored from a backup: " + "; ".join(notes) + "\n" + text).encode()
        fd, name = tempfile.mkstemp(prefix=f".{config_path.name}.restore-", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.chmod(name, 0o600)  # it may hold secrets, like the file it replaces
        return Path(name)

    staged = write()
    try:
        try:
            loaded = load_config(staged, environ=environ)
        except ConfigError as exc:
            hint = ("" if manifest["secrets_included"] else
                    " (this backup has no secrets: restore one made with secrets, or give them by environment)")
            raise RestoreError(f"config.yaml in the backup: {_redact(str(exc), data)}{hint}") from None
        if loaded.data_path != data_path:
            # Another machine's data folder: the restored files go into THIS one, and the config must say so.
            def keep_data_dir(tree: dict[str, Any], quote: bool) -> None:
                if not isinstance(tree.get("server"), dict):
                    tree["server"] = {}
                tree["server"]["data_dir"] = backup.as_written(str(data_path), quote)

            edits.append(keep_data_dir)
            notes.append(f"server.data_dir kept as {data_path}")
            _unlink(staged)
            staged = write()
            try:
                load_config(staged, environ=environ)
            except ConfigError as exc:
                raise RestoreError(f"config.yaml in the backup: {_redact(str(exc), data)}") from None
    except BaseException:
        _unlink(staged)
        raise
    return staged, notes


def stage(archive: Path, *, config_path: Path, data_path: Path,
          environ: Mapping[str, str] | None = None) -> Staged:
    """Check the whole archive and unpack it beside what it replaces; RestoreError (nothing changed) if refused."""
    environ = os.environ if environ is None else environ
    directory = Path(tempfile.mkdtemp(prefix="restore-", dir=backup.work_dir(data_path)))
    staged = Staged(manifest={}, directory=directory, database=directory / backup.DATABASE)
    try:
        staged.manifest = _unpack(archive, directory)
        staged.notes += _check_database(staged.database, staged.manifest)
        for member, name in backup.SECRET_FILES.items():
            path = directory / member.replace("/", "_")
            if path.exists():
                _check_secret(member, path)
                staged.secrets[name] = path
        staged.config, notes = _stage_config(directory / backup.CONFIG, staged.manifest, config_path, data_path,
                                             environ)
        staged.notes += notes
    except BaseException:
        staged.discard()
        raise
    return staged


# --- swapping files (the controller is stopped) --------------------------------------------
def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def fold_wal(db_path: Path) -> None:
    """Fold the write-ahead log into the file and remove -wal/-shm (no other connection may be open)."""
    if db_path.exists():
        conn = sqlite3.connect(str(db_path), isolation_level=None, timeout=10)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    for suffix in ("-wal", "-shm"):
        _unlink(Path(str(db_path) + suffix))


def _carry_over(current_db: Path, into_db: Path, *, credentials: bool) -> None:
    """Copy this machine's live sessions (and, for a backup without secrets, the miners' logins) into ``into_db``."""
    if not current_db.exists():
        return
    conn = sqlite3.connect(str(into_db), isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS cur", (str(current_db),))
        conn.execute("BEGIN")
        keys = ",".join("?" * len(backup.VOLATILE_STATE_KEYS))
        conn.execute(f"INSERT OR REPLACE INTO main.state SELECT * FROM cur.state WHERE key IN ({keys})",
                     backup.VOLATILE_STATE_KEYS)
        if credentials:
            conn.execute("UPDATE main.miners SET credentials = (SELECT c.credentials FROM cur.miners c "
                         "WHERE c.ip = main.miners.ip) WHERE credentials IS NULL")
            tables = {r[0] for r in conn.execute("SELECT name FROM cur.sqlite_master WHERE type = 'table'")}
            if backup.POOL_SETS in tables:  # main has the table: the restore's own open created it
                backup.carry_pool_passwords(conn, "cur")
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE cur")
    finally:
        conn.close()


def _link_or_copy(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)  # same disk: instant, and the original stays in place until replaced
    except OSError:
        shutil.copy2(source, dest)


def _write_atomic(path: Path, blob: bytes) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.undo-", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
    os.chmod(name, 0o600)
    os.replace(name, path)


def _keep_undo(data_path: Path, config_path: Path, staged: Staged, now: float) -> Path:
    """Make DATA_DIR/restore-undo hold the current files (replacing an older undo copy); returns it."""
    db_path = data_path / "fleet.db"
    fresh = data_path / (UNDO_DIR + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(mode=0o700)
    if db_path.exists():
        _link_or_copy(db_path, fresh / "fleet.db")
    had_config = config_path.exists()
    if had_config:
        fd = os.open(fresh / "config.yaml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(config_path.read_bytes())
    kept, absent = [], []
    for name in staged.secrets:
        if (data_path / name).exists():
            _link_or_copy(data_path / name, fresh / name)
            kept.append(name)
        else:
            absent.append(name)
    info = {"ts": now, "config_path": str(config_path), "had_config": had_config, "had_database": db_path.exists(),
            "secrets": kept, "absent_secrets": absent, "restored": staged.summary()}
    (fresh / UNDO_INFO).write_text(json.dumps(info))
    final, old = data_path / UNDO_DIR, data_path / (UNDO_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(fresh, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def apply(staged: Staged, *, data_path: Path, config_path: Path, now: float | None = None) -> dict[str, Any]:
    """Keep the current files as the undo copy and move the staged ones in (the controller must be stopped)."""
    now = time.time() if now is None else now
    db_path = data_path / "fleet.db"
    fold_wal(db_path)
    _carry_over(db_path, staged.database, credentials=not staged.manifest["secrets_included"])
    _keep_undo(data_path, config_path, staged, now)
    try:
        os.replace(staged.database, db_path)
        assert staged.config is not None
        os.replace(staged.config, config_path)
        staged.config = None
        for name, path in staged.secrets.items():
            os.replace(path, data_path / name)
    except OSError:
        undo(data_path=data_path, config_path=config_path)  # whatever was replaced goes back
        raise
    finally:
        staged.discard()
    return staged.summary()


def undo(*, data_path: Path, config_path: Path) -> dict[str, Any]:
    """Put the undo copy back (the controller must be stopped); RestoreError 409 when there is none."""
    folder = data_path / UNDO_DIR
    try:
        info = json.loads((folder / UNDO_INFO).read_text())
    except (OSError, ValueError):
        raise RestoreError("there is no restore to undo", 409) from None
    db_path = data_path / "fleet.db"
    fold_wal(db_path)
    if (folder / "fleet.db").exists():
        _carry_over(db_path, folder / "fleet.db", credentials=False)
        os.replace(folder / "fleet.db", db_path)
    elif not info.get("had_database"):
        _unlink(db_path)
    if info.get("had_config") and (folder / "config.yaml").exists():
        _write_atomic(config_path, (folder / "config.yaml").read_bytes())
    elif not info.get("had_config"):
        _unlink(config_path)
    for name in info.get("secrets", []):
        if (folder / name).exists():
            os.replace(folder / name, data_path / name)
    for name in info.get("absent_secrets", []):
        _unlink(data_path / name)
    shutil.rmtree(folder, ignore_errors=True)
    return {"undone_ts": time.time(), "restored": info.get("restored"), "undo_of_ts": info.get("ts")}


def status(data_path: Path) -> dict[str, Any]:
    """Whether an undo copy is there, since when, and what was restored over it (never a secret)."""
    try:
        info = json.loads((data_path / UNDO_DIR / UNDO_INFO).read_text())
    except (OSError, ValueError):
        return {"undo_available": False, "undo_ts": None, "restored": None}
    return {"undo_available": True, "undo_ts": info.get("ts"), "restored": info.get("restored")}
