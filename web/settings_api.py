"""/api/settings: read and change the common configuration (the Settings page; docs/settings.md).

Every route needs a login or the API token, reads included: the settings show the battery
portal's account, addresses and the config file's path, which the LAN at large need not see.
Secrets are write-only: GET says only whether each is set and where it comes from; a new API
or EMS token is in the reply of the call that made it and nowhere else. A change is validated
whole by start-up's own loader before anything is written (services/config_edit.py).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from flask import current_app, jsonify, request, session

from services.config import Config, ConfigError
from services.config_edit import ConfigEditError, ConfigEditor, EditResult
from services.config_keys import catalogue, get_path
from services.config_live import apply_live, effective, pending_restart
from services.credentials import PASSWORD_FILE, TOKEN_FILE, HashFile
from services.secret_change import check_new_password, new_token, store_api_token, store_password
from web import access
from web.auth import caller, error, sessions, write_required
from web.body import boolean, json_object, no_body, text
from web.settings_common import APPLY_LOCK, login_required_reply, no_store, set_running
from web.settings_common import editor as config_editor

bp = access.blueprint("settings_api", __name__, url_prefix="/api/settings")

_MAX_WRONG, _WINDOW_S = 5, 60.0  # wrong current passwords per address and minute, as the login's limit
_WRONG: dict[str, list[float]] = {}
_BATTERY_SECRETS = ("battery.eg4.password", "battery.homeassistant.token", "battery.mqtt.password")


bp.after_request(no_store)


@bp.errorhandler(ConfigEditError)
def _refused(exc: ConfigEditError):
    return error(str(exc), exc.status, key=exc.key)


def _running() -> Config:
    return current_app.config["CONTROLLER"]


def _adopt(result: EditResult) -> dict[str, Any]:
    """Run with what was saved: live keys now, the rest listed as needing a restart."""
    runtime = access.runtime()
    new = effective(_running(), result.config)
    live = apply_live(runtime, new, result.changed, actor=access.actor())
    current_app.config["CONTROLLER"] = new
    keys = catalogue()
    return {"changed": list(result.changed), "applied": live,
            "restart_required": [k for k in result.changed if not keys[k].live],
            "restart_pending": pending_restart(new, result.config), "backup": result.backup}


def _event(message: str) -> None:
    access.runtime().fleet.event("settings", message, actor=access.actor())


def _shown(key: str, value: Any) -> str:
    """A key for the event log: numbers and switches with their value; text by name only (the events are
    readable on the LAN, and a URL or topic can carry a credential)."""
    info = catalogue()[key]
    if info.secret or info.kind == "text":
        return key
    return f"{key} = {value!r}"


def _secret_state(editor: ConfigEditor, saved: Config) -> dict[str, dict[str, Any]]:
    """Whether each secret is set and where it comes from; never a value."""
    running, secrets = _running(), current_app.extensions["secrets"]
    data = running.data_path

    def where(key: str, in_config: bool, file: str | None = None) -> str | None:
        if editor.env_var(key):
            return "environment"
        if in_config:
            return "config.yaml"
        return "data_dir" if file and (data / file).exists() else None

    state = {
        "security.admin_password": {"set": bool(secrets.password or secrets.current_hash()),
                                    "from": where("security.admin_password", bool(saved.security.admin_password),
                                                  PASSWORD_FILE)},
        "security.api_token": {"set": bool(secrets.api_token),
                               "from": where("security.api_token", bool(saved.security.api_token), TOKEN_FILE)},
        "ems.token": {"set": bool(running.ems.token), "from": where("ems.token", bool(saved.ems.token))},
    }
    for key in _BATTERY_SECRETS:
        state[key] = {"set": bool(get_path(saved, key)), "from": where(key, bool(get_path(saved, key)))}
    return state


@bp.get("")
def settings():
    """The editable values (secrets only as set/not set), per key live or restart, and the file's path."""
    refused = login_required_reply()
    if refused:
        return refused
    editor = config_editor()
    running = _running()
    try:
        saved, problem = editor.load(), None
    except ConfigError as exc:  # edited by hand into an error since start: show what runs, and why
        saved, problem = running, str(exc)
    keys = catalogue()
    values = {k: get_path(saved, k) for k, info in keys.items() if not info.secret}
    # The controller's saved switch wins over config.yaml at start: show what runs.
    controller = access.runtime().autocontrol.controller.state
    values["autocontrol.enabled"], values["autocontrol.policy"] = controller.enabled, controller.policy
    return jsonify({
        "path": str(editor.path),
        "values": values,
        "secrets": _secret_state(editor, saved),
        "keys": {k: info.public() for k, info in keys.items()},
        "in_file": sorted(editor.in_file()),
        "environment": {k: editor.env_var(k) for k in keys if editor.env_var(k)},
        "restart_pending": pending_restart(running, saved),
        "comments_kept": editor.comments_kept,
        "backups_kept": editor.keep,
        "problem": problem,
    })


