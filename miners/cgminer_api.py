"""The one TCP client for the cgminer-style JSON API (port 4028): framing, deadline, errors, multi-command.

Wire rules (reference section 1): one request per connection; the JSON request
needs no terminator; the reply ends with one NUL byte (some forks omit it) and
the server closes the connection after it. Every call has an overall deadline,
so a peer that trickles bytes forever cannot hold the caller past ``timeout``,
and a size cap, so a peer that streams megabytes cannot fill the memory.

``CGMinerClient`` is what a driver holds: one miner's send/query with the learnt
``a+b`` support and the VERSION read once. ``reply_guard`` turns a parser's
TypeError/ValueError on a reply of the wrong shape into ``MinerProtocolError``.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .base import MinerAuthError, MinerError, MinerProtocolError, MinerUnreachable
from .json_repair import loads_lenient

log = logging.getLogger(__name__)

DEFAULT_PORT = 4028
# The largest real replies are ~30 kB (LuxOS healthchipget on a 3-board S19); 1 MiB is
# 30 times that and still parses in tens of ms on a Pi. Past it the miner is lying.
MAX_REPLY_BYTES = 1024 * 1024
_RECV_SIZE = 65536


# --- errors ------------------------------------------------------------------------
class APIError(MinerProtocolError):
    """The firmware answered with STATUS E or F; ``msg`` is the firmware's own words."""

    def __init__(self, command: str, code: int | None, msg: str, status: str = "E") -> None:
        self.command, self.code, self.msg, self.status = command, code, msg, status
        super().__init__(f"{command}: {msg or 'error'} (STATUS {status}, Code {code})")


class AccessDenied(APIError, MinerAuthError):
    """Code 45: the command is not in this client's ``--api-allow`` group (stock Antminer writes)."""


class EmptyReply(MinerProtocolError):
    """The miner closed the connection without a byte (Avalon Q after ``softon``, some restarts)."""


CODE_ACCESS_DENIED = 45


# --- one command ---------------------------------------------------------------------
def encode_request(command: str, parameter: str | None = None) -> bytes:
    """The JSON request bytes for one command (``parameter`` is one comma-joined string)."""
    body: dict[str, str] = {"command": command}
    if parameter is not None:
        body["parameter"] = parameter
    return json.dumps(body, separators=(",", ":")).encode()


def escape_parameter(value: str) -> str:
    """Escape ``\\`` and ``,`` inside one argument of a comma-joined cgminer parameter."""
    return value.replace("\\", "\\\\").replace(",", "\\,")


def exchange(host: str, port: int, request: bytes, *, timeout: float = 3.0,
             connect_timeout: float | None = None, read_timeout: float | None = None) -> bytes:
    """Send ``request`` on a fresh connection and return the raw reply (one trailing NUL removed).

    ``timeout`` is the overall deadline for connect + send + whole reply;
    ``connect_timeout`` and ``read_timeout`` (the longest silence between two
    chunks) default to it and are always capped by the time left.
    """
    deadline = time.monotonic() + timeout
    where = f"{host}:{port}"

    def left(cap: float | None) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MinerUnreachable(f"{where}: no complete reply within {timeout:g} s")
        return min(remaining, cap) if cap is not None else remaining

    try:
        sock = socket.create_connection((host, port), timeout=left(connect_timeout))
    except ConnectionRefusedError:
        raise MinerUnreachable(f"{where}: connection refused (API port closed)") from None
    except (socket.timeout, TimeoutError):
        raise MinerUnreachable(f"{where}: no answer to connect within {timeout:g} s") from None
    except OSError as exc:
        raise MinerUnreachable(f"{where}: {exc.strerror or exc}") from None

    chunks: list[bytes] = []
    size = 0
    try:
        with sock:
            sock.settimeout(left(read_timeout))
            sock.sendall(request)
            while True:
                sock.settimeout(left(read_timeout))
                chunk = sock.recv(_RECV_SIZE)
                if not chunk:
                    break  # the server closes after each reply
                nul = chunk.find(b"\x00")
                if nul >= 0:  # cgminer's terminator: the reply is complete
                    chunks.append(chunk[:nul])
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise MinerProtocolError(f"{where}: reply larger than {MAX_REPLY_BYTES // 1024} kB "
                                             "(real cgminer replies are under 50 kB); not read further")
    except (socket.timeout, TimeoutError):
        raise MinerUnreachable(f"{where}: reply not finished within {timeout:g} s") from None
    except ConnectionResetError:
        raise MinerUnreachable(f"{where}: connection reset by the miner") from None
    except OSError as exc:
        raise MinerUnreachable(f"{where}: {exc.strerror or exc}") from None
    return b"".join(chunks)


