"""Prometheus metrics of one controller (GET /metrics, web/metrics.py; docs/metrics.md).

``Metrics(runtime)`` owns a registry of its own: a collector that reads the runtime's
in-memory state at scrape time, and the poll-round histogram. No Flask here.
"""

from services.metrics.catalogue import POLL_HISTOGRAM, SPECS, Spec
from services.metrics.service import CONTENT_TYPE, Metrics

__all__ = ["CONTENT_TYPE", "Metrics", "POLL_HISTOGRAM", "SPECS", "Spec"]
