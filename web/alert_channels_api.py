"""/api/settings/alert-channels: list, add, remove and test the alert channels (alerts.urls) from the Settings page.

Every route needs a login or the API token, reads included (as /api/settings). A channel's URL
is write-only: it comes in with POST and never goes out; the list shows an opaque id, the
scheme and a label (services/alert_channels.py). A change is written by the Settings page's
own config writer (validated whole as start-up does, atomic, dated .bak, comments kept) and
handed to the running alert service at once. While ALERT_URLS is set it is what the
controller uses, so the page refuses to change the channels (409). docs/settings.md.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import current_app, jsonify

from services import alert_channels as channels
from services.alert_channels import ChannelError
from services.alerts.urls import why_unusable
from services.config import ConfigError
from services.config_edit import ConfigEditError
from web import access
from web.auth import error, write_required
from web.body import json_object, no_body
from web.settings_common import APPLY_LOCK, login_required_reply, no_store, set_running
from web.settings_common import editor as config_editor

log = logging.getLogger(__name__)

bp = access.blueprint("alert_channels_api", __name__, url_prefix="/api/settings/alert-channels")
TEST_TIMEOUT_S = 20.0  # as POST /api/alerts/test


# Reads too: the labels name the servers the alerts go to.
bp.before_request(login_required_reply)
bp.after_request(no_store)


@bp.errorhandler(ChannelError)
def _refused(exc: ChannelError):
    return error(str(exc), exc.status)


@bp.errorhandler(ConfigEditError)
def _not_written(exc: ConfigEditError):
    return error(str(exc), exc.status, key=exc.key)


def _key() -> bytes:
    """This install's id key: the session-signing key (DATA_DIR/secret_key), never shown."""
    return current_app.extensions["secrets"].secret_key.encode()


def _from_env() -> bool:
    try:
        environ = config_editor().environ
    except ConfigEditError:  # started without a config file: the environment start-up read
        environ = current_app.config.get("SETTINGS_ENVIRON") or os.environ
    return channels.from_environment(environ)


def _urls() -> tuple[str, ...]:
    """The channels as config.yaml (or ALERT_URLS) says now; what runs if the file has a problem (or none)."""
    try:
        return config_editor().load().alerts.urls
    except (ConfigError, ConfigEditError):
        return current_app.config["CONTROLLER"].alerts.urls


def _listed(urls: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    urls = _urls() if urls is None else urls
    return [v.public() for v in channels.views(urls, _key(), from_env=_from_env())]


def _writable() -> list[str]:
    """The file's channels, to change (caller holds APPLY_LOCK); 409 while ALERT_URLS or a broken file rules."""
    if _from_env():
        raise ChannelError(f"the channels come from the environment variable {channels.ENV_VAR}, which wins over "
                           "config.yaml: change them there", 409)
    try:
        return list(config_editor().load().alerts.urls)
    except ConfigError as exc:  # hand-edited into an error since start: the page cannot tell what to keep
        raise ChannelError(f"config.yaml has a problem; fix it first: {exc}", 409) from None


def _write(urls: list[str]) -> tuple[tuple[str, ...], str]:
    """Save the list and hand it to the alert service; (saved list, "live" or "restart"). Caller holds APPLY_LOCK."""
    result = config_editor().set_list("alerts.urls", urls)
    saved = result.config.alerts.urls
    runtime = access.runtime()
    try:
        runtime.alerts.set_channels(saved)
    except (ValueError, RuntimeError) as exc:  # e.g. a ${VAR} this process's environment lacks
        log.warning("alert channels saved; not applied live (%s): used after a restart", type(exc).__name__)
        return saved, "restart"
    set_running("alerts.urls", saved)
    log.info("alert channels applied live: %d channel(s)", len(saved))
    return saved, "live"


def _event(text: str) -> None:
    access.runtime().fleet.event("settings", text, actor=access.actor())


@bp.get("")
def list_channels():
    """[{"id", "scheme", "label", "from_env"}]: never a URL or a piece of one that may be a secret."""
    return jsonify(_listed())


@bp.post("")
@write_required
def add_channel():
    """{"url": "<Apprise URL>"}: 201 with the new channel; 400 with Apprise's reason (the URL is not repeated)."""
    body = json_object(("url",))
    with APPLY_LOCK:
        current = _writable()
        url = channels.check_new(body.get("url"), current)
        reason = why_unusable(url, config_editor().environ)
        if reason is not None:
            raise ChannelError(f"url: Apprise cannot use this {channels.scheme_of(url)}:// URL: "
                               f"{channels.scrub(reason, url)}")
        saved, applied = _write(current + [url])
    scheme = channels.scheme_of(url)
    _event(f"alert channel added: {scheme}://" + ("" if applied == "live" else " (used after a restart)"))
    listed = _listed(saved)
    return jsonify({"channel": listed[-1], "applied": applied, "channels": listed}), 201


@bp.delete("/<channel_id>")
@write_required
def remove_channel(channel_id: str):
    """Remove one channel by id: 200 with the list left; 404 for an id not (or no longer) in the list."""
    no_body()
    with APPLY_LOCK:
        current = _writable()
        index = channels.index_of(current, _key(), channel_id[:64])
        if index is None:
            return error("no such alert channel (it may have been removed already)", 404)
        removed = channels.views(current, _key(), from_env=False)[index]
        del current[index]
        saved, applied = _write(current)
    _event(f"alert channel removed: {removed.scheme}://" + ("" if applied == "live" else " (until a restart)"))
    return jsonify({"removed": removed.public(), "applied": applied, "channels": _listed(saved)})


@bp.post("/<channel_id>/test")
@write_required
def test_channel(channel_id: str):
    """A test message through this channel only: {"id", "label", "ok", "error"} (at most ~20 s)."""
    no_body()
    urls = _urls()
    index = channels.index_of(urls, _key(), channel_id[:64])
    if index is None:
        return error("no such alert channel (it may have been removed)", 404)
    url = urls[index]
    try:
        results = access.runtime().alerts.test(access.actor(), TEST_TIMEOUT_S, channel=url)
    except LookupError as exc:
        return error(str(exc), 409)
    result = results[0]
    view = channels.views(urls, _key(), from_env=_from_env())[index]
    return jsonify({"id": view.id, "label": view.label, "ok": bool(result["ok"]),
                    "error": channels.scrub(result["error"], url)})
