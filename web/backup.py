"""Backup and restore over HTTP: ``GET /api/backup``, ``POST /api/restore``, ``POST /api/restore/undo``, ``GET /api/restore/status``.

The archive is made and checked by services/backup.py and services/restore.py;
this module authenticates, moves the upload to disk, and restarts the
controller around the file swap.

How the services restart (docs/backup.md): in-process. The running Runtime is
shut down (scheduler, poll, push, MQTT, alerts... exactly as gunicorn's
worker_exit does), the files are swapped, and a new Runtime is built from the
restored config and started, then put in ``app.extensions`` with the secrets
read again. Why not end the worker and let gunicorn start a new one: that
works only under gunicorn (not ``flask run`` or the tests), the reply to the
restore would be cut off, and a restored database the app cannot start with
could not be rolled back by the process that knows the undo copy. Settings
of the ``server:`` section (host, port, threads, allowed_hosts) are read by
gunicorn and the app factory only, so they apply at the next service restart.
"""

from __future__ import annotations

import atexit
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from flask import Flask, current_app, jsonify, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from services import backup, restore
from services.config import Config, load_config
from services.credentials import load_secrets
from services.runtime import Runtime
from web import access
from web.auth import caller, error, write_required
from web.body import BadRequest, no_body

log = logging.getLogger(__name__)

bp = access.blueprint("backup", __name__, url_prefix="/api")

RUNTIME_FACTORY = "runtime_factory"  # app.extensions key: Config -> Runtime (tests give fake drivers); default Runtime
# app.extensions key: the environment a restored config is loaded with (default os.environ, as at start;
# tests give {} so a developer's DATA_DIR or API_TOKEN cannot redirect a restore).
CONFIG_ENVIRON = "config_environ"
_BUSY = threading.Lock()  # one backup or restore at a time (each needs the disk and the database)
_RESTORING = threading.Event()  # while set, other API calls get 503 (the runtime is being replaced)
_UPLOAD_CHUNK = 256 * 1024
_DB_CLOSE_WAIT_S = 10.0  # requests still reading the old database give their connection back within this


def _busy() -> Any:
    return error("a backup or restore is already running; try again when it has finished", 409)


@bp.before_app_request
def _while_restoring() -> Any:
    """503 for API calls while the controller is being replaced (they would meet a closed database)."""
    if _RESTORING.is_set() and request.path != "/api/restore/status" and (
            request.path.startswith("/api/") or request.path in ("/ws", "/metrics")):
        reply, status = error("a restore is in progress: the controller restarts in a few seconds", 503)
        reply.headers["Retry-After"] = "5"
        return reply, status
    return None


def _flag(name: str) -> bool:
    value = request.args.get(name, "").strip().lower()
    if value not in ("", "0", "1", "true", "false", "yes", "no"):
        raise BadRequest(f"{name}: use 1 or 0")
    return value in ("1", "true", "yes")


@bp.get("/backup")
def download() -> Any:
    """One .tar.gz with the manifest, the config and a database snapshot; ?secrets=1 adds the secrets."""
    who = caller()
    if who is None:  # always, whatever security.reads_require_login says: it holds the whole history
        return error("authentication required: log in, or send Authorization: Bearer <API_TOKEN>", 401)
    include_secrets = _flag("secrets")
    if request.method == "HEAD":  # Flask answers HEAD with this view: never build an archive to throw away
        return "", 200, {"Content-Type": "application/gzip", "Cache-Control": "no-store"}
    runtime = access.runtime()
    if not _BUSY.acquire(blocking=False):
        return _busy()
    try:
        made = backup.build_archive(runtime.config, include_secrets=include_secrets)
    except backup.BackupError as exc:
        return error(str(exc), 507)
    finally:
        _BUSY.release()
    m = made.manifest
    if include_secrets:
        runtime.fleet.event("backup", f"backup with SECRETS downloaded ({made.size // 1024} KB, {m['miners']} miners): "
                            "it holds the password hash, API token and every stored password", actor=who,
                            severity="warning")
    else:
        runtime.fleet.event("backup", f"backup downloaded ({made.size // 1024} KB, {m['miners']} miners, no secrets)",
                            actor=who)
    reply = send_file(made.file, mimetype="application/gzip", as_attachment=True, download_name=made.filename,
                      max_age=0, conditional=False, etag=False)
    reply.content_length = made.size
    reply.headers["Cache-Control"] = "no-store"
    return reply


