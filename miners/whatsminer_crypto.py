"""Whatsminer write-command crypto: API 2.x token + AES-256-ECB envelope, API 3.x token + encrypted param.

AES comes from the maintained PyCA ``cryptography`` package (ARM wheels for
Raspberry Pi OS); md5-crypt from miners.md5crypt. Nothing here logs or reprs a
password, key or token.

API 2.x (MicroBT "Whatsminer API V2.0.5" section 2.1; pyasic rpc/btminer.py;
foreman-apps WhatsminerApi.java):
  get_token -> {"time", "salt", "newsalt"}
  key  = md5crypt(password, salt) hash part      (also the AES key seed)
  sign = md5crypt(key + time, newsalt) hash part (the "token" field)
  request = {"enc": 1, "data": base64(AES-256-ECB(sha256(key), json padded with NUL))}
  reply   = {"enc": base64(AES-256-ECB(...))}, NUL-padded JSON inside

API 3.x (apidoc.whatsminer.com "Token Generation"; iaon/ya-whatsminer-cli core.py):
  digest = sha256(cmd + password + salt + ts); token = base64(digest)[:8]
  set.miner.pools / set.user.change_passwd: param = base64(AES-256-ECB(digest, PKCS#7(json)))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

# cryptography is imported where it is used: its Rust core costs ~10 MB of resident
# memory, which a Pi polling only Bitaxes should not pay until a Whatsminer write.

from .json_repair import loads_lenient
from .md5crypt import md5_crypt_hash

_BLOCK = 16


class DecryptError(ValueError):
    """An encrypted reply or request that does not decrypt to JSON (wrong key or damaged)."""


@dataclass(frozen=True, slots=True)
class Api2Token:
    """The two secrets of one API 2.x get_token exchange; repr shows neither."""

    key: str = field(repr=False)  # md5crypt(password, salt) hash part, seed of the AES key
    sign: str = field(repr=False)  # md5crypt(key + time, newsalt) hash part, sent as "token"

    @property
    def aes_key(self) -> bytes:
        """AES-256 key: the raw sha256 digest of ``key``."""
        return hashlib.sha256(self.key.encode()).digest()


def api2_token(password: str, salt: str, time_text: str, newsalt: str) -> Api2Token:
    """Key and sign from a get_token reply (``Msg`` time/salt/newsalt) and the admin password."""
    key = md5_crypt_hash(password, salt)
    return Api2Token(key=key, sign=md5_crypt_hash(key + str(time_text), newsalt))


def _ecb(key: bytes):  # -> cryptography Cipher
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    # ECB is what the firmware speaks (both API generations); it is not our choice.
    return Cipher(algorithms.AES(key), modes.ECB())


def zero_pad(data: bytes) -> bytes:
    """Pad with NUL bytes to a multiple of 16 (none added when already aligned, as pyasic does)."""
    return data + b"\x00" * (-len(data) % _BLOCK)


def aes_ecb_encrypt(key: bytes, plain: bytes) -> bytes:
    """AES-256-ECB of an already block-aligned ``plain``."""
    encryptor = _ecb(key).encryptor()
    return encryptor.update(plain) + encryptor.finalize()


def aes_ecb_decrypt(key: bytes, cipher_text: bytes) -> bytes:
    """AES-256-ECB decryption; DecryptError when the length is not a whole number of blocks."""
    if not cipher_text or len(cipher_text) % _BLOCK:
        raise DecryptError(f"cipher text of {len(cipher_text)} bytes is not whole AES blocks")
    decryptor = _ecb(key).decryptor()
    return decryptor.update(cipher_text) + decryptor.finalize()


def api2_encrypt_command(token: Api2Token, command: dict[str, Any]) -> bytes:
    """The request bytes for one write: {"enc":1,"data":...} around the command plus its token."""
    body = dict(command)
    body["token"] = token.sign
    plain = json.dumps(body, separators=(",", ":")).encode()
    data = base64.b64encode(aes_ecb_encrypt(token.aes_key, zero_pad(plain))).decode("ascii")
    return json.dumps({"enc": 1, "data": data}, separators=(",", ":")).encode()


def api2_decrypt_reply(token: Api2Token, enc: str) -> Any:
    """Parse the JSON inside an {"enc": "<base64>"} reply (NUL padding stripped)."""
    try:
        raw = base64.b64decode(enc, validate=False)
    except (binascii.Error, ValueError):
        raise DecryptError("encrypted reply is not base64") from None
    plain = aes_ecb_decrypt(token.aes_key, raw).rstrip(b"\x00")
    try:
        return loads_lenient(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DecryptError("encrypted reply does not decrypt to JSON (wrong key)") from None


def v3_token(cmd: str, password: str, salt: str, ts: int) -> tuple[str, bytes]:
    """(token, digest): the first 8 base64 characters of sha256(cmd+password+salt+ts), and the digest."""
    digest = hashlib.sha256(f"{cmd}{password}{salt}{int(ts)}".encode()).digest()
    return base64.b64encode(digest).decode("ascii")[:8], digest


def v3_encrypt_param(digest: bytes, param: Any) -> str:
    """base64(AES-256-ECB(digest, PKCS#7(compact JSON of param))), for set.miner.pools.

    PKCS#7 as the vendor document's example and ya-whatsminer-cli use (asic-rs
    pads with NULs instead; a firmware that strips either accepts both).
    """
    from cryptography.hazmat.primitives import padding

    plain = json.dumps(param, separators=(",", ":"), ensure_ascii=False).encode()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    return base64.b64encode(aes_ecb_encrypt(digest, padded)).decode("ascii")
