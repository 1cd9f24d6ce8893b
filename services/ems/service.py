"""EmsService: the EMS routes' side of the control loop (web/ems.py calls it; docs/EMS.md is the contract).

It answers from memory (the last poll round, the dispatch state, the controller's
last decision) and never reads a device: a status poll costs no miner traffic.
Accepted changes go to the dispatcher and kick one AutoControl tick on its
background thread, so the reply returns before any miner is commanded.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Mapping, Protocol, runtime_checkable

from services.config import Config
from services.power.allocator import MinerHistory, MinerInput
from services.power.controller import PowerController
from services.power.decision import BatteryReading, fmt_pct
from services.power.overheat import OverheatTracker
from services.power.safety import battery_blocker

from .dispatch import EmsDispatcher, Outcome
from .measure import FleetPower, fleet_power
from .request import BadActivation


@runtime_checkable
class ControlLoop(Protocol):
    """What the EMS service reads and drives of the control loop (services.autocontrol.AutoControl)."""

    config: Config
    controller: PowerController
    ems: EmsDispatcher
    overheat: OverheatTracker
    history: Mapping[str, MinerHistory]

    @property
    def has_battery(self) -> bool: ...

    def reading(self) -> BatteryReading | None: ...

    def inputs(self, now: float) -> tuple[list, list[MinerInput]]: ...

    def kick(self) -> None: ...


class EmsService:
    """GET /api/status, POST /api/activate|deactivate, GET /api/ems, POST /api/ems/release over one AutoControl."""

    def __init__(self, control: ControlLoop) -> None:
        """control: the loop (its dispatcher, controller, config and fleet view); nothing else of it is used."""
        self.control = control

    @property
    def dispatcher(self) -> EmsDispatcher:
        """The dispatch state (EmsDispatcher): calls are recorded there."""
        return self.control.ems

    def power(self, now: float | None = None) -> FleetPower:
        """Rated and measured power of the controllable miners now (from the last poll, never a device read)."""
        now = time.time() if now is None else now
        _, inputs = self.control.inputs(now)
        return fleet_power(inputs, self.control.history, self.control.overheat.overheated(), now)

    def rated_kw(self, power: FleetPower) -> float:
        """ratedPowerInKw: ems.rated_kw when configured, else computed (3 decimals, what activate checks)."""
        if self.control.config.ems.rated_kw is not None:
            return round(float(self.control.config.ems.rated_kw), 3)
        return round(power.rated_w / 1000.0, 3)

    def blockers(self, power: FleetPower, now: float | None = None) -> tuple[str | None, str | None]:
        """(safety reason, other reason) that keep the fleet from being dispatched now; None when clear."""
        now = time.time() if now is None else now
        control = self.control
        cfg = control.config.autocontrol
        state = control.controller.state
        safety = None
        if control.has_battery:  # the controller's own rules (services/power/safety.py)
            safety = battery_blocker(control.reading(), now, cfg.stale_after_sec, cfg.emergency_soc, state.emergency)
        if safety is None and power.controllable and not power.available:
            safety = "every controllable miner is overheated"
        other = None
        if not power.available and safety is None:
            other = "no controllable miner is online with fresh data"
        elif state.override is not None:
            other = f"manual override {fmt_pct(state.override.percent)} holds the fleet"
        return safety, other

    def status(self, now: float | None = None) -> dict[str, Any]:
        """GET /api/status: exactly the four contract keys."""
        now = time.time() if now is None else now
        if self.control.ems.expire(now):
            self.control.kick()
        power = self.power(now)
        return self._status(power, *self.blockers(power, now))

    def _status(self, power: FleetPower, safety: str | None, other: str | None) -> dict[str, Any]:
        return {"isAvailableForDispatch": bool(power.available) and safety is None and other is None,
                "runningStatus": self.control.ems.running_status,
                "ratedPowerInKw": float(self.rated_kw(power)),
                "activePowerInKw": round(power.active_w / 1000.0, 3)}

    def detail(self, now: float | None = None) -> dict[str, Any]:
        """GET /api/ems: the dispatch state, the contract status, why not available, estimates, recent calls."""
        now = time.time() if now is None else now
        control = self.control
        if control.ems.expire(now):
            control.kick()
        power = self.power(now)  # one fleet view for the whole answer
        safety, other = self.blockers(power, now)
        status = self._status(power, safety, other)
        last = control.controller.last
        body = control.ems.to_dict()
        body.update({
            "status": status,
            "rated_kw_source": "config" if control.config.ems.rated_kw is not None else "computed",
            "computed_rated_kw": round(power.rated_w / 1000.0, 3),
            "safety": safety, "unavailable_reason": safety or other,
            "controllable": list(power.controllable), "available": list(power.available),
            "fixed_load_kw": round(power.fixed_w / 1000.0, 3),
            "estimated": list(power.estimated),
            "battery_configured": control.has_battery,
            "autocontrol_enabled": control.controller.state.enabled,
            # What decides the fleet right now (the EMS, or safety/an override above it) and why.
            "decision": None if last is None else {"source": last.source, "reason": last.reason, "at": last.at,
                                                   "target_w": last.target_w},
        })
        return body

    def activate(self, kw: float) -> Outcome:
        """POST /api/activate with a parsed kW: BadActivation when out of range, else the outcome (kicks a tick)."""
        now = time.time()
        power = self.power(now)
        rated = self.rated_kw(power)
        if rated <= 0:
            raise BadActivation("no controllable miner is online with fresh data: rated power is 0 kW")
        outcome = self.control.ems.activate(kw, rated, now)
        message = outcome.message
        if outcome.changed:
            self.control.kick()
            message += (f"; commands are going out to {len(power.available)} controllable miner(s) now: "
                        "watch activePowerInKw (acknowledgement is not delivery)")
        return dataclasses.replace(outcome, message=message + self._held_note(power, now))

    def deactivate(self) -> Outcome:
        """POST /api/deactivate: stop the controllable miners and keep them stopped (kicks a tick)."""
        outcome = self.control.ems.deactivate(time.time())
        if outcome.changed:
            self.control.kick()
        return outcome

    def release(self, by: str) -> Outcome:
        """The operator hands a deactivated fleet back to the solar policy."""
        outcome = self.control.ems.release(by)
        if outcome.changed:
            self.control.kick()
        return outcome

    def _held_note(self, power: FleetPower, now: float) -> str:
        safety, other = self.blockers(power, now)
        if safety:
            return f"; held back by safety now: {safety} (it applies once that clears)"
        if other and self.control.controller.state.override is not None:
            return f"; held back: {other} (an override outranks the EMS)"
        return ""