# --- receiving the upload ----------------------------------------------------------------------
def _upload_to_disk(work: Path) -> Path:
    """The uploaded archive (multipart field "archive", or the raw body) in a file under ``work``."""
    request.max_content_length = restore.MAX_ARCHIVE_BYTES  # this route only: app.py's cap is for JSON bodies
    if request.content_length is not None and request.content_length > restore.MAX_ARCHIVE_BYTES:
        raise BadRequest(f"archive too large ({request.content_length} bytes; at most "
                         f"{restore.MAX_ARCHIVE_BYTES // 2**20} MB)", 413)
    created: list[Path] = []

    def new_file(*_: Any, **__: Any) -> Any:
        fh = tempfile.NamedTemporaryFile(prefix="upload-", dir=work, delete=False)
        created.append(Path(fh.name))
        return fh

    try:
        if request.mimetype == "multipart/form-data":
            parser = FormDataParser(stream_factory=new_file, max_form_memory_size=64 * 1024, max_form_parts=8,
                                    max_content_length=restore.MAX_ARCHIVE_BYTES)
            _, _, files = parser.parse(request.stream, request.mimetype, request.content_length,
                                       request.mimetype_params)
            upload = files.get("archive") or next(iter(files.values()), None)
            if upload is None:
                raise BadRequest("send the archive as the multipart field \"archive\" (or as the raw body)")
            upload.stream.flush()
            path = Path(upload.stream.name)
            for item in files.values():
                item.stream.close()
        else:
            fh = new_file()
            path = Path(fh.name)
            with fh:
                for chunk in iter(lambda: request.stream.read(_UPLOAD_CHUNK), b""):
                    fh.write(chunk)
        if path.stat().st_size == 0:
            raise BadRequest("no archive in the request (empty body)")
    except RequestEntityTooLarge:
        _remove(created)
        raise BadRequest(f"archive too large (at most {restore.MAX_ARCHIVE_BYTES // 2**20} MB)", 413) from None
    except BaseException:
        _remove(created)
        raise
    _remove([p for p in created if p != path])
    return path


def _remove(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


# --- replacing the runtime -------------------------------------------------------------------------
def _environ(app: Flask) -> Mapping[str, str]:
    return app.extensions.get(CONFIG_ENVIRON, os.environ)


def _install(app: Flask, config: Config, running: bool) -> Any:
    """Build (and, if the old one ran, start) a runtime for ``config`` and make it the app's."""
    factory: Callable[[Config], Any] = app.extensions.get(RUNTIME_FACTORY) or Runtime
    runtime = factory(config)
    try:
        if running:
            runtime.start()
        secrets = load_secrets(config)
    except BaseException:
        runtime.shutdown()
        raise
    app.extensions["runtime"] = runtime
    app.extensions["secrets"] = secrets
    app.config["SECRET_KEY"] = secrets.secret_key
    app.config["CONTROLLER"] = config
    app.extensions.pop("sessions", None)  # web/auth.py's store is bound to the old runtime's database
    app.extensions.pop("config_editor", None)  # web/settings_api.py's editor: rebuilt on the restored file
    if running:
        atexit.register(runtime.shutdown)  # as create_app does for the first one
    return runtime


def _swap(app: Flask, change: Callable[[], dict[str, Any]], *, roll_back: bool) -> tuple[Any, dict[str, Any]]:
    """Stop the runtime, run ``change`` (the file swap), start a runtime on the result; returns it and change()'s."""
    old = app.extensions["runtime"]
    running = old.scheduler is not None
    config_path = backup.config_path_of(old.config)
    data_path = old.config.data_path
    _RESTORING.set()
    try:
        old.shutdown()
        atexit.unregister(old.shutdown)
        deadline = time.monotonic() + _DB_CLOSE_WAIT_S
        while old.db.open_connections() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            result = change()
        except BaseException:
            _install(app, old.config, running)  # nothing was replaced (apply() undoes its own partial work)
            raise
        try:
            return _install(app, load_config(config_path, environ=_environ(app)), running), result
        except Exception as exc:  # noqa: BLE001 - any failure to start must bring the previous data back
            log.error("the restored data did not start (%s): putting the previous data back", type(exc).__name__)
            if not roll_back:
                raise
            restore.undo(data_path=data_path, config_path=config_path)
            _install(app, load_config(config_path, environ=_environ(app)), running)
            raise restore.RestoreError(f"the restored data did not start ({type(exc).__name__}: {exc}); "
                                       "the previous data is back", 500) from None
    finally:
        _RESTORING.clear()


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:300]


