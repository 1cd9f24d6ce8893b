"""GET /metrics: the Prometheus text exposition of this controller (services/metrics; docs/metrics.md).

Behind the read setting like every other GET: open on the LAN unless
security.reads_require_login, then a Prometheus sends the API token as a bearer token
(``authorization: {credentials: <API_TOKEN>}`` in its scrape config).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from services.metrics import CONTENT_TYPE
from web.auth import error, read_allowed

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    """Every metric of this controller, built from memory at this moment (never waits for a poll)."""
    if not read_allowed():
        return error("authentication required: send Authorization: Bearer <API_TOKEN>", 401)
    body = current_app.extensions["runtime"].metrics.exposition()
    # no-store: a cached copy would show Prometheus an old fleet as if it were now.
    return Response(body, status=200, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
