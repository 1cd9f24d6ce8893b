"""/api/alerts: the active problems (error window), acknowledge, mute, and a test message (docs/alerts.md)."""

from __future__ import annotations

from flask import current_app, jsonify

from services.alerts.kinds import KINDS
from web import access
from web.auth import caller, error, write_required
from web.body import BadRequest, json_object, no_body

bp = access.blueprint("alerts", __name__, url_prefix="/api/alerts")

MAX_MUTE_MIN = 30 * 24 * 60  # a month; longer is "until unmuted"


def _alerts():
    return current_app.extensions["runtime"].alerts


def _by() -> str:
    return caller() or "anonymous"


@bp.get("")
def list_alerts():
    """The active problems, newest first: id, kind, severity, miner, since, message, acknowledged (+ title...)."""
    return jsonify(_alerts().alerts())


@bp.get("/status")
def alert_status():
    """The badge count, channels (masked), mutes, quiet hours and the kinds."""
    return jsonify(_alerts().status())


@bp.post("/<alert_id>/ack")
@write_required
def ack(alert_id: str):
    """Acknowledge one problem: it leaves the error window (it stays active until it clears)."""
    no_body()
    if len(alert_id) > 32 or not _alerts().ack(alert_id, _by()):
        return error(f"no active alert {alert_id[:32]!r} (it may have cleared)", 404)
    return jsonify({"ok": True})


@bp.post("/ack-all")
@write_required
def ack_all():
    """Acknowledge every active problem."""
    no_body()
    return jsonify({"ok": True, "acknowledged": _alerts().ack_all(_by())})


@bp.post("/mute")
@write_required
def mute():
    """{"kind": K, "minutes": N | null} mutes a kind's messages (null = until unmuted); {"kind": K, "unmute": true}."""
    body = json_object(("kind", "minutes", "unmute"))
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadRequest(f"kind: must be one of {', '.join(sorted(KINDS))}")
    if "unmute" in body:
        if body["unmute"] is not True or "minutes" in body:
            raise BadRequest("unmute: must be true, without minutes")
        _alerts().unmute(kind, _by())
        return jsonify(_alerts().status())
    minutes = body.get("minutes")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, (int, float))
                                or not 1 <= minutes <= MAX_MUTE_MIN):
        raise BadRequest(f"minutes: must be 1-{MAX_MUTE_MIN}, or null for until unmuted")
    _alerts().mute(kind, minutes, _by())
    return jsonify(_alerts().status())


@bp.post("/test")
@write_required
def test():
    """A test message to every channel now; waits for the answers (at most ~20 s)."""
    no_body()
    try:
        results = _alerts().test(_by())
    except LookupError as exc:
        return error(str(exc), 409)
    return jsonify({"ok": all(r["ok"] for r in results), "results": results})
