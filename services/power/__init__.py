"""Solar power control: decide the fleet's power from the house battery, the sun and overrides (no I/O)."""

from .commands import apply_command
from .controller import PowerController
from .decision import BatteryReading, BatterySample, Decision, Timer
from .state import STATE_KEY, ControllerState, DictStore, Override, StateStore
from .sun import SunClock, SunState

__all__ = ["PowerController", "apply_command", "BatteryReading", "BatterySample", "Decision", "Timer", "STATE_KEY",
           "ControllerState", "DictStore", "Override", "StateStore", "SunClock", "SunState"]
