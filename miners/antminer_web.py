"""HTTP client for the stock Antminer web CGI: digest auth (realm "antMiner Configuration"), deadlines, 401s.

lighttpd on every stock Antminer asks for HTTP Digest auth (qop=auth, MD5) on
every path; the factory login is root/root. requests' HTTPDigestAuth answers the
challenge and reuses the nonce on later requests from the same thread, so a
poll costs one round trip once the first challenge is answered.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from requests.auth import HTTPDigestAuth

from . import http
from .base import Credentials, MinerAuthError, MinerProtocolError

log = logging.getLogger(__name__)

API_PORT = 4028
WEB_PORT = 80
JSON_CONTENT = "text/plain;charset=UTF-8"  # what the stock X19 page sends with its JSON body (field notes)
FORM_CONTENT = "application/x-www-form-urlencoded; charset=UTF-8"  # the legacy jQuery $.ajax form post


def auth_error(username: str) -> MinerAuthError:
    """The one message for a refused login (never names the password)."""
    return MinerAuthError(f"the Antminer web interface refused the login for user {username or '(empty)'} "
                          "(HTTP digest 401); set the miner's credentials")


def web_port_for(api_port: int) -> int:
    """The web port that goes with an API port: both follow the same port offset (simulator, config)."""
    offset = api_port - API_PORT
    return WEB_PORT + offset if offset > 0 else WEB_PORT


class AntminerWeb:
    """One miner's /cgi-bin/*.cgi with digest auth; every call has its own deadline."""

    def __init__(self, host: str, port: int, credentials: Credentials, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.username = credentials.username
        self._session = http.new_session()
        self._session.auth = HTTPDigestAuth(credentials.username, credentials.password)

    def __repr__(self) -> str:
        return f"AntminerWeb({self.host}:{self.port}, user={self.username!r})"

    def close(self) -> None:
        """Drop pooled connections."""
        self._session.close()

    def url(self, path: str) -> str:
        """Absolute URL of a path on this miner."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}{path}" if self.port == 80 else f"http://{host}:{self.port}{path}"

    def get(self, path: str, *, timeout: float | None = None) -> http.HttpReply:
        """GET a CGI; raises MinerAuthError on 401, MinerProtocolError on other non-200 codes."""
        return self._checked("GET", path, None, None, timeout)

    def post(self, path: str, body: bytes, content_type: str, *, timeout: float | None = None) -> http.HttpReply:
        """POST a body to a CGI (same error rules as get)."""
        return self._checked("POST", path, body, content_type, timeout)

    def _checked(self, method: str, path: str, body: bytes | None, content_type: str | None,
                 timeout: float | None) -> http.HttpReply:
        reply = self._send(method, path, body, content_type, self.timeout if timeout is None else timeout)
        if reply.status == 401:
            raise auth_error(self.username)
        if reply.status != 200:
            raise MinerProtocolError(f"{path}: HTTP {reply.status}")
        return reply

    def _send(self, method: str, path: str, body: bytes | None, content_type: str | None,
              timeout: float) -> http.HttpReply:
        """One exchange through http.request, with a raw body (the legacy CGI takes an
        urlencoded form, the X19 CGI its JSON as text/plain). Never the cached prepared
        request: HTTPDigestAuth keeps per-thread state that a cached one would skip.
        """
        url = self.url(path)
        headers = {"Content-Type": content_type} if content_type else None
        log.debug("antminer web %s %s", method, url)  # never the body: it carries pool passwords
        return http.request(self._session, method, url, timeout=timeout, data=body, headers=headers, cache=False)


def json_of(reply: http.HttpReply, what: str) -> Any:
    """The reply body as JSON (leading blank lines allowed), MinerProtocolError otherwise."""
    text = reply.text.strip()
    try:
        return json.loads(text)
    except ValueError:
        raise MinerProtocolError(f"{what} is not JSON: {text[:60]!r}") from None