def parse_reply(raw: bytes, command: str = "") -> Any:
    """Decode and parse one reply (lenient JSON); MinerProtocolError when it is not JSON."""
    if not raw.strip():
        raise EmptyReply(f"{command or 'request'}: the miner closed the connection without a reply")
    text = raw.decode("utf-8", errors="replace")
    if text.endswith("\x00"):
        text = text[:-1]
    try:
        return loads_lenient(text)
    except ValueError:
        preview = text[:80].replace("\n", " ")
        raise MinerProtocolError(f"{command or 'request'}: reply is not JSON: {preview!r}") from None


def check_status(reply: Any, command: str) -> dict[str, Any]:
    """Return the reply dict, or raise APIError / AccessDenied for STATUS E or F."""
    if not isinstance(reply, dict):
        raise MinerProtocolError(f"{command}: reply is {type(reply).__name__}, not an object")
    status = reply.get("STATUS")
    if isinstance(status, list) and status and isinstance(status[0], dict):
        head = status[0]
        letter, code, msg = str(head.get("STATUS", "")), head.get("Code"), str(head.get("Msg", ""))
    elif isinstance(status, str):  # Whatsminer flat replies ({"STATUS":"E","Code":...,"Msg":...})
        letter, code, msg = status, reply.get("Code"), reply.get("Msg", "")
        msg = msg if isinstance(msg, str) else json.dumps(msg)
    else:
        return reply  # e.g. `restart` answers {"STATUS":"RESTART"}-style or with no STATUS at all
    if letter.upper() in ("E", "F"):
        try:
            code = int(code) if code is not None else None
        except (TypeError, ValueError, OverflowError):  # OverflowError: "Code": 1e999 (inf)
            code = None
        kind = AccessDenied if code == CODE_ACCESS_DENIED else APIError
        raise kind(command, code, msg, letter.upper())
    return reply


def send_command(host: str, port: int, command: str, parameter: str | None = None, *,
                 timeout: float = 3.0) -> dict[str, Any]:
    """Send one command and return the parsed reply dict.

    Raises MinerUnreachable (refused, reset, timeout, deadline), MinerProtocolError
    (not JSON, empty), APIError/AccessDenied (STATUS E/F with the firmware's Msg).
    The parameter is never logged: ``addpool`` carries a pool password in it.
    """
    log.debug("cgminer api %s:%s %s", host, port, command)
    raw = exchange(host, port, encode_request(command, parameter), timeout=timeout)
    return check_status(parse_reply(raw, command), command)


def query_raw(host: str, port: int, command: str, *, timeout: float = 3.0) -> tuple[str, Any]:
    """Send one read-only command; return (reply text, parsed JSON or None) without STATUS checks.

    For fingerprinting, which searches the raw text (an error reply still names
    its firmware in ``Description``).
    """
    raw = exchange(host, port, encode_request(command), timeout=timeout)
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = parse_reply(raw, command)
    except MinerProtocolError:
        parsed = None
    return text, parsed


# --- several commands ----------------------------------------------------------------
@dataclass(slots=True)
class CommandResults:
    """Replies of several report commands, and the commands the firmware refused."""

    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, APIError] = field(default_factory=dict)
    joined: bool = False  # True when one `a+b+c` request answered all of them


def split_multi_reply(reply: Any, commands: Sequence[str]) -> CommandResults | None:
    """Unwrap a ``summary+pools`` reply ({"summary":[{...}], ...}); None if it is not that shape."""
    if not isinstance(reply, dict):
        return None
    results = CommandResults(joined=True)
    for command in commands:
        wrapped = reply.get(command)
        if not (isinstance(wrapped, list) and len(wrapped) == 1 and isinstance(wrapped[0], dict)):
            return None
        try:
            results.replies[command] = check_status(wrapped[0], command)
        except APIError as exc:  # the firmware refused this one command inside the wrapper
            results.errors[command] = exc
    return results


