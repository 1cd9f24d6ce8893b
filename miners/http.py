"""Small HTTP helper for the HTTP drivers: one overall deadline and miner errors instead of requests' own."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool

from .base import MinerProtocolError, MinerUnreachable

MAX_BODY_BYTES = 2 * 1024 * 1024  # /api/system/info is ~3 kB; anything huge is not a miner


@dataclass(slots=True)
class HttpReply:
    """Status, headers and the complete body of one HTTP exchange."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; MinerProtocolError if it is not."""
        try:
            return json.loads(self.text)
        except ValueError:
            raise MinerProtocolError(f"reply is not JSON: {self.text[:60]!r}") from None


# --- one deadline for the whole exchange, status line and headers included ---------------------
# requests/urllib3 time out each socket read, not the exchange: a miner that drips its
# reply one byte a second answers every read in time and holds the caller for as long
# as its headers are (the "drip" fault of the simulator: 200 header bytes = 200 s). The
# sockets of our sessions shrink each read's timeout to what is left of the request's
# deadline, kept per thread while request() runs.
_deadline = threading.local()


class _DeadlineSocket(socket.socket):
    """A socket whose reads never wait past the deadline of the request running in this thread."""

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:  # type: ignore[override]
        deadline = getattr(_deadline, "at", None)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("reply not finished before the deadline")
            self.settimeout(left)
        return super().recv_into(buffer, nbytes, flags)


class _DeadlineConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        timeout = sock.gettimeout()
        wrapped = _DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        wrapped.settimeout(timeout)
        return wrapped


class _DeadlinePool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _DeadlineConnection


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """Plain-HTTP adapter whose connections honour request()'s overall deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # A copy: urllib3's default mapping is shared by every PoolManager in the process.
        self.poolmanager.pool_classes_by_scheme = {**self.poolmanager.pool_classes_by_scheme, "http": _DeadlinePool}


def _with_deadline_adapter(session: requests.Session) -> None:
    """Mount the deadline adapter for http:// once per session (drivers with a Session of their own too)."""
    if not isinstance(session.adapters.get("http://"), _DeadlineAdapter):
        session.mount("http://", _DeadlineAdapter())


def new_session() -> requests.Session:
    """A Session for talking to miners on the LAN.

    trust_env is off: miner traffic must never be routed through an HTTP(S)_PROXY
    from the environment, and skipping requests' per-request scan of the
    environment (proxies, netrc, CA bundle) saves about a quarter of the CPU of
    a Bitaxe poll, which matters on a Pi polling hundreds of miners.
    """
    session = requests.Session()
    session.trust_env = False
    _with_deadline_adapter(session)
    return session


def request(session: requests.Session, method: str, url: str, *, timeout: float,
            json_body: Any = None, data: bytes | None = None, allow_redirects: bool = False,
            headers: dict[str, str] | None = None, cache: bool = True) -> HttpReply:
    """One request with connect/read timeouts and an overall deadline for the whole body.

    Timeouts, refused and reset connections raise MinerUnreachable; the status
    code is returned as is (the caller knows what a 401 means for its firmware).
    A body over MAX_BODY_BYTES raises MinerProtocolError as soon as it is seen.
    """
    deadline = time.monotonic() + timeout
    _with_deadline_adapter(session)
    _deadline.at = deadline
    try:
        return _request(session, method, url, timeout, deadline, json_body, data, allow_redirects, headers, cache)
    finally:
        _deadline.at = None


def _request(session: requests.Session, method: str, url: str, timeout: float, deadline: float, json_body: Any,
             data: bytes | None, allow_redirects: bool, headers: dict[str, str] | None, cache: bool) -> HttpReply:
    try:
        prepared = (_prepared(session, method, url, json_body, headers) if cache and data is None else
                    session.prepare_request(requests.Request(method, url, json=json_body, data=data,
                                                             headers=headers)))
        response = session.send(prepared, timeout=(timeout, timeout), stream=True, allow_redirects=allow_redirects)
        try:
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > MAX_BODY_BYTES:  # refuse before reading a byte of it
                raise MinerProtocolError(f"{url}: reply of {int(announced)} bytes is larger than {MAX_BODY_BYTES}")
            chunks, size = [], 0
            try:
                for chunk in _chunks(response):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise MinerProtocolError(f"{url}: reply larger than {MAX_BODY_BYTES} bytes")
                    if time.monotonic() > deadline:  # a peer that trickles bytes must not hold us
                        raise MinerUnreachable(f"{url}: reply not finished within {timeout:g} s")
            except (urllib3.exceptions.ReadTimeoutError, TimeoutError):  # the socket's read hit the deadline
                raise MinerUnreachable(f"{url}: reply not finished within {timeout:g} s") from None
            return HttpReply(response.status_code, b"".join(chunks), dict(response.headers))
        finally:
            response.close()
    except requests.exceptions.ConnectTimeout:
        raise MinerUnreachable(f"{url}: no answer to connect within {timeout:g} s") from None
    except requests.exceptions.Timeout:
        raise MinerUnreachable(f"{url}: no reply within {timeout:g} s") from None
    except requests.exceptions.ConnectionError as exc:
        raise MinerUnreachable(f"{url}: {_reason(exc)}") from None
    except requests.exceptions.RequestException as exc:
        raise MinerProtocolError(f"{url}: {exc}") from None
    # Raised by raw.read1() while the body streams in (requests wraps these only in iter_content).
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        raise MinerUnreachable(f"{url}: no reply within {timeout:g} s") from None
    except (urllib3.exceptions.ProtocolError, ConnectionError) as exc:
        raise MinerUnreachable(f"{url}: {_reason(exc)}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise MinerProtocolError(f"{url}: {exc}") from None


def _prepared(session: requests.Session, method: str, url: str, json_body: Any,
              headers: dict[str, str] | None) -> requests.PreparedRequest:
    """The request, prepared once per session for body-less calls (the poll's GET).

    Preparing (merging session headers, encoding the URL) is a quarter of the
    CPU of a Bitaxe poll in requests; a poll repeats the same GET every round.
    """
    if json_body is not None or headers:
        return session.prepare_request(requests.Request(method, url, json=json_body, headers=headers))
    cache = session.__dict__.setdefault("_prepared_cache", {})
    prepared = cache.get((method, url))
    if prepared is None:
        prepared = cache[(method, url)] = session.prepare_request(requests.Request(method, url))
    return prepared.copy()


def _chunks(response: requests.Response):
    """Body pieces as they arrive. iter_content(n) waits until n bytes are in (urllib3
    fills the whole amount), which would let a trickling peer outlast the deadline;
    read1() returns whatever one socket read gave."""
    raw = response.raw
    if hasattr(raw, "read1"):  # urllib3 >= 2
        while True:
            chunk = raw.read1(8192, decode_content=True)
            if not chunk:
                return
            yield chunk
    else:  # urllib3 1.26: small reads keep the deadline check close
        yield from response.iter_content(256)


def _reason(exc: Exception) -> str:
    text = str(exc)
    for phrase in ("Connection refused", "Connection reset", "timed out", "No route to host",
                   "Network is unreachable", "Remote end closed connection"):
        if phrase.lower() in text.lower():
            return phrase.lower()
    return "connection failed"
