"""Test helpers for the driver tests (no tests here): fixture loading and small fake miners on loopback.

Fake servers bind 127.0.0.1:0 or addresses in 127.82.0.0/16 (the driver-test range).
"""

from __future__ import annotations

import http.server
import json
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(relative: str) -> bytes:
    """Raw bytes of tests/fixtures/<relative>."""
    return (FIXTURES / relative).read_bytes()


def fixture_json(relative: str) -> Any:
    """Parsed JSON of tests/fixtures/<relative> (strict: only for valid-JSON fixtures)."""
    return json.loads(fixture_bytes(relative))


# --- fake cgminer API ------------------------------------------------------------------------
Reply = bytes | str | Callable[[dict[str, Any]], bytes | str | None] | None


class FakeCgminer:
    """A cgminer-API server: one request per connection, reply + NUL, close.

    ``replies`` maps a command (or joined "a+b") to bytes/str or a callable taking
    the request dict. ``mode`` changes the whole server's behaviour: "reply"
    (default), "silent" (reads, never answers), "reset" (RST after reading),
    "trickle" (one byte every ``trickle_every`` s, forever), "no_nul" (no terminator).
    """

    def __init__(self, replies: dict[str, Reply] | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 mode: str = "reply", trickle_every: float = 0.05) -> None:
        self.replies = dict(replies or {})
        self.mode = mode
        self.trickle_every = trickle_every
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        self._stop = threading.Event()
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fake._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self.host, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> FakeCgminer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def _read_request(self, sock: socket.socket) -> dict[str, Any]:
        data = b""
        sock.settimeout(2.0)
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            try:
                return json.loads(data)
            except ValueError:
                continue
        return {}

    def _handle(self, sock: socket.socket) -> None:
        self.connections += 1
        try:
            request = self._read_request(sock)
        except OSError:
            return
        self.requests.append(request)
        if self.mode == "silent":
            self._stop.wait(10)
            return
        if self.mode == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # linger 0: RST, before socketserver's own shutdown() could send a FIN
            return
        if self.mode == "trickle":
            try:
                while not self._stop.is_set():
                    sock.sendall(b" ")
                    time.sleep(self.trickle_every)
            except OSError:
                pass
            return
        reply = self.replies.get(str(request.get("command")))
        if callable(reply):
            reply = reply(request)
        if reply is None:
            reply = json.dumps({"STATUS": [{"STATUS": "E", "When": 0, "Code": 14, "Msg": "Invalid command",
                                            "Description": "cgminer 4.11.1"}], "id": 1})
        data = reply.encode() if isinstance(reply, str) else reply
        try:
            sock.sendall(data if self.mode == "no_nul" else data + b"\x00")
        except OSError:
            pass


def status_reply(msg: str = "OK", *, letter: str = "S", code: int = 0, section: str | None = None,
                 body: list[dict[str, Any]] | None = None) -> str:
    """A cgminer-shaped reply with one STATUS entry."""
    reply: dict[str, Any] = {"STATUS": [{"STATUS": letter, "When": 1, "Code": code, "Msg": msg,
                                         "Description": "cgminer 4.11.1"}], "id": 1}
    if section:
        reply[section] = body or []
    return json.dumps(reply)


# --- fake HTTP server --------------------------------------------------------------------------
class FakeHttp:
    """A tiny HTTP server: ``routes`` maps (method, path) -> (status, headers, body)."""

    def __init__(self, routes: dict[tuple[str, str], tuple[int, dict[str, str], bytes | str]], *,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes = routes
        self.seen: list[tuple[str, str]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                fake.seen.append((self.command, self.path))
                status, headers, body = fake.routes.get((self.command, self.path), (404, {}, b"not found"))
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self.host, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> FakeHttp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class SilentPort:
    """A port whose SYNs are dropped (full accept queue), like a host behind a DROP firewall rule."""

    def __init__(self, host: str, port: int) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(0)
        # Linux queues backlog+1 = 1 connection; with it held, every later SYN is dropped.
        self.filler = socket.create_connection((host, port), timeout=1)

    def __enter__(self) -> SilentPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.filler.close()
        self.listener.close()
