"""Reading a miner's tuning (per-board frequency/voltage, thermal target, the firmware's limits) through the fleet.

The read goes through the FleetManager's executor like every other miner I/O, so
a slow miner never holds a request thread longer than the deadline; a disabled
miner is not contacted. Writes are ordinary commands (FleetManager.command with
the FREQUENCY or THERMAL capability), audited there.
"""

from __future__ import annotations

from typing import Any

from miners.base import FREQUENCY, THERMAL, MinerError, NotSupported
from services.fleet import FleetManager, MinerDisabled

TUNING_CAPABILITIES = (FREQUENCY, THERMAL)


def read_tuning(fleet: FleetManager, ip: str) -> dict[str, Any]:
    """The driver's ``tuning()`` as a dict with the miner's IP and capabilities.

    Raises UnknownMiner, MinerDisabled / NotSupported (nothing to tune on this
    firmware) or MinerError (the miner did not answer in time or refused).
    """
    record = fleet.get(ip)
    if not record.enabled:
        raise MinerDisabled("the miner is disabled in its settings; enable it first")
    caps = record.driver.capabilities
    if not any(cap in caps for cap in TUNING_CAPABILITIES):
        raise NotSupported(f"{record.family} firmware offers no frequency or thermal settings here")
    future = fleet.executor.submit(record.driver.tuning)
    try:
        tuning = future.result(timeout=fleet.config.polling.timeout_sec * 2 + 1)
    except TimeoutError:
        future.cancel()
        raise MinerError("the miner did not answer in time") from None
    data = tuning.to_dict()
    data["ip"] = ip
    data["capabilities"] = sorted(cap for cap in TUNING_CAPABILITIES if cap in caps)
    return data


__all__ = ["TUNING_CAPABILITIES", "read_tuning"]