@bp.patch("")
@write_required
def change():
    """{"dotted.key": value, ...}: 200 with what applies now and what needs a restart; 400 naming the key."""
    body = json_object()
    with APPLY_LOCK:
        result = config_editor().apply(body)
        reply = _adopt(result)
    if result.changed:
        _event("config.yaml changed: " + "; ".join(_shown(k, get_path(result.config, k)) for k in result.changed))
    return jsonify({"saved": True, **reply})


@bp.get("/backups")
def backups():
    """The dated copies of the config file kept beside it, newest first."""
    refused = login_required_reply()
    if refused:
        return refused
    editor = config_editor()
    return jsonify({"path": str(editor.path), "kept": editor.keep,
                    "backups": [b.public() for b in editor.backups()]})


# --- secrets: write-only ---------------------------------------------------------
def _from_environment(key: str):
    """409 naming the variable when the environment sets this secret (it would win over anything stored here)."""
    var = config_editor().env_var(key)
    if var:
        return error(f"{key}: set by the environment variable {var}, which wins over config.yaml: change it there",
                     409, key=key)
    return None


def _too_many_wrong(addr: str) -> bool:
    now = time.monotonic()
    recent = [t for t in _WRONG.get(addr, []) if now - t < _WINDOW_S]
    if recent:
        _WRONG[addr] = recent
    else:
        _WRONG.pop(addr, None)
    return len(recent) >= _MAX_WRONG


def _note_wrong(addr: str) -> None:
    if len(_WRONG) > 1024:  # bounded: idle addresses go first
        _WRONG.clear()
    _WRONG.setdefault(addr, []).append(time.monotonic())


@bp.post("/password")
@write_required
def password():
    """{"current", "new"}: a new dashboard password; every other session ends, this one goes on."""
    body = json_object(("current", "new"))
    current = text(body.get("current"), "current", max_len=256)
    new = text(body.get("new"), "new", max_len=256)
    refused = _from_environment("security.admin_password")
    if refused:
        return refused
    addr = request.remote_addr or "?"
    with APPLY_LOCK:
        if _too_many_wrong(addr):
            return error("too many wrong passwords; wait a minute", 429, key="current")
        secrets = current_app.extensions["secrets"]
        # 403, not 401: the caller is logged in; the dashboard sends a 401 to the login page.
        if not secrets.check_password(current):
            _note_wrong(addr)
            access.runtime().failures.note("login_failed", addr, "password change refused: wrong current password")
            return error("current: wrong password", 403, key="current")
        try:
            check_new_password(new)
        except ValueError as exc:
            return error(str(exc), 400, key="new")
        who = caller()
        data_dir = _running().data_path
        stored = store_password(data_dir, new)
        if _running().security.admin_password:  # a plain password in config.yaml would win: take it out
            config_editor().apply({"security.admin_password": ""}, rotate=True)
            set_running("security.admin_password", "")
        current_app.extensions["secrets"] = dataclasses.replace(
            secrets, password="", password_hash=stored, hash_file=HashFile(data_dir / PASSWORD_FILE))
        if who == "session":  # the new password's stamp ended every session: open one for this browser
            sessions().revoke(session.get("sid"))
            session.clear()
            session["sid"] = sessions().create(current_app.extensions["secrets"].session_stamp())
            session.permanent = True
    _event("dashboard password changed: every other session is logged out")
    return jsonify({"changed": True, "other_sessions_ended": True})


@bp.post("/api-token")
@write_required
def api_token():
    """A new API token, in this reply only; the old one is refused from now on."""
    no_body()
    refused = _from_environment("security.api_token")
    if refused:
        return refused
    token = new_token()
    with APPLY_LOCK:
        data_dir: Path = _running().data_path
        store_api_token(data_dir, token)
        if _running().security.api_token:  # a token in config.yaml would win over the file: take it out
            config_editor().apply({"security.api_token": ""}, rotate=True)
            set_running("security.api_token", "")
        current_app.extensions["secrets"] = dataclasses.replace(current_app.extensions["secrets"], api_token=token)
    _event("API token regenerated: the old one is refused")
    return jsonify({"api_token": token, "shown_once": True, "stored_in": str(data_dir / TOKEN_FILE)})


@bp.post("/ems-token")
@write_required
def ems_token():
    """A new EMS token (in this reply only; the old one is refused), or {"clear": true}: EMS routes off (503)."""
    body = json_object(("clear",))
    clear = boolean(body["clear"], "clear") if "clear" in body else False
    refused = _from_environment("ems.token")
    if refused:
        return refused
    token = "" if clear else new_token()
    with APPLY_LOCK:
        result = config_editor().apply({"ems.token": token}, rotate=True)
        _adopt(result)
    _event("EMS token cleared: the EMS routes answer 503" if clear else "EMS token rotated: the old one is refused")
    return jsonify({"ems_token": token or None, "shown_once": not clear, "backup": result.backup})
