"""Number and text formatting that real firmware does its own way (cJSON, cgminer)."""

from __future__ import annotations

import json
import math
from typing import Any


class Raw(str):
    """A token written to the wire verbatim (e.g. a number printed with fixed decimals)."""

    __slots__ = ()


def fx(value: float, decimals: int) -> Raw:
    """A number printed with a fixed number of decimals, as cgminer's api.c does (e.g. "%.2f")."""
    return Raw(f"{value:.{decimals}f}")


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

def _cjson_number(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return "null"
    if value == int(value) and abs(value) < 2**31:
        return str(int(value))
    text = f"{value:1.15g}"
    if float(text) != value:
        text = f"{value:1.17g}"
    return text


def _cjson_value(value: Any, depth: int, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, (bool, int, float)):
        out.append(_cjson_number(value))
    elif isinstance(value, dict):
        out.append("{\n")
        last = len(value) - 1
        inner = "\t" * (depth + 1)
        for i, (key, item) in enumerate(value.items()):
            out.append(inner)
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":\t")
            _cjson_value(item, depth + 1, out)
            out.append(",\n" if i < last else "\n")
        out.append("\t" * depth)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(", ")
            # cJSON's print_array raises the depth, so objects inside arrays indent one deeper.
            _cjson_value(item, depth + 1, out)
        out.append("]")
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
