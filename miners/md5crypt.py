"""md5-crypt ("$1$", Poul-Henning Kamp's FreeBSD scheme) built on hashlib.md5.

Whatsminer API 2.x derives its AES key and its command token from md5-crypt
hashes (MicroBT "Whatsminer API V2.0.5", section 2.1: ``key = openssl passwd -1
-salt $salt $password``). The stdlib ``crypt`` module is deprecated (gone in
Python 3.13) and passlib is unmaintained, so the construction lives here. It is
a hash construction, not a cipher; tests check it against ``openssl passwd -1``.
"""

from __future__ import annotations

import hashlib

MAGIC = b"$1$"
_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Byte triples of the final digest in the order the scheme encodes them (the last byte alone).
_TRIPLES = ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5))


def _to64(value: int, count: int) -> str:
    out = []
    for _ in range(count):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return "".join(out)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def md5_crypt(password: str | bytes, salt: str | bytes) -> str:
    """The full "$1$<salt>$<hash>" string, as ``openssl passwd -1 -salt <salt> <password>`` prints it.

    The salt is cut at the first "$" and to 8 characters, like glibc's crypt().
    """
    pw = _as_bytes(password)
    raw_salt = _as_bytes(salt)
    if raw_salt.startswith(MAGIC):
        raw_salt = raw_salt[len(MAGIC):]
    salt_b = raw_salt.split(b"$", 1)[0][:8]

    alternate = hashlib.md5(pw + salt_b + pw).digest()
    ctx = hashlib.md5(pw + MAGIC + salt_b)
    for left in range(len(pw), 0, -16):
        ctx.update(alternate[:min(16, left)])
    length = len(pw)
    while length:
        # The scheme's odd rule: a NUL for a set bit, the first password byte for a clear one.
        ctx.update(b"\x00" if length & 1 else pw[:1])
        length >>= 1
    final = ctx.digest()

    for i in range(1000):  # the 1000 rounds meant to slow down brute force
        round_ctx = hashlib.md5(pw if i & 1 else final)
        if i % 3:
            round_ctx.update(salt_b)
        if i % 7:
            round_ctx.update(pw)
        round_ctx.update(final if i & 1 else pw)
        final = round_ctx.digest()

    encoded = "".join(_to64((final[a] << 16) | (final[b] << 8) | final[c], 4) for a, b, c in _TRIPLES)
    encoded += _to64(final[11], 2)
    return f"$1${salt_b.decode('ascii', 'replace')}${encoded}"


def md5_crypt_hash(password: str | bytes, salt: str | bytes) -> str:
    """Only the 22-character hash part of md5_crypt() (the text after the third "$")."""
    return md5_crypt(password, salt).split("$", 3)[3]
