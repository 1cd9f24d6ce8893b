"""PriceService: the configured source's slots, cached in memory and in prices.json, refreshed with backoff.

Stale prices are never used as fresh: when no slot covers now, or the last successful fetch
is older than prices.max_age_min, ``current()`` answers the configured default price (or
None) with ``stale`` True and the reason. No Flask here; the scheduler calls ``tick()``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from . import cache
from .config import PricesConfig
from .factory import Source, build_source
from .model import PriceNow, PriceSlot, StaticPrices, cheapest_slots
from .sources.base import Fetched, PriceError
from .units import main_factor
from .zone import Zone

log = logging.getLogger(__name__)

TICK_SEC = 30  # the scheduler job's interval; tick() decides whether a fetch is due
BACKOFF_FIRST_S = 60.0  # first retry after a failure; doubles up to refresh_min
KEEP_PAST_S = 86400.0  # slots that ended longer ago are dropped (memory and file stay small)


class PriceService:
    """Prices for the control step and GET /api/prices."""

    def __init__(self, cfg: PricesConfig, data_dir: Path | None = None, *, source: Source | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.zone = Zone(cfg.timezone)
        self.source = source if source is not None else build_source(cfg, self.zone)
        self.clock = clock
        self._lock = threading.Lock()  # guards the fields below (requests read while the job writes)
        self._refreshing = threading.Lock()  # one fetch at a time
        self._prices = self._static([], cfg.shown_unit, cfg.shown_currency)
        self._fetched_at: float | None = None
        self._saved_at: float | None = None  # fetched_at of what prices.json holds
        self._last_attempt: float | None = None
        self._failures = 0
        self._error: str | None = None
        self._path = data_dir / cache.FILE_NAME if data_dir is not None and self.source is not None else None
        self._key = cache.config_key(cfg)
        self._restore()

    @property
    def configured(self) -> bool:
        """False for prices.source none (no job, no fetch)."""
        return self.source is not None

    # --- the interface the control step calls ----------------------------------------------
    def current(self, now: float) -> PriceNow:
        """The price now, or the default price marked stale with the reason."""
        with self._lock:
            prices, fetched_at, error = self._prices, self._fetched_at, self._error
        export = self._export_main(prices.unit)
        if self.source is None:
            return prices.fallback("no price source (prices.source: none)", export)
        tail = f" (last error: {error})" if error else ""
        if fetched_at is None:
            return prices.fallback(f"no prices fetched yet{tail}", export)
        age = now - fetched_at
        if age > self.cfg.max_age_min * 60:
            return prices.fallback(f"prices are {age / 60:.0f} min old, over max_age_min {self.cfg.max_age_min:g}{tail}",
                                   export)
        price = prices.current(now)
        if price.stale:
            return prices.fallback(f"no published price covers this time{tail}", export)
        return price

    def default_main(self) -> float | None:
        """prices.default_price in main currency per kWh (None when not set): what a past hour without a slot costs."""
        with self._lock:
            prices = self._prices
        return prices.fallback("").price_main

    def slots(self) -> list[PriceSlot]:
        """The held slots (yesterday's last hours to tomorrow), in time order."""
        with self._lock:
            return self._prices.slots()

    def cheapest(self, now: float, hours: float, window: str = "day") -> bool:
        """Is ``now`` inside the ``hours`` cheapest published hours of its local day? False when stale."""
        if self.current(now).stale:
            return False
        with self._lock:
            prices = self._prices
        return prices.cheapest(now, hours, window)

    def cheapest_slots(self, now: float, hours: float, window: str = "day") -> list[PriceSlot]:
        """The slots ``cheapest`` picks from, for charts."""
        return cheapest_slots(self.slots(), now, hours, self.zone, window)

    # --- refreshing -----------------------------------------------------------------------------
    def due(self, now: float) -> bool:
        """A fetch is due: never tried, refresh_min passed, or the backoff after failures passed."""
        with self._lock:
            last, failures = self._last_attempt, self._failures
        if last is None:
            return True
        wait = self.cfg.refresh_min * 60
        if failures:
            wait = min(wait, BACKOFF_FIRST_S * 2 ** (failures - 1))
        return now - last >= wait

    def retry_in(self, now: float) -> float:
        """Seconds until the next fetch is due (0 = now)."""
        with self._lock:
            last, failures = self._last_attempt, self._failures
        if last is None:
            return 0.0
        wait = self.cfg.refresh_min * 60
        if failures:
            wait = min(wait, BACKOFF_FIRST_S * 2 ** (failures - 1))
        return max(0.0, last + wait - now)

    def tick(self) -> None:
        """The scheduler job: fetch when due."""
        if self.source is not None and self.due(self.clock()):
            self.refresh()

    def refresh(self) -> bool:
        """Fetch now; True on success. Failures keep the old slots and count toward the backoff."""
        if self.source is None:
            return False
        with self._refreshing:
            now = self.clock()
            with self._lock:
                self._last_attempt = now
            window = (self.zone.day_start(now), self.zone.next_day_start(self.zone.next_day_start(now)))
            try:
                fetched = self._checked(self.source.fetch(now, window))
            except PriceError as exc:
                self._failed(str(exc), now)
                return False
            except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the job; logged with its type
                log.exception("prices: %s fetch failed unexpectedly", self.cfg.source)
                self._failed(f"{self.cfg.source}: unexpected {type(exc).__name__}", now)
                return False
            self._succeeded(fetched, now)
            return True

    def _checked(self, fetched: Fetched) -> Fetched:
        if self.cfg.currency and fetched.currency != self.cfg.currency:
            raise PriceError(f"{self.cfg.source}: prices are in {fetched.currency}, prices.currency says {self.cfg.currency}")
        return fetched

    def _failed(self, error: str, now: float) -> None:
        with self._lock:
            self._failures += 1
            self._error = error
            failures = self._failures
        log.log(logging.WARNING if failures == 1 else logging.INFO,
                "prices: %s (failure %d; retry in %.0f s)", error, failures, self.retry_in(now))

    def _succeeded(self, fetched: Fetched, now: float) -> None:
        export = self._export_main(fetched.unit)
        slots = [s if s.export_main is not None or export is None else replace(s, export_main=export)
                 for s in fetched.slots if s.end > now - KEEP_PAST_S]
        with self._lock:
            changed = slots != self._prices.slots() or fetched.unit != self._prices.unit
            recovered = self._failures
            self._prices = self._static(slots, fetched.unit, fetched.currency)
            self._fetched_at, self._failures, self._error = now, 0, None
        if recovered:
            log.info("prices: %s fetched again after %d failures", self.cfg.source, recovered)
        # SD card: write only when the slots changed, or to keep the file's age meaningful.
        if self._path is not None and (changed or self._saved_at is None
                                       or now - self._saved_at >= self.cfg.max_age_min * 30):
            self._save(slots, fetched, now)

    # --- persistence ------------------------------------------------------------------------------
    def _save(self, slots: list[PriceSlot], fetched: Fetched, now: float) -> None:
        assert self._path is not None
        try:
            cache.save(self._path, cache.Saved(self._key, fetched.unit, fetched.currency, now, slots))
            self._saved_at = now
        except OSError as exc:
            log.warning("prices: %s not written (%s)", self._path.name, exc.strerror or type(exc).__name__)

    def _restore(self) -> None:
        if self._path is None:
            return
        saved = cache.load(self._path, self._key)
        if saved is None:
            return
        now = self.clock()
        slots = [s for s in saved.slots if s.end > now - KEEP_PAST_S]
        self._prices = self._static(slots, saved.unit, saved.currency)
        self._fetched_at = self._saved_at = saved.fetched_at

    # --- helpers ----------------------------------------------------------------------------------
    def _static(self, slots: list[PriceSlot], unit: str, currency: str) -> StaticPrices:
        return StaticPrices(slots, unit, currency, source=self.cfg.source, zone=self.zone,
                            default_price=self.cfg.default_price)

    def _export_main(self, unit: str) -> float | None:
        if self.cfg.export_price is None:
            return None
        return self.cfg.export_price * (main_factor(unit) if unit else 1.0)

    def status(self, now: float | None = None) -> dict[str, Any]:
        """The GET /api/prices body: times in ISO 8601 with offset, prices per kWh in ``unit``."""
        now = self.clock() if now is None else now
        price = self.current(now)
        with self._lock:
            prices, fetched_at, error = self._prices, self._fetched_at, self._error
        factor = main_factor(prices.unit) if prices.unit else 1.0
        body: dict[str, Any] = {
            "source": self.cfg.source,
            "currency": prices.currency,
            "unit": prices.unit,
            "now": price.price,
            "stale": price.stale,
            "reason": price.reason,
            "default_price": self.cfg.default_price,
            "slots": [{"start": self.zone.iso(s.start), "end": self.zone.iso(s.end), "price": s.price}
                      for s in prices.slots()],
            "age_sec": None if fetched_at is None else round(now - fetched_at),
            "fetched_at": None if fetched_at is None else self.zone.iso(fetched_at),
            "error": error,
            "timezone": self.zone.name or "local",
        }
        exports = [s for s in prices.slots() if s.export_main is not None]
        if exports:
            body["export"] = [{"start": self.zone.iso(s.start), "end": self.zone.iso(s.end),
                               "price": s.export_main / factor} for s in exports]
        if self.configured:
            body["next_fetch_sec"] = round(self.retry_in(now))
        return body

    def close(self) -> None:
        """Close the source's HTTP session; safe to call twice."""
        if self.source is not None:
            self.source.close()
