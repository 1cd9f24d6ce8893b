"""Fault names and the socket-level behaviours behind them (hang, RST, drip, huge replies)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# None = normal. "hang": read the request, never answer, keep the socket open.
# "reset": accept, then close with RST (SO_LINGER 0). "malformed": answer with a
# known broken reply. "down": stop listening (connection refused) until cleared.
# "drip": the reply goes out one byte a second. "huge": the reply is padded to
# several MB (valid JSON when the reply was JSON). "wrongtypes" / "absurd": valid
# JSON whose values have the wrong types / lie about physics (see lies.py).
FAULTS: tuple[str | None, ...] = (None, "hang", "reset", "malformed", "down", "drip", "huge", "wrongtypes",
                                  "absurd")
SHAPES = ("drip", "huge")  # faults in how the bytes are sent (per transport)
LIES = ("wrongtypes", "absurd")  # faults in what the reply says (per reply text)

DRIP_INTERVAL_S = 1.0
HUGE_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024
_PAD_CHUNK = b"0" * _CHUNK  # written again and again: a huge reply never exists whole in memory
_SPACE_CHUNK = b" " * _CHUNK


@dataclass(frozen=True, slots=True)
class Shape:
    """How a reply's bytes go out under "drip" or "huge"."""

    kind: str  # "drip" or "huge"
    drip_interval_s: float = DRIP_INTERVAL_S
    huge_bytes: int = HUGE_BYTES

HANG = object()  # a handler's answer: never reply to this request
RESET = object()  # a handler's answer: drop the connection with an RST
CLOSE = object()  # a handler's answer: close the connection (FIN) without writing anything


def check_fault(fault: str | None) -> str | None:
    """Validate a fault name (raises ValueError listing the valid ones)."""
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; use one of {FAULTS}")
    return fault


def reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with an RST instead of a FIN (SO_LINGER on, timeout 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep a connection open without answering, discarding input, until the peer closes."""
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, OSError):
        pass
    writer.close()


def huge_parts(body: bytes, size: int) -> tuple[int, Iterator[bytes]]:
    """(total length, pieces) of ``body`` padded to about ``size`` bytes.

    A JSON object gets a leading ``"padding"`` string member and a JSON array a
    leading string item, so a client without a size cap parses it all; anything
    else is preceded by spaces (leading whitespace is still valid JSON). The
    pieces reuse one 64 kB buffer, so the simulator never holds the padding.
    """
    stripped = body.lstrip()
    if stripped[:1] == b"{":
        rest = stripped[1:].lstrip()
        head, tail, chunk = b'{"padding":"', (b'"' + rest if rest[:1] == b"}" else b'",' + rest), _PAD_CHUNK
    elif stripped[:1] == b"[":
        rest = stripped[1:].lstrip()
        head, tail, chunk = b'["', (b'"' + rest if rest[:1] == b"]" else b'",' + rest), _PAD_CHUNK
    else:
        head, tail, chunk = b"", body, _SPACE_CHUNK
    pad = max(0, size - len(head) - len(tail))

    def pieces() -> Iterator[bytes]:
        yield head
        left = pad
        while left > 0:
            piece = chunk if left >= len(chunk) else chunk[:left]
            left -= len(piece)
            yield piece
        yield tail

    return len(head) + pad + len(tail), pieces()


async def write_pieces(writer: asyncio.StreamWriter, pieces: Iterable[bytes]) -> None:
    """Write pieces with a drain after each (flow control keeps memory flat); stops when the peer goes."""
    for piece in pieces:
        if writer.transport.is_closing():
            return
        writer.write(piece)
        await writer.drain()


async def drip(writer: asyncio.StreamWriter, data: bytes, interval_s: float = DRIP_INTERVAL_S) -> None:
    """Write ``data`` one byte every ``interval_s`` seconds; stops when the peer closes."""
    for index in range(len(data)):
        if writer.transport.is_closing():
            return
        writer.write(data[index:index + 1])
        await writer.drain()
        if index + 1 < len(data):
            await asyncio.sleep(interval_s)


async def send(writer: asyncio.StreamWriter, data: bytes, shape: Shape | None, *, prefix: bytes = b"",
               suffix: bytes = b"") -> None:
    """Write one reply: at once, dripped, or with ``data`` padded (``prefix``/``suffix`` are framing)."""
    if shape is None:
        writer.write(prefix + data + suffix)
        await writer.drain()
    elif shape.kind == "drip":
        await drip(writer, prefix + data + suffix, shape.drip_interval_s)
    else:
        _total, pieces = huge_parts(data, shape.huge_bytes)
        await write_pieces(writer, _chain(prefix, pieces, suffix))


def _chain(prefix: bytes, pieces: Iterator[bytes], suffix: bytes) -> Iterator[bytes]:
    if prefix:
        yield prefix
    yield from pieces
    if suffix:
        yield suffix
