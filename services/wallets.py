"""Payout addresses in pool user names, checked by checksum, and the fleet grouped by wallet.

Solo pools and many others take the payout address as the stratum user, with an
optional worker name after it: ``bc1q...``, ``bc1q....rig1``, ``3J98..._garage``.
An address is only letters and digits, so the address is the leading run of them
and anything after the first other character is the worker. A user whose leading
run does not look like an address at all (``myaccount.worker1`` on an account
pool) has no wallet. One that looks like an address but fails its checksum is a
wallet with ``valid: false``: a typo that would pay nobody, which is what the
Pools & wallets page flags.

Checks: Base58Check (the ``base58`` package; version byte 0x00 P2PKH / 0x05 P2SH on
mainnet, 0x6f / 0xc4 on testnet and signet) and Bech32 / Bech32m segwit addresses
(services/bech32.py: BIP-173 and BIP-350; ``bc`` mainnet, ``tb`` testnet and signet,
``bcrt`` regtest).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import base58

from services import bech32
from services.miner_state import ip_sort_key

MAINNET, TESTNET, REGTEST = "mainnet", "testnet", "regtest"
_BASE58_VERSIONS = {0x00: ("p2pkh", MAINNET), 0x05: ("p2sh", MAINNET),
                    0x6F: ("p2pkh", TESTNET), 0xC4: ("p2sh", TESTNET)}
_SEGWIT_HRPS = {"bc": MAINNET, "tb": TESTNET, "bcrt": REGTEST}
_BASE58_CHARS = set("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
_LEADING = re.compile(r"[A-Za-z0-9]+")
MAX_USER = 200  # longer pool users are not parsed (no address is over 90 characters)


@dataclass(frozen=True)
class PayoutAddress:
    """The address part of a pool user and what its checksum says."""

    address: str  # as the pool user has it (Bech32 in lower case)
    valid: bool
    kind: str | None  # p2pkh, p2sh, p2wpkh, p2wsh, p2tr, witness_v<n>; None when invalid
    network: str | None  # mainnet, testnet, regtest; None when unknown
    worker: str | None  # what follows the address ("rig1"), None if nothing
    error: str | None  # why it is invalid

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def _segwit_kind(version: int, program: bytes) -> str:
    if version == 0:
        return "p2wpkh" if len(program) == 20 else "p2wsh"
    if version == 1 and len(program) == 32:
        return "p2tr"
    return f"witness_v{version}"


def _looks_segwit(text: str) -> str | None:
    """The segwit network a string claims by its prefix, or None."""
    low = text.lower()
    for hrp, network in sorted(_SEGWIT_HRPS.items(), key=lambda kv: -len(kv[0])):  # bcrt before bc
        if low.startswith(hrp + "1"):
            return network
    return None


def _looks_base58(text: str) -> bool:
    # P2PKH/P2SH addresses are 26-35 characters of the Base58 alphabet starting with 1 or 3
    # (mainnet) or m, n, 2 (testnet). An account name rarely fits all of that.
    return 26 <= len(text) <= 35 and text[0] in "13mn2" and set(text) <= _BASE58_CHARS


def check_address(text: str, worker: str | None = None) -> PayoutAddress | None:
    """The checksum verdict on ``text`` if it looks like a Bitcoin address at all; None if it does not."""
    network = _looks_segwit(text)
    if network is not None:
        try:
            decoded = bech32.decode_segwit(text)
        except bech32.Bech32Error as exc:
            return PayoutAddress(text.lower(), False, None, network, worker, f"bech32: {exc}")
        return PayoutAddress(text.lower(), True, _segwit_kind(decoded.version, decoded.program),
                             _SEGWIT_HRPS[decoded.hrp], worker, None)
    if not _looks_base58(text):
        return None
    try:
        raw = base58.b58decode_check(text)
    except ValueError as exc:
        return PayoutAddress(text, False, None, None, worker, f"base58check: {str(exc).lower()}")
    version = _BASE58_VERSIONS.get(raw[0]) if len(raw) == 21 else None
    if version is None:
        return PayoutAddress(text, False, None, None, worker,
                             f"base58check: not a Bitcoin address (version byte 0x{raw[0]:02x}, {len(raw)} bytes)")
    return PayoutAddress(text, True, version[0], version[1], worker, None)


def parse_pool_user(user: str | None) -> PayoutAddress | None:
    """The payout address in a stratum user (``address[.worker]``), or None for an account name or nothing."""
    if not user:
        return None
    user = user.strip()
    if len(user) > MAX_USER:
        return None
    match = _LEADING.match(user)
    if match is None:
        return None
    address = match.group(0)
    # The worker follows one separator (".", "_", "-", "+", "/", ...); what it is called is the pool's business.
    worker = user[match.end() + 1:] or None
    return check_address(address, worker)


def current_pool(status: Any) -> Any | None:
    """The pool a miner works for now: the active one, else the first by priority, else None."""
    pools = list(getattr(status, "pools", None) or [])
    if not pools:
        return None
    for pool in pools:
        if pool.active:
            return pool
    return min(pools, key=lambda p: (p.priority is None, p.priority or 0))


def group_by_wallet(records: Iterable[Any]) -> list[dict[str, Any]]:
    """``[{address, valid, kind, network, error, miners, backup_miners, workers, hashrate_hs}]``, biggest first.

    A miner counts under the wallet of the pool it works for now (the active pool, else
    its first); ``backup_miners`` lists miners that name the address only in another
    pool of their list. ``hashrate_hs`` sums the miners' hashrates now (an offline or
    disabled miner adds nothing). Miners are ordered by IP.
    """
    wallets: dict[str, dict[str, Any]] = {}

    def entry(parsed: PayoutAddress) -> dict[str, Any]:
        w = wallets.get(parsed.address)
        if w is None:
            w = wallets[parsed.address] = {
                "address": parsed.address, "valid": parsed.valid, "kind": parsed.kind, "network": parsed.network,
                "error": parsed.error, "miners": [], "backup_miners": [], "workers": {}, "hashrate_hs": 0.0}
        return w

    for record in records:
        status = record.status
        if status is None:
            continue
        current = current_pool(status)
        mining = bool(record.online) and getattr(record, "enabled", True)
        for pool in status.pools:
            parsed = parse_pool_user(pool.user)
            if parsed is None:
                continue
            w = entry(parsed)
            if pool is current:
                if record.ip not in w["miners"]:
                    w["miners"].append(record.ip)
                    if mining and status.hashrate_hs:
                        w["hashrate_hs"] += status.hashrate_hs
                if parsed.worker:
                    w["workers"][record.ip] = parsed.worker
            elif record.ip not in w["backup_miners"]:
                w["backup_miners"].append(record.ip)
    out = []
    for w in wallets.values():
        w["miners"].sort(key=ip_sort_key)
        w["backup_miners"] = sorted((ip for ip in w["backup_miners"] if ip not in w["miners"]), key=ip_sort_key)
        out.append(w)
    out.sort(key=lambda w: (-w["hashrate_hs"], -len(w["miners"]), w["address"]))
    return out
