"""The ``solo`` section of config.yaml: the network difficulty for solo odds, and extra solo pools."""

from __future__ import annotations

import math
from dataclasses import dataclass


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class SoloConfig:
    """Network difficulty (configured, optionally fetched) and which pools count as solo (docs/wallets.md)."""

    # The difficulty the odds use when nothing fresher is known. null = alerts.network_difficulty,
    # then profitability's (live mempool or profitability.network.difficulty). Write 1.1e+14 (YAML
    # reads 1.1e14 as text).
    network_difficulty: float | None = None
    # Optional: a URL answering the difficulty (plain number, or JSON with currentDifficulty or
    # difficulty: a mempool instance's /api/v1/mining/hashrate/3d, Bitcoin Core REST
    # /rest/chaininfo.json). "" (the default) = never fetch: the LAN may have no internet.
    fetch_url: str = ""
    fetch_every_min: float = 60  # at most this often; the difficulty changes every ~2 weeks
    timeout_sec: float = 10  # per fetch
    # Pool hosts (or host:port) that count as solo besides the known public solo pools,
    # e.g. a ckpool-solo on your own node: ["192.168.1.20", "umbrel.local:2018"].
    pools: tuple[str, ...] = ()
    # Known solo hosts that should not count (a pool that changed its payout scheme).
    not_solo: tuple[str, ...] = ()

    def validate(self) -> None:
        _check(self.network_difficulty is None
               or (math.isfinite(self.network_difficulty) and self.network_difficulty > 0),
               f"network_difficulty: must be above 0, got {self.network_difficulty}")
        _check(self.fetch_url == "" or self.fetch_url.startswith(("http://", "https://")),
               f"fetch_url: must start with http:// or https:// (or be empty), got {self.fetch_url!r}")
        _check(5 <= self.fetch_every_min <= 1440, f"fetch_every_min: must be 5-1440, got {self.fetch_every_min}")
        _check(0.5 <= self.timeout_sec <= 60, f"timeout_sec: must be 0.5-60, got {self.timeout_sec}")
        for key, hosts in (("pools", self.pools), ("not_solo", self.not_solo)):
            for host in hosts:
                _check(bool(host.strip()) and " " not in host.strip() and len(host) <= 253,
                       f"{key}: a host name or host:port, got {host!r}")
