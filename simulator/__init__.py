"""Network simulators of miner firmware (AxeOS, cgminer, stock Antminer) for the demo, tests and benchmarks.

An independent implementation of each protocol: nothing here imports from
miners/, services/ or web/. One asyncio event loop serves every miner::

    from simulator import SimFleet, demo_specs
    with SimFleet(demo_specs(), allow_any_client=True, seed=1) as fleet:
        ...  # miners answer on 127.77.0.10.. port 80 / 4028 (+ port_offset)
"""

from .antminer import AntminerMiner
from .axeos import BitaxeMiner
from .cgminer import CgminerMiner
from .faults import FAULTS
from .fleet import SimFleet, SimulatorError, addresses, default_port_offset, demo_specs, scaled_specs
from .miner import SimMiner
from .spec import KINDS, MinerSpec

__all__ = [
    "FAULTS", "KINDS", "AntminerMiner", "BitaxeMiner", "CgminerMiner", "MinerSpec", "SimFleet", "SimMiner",
    "SimulatorError", "addresses", "default_port_offset", "demo_specs", "scaled_specs",
]
