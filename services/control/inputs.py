"""What one control step reads: the battery, the fleet, temperatures, the EMS, prices, rules (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from services.power.allocator import MinerInput
from services.power.decision import BatteryReading
from services.profitability import Hashprice
from services.rules import MinerFacts, RuleContext, RulesOutcome


@dataclass(frozen=True)
class MinerTemp:
    """One controlled miner's hottest temperature (None when unknown or stale) and its limit."""

    ip: str
    temp_c: float | None
    limit_c: float | None  # None or 0: overheat protection off for this miner
    label: str  # "S19 10.0.0.5": model (or family) and IP, for reason texts


@dataclass(frozen=True)
class PriceInput:
    """The electricity price now, as the price layer and the rules use it."""

    price: float | None  # in the source's unit (what GET /api/prices shows; rules compare with it)
    price_main: float | None  # main currency units per kWh (compared with break-even prices)
    export_main: float | None = None  # what exporting a kWh earns, main units (None = not known)
    unit: str = ""
    stale: bool = False  # the configured default stands in for missing prices
    reason: str = ""  # why stale
    cheapest: Callable[[float], bool] | None = None  # hours -> now is among the day's cheapest N hours


@dataclass(frozen=True)
class StepInputs:
    """Everything the step decides from; the caller gathers it (I/O), the step does none."""

    reading: BatteryReading | None
    miners: Sequence[MinerInput]  # the allocator's view; autocontrol: false miners already fixed loads
    controlled: frozenset[str]  # IPs the controller may command (not autocontrol: false)
    temps: Sequence[MinerTemp] = ()
    fleet_w: float | None = None  # measured watts of every miner (the surplus policy's view)
    has_battery: bool = True
    ems_w: float | None = None  # an EMS dispatch in watts (0 = the EMS stopped the fleet), None = none
    ems_generation: int | None = None  # changes with each new dispatch: its first plan is immediate
    price: PriceInput | None = None
    hashprice: Hashprice | None = None  # revenue per TH/s (services/profitability): the miners' break-even prices
    # The rules' evaluator: the app's RuleBook.evaluate (it keeps and saves the rules' state and
    # writes their events), a bench's services.rules.evaluate over its own RulesState; None = no rules.
    rules: Callable[[RuleContext], RulesOutcome] | None = None
    facts: Mapping[str, MinerFacts] = field(default_factory=dict)  # what the rules see of each miner
