"""The EMS routes of DESIGN section 5 (an external contract: docs/EMS.md) and /api/ems for the dashboard.

- ``GET /api/status``, ``POST /api/activate``, ``POST /api/deactivate``: only
  ``Authorization: Bearer <ems.token>`` (or, opt-in, a caller address listed in
  ``ems.allow_from``); the dashboard login and the API token are not EMS
  credentials. Every authorized call except a status read is an event (kind
  "ems", actor "ems") with a short, cleaned copy of what was asked and the
  answer, never the token or the header. Refusals before authentication never
  echo the body: they are counted per source and minute (services/failure_log.py).
- ``GET /api/ems``: the dispatch in detail for the dashboard (a read like the others).
- ``POST /api/ems/release``: the operator hands a fleet the EMS deactivated back to
  the solar policy (a dashboard write: session or API token).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from typing import Callable

from flask import current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from services.ems import BadActivation, parse_activation
from services.ems.request import MAX_BODY_BYTES
from web import access
from web.auth import caller, write_required

# The EMS contract routes (/api/status, /activate, /deactivate) answer to the EMS token, not the read setting.
bp = access.blueprint("ems", __name__, url_prefix="/api", guard_reads=False)

_NOT_CONFIGURED = "EMS not configured: set ems.token in config.yaml (or the EMS_TOKEN environment variable)"
_READ_ONLY = "this process is read-only (another process holds the fleet lock): it cannot dispatch the fleet"
_NO_TOKEN = "authentication required: Authorization: Bearer <EMS token>"
_BAD_TOKEN = "wrong EMS token"


def _runtime():
    return current_app.extensions["runtime"]


def _service():
    return _runtime().ems


def _ems_token_ok() -> bool | None:
    """True: the EMS token; False: a wrong one; None: no bearer token at all (cookies do not count)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() != "bearer ":
        return None
    expected = current_app.config["CONTROLLER"].ems.token.encode()
    return hmac.compare_digest(expected, header[7:].strip().encode())


def _reply(status: int, accepted: bool, message: str, *, contract: bool):
    """{"accepted", "message"} for the POST routes; {"error"} for GET /api/status refusals."""
    body = {"accepted": accepted, "message": message} if contract else {"error": message}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ems"'
    return response


def _body() -> bytes | None:
    """The raw body, read at most once and at most MAX_BODY_BYTES (None = larger than that)."""
    if "ems_body" not in g:
        g.ems_body = None
        if request.content_length is None or request.content_length <= MAX_BODY_BYTES:
            request.max_content_length = MAX_BODY_BYTES  # a chunked body without a length is cut off too
            try:
                g.ems_body = request.get_data(cache=True)
            except RequestEntityTooLarge:
                pass
    return g.ems_body


def _asked() -> str:
    """What an authorized caller sent, shortened and cleaned by record_call, for the event (never a header)."""
    raw = _body()
    if raw is None:
        return f"<body of {request.content_length or 'over ' + str(MAX_BODY_BYTES)} bytes>"
    return raw[:400].decode("utf-8", "replace")


def _allowed_address() -> bool:
    """True if the caller's address is in ems.allow_from (off unless configured)."""
    allow = current_app.config["CONTROLLER"].ems.allow_from
    if not allow or not request.remote_addr:
        return False
    try:
        addr = ipaddress.ip_address(request.remote_addr)
    except ValueError:
        return False
    if addr.version == 6 and addr.ipv4_mapped:  # a dual-stack listener reports ::ffff:192.168.1.5
        addr = addr.ipv4_mapped
    return any(addr in ipaddress.ip_network(entry, strict=False) for entry in allow)


def _refused(call: str, status: int, message: str, contract: bool):
    """Count a refusal before authentication (the call log and one event row per source and minute)."""
    source = request.remote_addr or "?"
    _service().dispatcher.record_refusal(call, status, False if contract else None, f"{message} (from {source})",
                                         source)
    _runtime().failures.note("ems", source, f"{call} -> {status} refused: {message}", actor="ems")
    return _reply(status, False, message, contract=contract)


def ems_auth(contract: bool) -> Callable:
    """Guard an EMS route: 503 not configured / read-only, 401 without the EMS token; refusals are counted."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            call = f"{request.method} {request.path}"
            dispatcher = _service().dispatcher
            if not dispatcher.configured or _runtime().read_only:
                return _refused(call, 503, _NOT_CONFIGURED if not dispatcher.configured else _READ_ONLY, contract)
            ok = _ems_token_ok() if current_app.config["CONTROLLER"].ems.token else None
            # ems.allow_from lets a listed address in without a header; a wrong token is refused even
            # there, so a misconfigured EMS is noticed rather than silently let through.
            if ok is None and _allowed_address():
                ok = True
            if not ok:
                return _refused(call, 401, _NO_TOKEN if ok is None else _BAD_TOKEN, contract)
            return view(*args, **kwargs)

        return wrapped

    return decorate


@bp.get("/status")
@ems_auth(contract=False)
def status():
    """{"isAvailableForDispatch", "runningStatus", "ratedPowerInKw", "activePowerInKw"}: nothing else."""
    service = _service()
    service.dispatcher.note_status_call()
    return jsonify(service.status())


@bp.post("/activate")
@ems_auth(contract=True)
def activate():
    """{"activationPowerInKw": x}, 0 < x <= rated: 200 accepted (commands go out in the background) or 400."""
    service = _service()
    asked = _asked()
    try:
        body = _body()
        if body is None:
            raise BadActivation(f"body too large (limit {MAX_BODY_BYTES} bytes)")
        kw = parse_activation(body, request.is_json)
        outcome = service.activate(kw)
    except BadActivation as exc:
        service.dispatcher.record_call("POST /api/activate", asked, 400, False, str(exc))
        return _reply(400, False, str(exc), contract=True)
    service.dispatcher.record_call("POST /api/activate", asked, 200, True, outcome.message)
    return _reply(200, True, outcome.message, contract=True)


@bp.post("/deactivate")
@ems_auth(contract=True)
def deactivate():
    """Stop mining on every controllable miner; always accepted (the body is ignored)."""
    service = _service()
    outcome = service.deactivate()
    service.dispatcher.record_call("POST /api/deactivate", "", 200, True, outcome.message)
    return _reply(200, True, outcome.message, contract=True)


@bp.get("/ems")
@access.read_required
def detail():
    """The dispatch for the dashboard: state, target, since, lease, safety, estimates, recent calls."""
    return jsonify(_service().detail())


@bp.post("/ems/release")
@write_required
def release():
    """The operator hands a fleet the EMS deactivated back to the solar policy (409 while a dispatch is active)."""
    outcome = _service().release(by=caller() or "anonymous")
    return jsonify({"accepted": outcome.accepted, "message": outcome.message}), 200 if outcome.accepted else 409