def send_commands(host: str, port: int, commands: Sequence[str], *, timeout: float = 3.0,
                  allow_multi: bool = True) -> CommandResults:
    """Read several parameter-less report commands, joined with ``+`` when the firmware allows.

    Falls back to one command per connection when the joined request is refused
    or answered in another shape (pyasic: "doesn't work for S19"). ``timeout`` is
    the overall budget for all of it. MinerUnreachable is raised at once; a
    refused single command lands in ``errors``.
    """
    commands = list(dict.fromkeys(commands))  # cgminer collapses duplicates too
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise MinerUnreachable(f"{host}:{port}: no complete reply within {timeout:g} s")
        return left

    if allow_multi and len(commands) > 1:
        joined = "+".join(commands)
        try:
            raw = exchange(host, port, encode_request(joined), timeout=remaining())
            results = split_multi_reply(parse_reply(raw, joined), commands)
        except MinerUnreachable:
            raise
        except MinerProtocolError as exc:
            log.debug("%s:%s: multi-command refused (%s); one command per connection", host, port, exc)
            results = None
        if results is not None:
            return results
    results = CommandResults(joined=False)
    for command in commands:
        try:
            results.replies[command] = send_command(host, port, command, timeout=remaining())
        except APIError as exc:
            results.errors[command] = exc
    return results


# --- one miner's API ----------------------------------------------------------------------
class CGMinerClient:
    """One miner's cgminer API: ``send``, joined reads with the learnt ``a+b`` support, VERSION read once.

    Every 4028 driver holds one, so the multi-command learning, the version cache
    and the send/query calls are written once. ``host``, ``port`` and ``timeout``
    are the driver's; a ``timeout`` given to a call (the part of a poll's budget
    that is left) replaces the default for that call. Used by one thread at a
    time, like the driver that owns it.
    """

    def __init__(self, host: str, port: int, timeout: float = 3.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.multi_ok: bool | None = None  # learnt on the first joined read: does `a+b` work here?
        self.version: dict[str, Any] | None = None  # the VERSION reply, read once (forget_version() after a restart)

    def __repr__(self) -> str:
        return f"CGMinerClient({self.host}:{self.port}, multi={self.multi_ok})"

    def send(self, command: str, parameter: str | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        """One command (``parameter`` comma-joined) -> its reply dict; STATUS E/F raises APIError."""
        return send_command(self.host, self.port, command, parameter,
                            timeout=self.timeout if timeout is None else timeout)

    def query(self, commands: Sequence[str], *, timeout: float | None = None) -> CommandResults:
        """Several report commands, joined while the firmware has not refused a join; learns that on the first."""
        results = send_commands(self.host, self.port, commands, timeout=self.timeout if timeout is None else timeout,
                                allow_multi=self.multi_ok is not False)
        if self.multi_ok is None and len(commands) > 1:
            self.multi_ok = results.joined
        return results

    def read(self, commands: Sequence[str], *, extra: Sequence[str] = (),
             timeout: float | None = None) -> CommandResults:
        """``query`` of ``commands``, ``version`` until it has answered once, then ``extra``; VERSION in every result.

        ``extra`` are one-off commands the driver still has to learn (LuxOS
        ``profiles``), joined after ``version`` as the drivers always sent them. A
        refused ``version`` lands in ``errors`` and is asked again next time.
        """
        asked = list(commands)
        if self.version is None:
            asked.append("version")
        asked.extend(extra)
        results = self.query(asked, timeout=timeout)
        if "version" in results.replies:
            self.version = results.replies["version"]
        elif self.version is not None:
            results.replies["version"] = self.version
        return results

    def forget_version(self) -> None:
        """Read VERSION again on the next ``read`` (after a restart, reboot or firmware change)."""
        self.version = None


# --- replies of the wrong shape ------------------------------------------------------------
# What a parser raises when a reply has valid JSON but the wrong types ("MHS 5s": [1],
# "DEVS": {...}, "Code": 1e999): lying or broken firmware, not a bug to show as a 500.
SHAPE_ERRORS: tuple[type[Exception], ...] = (TypeError, ValueError, AttributeError, KeyError, IndexError,
                                             OverflowError, RecursionError)
_F = TypeVar("_F", bound=Callable[..., Any])


def reply_guard(method: _F) -> _F:
    """Decorate a driver's read method: a SHAPE_ERRORS exception from parsing becomes MinerProtocolError.

    Only for reads: a control method's ValueError is the user's bad input and must
    stay a ValueError. The traceback goes to the debug log for the parser's author.
    """
    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except MinerError:
            raise
        except SHAPE_ERRORS as exc:
            log.debug("%s: %s failed on a reply of unexpected shape", getattr(self, "host", "?"), method.__name__,
                      exc_info=True)
            raise MinerProtocolError(f"{method.__name__}: a reply had values of unexpected types "
                                     f"({type(exc).__name__})") from None
    return guarded  # type: ignore[return-value]
