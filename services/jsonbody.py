"""Decode an untrusted JSON request body with bounds: size, nesting depth, numbers and text.

Python's json module alone is not safe for a body from the network: its C
scanner recurses once per nesting level (``[[[[...`` 2,000 deep raises
RecursionError), it accepts NaN and Infinity, turns 1e309 into inf, converts a
4,000-digit integer (quadratic time; ValueError above 4,300 digits), keeps the
last of duplicate keys, and lets a ``"\\ud800"`` escape through as a lone
surrogate that fails later when a driver or the database encodes it
(UnicodeEncodeError). ``decode`` checks all of that and raises BadJson with a
one-line reason a client can act on. No Flask here: web/body.py wraps it for the
routes, services/ems/request.py for the EMS contract.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_BYTES = 64 * 1024  # every body we take is a small object; app.py sets the same MAX_CONTENT_LENGTH
MAX_DEPTH = 16  # the deepest body we take is 3 levels ({"pools": [{"url": ...}]})
MAX_INT_DIGITS = 30  # far above any field's range, far below the cost of converting a huge integer

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_OPEN = frozenset("[{")


class BadJson(ValueError):
    """The body cannot be taken; str() is the reason, ``kind`` one of size/text/depth/syntax/number/duplicate.

    For a number, ``value`` is its text (shortened): NaN, Infinity, 1e309, a 401-digit integer.
    """

    def __init__(self, reason: str, kind: str, value: str | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.value = value


def _depth_at_most(text: str, limit: int) -> None:
    """BadJson if brackets outside strings nest deeper than ``limit`` (a loop: no recursion)."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in _OPEN:
            depth += 1
            if depth > limit:
                raise BadJson(f"body is nested too deeply (more than {limit} levels)", "depth")
        else:
            depth -= 1


def _shown(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text)} characters)"


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise BadJson(f"number {_shown(text)} is too large (at most {MAX_INT_DIGITS} digits)", "number",
                      _shown(text))
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson(f"number {_shown(text)} is out of range (not finite)", "number", _shown(text))
    return value


def _no_constant(name: str) -> Any:
    raise BadJson(f"{name} is not a number", "number", name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise BadJson(f"{_shown(key)!r}: given twice", "duplicate")
        seen[key] = value
    return seen


def _check_text(value: Any) -> None:
    """BadJson naming where a string or key of the (depth-checked) value is not encodable as UTF-8."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not _is_text(key):
                    raise BadJson(f"a key in {_shown(path) or 'the body'} holds a lone UTF-16 surrogate escape "
                                  "(\\ud800-\\udfff): not text", "text")
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
        elif isinstance(item, str) and not _is_text(item):
            raise BadJson(f"{_shown(path) or 'the body'}: holds a lone UTF-16 surrogate escape (\\ud800-\\udfff): not text",
                          "text")


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode(body: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``body``, or BadJson naming the first problem (size, UTF-8, depth, syntax, numbers)."""
    if len(body) > max_bytes:
        raise BadJson(f"body too large ({len(body)} bytes; at most {max_bytes})", "size")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJson("body is not UTF-8 text", "text") from None
    _depth_at_most(text, max_depth)
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_no_constant,
                           object_pairs_hook=_no_duplicates)
    except BadJson:
        raise
    except json.JSONDecodeError as exc:
        raise BadJson(f"body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                      "syntax") from None
    except (ValueError, RecursionError):  # defensive: the checks above should leave nothing for these
        raise BadJson("body is not valid JSON", "syntax") from None
    _check_text(value)
    return value
