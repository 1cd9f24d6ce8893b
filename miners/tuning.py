"""Per-board frequency/voltage and the thermal target of a miner, with the limits that bound them.

What ``MinerDriver.tuning()`` returns (FREQUENCY and THERMAL capabilities). Every
limit says where it comes from, because the firmwares differ: Vnish 1.x reports
its own (``GET /api/v1/model``), Vnish 3.x publishes none, so its ranges are the
documented web-UI list or this controller's own bounds. Units are in the names,
as in base.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

FIRMWARE = "firmware"      # reported by the miner itself
DOCUMENTED = "documented"  # from the firmware's documentation or third-party copies of its UI
CONTROLLER = "controller"  # this controller's own bound: the firmware publishes none


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive bounds of one setting and where they come from (FIRMWARE, DOCUMENTED or CONTROLLER)."""

    min: float
    max: float
    source: str = FIRMWARE

    def check(self, value: float, what: str, unit: str) -> None:
        """ValueError naming the bounds when ``value`` is outside them."""
        if not self.min <= value <= self.max:
            raise ValueError(f"{what} {value:g} {unit} is outside {self.min:g}..{self.max:g} {unit}"
                             f" ({_SOURCE_WORDS.get(self.source, self.source)})")


_SOURCE_WORDS = {FIRMWARE: "the firmware's limits", DOCUMENTED: "the firmware's documented range",
                 CONTROLLER: "this controller's bounds; the firmware publishes none"}


@dataclass(slots=True)
class BoardTuning:
    """One hash board's settings: None = it follows the global value (``follows_global``)."""

    index: int
    frequency_mhz: float | None = None
    voltage_mv: float | None = None
    follows_global: bool = True


@dataclass(slots=True)
class Tuning:
    """The settings in effect and the limits a change must stay within."""

    frequency_mhz: float | None = None  # the global setting
    voltage_mv: float | None = None     # the global chain voltage setting
    boards: list[BoardTuning] = field(default_factory=list)
    per_board_frequency: bool = False
    per_board_voltage: bool = False
    frequency_range: Range | None = None
    voltage_range: Range | None = None
    frequency_warn_mhz: float | None = None  # above this the firmware's own UI warns (Vnish 1.x warn_freq)
    thermal_target_c: float | None = None
    thermal_range: Range | None = None
    thermal_limit_c: float | None = None  # the firmware's protective restart/shutdown temperature (read-only)
    preset: str | None = None  # Vnish 1.x autotune preset in effect; manual values apply with "disabled"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


__all__ = ["BoardTuning", "CONTROLLER", "DOCUMENTED", "FIRMWARE", "Range", "Tuning"]
