"""POST /api/miners/bulk: one action on a selection, a tag or the fleet, one result per miner (docs/pools.md)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from services import bulk
from services.miner_state import MinerRecord
from services.pool_sets import PoolSets, UnknownPoolSet
from web import access
from web.auth import error, write_required
from web.body import BadRequest, json_object, text, whole

bp = access.blueprint("bulk", __name__, url_prefix="/api/miners")

_USAGE = ('send {"action": "sleep|wake|restart|mode|power_percent|pool_set", "miners": [ip, ...] '
          '(or "tag": "..." or "all": true), "value": ... (mode name, percent 10-100 or pool set id)}')


def _value(action: str, value: Any) -> Any:
    """The action's value, checked before anything is sent (BadRequest otherwise)."""
    if action not in bulk.VALUE_ACTIONS:
        if value is not None:
            raise BadRequest(f"{action} takes no value")
        return None
    if value is None:
        raise BadRequest(f"{action} needs a value: "
                         + {"mode": "a mode name", "power_percent": "a percent 10-100",
                            "pool_set": "a pool set id"}[action])
    if action == "mode":
        return text(value, "value", max_len=64)
    if action == "power_percent":
        return whole(value, "value", *bulk.PERCENT_RANGE)
    return whole(value, "value", 1, 2**31)


@bp.post("/bulk")
@write_required
def run_bulk():
    """``{"action", "miners"|"tag"|"all", "value"?}`` -> ``{"results": [{"ip", "ok", "outcome", "error", "message"}],
    "ok": n, "failed": n, "refused": n}`` (failed counts every miner not done)."""
    body = json_object(("action", "miners", "tag", "all", "value"))
    action = body.get("action")
    if not isinstance(action, str) or action not in bulk.ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(bulk.ACTIONS)}; {_USAGE}")
    value = _value(action, body.get("value"))
    runtime = access.runtime()
    fleet = runtime.fleet
    pool_set = None
    if action == "pool_set":
        try:
            pool_set = PoolSets(runtime.db).get(value)
        except UnknownPoolSet:
            raise BadRequest(f"no pool set with id {value}", 404) from None
    try:
        ips = bulk.targets(fleet, body)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    entries = getattr(runtime.autocontrol, "entries", {})  # config.yaml miners: (nominal_w, min_w, max_w)

    def overrides(record: MinerRecord) -> dict[str, float]:
        given = bulk.power_overrides(record, entries.get(record.ip))
        learned = runtime.autocontrol.nominals.get(record.id)  # a model not in the table: its learned nominal
        return {**given, "learned_w": learned} if learned is not None else given

    try:
        if pool_set is not None:
            report = bulk.apply_pool_set(fleet, ips, pool_set, actor=access.actor())
        else:
            report = bulk.run_action(fleet, ips, action, value, actor=access.actor(), overrides=overrides)
    except bulk.BulkBusy as exc:
        return error(str(exc), 409)
    return jsonify(report.to_dict())
