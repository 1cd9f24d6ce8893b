"""PowerAllocator: turn a fleet power target into per-miner settings, as deltas.

Pure and deterministic: no I/O, no clock (``now`` is passed in), settings
sorted by miner IP. The Runtime executes each ``MinerSetting`` with
``fleet.command(s.ip, s.action, *s.args)`` and then ``record_commands`` the
ones that succeeded, so the next plan knows the new setpoints and timers.

How a target becomes settings (DESIGN section 5):
1. Each online, fresh miner gets a power range from its real capability:
   watts (power_watts) or percent (power_percent) are continuous between
   min_w and max_w; modes are discrete levels (fraction of nominal per
   family, see model_power.MODE_FRACTIONS); sleep/wake alone is an on/off
   load at nominal; a miner that can neither throttle nor sleep is a fixed
   load (always on) and says so. Offline or stale miners count as 0 W and
   are never commanded.
2. Miners inside their grace window after a command are frozen at their
   commanded level; miners inside their minimum on-time cannot be switched
   off, inside their minimum off-time cannot be switched on.
3. While the sum of minimums of the miners left on exceeds the budget, the
   least efficient (J/TH) switchable miner is switched off; afterwards any
   switched-off miner whose minimum fits the slack is switched back on,
   most efficient first.
4. The budget is shared by one common fraction of nominal (so one miner at
   60 % of the fleet's rated watts runs at 60 %); a mode-only miner takes the
   highest mode at or below its share (at least its lowest mode while on),
   and the watt/percent miners absorb what rounding down left over.
5. Only settings that differ from the current setpoints are emitted (a watt
   change smaller than 2 % of nominal is not sent: every Whatsminer
   adjust_power_limit resets its hashing for 60-90 s).

A percent target is a percent of the ONLINE miners' nominal watts (offline
miners are 0 W available), always-on loads included. Efficiency is the
measured J/TH where the miner reports power and hashrate, else the model's
nominal J/TH, else unknown (switched off first); J/TH of a scrypt miner is
per TH of scrypt, so it always sorts as the least efficient. Safety stops use
``urgent=True`` (the timers never hold a miner on in an emergency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from miners.base import MODE, POWER_PERCENT, POWER_WATTS, SLEEP, WAKE
from services.power.model_power import DEFAULT_MIN_FRACTION, MIN_FRACTION, lookup_model, mode_fractions, mode_watts

SET_POWER_WATTS = "set_power_watts"
SET_POWER_PERCENT = "set_power_percent"
SET_MODE = "set_mode"
SLEEP_ACTION = "sleep"
WAKE_ACTION = "wake"
LEVEL_ACTIONS = (SET_POWER_WATTS, SET_POWER_PERCENT, SET_MODE)
_ACTION_ORDER = {WAKE_ACTION: 0, SET_POWER_WATTS: 1, SET_POWER_PERCENT: 1, SET_MODE: 1, SLEEP_ACTION: 2}

# How a miner's power is controlled, best first.
KIND_WATTS = "watts"
KIND_PERCENT = "percent"
KIND_MODES = "modes"
KIND_ONOFF = "onoff"
KIND_FIXED = "fixed"


# --- inputs ---------------------------------------------------------------------
@dataclass(frozen=True)
class MinerInput:
    """One miner as the allocator sees it: identity, freshness, capability, power overrides."""

    ip: str
    family: str
    model: str | None = None
    online: bool = True  # online AND its last reading is fresh; False = never commanded, counts 0 W
    capabilities: frozenset[str] = frozenset()
    modes: tuple[str, ...] = ()  # driver's modes, least to most power
    power_w: float | None = None  # measured, None when the firmware does not report it
    hashrate_hs: float | None = None
    # Per-miner overrides (config/UI); None = table, then measured power.
    nominal_w: float | None = None
    min_w: float | None = None
    max_w: float | None = None
    # Watts a set_power_watts can land on where the firmware sets power in discrete steps
    # (Vnish 1.x autotune presets, LuxOS profiles); () = any whole watt.
    power_steps_w: tuple[float, ...] = ()
    # (lowest, highest) watts the firmware accepts for set_power_watts, where it publishes them
    # (BOS+ constraints); None = unknown. Bounds the plan whatever the table or overrides say.
    power_range_w: tuple[float, float] | None = None
    # The highest power it drew while hashing at its full setting, as the controller learned it
    # (services/power/learned.py); stands in for nominal where the model is not in the table.
    learned_w: float | None = None


@dataclass(frozen=True)
class MinerHistory:
    """What was last commanded to a miner and when, as the Runtime remembers it."""

    on: bool | None = None  # last commanded on/off state; None = never commanded (inferred from readings)
    level_action: str | None = None  # set_power_watts / set_power_percent / set_mode last sent
    level_value: int | str | None = None
    last_command_ts: float | None = None  # any command
    last_switch_ts: float | None = None  # last sleep<->wake flip


@dataclass(frozen=True)
class AllocatorSettings:
    """Timers and deadbands; defaults follow WM60 (300 s grace) and evcc-style minimum times."""

    grace_sec: float = 300.0  # Whatsminer recalibrates 60-90 s after a limit; WM60 waits 300 s
    min_on_sec: float = 600.0
    min_off_sec: float = 600.0
    watts_deadband_fraction: float = 0.02  # a watt change below 2 % of nominal is not worth a firmware reset


# --- outputs --------------------------------------------------------------------
@dataclass(frozen=True)
class MinerSetting:
    """One command: ``action`` is a FleetManager/driver method name, ``value`` its argument (None for sleep/wake)."""

    ip: str
    action: str
    value: int | str | None
    reason: str

    @property
    def args(self) -> tuple[Any, ...]:
        """Positional arguments for ``fleet.command(ip, action, *args)``."""
        return () if self.value is None else (self.value,)


@dataclass(frozen=True)
class MinerPlan:
    """The allocator's view of one miner after the plan: on or off, expected watts, why."""

    ip: str
    kind: str
    on: bool
    expected_w: float
    explanation: str


