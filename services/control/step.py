"""The control step: one decision and one plan from plain inputs, used by the app's loop and every bench.

``step(inputs, state, now)`` does no I/O: the caller gathers the inputs (the last poll
round, the battery's last reading, the EMS dispatch, prices), and afterwards sends the
plan's settings and persists ``state``. In order:

1. safety per miner: temperatures feed the overheat tracker (services/power/safety.py);
2. the layers' wishes: the EMS dispatch (given), the rules' fleet and per-miner wishes,
   the price band (services/control/price_layer.py);
3. the PowerController's decision by precedence, safety > manual override > EMS >
   rules > price > solar policy, naming the layer and the rule (docs/control.md);
4. when the controller commands (autocontrol enabled, or the EMS holds the fleet),
   the PowerAllocator's plan: per-miner settings, overheated miners off above any pin,
   manual per-miner overrides above a rule's per-miner wish above the price's pins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping

from services.ems.measure import FleetPower, fleet_power
from services.power.allocator import AllocationPlan
from services.power.decision import Decision
from services.power.overheat import Change
from services.power.safety import stale_battery
from services.rules import RuleCommand, RuleContext, RulesOutcome

from .inputs import StepInputs
from .price_layer import PriceLimits, battery_hold, break_evens, price_limits
from .state import ControlState


@dataclass(frozen=True)
class StepResult:
    """One step's outcome: the decision, the plan (None while nothing is commanded) and what to report."""

    decision: Decision
    plan: AllocationPlan | None
    commanding: bool  # autocontrol enabled, or the EMS holds the fleet
    hot: frozenset[str]  # overheated miners (stopped above every wish)
    overheat_changes: tuple[Change, ...]  # trips and clears this step (an event each)
    overheat_changed: bool  # the tracker changed: save it
    power: FleetPower | None  # rated/active/fixed power of the fleet, when an EMS dispatch was planned
    pins: Mapping[str, tuple[float, str]] = field(default_factory=dict)  # ip -> (percent, who pinned it)
    price: PriceLimits | None = None
    rules: RulesOutcome | None = None
    commands: tuple[RuleCommand, ...] = ()  # the rules' one-off commands to send (restart, mode, watts, pool)


def step(inputs: StepInputs, state: ControlState, now: float) -> StepResult:
    """Decide the fleet's power now and plan the settings (see the module docstring)."""
    controller = state.controller
    commanding = controller.state.enabled or inputs.ems_w is not None
    changes, changed = _overheat(inputs, state, now)
    hot = frozenset(state.overheat.overheated())
    controllable = [m for m in inputs.miners if m.online and m.ip in inputs.controlled]
    every_hot = bool(controllable) and all(m.ip in hot for m in controllable)
    cfg = controller.cfg
    # Break-even prices only feed the price layer: no per-miner work each tick while it is off.
    break_even = break_evens(inputs.miners, inputs.hashprice, state.hashing) if cfg.price.enabled else {}
    hold = battery_hold(inputs.reading, cfg.surplus.priority_soc, cfg.surplus.probe_idle_w) if inputs.has_battery else None
    limits = price_limits(cfg.price, inputs.price, inputs.miners, inputs.controlled, hot, break_even, hold,
                          state.grid_mining)
    outcome = None if inputs.rules is None else inputs.rules(_rule_context(inputs, state, now))
    decision = controller.tick(inputs.reading, now, rated_w=state.allocator.rated_w(inputs.miners),
                               fleet_w=inputs.fleet_w, overheating=every_hot, ems_w=inputs.ems_w,
                               battery=inputs.has_battery, rule=None if outcome is None else outcome.fleet,
                               price=None if limits is None else limits.band)
    pins = _pins(state, decision, limits, outcome, inputs.controlled)
    state.grid_mining = limits.paying if limits is not None and decision.layer == "price" else frozenset()
    # The EMS's view of the fleet (an allocation of its own) only when a dispatch needs its fixed loads.
    power = fleet_power(inputs.miners, state.history, hot, now) if commanding and decision.layer == "ems" else None
    plan = _allocate(inputs, state, now, decision, hot, power, pins) if commanding else None
    # One-off rule commands go to controlled miners only, never to an overheated one or under a safety stop.
    commands = () if outcome is None or decision.layer == "safety" else tuple(
        c for c in outcome.commands if c.ip in inputs.controlled and c.ip not in hot)
    return StepResult(decision, plan, commanding, hot, tuple(changes), changed, power, pins, limits, outcome, commands)


