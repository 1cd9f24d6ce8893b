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
"overheating -> off". Per miner (its settings from the browser/API, else its
``miners:`` entry; services/miner_settings.py): nominal_w/min_w/max_w reach the
allocator, max_temp_c is its overheat limit, and ``autocontrol: false`` makes a
miner a fixed load that is never commanded; a disabled miner is left out. Overheat stops are sent only while the controller commands
(autocontrol enabled, or an EMS dispatch engaged); otherwise the status and the
events show which miners would be stopped.

EMS dispatch (services/ems, docs/EMS.md): while the EMS holds the fleet (a
dispatch is active, or it deactivated the fleet) the controller commands even
with autocontrol disabled; the dispatched kW go to the allocator as watts
(``target_w``), plus the draw of always-on loads. A change of dispatch makes the
next tick immediate (no grace window or minimum on/off time holds a miner at its
old level) and ``kick()`` runs that tick at once on a background thread, so the
web request never waits for the miners. The settings of one plan go out in
parallel, one task per miner (its own settings in order), on a small pool of
our own: the tasks wait on FleetManager's executor, so running them on that
executor could starve it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from database import queries
from database.db import Database
from miners.base import MinerError
from services.config import Config, MinerEntry
from services.control import ControlState, MinerTemp, PriceInput, StepInputs, StepResult, step
from services.control.facts import MinerFactsTracker
from services import miner_settings
from services.fleet import FleetManager, UnknownMiner
from services.power import PowerController, apply_command
from services.ems import ACTIVE, EmsDispatcher
from services.power.allocator import (MinerHistory, MinerInput, MinerSetting, PowerAllocator, miner_input)
from services.power.learned import NominalLog
from services.pools import prestart
from services.power.safety import OVERHEAT_KEY, OverheatTracker, overheat_limit

log = logging.getLogger(__name__)

HISTORY_KEY = "autocontrol.miner_history"
ACTOR = "controller"
RULES_ACTOR = "rules"
# A rule's one-off action -> the FleetManager command. "pool" (switch to pool N) waits for the
# pool library (issue 15): the drivers set whole pool lists, and switching needs the passwords.
RULE_ACTIONS = {"restart": "restart", "mode": "set_mode", "watts": "set_power_watts"}
MAX_COMMAND_THREADS = 32  # miners commanded at once (each also needs a FleetManager executor thread)


def _event_key(decision: Any) -> tuple:
    """What makes a decision worth an event: who decides, the ratchet's cap, the safety states."""
    return (decision.enabled, decision.policy, decision.layer, decision.rule, decision.cap_percent, decision.failsafe,
            decision.emergency, decision.lowest, decision.alert is not None, decision.night)


def _layers(result: StepResult) -> dict[str, Any]:
    """What the lower layers did this step, for GET /api/autocontrol: per-miner pins and the price band."""
    band = None if result.price is None else result.price.band
    return {"pins": {ip: {"percent": percent, "by": by} for ip, (percent, by) in sorted(result.pins.items())},
            "price_band": None if band is None else {"floor_percent": band.floor, "ceiling_percent": band.ceiling,
                                                     "floor_reason": band.floor_reason,
                                                     "ceiling_reason": band.ceiling_reason,
                                                     "grid_hold": result.price.hold}}


class DbStore:
    """The controller's StateStore on the database's ``state`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str) -> Any:
        """The stored value, or None."""
        with self.db.read() as conn:
            return queries.get_state(conn, key)

    def set(self, key: str, value: Any) -> None:
        """Store a JSON-able value."""
        with self.db.write() as conn:
            queries.set_state(conn, key, value)


def _power_overrides(limits: dict[str, Any]) -> dict[str, float]:
    """A miner's nominal_w/min_w/max_w in effect (only the ones set: the model table fills the rest)."""
    return {k: float(v) for k in ("nominal_w", "min_w", "max_w") if (v := limits.get(k)) is not None}


