"""Hardware conditions: what a simulated miner's replies show when something is wrong with the machine.

A fault (faults.py) breaks the conversation; a condition is a healthy conversation
about a sick miner, so the app's real drivers parse it and its alert rules see it:

- ``board_down``: one hash board / chain lost: its hashrate and chips gone (or the
  board missing from the list, as the firmware shows it); the total drops by its share.
- ``fan_stopped``: every fan reads 0 rpm while the miner keeps hashing.
- ``hot``: chip/board temperatures at ``HOT_OVER_LIMIT_C`` above the app's default
  overheat limit of the family (services/power/overheat.py: Bitaxe 70 C, others 100 C).
- ``rejecting``: the pool rejects ``REJECT_RATIO`` of the shares.
- ``pool_down``: the first (priority 0) pool is dead and the miner mines on the next one.

Each miner class lists the ones it can show (``SimMiner.supported_conditions``);
asking for another raises ValueError naming the kind and the condition.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

CONDITIONS: tuple[str, ...] = ("board_down", "fan_stopped", "hot", "rejecting", "pool_down")

REJECT_RATIO = 0.4  # "rejecting": share of the shares the pool refuses
NORMAL_REJECT_RATIO = 0.003  # a healthy miner (physics.ShareCounter's default)
# The app's default overheat limits (services/power/overheat.py FAMILY_LIMIT_C / DEFAULT_LIMIT_C),
# restated here: the simulator imports nothing from the app. "hot" reads this far above them.
APP_LIMIT_C = {"bitaxe": 70.0}
APP_DEFAULT_LIMIT_C = 100.0
HOT_OVER_LIMIT_C = 12.0


def hot_c(family: str) -> float:
    """The chip temperature a "hot" miner of ``family`` reports (app default limit + HOT_OVER_LIMIT_C)."""
    return APP_LIMIT_C.get(family, APP_DEFAULT_LIMIT_C) + HOT_OVER_LIMIT_C


def check_condition(name: str) -> str:
    """Validate one condition name (raises ValueError listing the valid ones)."""
    if name not in CONDITIONS:
        raise ValueError(f"unknown condition {name!r}; use one of {CONDITIONS}")
    return name


def check_conditions(kind: str, supported: Iterable[str], names: Iterable[str] | None) -> frozenset[str]:
    """The set of ``names`` if every one is known and ``supported`` by ``kind``; else ValueError naming both."""
    if isinstance(names, str):
        raise ValueError(f"conditions must be a list of names, not the string {names!r}")
    wanted = frozenset(check_condition(str(n)) for n in (names or ()))
    allowed = frozenset(supported)
    for name in CONDITIONS:  # fixed order: the same message for the same request
        if name in wanted and name not in allowed:
            raise ValueError(f"a simulated {kind} miner cannot show {name!r} "
                             f"(it shows: {', '.join(c for c in CONDITIONS if c in allowed) or 'none'})")
    return wanted


class _PoolLike(Protocol):
    url: str
    priority: int
    alive: bool


P = TypeVar("P", bound=_PoolLike)


def first_pool(pools: Iterable[P]) -> P | None:
    """The configured pool with the best (lowest) priority, the one "pool_down" kills."""
    configured = [p for p in pools if p.url]
    return min(configured, key=lambda p: p.priority) if configured else None


def apply_pool_down(pools: Iterable[P], down: bool, held: P | None) -> P | None:
    """Kill the first pool (``down``) or revive the one killed before (``held``); returns the pool now held down.

    A pool list rewritten while a pool is held down (a config write) brings fresh,
    alive pools: the firmware would try the new ones.
    """
    if down:
        if held is not None:
            return held
        pool = first_pool(pools)
        if pool is not None:
            pool.alive = False
        return pool
    if held is not None:
        held.alive = True
    return None
