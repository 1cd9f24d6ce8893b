"""Reads the house battery on a schedule, stores new readings and says how the source is doing.

The source is created from ``battery.*`` (again when the Settings page changes them:
``reconfigure``) and read by the scheduler, never by a request (an EG4 portal call can block
for seconds). A reading is stored only when the
device's measurement time moved: cloud sources hand back their cached reading between
portal requests, and storing it again would fake a steady line on the chart.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from services.battery import BatteryError
from services.battery.config import BatteryConfig
from services.battery.factory import make_source
from services.battery.none import NOT_CONFIGURED
from services.config import Config
from services.history import History

log = logging.getLogger(__name__)


def _source_part(cfg: BatteryConfig) -> tuple:
    """What the source is built from: its kind, the limits every source checks, and its own section."""
    return (cfg.source, cfg.max_age_sec, cfg.max_soc_rate_pct_per_min, cfg.max_power_w, getattr(cfg, cfg.source, None))


class BatteryMonitor:
    """Owns the battery source: poll job, storage, status for the API."""

    def __init__(self, config: Config, history: History, *,
                 fleet_power_w: Callable[[], float | None] | None = None,
                 event: Callable[..., None] | None = None) -> None:
        self.config = config
        self.history = history
        self.source = make_source(config)
        self._fleet_power_w = fleet_power_w
        self._event = event
        self._stored_at: float | None = None
        self._was_connected: bool | None = None
        self.last_error: str | None = None  # why the last read failed (None after a good one)
        self.lost_since: float | None = None  # the first failed read of the current outage
        self._lock = threading.Lock()

    def poll(self) -> None:
        """One scheduled read: hand the miners' load to a simulated house, read, store, log transitions."""
        if not self.configured:
            return  # no battery: nothing to read, and "battery lost" would be a false alarm
        with self._lock:
            if self._fleet_power_w is not None and hasattr(self.source, "set_extra_load"):
                self.source.set_extra_load(self._fleet_power_w() or 0.0)  # the simulated house feels the miners
            try:
                reading = self.source.read()
            except BatteryError as exc:
                self._transition(False, str(exc))
                return
            if reading.measured_at != self._stored_at:
                self.history.add_battery(reading, time.time())  # buffered (services/history.py)
                self._stored_at = reading.measured_at
            self._transition(True, f"{reading.source}: SOC {reading.soc_pct:.0f}%")

    def _transition(self, connected: bool, message: str) -> None:
        self.last_error = None if connected else message
        if connected:
            self.lost_since = None
        elif self.lost_since is None:
            self.lost_since = time.time()
        if connected == self._was_connected:
            return
        if self._was_connected is not None or not connected:
            kind = "battery_connected" if connected else "battery_lost"
            if self._event:
                self._event(kind, message)
            else:
                log.info("%s: %s", kind, message)
        self._was_connected = connected

    def reconfigure(self, config: Config) -> bool:
        """Move onto ``config``'s battery section (the Settings page); True when the source was rebuilt.

        The new source starts with no reading, so the controller holds its stale-data fail-safe
        until the first read: a reading of the old source is never passed off as the new one's.
        The old source is closed after the swap (its MQTT thread, its portal session).
        """
        if _source_part(config.battery) == _source_part(self.config.battery):
            self.config = config  # poll_sec (the job's), or another source's keys: the source stays
            return False
        source = make_source(config)  # validated with the rest of the file before it was saved
        with self._lock:  # not during a read of the old source
            old, self.source, self.config = self.source, source, config
            self._stored_at = self._was_connected = self.last_error = self.lost_since = None
        try:
            old.close()
        except Exception as exc:  # noqa: BLE001 - a broken old connection must not keep the new source out
            log.warning("battery: closing the previous source failed: %s", exc)
        log.info("battery source now %s", config.battery.source)
        return True

    def snapshot(self) -> dict[str, Any]:
        """GET /api/battery: the last reading, its age, the source status (never a secret)."""
        source = self.source  # one source for the whole answer, even during a reconfigure
        reading = source.last_reading
        status = source.status().to_dict()
        age = time.time() - reading.measured_at if reading else None
        configured = self.configured
        if not configured:
            status["last_error"] = NOT_CONFIGURED
        return {"reading": reading.to_dict() if reading else None,
                "age_sec": round(age, 1) if age is not None else None,
                "simulated": self.config.battery.source == "simulated",
                "configured": configured,
                "status": status}

    @property
    def connected(self) -> bool | None:
        """Whether the last read worked (None: not read yet)."""
        return self._was_connected

    @property
    def configured(self) -> bool:
        """False for ``battery.source: none`` (no battery: nothing to read, no battery rules)."""
        return self.config.battery.source != "none"

    def close(self) -> None:
        """Release the source's connections."""
        self.source.close()
