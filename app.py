"""Build the Flask app: ``create_app()`` is the gunicorn entry point (``app:create_app()``).

Only wiring lives here: configuration, the controller runtime, blueprints and
error handlers. Routes are in web/, the work in services/.
"""

from __future__ import annotations

import atexit
import logging
import os
import traceback
from datetime import timedelta
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from services import jsonbody
from services.config import Config, load_config
from services.credentials import load_secrets
from services.runtime import Runtime
from web import guard


def create_app(config_path: str | None = None, *, config: Config | None = None,
               runtime: Runtime | None = None, start_background: bool = True,
               test_config: dict[str, Any] | None = None) -> Flask:
    """Create the app; background polling starts unless ``start_background`` is False (tests)."""
    config = config or load_config(config_path)
    logging.basicConfig(level=config.logging.level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs two INFO lines per job run: every 15 s forever, on an SD card.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = Flask(__name__)
    secrets = load_secrets(config)
    app.config.update(
        SECRET_KEY=secrets.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",  # a second barrier against cross-site writes
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=jsonbody.MAX_BYTES,  # every body we take is small; bigger ones get a JSON 413
        CONTROLLER=config,
    )
    if test_config:
        app.config.update(test_config)
    runtime = runtime or Runtime(config)
    app.extensions["runtime"] = runtime
    app.extensions["secrets"] = secrets
    _register_blueprints(app)
    _register_error_handlers(app)
    guard.register(app)  # Host allow-list and security headers (web/guard.py)
    if start_background and not app.testing:
        runtime.start()
        atexit.register(runtime.shutdown)
    return app


def _register_blueprints(app: Flask) -> None:
    from web import alerts, auth, autocontrol, battery, ems, pages, prices, profitability, rules, ws
    from web import discovery_api, events_api, fleet_api, history_api, integrations, metrics, miner_commands, miners_api
    from web import bulk, pool_sets
    from web import miner_settings

    app.register_blueprint(auth.bp)
    app.register_blueprint(miners_api.bp)  # /api/miners, /api/miner-types
    app.register_blueprint(miner_commands.bp)  # /api/miners/<ip>/<command>, credentials, chips
    from web import miner_tuning
    app.register_blueprint(miner_tuning.bp)  # /api/miners/<ip>/tuning and /thermal (docs/miners.md)
    app.register_blueprint(miner_settings.bp)  # PATCH /api/miners/<ip>: name, tags, enabled, limits (docs/miners.md)
    app.register_blueprint(fleet_api.bp)  # /api/stats, /api/health
    app.register_blueprint(history_api.bp)  # /api/history, /api/miners/<ip>/history, /api/history.csv
    app.register_blueprint(events_api.bp)  # /api/events
    app.register_blueprint(discovery_api.bp)  # /api/discover
    from web import energy_api
    app.register_blueprint(energy_api.bp)  # /api/energy/cost: kWh and cost per miner
    app.register_blueprint(battery.bp)
    app.register_blueprint(autocontrol.bp)
    app.register_blueprint(ems.bp)
    app.register_blueprint(prices.bp)  # /api/prices
    app.register_blueprint(profitability.bp)  # /api/profitability
    app.register_blueprint(rules.bp)  # /api/rules (docs/rules.md)
    app.register_blueprint(alerts.bp)  # /api/alerts (docs/alerts.md)
    app.register_blueprint(metrics.bp)  # GET /metrics for Prometheus (docs/metrics.md)
    app.register_blueprint(integrations.bp)  # /api/integrations: MQTT and /metrics state (Settings page)
    from web import backup as backup_routes
    app.register_blueprint(backup_routes.bp)  # /api/backup, /api/restore (docs/backup.md)
    from web import backup_schedule_api
    app.register_blueprint(backup_schedule_api.bp)  # /api/backup/schedule: backups to a folder (docs/backup.md)
    from web import wallets
    app.register_blueprint(wallets.bp)  # /api/wallets, /api/solo, /api/shares (docs/wallets.md)
    from web import settings_api
    app.register_blueprint(settings_api.bp)  # /api/settings: edit config.yaml, rotate secrets (docs/settings.md)
    from web import alert_channels_api
    app.register_blueprint(alert_channels_api.bp)  # /api/settings/alert-channels: alerts.urls, write-only
    app.register_blueprint(pool_sets.bp)  # /api/pool-sets: the pool library (docs/pools.md)
    app.register_blueprint(bulk.bp)  # POST /api/miners/bulk (docs/pools.md)
    app.register_blueprint(pages.bp)
    app.register_blueprint(ws.bp)  # /ws: hands sockets to the push server (services/push.py)


def _register_error_handlers(app: Flask) -> None:
    """JSON errors for the API (a refused body's reason), never a stack trace; unexpected errors log one line."""
    from web import body

    @app.errorhandler(body.BadRequest)
    def bad_request(exc: body.BadRequest):
        return jsonify({"error": str(exc)}), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        # werkzeug's own 400/404/405/413 too: JSON for API callers, with its headers (405's Allow).
        if request.path.startswith("/api/") or request.path in ("/login", "/logout") or request.is_json:
            response = jsonify({"error": exc.description or exc.name})
            response.headers.extend((k, v) for k, v in exc.get_headers() if k.lower() != "content-type")
            return response, exc.code
        return exc

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # One line: what broke and where in our code, never the body, headers or the exception's
        # text (which can hold a value from the request). The traceback only at DEBUG.
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f"{os.path.basename(frame.filename)}:{frame.lineno}" if frame else "?"
        rule = request.url_rule.rule if request.url_rule else "(no route)"
        app.logger.error("internal error: %s at %s on %s %s", type(exc).__name__, where, request.method, rule)
        app.logger.debug("traceback of the internal error above", exc_info=exc)
        return jsonify({"error": "internal error"}), 500
