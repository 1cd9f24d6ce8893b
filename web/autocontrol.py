"""GET/POST /api/autocontrol: the power controller's decision, and switching it, its policy and overrides."""

from __future__ import annotations

from flask import current_app, jsonify

from services.fleet import UnknownMiner
from web import access
from web.auth import caller, error, write_required
from web.body import json_object

bp = access.blueprint("autocontrol", __name__, url_prefix="/api/autocontrol")


def _autocontrol():
    return current_app.extensions["runtime"].autocontrol


@bp.get("")
def status():
    """enabled, policy, target_percent, cap_percent, reason, battery_age_sec, failsafe, timers, plan, ..."""
    return jsonify(_autocontrol().status())


@bp.post("")
@write_required
def change():
    """``{"enabled"?, "policy"?, "override"?: {"percent", "minutes"|"until", "miner"?} | {"clear": true}}``."""
    body = json_object()  # bounded JSON; the fields are checked by AutoControl.command
    try:
        return jsonify(_autocontrol().command(body, by=caller() or "anonymous"))
    except UnknownMiner as exc:
        return error(f"override.miner: no miner with IP {exc.args[0]!r}", 404)
    except ValueError as exc:  # apply_command checks everything before it changes anything
        return error(str(exc), 400)
