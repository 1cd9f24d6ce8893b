"""The hashprice in use now: configured, or read from mempool.space on a schedule with backoff.

The scheduler calls ``maybe_refresh`` every minute (Runtime.start); it fetches when
the refresh interval has passed, or sooner after a failure, backing off 1, 2, 4 ...
minutes up to the interval. Readers (``hashprice``, ``fleet``) never touch the
network: they get the last good live value (marked stale once a refresh has failed
or it is older than two intervals), past ``max_age_hours`` the configured network
figures, and otherwise None.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Callable

from .config import MEMPOOL_CURRENCIES, ProfitabilityConfig
from .fleet import fleet_table
from .hashprice import Hashprice, from_fixed, from_network
from .mempool import MempoolClient, MempoolError

log = logging.getLogger(__name__)

FIRST_RETRY_SEC = 60  # the first retry after a failure; doubles up to the refresh interval


class ProfitabilityService:
    """Owns the hashprice: its source, cache, refresh schedule and fallbacks."""

    def __init__(self, cfg: ProfitabilityConfig, *, clock: Callable[[], float] = time.time,
                 client: MempoolClient | None = None) -> None:
        self.cfg = cfg
        self.clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._live: Hashprice | None = None  # last good live value (age and stale filled in on read)
        self._error: str | None = None  # the last refresh's failure; None after a success
        self._failures = 0
        self._next_due = 0.0  # epoch seconds: the first maybe_refresh fetches
        self._last_attempt: float | None = None
        self._client = client
        if client is None and cfg.source == "mempool":
            self._client = MempoolClient(cfg.base_url, timeout_sec=cfg.timeout_sec, fee_blocks=cfg.fee_blocks)

    # --- what the readers get -------------------------------------------------
    def _configured(self) -> Hashprice | None:
        """The hashprice from config alone: the fixed hashprice, else the network figures, else None."""
        cfg = self.cfg
        if cfg.hashprice is not None:
            return from_fixed(cfg.hashprice, cfg.pool_fee_percent, cfg.currency)
        net = cfg.network
        if not net.complete:
            return None
        assert net.difficulty is not None and net.btc_price is not None
        return from_network(net.difficulty, net.subsidy_btc, net.fees_btc, net.btc_price, cfg.pool_fee_percent,
                            cfg.currency, "config", age_sec=0.0)

    def hashprice(self, now: float | None = None) -> Hashprice | None:
        """The hashprice to use now, saying where it comes from and whether it is stale; None if there is none."""
        configured = self._configured()
        if self.cfg.source != "mempool":
            return configured
        now = self.clock() if now is None else now
        with self._lock:
            live, error = self._live, self._error
        if live is not None and live.fetched_at is not None:
            age = max(0.0, now - live.fetched_at)
            if age <= self.cfg.max_age_hours * 3600:
                stale = error is not None or age > 2 * self.cfg.refresh_min * 60
                why = error or (f"last refresh {age / 60:.0f} min ago" if stale else None)
                return replace(live, age_sec=age, stale=stale, error=why)
            error = f"live data {age / 3600:.1f} h old (max_age_hours {self.cfg.max_age_hours:g})" + (
                f"; {error}" if error else "")
        if configured is None:
            return None
        # The configured network figures stand in for the live source: usable, but say so.
        return replace(configured, stale=True, error=error or "no mempool.space reply yet")

    def status(self, now: float | None = None) -> dict[str, Any]:
        """Source, the hashprice (or None) and the refresh state, for the API."""
        now = self.clock() if now is None else now
        hp = self.hashprice(now)
        with self._lock:
            error, last, due = self._error, self._last_attempt, self._next_due
        live = self.cfg.source == "mempool"
        if hp is None:
            error = error or ("no live data yet and no profitability.network figures" if live
                              else "not configured: set profitability.hashprice, profitability.network "
                                   "or profitability.source: mempool")
        return {
            "source": self.cfg.source,
            "currency": self.cfg.currency,
            "hashprice": hp.to_dict() if hp else None,
            "error": hp.error if hp else error,
            "last_attempt_ts": last if live else None,
            "next_refresh_ts": (due if due else now) if live else None,
        }

    def fleet(self, records: Iterable[Any], price_main: float | None) -> dict[str, Any]:
        """Per miner: ip, name, model, hashrate_hs, power_w, revenue/cost/profit per hour, break_even; and totals.

        ``price_main`` is the electricity price in the configured currency's main unit per
        kWh (None = unknown: no cost or profit, break-even still shown).
        """
        return fleet_table(records, self.hashprice(), price_main)

    # --- refreshing -------------------------------------------------------------
    def maybe_refresh(self) -> None:
        """Scheduler job: refresh when due (interval passed, or the backoff after a failure)."""
        if self.cfg.source != "mempool" or self._closed:
            return
        if self.clock() >= self._next_due:
            self.refresh()

    def refresh(self) -> Hashprice | None:
        """Fetch the live figures now; on failure keep the last good value and back off. Returns hashprice()."""
        if self.cfg.source != "mempool" or self._closed or self._client is None:
            return self.hashprice()
        cfg = self.cfg
        started = self.clock()
        # A currency mempool.space does not price comes with a configured BTC price (validated).
        currency = cfg.currency if cfg.currency in MEMPOOL_CURRENCIES and cfg.network.btc_price is None else None
        try:
            snap = self._client.fetch(currency)
        except MempoolError as exc:
            with self._lock:
                self._failures += 1
                self._error = f"mempool.space: {exc}"
                self._last_attempt = started
                retry = min(cfg.refresh_min * 60, FIRST_RETRY_SEC * 2 ** (self._failures - 1))
                self._next_due = started + retry
            log.warning("hashprice refresh failed (%s); retry in %.0f s", exc, retry)
            return self.hashprice()
        price = snap.btc_price if snap.btc_price is not None else cfg.network.btc_price
        assert price is not None
        live = from_network(snap.difficulty, snap.subsidy_btc, snap.fees_btc, price, cfg.pool_fee_percent,
                            cfg.currency, "mempool", fetched_at=started, age_sec=0.0)
        with self._lock:
            self._live, self._error, self._failures = live, None, 0
            self._last_attempt = started
            self._next_due = started + cfg.refresh_min * 60
        log.info("hashprice %.4f %s per TH/s per day (difficulty %.4g, height %d, fees %.4f BTC/block)",
                 live.per_th_day, cfg.currency, snap.difficulty, snap.height, snap.fees_btc)
        return self.hashprice()

    def close(self) -> None:
        """Stop refreshing and close the HTTP session; safe to call twice."""
        self._closed = True
        if self._client is not None:
            self._client.close()
