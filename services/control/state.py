"""What the control step carries from one tick to the next (the app persists it; a bench keeps it in memory)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from services.power.allocator import AllocatorSettings, MinerHistory, MinerSetting, PowerAllocator, record_commands
from services.power.controller import PowerController
from services.power.overheat import OverheatTracker
from services.power.state import StateStore


def allocator_settings(cfg: Any) -> AllocatorSettings:
    """The allocator's timers from config (autocontrol.grace_sec, min_on_sec, min_off_sec)."""
    return AllocatorSettings(grace_sec=float(cfg.grace_sec), min_on_sec=float(cfg.min_on_sec),
                             min_off_sec=float(cfg.min_off_sec))


@dataclass
class ControlState:
    """The controller (latch, overrides, timers), the allocator, overheat trips, command history, rule state."""

    controller: PowerController
    allocator: PowerAllocator
    overheat: OverheatTracker = field(default_factory=OverheatTracker)
    history: dict[str, MinerHistory] = field(default_factory=dict)
    ems_applied: int | None = None  # dispatch generation last planned (None: not since start -> urgent)
    tz: dt.tzinfo | None = None  # the site's zone for the rules' time windows (None: the machine's)
    # ip -> (hashrate H/s, watts) last measured while hashing: the break-even of a miner asleep now
    # whose model the table does not know (memory only: after a restart it is known once it hashes).
    hashing: dict[str, tuple[float, float]] = field(default_factory=dict)
    grid_mining: frozenset[str] = frozenset()  # miners the price floor kept on last tick (its hysteresis)

    @classmethod
    def create(cls, cfg: Any, store: StateStore, *, clock: Any = None, tz: dt.tzinfo | None = None,
               overheat: OverheatTracker | None = None, history: dict[str, MinerHistory] | None = None) -> "ControlState":
        """A state for ``cfg`` (AutocontrolConfig) with the controller's saved state from ``store``."""
        kwargs: dict[str, Any] = {"tz": tz}
        if clock is not None:
            kwargs["clock"] = clock
        return cls(PowerController(cfg, store, **kwargs), PowerAllocator(allocator_settings(cfg)),
                   overheat or OverheatTracker(), dict(history or {}), tz=tz)

    def record(self, done: Iterable[MinerSetting], now: float) -> None:
        """Remember the settings that were executed (the allocator's timers start from them)."""
        self.history = record_commands(self.history, done, now)

    def history_json(self) -> dict[str, dict]:
        """The command history as JSON for the state table."""
        return {ip: dataclasses.asdict(h) for ip, h in self.history.items()}
