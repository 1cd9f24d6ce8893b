"""The miners resource: list, one miner, add by IP (detected), delete, and the capability matrix."""

from __future__ import annotations

from flask import jsonify

import miners
from web import access
from web.auth import error, write_required
from web.body import BadRequest, ipv4, json_object, no_body, text

bp = access.blueprint("miners", __name__, url_prefix="/api")


def _fleet():
    return access.runtime().fleet


@bp.get("/miners")
def list_miners():
    """Every known miner with its latest reading."""
    return jsonify(_fleet().miners_list())


@bp.get("/miners/<ip>")
def miner_detail(ip: str):
    """One miner: full status, capabilities, last seen, online."""
    return jsonify(_fleet().get(ipv4(ip)).to_dict(detail=True))


@bp.post("/miners")
@write_required
def add_miner():
    """Add a miner by IP; without a family it is detected (read requests only)."""
    body = json_object(("ip", "family", "port", "username", "password"))
    ip = ipv4(body.get("ip"))
    family = text(body["family"], "family", max_len=40) if body.get("family") else None
    port = body.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise BadRequest("port must be a whole number 1-65535")
    creds = None
    if body.get("password") is not None or body.get("username") is not None:
        creds = {"username": text(body.get("username", ""), "username", empty=True),
                 "password": text(body.get("password", ""), "password", empty=True)}
    fleet = _fleet()
    model = None
    if family is None:
        from miners import detect

        found = detect.detect(ip, port_offset=fleet.config.network.port_offset,
                              timeout=fleet.config.polling.timeout_sec)
        if found is None:
            return error(f"no supported miner answered at {ip}; check the address or give its family", 422)
        if not miners.has_driver(found.family):
            return error(f"{ip} looks like a {found.family} miner, which is not supported yet", 422)
        family, model = found.family, found.model
    try:
        record = fleet.add(ip, family, port=port, model=model, source="manual", credentials=creds)
    except ValueError:
        raise BadRequest(f"unknown family {family!r}; known: {', '.join(miners.FAMILIES)}") from None
    fleet.poll_round([record])
    return jsonify(record.to_dict(detail=True)), 201


@bp.delete("/miners/<ip>")
@write_required
def delete_miner(ip: str):
    """Forget a miner and its history."""
    ip = ipv4(ip)
    no_body()
    fleet = _fleet()
    fleet.remove(ip, actor=access.actor())
    fleet.notify(fleet.snapshot_message())
    return jsonify({"deleted": ip})


@bp.get("/miner-types")
def miner_types():
    """The capability matrix (family x action), read from the driver classes themselves."""
    return jsonify(miners.capability_matrix())
