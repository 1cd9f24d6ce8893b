"""The network difficulty the solo odds use, and where it came from.

In order: the last good fetch of ``solo.fetch_url`` (only when set; at most every
``fetch_every_min``, by a scheduler job, never by a request), ``solo.network_difficulty``,
``alerts.network_difficulty``, then the profitability service's figure (its live
mempool.space value or ``profitability.network.difficulty``). Each answer says its
source and age, so the page can show "configured" or "fetched 12 min ago".
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import requests

from .config import SoloConfig

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 64 * 1024  # a difficulty is a number; Bitcoin Core's chaininfo is ~2 kB
STALE_AFTER_INTERVALS = 3  # a fetched value older than this many intervals gives way to the configured one
FIRST_RETRY_SEC = 60  # after a failed fetch; doubles up to the interval


class DifficultyError(Exception):
    """A fetch failed or answered no usable difficulty; the message says which."""


@dataclass(frozen=True)
class NetworkDifficulty:
    """A network difficulty and its provenance."""

    value: float | None
    source: str | None  # "fetched", "solo.network_difficulty", "alerts.network_difficulty", "profitability", None
    age_sec: float | None  # seconds since fetched (fetched or profitability's live value), else None
    error: str | None  # the last fetch's failure, if any

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def parse_difficulty(body: str) -> float:
    """A difficulty from a reply: a plain number, or JSON (a number, ``currentDifficulty`` or ``difficulty``)."""
    text = body.strip()
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = text
    if isinstance(data, dict):
        data = data.get("currentDifficulty", data.get("difficulty"))
    if isinstance(data, bool) or data is None:
        raise DifficultyError("no difficulty in the reply (a number, currentDifficulty or difficulty)")
    try:
        value = float(data)
    except (TypeError, ValueError):
        raise DifficultyError(f"not a number: {str(data)[:40]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise DifficultyError(f"must be a number above 0, got {value}")
    return value


class DifficultySource:
    """Keeps the network difficulty: configured, fetched on a schedule, or borrowed; never fetches in a read."""

    def __init__(self, cfg: SoloConfig, *, alerts_difficulty: float | None = None,
                 profitability: Callable[[], Any] | None = None, clock: Callable[[], float] = time.time,
                 session: requests.Session | None = None) -> None:
        """``profitability``: returns the profitability service's Hashprice (with .difficulty, .age_sec) or None."""
        self.cfg = cfg
        self.alerts_difficulty = alerts_difficulty
        self.profitability = profitability
        self.clock = clock
        self._lock = threading.Lock()
        self._fetched: tuple[float, float] | None = None  # (value, when)
        self._error: str | None = None
        self._failures = 0
        self._next_due = 0.0
        self._session = session
        self._closed = False

    # --- reading ----------------------------------------------------------------------------
    def current(self) -> NetworkDifficulty:
        """The difficulty to use now and where it comes from (value None when nothing is known)."""
        now = self.clock()
        with self._lock:
            fetched, error = self._fetched, self._error
        if fetched is not None and now - fetched[1] <= STALE_AFTER_INTERVALS * self.cfg.fetch_every_min * 60:
            return NetworkDifficulty(fetched[0], "fetched", max(0.0, now - fetched[1]), error)
        if self.cfg.network_difficulty:
            return NetworkDifficulty(self.cfg.network_difficulty, "solo.network_difficulty", None, error)
        if self.alerts_difficulty:
            return NetworkDifficulty(self.alerts_difficulty, "alerts.network_difficulty", None, error)
        price = None
        if self.profitability is not None:
            try:
                price = self.profitability()
            except Exception:  # noqa: BLE001 - a broken neighbour must not break the solo page
                log.exception("profitability difficulty unavailable")
        if price is not None and getattr(price, "difficulty", None):
            return NetworkDifficulty(price.difficulty, "profitability", getattr(price, "age_sec", None), error)
        return NetworkDifficulty(None, None, None, error)

    # --- fetching (scheduler job) -------------------------------------------------------------
    def maybe_refresh(self) -> None:
        """Scheduler job: fetch when a URL is set and the interval (or the backoff) has passed."""
        if not self.cfg.fetch_url or self._closed or self.clock() < self._next_due:
            return
        self.refresh()

    def refresh(self) -> float | None:
        """Fetch now; on failure keep the last good value and back off. Returns the fetched value or None."""
        if not self.cfg.fetch_url or self._closed:
            return None
        started = self.clock()
        try:
            value = self._fetch()
        except DifficultyError as exc:
            with self._lock:
                self._failures += 1
                self._error = f"{self.cfg.fetch_url}: {exc}"
                retry = min(self.cfg.fetch_every_min * 60, FIRST_RETRY_SEC * 2 ** (self._failures - 1))
                self._next_due = started + retry
            log.warning("network difficulty fetch failed (%s); retry in %.0f s", exc, retry)
            return None
        with self._lock:
            self._fetched, self._error, self._failures = (value, started), None, 0
            self._next_due = started + self.cfg.fetch_every_min * 60
        log.info("network difficulty %.6g from %s", value, self.cfg.fetch_url)
        return value

    def _fetch(self) -> float:
        if self._session is None:
            self._session = requests.Session()
        try:
            with self._session.get(self.cfg.fetch_url, timeout=self.cfg.timeout_sec, stream=True,
                                   headers={"Accept": "application/json, text/plain"}) as reply:
                if reply.status_code != 200:
                    raise DifficultyError(f"HTTP {reply.status_code}")
                body = reply.raw.read(MAX_REPLY_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            raise DifficultyError(type(exc).__name__) from None
        if len(body) > MAX_REPLY_BYTES:
            raise DifficultyError(f"reply over {MAX_REPLY_BYTES} bytes")
        return parse_difficulty(body.decode("utf-8", "replace"))

    def close(self) -> None:
        """Stop fetching and close the HTTP session; safe to call twice."""
        self._closed = True
        if self._session is not None:
            self._session.close()
            self._session = None
