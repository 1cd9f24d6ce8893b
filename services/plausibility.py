"""Plausibility of a miner reading: values outside physics become None with a note, before anything uses them.

A firmware can lie (a hashrate of 1e30 after a counter overflow, -273 C from an
unused sensor, NaN from a failed division, -5 W from a PSU that lost its
calibration). Such a value must never reach the charts (one spike squashes a
week of history) or the controller (a 1e9 W reading would drive the power
allocator, a -300 C one would hide an overheat). So every reading passes
``screen`` once, where it enters the fleet (``FleetManager``), and each value
outside its bounds is dropped to None and named in the reading's ``errors``.

Bounds are loose on purpose: they catch the impossible, never a healthy miner.
They were checked against every recorded reply in tests/fixtures and
shared/data/replies (tests/test_plausibility.py parses each and asserts nothing
is flagged). Largest real figures behind them: Antminer S23 Hyd. 3U ~1.16 PH/s
(the recorded S23 Hyd. summary: 578 TH/s), ~11 kW; Antminer L9 ~17 GH/s scrypt;
NerdQAxe++ 4.8 TH/s and ~70 W, the 8-chip NerdOctaxe ~10 TH/s and ~160 W
(Bitaxe family); NMAxe Gamma ~1.2 TH/s, ~20 W.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from dataclasses import dataclass

from miners.base import SCRYPT, BoardStatus, MinerStatus

log = logging.getLogger(__name__)

TH, PH, GH = 1e12, 1e15, 1e9

TEMP_C = (-40.0, 150.0)  # ambient of a cold shed .. beyond every chip's thermal shutdown
FAN_RPM = (0.0, 30_000.0)  # the fastest 40 mm server fans run ~25,000 rpm
FAN_PERCENT = (0.0, 100.0)
POWER_W = (0.0, 15_000.0)  # one unit; the biggest hydro models draw ~11 kW
HASHRATE_BY_ALGORITHM = {SCRYPT: (0.0, 100 * GH)}  # scrypt units: L7 9.5 GH/s, L9 ~17 GH/s
HASHRATE_DEFAULT = (0.0, 3 * PH)  # SHA-256d and anything unknown: the S23 Hyd. 3U is ~1.16 PH/s

# Tighter bounds for the small-device families (hashrate H/s, power W).
FAMILY_HASHRATE = {"bitaxe": (0.0, 20 * TH), "nmminer": (0.0, 5 * TH)}
FAMILY_POWER = {"bitaxe": (0.0, 400.0), "nmminer": (0.0, 100.0)}

# Best share difficulty: the network difficulty is ~1.5e14 (2026) and the luckiest block hashes ever
# were a few 1e17; a counter gone wrong reads 1e30 and would look like a found block (alerts).
DIFFICULTY = (0.0, 1e21)

LOG_EVERY_S = 3600.0  # one log line per miner and field per hour, not one per poll


@dataclass(frozen=True, slots=True)
class Bounds:
    """Inclusive (low, high) limits per reading kind for one family and algorithm."""

    hashrate_hs: tuple[float, float]
    power_w: tuple[float, float]
    temp_c: tuple[float, float] = TEMP_C
    fan_rpm: tuple[float, float] = FAN_RPM
    fan_percent: tuple[float, float] = FAN_PERCENT


@dataclass(frozen=True, slots=True)
class Dropped:
    """One value taken out of a reading: which field, what it said, the bounds it broke."""

    field: str  # "hashrate_hs", "boards[1].temp_c", "fan_rpm[0]", ...
    value: object
    low: float
    high: float

    @property
    def note(self) -> str:
        """The line shown with the reading (GET /api/miners/<ip> ``errors``)."""
        return f"implausible {self.field} {_show(self.value)} ignored (plausible {self.low:g}..{self.high:g})"


def bounds_for(family: str, algorithm: str | None) -> Bounds:
    """The bounds for a family's miner hashing ``algorithm`` (the tighter of family and algorithm limits)."""
    algo = HASHRATE_BY_ALGORITHM.get(algorithm or "", HASHRATE_DEFAULT)
    fam = FAMILY_HASHRATE.get(family, algo)
    hashrate = (max(algo[0], fam[0]), min(algo[1], fam[1]))
    return Bounds(hashrate_hs=hashrate, power_w=FAMILY_POWER.get(family, POWER_W))


