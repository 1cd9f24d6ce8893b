"""The event log: filters, paging and the kinds present (the Events page, docs/alerts.md)."""

from __future__ import annotations

from flask import jsonify, request

from database import queries
from web import access
from web.body import BadRequest, ipv4

bp = access.blueprint("events", __name__, url_prefix="/api")

# ?actor= groups -> the actor values events carry (web/auth.py caller(), the services' ACTOR names).
ACTOR_GROUPS: dict[str, tuple[str | None, ...]] = {
    "user": ("session", "token", "anonymous", "mqtt"), "controller": ("controller",), "ems": ("ems",),
    "rule": ("rules",), "system": ("system", "alerts", None)}
SEVERITIES = ("info", "warning", "critical")


def _whole(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None


def _listed(name: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    values = tuple(v.strip() for v in request.args.get(name, "").split(",") if v.strip())
    for value in values:
        if allowed is not None and value not in allowed:
            raise BadRequest(f"{name}: must be one of {', '.join(allowed)}, got {value[:40]!r}")
        if len(value) > 64 or not value.isprintable():
            raise BadRequest(f"{name}: not a valid value")
    return values


@bp.get("/events")
def events():
    """Newest events first, filtered: ?limit= ?miner= ?kind=a,b ?severity= ?actor=user|controller|ems|rule|system
    ?q=text ?before=<id> (the next page); header X-Total-Count = events matching the filters."""
    limit = min(max(_whole("limit") or 100, 1), 1000)
    miner_ip = request.args.get("miner")
    miner = ipv4(miner_ip, "miner") if miner_ip else None
    groups = _listed("actor", tuple(ACTOR_GROUPS))
    actors = tuple(a for g in groups for a in ACTOR_GROUPS[g]) if groups else None
    text = request.args.get("q", "").strip()
    if len(text) > 200:
        raise BadRequest("q: at most 200 characters")
    with access.runtime().db.read() as conn:
        rows, total = queries.find_events(conn, limit=limit, miner_ip=miner, kinds=_listed("kind"),
                                          severities=_listed("severity", SEVERITIES), actors=actors,
                                          text=text or None, before_id=_whole("before"), count=True)
    reply = jsonify([dict(row) for row in rows])
    reply.headers["X-Total-Count"] = str(total)
    return reply


@bp.get("/events/kinds")
def event_kinds():
    """The kinds present among the events (the Events page's filter)."""
    with access.runtime().db.read() as conn:
        return jsonify(queries.event_kinds(conn))
