"""Network discovery: start a scan of a subnet and follow its progress."""

from __future__ import annotations

from flask import jsonify

from services.discovery import DiscoveryBusy
from web import access
from web.auth import error, write_required
from web.body import BadRequest, json_object, text

bp = access.blueprint("discovery", __name__, url_prefix="/api")


@bp.post("/discover")
@write_required
def start_discovery():
    """Start scanning a subnet (default from config or the Pi's own LAN)."""
    body = json_object(("subnet",))
    subnet = body.get("subnet")  # absent or null: the configured subnet (or the Pi's own LAN)
    if subnet is not None:
        if not isinstance(subnet, str) or not subnet.strip():
            raise BadRequest("subnet must be a string like 192.168.1.0/24, or several with commas "
                             "(leave it out for the configured one)")
        subnet = text(subnet, "subnet", max_len=400).strip()  # several: "192.168.1.0/24, 10.0.5.0/24"
    runtime = access.runtime()
    try:
        job = runtime.discovery.start(subnet)
    except DiscoveryBusy as exc:
        return error(str(exc), 409, job=runtime.discovery.status())
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    runtime.fleet.event("discovery", f"scan of {job.subnet} started", actor=access.actor())
    return jsonify(job.to_dict()), 202


@bp.get("/discover")
def discovery_status():
    """The latest discovery job and its progress."""
    return jsonify(access.runtime().discovery.status())
