"""PowerController: one fleet power decision per tick, from a battery reading, the clock and overrides.

Precedence (DESIGN section 5, issue 12), high to low: safety (battery emergency,
stale or missing battery data, overheating) > manual override > EMS dispatch >
rules and schedules > price/profitability limit > solar policy ("ratchet" or
"surplus"). Every Decision names its ``layer`` (and ``rule``). At most one change
per min_interval_sec, except safety and explicit commands (override, EMS, a
rule), which apply at once. No I/O apart from the injected state store; the
control step (services/control/step.py) computes the rules' and the price's
wishes and hands them in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any, Callable

from services.rules.engine import FleetWish

from .decision import BatteryReading, Decision, PriceBand, Timer, fmt_duration, fmt_pct
from .ratchet import ratchet_step
from .safety import age_text as _age
from .safety import below_floor, stale_battery
from .state import STATE_KEY, ControllerState, Override, StateStore
from .sun import SunClock
from .surplus import surplus_step

# Seconds a stop takes to show after it is ordered (a miner finishing its sleep/curtail command);
# the floor is judged on the SOC this long plus one tick ahead. bench/solar_week models 10-30 s.
STOP_LEAD_SEC = 60.0
# A SOC trend needs readings at least this far apart, and no battery falls faster than about 1C
# (1.7 %/min): a steeper "fall" between two readings is a recalibration or a test jump, not a trend.
TREND_MIN_SEC = 30.0
TREND_MAX_PCT_PER_SEC = 2.0 / 60


def _clamp(pct: float) -> float:
    return float(min(100.0, max(0.0, pct)))


@dataclasses.dataclass
class _PolicyView:
    """What the solar policy stage found: its wish and reason, the ratchet cap, surplus timers."""

    want: float | None = None
    reason: str = ""
    cap: float | None = None
    timers: list[Timer] = dataclasses.field(default_factory=list)
    night: bool | None = None
    falling: str = ""  # set when the SOC projected ahead crosses the floor


@dataclasses.dataclass(frozen=True)
class _Choice:
    """What the precedence picked: the wish, why, which layer (and rule), and whether it applies at once."""

    want: float
    reason: str
    layer: str
    immediate: bool
    timers: list[Timer]
    lowest: bool = False
    rule: str | None = None


@dataclasses.dataclass
class _SafetyView:
    """What the safety stage found: (ceiling %, reason) per rule that applies, the alert, fail-safe timers."""

    ceilings: list[tuple[float, str]] = dataclasses.field(default_factory=list)
    alert: str | None = None
    lowest: bool = False
    timers: list[Timer] = dataclasses.field(default_factory=list)


def _override_reason(ov: Override) -> str:
    """'manual override 60%' or 'manual override 60% until 14:30' (local time)."""
    until = f" until {dt.datetime.fromtimestamp(ov.until).astimezone():%H:%M}" if ov.until else ""
    return f"manual override {fmt_pct(ov.percent)}{until}"


def _ems_reason(percent: float, watts: float | None) -> str:
    """'EMS dispatch 5 kW', 'EMS deactivated -> off' (watts, not percent: rated power moves every poll)."""
    if watts is None:
        return f"EMS dispatch -> {fmt_pct(_clamp(percent))}"
    if watts <= 0:
        return "EMS deactivated -> off"
    return f"EMS dispatch {watts / 1000:.3f}".rstrip("0").rstrip(".") + " kW"


def sun_clock(cfg: Any, tz: dt.tzinfo | None) -> SunClock:
    """The night clock of an AutocontrolConfig: latitude/longitude, else the fixed sunrise and sunset."""
    return SunClock(cfg.latitude, cfg.longitude, (cfg.sunrise_hour, cfg.sunrise_minute),
                    (cfg.sunset_hour, cfg.sunset_minute), tz)


class PowerController:
    """Decides the fleet's power each tick; state persists through ``store`` (get/set of JSON)."""

    def __init__(self, cfg, store: StateStore, *, clock: Callable[[], float] = time.time,
                 tz: dt.tzinfo | None = None, sun: SunClock | None = None) -> None:
        """cfg is services.config.AutocontrolConfig; a saved state in store wins over cfg.enabled/policy."""
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.sun = sun or sun_clock(cfg, tz)
        saved = store.get(STATE_KEY)
        self.state = ControllerState.from_json(saved) if saved else ControllerState(enabled=cfg.enabled, policy=cfg.policy)
        self._saved = self._snapshot()
        self.last: Decision | None = None
        self._last_soc: tuple[float, float] | None = None

    # --- commands (from POST /api/autocontrol) -------------------------------
    def set_enabled(self, enabled: bool) -> None:
        """Switch autocontrol on or off (persisted); switching on makes the next decision apply at once."""
        if enabled and not self.state.enabled:
            # While off, nothing was applied: the next tick is a fresh first decision, not a "change".
            self.state.applied_percent = None
        self.state.enabled = bool(enabled)
        self._save()

    def set_policy(self, policy: str) -> None:
        """Choose "ratchet" or "surplus" (persisted); surplus timers restart."""
        if policy not in ("ratchet", "surplus"):
            raise ValueError(f"policy: must be ratchet or surplus, got {policy!r}")
        if policy != self.state.policy:
            self.state.policy = policy
            self.state.enable_since = self.state.disable_since = self.state.last_probe_at = None
        self._save()

    def set_override(self, percent: float, *, until: float | None = None, by: str = "",
                     miner: str | None = None, now: float | None = None) -> Override:
        """Set a manual override for the fleet (miner None) or one miner id, until an optional expiry."""
        now = self.clock() if now is None else now
        if not 0 <= percent <= 100:
            raise ValueError(f"percent: must be 0-100, got {percent}")
        if until is not None and until <= now:
            raise ValueError("until: must be in the future")
        ov = Override(float(percent), until, now, by)
        if miner is None:
            self.state.override = ov
        else:
            self.state.miner_overrides[str(miner)] = ov
        self._save()
        return ov

    def clear_override(self, miner: str | None = None) -> None:
        """Remove the fleet override (miner None) or one miner's."""
        if miner is None:
            self.state.override = None
        else:
            self.state.miner_overrides.pop(str(miner), None)
        self._save()

    # --- the tick ---------------------------------------------------------------
    def tick(self, reading: BatteryReading | None, now: float | None = None, *, rated_w: float = 0.0,
             fleet_w: float | None = None, overheating: bool = False,
             ems_percent: float | None = None, ems_w: float | None = None, battery: bool = True,
             rule: FleetWish | None = None, price: PriceBand | None = None) -> Decision:
        """Decide the fleet's power now; rated_w = the fleet's rated watts, fleet_w = measured miner watts.

        ``ems_w`` (or ``ems_percent``): an active EMS dispatch in watts (0 = the EMS stopped the
        fleet); the Decision then carries those watts as target_w. ``battery=False``: the site has
        no battery (battery.source none): no stale-data fail-safe, no emergency, the policy wants 0 %.
        ``rule``: the rules layer's fleet wish; ``price``: the price layer's band around the policy.
        """
        now = self.clock() if now is None else now
        notes: list[str] = []
        self._expire_overrides(now, notes)
        if ems_w is not None:
            ems_w = max(0.0, float(ems_w))
            ems_percent = round(min(100.0, ems_w / rated_w * 100), 1) if rated_w > 0 else (100.0 if ems_w else 0.0)
        if not battery:
            st = self.state
            st.stale_since = st.enable_since = st.disable_since = None
            st.emergency = False
            policy = _PolicyView(want=0.0, reason="no battery (battery.source: none): the solar policy keeps the fleet off")
            safety = self._safety_stage(now, None, None, "", overheating)
            choice = self._precedence(safety, policy, ems_percent, ems_w, rule, price)
            return self._decide(now, notes, choice, rated_w, ems_w=ems_w if choice.layer == "ems" else None)

        age = None if reading is None else max(0.0, now - reading.measured_at)
        soc = None if reading is None else reading.soc_pct
        stale_why = stale_battery(reading, now, self.cfg.stale_after_sec)
        stale = stale_why is not None
        policy = self._policy_stage(reading, now, stale, rated_w, fleet_w)
        safety = self._safety_stage(now, stale_why, soc, policy.falling, overheating)
        choice = self._precedence(safety, policy, ems_percent, ems_w, rule, price)
        return self._decide(now, notes, choice, rated_w, ems_w=ems_w if choice.layer == "ems" else None,
                            cap=policy.cap, stale=stale, alert=safety.alert, age=age, soc=soc, night=policy.night)

    # --- the tick's stages ---------------------------------------------------------
    def _policy_stage(self, reading: BatteryReading | None, now: float, stale: bool, rated_w: float,
                      fleet_w: float | None) -> _PolicyView:
        """What the solar policy (ratchet or surplus) wants, and the emergency latch it moves; nothing when stale."""
        cfg, st = self.cfg, self.state
        view = _PolicyView(cap=st.cap_percent if st.policy == "ratchet" else None)
        if stale:
            if st.stale_since is None:
                st.stale_since = now
            st.enable_since = st.disable_since = None  # no data, no surplus timers
            return view
        assert reading is not None and reading.soc_pct is not None  # not stale
        soc = reading.soc_pct
        st.stale_since = None
        sun = self.sun.state(now)
        view.night = sun.night
        safety_soc, view.falling = self._soc_ahead(soc, reading.measured_at)
        if st.policy == "ratchet":
            r = ratchet_step(safety_soc, st.cap_percent, sun.night, sun.why, emergency_soc=cfg.emergency_soc,
                             full_soc=cfg.full_soc, sunset_min_soc=cfg.sunset_min_soc)
            if r.emergency and view.falling:
                r = dataclasses.replace(r, reason=view.falling)
            st.cap_percent = view.cap = r.cap_percent
            view.want, view.reason = r.want_percent, r.reason
            if r.emergency:
                st.emergency = True
            elif st.emergency and r.cap_percent > 0:
                st.emergency = False  # the latch was lifted (full battery or the sunset rule)
            return view
        if below_floor(safety_soc, cfg.emergency_soc):
            st.emergency = True
        elif st.emergency and soc >= cfg.surplus.priority_soc:
            st.emergency = False  # refilled to the priority level: surplus may run again
        if st.emergency:
            st.enable_since = st.disable_since = None  # timers restart once the emergency ends
        else:
            s = surplus_step(reading, now, st, cfg.surplus, rated_w=rated_w, fleet_w=fleet_w)
            view.want, view.reason, view.timers = s.want_percent, s.reason, list(s.timers)
        return view

    def _safety_stage(self, now: float, stale_why: str | None, soc: float | None, falling: str,
                      overheating: bool) -> _SafetyView:
        """Safety first: each applicable rule (stale data, battery emergency, overheating) proposes a ceiling."""
        cfg, st = self.cfg, self.state
        view = _SafetyView()
        applied = st.applied_percent
        if (what := stale_why) is not None:
            view.alert = f"{what} (limit {_age(cfg.stale_after_sec)})"
            if cfg.failsafe == "off":
                view.ceilings.append((0.0, f"{what} -> fail-safe: off"))
            elif cfg.failsafe == "hold":
                view.ceilings.append((applied or 0.0, f"{what} -> fail-safe: hold {fmt_pct(applied or 0.0)}"))
            else:
                off_at = st.stale_since + cfg.failsafe_lowest_sec
                if now >= off_at or not applied:
                    view.ceilings.append((0.0, f"{what} -> fail-safe: off"))
                else:
                    view.lowest = True
                    low = min(applied, cfg.surplus.min_percent)
                    view.ceilings.append((low, f"{what} -> fail-safe: lowest setting"))
                    left = off_at - now
                    view.timers.append(Timer("failsafe_off", 0.0, off_at, left, f"off in {fmt_duration(left)}"))
        elif st.emergency:
            if falling:
                view.ceilings.append((0.0, falling))
            elif below_floor(soc, cfg.emergency_soc):
                view.ceilings.append((0.0, f"SOC {fmt_pct(soc)} <= {fmt_pct(cfg.emergency_soc)} emergency -> off"))
            elif st.policy == "ratchet":
                view.ceilings.append((0.0, f"emergency latched (SOC {fmt_pct(soc)}): off until "
                                           f"{fmt_pct(cfg.full_soc)} or after sunset above "
                                           f"{fmt_pct(cfg.sunset_min_soc)}"))
            else:
                view.ceilings.append((0.0, f"emergency latched (SOC {fmt_pct(soc)}): off until priority "
                                           f"{fmt_pct(cfg.surplus.priority_soc)}"))
        if overheating:
            view.ceilings.append((0.0, "miners overheating -> off"))
        return view

    def _precedence(self, safety: _SafetyView, policy: _PolicyView, ems_percent: float | None,
                    ems_w: float | None, rule: FleetWish | None = None, price: PriceBand | None = None) -> _Choice:
        """Safety > override > EMS > rules > price limit > solar policy: the first layer with a wish decides."""
        st = self.state
        if safety.ceilings:
            want, reason = min(safety.ceilings, key=lambda x: x[0])  # the lowest ceiling wins
            # Only the fail-safe's own timer survives a safety decision (policy timers do not apply).
            return _Choice(want, reason, "safety", True, list(safety.timers), safety.lowest and want != 0.0)
        if st.override is not None:
            return _Choice(st.override.percent, _override_reason(st.override), "override", True, [])
        if ems_percent is not None:
            return _Choice(_clamp(ems_percent), _ems_reason(ems_percent, ems_w), "ems", True, [])
        if rule is not None:
            # A rule is an explicit wish with its own guards (for_min, until, cooldown): it applies at once.
            return _Choice(_clamp(rule.percent), f"rule {rule.rule}: {rule.reason}", "rules", True, [], rule=rule.rule)
        want = policy.want if policy.want is not None else 0.0
        if price is not None:
            if want < price.floor:
                return _Choice(price.floor, price.floor_reason, "price", False, [])
            if want > price.ceiling:
                return _Choice(price.ceiling, price.ceiling_reason, "price", False, [])
        return _Choice(want, policy.reason, "policy", False, policy.timers)

    def _decide(self, now: float, notes: list[str], choice: _Choice, rated_w: float, *, ems_w: float | None = None,
                cap: float | None = None, stale: bool = False, alert: str | None = None, age: float | None = None,
                soc: float | None = None, night: bool | None = None) -> Decision:
        """Apply min_interval_sec to the chosen wish, record the change, and build the Decision."""
        cfg, st = self.cfg, self.state
        applied = st.applied_percent
        want, reason, immediate, timers = _clamp(choice.want), choice.reason, choice.immediate, list(choice.timers)
        next_change_at = None if st.last_change_at is None else st.last_change_at + cfg.min_interval_sec
        if applied is None or want == applied:
            target = want
        elif immediate or next_change_at is None or now >= next_change_at:
            target = want
        else:
            target = applied  # one change per min_interval_sec: hold, and show when it will happen
            left = next_change_at - now
            verb = "raising" if want > applied else "lowering"
            text = f"{verb} to {fmt_pct(want)} in {fmt_duration(left)}"
            timers.insert(0, Timer("raise" if want > applied else "lower", want, next_change_at, left, text))
            reason = f"{reason}; {text}"
        changed = applied is not None and target != applied
        if applied is None or changed:
            # The first decision after a (re)start counts as a change too: a command goes out.
            st.applied_percent = target
            st.last_change_at = now
            next_change_at = now + cfg.min_interval_sec
        if notes:
            reason = "; ".join(notes + [reason])
        if ems_w is not None:
            target_w = round(ems_w, 1)  # the dispatch is in watts: percent of rated is only for display
        else:
            target_w = round(target / 100 * rated_w, 1) if rated_w > 0 else None
        decision = Decision(
            at=now, enabled=st.enabled, policy=st.policy, target_percent=target,
            target_w=target_w,
            cap_percent=cap, reason=reason, source=choice.layer, failsafe=stale, emergency=st.emergency,
            lowest=choice.lowest, alert=alert, changed=changed, battery_age_sec=None if age is None else round(age, 1),
            soc_pct=soc, night=night, timers=tuple(timers),
            next_change_at=next_change_at if next_change_at is not None and next_change_at > now else None,
            layer=choice.layer, rule=choice.rule)
        self.last = decision
        self._save()
        return decision

    def status(self) -> dict:
        """The GET /api/autocontrol body: the state plus the last decision."""
        st = self.state
        body = {"enabled": st.enabled, "policy": st.policy, "target_percent": st.applied_percent,
                "cap_percent": st.cap_percent if st.policy == "ratchet" else None,
                "reason": "", "battery_age_sec": None, "failsafe": False, "emergency": st.emergency,
                "override": None if st.override is None else vars(st.override).copy(),
                "miner_overrides": {k: vars(v).copy() for k, v in st.miner_overrides.items()},
                "timers": [], "next_change_at": None, "decided_at": None,
                "target_w": None, "lowest": False, "alert": None, "source": None, "soc_pct": None, "night": None,
                "layer": None, "rule": None}
        if self.last is not None:
            d = self.last.to_dict()
            body.update({k: d[k] for k in ("target_percent", "target_w", "cap_percent", "reason", "battery_age_sec",
                                           "failsafe", "emergency", "lowest", "alert", "source", "soc_pct", "night",
                                           "timers", "next_change_at", "layer", "rule")})
            body["decided_at"] = d["at"]
        return body

    # --- helpers -----------------------------------------------------------------
    def _soc_ahead(self, soc: float, measured_at: float) -> tuple[float, str]:
        """The SOC to judge the emergency floor by: where it will be when a stop ordered now takes hold.

        A stop is only seen once a reading shows SOC <= emergency_soc, and miners keep drawing
        for up to one tick plus their own stop delay; on a falling battery that is mining below
        the floor (bench/solar_week found ~50 min a year). So the floor is judged on the SOC
        projected one tick plus STOP_LEAD_SEC ahead at the current rate of fall.
        """
        cfg = self.cfg
        ahead, note = soc, ""
        last = self._last_soc  # (soc, measured_at) of an earlier reading; not persisted (one sample)
        if last is not None and measured_at - last[1] >= TREND_MIN_SEC:
            rate = (last[0] - soc) / (measured_at - last[1])  # % per second, > 0 while falling
            projected = soc - rate * (cfg.tick_sec + STOP_LEAD_SEC)
            crosses = not below_floor(soc, cfg.emergency_soc) and below_floor(projected, cfg.emergency_soc)
            if 0 < rate <= TREND_MAX_PCT_PER_SEC and crosses:
                ahead = projected
                note = (f"SOC {fmt_pct(soc)} falling {rate * 60:.2f}%/min: reaches {fmt_pct(cfg.emergency_soc)} "
                        f"before the next tick -> off now")
        if last is None or measured_at - last[1] >= TREND_MIN_SEC or measured_at < last[1]:
            self._last_soc = (soc, measured_at)
        return ahead, note

    def _expire_overrides(self, now: float, notes: list[str]) -> None:
        if self.state.override is not None and self.state.override.expired(now):
            notes.append(f"override {fmt_pct(self.state.override.percent)} expired")
            self.state.override = None
        for miner, ov in list(self.state.miner_overrides.items()):
            if ov.expired(now):
                del self.state.miner_overrides[miner]

    def _snapshot(self) -> dict:
        # A shallow copy is enough to spot a change: overrides are replaced, never edited.
        return {**vars(self.state), "miner_overrides": dict(self.state.miner_overrides)}

    def _save(self) -> None:
        snap = self._snapshot()
        if snap != self._saved:  # write only real changes: the Pi's SD card thanks us
            self.store.set(STATE_KEY, self.state.to_json())
            self._saved = snap
