"""The live WebSocket at /ws: a snapshot on connect, then one after every poll round.

This view only checks the handshake and the read permission, then hands the
raw client socket to the push server (services/push.py), which answers the
handshake and owns the socket from then on: no request thread is held by an
open dashboard, and no publisher ever waits on one. A handshake the server
cannot serve gets a 4xx with a JSON reason, never a 500.

How the request then ends without the server writing a reply of its own:
- gunicorn: the socket is detached from gunicorn's socket object (gunicorn's
  close of it is then a no-op) and the response raises StopIteration, which
  gunicorn takes as "connection handled" (the same exit flask-sock uses);
- werkzeug's dev server (the browser tests): it shuts the connection down
  when a request ends, so the request thread keeps a duplicate descriptor and
  waits until the push server lets go, then ends as a dropped connection.
"""

from __future__ import annotations

import base64
import binascii
import socket
import ssl
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from web.auth import read_allowed

bp = Blueprint("ws", __name__)

_VERSION = "13"  # RFC 6455; browsers have sent nothing else since 2012


# Two rules, one view: werkzeug routes a request with "Upgrade: websocket" only to a rule marked
# websocket=True, and anything else only to one that is not; the view answers both (a plain GET: 426).
@bp.route("/ws", methods=["GET"], websocket=True)
@bp.route("/ws", methods=["GET"])
def live() -> Any:
    """Validate the WebSocket handshake and give the socket to the push server."""
    problem = _handshake_problem()
    if problem is not None:
        return problem
    runtime = current_app.extensions["runtime"]
    hub = runtime.hub
    if not hub.has_room():
        reply = jsonify(error="too many live connections; the page falls back to polling")
        reply.headers["Retry-After"] = "30"
        return reply, 503
    taken = _take_socket(request.environ)
    if taken is None:
        return jsonify(error="WebSocket needs gunicorn or werkzeug's server without TLS "
                             "(put a TLS proxy in front instead)"), 501
    sock, mode = taken
    if read_allowed():
        hello = runtime.fleet.snapshot_message()
        hello["discovery"] = runtime.discovery.status()
        refused = False
    else:  # the page reads this, asks the REST API and is sent to the login (same wire as before)
        hello, refused = {"type": "error", "error": "authentication required"}, True
    client = hub.attach(sock, request.headers["Sec-WebSocket-Key"].strip(), hello,
                        peer=request.remote_addr or "?", then_close=refused)
    return _HandedOver(client, mode)


def _handshake_problem() -> tuple[Response, int] | None:
    """A 4xx reply for a handshake this server cannot serve, else None."""
    upgrade = request.headers.get("Upgrade", "").lower()
    connection = {token.strip().lower() for token in request.headers.get("Connection", "").split(",")}
    if upgrade != "websocket" or "upgrade" not in connection:
        reply = jsonify(error="this is a WebSocket endpoint: send Upgrade: websocket and Connection: Upgrade")
        reply.headers["Upgrade"] = "websocket"
        return reply, 426
    version = request.headers.get("Sec-WebSocket-Version", "").strip()
    if version != _VERSION:
        reply = jsonify(error=f"unsupported Sec-WebSocket-Version {version[:20]!r}; this server speaks 13")
        reply.headers["Sec-WebSocket-Version"] = _VERSION
        return reply, 426
    key = request.headers.get("Sec-WebSocket-Key", "").strip()
    try:
        if len(base64.b64decode(key.encode("ascii"), validate=True)) != 16:
            raise ValueError("not 16 bytes")
    except (ValueError, UnicodeEncodeError, binascii.Error):
        return jsonify(error="Sec-WebSocket-Key must be 16 bytes in base64"), 400
    return None


def _take_socket(environ: dict[str, Any]) -> tuple[socket.socket, str] | None:
    """The client's socket, now ours, and the server's kind; None when this server cannot hand it over."""
    raw = environ.get("gunicorn.socket")
    if isinstance(raw, socket.socket) and not isinstance(raw, ssl.SSLSocket):
        return socket.socket(fileno=raw.detach()), "gunicorn"
    raw = environ.get("werkzeug.socket")
    if isinstance(raw, socket.socket) and not isinstance(raw, ssl.SSLSocket):
        return raw.dup(), "werkzeug"
    return None


class _HandedOver(Response):
    """Ends the request without a reply: the push server has written the 101 and owns the socket."""

    def __init__(self, client: Any, mode: str) -> None:
        super().__init__()
        self._client = client
        self._mode = mode

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self._mode == "gunicorn":
            raise StopIteration()  # gunicorn: "connection handled", it writes nothing (its socket is detached)
        if self._client is not None:
            self._client.wait_closed()  # werkzeug would shut the shared connection down on return
        raise ConnectionAbortedError("WebSocket closed")  # werkzeug: a dropped connection, nothing written
