"""Payout addresses: BIP-173/BIP-350 and Base58Check vectors, worker suffixes, grouping by wallet.

Vectors: BIP-173 "Test vectors" (github.com/bitcoin/bips bip-0173.mediawiki) and BIP-350 "Test
vectors" (bip-0350.mediawiki), copied as data; Base58Check: the Bitcoin wiki's "Technical background
of version 1 Bitcoin addresses" example (hash160 010966776006953d5567439e5e39f86a0d273bee ->
16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM), the genesis block's coinbase address and the wiki's P2SH example.
"""

from __future__ import annotations

from types import SimpleNamespace

import base58
import pytest

from miners.base import MinerStatus, PoolStatus
from services import bech32
from services.wallets import check_address, group_by_wallet, parse_pool_user

# --- BIP-173: valid Bech32 strings, and strings that are not Bech32 (with the BIP's reasons) ---------
BIP173_VALID = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]
BIP173_INVALID = [
    "\x201nwldj5",  # HRP character out of range
    "\x7f1axkwrx",  # HRP character out of range
    "\x801eym55h",  # HRP character out of range
    "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",  # too long
    "pzry9x0s0muk",  # no separator character
    "1pzry9x0s0muk",  # empty HRP
    "x1b4n0q5v",  # invalid data character
    "li1dgmt3",  # too short checksum
    "de1lg7wt\xff",  # invalid character in checksum
    "A1G7SGD8",  # checksum calculated with uppercase form of HRP
    "10a06t8",  # empty HRP
    "1qzzfhee",  # empty HRP
]
# --- BIP-350: valid Bech32m strings, and strings that are not Bech32m -------------------------------------
BIP350_VALID = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]
BIP350_INVALID = [
    "\x201xj0phk", "\x7f1g6xzxy", "\x801vctc34",
    "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
    "qyrz8wqd2c9m", "1qyrz8wqd2c9m", "y1b0jsk6g", "lt1igcx5c0", "in1muywd", "mm1crxm3i", "au1s5cgom",
    "M1VUXWEZ", "16plkw9", "1p2gdwpf",
]
# --- BIP-350: valid segwit addresses with their scriptPubKey (version opcode, push length, program) ---------
SEGWIT_VALID = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
     "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"),
    ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
     "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    ("tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
     "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"),
    ("tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
     "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
     "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
]
SEGWIT_INVALID = [
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",  # invalid human-readable part
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # Bech32 instead of Bech32m
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",  # Bech32 instead of Bech32m
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",  # Bech32 instead of Bech32m
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",  # Bech32m instead of Bech32
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",  # Bech32m instead of Bech32
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",  # invalid character in checksum
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",  # invalid witness version
    "bc1pw5dgrnzv",  # invalid program length (1 byte)
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",  # 41 bytes
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",  # invalid program length for witness version 0
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",  # mixed case
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",  # zero padding of more than 4 bits
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",  # non-zero padding in 8-to-5
    "bc1gmk9yu",  # empty data section
]
# BIP-173's own v1+ examples were Bech32: BIP-350 makes them invalid (they must now be Bech32m).
BIP173_V1_IN_BECH32 = ["bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
                       "BC1SW50QA3JX3S", "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj"]


@pytest.mark.parametrize("text", BIP173_VALID)
def test_bip173_valid_strings_are_bech32(text):
    assert bech32.decode(text)[2] == bech32.BECH32


@pytest.mark.parametrize("text", BIP350_VALID)
def test_bip350_valid_strings_are_bech32m(text):
    assert bech32.decode(text)[2] == bech32.BECH32M


@pytest.mark.parametrize("text", BIP173_INVALID + BIP350_INVALID)
def test_invalid_strings_are_refused(text):
    with pytest.raises(bech32.Bech32Error):
        bech32.decode(text)


def _script(address: bech32.SegwitAddress) -> str:
    opcode = 0 if address.version == 0 else 0x50 + address.version
    return bytes([opcode, len(address.program)]).hex() + address.program.hex()


@pytest.mark.parametrize("address,script", SEGWIT_VALID)
def test_segwit_vectors_decode_to_their_script(address, script):
    assert _script(bech32.decode_segwit(address)) == script
    parsed = check_address(address)
    assert parsed is not None and parsed.valid and parsed.error is None


@pytest.mark.parametrize("address", SEGWIT_INVALID + BIP173_V1_IN_BECH32)
def test_segwit_invalid_vectors(address):
    with pytest.raises(bech32.Bech32Error):
        bech32.decode_segwit(address)
    parsed = check_address(address)
    # tc1... does not even claim to be a Bitcoin address; every other one is a flagged typo.
    assert parsed is None if address.startswith("tc1") else (parsed is not None and not parsed.valid)


