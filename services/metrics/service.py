"""The app's own Prometheus registry: the runtime collector plus the poll-round histogram.

One registry per Runtime (never prometheus_client's global REGISTRY), so two apps in one
process, and the tests, never clash over names. The histogram is the only metric fed from
the poll loop: FleetManager calls its listeners after every round, and the listener reads the
summary FleetManager already keeps (``last_round``: full rounds only, its ``duration_s``), so
polling needs no change and a listener error is caught by FleetManager.notify.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

from services.metrics.catalogue import POLL_BUCKETS, POLL_HISTOGRAM
from services.metrics.collector import RuntimeCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST  # text exposition format 0.0.4


class Metrics:
    """What GET /metrics serves for one Runtime."""

    def __init__(self, runtime: Any) -> None:
        self.registry = CollectorRegistry()
        self.site: str = runtime.config.site
        self._fleet = runtime.fleet
        self.collector = RuntimeCollector(runtime)
        self.registry.register(self.collector)
        self.poll_duration = Histogram(POLL_HISTOGRAM, "Duration of full poll rounds (every miner) in seconds",
                                       ["site"], registry=self.registry, buckets=POLL_BUCKETS)
        self.poll_duration.labels(self.site)  # the series exists (count 0) before the first round
        self._seen_round: float | None = None
        self._lock = threading.Lock()
        runtime.fleet.subscribe(self.on_round)

    def on_round(self, _message: dict) -> None:
        """FleetManager listener: observe a full round's duration once (partial rounds leave last_round alone)."""
        summary = self._fleet.last_round  # replaced, never changed in place: one consistent dict
        ts = summary.get("ts")
        with self._lock:
            if ts is None or ts == self._seen_round:
                return
            self._seen_round = ts
        self.poll_duration.labels(self.site).observe(float(summary.get("duration_s", 0.0)))

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (CONTENT_TYPE)."""
        return generate_latest(self.registry)
