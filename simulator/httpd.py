"""A small HTTP/1.1 server on asyncio streams: keep-alive, Content-Length and chunked bodies.

Just enough HTTP for the firmware web servers we simulate (ESP-IDF esp_http_server
on AxeOS, lighttpd on Antminer): persistent connections (requests.Session reuses
them), request bodies by Content-Length or chunked, HEAD answered like GET
without a body, and replies either sized or chunked the way the firmware sends
them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

from . import faults
from .faults import HANG, RESET

REASONS = {
    200: "OK", 204: "No Content", 302: "Found", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    411: "Length Required", 413: "Payload Too Large", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 505: "HTTP Version Not Supported",
}

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024


@dataclass(slots=True)
class Request:
    """One parsed HTTP request."""

    method: str  # HEAD is passed to handlers as GET with head=True
    target: str
    path: str
    query: str
    version: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    client_ip: str
    head: bool = False

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header by case-insensitive name."""
        return self.headers.get(name.lower(), default)


@dataclass(slots=True)
class Response:
    """A reply; ``chunked`` sends the body with Transfer-Encoding: chunked."""

    status: int
    body: bytes = b""
    content_type: str | None = "text/html"
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunked: bool = False
    reason: str | None = None
    close: bool = False
    after: Callable[[], None] | None = None  # runs once the reply is flushed (e.g. reboot)


Handler = Callable[[Request], "Response | object"]


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _parse_head(raw: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise _BadRequest(400)
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest(400)
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest(505)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400)
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return method, target, version, headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(400)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise _BadRequest(413)
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise _BadRequest(400)


def render(response: Response, *, head: bool = False, keep_alive_10: bool = False,
           content_length: int | None = None) -> bytes:
    """Serialise a response (status line, headers, body) to bytes.

    ``content_length`` announces a body sent separately (the "huge" fault streams it).
    """
    reason = response.reason or REASONS.get(response.status, "Unknown")
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    if response.content_type is not None:
        lines.append(f"Content-Type: {response.content_type}")
    if response.chunked:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {len(response.body) if content_length is None else content_length}")
    lines.extend(f"{k}: {v}" for k, v in response.headers)
    if response.close:
        lines.append("Connection: close")
    elif keep_alive_10:
        lines.append("Connection: keep-alive")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if head:
        return out
    if response.chunked:
        # ESP-IDF httpd_resp_send_chunk: one chunk per call, then the zero-length chunk.
        if response.body:
            out += f"{len(response.body):X}\r\n".encode() + response.body + b"\r\n"
        return out + b"0\r\n\r\n"
    return out + response.body


async def serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler,
                     *, idle_timeout: float = 60.0,
                     shape: Callable[[], faults.Shape | None] | None = None) -> object | None:
    """Serve requests on one connection until the client closes or asks to.

    ``shape()``, asked before each reply is written, names a "drip" or "huge"
    fault (see faults.Shape). Returns HANG or RESET when the handler asked for
    that (the caller owns the socket then), otherwise None after closing.
    """
    peer = writer.get_extra_info("peername")
    client_ip = peer[0] if peer else ""
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            await _send_error(writer, 431)
            return None
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            writer.close()
            return None
        try:
            method, target, version, headers = _parse_head(raw[:-4])
            body = b""
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits a second for this otherwise
            if "chunked" in headers.get("transfer-encoding", "").lower():
                body = await _read_chunked(reader)
            elif "content-length" in headers:
                try:
                    length = int(headers["content-length"])
                except ValueError:
                    raise _BadRequest(400)
                if length < 0:
                    raise _BadRequest(400)
                if length > MAX_BODY_BYTES:
                    raise _BadRequest(413)
                body = await reader.readexactly(length)
        except _BadRequest as exc:
            await _send_error(writer, exc.status)
            return None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return None
        path, _, query = target.partition("?")
        head = method == "HEAD"
        request = Request("GET" if head else method, target, path, query, version, headers, body, client_ip, head)
        result = handler(request)
        if result is HANG or result is RESET:
            return result
        assert isinstance(result, Response)
        conn = headers.get("connection", "").lower()
        keep_alive_10 = version == "HTTP/1.0" and "keep-alive" in conn
        if "close" in conn or (version == "HTTP/1.0" and not keep_alive_10):
            result.close = True
        how = shape() if shape is not None else None
        try:
            await _write(writer, result, how, head=head, keep_alive_10=keep_alive_10)
        except ConnectionError:
            writer.close()
            return None
        if result.after is not None:
            result.after()
        if result.close:
            writer.close()
            return None


async def _write(writer: asyncio.StreamWriter, response: Response, how: faults.Shape | None, *,
                 head: bool, keep_alive_10: bool) -> None:
    """One reply: at once, dripped byte by byte, or with its body padded to megabytes (Content-Length)."""
    if how is None or (how.kind == "huge" and head):
        writer.write(render(response, head=head, keep_alive_10=keep_alive_10))
        await writer.drain()
    elif how.kind == "drip":
        await faults.drip(writer, render(response, head=head, keep_alive_10=keep_alive_10), how.drip_interval_s)
    else:
        total, pieces = faults.huge_parts(response.body, how.huge_bytes)
        sized = Response(response.status, b"", response.content_type, response.headers, False, response.reason,
                         response.close)
        writer.write(render(sized, head=True, keep_alive_10=keep_alive_10, content_length=total))
        await faults.write_pieces(writer, pieces)


async def _send_error(writer: asyncio.StreamWriter, status: int) -> None:
    try:
        writer.write(render(Response(status, REASONS.get(status, "Error").encode(), close=True)))
        await writer.drain()
    except ConnectionError:
        pass
    writer.close()
