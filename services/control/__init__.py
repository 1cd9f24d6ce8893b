"""The control core: one pure ``step(inputs, state, now)`` that the app's loop and the benches call.

- inputs.py: what a step reads (StepInputs, MinerTemp, PriceInput);
- state.py: what it carries between ticks (ControlState: controller, allocator, overheat, history);
- price_layer.py: the price band (floor for grid mining, ceiling for PV mining against export);
- step.py: the step itself, and its StepResult.
Safety rules live in services/power/safety.py; the policies in services/power/; the
app's I/O loop (gather inputs, send settings, persist) in services/autocontrol.py.
Precedence and layers: docs/control.md.
"""

from .inputs import MinerTemp, PriceInput, StepInputs
from .price_layer import PriceLimits, break_evens, price_limits
from .state import ControlState
from .step import StepResult, step

__all__ = ["ControlState", "MinerTemp", "PriceInput", "PriceLimits", "StepInputs",
           "StepResult", "break_evens", "price_limits", "step"]
