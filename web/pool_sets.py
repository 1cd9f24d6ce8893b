"""The pool library: GET/POST /api/pool-sets, PUT/DELETE /api/pool-sets/<id>, POST /api/pool-sets/<id>/apply.

Pool passwords are write-only: every reply shows ``password_set`` instead (docs/pools.md).
"""

from __future__ import annotations

from flask import jsonify

from services import bulk
from services.pool_sets import DuplicateName, PoolSet, PoolSets, UnknownPoolSet
from web import access
from web.auth import error, write_required
from web.body import BadRequest, json_object, no_body

bp = access.blueprint("pool_sets", __name__, url_prefix="/api/pool-sets")


def _store() -> PoolSets:
    return PoolSets(access.runtime().db)


def _get(set_id: int) -> PoolSet:
    try:
        return _store().get(set_id)
    except UnknownPoolSet:
        raise BadRequest(f"no pool set with id {set_id}", 404) from None


def _describe(pool_set: PoolSet) -> str:
    """Log-safe: name and URLs, never a user's password."""
    return f"{pool_set.name!r} ({len(pool_set.pools)}: {', '.join(p.url for p in pool_set.pools)})"


def _event(message: str) -> None:
    access.runtime().fleet.event("pool_set", message, actor=access.actor())


@bp.get("")
def list_sets():
    """Every pool set by name: ``[{"id", "name", "pools": [{"url", "user", "password_set"}], ...}]``."""
    return jsonify([s.to_dict() for s in _store().list()])


@bp.get("/<int:set_id>")
def get_set(set_id: int):
    """One pool set."""
    return jsonify(_get(set_id).to_dict())


@bp.post("")
@write_required
def create_set():
    """``{"name", "pools": [{"url", "user", "password"?}]}`` -> 201 + the set; 409 for a taken name."""
    body = json_object(("name", "pools"))
    if "name" not in body or "pools" not in body:
        raise BadRequest('send {"name": "...", "pools": [{"url": "stratum+tcp://host:port", "user": "...", '
                         '"password": "..."}]}')
    try:
        pool_set = _store().create(body["name"], body["pools"])
    except DuplicateName as exc:
        return error(str(exc), 409)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    _event(f"pool set {_describe(pool_set)} created")
    return jsonify(pool_set.to_dict()), 201


@bp.put("/<int:set_id>")
@write_required
def update_set(set_id: int):
    """``{"name"?, "pools"?}``; a pool's password left out or null keeps the stored one (same URL), "" clears it."""
    body = json_object(("name", "pools"))
    if body.get("name") is None and body.get("pools") is None:
        raise BadRequest('send {"name": "..."} and/or {"pools": [...]}')
    try:
        pool_set = _store().update(set_id, name=body.get("name"), pools=body.get("pools"))
    except UnknownPoolSet:
        raise BadRequest(f"no pool set with id {set_id}", 404) from None
    except DuplicateName as exc:
        return error(str(exc), 409)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    _event(f"pool set {_describe(pool_set)} changed")
    return jsonify(pool_set.to_dict())


@bp.delete("/<int:set_id>")
@write_required
def delete_set(set_id: int):
    """Forget a pool set (miners keep the pools they were given)."""
    no_body()
    try:
        pool_set = _store().delete(set_id)
    except UnknownPoolSet:
        raise BadRequest(f"no pool set with id {set_id}", 404) from None
    _event(f"pool set {_describe(pool_set)} deleted")
    return jsonify({"deleted": set_id})


@bp.post("/<int:set_id>/apply")
@write_required
def apply_set(set_id: int):
    """``{"miners": [ip, ...]}``, ``{"tag": "..."}`` or ``{"all": true}`` -> ``{"results": [{"ip", "ok", "error", ...}],
    "ok": n, "failed": n}``: each miner is sent the pools, then read back."""
    body = json_object(("miners", "tag", "all"))
    pool_set = _get(set_id)
    fleet = access.runtime().fleet
    try:
        ips = bulk.targets(fleet, body)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    try:
        report = bulk.apply_pool_set(fleet, ips, pool_set, actor=access.actor())
    except bulk.BulkBusy as exc:
        return error(str(exc), 409)
    return jsonify(report.to_dict())
