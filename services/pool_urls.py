"""Stratum pool URLs: what a pool set may hold, and the comparison a read-back uses.

Stratum V1: ``stratum+tcp://host:port`` (plain), ``stratum+ssl://`` or ``stratum+tls://``
(TLS; cgminer-derived firmwares and AxeOS with TLS spell it either way). Stratum V2:
``stratum2+tcp://host:port/<pool authority public key>``, as the SRI specification
defines it (github.com/stratum-mining/sv2-spec, 04-Protocol-Security.md, section 4.7
"URL Scheme and Pool Authority Key"): the key is base58-check encoded, a 2-byte
little-endian version prefix ``[1, 0]`` followed by the 32-byte x-only secp256k1 key
(spec test vector: ``9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh``). Braiins
Pool publishes its V2 endpoint with the older Braiins key form, base58-check of 32
bytes without the prefix (``u95GEReVMjK6k5YqiSFNqqTnKU4ypU2Wm8awa6tmbmDmk1bWt``, on
port 3336); BOS+ accepts both, so both pass here. The host is a name, an IPv4 address
or a bracketed IPv6 address, the port 1-65535.

Host and port are checked by ``miners/stratum.py parse_stratum_url`` (the same rule
every driver applies before it writes a pool); IPv6 literals, which it does not take,
and the base58-check of the V2 key are checked here.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from miners.stratum import parse_stratum_url

SV1_SCHEMES = ("stratum+tcp", "stratum+ssl", "stratum+tls")
SV2_SCHEME = "stratum2+tcp"
SCHEMES = (*SV1_SCHEMES, SV2_SCHEME)
MAX_URL = 256

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {ch: i for i, ch in enumerate(_B58)}
_SRI_KEY_VERSION = b"\x01\x00"  # SRI spec 4.7: LE u16 version prefix, currently [1, 0]
_SECP256K1_P = 2**256 - 2**32 - 977


@dataclass(frozen=True)
class PoolUrl:
    """A checked pool URL: scheme (lower case), host, port and, for Stratum V2, the authority key."""

    scheme: str
    host: str
    port: int
    key: str | None = None


def _b58decode(text: str) -> bytes:
    number = 0
    for ch in text:
        if ch not in _B58_INDEX:
            raise ValueError(f"{ch!r} is not a base58 character")
        number = number * 58 + _B58_INDEX[ch]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def _on_secp256k1(x: bytes) -> bool:
    """True if ``x`` is the x coordinate of a secp256k1 point (x^3 + 7 is a square mod p)."""
    value = int.from_bytes(x, "big")
    if value >= _SECP256K1_P:
        return False
    rhs = (pow(value, 3, _SECP256K1_P) + 7) % _SECP256K1_P
    return rhs == 0 or pow(rhs, (_SECP256K1_P - 1) // 2, _SECP256K1_P) == 1


def check_authority_key(key: str) -> None:
    """Raise ValueError unless ``key`` is a base58-check Stratum V2 pool authority key (SRI or Braiins form)."""
    if not key:
        raise ValueError(f"a {SV2_SCHEME} URL ends with the pool's authority public key: "
                         f"{SV2_SCHEME}://host:port/<key>")
    if len(key) > 80:
        raise ValueError("the Stratum V2 authority key is too long for a base58-check public key")
    try:
        raw = _b58decode(key)
    except ValueError as exc:
        raise ValueError(f"the Stratum V2 authority key is not base58: {exc}") from None
    payload, checksum = raw[:-4], raw[-4:]
    if len(raw) < 5 or hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        raise ValueError("the Stratum V2 authority key fails its base58-check checksum (a typo?)")
    if len(payload) == 34 and payload[:2] == _SRI_KEY_VERSION:
        if not _on_secp256k1(payload[2:]):
            raise ValueError("the Stratum V2 authority key is not a secp256k1 public key")
        return
    if len(payload) == 32:  # Braiins Pool's published key (base58-check of 32 bytes, no version prefix)
        return
    raise ValueError(f"the Stratum V2 authority key holds {len(payload)} bytes: expected the version prefix "
                     f"[1, 0] and a 32-byte key (SRI spec 4.7)")


def check_url(url: object) -> PoolUrl:
    """A Stratum V1 or V2 pool URL checked and split; ValueError with the reason otherwise."""
    if not isinstance(url, str):
        raise ValueError("must be a string like stratum+tcp://host:port")
    text = url.strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > MAX_URL:
        raise ValueError(f"is too long ({len(text)} characters; at most {MAX_URL})")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in text):
        raise ValueError("must not contain spaces or control characters")
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise ValueError("must start with stratum+tcp://, stratum+ssl://, stratum+tls:// or stratum2+tcp:// "
                         f"(got {text[:60]!r})")
    key = None
    if scheme == SV2_SCHEME:
        rest, _, key = rest.partition("/")
        check_authority_key(key)
    elif "/" in rest:
        raise ValueError(f"a Stratum V1 URL has no path: {scheme}://host:port")
    if "@" in rest:
        raise ValueError("must not carry a login (user and password are separate fields)")
    if rest.startswith("["):  # IPv6 literal: [2001:db8::1]:3333
        literal, _, after = rest[1:].partition("]")
        try:
            host = str(ipaddress.IPv6Address(literal))
        except ValueError:
            raise ValueError(f"{literal[:60]!r} is not an IPv6 address") from None
        sep, port_text = after[:1], after[1:]
        if sep != ":" or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"needs a port from 1 to 65535: {scheme}://[{host}]:port")
        return PoolUrl(scheme, host, int(port_text), key)
    if rest.count(":") > 1:
        raise ValueError("an IPv6 address goes in brackets: [2001:db8::1]:3333")
    # The drivers' own rule for host and port (one message style for the same mistake).
    host, port = parse_stratum_url(f"{scheme}://{rest}" + (f"/{key}" if key else ""), (scheme,))
    return PoolUrl(scheme, host.lower(), port, key)


def same_pool(wanted: str, shown: str) -> bool:
    """True if a miner showing ``shown`` is on the pool ``wanted`` (scheme, host and port; the V2 key if shown).

    Firmwares rebuild the URL they show: AxeOS from host, port and a TLS flag; BOS+ shows
    a V2 pool without its key (``stratum2+tcp://v2.stratum.braiins.com:3336``). A URL a
    miner shows without a scheme is compared by host and port.
    """
    want = check_url(wanted)
    text = (shown or "").strip()
    if "://" not in text:
        text = f"{want.scheme}://{text}"
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    key = None
    if scheme == SV2_SCHEME:
        rest, _, key = rest.partition("/")
    tls = {"stratum+ssl", "stratum+tls"}
    if scheme != want.scheme and not (scheme in tls and want.scheme in tls):
        return False
    try:
        got = check_url(f"{want.scheme}://{rest}") if want.scheme != SV2_SCHEME else None
    except ValueError:
        return False
    if got is None:  # V2: compare host:port without re-checking a key the miner may not show
        host, _, port = rest.rpartition(":")
        host = host.strip("[]").lower()
        if want.host.lower() != host or str(want.port) != port:
            return False
        return not key or key == want.key
    return (got.host.lower(), got.port) == (want.host.lower(), want.port)
