"""Generic HTTP JSON: a URL and a dotted path per quantity (Solar Assistant, Victron Venus bridges, home-made meters).

A path may start with "-" to negate the value, so a source whose battery power is
+ = charging is configured as ``battery_w: "-battery.power"``. ``time_field`` (optional)
names the measurement time: epoch seconds, epoch milliseconds or ISO 8601 with an offset;
without it the receive time is used and the reading says so.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Callable

import requests

from .base import BatteryError, BatteryReading, BatterySource, dig, optional_number, require_number, signed_path
from .config import BatteryFields, HttpConfig
from .plausibility import PlausibilityGuard


def reading_from_json(data: Any, fields: BatteryFields, source: str, received: float,
                      time_field: str = "") -> BatteryReading:
    """Build a reading from a JSON document through the configured dotted paths."""
    values: dict[str, float | None] = {}
    for quantity in ("soc", "pv_w", "load_w", "battery_w"):
        spec = getattr(fields, quantity).strip()
        if not spec:
            raise BatteryError(f"fields.{quantity}: not configured")
        path, sign = signed_path(spec)
        values[quantity] = require_number(dig(data, path), f"{quantity} ({path})") * sign
    grid = None
    if fields.grid_w.strip():
        path, sign = signed_path(fields.grid_w)
        number = optional_number(dig(data, path), f"grid_w ({path})")
        grid = None if number is None else number * sign
    measured_at, origin = received, "received"
    if time_field:
        stamp = parse_timestamp(dig(data, time_field))
        if stamp is None:
            raise BatteryError(f"time_field ({time_field}): missing or not a time")
        measured_at, origin = min(stamp, received), "device"
    return BatteryReading(soc_pct=values["soc"], pv_w=values["pv_w"], load_w=values["load_w"],
                          battery_w=values["battery_w"], grid_w=grid, measured_at=measured_at,
                          source=source, measured_at_from=origin)


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds from epoch s/ms (number or numeric text) or ISO 8601 with an offset."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            try:
                stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                return None
            return stamp.timestamp() if stamp.tzinfo else None
    if isinstance(value, (int, float)):
        return value / 1000.0 if value > 1e11 else float(value)  # after 1973 in ms, or before 5138 in s
    return None


def _without_userinfo(url: str) -> str:
    """The URL without any user:password@ part, for reprs."""
    scheme, sep, rest = url.partition("://")
    host, at, tail = rest.partition("@")
    return f"{scheme}{sep}{tail}" if at and "/" not in host else url


class HttpJsonSource(BatterySource):
    """GETs a URL and picks each quantity out of the JSON reply."""

    name = "http"

    def __init__(self, cfg: HttpConfig, *, max_age_sec: float, guard: PlausibilityGuard | None = None,
                 clock: Callable[[], float] = time.time, session: requests.Session | None = None) -> None:
        super().__init__(max_age_sec=max_age_sec, guard=guard, clock=clock)
        self.cfg = cfg
        self._http = session or requests.Session()

    def __repr__(self) -> str:
        return f"HttpJsonSource(url={_without_userinfo(self.cfg.url)!r})"

    def _fetch(self) -> BatteryReading:
        try:
            reply = self._http.get(self.cfg.url, timeout=self.cfg.timeout_sec, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise BatteryError(f"battery URL unreachable ({type(exc).__name__})") from None
        if reply.status_code != 200:
            raise BatteryError(f"battery URL: HTTP {reply.status_code}")
        try:
            data = reply.json()
        except ValueError:
            raise BatteryError("battery URL: reply is not JSON") from None
        return reading_from_json(data, self.cfg.fields, self.name, self.clock(), self.cfg.time_field)

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()