def _rule_context(inputs: StepInputs, state: ControlState, now: float) -> RuleContext:
    """The facts the rules judge: local time, price, SOC and surplus (fresh only), the sun, each miner."""
    reading = inputs.reading
    fresh = (inputs.has_battery and reading is not None
             and stale_battery(reading, now, state.controller.cfg.stale_after_sec) is None)
    surplus = None
    if fresh and reading.pv_w is not None and reading.load_w is not None:
        surplus = reading.pv_w - reading.load_w
    price = inputs.price
    return RuleContext(now=now, local=dt.datetime.fromtimestamp(now, state.tz).astimezone(state.tz),
                       price=None if price is None else price.price,
                       cheapest=None if price is None or price.stale else price.cheapest,
                       soc=reading.soc_pct if fresh else None, surplus_w=surplus,
                       sun_up=not state.controller.sun.state(now).night, miners=inputs.facts)


def _overheat(inputs: StepInputs, state: ControlState, now: float) -> tuple[list[Change], bool]:
    """Feed the tracker one temperature per controlled miner; the trips/clears and whether it changed."""
    delta = state.controller.cfg.overheat_resume_delta_c
    changed = state.overheat.retain(t.ip for t in inputs.temps)
    changes = []
    for t in inputs.temps:
        change = state.overheat.update(t.ip, t.temp_c, t.limit_c, delta, now, t.label)
        if change is not None:
            changes.append(change)
            changed = True
    return changes, changed


def _pins(state: ControlState, decision: Decision, limits: PriceLimits | None, outcome: RulesOutcome | None,
          controlled: frozenset[str]) -> dict[str, tuple[float, str]]:
    """Per-miner percent pins, lowest precedence first so higher ones overwrite: price, rules, manual overrides."""
    pins: dict[str, tuple[float, str]] = {}
    if limits is not None and decision.layer == "price":
        # The floor (grid mining) decided: the miners that do not pay stay off; the ceiling
        # (export beats PV mining) decided: the miners that earn less than the export stay off.
        floor = bool(limits.band.floor_reason) and limits.band.floor_reason in decision.reason
        pins.update({ip: (0.0, "price") for ip in (limits.floor_off if floor else limits.ceiling_off)})
    if outcome is not None and decision.layer not in ("ems", "override"):
        # A rule's per-miner wish sits in the rules layer: under a fleet override and an EMS dispatch.
        pins.update({ip: (w.percent, f"rule {w.rule}") for ip, w in outcome.miners.items() if ip in controlled})
    for ip, override in state.controller.state.miner_overrides.items():
        pins[ip] = (override.percent, "override")
    return pins


def _allocate(inputs: StepInputs, state: ControlState, now: float, decision: Decision, hot: frozenset[str],
              power: FleetPower | None, pins: Mapping[str, tuple[float, str]]) -> AllocationPlan:
    """The allocator's plan for the decision: watts for an EMS dispatch, else percent of the rated fleet."""
    pinned = {ip: percent for ip, (percent, _) in pins.items()}
    urgent = decision.emergency or decision.failsafe
    if power is not None:  # decision.layer == "ems"
        # The dispatched watts go to the controllable miners: always-on loads come on top. A new
        # dispatch is urgent once: the EMS expects its kW now, not after each miner's grace window.
        new_dispatch = inputs.ems_generation != state.ems_applied
        state.ems_applied = inputs.ems_generation
        return state.allocator.allocate(inputs.miners, state.history, now,
                                        target_w=(decision.target_w or 0.0) + power.fixed_w,
                                        urgent=urgent or new_dispatch, immediate=new_dispatch,
                                        pinned_percent=pinned, safety_off=hot)
    return state.allocator.allocate(inputs.miners, state.history, now, target_percent=decision.target_percent,
                                    urgent=urgent, lowest=decision.lowest, pinned_percent=pinned, safety_off=hot)

