"""What every API blueprint shares: the read guard, the JSON error replies and who is asking.

Reads are open on the LAN unless ``security.reads_require_login`` is set; writes
need ``@write_required`` (web/auth.py) on the view. A blueprint made by
``blueprint()`` refuses a GET/HEAD without read permission before any view runs,
answers a ``BadRequest`` (web/body.py) with its status and an unknown miner with
404, so no route repeats those checks.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from services.fleet import UnknownMiner
from web.auth import caller, error, read_allowed
from web.body import BadRequest

READ_METHODS = ("GET", "HEAD")


def _guard_reads():
    if request.method in READ_METHODS and not read_allowed():
        return error("authentication required", 401)
    return None


def _bad_request(exc: BadRequest):
    return error(str(exc), exc.status)


def _unknown_miner(exc: UnknownMiner):
    return error(f"no miner with IP {exc.args[0]}", 404)


def blueprint(name: str, import_name: str, url_prefix: str | None = None, *,
              guard_reads: bool = True) -> Blueprint:
    """A Blueprint with the read guard (unless ``guard_reads`` is False) and the shared JSON error replies."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    if guard_reads:
        bp.before_request(_guard_reads)
    bp.register_error_handler(BadRequest, _bad_request)
    bp.register_error_handler(UnknownMiner, _unknown_miner)
    return bp


def runtime() -> Any:
    """This app's controller runtime (services/runtime.py)."""
    return current_app.extensions["runtime"]


def actor() -> str:
    """Who is writing, for the audit events: "session", "token" or "anonymous"."""
    return caller() or "anonymous"
