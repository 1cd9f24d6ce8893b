"""Whatsminer crypto: md5-crypt against openssl, AES-256-ECB against FIPS-197, and a real recorded API 2 write.

The md5-crypt vectors below were computed with ``openssl passwd -1 -salt <salt> <pw>``
(OpenSSL 3 on this machine) and are re-checked live when openssl is installed.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess

import pytest

from miners.md5crypt import md5_crypt, md5_crypt_hash
from miners.whatsminer_crypto import (
    Api2Token,
    DecryptError,
    aes_ecb_decrypt,
    aes_ecb_encrypt,
    api2_decrypt_reply,
    api2_encrypt_command,
    api2_token,
    v3_encrypt_param,
    v3_token,
    zero_pad,
)

MD5_CRYPT_VECTORS = [  # (password, salt, openssl passwd -1 output)
    ("admin", "BQ5hoXV9", "$1$BQ5hoXV9$RxmaDUO33TS7O26yeMHZ81"),  # the factory admin key the firmware carries
    ("", "BQ5hoXV9", "$1$BQ5hoXV9$CYfwenQM4xmKGmSJJ/al11"),
    ("CYfwenQM4xmKGmSJJ/al116915", "a5TtWui2", "$1$a5TtWui2$HBpxGaNhJaVdyPG3ntIMr."),
    ("a", "saltsalt", "$1$saltsalt$MzDjbImyzEz2m0NTiPzNW/"),
    ("password1234567890ABCDEFGHIJKL", "abc", "$1$abc$n9KNL6.p82wIiLe8bdRvj/"),  # > 16 bytes
    ("pässwörd", "x", "$1$x$JCGkBY00FL7KZ2Wf1VmLX."),  # UTF-8
    ("x" * 70, "12345678", "$1$12345678$8TG68lnWZTovjM6h8HQGX1"),
]

# foreman-apps WhatsminerStatsITest.java @ 8f99ba0ebe, case "Whatsminer M31S (sleeping)": a real
# get_token reply, the encrypted `status` request the Java client sent (password "") and the
# miner's encrypted reply. Our implementation must reproduce the request byte for byte.
FOREMAN_TOKEN = {"time": "6915", "salt": "BQ5hoXV9", "newsalt": "a5TtWui2"}
FOREMAN_REQUEST = (b'{"enc":1,"data":"3HjZpFnhS5g7OS3RRLzgaMipdasSiL3vVkn9nuJfQANZx8ucVffVFrwa0QxM8GxeZnz4wRGOw'
                   b'v9EXSwX+shB4w=="}')
FOREMAN_REPLY_ENC = ("e+iVEHt3XaqHeCA8EK8LNJYHagIBVlZBKWRLDLZ129gdwfRg5OKIwYRqIf7tATRDtBTFC21dQ1R1MaV8rA3QAirirR/h2mk8"
                     "tmq9/fd+/kZooJBpUfNkKk3C/AcNe7b/ChH9cP3Z6gHu23+PYM1Uksdwhchdpb4xLhmZjyEzTaqpPcn3RoQepra8PL9bwOjL")


@pytest.mark.parametrize("password, salt, expected", MD5_CRYPT_VECTORS)
def test_md5_crypt_matches_openssl(password, salt, expected):
    assert md5_crypt(password, salt) == expected
    assert md5_crypt_hash(password, salt) == expected.split("$")[3]
    assert md5_crypt(password.encode(), "$1$" + salt + "$ignored") == expected  # "$1$salt$" form accepted


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
@pytest.mark.parametrize("password, salt", [("admin", "s4LtY"), ("Hunter2!", "QbVy1Ou3"), ("", "a"), ("€uro", "zz")])
def test_md5_crypt_against_live_openssl(password, salt):
    out = subprocess.run(["openssl", "passwd", "-1", "-salt", salt, password], capture_output=True, text=True,
                         timeout=10, check=True).stdout.strip()
    assert md5_crypt(password, salt) == out


def test_salt_is_cut_to_eight_characters():
    assert md5_crypt("admin", "123456789") == md5_crypt("admin", "12345678")


def test_aes_256_ecb_fips197_vector():
    # FIPS-197 appendix C.3 (AES-256): the known-answer test for the cipher we get from `cryptography`.
    key = bytes(range(32))
    plain = bytes.fromhex("00112233445566778899aabbccddeeff")
    cipher = aes_ecb_encrypt(key, plain)
    assert cipher.hex() == "8ea2b7ca516745bfeafc49904b496089"
    assert aes_ecb_decrypt(key, cipher) == plain


def test_zero_pad_and_block_check():
    assert zero_pad(b"") == b"" and zero_pad(b"a") == b"a" + b"\x00" * 15 and zero_pad(b"x" * 16) == b"x" * 16
    with pytest.raises(DecryptError):
        aes_ecb_decrypt(bytes(32), b"short")


def test_real_api2_exchange_round_trip():
    token = api2_token("", FOREMAN_TOKEN["salt"], FOREMAN_TOKEN["time"], FOREMAN_TOKEN["newsalt"])
    assert token.sign == "HBpxGaNhJaVdyPG3ntIMr."
    assert token.aes_key == hashlib.sha256(b"CYfwenQM4xmKGmSJJ/al11").digest()
    assert api2_encrypt_command(token, {"cmd": "status"}) == FOREMAN_REQUEST
    reply = api2_decrypt_reply(token, FOREMAN_REPLY_ENC)
    assert reply["Code"] == 131 and reply["Msg"]["btmineroff"] == "true"
    assert reply["Msg"]["Firmware Version"] == "'20210109.22.REL'"


def test_wrong_password_does_not_decrypt():
    wrong = api2_token("admin", FOREMAN_TOKEN["salt"], FOREMAN_TOKEN["time"], FOREMAN_TOKEN["newsalt"])
    with pytest.raises(DecryptError):
        api2_decrypt_reply(wrong, FOREMAN_REPLY_ENC)
    with pytest.raises(DecryptError):
        api2_decrypt_reply(wrong, "not base64 !!")


def test_token_repr_hides_secrets():
    token = api2_token("s3cret-pw", "salt1234", "1234", "newsalt1")
    assert "s3cret" not in repr(token) and token.key not in repr(token) and token.sign not in repr(token)
    assert repr(Api2Token("k", "s")) == "Api2Token()"


def test_api3_token_and_encrypted_param_match_openssl():
    # sha256 / base64 / AES-256-ECB with PKCS#7 computed with openssl (dgst -sha256 -binary | base64;
    # enc -aes-256-ecb -K <digest>) for the vendor document's example salt and password.
    token, digest = v3_token("set.miner.pools", "abcdefg", "QbVy1Ou3", 1700000000)
    assert token == "8XdQZJdP" and len(digest) == 32
    param = [{"pool": "stratum+tcp://pool1.example.com:3333", "worker": "w1", "passwd": "x"}]
    assert v3_encrypt_param(digest, param) == ("fGe6RFwdJfPq1tllSkqKqOYwXZ67RLlgtKOoVFwn9/gIjnO+tzNZJ4ZvxtLdJiilY6uo"
                                               "mGpmcqAkgR1ohCBOcc9T55OfXopBqHRqAw3HG2U=")
    plain = aes_ecb_decrypt(digest, base64.b64decode(v3_encrypt_param(digest, param)))
    assert plain.endswith(bytes([plain[-1]]) * plain[-1])  # PKCS#7 padding