def _as_fixed_load(miner: MinerInput) -> MinerInput:
    # autocontrol: false -> no capabilities: the allocator counts the miner as an always-on load
    # at its measured power (so a percent target still means the whole fleet, and the surplus
    # policy, which sees every miner's watts in fleet_w, does not hand its draw out twice) and
    # never emits a setting for it.
    return dataclasses.replace(miner, capabilities=frozenset(), modes=())


class AutoControl:
    """One tick = one decision and, when enabled, the commands that change a miner's setting."""

    def __init__(self, config: Config, db: Database, fleet: FleetManager,
                 reading: Callable[[], Any], *, notify: Callable[[dict], None] | None = None,
                 prices: Any = None, profitability: Any = None, rules: Any = None) -> None:
        """prices (PriceService), profitability (ProfitabilityService), rules (RuleBook): optional layers' inputs."""
        self.config = config
        self.prices = prices
        self.profitability = profitability
        self.rules = rules
        self.facts = MinerFactsTracker()
        self.last_facts: dict[str, Any] = {}  # the last tick's per-miner facts (the alerts read the 1-h average)
        self.commanding = False  # the last tick's plan went to the miners (autocontrol on, or the EMS holds them)
        self.fleet = fleet
        self.store = DbStore(db)
        saved = self.store.get(HISTORY_KEY) or {}
        self.state = ControlState.create(config.autocontrol, self.store,
                                         overheat=OverheatTracker.from_json(self.store.get(OVERHEAT_KEY)),
                                         history={ip: MinerHistory(**h) for ip, h in saved.items()})
        self.entries: dict[str, MinerEntry] = {m.ip: m for m in config.miners}
        # Nominal power of models the table does not know, learned at full setting (services/power/learned.py);
        # the Runtime adds it to the history flush's companions, which write it when a value rose.
        self.nominals = NominalLog(db)
        self._reading = reading
        self._notify = notify or fleet.notify
        self._lock = threading.Lock()
        self._last_reason: str | None = None
        self._last_event_key: tuple | None = None
        self.last_plan: dict[str, Any] | None = None
        self.last_layers: dict[str, Any] = {"pins": {}, "price_band": None}
        self.ems = EmsDispatcher(config.ems, self.store, event=fleet.event)
        self._ems_held: str | None = None  # why the dispatch is held back (event on change)
        self._pool_size = max(1, min(MAX_COMMAND_THREADS, config.polling.workers))
        self._pool = ThreadPoolExecutor(max_workers=self._pool_size, thread_name_prefix="autocontrol-cmd")
        self._kicker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autocontrol-kick")
        self._kick_lock = threading.Lock()
        self._kick_pending = False

    @property
    def controller(self) -> PowerController:
        """The PowerController (latch, overrides, timers) inside the control state."""
        return self.state.controller

    @property
    def allocator(self) -> PowerAllocator:
        """The PowerAllocator inside the control state."""
        return self.state.allocator

    @property
    def overheat(self) -> OverheatTracker:
        """The overheat trips inside the control state."""
        return self.state.overheat

    @property
    def history(self) -> dict[str, MinerHistory]:
        """What was last commanded to each miner and when."""
        return self.state.history

    def _miner_age_limit(self) -> float:
        # A miner whose last good read is older than three poll rounds is not commanded.
        return 3 * self.config.polling.interval_sec

    def miner_limits(self, record: Any) -> dict[str, Any]:
        """nominal_w, min_w, max_w, max_temp_c, autocontrol for one miner: its settings, else its config entry."""
        return miner_settings.in_effect(record, self.entries.get(record.ip))

    def controlled(self, record: Any) -> bool:
        """False for a miner whose autocontrol is off (settings or config): never commanded, a fixed load."""
        return bool(self.miner_limits(record)["autocontrol"])

    def _controlled(self, ip: str) -> bool:
        try:
            return self.controlled(self.fleet.get(ip))
        except UnknownMiner:  # removed since the plan was made
            entry = self.entries.get(ip)
            return entry is None or entry.autocontrol

    @property
    def has_battery(self) -> bool:
        """False for battery.source none: the battery rules do not apply."""
        return self.config.battery.source != "none"

    def reading(self) -> Any:
        """The battery's last reading (None when there is none)."""
        return self._reading()

    def inputs(self, now: float) -> tuple[list, list[MinerInput]]:
        """The enabled miners' records and the allocator's view of them (autocontrol: false miners as fixed loads).

        A disabled miner (its settings) is left out altogether: it is not polled, so it has no
        reading, and it is never commanded.
        """
        records = [r for r in self.fleet.records() if r.enabled]
        inputs = []
        for r in records:
            limits = self.miner_limits(r)
            self.nominals.observe(r, self.state.history.get(r.ip, MinerHistory()), now,
                                  self.config.autocontrol.grace_sec)
            miner = miner_input(r, now, self._miner_age_limit(), overrides=_power_overrides(limits),
                                learned_w=self.nominals.get(r.id))
            inputs.append(miner if limits["autocontrol"] else _as_fixed_load(miner))
        return records, inputs

    def step_inputs(self, records: list, inputs: list[MinerInput], now: float) -> StepInputs:
        """The control step's inputs from the last poll round, the battery's reading and the EMS."""
        fresh = {m.ip for m in inputs if m.online}
        temps = []
        for r in records:
            if not self.controlled(r):
                continue
            limit = self.limit_c(r)
            # A stale reading is no news: unknown never trips a miner and never clears one.
            temp = r.status.temp_c if r.status is not None and r.ip in fresh else None
            model = (r.status.model if r.status is not None and r.status.model else r.model) or r.family
            temps.append(MinerTemp(r.ip, temp, limit, f"{model} {r.ip}"))
        rules = self.rules
        return StepInputs(reading=self._reading(), miners=tuple(inputs),
                          controlled=frozenset(r.ip for r in records if self.controlled(r)),
                          temps=tuple(temps), fleet_w=self.fleet.stats()["power_w"], has_battery=self.has_battery,
                          ems_w=self.ems.target_w(), ems_generation=self.ems.state.generation,
                          price=self._price(now),
                          hashprice=None if self.profitability is None else self.profitability.hashprice(now),
                          rules=rules.evaluate if rules is not None and rules.rules() else None,
                          facts=self._facts(records, now, fresh))

    def _facts(self, records: list, now: float, fresh: set[str]) -> dict[str, Any]:
        self.last_facts = self.facts.update(records, now, fresh=fresh)
        return self.last_facts

    def limit_c(self, record: Any) -> float | None:
        """A miner's overheat limit: its max_temp_c (settings, else config), else autocontrol.overheat_c, else its family's."""
        return overheat_limit(self.miner_limits(record)["max_temp_c"], self.config.autocontrol.overheat_c,
                              record.family)

    def _price(self, now: float) -> PriceInput | None:
        """The price now from the price service (None without a price source)."""
        prices = self.prices
        if prices is None or not prices.configured:
            return None
        p = prices.current(now)
        return PriceInput(price=p.price, price_main=p.price_main, export_main=p.export_price_main, unit=p.unit,
                          stale=p.stale, reason=p.reason, cheapest=lambda hours: prices.cheapest(now, hours))

    def tick(self, now: float | None = None) -> dict[str, Any]:
        """Decide, and (when enabled or the EMS holds the fleet) send the changed settings; returns the status body."""
        with self._lock:
            now = time.time() if now is None else now
            self.ems.expire(now)
            records, inputs = self.inputs(now)
            result = step(self.step_inputs(records, inputs, now), self.state, now)
            self._report(result)
            if result.plan is not None:
                self.last_plan = self._explain(result.plan.to_dict(), result.hot)
                done = self._send(result.plan.settings)
                if done:
                    self.state.record(done, now)
                    self.store.set(HISTORY_KEY, self.state.history_json())
            self._rule_commands(result)
            self.last_layers = _layers(result)
            body = self.status()
        self._notify({"type": "autocontrol", **body})
        return body

    def _rule_commands(self, result: StepResult) -> None:
        """Send the rules' one-off commands (restart, mode, watts) while the controller commands; events say why not.

        They are not recorded in the allocator's history: a mode or power limit a rule set
        stands until the controller's own plan for that miner changes.
        """
        send = []
        for c in result.commands:
            action = RULE_ACTIONS.get(c.action)
            if result.commanding and action is not None:
                send.append(MinerSetting(c.ip, action, c.value, f"rule {c.rule}"))
                continue
            why = "autocontrol is off" if not result.commanding else f"the {c.action} action is not supported yet"
            self.fleet.event("rule", f"{c.rule}: {c.action} on {c.ip} not sent: {why}", miner_ip=c.ip,
                             actor=RULES_ACTOR)
        if send:
            self._send(tuple(send), actor=RULES_ACTOR)  # in parallel on the command pool, like the plan's settings

    def _report(self, result: StepResult) -> None:
        """Events and log lines for what the step changed: overheat trips, the decision, a held-back dispatch."""
        commanding = self.commanding = result.commanding
        for change in result.overheat_changes:
            off = "" if commanding else (" (autocontrol off: not stopped)" if change.tripped else " (autocontrol off)")
            self.fleet.event("overheat", change.text + off, miner_ip=change.ip, actor=ACTOR)
        if result.overheat_changed:
            self.store.set(OVERHEAT_KEY, self.overheat.to_json())
        decision = result.decision
        if decision.reason != self._last_reason:
            log.info("autocontrol: %s", decision.reason)
            self._last_reason = decision.reason
        if _event_key(decision) != self._last_event_key:
            # An event when what the controller does changes, not each time the SOC in its reason
            # moves: that wrote an event every tick (30 s) on a discharging battery, autocontrol
            # off or on, and buried real changes in the log.
            off = "" if decision.enabled else (" (autocontrol off; the EMS holds the fleet)" if commanding
                                               else " (autocontrol off)")
            self.fleet.event("autocontrol", decision.reason + off, actor=ACTOR)
            self._last_event_key = _event_key(decision)
        self._note_ems_held(decision)

    def kick(self) -> None:
        """Run one tick now on a background thread (the caller does not wait); kicks while one waits coalesce."""
        with self._kick_lock:
            if self._kick_pending:
                return
            self._kick_pending = True
        try:
            self._kicker.submit(self._kicked)
        except RuntimeError:  # shut down: the app is stopping
            with self._kick_lock:
                self._kick_pending = False

    def _kicked(self) -> None:
        with self._kick_lock:
            self._kick_pending = False
        try:
            self.tick()
        except Exception:  # noqa: BLE001 - the scheduled tick tries again
            log.exception("autocontrol tick (kicked) failed")

    def wait_kicked(self, timeout: float = 30.0) -> None:
        """Block until a tick kicked before this call has finished (tests, bench/ems_dispatch.py)."""
        self._kicker.submit(lambda: None).result(timeout=timeout)

    def start_threads(self) -> None:
        """Start the command pool's and the kicker's threads now (the served app: threads flat from the start)."""
        prestart(self._pool, self._pool_size)
        prestart(self._kicker, 1)

    def close(self) -> None:
        """Stop the kick thread and the command pool, waiting for commands in flight."""
        self._kicker.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True)

    def _note_ems_held(self, decision: Any) -> None:
        """An event when safety or an override starts (or stops) holding back an engaged dispatch."""
        held = None
        if self.ems.engaged and decision.source in ("safety", "override"):
            held = decision.reason
        if held == self._ems_held:
            return
        if held is not None:
            self.fleet.event("ems", f"EMS dispatch ({self.ems.describe()}) held back by "
                                    f"{'safety' if decision.source == 'safety' else 'a manual override'}: {held}",
                             actor=ACTOR)
        elif self._ems_held is not None and self.ems.engaged:
            self.fleet.event("ems", f"EMS dispatch applies again: {self.ems.describe()}", actor=ACTOR)
        self._ems_held = held

    def _send(self, settings: tuple[MinerSetting, ...], actor: str = ACTOR) -> list[MinerSetting]:
        """Send the settings, miners in parallel (each miner's own in order); the ones that succeeded."""
        per_miner: dict[str, list[MinerSetting]] = {}
        for setting in settings:
            per_miner.setdefault(setting.ip, []).append(setting)
        futures = [self._pool.submit(self._send_one_miner, group, actor) for group in per_miner.values()]
        # Each fleet.command has its own deadline, so this wait is bounded.
        return [s for future in futures for s in future.result()]

    def _send_one_miner(self, settings: list[MinerSetting], actor: str) -> list[MinerSetting]:
        done = []
        for setting in settings:
            try:
                self.fleet.command(setting.ip, setting.action, *setting.args, actor=actor)
            except (MinerError, ValueError, KeyError) as exc:
                # Not recorded as done: the next tick plans it again (the event says why it failed).
                log.info("%s: %s not applied: %s", setting.ip, setting.action, exc)
                continue
            except Exception:  # noqa: BLE001 - one driver's bug must not lose the other miners' results
                log.exception("%s: %s crashed", setting.ip, setting.action)
                continue
            done.append(setting)
        return done

    def _explain(self, plan: dict[str, Any], hot: set[str]) -> dict[str, Any]:
        """The plan with the real reasons for overheated and autocontrol: false miners."""
        for miner in plan["miners"]:
            ip = miner["ip"]
            if ip in hot:
                miner["explanation"] = f"overheated: {self.overheat.reason(ip)}; {miner['explanation']}"
            elif not self._controlled(ip):
                miner["explanation"] = ("autocontrol: false (miner settings or config): never commanded, "
                                        "counted as a fixed load"
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
        st = self.ems.state
        body["ems"] = {"state": st.mode, "target_kw": st.target_kw if st.mode == ACTIVE else None, "since": st.since}
        body["battery_configured"] = self.has_battery
        body.update(self.last_layers)
        return body

    def _check_override_miner(self, body: Any) -> None:
        """UnknownMiner for an override of a miner the fleet does not know (clearing a stored one is fine)."""
        override = body.get("override") if isinstance(body, dict) else None
        miner = override.get("miner") if isinstance(override, dict) else None
        if not isinstance(miner, str) or not miner:
            return  # absent (the fleet override) or the wrong type: apply_command names the problem
        if len(miner) > 64 or not miner.isprintable():
            raise ValueError("override.miner: expected a miner's IP address")
        if override.get("clear") is True and miner in self.controller.state.miner_overrides:
            return
        self.fleet.get(miner)  # UnknownMiner: an override would be stored for a miner that never comes

    def command(self, body: Any, by: str) -> dict[str, Any]:
        """POST /api/autocontrol: enable/disable, policy, overrides (ValueError names a bad field,
        UnknownMiner an override's miner the fleet does not know).

        ``{"enabled": true}`` also hands a fleet the EMS deactivated back to the solar policy
        (the operator's way out of an EMS stop; an active dispatch stays).
        """
        with self._lock:
            self._check_override_miner(body)
            apply_command(self.controller, body, by=by)
        self.fleet.event("autocontrol", f"settings changed: {sorted(body)}", actor=by)
        if isinstance(body, dict) and body.get("enabled") is True and self.ems.state.mode != ACTIVE and self.ems.engaged:
            if self.ems.release(by).changed:
                self.kick()
        return self.status()
