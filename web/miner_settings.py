"""PATCH /api/miners/<ip>: a miner's settings (name, tags, enabled, notes, location, power limits).

Validation and precedence live in services/miner_settings.py (docs/miners.md
"Miner settings"): an unknown key or a bad value is a 400 naming it, with nothing
changed; null clears a value back to the config.yaml entry's (then the model's).
"""

from __future__ import annotations

from flask import jsonify

from services import miner_settings
from web import access
from web.auth import write_required
from web.body import BadRequest, ipv4, json_object

bp = access.blueprint("miner_settings", __name__, url_prefix="/api/miners")


@bp.patch("/<ip>")
@write_required
def update_settings(ip: str):
    """Change some of a miner's settings; answers the miner as GET /api/miners/<ip> shows it."""
    ip = ipv4(ip)
    fleet = access.runtime().fleet
    fleet.get(ip)  # 404 before the body is judged
    body = json_object(miner_settings.FIELDS)
    if not body:
        raise BadRequest(f"send at least one of: {', '.join(miner_settings.FIELDS)}")
    try:
        record = fleet.update_settings(ip, body, actor=access.actor())
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return jsonify(record.to_dict(detail=True))
