"""Small HTTP helper for the HTTP drivers: one overall deadline and miner errors instead of requests' own."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

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


def new_session() -> requests.Session:
    """A Session for talking to miners on the LAN.

    trust_env is off: miner traffic must never be routed through an HTTP(S)_PROXY
    from the environment, and skipping requests' per-request scan of the
    environment (proxies, netrc, CA bundle) saves about a quarter of the CPU of
    a Bitaxe poll, which matters on a Pi polling hundreds of miners.
    """
    session = requests.Session()
    session.trust_env = False
    return session


def request(session: requests.Session, method: str, url: str, *, timeout: float,
            json_body: Any = None, data: bytes | None = None, allow_redirects: bool = False,
            headers: dict[str, str] | None = None, cache: bool = True) -> HttpReply:
    """One request with connect/read timeouts and an overall deadline for the whole body.

    Timeouts, refused and reset connections raise MinerUnreachable; the status
    code is returned as is (the caller knows what a 401 means for its firmware).
    """
    deadline = time.monotonic() + timeout
    try:
        prepared = (_prepared(session, method, url, json_body, headers) if cache and data is None else
                    session.prepare_request(requests.Request(method, url, json=json_body, data=data,
                                                             headers=headers)))
        response = session.send(prepared, timeout=(timeout, timeout), stream=True, allow_redirects=allow_redirects)
        try:
            chunks, size = [], 0
            for chunk in _chunks(response):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise MinerProtocolError(f"{url}: reply larger than {MAX_BODY_BYTES} bytes")
                if time.monotonic() > deadline:  # a peer that trickles bytes must not hold us
                    raise MinerUnreachable(f"{url}: reply not finished within {timeout:g} s")
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