def plausible(value: object, limits: tuple[float, float]) -> bool:
    """True for a real number (not bool, not NaN/inf) within ``limits``; None counts as plausible (unknown)."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False  # a driver that let a string through: not a number we can chart
    return math.isfinite(value) and limits[0] <= value <= limits[1]


def check(status: MinerStatus, family: str) -> tuple[MinerStatus, list[Dropped]]:
    """A copy of ``status`` with every implausible value None (fans: left out), and what was dropped.

    Pure: the driver's object is not changed (some drivers hand out the same
    reading twice). The notes are appended to the copy's ``errors``.
    """
    bounds = bounds_for(family, status.algorithm)
    dropped: list[Dropped] = []

    def keep(name: str, value: object, limits: tuple[float, float]) -> object:
        if plausible(value, limits):
            return value
        dropped.append(Dropped(name, value, *limits))
        return None

    changes: dict[str, object] = {}
    for name in ("hashrate_hs", "expected_hashrate_hs", "power_w", "temp_c", "fan_percent", "best_difficulty",
                 "best_session_difficulty"):
        limits = {"hashrate_hs": bounds.hashrate_hs, "expected_hashrate_hs": bounds.hashrate_hs,
                  "power_w": bounds.power_w, "temp_c": bounds.temp_c, "fan_percent": bounds.fan_percent,
                  "best_difficulty": DIFFICULTY, "best_session_difficulty": DIFFICULTY}[name]
        value = getattr(status, name)
        kept = keep(name, value, limits)
        if kept is not value:
            changes[name] = kept
    fans = [rpm for i, rpm in enumerate(status.fan_rpm) if keep(f"fan_rpm[{i}]", rpm, bounds.fan_rpm) is not None]
    if len(fans) != len(status.fan_rpm):
        changes["fan_rpm"] = fans
    boards = [_board(board, bounds, keep) for board in status.boards]
    if any(new is not old for new, old in zip(boards, status.boards)):
        changes["boards"] = boards
    if not dropped:
        return status, []
    changes["errors"] = list(status.errors) + [d.note for d in dropped]
    return dataclasses.replace(status, **changes), dropped


def _board(board: BoardStatus, bounds: Bounds, keep) -> BoardStatus:
    changes = {}
    for name, limits in (("hashrate_hs", bounds.hashrate_hs), ("expected_hashrate_hs", bounds.hashrate_hs),
                         ("temp_c", bounds.temp_c), ("chip_temp_c", bounds.temp_c)):
        value = getattr(board, name)
        kept = keep(f"boards[{board.index}].{name}", value, limits)
        if kept is not value:
            changes[name] = kept
    return dataclasses.replace(board, **changes) if changes else board


class Screen:
    """``check`` plus a log line at most once per miner and field per ``every_s`` (thread-safe)."""

    def __init__(self, every_s: float = LOG_EVERY_S, clock=time.monotonic) -> None:
        self.every_s = every_s
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def apply(self, ip: str, family: str, status: MinerStatus) -> MinerStatus:
        """The reading with implausible values dropped; logs what was dropped (rate-limited)."""
        try:
            cleaned, dropped = check(status, family)
        except Exception:  # noqa: BLE001 - a bug here must not lose the reading: keep it unscreened
            log.exception("%s: plausibility check failed", ip)
            return status
        now = self._clock()
        for item in dropped:
            if self._due(ip, item.field.split(".")[-1].split("[")[0], now):
                log.warning("%s: %s reading: %s (logged once an hour)", ip, family, item.note)
        return cleaned

    def _due(self, ip: str, field: str, now: float) -> bool:
        with self._lock:
            if len(self._last) > 10_000:  # forget miners long gone rather than grow for ever
                self._last = {k: t for k, t in self._last.items() if now - t < self.every_s}
            last = self._last.get((ip, field))
            if last is not None and now - last < self.every_s:
                return False
            self._last[(ip, field)] = now
            return True


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
