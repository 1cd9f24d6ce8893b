"""HTTP Digest authentication, server side (RFC 2617, MD5, qop=auth), as lighttpd's mod_auth on
Bitmain-stack web interfaces (stock Antminer, Vnish 3.x) answers it."""

from __future__ import annotations

import hashlib
import os
import time

from . import httpd


def md5(text: str) -> str:
    """Hex MD5 of a text (the digest's hash)."""
    return hashlib.md5(text.encode()).hexdigest()


def parse_fields(header: str) -> dict[str, str]:
    """The key=value list of a ``Digest ...`` Authorization header (keys lower-cased)."""
    fields: dict[str, str] = {}
    rest = header[len("Digest"):].strip()
    while rest:
        key, sep, rest = rest.partition("=")
        if not sep:
            break
        rest = rest.lstrip()
        if rest.startswith('"'):
            end = rest.find('"', 1)
            value, rest = (rest[1:end], rest[end + 1:]) if end > 0 else (rest[1:], "")
        else:
            value, _, rest = rest.partition(",")
        fields[key.strip().lower()] = value.strip()
        rest = rest.lstrip(", ")
    return fields


class DigestRealm:
    """One realm's nonces, its 401 challenge and the check of a request's Authorization header."""

    def __init__(self, realm: str, owner: str) -> None:
        self.realm = realm
        self._owner = owner  # mixed into nonces (the miner's address)
        self._nonces: list[str] = []

    def challenge(self) -> str:
        """A WWW-Authenticate value with a fresh nonce (the last 256 stay valid)."""
        nonce = md5(f"{time.time()}:{os.urandom(8).hex()}:{self._owner}")
        self._nonces = (self._nonces + [nonce])[-256:]
        return f'Digest realm="{self.realm}", charset="UTF-8", algorithm=MD5, nonce="{nonce}", qop="auth"'

    def authorized(self, request: httpd.Request, user: str, password: str, *, check_uri: bool = False) -> bool:
        """True if the request carries a valid digest for user/password and one of our nonces."""
        header = request.header("authorization")
        if not header or not header.startswith("Digest "):
            return False
        f = parse_fields(header)
        if f.get("username") != user or f.get("realm") != self.realm or f.get("nonce") not in self._nonces:
            return False
        if check_uri and f.get("uri") != request.target:  # lighttpd mod_auth: the digest must be for this request
            return False
        ha1 = md5(f"{user}:{self.realm}:{password}")
        ha2 = md5(f"{'HEAD' if request.head else request.method}:{f.get('uri', '')}")
        if f.get("qop"):
            expected = md5(f"{ha1}:{f['nonce']}:{f.get('nc', '')}:{f.get('cnonce', '')}:{f['qop']}:{ha2}")
        else:
            expected = md5(f"{ha1}:{f['nonce']}:{ha2}")
        return f.get("response") == expected
