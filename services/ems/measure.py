"""What the EMS sees of the fleet: rated power, MEASURED active power, and which miners count.

"Controllable" = online with fresh data, commanded by the controller (not
``autocontrol: false``), and able to throttle or sleep with a known nominal
power: exactly the miners the PowerAllocator plans. Their maximum is the
allocator's own (its plan for an unbounded target, no timers, no history).
Always-on loads are outside the dispatch: their draw is neither rated nor
active power, and ``fixed_w`` is added to the allocator's budget so the
dispatched kW go to the controllable miners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from services.power.allocator import (KIND_FIXED, AllocatorSettings, MinerHistory, MinerInput, PowerAllocator,
                                      nominal_power)
from services.power.model_power import lookup_model

_UNBOUNDED_W = 1e12
_MAX_SHARE = 1.5  # an overclocked miner; beyond that the hashrate reading is not believable
_NO_TIMERS = PowerAllocator(AllocatorSettings(grace_sec=0, min_on_sec=0, min_off_sec=0))


@dataclass(frozen=True)
class FleetPower:
    """One look at the fleet for /api/status and the dispatch."""

    rated_w: float  # sum of the maximum power of controllable miners that can run now (not overheated)
    active_w: float  # measured (reported power, else an estimate) of the controllable miners
    controllable: tuple[str, ...]  # IPs of controllable miners (overheated ones included)
    available: tuple[str, ...]  # controllable and not overheated
    fixed_w: float  # always-on loads the allocator counts in its budget
    estimated: tuple[dict, ...] = field(default_factory=tuple)  # {"ip", "watts", "why"} for miners without power


def _estimate(miner: MinerInput, history: MinerHistory) -> tuple[float, str]:
    """Watts of a miner that reports no power: 0 when asleep, else its model's nominal scaled by its hashrate.

    The measured hashrate against the model's nominal hashrate follows a lower work mode and a
    miner still ramping up (a stock Antminer in "low" is not at nominal); it overstates a little
    at lower modes (power falls with voltage too), never understates a miner at full speed.
    """
    if history.on is False:
        return 0.0, "reports no power; commanded off: 0 W"
    if miner.hashrate_hs == 0:
        return 0.0, "reports no power and no hashrate (asleep): 0 W"
    nominal = nominal_power(miner)[0]  # override or model table: without a reading there is no other source
    if nominal is None:
        return 0.0, "reports no power and its model's power is unknown: 0 W (set miners[].nominal_w)"
    row = None if miner.nominal_w else lookup_model(miner.family, miner.model)
    if row is not None and row.hashrate_ths and miner.hashrate_hs:
        share = min(_MAX_SHARE, miner.hashrate_hs / (row.hashrate_ths * 1e12))
        watts = round(nominal * share, 1)
        return watts, f"reports no power: nominal {nominal:g} W x measured hashrate {share:.0%} of nominal"
    return nominal, f"reports no power: nominal {nominal:g} W of its model"


def fleet_power(inputs: Iterable[MinerInput], history: Mapping[str, MinerHistory], hot: Iterable[str],
                now: float) -> FleetPower:
    """Rated, measured and fixed power of the fleet from the allocator's inputs (fixed loads already converted)."""
    online = [m for m in inputs if m.online]
    hot = set(hot)
    plan = _NO_TIMERS.allocate(online, {}, now, target_w=_UNBOUNDED_W)
    kinds = {m.ip: m for m in plan.miners}
    controllable, available, estimated = [], [], []
    rated = active = fixed = 0.0
    for miner in online:
        planned = kinds[miner.ip]
        if planned.kind == KIND_FIXED:
            fixed += planned.expected_w
            continue
        if nominal_power(miner)[0] is None:
            continue  # the allocator cannot plan it (no nominal power known): not dispatchable
        controllable.append(miner.ip)
        if miner.ip not in hot:
            available.append(miner.ip)
            rated += planned.expected_w
        if miner.power_w is not None:
            active += miner.power_w
        else:
            watts, why = _estimate(miner, history.get(miner.ip, MinerHistory()))
            active += watts
            estimated.append({"ip": miner.ip, "watts": watts, "why": why})
    return FleetPower(round(rated, 1), round(active, 1), tuple(controllable), tuple(available), round(fixed, 1),
                      tuple(estimated))
