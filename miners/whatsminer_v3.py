"""Whatsminer API 3.x client (TCP 4433): 4-byte little-endian length prefix + JSON, one deadline per call.

Framing from apidoc.whatsminer.com "TCP Data Framing" (firmware from ~2024-11,
API 3.0.x): the request is the length as uint32 LE then the JSON text; the reply
is the same. The firmware keeps the connection open (300 s idle timeout); we
send one request per connection and close it, as pyasic and asic-rs do.
Replies: {"code": 0, "when": <unix>, "msg": <object or string>, "desc": "<cmd>"},
code 0 = OK, -1 fail, -2 invalid command, -3 invalid json, -4 no permission,
-5 out of memory.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
from typing import Any

from .base import MinerAuthError, MinerProtocolError, MinerUnreachable

log = logging.getLogger(__name__)

DEFAULT_PORT = 4433
MAX_REPLY_BYTES = 1024 * 1024  # get.device.info is ~1.5 kB; a huge length is not a Whatsminer
CODE_OK = 0
CODE_NO_PERMISSION = -4
CODE_NAMES = {-1: "fail", -2: "invalid command", -3: "invalid json item", -4: "no permission",
              -5: "out of memory"}


class V3APIError(MinerProtocolError):
    """The firmware answered with a code other than 0; ``msg`` is its own text."""

    def __init__(self, command: str, code: int | None, msg: str) -> None:
        self.command, self.code, self.msg = command, code, msg
        name = CODE_NAMES.get(code, "error") if code is not None else "no code"
        super().__init__(f"{command}: {msg or name} (code {code}, {name})")


class V3PermissionDenied(V3APIError, MinerAuthError):
    """Code -4 "no permission": wrong account/password (token), write switch off, or factory password."""


def encode_frame(payload: dict[str, Any]) -> bytes:
    """Length prefix + compact ASCII JSON (the vendor document says the payload is ASCII)."""
    body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return struct.pack("<I", len(body)) + body


def exchange(host: str, port: int, payload: dict[str, Any], *, timeout: float = 3.0) -> Any:
    """Send one request and return the parsed reply; the whole call is bounded by ``timeout``.

    Raises MinerUnreachable (refused, reset, silent, deadline), MinerProtocolError
    (a frame that is not the v3 shape). Never logs the payload (tokens, pools).
    """
    deadline = time.monotonic() + timeout
    where = f"{host}:{port}"

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MinerUnreachable(f"{where}: no complete API 3 reply within {timeout:g} s")
        return remaining

    try:
        sock = socket.create_connection((host, port), timeout=left())
    except ConnectionRefusedError:
        raise MinerUnreachable(f"{where}: connection refused (API 3 port closed)") from None
    except (socket.timeout, TimeoutError):
        raise MinerUnreachable(f"{where}: no answer to connect within {timeout:g} s") from None
    except OSError as exc:
        raise MinerUnreachable(f"{where}: {exc.strerror or exc}") from None

    def read_exactly(count: int) -> bytes:
        chunks, size = [], 0
        while size < count:
            sock.settimeout(left())
            chunk = sock.recv(min(65536, count - size))
            if not chunk:
                raise MinerProtocolError(f"{where}: connection closed after {size} of {count} bytes")
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

    try:
        with sock:
            sock.settimeout(left())
            sock.sendall(encode_frame(payload))
            (length,) = struct.unpack("<I", read_exactly(4))
            if length > MAX_REPLY_BYTES:
                raise MinerProtocolError(f"{where}: API 3 length prefix {length} is not a Whatsminer reply")
            body = read_exactly(length) if length else b""
    except (socket.timeout, TimeoutError):
        raise MinerUnreachable(f"{where}: API 3 reply not finished within {timeout:g} s") from None
    except ConnectionResetError:
        raise MinerUnreachable(f"{where}: connection reset by the miner") from None
    except OSError as exc:
        raise MinerUnreachable(f"{where}: {exc.strerror or exc}") from None
    if not body:
        raise MinerProtocolError(f"{where}: empty API 3 reply")
    try:
        return json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        raise MinerProtocolError(f"{where}: API 3 reply is not JSON: {body[:60]!r}") from None


def check(reply: Any, command: str) -> dict[str, Any]:
    """The reply dict when ``code`` is 0; V3APIError / V3PermissionDenied otherwise."""
    if not isinstance(reply, dict) or "code" not in reply:
        raise MinerProtocolError(f"{command}: not an API 3 reply (no 'code')")
    try:
        code = int(reply["code"])
    except (TypeError, ValueError):
        raise MinerProtocolError(f"{command}: API 3 'code' is not a number") from None
    if code != CODE_OK:
        msg = reply.get("msg")
        text = msg if isinstance(msg, str) else json.dumps(msg)
        kind = V3PermissionDenied if code == CODE_NO_PERMISSION else V3APIError
        raise kind(command, code, text)
    return reply


def call(host: str, port: int, payload: dict[str, Any], *, timeout: float = 3.0) -> dict[str, Any]:
    """exchange() + check(): the reply of a successful command."""
    command = str(payload.get("cmd", "?"))
    log.debug("whatsminer api3 %s:%s %s", host, port, command)
    return check(exchange(host, port, payload, timeout=timeout), command)
