"""Per miner: best share difficulties, whether it mines solo, and its odds of a block (GET /api/solo)."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from services.miner_state import ip_sort_key
from services.wallets import current_pool, parse_pool_user

from .config import SoloConfig
from .difficulty import NetworkDifficulty
from .odds import DAY_S, YEAR_S, chance_within, expected_seconds, is_solo_pool


Best = Callable[[int], "tuple[float, float] | None"]  # miners.id -> (best ever seen, since), services/solo/best.py


def miner_row(record: Any, difficulty: float | None, cfg: SoloConfig,
              best_seen: Best | None = None) -> dict[str, Any] | None:
    """One miner's solo figures; None for a miner never read (nothing to show)."""
    status = record.status
    if status is None:
        return None
    pool = current_pool(status)
    solo = pool is not None and is_solo_pool(pool.url, cfg.pools, cfg.not_solo)
    mining = bool(record.online) and getattr(record, "enabled", True)
    hashrate = status.hashrate_hs if mining else None
    payout = parse_pool_user(pool.user) if pool is not None else None
    session, best = status.best_session_difficulty, status.best_difficulty
    seen = best_seen(record.id) if best_seen is not None else None
    # The controller's own record (highest value seen since it first polled this miner) keeps a
    # best across the restarts that clear a cgminer-family session best.
    ever = max((v for v in (best, seen[0] if seen else None) if v is not None), default=None)
    top = max((v for v in (session, ever) if v is not None), default=None)
    row: dict[str, Any] = {
        "ip": record.ip,
        "name": record.name,
        "model": status.model or record.model,
        "online": mining,
        "pool_url": pool.url if pool is not None else None,
        "pool_user": pool.user if pool is not None else None,
        "address": payout.address if payout else None,
        "address_valid": payout.valid if payout else None,
        "solo": solo,
        "hashrate_hs": hashrate,
        "best_difficulty": best,
        "best_session_difficulty": session,
        "best_ever": ever,  # the firmware's all-time best, or the controller's record if higher (or the only one)
        "best_ever_since": seen[1] if seen and (best is None or seen[0] > best) else None,
        # How close the best share came to a block (1.0 = a block).
        "best_vs_network": (top / difficulty) if top is not None and difficulty else None,
        # A session best at or past the network difficulty is a block (docs/miners.md "Best difficulty").
        "block_found": bool(difficulty and session is not None and session >= difficulty),
        "expected_block_s": None,
        "chance_per_day": None,
        "chance_per_year": None,
    }
    if solo and difficulty and hashrate:
        row["expected_block_s"] = expected_seconds(difficulty, hashrate)
        row["chance_per_day"] = chance_within(DAY_S, difficulty, hashrate)
        row["chance_per_year"] = chance_within(YEAR_S, difficulty, hashrate)
    return row


def solo_report(records: Iterable[Any], difficulty: NetworkDifficulty, cfg: SoloConfig,
                best_seen: Best | None = None) -> dict[str, Any]:
    """``{network_difficulty: {value, source, age_sec, error}, miners: [...], solo: {...totals}}``."""
    rows = [row for r in records if (row := miner_row(r, difficulty.value, cfg, best_seen)) is not None]
    rows.sort(key=lambda row: ip_sort_key(row["ip"]))
    solo_rows = [row for row in rows if row["solo"]]
    hashrate = sum(row["hashrate_hs"] or 0.0 for row in solo_rows)
    value = difficulty.value
    totals = {
        "miners": len(solo_rows),
        "hashrate_hs": hashrate,
        "expected_block_s": expected_seconds(value, hashrate) if value else None,
        "chance_per_day": chance_within(DAY_S, value, hashrate) if value else None,
        "chance_per_year": chance_within(YEAR_S, value, hashrate) if value else None,
        "best_difficulty": max((row["best_ever"] for row in solo_rows if row["best_ever"] is not None),
                               default=None),
    }
    return {"network_difficulty": difficulty.to_dict(), "miners": rows, "solo": totals}


def add_wallet_odds(wallets: list[dict[str, Any]], report: dict[str, Any]) -> list[dict[str, Any]]:
    """Give each wallet of services.wallets.group_by_wallet ``solo`` (a miner of it mines solo) and
    ``best_difficulty`` (the highest best share of its miners, all-time where known)."""
    rows = {row["ip"]: row for row in report["miners"]}
    for wallet in wallets:
        mine = [rows[ip] for ip in wallet["miners"] if ip in rows]
        wallet["solo"] = any(row["solo"] for row in mine)
        wallet["best_difficulty"] = max((v for row in mine for v in (row["best_ever"], row["best_session_difficulty"])
                                         if v is not None), default=None)
    return wallets