def test_kinds_and_networks():
    assert check_address("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4").kind == "p2wpkh"
    assert check_address("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7").kind == "p2wsh"
    taproot = check_address("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0")
    assert (taproot.kind, taproot.network) == ("p2tr", "mainnet")
    assert check_address("BC1SW50QGDZ25J").kind == "witness_v16"
    wiki = check_address("16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM")
    assert (wiki.kind, wiki.network, wiki.valid) == ("p2pkh", "mainnet", True)
    assert base58.b58decode_check("16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvM").hex() == \
        "00010966776006953d5567439e5e39f86a0d273bee"
    assert check_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa").kind == "p2pkh"  # genesis coinbase
    assert check_address("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy").kind == "p2sh"
    testnet = check_address(base58.b58encode_check(bytes([0x6F]) + bytes(20)).decode())
    assert (testnet.kind, testnet.network) == ("p2pkh", "testnet")
    regtest = check_address(bech32_encode_v0("bcrt", bytes(20)))
    assert (regtest.kind, regtest.network, regtest.valid) == ("p2wpkh", "regtest", True)


def bech32_encode_v0(hrp: str, program: bytes) -> str:
    """A v0 address from the spec's definition (the checksum's polymod), to test another network prefix."""
    data = [0] + _to5(program)
    values = bech32._hrp_expand(hrp) + data
    polymod = bech32._polymod(values + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(bech32.CHARSET[d] for d in data + checksum)


def _to5(data: bytes) -> list[int]:
    acc = bits = 0
    out = []
    for b in data:
        acc, bits = (acc << 8) | b, bits + 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def test_base58_checksum_and_version_errors():
    typo = check_address("16UwLL9Risc3QfPqBUvKofHmBQ7wMtjvN")  # last character changed
    assert typo is not None and not typo.valid and "checksum" in typo.error
    # A valid Base58Check string of another coin's version byte (0x30, Litecoin's L...) is no Bitcoin address.
    other = base58.b58encode_check(bytes([0x30]) + bytes(20)).decode()
    wrong = check_address(other) if other[0] in "13mn2" else None
    assert wrong is None or not wrong.valid


@pytest.mark.parametrize("user,address,worker", [
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4.worker1", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "worker1"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4_rig", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "rig"),
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4.garage.2", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "garage.2"),
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa.bitaxe", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "bitaxe"),
    ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy-shed", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "shed"),
    (" tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7 ",
     "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", None),
])
def test_worker_suffixes(user, address, worker):
    parsed = parse_pool_user(user)
    assert parsed is not None and parsed.valid
    assert (parsed.address, parsed.worker) == (address, worker)


@pytest.mark.parametrize("user", ["myaccount.worker1", "antpool_user.001", "", None, "x", "replace-this-with-your-btc-address.bitaxe",
                                  "12345", ".worker"])
def test_account_names_have_no_wallet(user):
    assert parse_pool_user(user) is None


def test_a_typo_is_a_flagged_wallet():
    parsed = parse_pool_user("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5.rig")
    assert parsed is not None and not parsed.valid and parsed.worker == "rig"
    assert parsed.error == "bech32: checksum does not match"


ADDR_A = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
ADDR_B = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"


def _record(ip, pools, hashrate, online=True, enabled=True, active=0):
    status = MinerStatus(hashrate_hs=hashrate, pools=[PoolStatus(url=u, user=user, active=(i == active), priority=i)
                                                     for i, (u, user) in enumerate(pools)])
    return SimpleNamespace(ip=ip, status=status, online=online, enabled=enabled)


def test_group_by_wallet_sums_hashrate_of_the_pool_in_use():
    records = [
        _record("10.0.0.2", [("stratum+tcp://solo.ckpool.org:3333", f"{ADDR_A}.a"),
                             ("stratum+tcp://public-pool.io:21496", f"{ADDR_B}.a")], 1.0e12),
        _record("10.0.0.10", [("stratum+tcp://solo.ckpool.org:3333", f"{ADDR_A}.b")], 2.0e12),
        _record("10.0.0.3", [("stratum+tcp://public-pool.io:21496", ADDR_B)], 0.5e12, online=False),
        _record("10.0.0.4", [("stratum+tcp://pool.example:3333", "account.worker")], 9e12),
        _record("10.0.0.5", [("stratum+tcp://solo.ckpool.org:3333", f"{ADDR_A}x.typo")], 1e12),
        SimpleNamespace(ip="10.0.0.6", status=None, online=None, enabled=True),
    ]
    wallets = {w["address"]: w for w in group_by_wallet(records)}
    assert set(wallets) == {ADDR_A, ADDR_B, ADDR_A + "x"}
    a = wallets[ADDR_A]
    assert a["valid"] and a["miners"] == ["10.0.0.2", "10.0.0.10"] and a["hashrate_hs"] == 3.0e12
    assert a["workers"] == {"10.0.0.2": "a", "10.0.0.10": "b"}
    b = wallets[ADDR_B]
    assert b["miners"] == ["10.0.0.3"] and b["hashrate_hs"] == 0.0  # offline: no hashrate
    assert b["backup_miners"] == ["10.0.0.2"]  # names it only in its fallback pool
    assert not wallets[ADDR_A + "x"]["valid"] and wallets[ADDR_A + "x"]["miners"] == ["10.0.0.5"]
    assert [w["address"] for w in group_by_wallet(records)][0] == ADDR_A  # biggest hashrate first
