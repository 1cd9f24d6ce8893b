"""One backup archive of this controller: a manifest, the config file and a consistent database snapshot.

The archive is a gzip-compressed tar (``.tar.gz``: Python's tarfile, readable by
``tar -xzf`` on any Pi) written to a temporary file under DATA_DIR, never held
in memory. Its members, in this order (restore reads them as a stream):

- ``manifest.json``: format and version, the app's git revision, the database
  layout, when and where it was made, whether secrets are in it, and the size
  and SHA-256 of every other member;
- ``config.yaml``: the config file as it is (with secrets) or, without secrets,
  re-written from its values with every secret key removed (comments are lost);
- ``fleet.db``: a snapshot by SQLite's online backup API (never a file copy:
  a copy taken while the poll loop writes can be torn, and the WAL would be
  missing); without secrets the miners' logins are cleared from it;
- ``secrets/<file>``: with secrets only, the password hash, API token and
  session key files of DATA_DIR (services/credentials.py).

Why the snapshot holds one read transaction for the whole copy: the backup
API copies a few pages at a time so the SD card is not saturated, but a
step-wise backup restarts from page 1 whenever another connection writes in
between, which on a polling controller never finishes (measured: 2,000 steps
for a 40-step copy and counting). In WAL mode a reader's open transaction pins
its snapshot and blocks no writer, so the copy is of one instant, in pages,
while the poll loop keeps writing (docs/backup.md).
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

from database.migrate import LAYOUT_VERSION
from services.config import Config, default_config_path
from services.credentials import PASSWORD_FILE, SECRET_KEY_FILE, TOKEN_FILE

FORMAT = "minerfleet-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CONFIG = "config.yaml"
DATABASE = "fleet.db"
# Archive member -> file in DATA_DIR (only in a backup made with secrets).
SECRET_FILES = {f"secrets/{name}": name for name in (PASSWORD_FILE, TOKEN_FILE, SECRET_KEY_FILE)}
WORK_DIR = "backup-work"  # under DATA_DIR: temporary archives and snapshots (same disk as the data)

# Config keys holding a secret (YAML paths); miners[*].password is handled per miner.
SECRET_CONFIG_KEYS: tuple[tuple[str, ...], ...] = (
    ("security", "api_token"), ("security", "admin_password"), ("ems", "token"),
    ("battery", "eg4", "password"), ("battery", "homeassistant", "token"), ("battery", "mqtt", "password"),
    ("prices", "tibber", "token"), ("mqtt", "password"),
    ("alerts", "urls"),  # Apprise URLs carry their service's token (tgram://bot-token/..., ntfy://user:pass@...)
)
# Database columns holding a secret: cleared in a backup without secrets (a table missing here is skipped).
SECRET_COLUMNS: tuple[tuple[str, str], ...] = (("miners", "credentials"),)
# Pool sets keep [{url, user, password}] as JSON (services/pool_sets.py): the passwords are emptied instead.
POOL_SETS = "pool_sets"
# State rows never put in a backup: the dashboard's session ids are bearer secrets of this machine only.
VOLATILE_STATE_KEYS: tuple[str, ...] = ("auth.sessions",)

SNAPSHOT_PAGES = 256  # pages per backup step (1 MB at SQLite's 4 KB pages)
SNAPSHOT_PAUSE_S = 0.005  # between steps: the poll loop's own reads and writes of the SD card go first
GZIP_LEVEL = 6  # zlib's default: a Pi 4 compresses ~20 MB/s of database pages at this level
_CHUNK = 1024 * 1024
_ROOT = Path(__file__).resolve().parent.parent


class BackupError(RuntimeError):
    """A backup could not be made (no disk space, an unreadable file); str() says why."""


@dataclass(frozen=True)
class BackupFile:
    """A finished archive: the open file (already unlinked: it vanishes when closed) and its facts."""

    file: Any  # binary file object positioned at 0
    size: int
    filename: str  # the download name: minerfleet-<site>-<UTC time>.tar.gz
    manifest: dict[str, Any]
    path: Path | None = None  # where the file still has a name (build_archive(work=...)); None = unlinked


def config_path_of(config: Config) -> Path:
    """The file this config was read from (the default path when it came from defaults only)."""
    return Path(config.source) if config.source else default_config_path()


def app_version(root: Path = _ROOT) -> str | None:
    """The git revision of this checkout (12 hex digits), read from .git without running git; None if unknown."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12] or None
        ref = head[5:]
        if (git / ref).is_file():
            return (git / ref).read_text().strip()[:12] or None
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:12]
    except OSError:
        pass
    return None


