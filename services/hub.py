"""WebSocket hub: the set of connected dashboard sockets and a broadcast to them.

Knows nothing of Flask: a client is anything with ``send(str)``. A failed
send drops that client (the socket's own loop ends when it notices). Each
client gets its own lock because the poll thread and the socket's own thread
(answering "ping") may both write to it (flask-sock #85).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Sendable(Protocol):
    def send(self, data: str) -> None: ...


class Hub:
    """Broadcasts JSON messages to every connected client."""

    def __init__(self) -> None:
        self._clients: dict[Sendable, threading.Lock] = {}
        self._lock = threading.Lock()

    def add(self, client: Sendable) -> None:
        """Register a connected client."""
        with self._lock:
            self._clients[client] = threading.Lock()

    def remove(self, client: Sendable) -> None:
        """Forget a client (closed or failed)."""
        with self._lock:
            self._clients.pop(client, None)

    def count(self) -> int:
        """Number of connected clients."""
        with self._lock:
            return len(self._clients)

    def send(self, client: Sendable, message: dict[str, Any] | str) -> bool:
        """Send to one client under its lock; False (and dropped) if it failed."""
        text = message if isinstance(message, str) else json.dumps(message)
        with self._lock:
            lock = self._clients.get(client)
        if lock is None:
            return False
        try:
            with lock:
                client.send(text)
            return True
        except Exception:  # noqa: BLE001 - ConnectionClosed or a broken pipe: the client is gone
            self.remove(client)
            return False

    def publish(self, message: dict[str, Any]) -> None:
        """Serialise once, send to every client, drop the ones that fail."""
        with self._lock:
            clients = list(self._clients)
        if not clients:
            return
        text = json.dumps(message)
        for client in clients:
            self.send(client, text)
