"""/api/integrations: what Home Assistant (MQTT) and Prometheus see of this controller (Settings -> Integrations)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request

from web import access
from web.auth import caller, error, write_required
from web.body import no_body

bp = access.blueprint("integrations", __name__, url_prefix="/api/integrations")


def _runtime() -> Any:
    return current_app.extensions["runtime"]


def _mqtt_status(runtime: Any) -> dict[str, Any]:
    """The publisher's own status, or why there is none (never a password)."""
    cfg = runtime.config.mqtt
    if runtime.mqtt is not None:
        return runtime.mqtt.status()
    why = ("mqtt.enabled is false in config.yaml" if not cfg.enabled
           else "this process does not poll (read-only): the polling one publishes")
    return {"enabled": cfg.enabled, "connected": False, "host": cfg.host or None, "port": cfg.port,
            "base_topic": cfg.base_topic, "discovery": cfg.discovery, "discovery_prefix": cfg.discovery_prefix,
            "commands": cfg.commands, "last_publish": None, "last_publish_ts": None, "last_error": None,
            "inactive_reason": why}


@bp.get("")
def integrations():
    """{site, mqtt: {...connection, last publish, discovery prefix}, metrics: {url, auth}}."""
    runtime = _runtime()
    security = runtime.config.security
    return jsonify({
        "site": runtime.config.site,
        "mqtt": _mqtt_status(runtime),
        "metrics": {"path": "/metrics", "url": request.host_url.rstrip("/") + "/metrics",
                    "auth": "bearer API token" if security.reads_require_login else "none (open on the LAN)"},
    })


@bp.post("/mqtt/republish")
@write_required
def republish():
    """Publish availability, Home Assistant discovery and every state again now."""
    no_body()
    runtime = _runtime()
    if runtime.mqtt is None:
        return error(_mqtt_status(runtime)["inactive_reason"], 409)
    runtime.mqtt.republish()
    runtime.fleet.event("mqtt", "discovery and states re-published on request", actor=caller() or "anonymous")
    return jsonify({"ok": True, "mqtt": runtime.mqtt.status()}), 202
