"""Pool URL validation shared by the drivers that write pools."""

from __future__ import annotations

import re

from .base import PoolConfig

SCHEME = "stratum+tcp"
# Stratum V2 (BOS+ since 22.x, Braiins pool): "stratum2+tcp://host:port/<pool authority public
# key>" (Braiins Academy stratum-v2 manual); the key is base58 text in the path.
SV2_SCHEME = "stratum2+tcp"
_SV2_KEY = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{20,120}$")
# A host name or IPv4 address: letters, digits, dots and dashes only. No credentials,
# paths or spaces: a miner firmware stores the host in a fixed-size field and a typo
# there silently sends the hashrate nowhere.
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def parse_stratum_url(url: str, schemes: tuple[str, ...] = (SCHEME,)) -> tuple[str, int]:
    """Split ``<scheme>://host:port`` into (host, port); raise ValueError with the reason otherwise.

    ``schemes`` are the ones the firmware accepts; only Stratum V2 URLs carry a path (the key).
    """
    if not isinstance(url, str):
        raise ValueError("pool URL must be a string")
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in schemes:
        shown = " or ".join(f"{s}://host:port" for s in schemes)
        raise ValueError(f"pool URL must look like {shown}, got {text!r}")
    if scheme.lower() == SV2_SCHEME:
        rest, _, key = rest.partition("/")
        if not _SV2_KEY.match(key):
            raise ValueError(f"a {SV2_SCHEME} URL ends with the pool's public key: {SV2_SCHEME}://host:port/<key>")
    host, sep, port_text = rest.rpartition(":")
    if not sep or not host:
        raise ValueError(f"pool URL needs a port: {scheme}://host:port, got {text!r}")
    if not _HOST.match(host):
        raise ValueError(f"pool host {host!r} is not a valid host name or IPv4 address")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"pool port {port_text!r} must be a number from 1 to 65535")
    return host, int(port_text)


def validate_pools(pools: list[PoolConfig], *, max_pools: int,
                   schemes: tuple[str, ...] = (SCHEME,)) -> list[tuple[str, int, PoolConfig]]:
    """Check a pool list before anything is written; returns (host, port, pool) per pool."""
    if not pools:
        raise ValueError("at least one pool is needed")
    if len(pools) > max_pools:
        raise ValueError(f"this firmware holds at most {max_pools} pools, got {len(pools)}")
    checked = []
    for pool in pools:
        host, port = parse_stratum_url(pool.url, schemes)
        if not pool.user or any(c in pool.user for c in "\r\n"):
            raise ValueError("every pool needs a worker/user name on one line")
        checked.append((host, port, pool))
    return checked
