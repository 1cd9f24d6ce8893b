"""A local webhook receiver for alert tests: what Apprise's json:// channel posts, on a loopback address."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                    "body": json.loads(body or b"{}")})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@contextmanager
def webhook_receiver(host: str) -> Iterator[tuple[int, list[dict]]]:
    """Yields (port, received): each POST as {"path", "auth" (the Authorization header), "body" (its JSON)}."""
    handler = type("Hook", (_Hook,), {"received": []})
    srv = ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_port, handler.received
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)
