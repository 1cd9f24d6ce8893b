"""Stock Antminer (bmminer/cgminer on 4028): read-only for now, with the model's algorithm and units."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from .base import SCRYPT, SHA256D, MinerStatus, NotSupported, PoolConfig
from .cgminer import GH, MH, CGMinerDriver, parse_cgminer, parse_stats, parse_version

X11 = "x11"  # Dash (Antminer D3/D7/D9); not in base.py's list because no other family mines it

# Model -> (algorithm, H/s per unit of the "GHS" fields). Scrypt and X11 Antminers
# report MH/s in fields named "GHS 5s"/"GHS av"/chain_rateN (reference section 4,
# "Units trap": L3+ "GHS 5s":"504.56" is 504.56 MH/s; Foreman multiplies by 0.001).
_ALGORITHMS: tuple[tuple[re.Pattern[str], str, float], ...] = (
    (re.compile(r"\bL[3579]\b", re.IGNORECASE), SCRYPT, MH),
    (re.compile(r"\bD[379]\b", re.IGNORECASE), X11, MH),
)


def algorithm_for(model: str | None) -> tuple[str, float]:
    """(algorithm, H/s per "GHS" unit) for an Antminer model string such as "Antminer L3+"."""
    if model:
        for pattern, algorithm, scale in _ALGORITHMS:
            if pattern.search(model):
                return algorithm, scale
    return SHA256D, GH


def parse_antminer(replies: dict[str, dict[str, Any]]) -> MinerStatus:
    """Stock Antminer replies (summary/stats/pools/version) -> MinerStatus, units per model (pure)."""
    model = parse_version(replies.get("version")).get("model") or parse_stats(replies.get("stats")).get("model")
    algorithm, scale = algorithm_for(model)
    status = parse_cgminer(replies, ghs_scale=scale)
    status.algorithm = algorithm
    if status.model is None and model:
        status.model = model
    return status


class AntminerDriver(CGMinerDriver):
    """Stock Antminer firmware: reads on 4028; no control yet.

    The stock cgminer config only answers stats/pools/devs/summary/version and
    refuses every write with Code 45 (``api-allow W:*`` matches no one). Restart,
    sleep and pools go through the digest-auth web CGI (/cgi-bin/*.cgi), which a
    later issue adds; until then ``capabilities`` is empty so the UI offers nothing
    that would fail.
    """

    family: ClassVar[str] = "antminer"
    capabilities: ClassVar[frozenset[str]] = frozenset()
    # devs is useless on X19 (one BTM_SOC pseudo-device, "Tenperature" typo); stats has the chains.
    read_commands: ClassVar[tuple[str, ...]] = ("summary", "stats", "pools")

    def ghs_scale(self, model: str | None) -> float:
        """MH/s per "GHS" unit on scrypt/X11 models, GH/s otherwise."""
        return algorithm_for(model)[1]

    def read(self) -> MinerStatus:
        """Read as CGMinerDriver does, then label the algorithm from the model."""
        status = super().read()
        status.algorithm = algorithm_for(status.model)[0]
        return status

    def _not_yet(self, action: str) -> NotSupported:
        return NotSupported(f"stock Antminer firmware refuses {action} on the cgminer API (Code 45); "
                            "control through its web interface is not implemented yet")

    def restart(self) -> None:
        """Not available yet (web CGI control comes later)."""
        raise self._not_yet("restart")

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Not available yet (web CGI control comes later)."""
        raise self._not_yet("pool changes")
