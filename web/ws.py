"""The live WebSocket at /ws: a snapshot on connect, then one after every poll round.

Each open socket holds one gunicorn thread for as long as it is open
(flask-sock docs), which is why gunicorn.conf.py sizes the threads to the
expected number of dashboard tabs plus API headroom.
"""

from __future__ import annotations

import json

from flask import current_app
from flask_sock import ConnectionClosed, Sock

from web.auth import read_allowed

sock = Sock()

_RECEIVE_TIMEOUT_S = 60  # the page pings every 20 s; a silent socket is checked by the server's ping


@sock.route("/ws")
def live(ws) -> None:
    """Register the socket with the hub and answer pings until it closes."""
    if not read_allowed():
        ws.send(json.dumps({"type": "error", "error": "authentication required"}))
        return
    runtime = current_app.extensions["runtime"]
    hub = runtime.hub
    hub.add(ws)
    try:
        message = runtime.fleet.snapshot_message()
        message["discovery"] = runtime.discovery.status()
        if not hub.send(ws, message):
            return
        while True:
            data = ws.receive(timeout=_RECEIVE_TIMEOUT_S)
            if data == "ping":
                if not hub.send(ws, "pong"):
                    return
    except ConnectionClosed:
        pass
    finally:
        hub.remove(ws)