# --- secrets of the config ----------------------------------------------------------------
def as_written(value: Any, quote: bool) -> Any:
    """``value`` for a ruamel tree (``quote``): strings double-quoted, so PyYAML (YAML 1.1) reads the same text."""
    if not quote:
        return copy.deepcopy(value)
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, str):
        return DoubleQuotedScalarString(value)
    if isinstance(value, list):
        return [as_written(v, quote) for v in value]
    return copy.deepcopy(value)


def strip_secrets_in_place(data: dict[str, Any]) -> list[str]:
    """Remove every secret key from config data (a dict or a ruamel tree); returns the dotted keys that held one."""
    removed: list[str] = []
    for path in SECRET_CONFIG_KEYS:
        node: Any = data
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]) not in (None, "", [], ()):
            del node[path[-1]]
            removed.append(".".join(path))
        elif isinstance(node, dict):
            node.pop(path[-1], None)
    miners = data.get("miners")
    if isinstance(miners, list):
        for i, entry in enumerate(miners):
            if isinstance(entry, dict) and entry.get("password") not in (None, ""):
                del entry["password"]
                removed.append(f"miners[{i}].password")
    return removed


def strip_config_secrets(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of config data without its secrets, and the dotted keys that held one."""
    data = copy.deepcopy(data)
    return data, strip_secrets_in_place(data)


def merge_config_secrets(data: dict[str, Any], current: dict[str, Any], *, quote: bool = False) -> list[str]:
    """Put the secrets of ``current`` into ``data`` where ``data`` has none (in place); returns the keys taken.

    A backup without secrets restored on the same controller keeps that controller's
    tokens and passwords instead of silently losing them; miners match by IP.
    ``quote``: ``data`` is a ruamel tree (see _as_written).
    """
    taken: list[str] = []
    for path in SECRET_CONFIG_KEYS:
        source: Any = current
        for key in path:
            source = source.get(key) if isinstance(source, dict) else None
        if source in (None, "", [], ()):
            continue
        node: Any = data
        for key in path[:-1]:
            if node.get(key) is None:
                node[key] = {}
            node = node[key]
            if not isinstance(node, dict):
                break
        if isinstance(node, dict) and node.get(path[-1]) in (None, "", [], ()):
            node[path[-1]] = as_written(source, quote)
            taken.append(".".join(path))
    passwords = {m.get("ip"): m.get("password") for m in current.get("miners") or [] if isinstance(m, dict)}
    for entry in data.get("miners") or []:
        if isinstance(entry, dict) and not entry.get("password") and passwords.get(entry.get("ip")):
            entry["password"] = as_written(passwords[entry["ip"]], quote)
            taken.append(f"miners[{entry['ip']}].password")
    return taken


def rewrite_config(text: str, edit: Callable[[dict[str, Any], bool], Any]) -> tuple[str, bool]:
    """``text`` with ``edit(data, quote)`` applied, comments kept where possible; returns (text, comments_kept).

    The edit runs on a ruamel round-trip tree (services/yaml_roundtrip.py: comments, order and
    quoting survive) and on PyYAML's plain data; the tree's text is used only if PyYAML reads
    it back as exactly the edited data, else the plain data is dumped (comments lost).
    """
    from services.yaml_roundtrip import COMMENTS_KEPT, Document

    plain = yaml.safe_load(text) or {}
    if not isinstance(plain, dict):
        raise BackupError("the config is not a mapping of sections")
    expected = copy.deepcopy(plain)
    edit(expected, False)
    if COMMENTS_KEPT:
        try:
            doc = Document(text)
            edit(doc.tree, True)
            out = doc.text()
            if (yaml.safe_load(out) or {}) == expected:
                return out, True
        except Exception:  # noqa: BLE001 - any round-trip trouble: the plain dump below is always right
            pass
    return (yaml.safe_dump(expected, sort_keys=False, allow_unicode=True) if expected else "{}\n"), False


def read_config_data(path: Path) -> dict[str, Any]:
    """The config file's YAML as data ({} when the file is missing or empty)."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise BackupError(f"{path}: not a mapping of sections")
    return data


def _config_bytes(path: Path, include_secrets: bool, when: str) -> tuple[bytes, list[str]]:
    """The config member: the file as it is, or its values without secrets (and which keys were removed)."""
    if include_secrets:
        return (path.read_bytes() if path.exists() else b"{}\n"), []
    text = path.read_text() if path.exists() else "{}\n"
    _, removed = strip_config_secrets(read_config_data(path))
    body, kept = rewrite_config(text, lambda data, _quote: strip_secrets_in_place(data))
    header = (f"# Backup of {path} made {when} WITHOUT secrets: these keys were removed: "
              f"{', '.join(removed) or 'none'}.\n"
              + ("" if kept else "# Re-written from its values: the original file's comments are not in this copy.\n"))
    return (header + body).encode(), removed


# --- the database snapshot ----------------------------------------------------------------
def snapshot_database(source: Path, dest: Path, *, include_secrets: bool,
                      pages: int = SNAPSHOT_PAGES, pause_s: float = SNAPSHOT_PAUSE_S) -> None:
    """Copy ``source`` into a new file ``dest`` with the online backup API, as of one instant.

    The source connection holds one read transaction across every step (see the
    module docstring); writers are never blocked. The copy is then a self-contained
    rollback-journal file with the volatile state rows (and, without secrets, the
    secret columns) removed; secure_delete zeroes what they occupied.
    """
    # Not mode=ro: a read-only open of a WAL file cannot always map its -shm; query_only keeps it a reader.
    src = sqlite3.connect(str(source), isolation_level=None, timeout=10)
    try:
        src.execute("PRAGMA query_only=1")
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the read transaction (and its snapshot) starts here
        os.close(os.open(dest, os.O_WRONLY | os.O_CREAT, 0o600))  # it holds the history (and maybe logins)
        dst = sqlite3.connect(str(dest), isolation_level=None)
        try:
            src.backup(dst, pages=max(1, pages), progress=lambda *_: time.sleep(pause_s) if pause_s > 0 else None)
        finally:
            src.execute("COMMIT")
        try:
            dst.execute("PRAGMA journal_mode=DELETE")  # the copied header says WAL; the archive holds one file
            dst.execute("PRAGMA secure_delete=ON")
            tables = {row[0] for row in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            dst.execute("BEGIN")
            if "state" in tables:
                dst.executemany("DELETE FROM state WHERE key = ?", [(key,) for key in VOLATILE_STATE_KEYS])
            if not include_secrets:
                for table, column in SECRET_COLUMNS:
                    if table in tables:
                        dst.execute(f"UPDATE {table} SET {column} = NULL WHERE {column} IS NOT NULL")
                if POOL_SETS in tables:
                    strip_pool_passwords(dst)
            dst.execute("COMMIT")
        finally:
            dst.close()
    finally:
        src.close()


def _pool_entries(text: str) -> list[Any]:
    try:
        pools = json.loads(text)
    except ValueError:
        return []
    return pools if isinstance(pools, list) else []


def strip_pool_passwords(conn: sqlite3.Connection) -> None:
    """Empty every pool password of the pool sets (a set without one sends the usual "x")."""
    for row_id, text in conn.execute(f"SELECT id, pools FROM {POOL_SETS}").fetchall():
        pools = _pool_entries(text)
        if any(isinstance(p, dict) and p.get("password") for p in pools):
            for p in pools:
                if isinstance(p, dict) and "password" in p:
                    p["password"] = ""
            conn.execute(f"UPDATE {POOL_SETS} SET pools = ? WHERE id = ?", (json.dumps(pools), row_id))


def carry_pool_passwords(conn: sqlite3.Connection, schema: str) -> None:
    """Fill empty pool passwords of ``main``'s pool sets from the attached ``schema``'s (same set name, URL and user)."""
    current: dict[tuple, str] = {}
    for name, text in conn.execute(f"SELECT name, pools FROM {schema}.{POOL_SETS}").fetchall():
        for p in _pool_entries(text):
            if isinstance(p, dict) and p.get("password"):
                current[(str(name).lower(), p.get("url"), p.get("user"))] = p["password"]
    for row_id, name, text in conn.execute(f"SELECT id, name, pools FROM main.{POOL_SETS}").fetchall():
        pools, changed = _pool_entries(text), False
        for p in pools:
            key = (str(name).lower(), p.get("url"), p.get("user")) if isinstance(p, dict) else None
            if key in current and not p.get("password"):
                p["password"], changed = current[key], True
        if changed:
            conn.execute(f"UPDATE main.{POOL_SETS} SET pools = ? WHERE id = ?", (json.dumps(pools), row_id))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_space(directory: Path, need: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < need:
        raise BackupError(f"not enough free space in {directory}: {need // 2**20} MB needed, {free // 2**20} MB free")


STALE_S = 86400.0  # a file this old in the work directory was left by a killed backup or restore


def work_dir(data_dir: Path, now: float | None = None) -> Path:
    """DATA_DIR/backup-work (made owner-only): temporary archives, snapshots and uploads.

    What a killed process left there (older than a day: no backup or restore runs that long)
    is removed on the way, so a power cut during a backup never fills the SD card for good.
    """
    return prepared_dir(data_dir / WORK_DIR, now)


def prepared_dir(path: Path, now: float | None = None) -> Path:
    """``path`` made (owner-only) with what a killed run left there more than a day ago removed."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = time.time() if now is None else now
    for entry in path.iterdir():
        try:
            if now - entry.lstat().st_mtime <= STALE_S:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            pass
    return path


def _member(tar: tarfile.TarFile, name: str, size: int, fileobj: Any, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o600
    tar.addfile(info, fileobj)


def build_archive(config: Config, *, include_secrets: bool, now: float | None = None,
                  work: Path | None = None) -> BackupFile:
    """Make the archive in DATA_DIR/backup-work and return it open and already unlinked (bounded memory).

    ``work``: make the snapshot and the archive in this folder instead, and leave the archive
    there under its temporary name (BackupFile.path) for the caller to rename: a scheduled
    backup builds on the USB stick itself, so the SD card writes neither the snapshot nor the archive.
    """
    now = time.time() if now is None else now
    data_dir = config.data_path
    db_path = data_dir / "fleet.db"
    config_path = config_path_of(config)
    keep_name = work is not None
    work = work_dir(data_dir) if work is None else work
    db_size = db_path.stat().st_size if db_path.exists() else 0
    _check_space(work, 2 * db_size + 64 * 2**20)  # the snapshot plus an archive at most its size, and a margin
    when = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    config_bytes, removed = _config_bytes(config_path, include_secrets, when)
    fd, name = tempfile.mkstemp(prefix="snapshot-", suffix=".db", dir=work)
    os.close(fd)
    snapshot = Path(name)
    archive = tempfile.NamedTemporaryFile(prefix="backup-", suffix=".tar.gz", dir=work, delete=False)
    try:
        snapshot_database(db_path, snapshot, include_secrets=include_secrets)
        secret_files = {member: data_dir / name for member, name in SECRET_FILES.items()
                        if include_secrets and (data_dir / name).is_file()}
        members: dict[str, dict[str, Any]] = {
            CONFIG: {"size": len(config_bytes), "sha256": hashlib.sha256(config_bytes).hexdigest()},
            DATABASE: {"size": snapshot.stat().st_size, "sha256": _sha256(snapshot)},
        }
        secret_bytes = {member: path.read_bytes() for member, path in secret_files.items()}
        for member, blob in secret_bytes.items():
            members[member] = {"size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
        with sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True) as conn:
            schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
            miners = int(conn.execute("SELECT count(*) FROM miners").fetchone()[0])
        conn.close()
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "app_version": app_version(), "schema_version": schema, "layout_version": LAYOUT_VERSION,
            "created_ts": round(now, 3), "created": datetime.fromtimestamp(now, timezone.utc).isoformat(),
            "site": config.site, "secrets_included": include_secrets, "secrets_removed": removed,
            "miners": miners, "members": members,
        }
        manifest_bytes = json.dumps(manifest, indent=2).encode()
        os.chmod(archive.name, 0o600)
        with gzip.GzipFile(filename="", mode="wb", fileobj=archive, compresslevel=GZIP_LEVEL, mtime=int(now)) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                _member(tar, MANIFEST, len(manifest_bytes), io.BytesIO(manifest_bytes), now)
                _member(tar, CONFIG, len(config_bytes), io.BytesIO(config_bytes), now)
                with open(snapshot, "rb") as fh:
                    _member(tar, DATABASE, members[DATABASE]["size"], fh, now)
                for member, blob in secret_bytes.items():
                    _member(tar, member, len(blob), io.BytesIO(blob), now)
        archive.flush()
        size = archive.tell()
        archive.seek(0)
        if not keep_name:
            os.unlink(archive.name)  # the open handle keeps the data until the download is sent and closed
    except BaseException:
        archive.close()
        _unlink(Path(archive.name))
        raise
    finally:
        _unlink(snapshot)
        _unlink(Path(str(snapshot) + "-journal"))
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%d-%H%M%S")
    return BackupFile(file=archive, size=size, filename=f"minerfleet-{config.site}-{stamp}.tar.gz", manifest=manifest,
                      path=Path(archive.name) if keep_name else None)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
