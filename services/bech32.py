"""Bech32 (BIP-173) and Bech32m (BIP-350) checksums and segwit address decoding.

Written from the two BIPs' specifications (the checksum's generator, the constant 1
for Bech32 and 0x2bc830a3 for Bech32m, and the segwit rules: witness version 0 must
use Bech32 with a 20- or 32-byte program, versions 1-16 must use Bech32m with 2-40
bytes). Why not a package: `bech32` 1.2.0 on PyPI predates BIP-350 (no Bech32m, so no
Taproot addresses), `bech32m` 1.0.0 imports ``collections.abc.ByteString`` (deprecated
in Python 3.12, gone in 3.14; the tests turn warnings into errors) and `embit` is an
sdist carrying prebuilt libsecp256k1 binaries for two functions.
Test vectors: tests/test_wallets.py, from both BIPs' "Test vectors" sections.
"""

from __future__ import annotations

from dataclasses import dataclass

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
BECH32 = "bech32"
BECH32M = "bech32m"
_CONSTANTS = {1: BECH32, 0x2BC830A3: BECH32M}
MAX_LENGTH = 90  # BIP-173: a Bech32 string is at most 90 characters


class Bech32Error(ValueError):
    """A string that is not valid Bech32/Bech32m, or not a valid segwit address; says why."""


@dataclass(frozen=True)
class SegwitAddress:
    """A decoded segwit address."""

    hrp: str
    version: int
    program: bytes
    encoding: str  # BECH32 or BECH32M


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def decode(text: str) -> tuple[str, list[int], str]:
    """(hrp, data values without the checksum, BECH32 or BECH32M); raises Bech32Error."""
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise Bech32Error("character out of range")
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixed case")
    if len(text) > MAX_LENGTH:
        raise Bech32Error(f"longer than {MAX_LENGTH} characters")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1:
        raise Bech32Error("no separator or empty human-readable part")
    if pos + 7 > len(text):
        raise Bech32Error("checksum too short")
    hrp, rest = text[:pos], text[pos + 1:]
    if any(c not in CHARSET for c in rest):
        raise Bech32Error("invalid data character")
    data = [CHARSET.index(c) for c in rest]
    encoding = _CONSTANTS.get(_polymod(_hrp_expand(hrp) + data))
    if encoding is None:
        raise Bech32Error("checksum does not match")
    return hrp, data[:-6], encoding


def _convert_bits(data: list[int], from_bits: int, to_bits: int) -> bytes:
    """5-bit groups to bytes without padding; raises Bech32Error on bad padding (BIP-173)."""
    acc = bits = 0
    out = bytearray()
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & ((1 << to_bits) - 1))
    if bits >= from_bits:
        raise Bech32Error("more than 4 padding bits")
    if (acc << (to_bits - bits)) & ((1 << to_bits) - 1):
        raise Bech32Error("non-zero padding")
    return bytes(out)


BITCOIN_HRPS = ("bc", "tb", "bcrt")  # mainnet, testnet/signet, regtest


def decode_segwit(text: str, hrps: tuple[str, ...] = BITCOIN_HRPS) -> SegwitAddress:
    """A segwit address with its witness version and program; raises Bech32Error saying what is wrong."""
    hrp, data, encoding = decode(text)
    if hrp not in hrps:
        raise Bech32Error(f"human-readable part {hrp!r} is not one of {', '.join(hrps)}")
    if not data:
        raise Bech32Error("empty data")
    version = data[0]
    if version > 16:
        raise Bech32Error(f"invalid witness version {version}")
    program = _convert_bits(data[1:], 5, 8)
    if not 2 <= len(program) <= 40:
        raise Bech32Error(f"invalid program length {len(program)}")
    if version == 0 and len(program) not in (20, 32):
        raise Bech32Error(f"witness v0 program must be 20 or 32 bytes, got {len(program)}")
    # BIP-350: v0 keeps Bech32, every later version uses Bech32m (a v1 address in Bech32 is refused,
    # which is what stops old software from burning coins sent to Taproot addresses).
    wanted = BECH32 if version == 0 else BECH32M
    if encoding != wanted:
        raise Bech32Error(f"witness v{version} must use {wanted}, not {encoding}")
    return SegwitAddress(hrp, version, program, encoding)
