"""Strict parsing of the EMS activate body: ``{"activationPowerInKw": <number>}`` and nothing else.

Python's json module accepts NaN, Infinity and duplicate keys, and turns 1e400
into inf; an EMS contract must not. Every refusal is a one-line reason the
EMS can log (it is sent back as ``message`` with HTTP 400).
"""

from __future__ import annotations

import json
import math
from typing import Any

FIELD = "activationPowerInKw"
MAX_BODY_BYTES = 4096  # the body is one small object; anything bigger is not ours


class BadActivation(ValueError):
    """The activate request is malformed; str() is the reason for the EMS."""


def _no_constants(name: str) -> Any:
    raise BadActivation(f"{FIELD}: {name} is not a number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise BadActivation(f"{key}: given twice")
        seen[key] = value
    return seen


def parse_activation(body: bytes, is_json: bool) -> float:
    """The requested kW from a raw request body, or BadActivation naming the problem (range not checked)."""
    if not body or not body.strip():
        raise BadActivation(f'empty body: send {{"{FIELD}": <kW>}} as JSON')
    if len(body) > MAX_BODY_BYTES:
        raise BadActivation(f"body too large ({len(body)} bytes)")
    if not is_json:
        raise BadActivation("send JSON with Content-Type: application/json")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
    except BadActivation:
        raise
    except UnicodeDecodeError:
        raise BadActivation("body is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise BadActivation(f"body is not valid JSON: {str(exc).split(':')[0]}") from None
    if not isinstance(data, dict):
        raise BadActivation(f'body must be a JSON object {{"{FIELD}": <kW>}}, got {type(data).__name__}')
    if FIELD not in data:
        raise BadActivation(f"{FIELD}: missing")
    extra = sorted(k for k in data if k != FIELD)
    if extra:
        raise BadActivation(f"{extra[0][:40]}: unknown field (only {FIELD} is allowed)")
    value = data[FIELD]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = json.dumps(value)[:40]
        raise BadActivation(f"{FIELD}: must be a JSON number, got {shown}")
    number = float(value) if not isinstance(value, int) or abs(value) < 10 ** 300 else math.inf
    if not math.isfinite(number):
        raise BadActivation(f"{FIELD}: must be a finite number")
    return number
