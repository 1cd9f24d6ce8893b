"""Number and text formatting that real firmware does its own way (cJSON, cgminer)."""

from __future__ import annotations

import json
import json.encoder
from typing import Any


class Raw(str):
    """A token written to the wire verbatim (e.g. a number printed with fixed decimals)."""

    __slots__ = ()


def fx(value: float, decimals: int) -> Raw:
    """A number printed with a fixed number of decimals, as cgminer's api.c does (e.g. "%.2f")."""
    return Raw(f"{value:.{decimals}f}")


def fs(value: float) -> Raw:
    """A float in its shortest round-trip form, always with a dot ("75.0"), as serde_json prints it.

    BOSminer (Rust) and LUXminer (as recorded) write their cgminer-API floats this way, unlike cgminer's "%f".
    """
    return Raw(json.dumps(float(value)))


def by_key(fields: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """A record's fields in key order: BOSminer and LUXminer list the keys of most replies alphabetically."""
    return sorted(fields, key=lambda kv: kv[0])


def pct(part: float, whole: float) -> float:
    """cgminer's percentage keys ("Device Hardware%", "Pool Rejected%" ...): 0 when the whole is 0."""
    return 100.0 * part / whole if whole else 0.0


def hms(seconds: float) -> str:
    """bmminer's "Last Share Time": seconds since the share as H:MM:SS (hours not padded)."""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


_SUFFIXES = ((1e18, 1e15, "E"), (1e15, 1e12, "P"), (1e12, 1e9, "T"), (1e9, 1e6, "G"), (1e6, 1e3, "M"), (1e3, 1.0, "K"))


def suffix_string(value: float) -> str:
    """cgminer's ``suffix_string(val, buf, siz, 0)``: "65.5K", "4.29G", "512" (used by bmminer and ESP-Miner)."""
    for limit, div, suffix in _SUFFIXES:
        if value >= limit:
            # cgminer divides by the next-lower unit, then by kilo, and prints "%.3g%s".
            return f"{value / div / 1000.0:.3g}{suffix}"
    return str(int(value))


# --- cJSON (ESP-Miner) ------------------------------------------------------
# ESP-Miner answers every JSON endpoint with cJSON_PrintBuffered(root, n, true):
# formatted output with one tab per depth, ":\t" after keys, arrays on one line
# as "[a, b]", integral doubles as "%d", others as "%1.15g" (or "%1.17g" when
# 15 digits do not round-trip). Recorded example: bitaxe/system_asic.supra_bm1368.json.

_encode_str = json.encoder.encode_basestring  # C implementation when available; cJSON keeps UTF-8 as is
_KEY_CACHE: dict[tuple[str, int], str] = {}


def _cjson_number(value: float | int | bool) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return "null"
    if value == int(value) and abs(value) < 2**31:
        return str(int(value))
    text = f"{value:1.15g}"
    if float(text) != value:
        text = f"{value:1.17g}"
    return text


def _cjson_key(key: str, depth: int) -> str:
    cached = _KEY_CACHE.get((key, depth))
    if cached is None:
        cached = _KEY_CACHE[(key, depth)] = "\t" * depth + _encode_str(key) + ":\t"
    return cached


def _cjson_value(value: Any, depth: int, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_encode_str(value))
    elif kind is float or kind is int or kind is bool:
        out.append(_cjson_number(value))
    elif kind is dict:
        if not value:
            out.append("{\n" + "\t" * depth + "}")
            return
        out.append("{\n")
        inner = depth + 1
        first = True
        for key, item in value.items():
            if not first:
                out.append(",\n")
            first = False
            out.append(_cjson_key(key, inner))
            _cjson_value(item, inner, out)
        out.append("\n" + "\t" * depth + "}")
    elif kind is list or kind is tuple:
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(", ")
            # cJSON's print_array raises the depth, so objects inside arrays indent one deeper.
            _cjson_value(item, depth + 1, out)
        out.append("]")
    elif value is None:
        out.append("null")
    elif isinstance(value, str):
        out.append(_encode_str(str(value)))
    elif isinstance(value, (int, float)):
        out.append(_cjson_number(value))
    else:
        raise TypeError(f"cannot print {type(value).__name__} as cJSON")


def cjson_dumps(value: Any) -> str:
    """Print ``value`` exactly like cJSON's formatted printer (tabs, ``[a, b]`` arrays)."""
    out: list[str] = []
    _cjson_value(value, 0, out)
    return "".join(out)


def cjson_float(value: float) -> float:
    """ESP-Miner's cJSON_AddFloatToObject: a C float rounded to 7 decimals before printing."""
    return round(value * 10_000_000.0) / 10_000_000.0
