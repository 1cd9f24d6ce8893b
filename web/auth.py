"""Login, logout and the write guard: a session cookie or ``Authorization: Bearer <API_TOKEN>``.

Cookie-authenticated writes must come from a page of ours: the Origin (or,
failing that, the Referer) must match the Host, so another site open in the
same browser cannot post to the LAN controller (CSRF). Token callers are
scripts and carry no ambient credentials, so they need no Origin.

The cookie carries only a session id that the server keeps (services/sessions.py):
logout ends it there, and a new password ends all of them. Failed logins and
writes refused for lack of credentials are counted per address and minute
(services/failure_log.py), never one event each.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, request, session

from database import queries
from database.db import Database
from services.sessions import STATE_KEY, SessionStore
from web.body import json_object, text

bp = Blueprint("auth", __name__)

_FAILED_LOGINS: dict[str, list[float]] = {}
_FAILED_LOCK = threading.Lock()
_MAX_FAILURES, _WINDOW_S = 5, 60.0
_MAX_TRACKED = 1024  # addresses remembered by the login limiter; idle ones are dropped beyond this
_SESSIONS_LOCK = threading.Lock()


def _secrets():
    return current_app.extensions["secrets"]


def _load_state(db: Database) -> Any:
    with db.read() as conn:
        return queries.get_state(conn, STATE_KEY)


def _store_state(db: Database, value: Any) -> None:
    with db.write() as conn:
        queries.set_state(conn, STATE_KEY, value)


def sessions() -> SessionStore:
    """This app's session store, kept in the database's state table (made on first use)."""
    store = current_app.extensions.get("sessions")
    if store is None:
        with _SESSIONS_LOCK:
            store = current_app.extensions.get("sessions")
            if store is None:
                db = current_app.extensions["runtime"].db
                lifetime = current_app.permanent_session_lifetime.total_seconds()
                store = SessionStore(lambda: _load_state(db), lambda value: _store_state(db, value),
                                     lifetime_s=lifetime)
                current_app.extensions["sessions"] = store
    return store


def _logged_in() -> bool:
    """True if the cookie names a session the server still keeps, opened under the current password."""
    sid = session.get("sid")
    return sid is not None and sessions().valid(sid, _secrets().session_stamp())


def _failures():
    return current_app.extensions["runtime"].failures


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def _same_origin() -> bool:
    """True if the request's Origin (or Referer) names this very host."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return parts.netloc.lower() == request.host.lower()


def caller() -> str | None:
    """Who is asking: 'token', 'session', or None (not authenticated). Bad tokens are None."""
    token = _bearer()
    if token is not None:
        return "token" if _secrets().check_token(token) else None
    if _logged_in():
        return "session"
    return None


def error(message: str, code: int, **extra: Any):
    """A JSON error reply."""
    return jsonify({"error": message, **extra}), code


def write_required(view: Callable) -> Callable:
    """Allow the view only for a valid token, or a logged-in session from our own origin."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        who = caller()
        if who is None:
            rule = request.url_rule.rule if request.url_rule else "?"  # the route, not the caller's text
            _failures().note("write_refused", request.remote_addr, f"{request.method} {rule} -> 401 without credentials")
            return error("authentication required: log in, or send Authorization: Bearer <API_TOKEN>", 401)
        if who == "session" and not _same_origin():
            return error("cross-origin write refused: the Origin header does not match this host", 403)
        return view(*args, **kwargs)

    return wrapped


def read_allowed() -> bool:
    """Reads are open on the LAN unless security.reads_require_login is set."""
    if not current_app.config["CONTROLLER"].security.reads_require_login:
        return True
    return caller() is not None


def _too_many_failures(addr: str) -> bool:
    now = time.monotonic()
    with _FAILED_LOCK:
        recent = [t for t in _FAILED_LOGINS.get(addr, []) if now - t < _WINDOW_S]
        _FAILED_LOGINS[addr] = recent
        return len(recent) >= _MAX_FAILURES


def _record_failure(addr: str) -> None:
    now = time.monotonic()
    with _FAILED_LOCK:
        if addr not in _FAILED_LOGINS and len(_FAILED_LOGINS) >= _MAX_TRACKED:
            for key in [k for k, times in _FAILED_LOGINS.items() if not times or now - times[-1] >= _WINDOW_S]:
                del _FAILED_LOGINS[key]
        _FAILED_LOGINS.setdefault(addr, []).append(now)


@bp.post("/login")
def login():
    """Check the dashboard password and start a session (JSON or form body)."""
    addr = request.remote_addr or "?"
    if _too_many_failures(addr):
        _failures().note("login_failed", addr, "dashboard login refused: too many failed logins")
        return error("too many failed logins; wait a minute", 429)
    if request.headers.get("Origin") and not _same_origin():
        return error("cross-origin login refused", 403)
    data = json_object(("password",)) if request.is_json else request.form  # web/body.py: bounded, 400s
    password = data.get("password")
    if not isinstance(password, str) or not password:
        return error("send the password as JSON {\"password\": ...} or a form field", 400)
    password = text(password, "password")  # a lone surrogate or control character: 400, never a guess
    if not _secrets().check_password(password):
        _record_failure(addr)
        _failures().note("login_failed", addr, "dashboard login failed: wrong password")
        return error("wrong password", 401)
    sessions().revoke(session.get("sid"))  # a new login never keeps an old id (session fixation)
    session.clear()
    session["sid"] = sessions().create(_secrets().session_stamp())
    session.permanent = True
    return jsonify({"logged_in": True})


@bp.post("/logout")
def logout():
    """End the session here and on the server (the cookie's id is forgotten): same Origin rule as writes."""
    if not _same_origin():
        return error("cross-origin logout refused: the Origin header does not match this host", 403)
    sessions().revoke(session.get("sid"))
    session.clear()
    return jsonify({"logged_in": False})


@bp.get("/api/session")
def session_state():
    """Whether this browser is logged in (never any secret)."""
    return jsonify({"logged_in": _logged_in()})
