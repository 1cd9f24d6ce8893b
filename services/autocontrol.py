"""The control loop: battery reading -> PowerController decision -> PowerAllocator plan -> miner commands.

Runs as a scheduled job every ``autocontrol.tick_sec``. The controller and the
allocator make pure decisions; this module feeds them the fleet and the battery,
sends only the settings that changed (through FleetManager.command, so every
command is an event with actor "controller"), and keeps what must survive a
restart (the controller's latch and overrides, each miner's command history) in
the database's state table. While autocontrol is disabled it still decides, so
the dashboard shows what it would do, but nothing is sent.

Safety per miner: a miner at or above its temperature limit is pinned to 0 %
(asleep, or its lowest setting when it cannot sleep) above any manual override,
until it has cooled by ``overheat_resume_delta_c`` (services/power/overheat.py);
when every controllable online miner is overheated the fleet decision itself is
"overheating -> off". Config per miner (``miners:``): nominal_w/min_w/max_w reach
the allocator, and ``autocontrol: false`` makes a miner a fixed load that is
never commanded. Overheat stops are sent only while autocontrol is enabled;
while disabled the status and the events show which miners would be stopped.
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
from services.config import AutocontrolConfig, Config, MinerEntry
from services.fleet import FleetManager
from services.power import PowerController, apply_command
from services.power.allocator import (AllocatorSettings, MinerHistory, MinerInput, PowerAllocator, miner_input,
                                      record_commands)
from services.power.overheat import OVERHEAT_KEY, OverheatTracker, default_limit_c

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


def allocator_settings(cfg: AutocontrolConfig) -> AllocatorSettings:
    """The allocator's timers from config (autocontrol.grace_sec, min_on_sec, min_off_sec)."""
    return AllocatorSettings(grace_sec=float(cfg.grace_sec), min_on_sec=float(cfg.min_on_sec),
                             min_off_sec=float(cfg.min_off_sec))


def _power_overrides(entry: MinerEntry | None) -> dict[str, float]:
    """The config's nominal_w/min_w/max_w for one miner (only the ones set)."""
    if entry is None:
        return {}
    return {k: float(v) for k in ("nominal_w", "min_w", "max_w") if (v := getattr(entry, k)) is not None}


def _as_fixed_load(miner: MinerInput) -> MinerInput:
    # autocontrol: false -> no capabilities: the allocator counts the miner as an always-on load
    # at its measured power (so a percent target still means the whole fleet, and the surplus
    # policy, which sees every miner's watts in fleet_w, does not hand its draw out twice) and
    # never emits a setting for it.
    return dataclasses.replace(miner, capabilities=frozenset(), modes=())


