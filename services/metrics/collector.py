"""The custom collector: every family is built from the runtime's in-memory state when Prometheus scrapes.

Nothing here is updated by the poll thread (except the poll histogram, services/metrics/service.py),
so a scrape never waits for a poll round and a removed miner's series are gone at the next scrape.
No section does I/O: each reads what the runtime already holds.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from services.metrics.catalogue import SPECS, family
from services.metrics.controller import alert_families, battery_families, control_families, price_families
from services.metrics.miners import fleet_families, miner_families

log = logging.getLogger(__name__)


class RuntimeCollector(Collector):
    """Reads a Runtime (fleet, battery, autocontrol, prices, alerts) at each collect()."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.site: str = runtime.config.site
        self._failed: set[str] = set()  # sections that failed, logged once each until they work again

    def describe(self) -> Iterable[Metric]:
        """The families this collector may yield (so the registry refuses a clashing name)."""
        return [family(name) for name in SPECS]

    def collect(self) -> Iterable[Metric]:
        """Every section's families; a section that raises is logged and left out, the others still export."""
        rt, site = self.runtime, self.site
        records = rt.fleet.records()
        sections: tuple[tuple[str, Callable[[], list[Metric]]], ...] = (
            ("miners", lambda: miner_families(records, site)),
            ("fleet", lambda: fleet_families(rt.fleet.stats(), records, dict(rt.fleet.failed_polls), site)),
            ("controller", lambda: [self._polling()]),
            ("battery", lambda: battery_families(rt.battery, site)),
            ("control", lambda: control_families(rt.autocontrol.status(), site)),
            ("price", lambda: price_families(rt.prices.current(time.time()), site)),
            ("alerts", lambda: alert_families(rt.alerts.alerts(), site)),
        )
        for name, build in sections:
            try:
                families = build()
            except Exception:  # noqa: BLE001 - one broken part must not cost the scrape every other metric
                if name not in self._failed:
                    log.exception("metrics: the %s section failed; left out of /metrics", name)
                self._failed.add(name)
                continue
            self._failed.discard(name)
            yield from families

    def _polling(self) -> Metric:
        fam = family("minerfleet_controller_polling")
        fam.add_metric([self.site], 0.0 if self.runtime.read_only else 1.0)
        return fam
