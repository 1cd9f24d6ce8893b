"""Which pools are solo pools, and the odds of a solo block at a hashrate and network difficulty.

A share meets the network target with probability 1 / (difficulty * 2^32) per hash
(difficulty 1 is a target of about 2^224, 2^32 hashes on average), so a miner at H hashes per
second expects one block every difficulty * 2^32 / H seconds. Blocks are a Poisson process:
the chance of at least one in t seconds is 1 - exp(-t * H / (difficulty * 2^32)).
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

TWO_32 = 2 ** 32
DAY_S = 86_400
YEAR_S = 365.25 * DAY_S

# Public solo pools, by host. Where they come from: ESP-Miner's (AxeOS) Kconfig defaults,
# public-pool.io:21496 with solo.ckpool.org:3333 as fallback (NerdQAxe++ firmware ships the same
# pair), and the solo pools among the AxeOS web UI's pool presets. Public-pool instances
# (nerdminer.de, solomining.de, yourdevice.ch, noderunners, satoshiradio) pay the whole block to
# the finder too. Not here: OCEAN (TIDES, pays shares), Parasite, every FPPS/PPLNS pool.
SOLO_HOSTS = frozenset({
    "public-pool.io", "pool.nerdminer.de", "pool.solomining.de", "blitzpool.yourdevice.ch",
    "pool.noderunners.network", "pool.satoshiradio.nl", "solo.stratum.braiins.com",
    "solo.atlaspool.io", "solo.solohash.co.uk",
})
# ckpool's solo servers by region and IP version (solo, eusolo, ausolo, solo4, solo6, ...):
# ckpool's pooled servers are not solo. SoloHash's regional servers: solo-ca, solo-de, ...
SOLO_PATTERNS = (re.compile(r"^(eu|au|us)?solo[46]?\.ckpool\.org$"), re.compile(r"^solo(-[a-z]{2})?\.solohash\.co\.uk$"))


def pool_host_port(url: str) -> tuple[str, int | None]:
    """(host in lower case, port or None) of a stratum URL (``stratum+tcp://h:p``, ``h:p`` or ``h``)."""
    text = (url or "").strip()
    if "://" not in text:
        text = "stratum://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return "", None
    return (parts.hostname or "").lower().rstrip("."), port


def _matches(host: str, port: int | None, entry: str) -> bool:
    want_host, want_port = pool_host_port(entry)
    return host == want_host and (want_port is None or want_port == port)


def is_solo_pool(url: str, extra: tuple[str, ...] = (), excluded: tuple[str, ...] = ()) -> bool:
    """True when ``url`` is a known public solo pool or one of ``extra`` (host or host:port), and not ``excluded``."""
    host, port = pool_host_port(url)
    if not host or any(_matches(host, port, e) for e in excluded):
        return False
    if any(_matches(host, port, e) for e in extra):
        return True
    if host in SOLO_HOSTS or host.endswith(".public-pool.io"):  # its regional servers
        return True
    return any(p.match(host) for p in SOLO_PATTERNS)


def expected_seconds(network_difficulty: float, hashrate_hs: float) -> float | None:
    """Mean time to a block in seconds; None without a positive hashrate and difficulty."""
    if not (network_difficulty and network_difficulty > 0 and hashrate_hs and hashrate_hs > 0):
        return None
    return network_difficulty * TWO_32 / hashrate_hs


def chance_within(seconds: float, network_difficulty: float, hashrate_hs: float) -> float | None:
    """Probability of at least one block within ``seconds`` (0..1); None when the odds are unknown."""
    mean = expected_seconds(network_difficulty, hashrate_hs)
    if mean is None:
        return None
    return -math.expm1(-seconds / mean)  # 1 - e^-x, exact for the tiny x of a Bitaxe
