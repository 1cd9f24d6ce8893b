"""Scheduled backups to a folder over HTTP: ``GET /api/backup/schedule`` and ``POST /api/backup/schedule/run``.

The schedule itself is services/backup_schedule.py (a scheduler job of the runtime); this
module only answers its status and starts a run now. Both need a login or the API token
even when reads are open, like GET /api/backup: the status names the folder and archives.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from services.backup_schedule import ScheduleError
from web import access
from web.auth import caller, error, write_required
from web.body import no_body

bp = access.blueprint("backup_schedule", __name__, url_prefix="/api/backup/schedule")

_AUTH = "authentication required: log in, or send Authorization: Bearer <API_TOKEN>"


@bp.get("")
def schedule_status() -> Any:
    """{enabled, dir, every_hours, keep, include_secrets, last_ok_ts, last_file, last_size, last_error,
    last_error_ts, next_run_ts, running, archives: [{name, size, mtime}], ...} (docs/backup.md)."""
    if caller() is None:  # always, as GET /api/backup
        return error(_AUTH, 401)
    reply = jsonify(access.runtime().backup_schedule.status())
    reply.headers["Cache-Control"] = "no-store"
    return reply


@bp.post("/run")
@write_required
def run_now() -> Any:
    """Start one scheduled backup now, in the background: 202 with the status; 409 while one runs or when off."""
    no_body()
    runtime = access.runtime()
    schedule = runtime.backup_schedule
    if not runtime.config.backup.dir:
        return error("scheduled backups are off: set backup.dir (Settings -> Backup & restore, or config.yaml)", 409)
    try:
        started = schedule.run_now()
    except ScheduleError as exc:  # a read-only process: no scheduler here
        return error(str(exc), 409)
    if not started:
        return error("a scheduled backup is already running; try again when it has finished", 409)
    runtime.fleet.event("backup", "scheduled backup started by hand (Back up now)", actor=access.actor())
    return jsonify({"started": True, **schedule.status()}), 202
