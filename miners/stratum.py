"""Pool URL validation shared by the drivers that write pools."""

from __future__ import annotations

import re

from .base import PoolConfig

SCHEME = "stratum+tcp"
# A host name or IPv4 address: letters, digits, dots and dashes only. No credentials,
# paths or spaces: a miner firmware stores the host in a fixed-size field and a typo
# there silently sends the hashrate nowhere.
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def parse_stratum_url(url: str) -> tuple[str, int]:
    """Split ``stratum+tcp://host:port`` into (host, port); raise ValueError with the reason otherwise."""
    if not isinstance(url, str):
        raise ValueError("pool URL must be a string")
    text = url.strip()
    prefix = SCHEME + "://"
    if not text.lower().startswith(prefix):
        raise ValueError(f"pool URL must look like {prefix}host:port, got {text!r}")
    rest = text[len(prefix):]
    host, sep, port_text = rest.rpartition(":")
    if not sep or not host:
        raise ValueError(f"pool URL needs a port: {prefix}host:port, got {text!r}")
    if not _HOST.match(host):
        raise ValueError(f"pool host {host!r} is not a valid host name or IPv4 address")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"pool port {port_text!r} must be a number from 1 to 65535")
    return host, int(port_text)


def validate_pools(pools: list[PoolConfig], *, max_pools: int) -> list[tuple[str, int, PoolConfig]]:
    """Check a pool list before anything is written; returns (host, port, pool) per pool."""
    if not pools:
        raise ValueError("at least one pool is needed")
    if len(pools) > max_pools:
        raise ValueError(f"this firmware holds at most {max_pools} pools, got {len(pools)}")
    checked = []
    for pool in pools:
        host, port = parse_stratum_url(pool.url)
        if not pool.user or any(c in pool.user for c in "\r\n"):
            raise ValueError("every pool needs a worker/user name on one line")
        checked.append((host, port, pool))
    return checked