@dataclass(frozen=True)
class AllocationPlan:
    """Settings to send (deltas, sorted), the fleet power expected after them, and per-miner explanations."""

    target_w: float
    rated_w: float  # nominal watts of the online miners
    expected_w: float
    settings: tuple[MinerSetting, ...]
    miners: tuple[MinerPlan, ...]

    def explanation(self, ip: str) -> str:
        """The explanation for one miner ('' when unknown)."""
        return next((m.explanation for m in self.miners if m.ip == ip), "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view for the API/events."""
        return {"target_w": self.target_w, "rated_w": self.rated_w, "expected_w": self.expected_w,
                "settings": [{"ip": s.ip, "action": s.action, "value": s.value, "reason": s.reason} for s in self.settings],
                "miners": [{"ip": m.ip, "kind": m.kind, "on": m.on, "expected_w": m.expected_w,
                            "explanation": m.explanation} for m in self.miners]}


# --- per-miner profile ------------------------------------------------------------
@dataclass
class _Profile:
    miner: MinerInput
    kind: str
    nominal_w: float
    min_w: float  # lowest power while on
    max_w: float
    levels: list[tuple[float, str]] = field(default_factory=list)  # (watts, mode) for KIND_MODES, ascending
    efficiency: float = math.inf  # J/TH, lower is better; unknown = inf (switched off first)
    currently_on: bool = True
    can_off: bool = False
    can_on: bool = True
    frozen: bool = False  # grace window: not commanded at all
    frozen_w: float = 0.0
    notes: list[str] = field(default_factory=list)
    on: bool = True
    planned_w: float = 0.0
    mode: str | None = None
    current_mode: str | None = None  # the mode it runs now (last commanded), for sticky modes


def _fmt_s(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _kind(miner: MinerInput) -> str:
    caps = miner.capabilities
    if POWER_WATTS in caps:
        return KIND_WATTS
    if POWER_PERCENT in caps:
        return KIND_PERCENT
    if MODE in caps and miner.modes:
        return KIND_MODES
    if SLEEP in caps and WAKE in caps:
        return KIND_ONOFF
    return KIND_FIXED


def nominal_power(miner: MinerInput) -> tuple[float | None, str]:
    """The watts the allocator plans a miner around (override, model table, learned, else a reading) and why."""
    if miner.nominal_w:
        return float(miner.nominal_w), "nominal from override"
    row = lookup_model(miner.family, miner.model)
    if row is not None:
        return float(row.nominal_w), f"nominal {row.nominal_w:g} W ({row.name}{', estimate' if row.estimate else ''})"
    # Not the reading now: once the controller throttled the miner (an EMS watt target) that IS
    # the target, and the fleet's rated power fell with every dispatch (services/power/learned.py).
    if miner.learned_w:
        return float(miner.learned_w), (f"nominal {miner.learned_w:g} W = highest measured at full setting "
                                        "(model not in table)")
    # A reading stands for nominal only while the miner hashes: measured while asleep or curtailed
    # (LuxOS S19k Pro curtailed reads 16 W) it would plan the miner at a fraction of its power.
    if miner.power_w and miner.hashrate_hs:
        return float(miner.power_w), "nominal = measured power while hashing (model not in table)"
    return None, "no nominal power known (model not in table, no reading while hashing): set miners[].nominal_w"


def _efficiency(miner: MinerInput) -> float:
    # Measured J/TH first (it reflects this unit and its tuning), else the model's nominal.
    if miner.power_w and miner.hashrate_hs:
        return miner.power_w / (miner.hashrate_hs / 1e12)
    row = lookup_model(miner.family, miner.model)
    return row.j_per_th if row is not None and row.j_per_th else math.inf


def _inferred_on(miner: MinerInput, history: MinerHistory) -> bool:
    if history.on is not None:
        return history.on
    return bool(miner.power_w or miner.hashrate_hs)


def _level_power(profile: _Profile, action: str | None, value: int | str | None) -> float | None:
    """Watts a previously commanded level stands for."""
    if action == SET_POWER_WATTS and isinstance(value, (int, float)):
        return float(value)
    if action == SET_POWER_PERCENT and isinstance(value, (int, float)):
        return profile.nominal_w * float(value) / 100.0
    if action == SET_MODE and isinstance(value, str):
        return next((w for w, m in profile.levels if m == value), None)
    return None


def _profile(miner: MinerInput, history: MinerHistory, now: float, settings: AllocatorSettings,
             urgent: bool = False, immediate: bool = False) -> _Profile | None:
    nominal, note = nominal_power(miner)
    if nominal is None:
        return None
    kind = _kind(miner)
    frac = MIN_FRACTION.get(miner.family, DEFAULT_MIN_FRACTION)
    max_w = float(miner.max_w) if miner.max_w else nominal
    min_w = float(miner.min_w) if miner.min_w else nominal * frac
    fenced = kind == KIND_WATTS and miner.power_range_w is not None
    if fenced:
        min_w, max_w = _fence(min_w, max_w, miner.power_range_w)  # type: ignore[arg-type]
    levels: list[tuple[float, str]] = []
    if kind == KIND_MODES or (kind == KIND_WATTS and miner.power_steps_w):
        if kind == KIND_MODES:
            fractions = mode_fractions(miner.family, miner.modes)
            named = [(w if (w := mode_watts(mode)) is not None else nominal * fractions.get(mode, 0.0), mode)
                     for mode in miner.modes]
        else:  # a watt target below the lowest step is refused (Vnish 1.x, LuxOS): plan the steps themselves
            named = [(float(w), f"{w:g} W") for w in miner.power_steps_w]
        for watts, label in named:
            # "sleep" as a mode is off, handled by sleep/wake; levels above max_w are out of bounds.
            if 0 < watts <= max_w + 1e-9 and (miner.min_w is None or watts >= miner.min_w - 1e-9) \
                    and (not fenced or watts >= min_w - 1e-9):
                levels.append((watts, label))
        levels.sort()
        if not levels:
            kind = KIND_ONOFF if SLEEP in miner.capabilities and WAKE in miner.capabilities else KIND_FIXED
        else:
            min_w, max_w = levels[0][0], levels[-1][0]
    if kind in (KIND_ONOFF, KIND_FIXED):
        fixed = miner.power_w if kind == KIND_FIXED and miner.power_w is not None else nominal
        min_w = max_w = min(float(fixed), max_w) if kind == KIND_ONOFF else float(fixed)
    min_w = min(min_w, max_w)
    profile = _Profile(miner, kind, nominal, min_w, max_w, levels, _efficiency(miner), notes=[note])
    if fenced and kind == KIND_WATTS:
        low, high = miner.power_range_w  # type: ignore[misc]
        profile.notes.append(f"firmware accepts {low:g}-{high:g} W: planned within {min_w:g}-{max_w:g} W")
    # A miner that cannot sleep was never put to sleep by us: a 0 W reading is a glitch or a restart.
    profile.currently_on = _inferred_on(miner, history) or SLEEP not in miner.capabilities
    if profile.currently_on and history.level_action == SET_MODE and any(m == history.level_value for _, m in levels):
        profile.current_mode = str(history.level_value)
    profile.can_off = SLEEP in miner.capabilities and kind != KIND_FIXED
    profile.can_on = WAKE in miner.capabilities or profile.currently_on
    if kind == KIND_FIXED:
        profile.notes.append(f"cannot be throttled or switched (capabilities: {', '.join(sorted(miner.capabilities)) or 'none'})"
                             ": counted as an always-on load")
    # Grace window: a recent command is still settling, readings that look "off" are expected.
    in_grace = history.last_command_ts is not None and now - history.last_command_ts < settings.grace_sec
    if immediate:
        # A new EMS dispatch: the grid operator expects its kW now, so no timer holds a miner, on or off.
        if in_grace or history.last_switch_ts is not None and now - history.last_switch_ts < max(
                settings.min_on_sec, settings.min_off_sec):
            profile.notes.append("new dispatch: grace window and minimum on/off times overridden")
        return profile
    if urgent and in_grace and profile.currently_on and profile.can_off:
        profile.notes.append("urgent stop: grace window overridden")
    elif in_grace:
        profile.frozen = True
        level = _level_power(profile, history.level_action, history.level_value)
        profile.frozen_w = 0.0 if not profile.currently_on else (level if level is not None else profile.max_w)
        profile.notes.append(f"grace window: commanded {_fmt_s(now - history.last_command_ts)} ago "
                             f"(grace {_fmt_s(settings.grace_sec)}), not commanded again")
        return profile
    since_switch = now - history.last_switch_ts if history.last_switch_ts is not None else math.inf
    if urgent and profile.currently_on and profile.can_off and since_switch < settings.min_on_sec:
        profile.notes.append("urgent stop: minimum on-time overridden")
    elif profile.currently_on and profile.can_off and since_switch < settings.min_on_sec:
        profile.can_off = False
        profile.notes.append(f"minimum on-time: on for {_fmt_s(since_switch)} of {_fmt_s(settings.min_on_sec)}, "
                             "cannot be switched off yet")
    if not profile.currently_on and since_switch < settings.min_off_sec:
        profile.can_on = False
        profile.notes.append(f"minimum off-time: off for {_fmt_s(since_switch)} of {_fmt_s(settings.min_off_sec)}, "
                             "cannot be switched on yet")
    return profile


def _fence(min_w: float, max_w: float, accepted: tuple[float, float]) -> tuple[float, float]:
    """(min_w, max_w) moved inside the firmware's accepted range, so no planned watt target is refused."""
    low, high = accepted
    # Above the floor and below the ceiling; when the table's whole range lies outside the
    # firmware's (a nominal under its floor), the nearest accepted watts are the only choice.
    min_w = min(max(min_w, low), high)
    max_w = min(max(max_w, low), high)
    return min_w, max(min_w, max_w)


# --- sharing the budget -------------------------------------------------------------
def _share(profile: _Profile, fraction: float) -> tuple[float, str | None]:
    """Watts (and mode) one on-miner takes at a common fraction of nominal."""
    want = fraction * profile.nominal_w
    if profile.levels:
        fitting = [lv for lv in profile.levels if lv[0] <= want + 1e-9]
        watts, mode = fitting[-1] if fitting else profile.levels[0]
        return watts, mode
    return min(max(want, profile.min_w), profile.max_w), None


def _fraction_for(profiles: list[_Profile], budget: float, fixed: Mapping[str, float] | None = None) -> float:
    """Largest common fraction whose total stays within budget (bisection; totals are monotone)."""
    fixed = fixed or {}

    def total(f: float) -> float:
        return sum(fixed.get(p.miner.ip) if p.miner.ip in fixed else _share(p, f)[0] for p in profiles)

    high = max((p.max_w / p.nominal_w for p in profiles), default=1.0)
    if total(high) <= budget:
        return high
    low = 0.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if total(mid) <= budget else (low, mid)
    return low


def _plan_shares(on: list[_Profile], budget: float, keep: Mapping[str, tuple[float, str]]) -> dict[str, tuple[float, str | None]]:
    """Watts (and mode) per on-miner: mode miners in ``keep`` hold their level, the rest share the budget."""
    fraction = _fraction_for(on, budget, {ip: w for ip, (w, _) in keep.items()})
    discrete = {p.miner.ip: keep.get(p.miner.ip) or _share(p, fraction) for p in on if p.levels}
    # Continuous miners absorb what the discrete ones left by rounding down.
    fraction2 = _fraction_for(on, budget, {ip: watts for ip, (watts, _) in discrete.items()})
    shares = {p.miner.ip: discrete.get(p.miner.ip) or _share(p, max(fraction, fraction2)) for p in on}
    # Slack the continuous miners could not take (all at max, or none): step mode
    # miners up one level at a time, most efficient first, while it still fits.
    stepped = True
    while stepped:
        stepped = False
        for p in sorted((q for q in on if q.levels and q.miner.ip not in keep),
                        key=lambda q: (q.efficiency, _ip_key(q.miner.ip))):
            slack = budget - sum(w for w, _ in shares.values())
            higher = [lv for lv in p.levels if lv[0] > shares[p.miner.ip][0] + 1e-9]
            if higher and higher[0][0] - shares[p.miner.ip][0] <= slack + 1e-9:
                shares[p.miner.ip] = higher[0]
                stepped = True
    return shares


def _continuous(p: _Profile) -> bool:
    return p.kind in (KIND_WATTS, KIND_PERCENT) and not p.levels


def _distribute(on: list[_Profile], budget: float, settling_absorber: bool = False) -> None:
    shares = _plan_shares(on, budget, {})
    # Sticky modes: a mode change is a command (and on some firmware a restart of hashing) for a
    # few watts, so while a watt/percent miner can absorb the difference, mode miners keep the
    # mode they run (bench/solar_week: four Bitaxes flipped eco/standard 12 times a day otherwise).
    # A watt/percent miner still settling in its grace window takes up any difference once it is
    # free again (bench/ems_dispatch: without this, 12 Bitaxes/Avalons got a second command 5 s
    # after each dispatch, the grace window having frozen the Whatsminers and BraiinsOS units).
    keep = {p.miner.ip: next(lv for lv in p.levels if lv[1] == p.current_mode)
            for p in on if p.kind == KIND_MODES and p.current_mode is not None}
    if keep and (settling_absorber or any(_continuous(p) for p in on)):
        sticky = _plan_shares(on, budget, keep)
        total, sticky_total = sum(w for w, _ in shares.values()), sum(w for w, _ in sticky.values())
        close = sticky_total >= total - max(1.0, 0.02 * budget)
        if sticky_total <= budget + 1e-9 and (close or settling_absorber):
            shares = sticky
    for p in on:
        p.planned_w, p.mode = shares[p.miner.ip]


def _fixed_draw(profiles: list[_Profile], target: float, pinned_percent: Mapping[str, float],
                lowest: bool) -> tuple[float, list[_Profile]]:
    """Stage 2: settle what is not shared (frozen miners, always-on loads, pins, fail-safe lowest, miners
    held off); returns the budget left and the miners that share it."""
    budget = target
    candidates: list[_Profile] = []
    for p in profiles:
        pin = pinned_percent.get(p.miner.ip)
        if p.frozen:
            p.on, p.planned_w = p.currently_on, p.frozen_w
            budget -= p.planned_w
        elif p.kind == KIND_FIXED:  # always on while online, whatever the readings say
            p.on, p.planned_w = True, p.min_w
            budget -= p.planned_w
        elif pin is not None:
            p.notes.append(f"manual override {pin:g} %")
            caps = p.miner.capabilities
            p.on = (pin > 0 and (p.currently_on or WAKE in caps)) or (p.currently_on and SLEEP not in caps)
            p.planned_w, p.mode = _share(p, pin / 100.0) if p.on else (0.0, None)
            budget -= p.planned_w
        elif lowest:
            p.on = p.currently_on
            p.planned_w, p.mode = (p.min_w, p.levels[0][1] if p.levels else None) if p.on else (0.0, None)
            p.notes.append("fail-safe: lowest setting" if p.on else "fail-safe: stays off")
        elif not p.currently_on and not p.can_on:
            p.on, p.planned_w = False, 0.0
        else:
            candidates.append(p)
    return budget, candidates


def _choose_on(candidates: list[_Profile], profiles: list[_Profile], budget: float, urgent: bool) -> list[_Profile]:
    """Stage 3: which candidates run: the least efficient go off while the minimums exceed the budget."""
    # A miner in its grace window is still settling to its last level, so a budget it overshoots
    # now is not a reason to switch others off (they would come back once it settles: two
    # needless commands each); outside emergencies they wait at their lowest setting instead.
    settling = [p.miner.ip for p in profiles if p.frozen and p.currently_on]
    if settling and not urgent:
        for p in candidates:
            if p.currently_on and p.can_off:
                p.can_off = False
                p.notes.append(f"not switched off while {', '.join(settling)} settles (grace window)")
    # Below the sum of minimums: switch off the least efficient first.
    on = list(candidates)
    switched_off: list[_Profile] = []
    for p in sorted(candidates, key=lambda q: (-q.efficiency, _ip_key(q.miner.ip))):
        if sum(q.min_w for q in on) <= budget + 1e-9:
            break
        if p.can_off:
            on.remove(p)
            switched_off.append(p)
            p.notes.append(f"switched off: sum of minimums above the budget, least efficient "
                           f"({_fmt_eff(p.efficiency)}) goes first")
    # Refill: a switched-off miner whose minimum fits the slack comes back, most efficient first.
    for p in sorted(switched_off, key=lambda q: (q.efficiency, _ip_key(q.miner.ip))):
        if sum(q.min_w for q in on) + p.min_w <= budget + 1e-9:
            on.append(p)
            switched_off.remove(p)
            p.notes.pop()
    for p in switched_off:
        p.on, p.planned_w = False, 0.0
    for p in on:
        p.on = True
    return on


# --- the allocator -----------------------------------------------------------------
class PowerAllocator:
    """Turns a fleet target (watts or percent of the online fleet's rated watts) into per-miner settings."""

    def __init__(self, settings: AllocatorSettings | None = None) -> None:
        self.settings = settings or AllocatorSettings()

    @staticmethod
    def rated_w(miners: Iterable[MinerInput]) -> float:
        """Nominal watts of the online miners (what 100 % means)."""
        return sum(n for m in miners if m.online for n in [nominal_power(m)[0]] if n is not None)

    def allocate(self, miners: Iterable[MinerInput], history: Mapping[str, MinerHistory], now: float, *,
                 target_w: float | None = None, target_percent: float | None = None, urgent: bool = False,
                 lowest: bool = False, pinned_percent: Mapping[str, float] | None = None,
                 safety_off: Iterable[str] = (), immediate: bool = False) -> AllocationPlan:
        """Plan settings for ``target_w`` or ``target_percent`` (exactly one); deltas only, sorted by IP.

        ``urgent`` (battery emergency, fail-safe off): the grace window and the
        minimum on-time do not hold a miner on. ``lowest`` (fail-safe first
        stage): every running miner to its lowest setting, none switched on,
        the target is ignored. ``pinned_percent`` (manual per-miner override):
        that miner at that percent of its nominal (0 = off), outside the budget
        sharing; it still waits out its grace window, not its on/off times.
        ``safety_off`` (overheated miners): stopped now, above any pin; the
        grace window and the minimum on-time do not hold them. ``immediate``
        (the first plan of a new EMS dispatch): no timer holds any miner, not
        even the minimum off-time of a miner the EMS stopped a minute ago.
        """
        if (target_w is None) == (target_percent is None):
            raise ValueError("give exactly one of target_w and target_percent")
        miners = sorted(miners, key=lambda m: _ip_key(m.ip))
        safety_off = set(safety_off)
        pinned_percent = {**(pinned_percent or {}), **{ip: 0.0 for ip in safety_off}}
        rated = self.rated_w(miners)
        target = float(target_w) if target_w is not None else rated * max(0.0, float(target_percent)) / 100.0
        target = max(0.0, target)
        plans, profiles = self._profiles(miners, history, now, urgent, safety_off, immediate)
        budget, candidates = _fixed_draw(profiles, target, pinned_percent, lowest)
        on = _choose_on(candidates, profiles, budget, urgent)
        _distribute(on, max(budget, 0.0), any(p.frozen and p.currently_on and _continuous(p) for p in profiles))
        if sum(q.min_w for q in on) > budget + 1e-9 and on:
            for p in on:
                if not p.can_off:
                    p.notes.append("kept at its lowest setting although the budget is smaller (cannot be switched off now)")

        settings: list[MinerSetting] = []
        for p in profiles:
            settings.extend(self._deltas(p, history.get(p.miner.ip, MinerHistory())))
            plans[p.miner.ip] = MinerPlan(p.miner.ip, p.kind, p.on, round(p.planned_w, 1), "; ".join(p.notes))
        settings.sort(key=lambda s: (_ip_key(s.ip), _ACTION_ORDER[s.action]))
        ordered = tuple(plans[m.ip] for m in miners)
        return AllocationPlan(round(target, 1), round(rated, 1), round(sum(m.expected_w for m in ordered), 1),
                              tuple(settings), ordered)

    def _profiles(self, miners: list[MinerInput], history: Mapping[str, MinerHistory], now: float, urgent: bool,
                  safety_off: set[str], immediate: bool) -> tuple[dict[str, MinerPlan], list[_Profile]]:
        """Stage 1: a profile per commandable miner; plans already final for offline and unknown-power ones."""
        plans: dict[str, MinerPlan] = {}
        profiles: list[_Profile] = []
        for miner in miners:
            if not miner.online:
                plans[miner.ip] = MinerPlan(miner.ip, _kind(miner), False, 0.0,
                                            "offline or stale: not commanded, counted as 0 W")
                continue
            profile = _profile(miner, history.get(miner.ip, MinerHistory()), now, self.settings,
                               urgent or miner.ip in safety_off, immediate)
            if profile is None:
                measured = float(miner.power_w or 0.0)
                plans[miner.ip] = MinerPlan(miner.ip, _kind(miner), measured > 0, measured,
                                            nominal_power(miner)[1] + "; not commanded")
                continue
            profiles.append(profile)
        return plans, profiles

    def _deltas(self, p: _Profile, history: MinerHistory) -> list[MinerSetting]:
        if p.frozen or p.kind == KIND_FIXED:
            return []
        ip = p.miner.ip
        if not p.on:
            if not p.currently_on:
                p.notes.append("stays off")
                return []
            p.notes.append("sleep")
            return [MinerSetting(ip, SLEEP_ACTION, None, "; ".join(p.notes))]
        out: list[MinerSetting] = []
        if not p.currently_on:
            out.append(MinerSetting(ip, WAKE_ACTION, None, "; ".join(p.notes + ["switched on"])))
        action, value = self._level(p)
        if action is None:
            p.notes.append(f"on/off load at {p.planned_w:g} W")
        elif self._changed(p, history, action, value):
            reason = f"{action.replace('set_', '').replace('_', ' ')} -> {value}"
            p.notes.append(reason)
            out.append(MinerSetting(ip, action, value, "; ".join(p.notes)))
        else:
            p.notes.append(f"unchanged ({history.level_value})")
            # Inside the deadband the miner keeps its previous setpoint: count that, not the plan.
            kept = _level_power(p, history.level_action, history.level_value)
            p.planned_w = kept if kept is not None else p.planned_w
        return out

    @staticmethod
    def _level(p: _Profile) -> tuple[str | None, int | str | None]:
        # Whole watts/percent rounded DOWN (never above the share), but not below the miner's minimum;
        # planned_w follows, so expected_w is what the command really asks for.
        if p.kind == KIND_WATTS and p.levels:  # planned_w is one of the steps already
            return SET_POWER_WATTS, int(round(p.planned_w))
        if p.kind == KIND_WATTS:
            watts = _quantize(p.planned_w, 1.0, p.min_w)
            p.planned_w = float(watts)
            return SET_POWER_WATTS, watts
        if p.kind == KIND_PERCENT:
            step = p.nominal_w / 100.0
            percent = max(0, min(100, _quantize(p.planned_w, step, p.min_w)))
            p.planned_w = percent * step
            return SET_POWER_PERCENT, percent
        if p.kind == KIND_MODES:
            return SET_MODE, p.mode
        return None, None

    def _changed(self, p: _Profile, history: MinerHistory, action: str, value: int | str | None) -> bool:
        if history.level_action != action or history.level_value is None:
            return True
        if action == SET_POWER_WATTS and isinstance(history.level_value, (int, float)) and isinstance(value, int):
            return abs(value - history.level_value) >= max(1.0, self.settings.watts_deadband_fraction * p.nominal_w)
        return history.level_value != value


def miner_input(record: Any, now: float, max_age_sec: float, overrides: Mapping[str, float] | None = None,
                learned_w: float | None = None) -> MinerInput:
    """A MinerInput from a FleetManager MinerRecord; stale (last good read older than max_age_sec) counts as offline.

    ``overrides`` may hold nominal_w, min_w, max_w for this miner (config/UI); ``learned_w``: its
    learned full-setting power (services/power/learned.py NominalLog.get).
    """
    status = record.status
    fresh = bool(record.online) and record.last_seen_ts is not None and now - record.last_seen_ts <= max_age_sec
    overrides = overrides or {}
    return MinerInput(
        ip=record.ip, family=record.family,
        model=(status.model if status is not None and status.model else record.model),
        online=fresh, capabilities=frozenset(record.driver.capabilities), modes=tuple(record.driver.modes),
        power_steps_w=tuple(record.driver.power_steps_w),
        power_range_w=_range(getattr(record.driver, "power_range_w", None)),
        power_w=status.power_w if status is not None else None,
        hashrate_hs=status.hashrate_hs if status is not None else None,
        nominal_w=overrides.get("nominal_w"), min_w=overrides.get("min_w"), max_w=overrides.get("max_w"),
        learned_w=learned_w)


def _range(value: Any) -> tuple[float, float] | None:
    """A driver's power_range_w as two floats, or None when it is not a (low, high) pair."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return float(value[0]), float(value[1])
    return None


def record_commands(history: Mapping[str, MinerHistory], done: Iterable[MinerSetting],
                    now: float) -> dict[str, MinerHistory]:
    """New histories after ``done`` (the settings that succeeded) were executed at ``now``."""
    result = dict(history)
    for s in done:
        h = result.get(s.ip, MinerHistory())
        if s.action in (SLEEP_ACTION, WAKE_ACTION):
            turned_on = s.action == WAKE_ACTION
            switch_ts = now if h.on is not turned_on else h.last_switch_ts
            h = replace(h, on=turned_on, last_switch_ts=switch_ts, last_command_ts=now)
            if not turned_on:
                # Firmware may wake at another level than the one last sent (stock Antminer X19 wakes
                # in "normal" whatever mode it slept from), so the level is sent again after a wake.
                h = replace(h, level_action=None, level_value=None)
        else:
            h = replace(h, level_action=s.action, level_value=s.value, last_command_ts=now,
                        on=True if h.on is None else h.on)
        result[s.ip] = h
    return result


def _quantize(watts: float, step: float, min_w: float) -> int:
    """Whole steps at or below ``watts``, or the first step at or above ``min_w`` when that is higher."""
    down = math.floor(watts / step + 1e-9)
    return down if down * step >= min_w - 1e-9 else math.ceil(min_w / step - 1e-9)


def _fmt_eff(value: float) -> str:
    return "efficiency unknown" if math.isinf(value) else f"{value:.1f} J/TH"


def _ip_key(ip: str) -> tuple[int, ...] | tuple[int, str]:
    parts = ip.split(".")
    if len(parts) == 4 and all(x.isdigit() for x in parts):
        return tuple(int(x) for x in parts)
    return (1 << 30, ip)
