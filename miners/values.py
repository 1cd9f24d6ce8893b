"""Small value helpers every driver shares: lenient numbers, MAC text, scrubbing secrets out of firmware text.

A reply value may be anything a lying or buggy firmware sends (a string where a
number belongs, a list, ``NaN``, ``1e999``): these helpers answer ``None`` for
what is not the expected kind, never raise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

_NOT_HEX = re.compile(r"[^0-9A-Fa-f]")


def num(value: Any) -> float | None:
    """A finite float from a number or numeric string ("54997.01", " 69.2461"); None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def integer(value: Any) -> int | None:
    """An int from a number or numeric string (fraction dropped); None otherwise."""
    result = num(value)
    return int(result) if result is not None else None


def positive(value: Any) -> float | None:
    """The number if it is > 0 (0 is how bmminer says "no such sensor/fan"), else None."""
    result = num(value)
    return result if result is not None and result > 0 else None


def stripped(value: Any) -> str | None:
    """A stripped, non-empty string; None for anything else."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def mac_address(value: Any) -> str | None:
    """"C0:FA:38:6A:6E:B2" from any separator or none ("c0fa386a6eb2", "C0-FA-..."); None unless 12 hex digits."""
    if not isinstance(value, str):
        return None
    digits = _NOT_HEX.sub("", value)
    if len(digits) != 12:
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2)).upper()


def scrub(message: str, secrets: Iterable[str]) -> str:
    """``message`` with every secret of two or more characters replaced by ``***``.

    Firmware error texts may echo what was sent (a pool password in an ``addpool``
    refusal, a web password in a CGI reply); they are scrubbed before they reach
    a user-visible message or a log line. One-character secrets are left: masking
    every "x" would garble the message and hide nothing.
    """
    for secret in secrets:
        if len(secret) >= 2:
            message = message.replace(secret, "***")
    return message


__all__ = ["integer", "mac_address", "num", "positive", "scrub", "stripped"]
