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
# A number with an optional SI letter: cgminer's suffix_string() ("4.29G", "65.5K", and
# "1e+03K" when %.3g rounds 999.6 up), NerdOS "270M", NMMiner "4.021M", a padded "1.03 P".
# Only "k" is accepted in lower case: a lower-case "m" would read as milli.
_SI_NUMBER = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([kKMGTPE]?)\s*$")
_SI_SCALE = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


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


def si_number(value: Any) -> float | None:
    """A finite float from a number, a numeric string or one with an SI letter ("4.29G" -> 4.29e9); None otherwise."""
    if isinstance(value, str):
        match = _SI_NUMBER.match(value)
        if not match:
            return None
        result = num(match.group(1))
        if result is None:
            return None
        scaled = result * _SI_SCALE[match.group(2).upper()]
        return scaled if math.isfinite(scaled) else None
    return num(value)


def difficulty(value: Any) -> float | None:
    """A share difficulty (best share, pool or network difficulty): a number >= 0 or an SI string; None otherwise.

    AxeOS up to v2.10 and NerdOS before ~1.0.35 send "4.29G"; later builds, and every
    cgminer-API firmware, send the number. A negative difficulty does not exist.
    """
    result = si_number(value)
    return result if result is not None and result >= 0 else None


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


def scrub(message: str, secrets: Iterable[str], shortest: int = 2) -> str:
    """``message`` with every secret of ``shortest`` or more characters replaced by ``***``.

    Firmware error texts may echo what was sent (a pool password in an ``addpool``
    refusal, a web password in a CGI reply); they are scrubbed before they reach
    a user-visible message or a log line. One-character secrets are left: masking
    every "x" would garble the message and hide nothing.
    """
    for secret in secrets:
        if len(secret) >= shortest:
            message = message.replace(secret, "***")
    return message


__all__ = ["difficulty", "integer", "mac_address", "num", "positive", "scrub", "si_number", "stripped"]
