"""Replies that lie: valid JSON with the wrong types ("wrongtypes") or values outside physics ("absurd").

Both faults rewrite a reply the miner already built, so one implementation serves
every protocol: JSON bodies (AxeOS, Vnish/Braiins REST, Antminer CGI, cgminer API,
btminer API 2 and 3, NMMiner datagrams) and the cgminer plain-text form
(``key=value,...|``). The cgminer envelope (``STATUS``, ``When``, ``Code``,
``Description``, ``id``; API 3 ``code``/``when``/``desc``) is left alone so the
client gets past the framing and its data parsers see the lie.

Each fault cycles through variants, one per reply (the miner's counter):

- ``wrongtypes``: 0 every number or bool becomes the string "lots"; 1 every scalar
  becomes null; 2 every object below the top level becomes a list of its values
  and every number an empty object.
- ``absurd``, by the field's name (hashrate, temperature, power, fan): variant 0
  hashrate 1e30, temperature -300, power -5 W, fan 10,000,000 rpm; variant 1
  hashrate NaN, temperature +Infinity, power 1e9 W, fan -1 rpm. Numbers inside
  strings get the same: "1.2MH/s", "45.0W", Avalon's ``GHSspd[123] TMax[80] PS[...]``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

WRONGTYPE_VARIANTS = 3
ABSURD_VARIANTS = 2

HASHRATE, TEMPERATURE, POWER, FAN = "hashrate", "temperature", "power", "fan"
ABSURD: tuple[dict[str, float | int], ...] = (
    {HASHRATE: 1e30, TEMPERATURE: -300.0, POWER: -5.0, FAN: 10_000_000},
    {HASHRATE: math.nan, TEMPERATURE: math.inf, POWER: 1e9, FAN: -1},
)

# Never changed, at any depth: the framing every client checks before the data.
ENVELOPE = frozenset({"STATUS", "When", "Code", "Description", "id", "code", "when", "desc"})

_CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # "rate": bmminer chain_rate1/rate_30m/"total rate", Antminer web rate_5s; "hr_": Vnish 1.x hr_realtime.
    (HASHRATE, re.compile(r"hash|ghs|mhs|ths|khs|^hs( |_|$)|^hr_|rate")),
    # not "attempts"; Avalon TMax/TAvg/MTmax and per-chip PVT_T0..n
    (TEMPERATURE, re.compile(r"temp(?!t)|^tmax|^tavg|^mtmax|^mtavg|^pvt_t\d*$")),
    (POWER, re.compile(r"power|watt|consumption|^ps$|^mpo$")),
    (FAN, re.compile(r"fan|rpm")),
)
_NUMBER_PREFIX = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_BRACKET = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\[([^\]]*)\]")  # Avalon "MM ID0": Key[value]
_NUMBER = re.compile(r"[-+]?\d+\.?\d*")
_UNSIGNED = re.compile(r"\d+\.?\d*")
_NUMBERS_ONLY = re.compile(r"[-+0-9.%\s]+")  # "80", "0 1215 1260", "50%": not "Q_hb_v1.2" (a version)
_TEXT_PAIR = re.compile(r"([^,|=]+)=([^,|]*)")  # cgminer plain text: key=value, records end with '|'


def category(key: str) -> str | None:
    """hashrate/temperature/power/fan for a firmware field name, or None."""
    low = key.strip().lower()
    for name, pattern in _CATEGORIES:
        if pattern.search(low):
            return name
    return None


def load(text: str) -> Any:
    """The reply as JSON, or None; bmminer's glued ``}{`` stats records are joined first."""
    for candidate in (text, text.replace("}{", "},{")):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def _dump(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)  # NaN/Infinity as Python writes them


# --- wrongtypes ----------------------------------------------------------------------
def _wrong(value: Any, variant: int, depth: int) -> Any:
    if isinstance(value, dict):
        out = {k: v if k in ENVELOPE or (k in ("Msg", "msg") and not isinstance(v, (dict, list)))
               else _wrong(v, variant, depth + 1) for k, v in value.items()}
        return list(out.values()) if variant == 2 and depth >= 1 else out
    if isinstance(value, list):
        return [_wrong(v, variant, depth + 1) for v in value]
    if variant == 0:
        return "lots" if isinstance(value, (bool, int, float)) else value
    if variant == 1:
        return None
    return {} if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def wrong_types(text: str, variant: int) -> str:
    """The reply with its values turned into the wrong types (variant cycles, see the module doc)."""
    variant %= WRONGTYPE_VARIANTS
    doc = load(text)
    if doc is None:
        return _TEXT_PAIR.sub(lambda m: m.group(0) if m.group(1) in ENVELOPE or m.group(1).startswith("STATUS")
                              else f"{m.group(1)}={'lots' if variant != 1 else ''}", text)
    return _dump(_wrong(doc, variant, 0))


# --- absurd --------------------------------------------------------------------------------
def _absurd_number(kind: str, variant: int) -> float | int:
    return ABSURD[variant][kind]


def _as_text(value: float | int) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.0f}" if abs(value) >= 1e15 else repr(value)  # "1e+30MH/s" would not look like a number
    return repr(value)


def _absurd_string(text: str, kind: str | None, variant: int) -> str:
    if kind is not None:
        match = _NUMBER_PREFIX.match(text)
        if match:  # "35.5", "1.2MH/s", "45.0W", "50%", bmminer's "58-63" (every number of it)
            value = _as_text(_absurd_number(kind, variant))
            return value + _UNSIGNED.sub(value.lstrip("-"), text[match.end():])
    if "[" not in text:
        return text

    def bracket(m: re.Match[str]) -> str:
        inner = category(m.group(1))
        if inner is None or not _NUMBERS_ONLY.fullmatch(m.group(2)):
            return m.group(0)
        value = _as_text(_absurd_number(inner, variant))
        return f"{m.group(1)}[{_NUMBER.sub(value, m.group(2))}]"

    return _BRACKET.sub(bracket, text)


def _absurd(value: Any, kind: str | None, variant: int) -> Any:
    if isinstance(value, dict):
        return {k: v if k in ENVELOPE else _absurd(v, category(k) or kind, variant) for k, v in value.items()}
    if isinstance(value, list):
        return [_absurd(v, kind, variant) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return _absurd_number(kind, variant) if kind is not None else value
    if isinstance(value, str):
        return _absurd_string(value, kind, variant)
    return value


def absurd(text: str, variant: int) -> str:
    """The reply with hashrate, temperature, power and fan values outside physics (see the module doc)."""
    variant %= ABSURD_VARIANTS
    doc = load(text)
    if doc is None:
        def pair(m: re.Match[str]) -> str:
            key = m.group(1)
            if key in ENVELOPE:
                return m.group(0)
            return f"{key}={_absurd_string(m.group(2), category(key), variant)}"
        return _TEXT_PAIR.sub(pair, text)
    return _dump(_absurd(doc, None, variant))
