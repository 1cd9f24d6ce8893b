"""mempool.space public REST API: the four replies a hashprice needs, parsed and checked.

Endpoints (relative to ``base_url``, default https://mempool.space/api; shapes from
mempool/mempool's API docs, frontend/src/app/docs/api-docs/api-docs-data.ts):

- ``GET /v1/mining/hashrate/3d`` -> ``{"hashrates": [...], "difficulty": [...],
  "currentHashrate": 2.5e20, "currentDifficulty": 31251101365711.12}``
- ``GET /blocks/tip/height`` -> ``698767`` (plain text)
- ``GET /v1/mining/reward-stats/:blockCount`` -> ``{"startBlock": 736556, "endBlock": 736655,
  "totalReward": "63811748254", "totalFee": "1311748254", "totalTx": "164216"}`` (satoshis, as strings)
- ``GET /v1/prices`` -> ``{"time": 1703252411, "USD": 43753, "EUR": 40545, ...}``

(``/v1/difficulty-adjustment`` only gives the epoch's progress and the expected
change, not the difficulty itself, so it is not used.)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import requests

from .hashprice import SATS_PER_BTC, block_subsidy_btc

MAX_REPLY_BYTES = 256 * 1024  # the replies are a few kB; a bigger one is not mempool.space


class MempoolError(Exception):
    """A mempool.space call failed or answered something unusable; the message says which."""


@dataclass(frozen=True)
class NetworkSnapshot:
    """The live figures one refresh read."""

    difficulty: float
    height: int
    subsidy_btc: float
    fees_btc: float  # average per block over the reward-stats window
    btc_price: float | None  # None when the price is configured instead (a currency mempool.space lacks)


def _number(value: Any, what: str) -> float:
    """A finite number (or numeric text: reward-stats sends satoshis as strings), else MempoolError."""
    if isinstance(value, bool) or value is None:
        raise MempoolError(f"{what}: missing or not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MempoolError(f"{what}: not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise MempoolError(f"{what}: not a finite number")
    return number


def parse_difficulty(data: Any) -> float:
    """``currentDifficulty`` of a /v1/mining/hashrate/:period reply."""
    if not isinstance(data, dict):
        raise MempoolError("hashrate: reply is not a JSON object")
    difficulty = _number(data.get("currentDifficulty"), "hashrate.currentDifficulty")
    if difficulty <= 0:
        raise MempoolError(f"hashrate.currentDifficulty: must be above 0, got {difficulty}")
    return difficulty


def parse_tip_height(text: str) -> int:
    """The plain-text block height of /blocks/tip/height."""
    raw = text.strip()
    if not raw.isdigit() or len(raw) > 9:
        raise MempoolError(f"tip height: not a block height: {raw[:40]!r}")
    return int(raw)


def parse_avg_fees_btc(data: Any) -> float:
    """Average fees per block (BTC) of a /v1/mining/reward-stats/:blockCount reply."""
    if not isinstance(data, dict):
        raise MempoolError("reward-stats: reply is not a JSON object")
    start = _number(data.get("startBlock"), "reward-stats.startBlock")
    end = _number(data.get("endBlock"), "reward-stats.endBlock")
    total_fee = _number(data.get("totalFee"), "reward-stats.totalFee")
    blocks = end - start + 1
    if blocks < 1 or total_fee < 0:
        raise MempoolError(f"reward-stats: impossible window {start:.0f}-{end:.0f} or fees {total_fee:.0f}")
    return total_fee / blocks / SATS_PER_BTC


def parse_price(data: Any, currency: str) -> float:
    """The BTC price in ``currency`` of a /v1/prices reply."""
    if not isinstance(data, dict):
        raise MempoolError("prices: reply is not a JSON object")
    if currency not in data:
        known = ", ".join(k for k in data if k != "time")
        raise MempoolError(f"prices: no {currency} price (mempool.space has {known[:80]})")
    price = _number(data[currency], f"prices.{currency}")
    if price <= 0:
        raise MempoolError(f"prices.{currency}: must be above 0, got {price}")
    return price


class MempoolClient:
    """Reads the network figures from a mempool.space instance, every call with a timeout."""

    def __init__(self, base_url: str, *, timeout_sec: float, fee_blocks: int,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_sec = timeout_sec
        self.fee_blocks = fee_blocks
        self._http = session or requests.Session()

    def _get(self, path: str) -> bytes:
        """The body of GET base_url + path (at most MAX_REPLY_BYTES), else MempoolError naming the path."""
        try:
            with self._http.get(self.base_url + path, timeout=self.timeout_sec, stream=True,
                                headers={"Accept": "application/json, text/plain"}) as reply:
                if reply.status_code != 200:
                    raise MempoolError(f"{path}: HTTP {reply.status_code}")
                body = b""
                for chunk in reply.iter_content(16384):
                    body += chunk
                    if len(body) > MAX_REPLY_BYTES:
                        raise MempoolError(f"{path}: reply larger than {MAX_REPLY_BYTES} bytes")
                return body
        except requests.RequestException as exc:
            raise MempoolError(f"{path}: unreachable ({type(exc).__name__})") from None

    def _json(self, path: str) -> Any:
        try:
            return json.loads(self._get(path))
        except ValueError:
            raise MempoolError(f"{path}: reply is not JSON") from None

    def fetch(self, currency: str | None) -> NetworkSnapshot:
        """Difficulty, tip height (-> subsidy), average fees and, unless ``currency`` is None, the BTC price."""
        difficulty = parse_difficulty(self._json("/v1/mining/hashrate/3d"))
        height = parse_tip_height(self._get("/blocks/tip/height").decode("utf-8", "replace"))
        fees = parse_avg_fees_btc(self._json(f"/v1/mining/reward-stats/{self.fee_blocks}"))
        price = parse_price(self._json("/v1/prices"), currency) if currency else None
        return NetworkSnapshot(difficulty=difficulty, height=height, subsidy_btc=block_subsidy_btc(height),
                               fees_btc=fees, btc_price=price)

    def close(self) -> None:
        """Close the HTTP session (its pooled connections)."""
        self._http.close()
