"""Per-miner settings (PATCH /api/miners/<ip>): validation, what is stored, and the values in effect.

Precedence, field by field (docs/miners.md "Miner settings"): a value set in the
browser or the API wins over the miner's ``miners:`` entry in config.yaml, which
wins over the model table (power limits) or the defaults. Setting a field to None
(JSON null) clears the stored value, so the config's (or the model's) applies again.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from services.config import MAX_LOCATION, MAX_NOTES, MinerEntry
from services.tags import MAX_TAGS, TAG_RE, TAG_RULE

FIELDS = ("name", "tags", "enabled", "notes", "location", "nominal_w", "min_w", "max_w", "max_temp_c",
          "autocontrol")
LIMITS = ("nominal_w", "min_w", "max_w", "max_temp_c")
_TEXTS = ("name", "notes", "location")  # "" in config.yaml = not set there
FROM_CONFIG = ("name", "tags", "notes", "location", *LIMITS, "autocontrol")  # the fields a config.yaml entry can also set
MAX_NAME = 64
_NOTE_SPACE = "\n\r\t"  # allowed in notes besides printable characters
_SHOWN_MAX = 40  # event text: longer values are cut


def stored(row: Mapping[str, Any]) -> dict[str, Any]:
    """The settings stored for one miner (a database row): None = not set here."""
    # NULL = not set here (config.yaml's tags apply); "[]" = set here to none.
    tags = None if row["tags"] is None else tuple(json.loads(row["tags"]))
    autocontrol = row["autocontrol"]
    return {"name": row["name"], "tags": tags, "enabled": bool(row["enabled"]), "notes": row["notes"],
            "location": row["location"], "nominal_w": row["nominal_w"], "min_w": row["min_w"],
            "max_w": row["max_w"], "max_temp_c": row["max_temp_c"],
            "autocontrol": None if autocontrol is None else bool(autocontrol)}


def effective(values: Mapping[str, Any], entry: MinerEntry | None) -> dict[str, Any]:
    """The values in effect: each stored one, else the config entry's, else the default (limits: None)."""
    out = dict(values)
    for key in FROM_CONFIG:
        if out.get(key) is None and entry is not None:
            value = getattr(entry, key)
            if key in _TEXTS:
                value = value.strip() or None
            elif key == "tags":
                value = tuple(t.strip() for t in value)  # the file's as written; the browser's are stored stripped
            out[key] = value
    if out.get("autocontrol") is None:
        out["autocontrol"] = True
    if out.get("tags") is None:
        out["tags"] = ()
    return out


def apply(record: Any, values: Mapping[str, Any], entry: MinerEntry | None) -> None:
    """Put the effective settings on a MinerRecord (in place: polls may be reading it)."""
    eff = effective(values, entry)
    for key in FIELDS:
        setattr(record, key, eff[key])
    record.set_here = frozenset(k for k in FROM_CONFIG if values.get(k) is not None)


def in_effect(record: Any, entry: MinerEntry | None) -> dict[str, Any]:
    """nominal_w, min_w, max_w, max_temp_c and autocontrol for one miner: set here, else ``entry``'s, else default.

    For a caller holding its own config (the controller): a value set in the browser/API comes
    from the record, the rest from ``entry``.
    """
    here = {k: getattr(record, k) if k in record.set_here else None for k in (*LIMITS, "autocontrol")}
    eff = effective(here, entry)
    return {k: eff[k] for k in here}


# --- validation ---------------------------------------------------------------------------------
def _text(value: Any, key: str, max_len: int, *, multiline: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key}: must be a string or null")
    value = value.strip()
    if len(value) > max_len:
        raise ValueError(f"{key}: at most {max_len} characters, got {len(value)}")
    allowed = _NOTE_SPACE if multiline else ""
    if not all(c.isprintable() or c in allowed for c in value):
        raise ValueError(f"{key}: control characters are not allowed")
    return value or None  # "" clears, like null


def _tags(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None  # back to config.yaml's tags (none there: none); [] = none, whatever the file says
    if not isinstance(value, list):
        raise ValueError("tags: must be a list of strings")
    if len(value) > MAX_TAGS:
        raise ValueError(f"tags: at most {MAX_TAGS}, got {len(value)}")
    out: list[str] = []
    for i, tag in enumerate(value):
        if not isinstance(tag, str):
            raise ValueError(f"tags[{i}]: must be a string")
        tag = tag.strip()
        if not TAG_RE.fullmatch(tag):
            raise ValueError(f"tags[{i}]: {TAG_RULE}; got {tag[:40]!r}")
        if tag not in out:
            out.append(tag)
    return tuple(out)


def _number(value: Any, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key}: must be a number or null")
    return float(value)


def _flag(value: Any, key: str, nullable: bool) -> bool | None:
    if value is None and nullable:
        return None
    if not isinstance(value, bool):
        raise ValueError(f"{key}: must be true or false" + (" or null" if nullable else ""))
    return value


def validate(changes: Mapping[str, Any], current: Mapping[str, Any], entry: MinerEntry | None) -> dict[str, Any]:
    """The changes normalised, checked against the stored values and the config entry.

    Raises ValueError("key: message") for an unknown key or a bad value; the limits follow
    MinerEntry.validate's rules on the values that would be in effect.
    """
    unknown = [key for key in changes if key not in FIELDS]
    if unknown:
        raise ValueError(f"{unknown[0][:40]}: unknown setting; known: {', '.join(FIELDS)}")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "name":
            out[key] = _text(value, key, MAX_NAME)
        elif key == "notes":
            out[key] = _text(value, key, MAX_NOTES, multiline=True)
        elif key == "location":
            out[key] = _text(value, key, MAX_LOCATION)
        elif key == "tags":
            out[key] = _tags(value)
        elif key == "enabled":
            out[key] = _flag(value, key, nullable=False)
        elif key == "autocontrol":
            out[key] = _flag(value, key, nullable=True)
        else:
            out[key] = _number(value, key)
    eff = effective({**current, **out}, entry)
    # The config's own rules on the limits in effect (a browser min_w above the YAML max_w is refused).
    MinerEntry(ip="0.0.0.0", **{k: eff[k] for k in LIMITS}).validate()
    return out


# --- the audit event ----------------------------------------------------------------------------
def _shown(key: str, value: Any) -> str:
    if value is None or value == ():
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        value = ", ".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return repr(text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "...")


def describe(before: Mapping[str, Any], changes: Mapping[str, Any]) -> str | None:
    """The event text for the stored values that changed ("disabled; settings changed: max_w 1200 -> 1000"); None if none."""
    head, parts = [], []
    for key in FIELDS:
        if key not in changes or changes[key] == before.get(key):
            continue
        if key == "enabled":
            head.append("enabled: polled again" if changes[key] else "disabled: not polled or commanded")
        elif key == "notes":  # free text: the event says it changed, the miner view shows it
            parts.append("notes changed")
        else:
            parts.append(f"{key} {_shown(key, before.get(key))} -> {_shown(key, changes[key])}")
    if parts:
        head.append("settings changed: " + "; ".join(parts))
    return "; ".join(head) or None
