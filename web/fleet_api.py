"""Fleet totals and the health check for monitoring."""

from __future__ import annotations

import time

from flask import jsonify

from web import access

bp = access.blueprint("fleet", __name__, url_prefix="/api")


@bp.get("/stats")
def stats():
    """Fleet totals."""
    return jsonify(access.runtime().fleet.stats())


@bp.get("/health")
def health():
    """Liveness and the last poll round, for monitoring."""
    runtime = access.runtime()
    last = runtime.fleet.last_round
    age = time.time() - last["ts"] if last else None
    return jsonify({"ok": True, "read_only": runtime.read_only, "last_round": last,
                    "last_round_age_s": round(age, 1) if age is not None else None,
                    "websocket_clients": runtime.hub.count()})
