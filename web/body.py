"""The one request-body reader of every JSON route, and typed getters that refuse bad values with a 4xx.

The bytes go through services/jsonbody.py (size, nesting depth, numbers, UTF-8
text); the getters bound each field before a route uses it. Every refusal is a
``BadRequest`` that app.py answers as ``{"error": reason}`` with its status
(400, or 413 for a body over the cap), before anything has changed.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any, Iterable

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from services.jsonbody import MAX_BYTES, BadJson, decode

MAX_TEXT = 256  # a name, URL, user or password; longer is not ours


class BadRequest(Exception):
    """A request refused with ``status`` (400 unless said) and a one-line reason."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _raw(max_bytes: int) -> bytes:
    """The request body, at most ``max_bytes`` (413 above), read once."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise BadRequest(f"body too large ({length} bytes; at most {max_bytes})", 413)
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:  # no Content-Length (chunked) and over MAX_CONTENT_LENGTH
        raise BadRequest(f"body too large (at most {max_bytes} bytes)", 413) from None


_EMPTY: Any = object()


def json_value(*, default: Any = None, max_bytes: int = MAX_BYTES) -> Any:
    """The body's JSON value (``default`` for an empty body); BadRequest for anything but bounded JSON."""
    raw = _raw(max_bytes)
    if not raw.strip():
        return default
    if not request.is_json:
        raise BadRequest("send JSON with Content-Type: application/json")
    try:
        return decode(raw, max_bytes=max_bytes)
    except BadJson as exc:
        raise BadRequest(str(exc), 413 if exc.kind == "size" else 400) from None


def json_object(fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The body as a JSON object ({} when empty); with ``fields``, any other key is refused by name."""
    value = json_value(default={})
    if not isinstance(value, dict):
        raise BadRequest(f"the body must be a JSON object, not {_kind(value)}")
    if fields is not None:
        check_fields(value, fields)
    return value


def no_body() -> None:
    """For routes that take nothing: an empty body or ``{}`` (what the dashboard sends), else BadRequest."""
    value = json_value(default=_EMPTY)
    if value is _EMPTY or value == {}:
        return
    if isinstance(value, dict):
        raise BadRequest(f"this action takes no fields: got {', '.join(map(repr, sorted(value)))[:120]}")
    raise BadRequest(f"this action takes no body (or {{}}), not {_kind(value)}")


def check_fields(value: dict[str, Any], fields: Iterable[str], where: str = "") -> None:
    """BadRequest naming the first key of ``value`` that is not one of ``fields``."""
    known = set(fields)
    unknown = sorted(set(value) - known)
    if unknown:
        raise BadRequest(f"{where}{unknown[0][:40]!r}: unknown field (known: {', '.join(sorted(known))})")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "an array", str: "a string", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def whole(value: Any, name: str, low: int, high: int) -> int:
    """A whole number in [low, high] (50.0 counts as 50), else BadRequest naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{name} must be a number, not {_kind(value)}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise BadRequest(f"{name} must be a whole number")
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return int(value)


def number(value: Any, name: str, low: float, high: float) -> float:
    """A finite number in [low, high], else BadRequest naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{name} must be a number, not {_kind(value)}")
    if not (isinstance(value, int) or math.isfinite(value)) or not low <= value <= high:
        raise BadRequest(f"{name} must be between {low:g} and {high:g}")
    return float(value)


def text(value: Any, name: str, *, max_len: int = MAX_TEXT, empty: bool = False) -> str:
    """A string of printable text (no control characters, valid UTF-8), at most ``max_len`` characters."""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string, not {_kind(value)}")
    if not value and not empty:
        raise BadRequest(f"{name} must not be empty")
    if len(value) > max_len:
        raise BadRequest(f"{name} is too long ({len(value)} characters; at most {max_len})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{name} is not valid text (a lone UTF-16 surrogate)") from None
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise BadRequest(f"{name} must not contain control characters")
    return value


def boolean(value: Any, name: str) -> bool:
    """true or false, else BadRequest naming ``name``."""
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, not {_kind(value)}")
    return value


def ipv4(value: Any, name: str = "ip") -> str:
    """A dotted IPv4 address (a path segment or a field), normalised, else BadRequest naming ``name``."""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string like 192.168.1.50")
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        raise BadRequest(f"{name} is not an IPv4 address: {value[:40]!r}") from None
