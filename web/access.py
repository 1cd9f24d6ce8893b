"""What every API blueprint shares: the read guard, the JSON error replies and who is asking.

Reads are open on the LAN unless ``security.reads_require_login`` is set; writes
need ``@write_required`` (web/auth.py) on the view. A blueprint made by
``blueprint()`` refuses a GET/HEAD without read permission before any view runs,
answers a ``BadRequest`` (web/body.py) with its status and an unknown miner with
404, so no route repeats those checks.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

from flask import Blueprint, current_app, jsonify, request

from miners.base import MinerAuthError, MinerError, NotSupported
from services import chart_range
from services.fleet import UnknownMiner
from web.auth import caller, error, read_allowed
from web.body import BadRequest, no_body

READ_METHODS = ("GET", "HEAD")


REFUSED_READ = "authentication required"


def _read_guard(message: str) -> Callable[[], Any]:
    def guard():
        if request.method in READ_METHODS and not read_allowed():
            return error(message, 401)
        return None
    return guard


def read_required(view: Callable) -> Callable:
    """The read guard on one view, for a blueprint whose other GETs answer to their own auth (the EMS contract)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any):
        if not read_allowed():
            return error(REFUSED_READ, 401)
        return view(*args, **kwargs)

    return wrapped


def _bad_request(exc: BadRequest):
    return error(str(exc), exc.status)


def _unknown_miner(exc: UnknownMiner):
    return error(f"no miner with IP {exc.args[0]}", 404)


def blueprint(name: str, import_name: str, url_prefix: str | None = None, *,
              guard_reads: bool = True, refused: str = REFUSED_READ) -> Blueprint:
    """A Blueprint with the read guard (unless ``guard_reads`` is False; ``refused`` is its 401 text) and the shared JSON error replies."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    if guard_reads:
        bp.before_request(_read_guard(refused))
    bp.register_error_handler(BadRequest, _bad_request)
    bp.register_error_handler(UnknownMiner, _unknown_miner)
    return bp


def runtime() -> Any:
    """This app's controller runtime (services/runtime.py)."""
    return current_app.extensions["runtime"]


def actor() -> str:
    """Who is writing, for the audit events: "session", "token" or "anonymous"."""
    return caller() or "anonymous"


def range_window() -> tuple[str, float, int]:
    """(range name, since epoch s, bucket s) from ?range= (services/chart_range.py), ~300 points per series."""
    name = request.args.get("range", "24h")
    current = runtime()
    oldest = current.history.oldest() if name == chart_range.ALL else None
    try:
        since, bucket = chart_range.window(name, time.time(), current.fleet.config.polling.interval_sec, oldest)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return name, since, bucket


def run_command(ip: str, action: str, *args: Any, body: bool = True, reply: dict[str, Any] | None = None,
                **kwargs: Any):
    """Send one command through FleetManager.command and answer it: 409 not supported, 400 values refused
    before sending, 502 the miner said no; ``body=False``: the route takes no body, so refuse one first;
    ``reply``: fields added to the 200 answer."""
    if not body:
        no_body()
    fleet = runtime().fleet
    fleet.get(ip)  # 404 before anything else
    try:
        message = fleet.command(ip, action, *args, actor=actor(), **kwargs)
    except NotSupported as exc:
        return error(str(exc), 409)
    except ValueError as exc:  # the driver refused the values before sending anything
        return error(str(exc), 400)
    except MinerAuthError as exc:
        return error(f"the miner refused the login: {exc}", 502, miner_error="auth")
    except MinerError as exc:
        return error(f"the miner did not accept the command: {exc}", 502)
    return jsonify({"ok": True, "message": message, **(reply or {})})