class AutoControl:
    """One tick = one decision and, when enabled, the commands that change a miner's setting."""

    def __init__(self, config: Config, db: Database, fleet: FleetManager,
                 reading: Callable[[], Any], *, notify: Callable[[dict], None] | None = None) -> None:
        self.config = config
        self.fleet = fleet
        self.store = DbStore(db)
        self.controller = PowerController(config.autocontrol, self.store)
        self.allocator = PowerAllocator(allocator_settings(config.autocontrol))
        self.entries: dict[str, MinerEntry] = {m.ip: m for m in config.miners}
        self.overheat = OverheatTracker.from_json(self.store.get(OVERHEAT_KEY))
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

    def _controlled(self, ip: str) -> bool:
        entry = self.entries.get(ip)
        return entry is None or entry.autocontrol

    def tick(self, now: float | None = None) -> dict[str, Any]:
        """Decide, and (when enabled) send the changed settings; returns the status body."""
        with self._lock:
            now = time.time() if now is None else now
            records = self.fleet.records()
            inputs = []
            for r in records:
                miner = miner_input(r, now, self._miner_age_limit(), overrides=_power_overrides(self.entries.get(r.ip)))
                inputs.append(miner if self._controlled(r.ip) else _as_fixed_load(miner))
            enabled = self.controller.state.enabled
            hot = self._check_overheat(records, inputs, now, enabled)
            controllable = [m for m in inputs if m.online and self._controlled(m.ip)]
            every_hot = bool(controllable) and all(m.ip in hot for m in controllable)
            stats = self.fleet.stats()
            decision = self.controller.tick(self._reading(), now, rated_w=self.allocator.rated_w(inputs),
                                            fleet_w=stats["power_w"], overheating=every_hot)
            if decision.reason != self._last_reason:
                self.fleet.event("autocontrol", decision.reason + ("" if decision.enabled else " (autocontrol off)"),
                                 actor=ACTOR)
                self._last_reason = decision.reason
            if decision.enabled:
                self._apply(inputs, decision, now, hot)
            body = self.status()
        self._notify({"type": "autocontrol", **body})
        return body

    def _check_overheat(self, records: list, inputs: list[MinerInput], now: float, enabled: bool) -> set[str]:
        """Feed the tracker one temperature per controlled miner; events on trip/clear; the IPs overheated now."""
        cfg = self.config.autocontrol
        fresh = {m.ip for m in inputs if m.online}
        changed = self.overheat.retain(r.ip for r in records if self._controlled(r.ip))
        for r in records:
            if not self._controlled(r.ip):
                continue
            entry = self.entries.get(r.ip)
            limit = entry.max_temp_c if entry is not None and entry.max_temp_c is not None else cfg.overheat_c
            limit = default_limit_c(r.family) if limit is None else limit
            # A stale reading is no news: unknown never trips a miner and never clears one.
            temp = r.status.temp_c if r.status is not None and r.ip in fresh else None
            model = (r.status.model if r.status is not None and r.status.model else r.model) or r.family
            change = self.overheat.update(r.ip, temp, limit, cfg.overheat_resume_delta_c, now, f"{model} {r.ip}")
            if change is None:
                continue
            changed = True
            off = "" if enabled else (" (autocontrol off: not stopped)" if change.tripped else " (autocontrol off)")
            self.fleet.event("overheat", change.text + off, miner_ip=r.ip, actor=ACTOR)
        if changed:
            self.store.set(OVERHEAT_KEY, self.overheat.to_json())
        return self.overheat.overheated()

    def _apply(self, inputs: list[MinerInput], decision: Any, now: float, hot: set[str]) -> None:
        pinned = {ip: o.percent for ip, o in self.controller.state.miner_overrides.items()}
        # Safety above any manual override: overheated miners sleep (or go to their lowest setting
        # without sleep) now; neither the grace window nor the minimum on-time holds them on.
        plan = self.allocator.allocate(inputs, self.history, now, target_percent=decision.target_percent,
                                       urgent=decision.emergency or decision.failsafe, lowest=decision.lowest,
                                       pinned_percent=pinned, safety_off=hot)
        self.last_plan = self._explain(plan.to_dict(), hot)
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

    def _explain(self, plan: dict[str, Any], hot: set[str]) -> dict[str, Any]:
        """The plan with the real reasons for overheated and autocontrol: false miners."""
        for miner in plan["miners"]:
            ip = miner["ip"]
            if ip in hot:
                miner["explanation"] = f"overheated: {self.overheat.reason(ip)}; {miner['explanation']}"
            elif not self._controlled(ip):
                miner["explanation"] = ("autocontrol: false in config: never commanded, counted as a fixed load"
                                        f" ({miner['expected_w']:g} W)")
        for setting in plan["settings"]:
            if setting["ip"] in hot:
                setting["reason"] = f"overheated: {self.overheat.reason(setting['ip'])}; {setting['reason']}"
        return plan

    def status(self) -> dict[str, Any]:
        """GET /api/autocontrol: the controller's state and last decision, plus the last plan."""
        body = self.controller.status()
        body["plan"] = self.last_plan
        body["overheated"] = self.overheat.status()
        return body

    def command(self, body: Any, by: str) -> dict[str, Any]:
        """POST /api/autocontrol: enable/disable, policy, overrides (ValueError names a bad field)."""
        with self._lock:
            apply_command(self.controller, body, by=by)
        self.fleet.event("autocontrol", f"settings changed: {sorted(body)}", actor=by)
        return self.status()
