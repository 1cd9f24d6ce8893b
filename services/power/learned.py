"""The nominal power of a miner whose model the power table does not know, learned from its readings.

Such a miner's nominal used to be its measured power while hashing. Once the
controller throttles it (an EMS watt target, a percent, a lower mode) that
reading IS the throttled level, so the fleet's rated power fell after every
dispatch and a later dispatch above the new value was refused (docs/power.md,
"Nominal power of a model not in the table"). Here each miner keeps the highest
power it drew while hashing at its full setting, and never lowers it:

- a reading counts only while nothing the controller knows of holds the miner
  below full: no level commanded (or the last one was 100 % or the family's
  default mode), not asleep, and no command of anyone (dashboard, rules, the
  controller) within the settle window (``grace_sec``): a Whatsminer reads
  nonsense for 60-90 s after ``adjust_power_limit``;
- a watt target never counts, even one at the learned value: the firmware holds the
  draw AT the target, so readings there only measure the target back, and noise above
  it would creep the nominal past the rating (Whatsminer refuses a limit above it);
- the first reading that counts sets it (the controller may throttle the miner at its
  very next tick, so there may be no second one); after that one spike does not raise
  it: a rise is the lower of two readings in a row that count (two polls the controller
  saw, each with its own ``last_seen_ts``).

Writes: the values live in memory and go to the ``state`` table only when one rose,
inside the history flush's transaction (a History companion, services/history.py),
never per poll (SD card); a restart keeps them, so a miner asleep at start is
planned at its learned power instead of not at all.
"""

from __future__ import annotations

from typing import Any, Iterable

from services.state_memo import StateMemo
from services.power.allocator import SET_MODE, SET_POWER_PERCENT, MinerHistory
from services.power.model_power import lookup_model, mode_fractions

STATE_KEY = "autocontrol.learned_nominal"  # {miners.id: watts}


def at_full_setting(record: Any, history: MinerHistory, now: float, settle_sec: float) -> bool:
    """True when a fresh reading of ``record`` shows the miner hashing at its full (unthrottled) setting."""
    status = record.status
    if status is None or not record.online or not status.power_w or not status.hashrate_hs:
        return False
    if history.on is False:
        return False
    for ts in (history.last_command_ts, getattr(record, "last_command_ts", None)):
        if ts is not None and now - ts < settle_sec:
            return False  # still settling after a command (anyone's)
    if history.level_action is None:
        return True  # the miner runs its own setting: the controller holds nothing back
    value = history.level_value
    if history.level_action == SET_POWER_PERCENT:
        return isinstance(value, (int, float)) and value >= 100
    if history.level_action == SET_MODE and isinstance(value, str):
        modes = tuple(getattr(record.driver, "modes", ()) or ())
        return mode_fractions(record.family, modes).get(value) == 1.0  # the family's default mode
    return False  # a watt target: the reading is the target (see the module docstring)


class NominalLog(StateMemo):
    """Per miner (by ``miners.id``): the highest power it drew at its full setting, never lowered."""

    key = STATE_KEY

    def __init__(self, db: Any = None) -> None:
        super().__init__(db)
        self._last: dict[int, tuple[float, float]] = {}  # id -> (last_seen_ts, watts) of the last reading that counted

    def _load(self, stored: Any) -> float | None:
        ok = isinstance(stored, (int, float)) and not isinstance(stored, bool) and stored > 0
        return float(stored) if ok else None

    def _dump(self, value: float) -> float:
        return round(value, 1)

    def _forget(self, miner_ids: Iterable[int]) -> None:
        for m in miner_ids:
            self._last.pop(m, None)

    def observe(self, record: Any, history: MinerHistory, now: float, settle_sec: float) -> None:
        """Take one miner's last reading (called each control tick; a reading already seen is ignored)."""
        if lookup_model(record.family, (record.status.model if record.status is not None and record.status.model
                                        else None) or record.model) is not None:
            return  # the table knows it: nothing to learn
        seen = record.last_seen_ts
        with self._lock:
            last = self._last.get(record.id)
            if seen is None or (last is not None and last[0] == seen):
                return
            if not at_full_setting(record, history, now, settle_sec):
                self._last.pop(record.id, None)
                return
            watts = float(record.status.power_w)
            self._last[record.id] = (seen, watts)
            if last is None and record.id in self._values:
                return
            steady = watts if last is None else min(last[1], watts)
            if steady > self._values.get(record.id, 0.0):
                self._values[record.id] = steady
                self._dirty = True

    def get(self, miner_id: int) -> float | None:
        """The learned nominal watts of one miner, or None."""
        with self._lock:
            return self._values.get(miner_id)

    def to_dict(self) -> dict[int, float]:
        """Every learned value (GET views, tests)."""
        with self._lock:
            return dict(self._values)

