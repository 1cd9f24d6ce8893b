"""A tiny HTTP control server for a running fleet: list miners, stop/start them, set faults and conditions.

For the demo and manual checks (``python -m simulator --control 127.77.0.2:8750``;
``python -m simulator.ctl`` is its command line). Loopback only, no auth: it changes
simulated miners, nothing else. One thread answers one request at a time; every
change goes through SimFleet (applied on the fleet's loop).

    GET  /miners        -> [{"ip", "kind", "model", "fault", "conditions", "supported_conditions", "listening"}]
    GET  /miners/<ip>   -> one of those (404 for an unknown address)
    POST /miners/<ip>   {"fault": "down" | null | ..., "conditions": ["hot", ...]}  (either key or both)
                        -> 200 the miner as listed; 400 {"error": reason} for a bad body, name or
                        address; 404 for an address that is no simulated miner
"""

from __future__ import annotations

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from .conditions import CONDITIONS, check_conditions
from .faults import check_fault
from .fleet import SimFleet, SimulatorError
from .miner import SimMiner

DEFAULT_PORT = 8750
MAX_BODY = 4096  # a fault and five condition names fit many times over
REQUEST_TIMEOUT_S = 5.0  # a client that stops sending cannot hold the one serving thread


def parse_address(text: str) -> tuple[str, int]:
    """"127.77.0.2:8750" -> ("127.77.0.2", 8750); ValueError unless the host is a loopback address."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"control address {text!r}: use HOST:PORT, e.g. 127.77.0.2:{DEFAULT_PORT}")
    host = "127.0.0.1" if host == "localhost" else host
    try:
        addr = ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"control address {text!r}: {host!r} is not an IPv4 address") from None
    if not addr.is_loopback:
        raise ValueError(f"control address {text!r}: only loopback (127.0.0.0/8) is allowed; "
                         "the control server has no login")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"control address {text!r}: bad port {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"control address {text!r}: port {port} is out of range")
    return host, port


def describe(miner: SimMiner) -> dict[str, Any]:
    """One miner as the control server lists it (conditions in CONDITIONS order)."""
    return {"ip": miner.ip, "kind": miner.kind, "model": miner.model, "fault": miner.fault,
            "conditions": [c for c in CONDITIONS if c in miner.conditions],
            "supported_conditions": [c for c in CONDITIONS if c in miner.supported_conditions],
            "listening": miner.listening}


class _ClientError(Exception):
    """A request the server refuses: HTTP status and the reason sent back."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def apply_change(fleet: SimFleet, ip: str, body: object) -> dict[str, Any]:
    """Validate the whole POST body first, then set the fault and/or conditions; the miner afterwards."""
    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        raise _ClientError(400, f"{ip!r} is not an IPv4 address") from None
    try:
        miner = fleet.miner(ip)
    except KeyError:
        raise _ClientError(404, f"no simulated miner at {ip}") from None
    if not isinstance(body, dict) or not body:
        raise _ClientError(400, 'send a JSON object with "fault" and/or "conditions"')
    unknown = sorted(set(body) - {"fault", "conditions"})
    if unknown:
        raise _ClientError(400, f"unknown key(s) {', '.join(unknown)}; use \"fault\" and/or \"conditions\"")
    fault = body.get("fault")
    conditions = body.get("conditions")
    try:
        if "fault" in body:
            if fault is not None and not isinstance(fault, str):
                raise ValueError("fault must be a name or null")
            check_fault(fault)
        if "conditions" in body:
            if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
                raise ValueError("conditions must be a list of names")
            check_conditions(miner.kind, miner.supported_conditions, conditions)
    except ValueError as exc:
        raise _ClientError(400, str(exc)) from None
    if "conditions" in body:
        fleet.set_conditions(ip, conditions)
    if "fault" in body:
        fleet.set_fault(ip, fault)
    return describe(miner)


def _handler(fleet: SimFleet) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "simulator-control"
        timeout = REQUEST_TIMEOUT_S

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass  # quiet: the simulator prints only its miner list

        def _send(self, status: int, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def _ip(self) -> str | None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/miners":
                return ""
            if path.startswith("/miners/") and path.count("/") == 2:
                return path[len("/miners/"):]
            return None

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            ip = self._ip()
            if ip is None:
                self._send(404, {"error": "not found; use /miners or /miners/<ip>"})
            elif ip == "":
                self._send(200, [describe(m) for m in fleet.miners])
            else:
                try:
                    self._send(200, describe(fleet.miner(ip)))
                except KeyError:
                    self._send(404, {"error": f"no simulated miner at {ip}"})

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            ip = self._ip()
            if ip is None:
                self._send(404, {"error": "not found; use POST /miners/<ip>"})
                return
            if not ip:
                self._send(405, {"error": "POST /miners/<ip>, not /miners"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY:
                self._send(400, {"error": f"send a JSON body of 1..{MAX_BODY} bytes with Content-Length"})
                return
            try:
                body = json.loads(self.rfile.read(length).decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                self._send(400, {"error": "the body is not JSON"})
                return
            try:
                self._send(200, apply_change(fleet, ip, body))
            except _ClientError as exc:
                self._send(exc.status, {"error": exc.reason})
            except (SimulatorError, OSError, TimeoutError) as exc:  # e.g. a port taken while the miner was down
                self._send(500, {"error": f"the change failed: {exc}"})

    return Handler


class ControlServer:
    """The control HTTP server in one background thread; ``start()`` binds, ``stop()`` closes it."""

    def __init__(self, fleet: SimFleet, host: str, port: int = DEFAULT_PORT) -> None:
        parse_address(f"{host}:{port}")  # loopback only
        self.fleet = fleet
        self.host, self.port = host, port
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ControlServer:
        """Bind and serve (OSError if the address is taken); ``port`` 0 picks a free one."""
        server = HTTPServer((self.host, self.port), _handler(self.fleet))
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="sim-control", daemon=True)
        self._thread.start()
        return self

    @property
    def address(self) -> str:
        """HOST:PORT it listens on."""
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving, close the socket, join the thread (safe to call twice)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(5.0)

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
