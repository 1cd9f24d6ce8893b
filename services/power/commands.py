"""POST /api/autocontrol without Flask: validate a JSON body completely, then apply it to a PowerController."""

from __future__ import annotations

import math
from typing import Any

from .controller import PowerController

_KEYS = {"enabled", "policy", "override"}
_OVERRIDE_KEYS = {"percent", "minutes", "until", "miner", "clear"}
MAX_UNTIL_S = 366 * 86400  # an override's "until" at most a year ahead (1e309 = inf never ended)


def _shown(value: Any) -> str:
    """A short repr for an error message (never the whole of a huge value)."""
    if isinstance(value, (dict, list, str)) and len(value) > 40:
        return f"<a long {type(value).__name__}>"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "<a huge number>"  # repr of a 5,000-digit int raises ValueError
    return repr(value)[:60]


def _number(value: Any, key: str) -> float:
    """A finite number (a 401-digit integer or inf is refused here, not an OverflowError later)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key}: expected a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{key}: expected a finite number")
    return number


def apply_command(ctl: PowerController, body: Any, *, now: float | None = None, by: str = "") -> dict:
    """Apply {"enabled", "policy", "override": {percent, minutes|until, miner} | {clear, miner}}; return status().

    Everything is checked before anything changes, so a bad body changes nothing;
    ValueError messages name the field ("override.percent: must be 0-100, got 120").
    """
    now = ctl.clock() if now is None else now
    if not isinstance(body, dict) or not body:
        raise ValueError("body: expected a JSON object with enabled, policy or override")
    unknown = set(body) - _KEYS
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown field (known: {', '.join(sorted(_KEYS))})")
    enabled = body.get("enabled")
    if "enabled" in body and not isinstance(enabled, bool):
        raise ValueError(f"enabled: expected true or false, got {_shown(enabled)}")
    policy = body.get("policy")
    if "policy" in body and policy not in ("ratchet", "surplus"):
        raise ValueError(f"policy: must be ratchet or surplus, got {_shown(policy)}")
    ov = body.get("override")
    plan = None
    if "override" in body:
        if not isinstance(ov, dict):
            raise ValueError("override: expected an object {percent, minutes or until, miner} or {clear: true, miner}")
        unknown = set(ov) - _OVERRIDE_KEYS
        if unknown:
            raise ValueError(f"override.{sorted(unknown)[0]}: unknown field (known: {', '.join(sorted(_OVERRIDE_KEYS))})")
        miner = ov.get("miner")
        if miner is not None and (not isinstance(miner, str) or not miner):
            raise ValueError(f"override.miner: expected a miner id (text), got {type(miner).__name__}")
        if ov.get("clear") is True:
            plan = ("clear", miner)
        else:
            if "percent" not in ov:
                raise ValueError("override.percent: required (0-100), or clear: true")
            percent = _number(ov["percent"], "override.percent")
            if not 0 <= percent <= 100:
                raise ValueError(f"override.percent: must be 0-100, got {percent:g}")
            if "minutes" in ov and "until" in ov:
                raise ValueError("override.until: give minutes or until, not both")
            until = None
            if ov.get("minutes") is not None:
                minutes = _number(ov["minutes"], "override.minutes")
                if not 0 < minutes <= 7 * 24 * 60:
                    raise ValueError(f"override.minutes: must be above 0 and at most 10080 (a week), got {minutes:g}")
                until = now + minutes * 60
            elif ov.get("until") is not None:
                until = _number(ov["until"], "override.until")
                if until <= now:
                    raise ValueError("override.until: must be in the future (epoch seconds)")
                if until > now + MAX_UNTIL_S:
                    raise ValueError("override.until: at most 366 days ahead (epoch seconds)")
            plan = ("set", miner, percent, until)
    if policy is not None:
        ctl.set_policy(policy)
    if enabled is not None:
        ctl.set_enabled(enabled)
    if plan and plan[0] == "clear":
        ctl.clear_override(miner=plan[1])
    elif plan:
        ctl.set_override(plan[2], until=plan[3], by=by, miner=plan[1], now=now)
    return ctl.status()