@bp.post("/restore")
@write_required
def restore_archive() -> Any:
    """Check an uploaded archive, then (unless ?check=1) replace the database and config with it, keeping one undo."""
    who = access.actor()
    check_only = _flag("check")
    runtime = access.runtime()
    if runtime.read_only:
        return error("this process does not run the controller (another one holds the poller lock): "
                     "restore through the one that polls", 409)
    if not _BUSY.acquire(blocking=False):
        return _busy()
    upload: Path | None = None
    staged: restore.Staged | None = None
    try:
        data_path = runtime.config.data_path
        config_path = backup.config_path_of(runtime.config)
        upload = _upload_to_disk(backup.work_dir(data_path))
        try:
            staged = restore.stage(upload, config_path=config_path, data_path=data_path,
                                   environ=_environ(current_app))
        except restore.RestoreError as exc:
            # A log line, not an event: a refused archive leaves the database byte for byte as it was.
            log.warning("restore refused (by %s), nothing changed: %s", who, _printable(str(exc)))
            return error(str(exc), exc.status)
        finally:
            _remove([upload])
        summary = staged.summary()
        if check_only:
            return jsonify({"ok": True, "checked": True, "backup": summary})
        ready = staged
        new, _ = _swap(current_app._get_current_object(),
                       lambda: restore.apply(ready, data_path=data_path, config_path=config_path), roll_back=True)
        staged = None
        when = summary.get("created") or "?"
        new.fleet.event("restore", f"restored the backup made {when} (site {summary.get('site')}, "
                        f"{'with' if summary.get('secrets_included') else 'without'} secrets); "
                        "the previous data is kept for one undo", actor=who, severity="warning")
        log.warning("restored the backup made %s; the controller was restarted in-process", when)
        return jsonify({"ok": True, "backup": summary, "restarted": "in-process",
                        "undo": restore.status(data_path),
                        "note": "server.* settings (host, port, threads, allowed_hosts) apply at the next service restart"})
    except restore.RestoreError as exc:
        return error(str(exc), exc.status)
    finally:
        if staged is not None:
            staged.discard()
        _BUSY.release()


@bp.post("/restore/undo")
@write_required
def undo_restore() -> Any:
    """Put back the database, config and secrets the last restore replaced (one undo)."""
    no_body()
    who = access.actor()
    runtime = access.runtime()
    if runtime.read_only:
        return error("this process does not run the controller: undo through the one that polls", 409)
    data_path = runtime.config.data_path
    config_path = backup.config_path_of(runtime.config)
    if not restore.status(data_path)["undo_available"]:
        return error("there is no restore to undo", 409)
    if not _BUSY.acquire(blocking=False):
        return _busy()
    try:
        new, result = _swap(current_app._get_current_object(),
                            lambda: restore.undo(data_path=data_path, config_path=config_path), roll_back=False)
        restored = result.get("restored") or {}
        new.fleet.event("restore", f"restore undone: the data from before the restore of the backup made "
                        f"{restored.get('created') or '?'} is back", actor=who, severity="warning")
        return jsonify({"ok": True, "undone": result, "restarted": "in-process", "undo": restore.status(data_path)})
    except restore.RestoreError as exc:
        return error(str(exc), exc.status)
    finally:
        _BUSY.release()


@bp.get("/restore/status")
def restore_status() -> Any:
    """{undo_available, undo_ts, restored: what the last restore brought in}, and whether one runs now."""
    data_path = access.runtime().config.data_path
    return jsonify({**restore.status(data_path), "in_progress": _RESTORING.is_set(),
                    "max_archive_bytes": restore.MAX_ARCHIVE_BYTES})
