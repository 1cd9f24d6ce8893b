"""Per-board tuning of one miner: the settings and the firmware's limits, and the thermal target.

``GET /api/miners/<ip>/tuning`` reads them from the miner (services/tuning.py);
``POST /api/miners/<ip>/thermal`` ``{"target_c": n}`` sets the temperature the
firmware's fan control holds. Per-board frequency and voltage go through the
existing ``POST /api/miners/<ip>/frequency`` (web/miner_commands.py), whose driver
checks the same limits before sending. Refusals: 400 outside the limits (nothing
sent), 409 when the firmware cannot, 502 when the miner said no or did not answer.
"""

from __future__ import annotations

from flask import jsonify

from miners.base import THERMAL, MinerAuthError, MinerError, NotSupported
from services.tuning import read_tuning
from web import access
from web.auth import error, write_required
from web.body import BadRequest, ipv4, json_object, whole

bp = access.blueprint("miner_tuning", __name__, url_prefix="/api")

# Outer bounds of any thermal target a firmware could hold; the driver checks the firmware's own.
_ANY_TARGET_C = (0, 150)


@bp.get("/miners/<ip>/tuning")
def miner_tuning(ip: str):
    """Global and per-board frequency/voltage, the thermal target, and the limits with their source."""
    ip = ipv4(ip)
    try:
        return jsonify(read_tuning(access.runtime().fleet, ip))
    except NotSupported as exc:
        return error(str(exc), 409)
    except MinerAuthError as exc:
        return error(f"the miner refused the login: {exc}", 502, miner_error="auth")
    except MinerError as exc:
        return error(f"the miner did not answer: {exc}", 502)


@bp.post("/miners/<ip>/thermal")
@write_required
def set_thermal(ip: str):
    """``{"target_c": n}``: 400 outside the firmware's range, 409 when it has no thermal target."""
    ip = ipv4(ip)
    body = json_object(("target_c",))
    if body.get("target_c") is None:
        raise BadRequest('send {"target_c": degrees C}')
    target = whole(body["target_c"], "target_c", *_ANY_TARGET_C)
    return access.run_command(ip, "set_thermal_target", target, capability=THERMAL, reply={"target_c": target})
