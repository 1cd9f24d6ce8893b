"""The miner side of Whatsminer API crypto, written independently of miners/ (the simulator imports nothing there).

md5-crypt follows the FreeBSD md5crypt.c structure (crypt_md5: "magic", the
alternate sum, the 1000-round loop, the to64 output); AES-256-ECB comes from
the PyCA ``cryptography`` package.

API 2 (MicroBT "Whatsminer API V2.0.5" 2.1): the firmware keeps md5crypt(admin
password, salt) and checks a request's token against md5crypt(that + time,
newsalt) of a token it issued; the AES key is sha256 of the first hash.
API 3 (apidoc.whatsminer.com "Token Generation"): token = base64(sha256(cmd +
password + salt + ts))[:8]; the pools param is AES-256-ECB under that digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_ITOA64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def md5crypt_body(password: str, salt: str) -> str:
    """The 22-character hash part of crypt(password, "$1$" + salt) (salt cut at 8 characters)."""
    pw = password.encode("utf-8")
    sl = salt.encode("utf-8")[:8]
    magic = b"$1$"
    alt = hashlib.md5(pw + sl + pw).digest()
    ctx = hashlib.md5()
    ctx.update(pw)
    ctx.update(magic)
    ctx.update(sl)
    pl = len(pw)
    while pl > 0:
        ctx.update(alt[:16 if pl > 16 else pl])
        pl -= 16
    i = len(pw)
    while i:
        ctx.update(b"\0" if i & 1 else pw[0:1])
        i >>= 1
    digest = ctx.digest()
    for n in range(1000):
        c = hashlib.md5()
        c.update(pw if n & 1 else digest)
        if n % 3:
            c.update(sl)
        if n % 7:
            c.update(pw)
        c.update(digest if n & 1 else pw)
        digest = c.digest()
    out = bytearray()

    def to64(v: int, n: int) -> None:
        for _ in range(n):
            out.append(_ITOA64[v & 0x3F])
            v >>= 6

    d = digest
    to64((d[0] << 16) | (d[6] << 8) | d[12], 4)
    to64((d[1] << 16) | (d[7] << 8) | d[13], 4)
    to64((d[2] << 16) | (d[8] << 8) | d[14], 4)
    to64((d[3] << 16) | (d[9] << 8) | d[15], 4)
    to64((d[4] << 16) | (d[10] << 8) | d[5], 4)
    to64(d[11], 2)
    return out.decode("ascii")


def _cipher(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.ECB())


def aes_key(key_md5: str) -> bytes:
    """API 2 AES-256 key: sha256 of the md5crypt hash text."""
    return hashlib.sha256(key_md5.encode()).digest()


def decrypt_b64(key: bytes, text: str) -> bytes:
    """base64 -> AES-256-ECB decrypt (no unpadding). ValueError on bad base64 or length."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("base64 decode error") from None
    if not raw or len(raw) % 16:
        raise ValueError("base64 decode error")
    d = _cipher(key).decryptor()
    return d.update(raw) + d.finalize()


def encrypt_b64(key: bytes, plain: bytes) -> str:
    """NUL-pad to 16, AES-256-ECB, base64 (how btminer encrypts its API 2 replies)."""
    if len(plain) % 16:
        plain += b"\0" * (16 - len(plain) % 16)
    e = _cipher(key).encryptor()
    return base64.b64encode(e.update(plain) + e.finalize()).decode("ascii")


def decrypt_json(key: bytes, text: str) -> Any:
    """Decrypt an API 2 request/API 3 param and parse it; strips NUL or PKCS#7 padding. ValueError if not JSON."""
    plain = decrypt_b64(key, text)
    last = plain[-1]
    if 1 <= last <= 16 and plain.endswith(bytes([last]) * last):
        plain = plain[:-last]  # PKCS#7 (API 3 document, ya-whatsminer-cli)
    plain = plain.rstrip(b"\0")  # NUL padding (API 2 clients, asic-rs for API 3)
    try:
        return json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("enc json load err") from None


def v3_digest(cmd: str, password: str, salt: str, ts: Any) -> bytes:
    """sha256(cmd + password + salt + ts), the API 3 token source and param key."""
    return hashlib.sha256(f"{cmd}{password}{salt}{ts}".encode()).digest()


def v3_token_of(digest: bytes) -> str:
    """The first eight base64 characters of the digest."""
    return base64.b64encode(digest).decode("ascii")[:8]
