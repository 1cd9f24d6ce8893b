"""Fault names and the socket-level behaviours behind them (hang, RST)."""

from __future__ import annotations

import asyncio
import socket
import struct

# None = normal. "hang": read the request, never answer, keep the socket open.
# "reset": accept, then close with RST (SO_LINGER 0). "malformed": answer with a
# known broken reply. "down": stop listening (connection refused) until cleared.
FAULTS: tuple[str | None, ...] = (None, "hang", "reset", "malformed", "down")

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
