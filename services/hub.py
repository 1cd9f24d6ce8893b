"""WebSocket hub: what the rest of the controller sees of the dashboard sockets.

``publish`` is called from the poll round, the control loop and discovery: it
serialises once and only enqueues (services/push.py owns the sockets and
writes them from its own thread), so it returns in microseconds whatever the
clients do. Knows nothing of Flask: web/ws.py hands validated sockets in.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from services.push import PushClient, PushServer


class Hub:
    """Broadcasts JSON messages to every connected dashboard."""

    def __init__(self, push: PushServer | None = None) -> None:
        self.push = push or PushServer()

    def count(self) -> int:
        """Number of connected clients."""
        return self.push.count()

    def has_room(self) -> bool:
        """Whether one more client would be accepted now (see services.push.MAX_CLIENTS)."""
        return self.push.has_room()

    def attach(self, sock: socket.socket, key: str, hello: dict[str, Any], *, peer: str = "?",
               then_close: bool = False) -> PushClient | None:
        """Hand over a validated handshake's socket; ``hello`` is the first message (then a close if ``then_close``)."""
        return self.push.attach(sock, key, json.dumps(hello), peer, then_close)

    def publish(self, message: dict[str, Any]) -> None:
        """Serialise once and queue for every client; an unsent older message of the same type is replaced."""
        if not self.push.count():
            return
        self.push.publish(str(message.get("type", "message")), json.dumps(message))

    def close(self) -> None:
        """Close every client and stop the push thread (Runtime.shutdown)."""
        self.push.close()
