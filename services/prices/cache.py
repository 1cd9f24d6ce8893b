"""prices.json in the data dir: the last fetched slots, so a restart does not lose today's prices.

A small JSON file rather than the database's state table: it is written at most once per
refresh and only when the slots changed (Agile: about twice a day), needs no schema, and never
waits on the database's write lock. Written to a temporary file and renamed, so a power cut
leaves the old file or the new one, never half of one. Secrets are never in it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .config import PricesConfig
from .model import PriceSlot

log = logging.getLogger(__name__)

FILE_NAME = "prices.json"
VERSION = 1


@dataclass(frozen=True)
class Saved:
    """What the file holds."""

    key: str
    unit: str
    currency: str
    fetched_at: float
    slots: list[PriceSlot]


def config_key(cfg: PricesConfig) -> str:
    """A digest of the settings the slots depend on (another region or product = another cache).

    Built from the reprs, which leave the Tibber token out; the HTTP URL only enters as a hash.
    """
    parts = (cfg.source, cfg.unit, cfg.currency, cfg.timezone, cfg.octopus, cfg.awattar, cfg.comed,
             cfg.tibber, cfg.http, cfg.fixed)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def save(path: Path, saved: Saved) -> None:
    """Write the file atomically (temporary file, fsync, rename)."""
    body = {"version": VERSION, "key": saved.key, "unit": saved.unit, "currency": saved.currency,
            "fetched_at": saved.fetched_at,
            "slots": [[s.start, s.end, s.price, s.price_main, s.export_main] for s in saved.slots]}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(body, handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load(path: Path, key: str) -> Saved | None:
    """The saved slots if the file exists, is readable and was written for the same settings."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("prices: %s ignored (%s)", path.name, type(exc).__name__)
        return None
    try:
        if body.get("version") != VERSION or body.get("key") != key:
            return None  # another source, region or table: fetch afresh
        slots = [PriceSlot(float(a), float(b), float(p), float(m), None if x is None else float(x))
                 for a, b, p, m, x in body["slots"]]
        return Saved(key, str(body["unit"]), str(body["currency"]), float(body["fetched_at"]), slots)
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("prices: %s ignored (unexpected content)", path.name)
        return None
