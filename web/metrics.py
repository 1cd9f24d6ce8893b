"""GET /metrics: the Prometheus text exposition of this controller (services/metrics; docs/metrics.md).

Behind the read setting like every other GET: open on the LAN unless
security.reads_require_login, then a Prometheus sends the API token as a bearer token
(``authorization: {credentials: <API_TOKEN>}`` in its scrape config).
"""

from __future__ import annotations

from flask import Response, current_app

from services.metrics import CONTENT_TYPE
from web import access

bp = access.blueprint("metrics", __name__, refused="authentication required: send Authorization: Bearer <API_TOKEN>")


@bp.get("/metrics")
def metrics():
    """Every metric of this controller, built from memory at this moment (never waits for a poll)."""
    body = current_app.extensions["runtime"].metrics.exposition()
    # no-store: a cached copy would show Prometheus an old fleet as if it were now.
    return Response(body, status=200, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
