"""Strict parsing of the EMS activate body: ``{"activationPowerInKw": <number>}`` and nothing else.

Python's json module accepts NaN, Infinity and duplicate keys, turns 1e400
into inf and recurses once per nesting level (2,000 deep: RecursionError); an
EMS contract must not. The bytes go through services/jsonbody.py (size, depth,
numbers, UTF-8 text). Every refusal is a one-line reason the EMS can log (it is
sent back as ``message`` with HTTP 400).
"""

from __future__ import annotations

import json
import math

from services.jsonbody import BadJson, decode

FIELD = "activationPowerInKw"
MAX_BODY_BYTES = 4096  # the body is one small object; anything bigger is not ours
MAX_DEPTH = 4  # the body is flat; a little room so a nested mistake gets a type error, not a depth one


class BadActivation(ValueError):
    """The activate request is malformed; str() is the reason for the EMS."""


def _reason(exc: BadJson) -> str:
    """The decoder's refusal in the contract's words (the EMS's only number is FIELD)."""
    if exc.kind == "number" and exc.value in ("NaN", "Infinity", "-Infinity"):
        return f"{FIELD}: {exc.value} is not a number"
    if exc.kind == "number":
        return f"{FIELD}: must be a finite number, got {exc.value}"
    if exc.kind == "duplicate":
        return str(exc).strip("'").replace("': given", ": given", 1)
    return str(exc)


def parse_activation(body: bytes, is_json: bool) -> float:
    """The requested kW from a raw request body, or BadActivation naming the problem (range not checked)."""
    if not body or not body.strip():
        raise BadActivation(f'empty body: send {{"{FIELD}": <kW>}} as JSON')
    if len(body) > MAX_BODY_BYTES:
        raise BadActivation(f"body too large ({len(body)} bytes)")
    if not is_json:
        raise BadActivation("send JSON with Content-Type: application/json")
    try:
        data = decode(body, max_bytes=MAX_BODY_BYTES, max_depth=MAX_DEPTH)
    except BadJson as exc:
        raise BadActivation(_reason(exc)) from None
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
    number = float(value)  # the decoder bounds integers to 30 digits: no OverflowError
    if not math.isfinite(number):
        raise BadActivation(f"{FIELD}: must be a finite number")
    return number
