"""The control loop: battery reading -> PowerController decision -> PowerAllocator plan -> miner commands.

Runs as a scheduled job every ``autocontrol.tick_sec``. The controller and the
allocator make pure decisions; this module feeds them the fleet and the battery,
sends only the settings that changed (through FleetManager.command, so every
command is an event with actor "controller"), and keeps what must survive a
restart (the controller's latch and overrides, each miner's command history) in
the database's state table. While autocontrol is disabled it still decides, so
the dashboard shows what it would do, but nothing is sent.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any, Callable

from database import queries
from database.db import Database
from miners.base import MinerError
from services.config import Config
from services.fleet import FleetManager
from services.power import PowerController, apply_command
from services.power.allocator import MinerHistory, PowerAllocator, miner_input, record_commands

log = logging.getLogger(__name__)

HISTORY_KEY = "autocontrol.miner_history"
ACTOR = "controller"


class DbStore:
    """The controller's StateStore on the database's ``state`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> Any:
        """The stored value, or None."""
        return queries.get_state(self.db.conn(), key)

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-able value."""
        queries.set_state(self.db.conn(), key, value)


class AutoControl:
    """One tick = one decision and, when enabled, the commands that change a miner's setting."""

    def __init__(self, config: Config, db: Database, fleet: FleetManager,
                 reading: Callable[[], Any], *, notify: Callable[[dict], None] | None = None) -> None:
        self.config = config
        self.fleet = fleet
        self.store = DbStore(db)
        self.controller = PowerController(config.autocontrol, self.store)
        self.allocator = PowerAllocator()
        self._reading = reading
        self._notify = notify or fleet.notify
        self._lock = threading.Lock()
        self._last_reason: str | None = None
        self.last_plan: dict[str, Any] | None = None
        saved = self.store.get(HISTORY_KEY) or {}
        self.history: dict[str, MinerHistory] = {ip: MinerHistory(**h) for ip, h in saved.items()}

    def _miner_age_limit(self) -> float:
        # A miner whose last good read is older than three poll rounds is not commanded.
        return 3 * self.config.polling.interval_sec

    def tick(self, now: float | None = None) -> dict[str, Any]:
        """Decide, and (when enabled) send the changed settings; returns the status body."""
        with self._lock:
            now = time.time() if now is None else now
            inputs = [miner_input(r, now, self._miner_age_limit()) for r in self.fleet.records()]
            stats = self.fleet.stats()
            decision = self.controller.tick(self._reading(), now, rated_w=self.allocator.rated_w(inputs),
                                            fleet_w=stats["power_w"])
            if decision.reason != self._last_reason:
                self.fleet.event("autocontrol", decision.reason + ("" if decision.enabled else " (autocontrol off)"),
                                 actor=ACTOR)
                self._last_reason = decision.reason
            if decision.enabled:
                self._apply(inputs, decision, now)
            body = self.status()
        self._notify({"type": "autocontrol", **body})
        return body

    def _apply(self, inputs: list, decision: Any, now: float) -> None:
        pinned = {ip: o.percent for ip, o in self.controller.state.miner_overrides.items()}
        plan = self.allocator.allocate(inputs, self.history, now, target_percent=decision.target_percent,
                                       urgent=decision.emergency or decision.failsafe, lowest=decision.lowest,
                                       pinned_percent=pinned)
        self.last_plan = plan.to_dict()
        done = []
        for setting in plan.settings:
            try:
                self.fleet.command(setting.ip, setting.action, *setting.args, actor=ACTOR)
            except (MinerError, ValueError, KeyError) as exc:
                # Not recorded as done: the next tick plans it again (the event says why it failed).
                log.info("%s: %s not applied: %s", setting.ip, setting.action, exc)
                continue
            done.append(setting)
        if done:
            self.history = record_commands(self.history, done, now)
            self.store.set(HISTORY_KEY, {ip: dataclasses.asdict(h) for ip, h in self.history.items()})

    def status(self) -> dict[str, Any]:
        """GET /api/autocontrol: the controller's state and last decision, plus the last plan."""
        body = self.controller.status()
        body["plan"] = self.last_plan
        return body

    def command(self, body: Any, by: str) -> dict[str, Any]:
        """POST /api/autocontrol: enable/disable, policy, overrides (ValueError names a bad field)."""
        with self._lock:
            apply_command(self.controller, body, by=by)
        self.fleet.event("autocontrol", f"settings changed: {sorted(body)}", actor=by)
        return self.status()
