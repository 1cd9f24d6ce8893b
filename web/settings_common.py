"""What the Settings page's API blueprints share (settings_api, alert_channels_api): not a blueprint itself.

One editor of config.yaml and one lock around a change, its live application and the swap of
the running config, so two blueprints never write the file or the running config at once.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import current_app

from services.config_edit import ConfigEditError, ConfigEditor
from services.config_keys import replace_path
from web import access
from web.auth import caller, error

APPLY_LOCK = threading.Lock()  # a change, its live application and the swap of CONTROLLER: one at a time
_EDITOR_LOCK = threading.Lock()


def no_store(response: Any) -> Any:
    """after_request: a settings reply (a new token, the channels' labels) never stays in a cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def login_required_reply() -> Any | None:
    """The 401 reply when the caller has neither a session nor the API token, else None (reads need it too)."""
    if caller() is None:
        return error("authentication required: log in, or send Authorization: Bearer <API_TOKEN>", 401)
    return None


def editor() -> ConfigEditor:
    """The editor of the file this app was started with (ConfigEditError 409 when it has none)."""
    found = current_app.extensions.get("config_editor")
    if found is None:
        source = current_app.config["CONTROLLER"].source
        if not source:
            raise ConfigEditError("this app was started without a config file: nothing to edit", status=409)
        with _EDITOR_LOCK:
            found = current_app.extensions.get("config_editor")
            if found is None:
                # SETTINGS_ENVIRON: the environment start-up read (tests start with none); default os.environ.
                found = ConfigEditor(source, current_app.config.get("SETTINGS_ENVIRON"))
                current_app.extensions["config_editor"] = found
    return found


def set_running(key: str, value: Any) -> None:
    """Put one value into the running config: the app's (CONTROLLER) and the runtime's (caller holds APPLY_LOCK)."""
    current_app.config["CONTROLLER"] = replace_path(current_app.config["CONTROLLER"], key, value)
    runtime = access.runtime()
    runtime.config = replace_path(runtime.config, key, value)
