"""Home Assistant REST API: one entity per quantity, read with a long-lived token.

``GET {url}/api/states/{entity_id}`` -> ``{"state": "87", "attributes": {"unit_of_measurement": "%"},
"last_updated": ISO, "last_reported": ISO}``. The state strings ``unknown`` and ``unavailable``
are missing data, never zero (as evcc does). kW/W/MW are scaled to W. A leading "-" on an entity id
negates it (for a battery sensor whose + means charging). The token is only sent in the
Authorization header: never logged, never in an exception or repr.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Callable

import requests

from .base import BatteryError, BatteryReading, BatterySource, require_number, signed_path
from .config import HomeAssistantConfig
from .plausibility import PlausibilityGuard

_POWER_SCALE = {"w": 1.0, "kw": 1000.0, "mw": 1_000_000.0}


class HomeAssistantSource(BatterySource):
    """Reads SOC, PV, load, battery and (optionally) grid from Home Assistant sensors."""

    name = "homeassistant"

    def __init__(self, cfg: HomeAssistantConfig, *, max_age_sec: float, guard: PlausibilityGuard | None = None,
                 clock: Callable[[], float] = time.time, session: requests.Session | None = None) -> None:
        super().__init__(max_age_sec=max_age_sec, guard=guard, clock=clock)
        self.cfg = cfg
        self.url = cfg.url.rstrip("/")
        self._http = session or requests.Session()

    def __repr__(self) -> str:
        return f"HomeAssistantSource(url={self.url!r})"

    def _fetch(self) -> BatteryReading:
        received = self.clock()
        ents = self.cfg.entities
        values: dict[str, float | None] = {}
        times: list[float] = []
        for quantity in ("soc", "pv_w", "load_w", "battery_w", "grid_w"):
            spec = getattr(ents, quantity).strip()
            if not spec:
                values[quantity] = None
                continue
            entity, sign = signed_path(spec)
            state = self._state(entity)
            raw = state.get("state")
            if quantity == "grid_w" and str(raw).strip().lower() in ("unknown", "unavailable", ""):
                values[quantity] = None  # grid is optional: missing stays None
                continue
            number = require_number(raw, f"{entity}")
            if quantity != "soc":
                unit = str((state.get("attributes") or {}).get("unit_of_measurement") or "W").strip().lower()
                if unit not in _POWER_SCALE:
                    raise BatteryError(f"{entity}: unit {unit!r} is not a power unit (W, kW, MW)")
                number *= _POWER_SCALE[unit]
            values[quantity] = number * sign
            stamp = _parse_time(state.get("last_reported") or state.get("last_updated"))
            if stamp is not None:
                times.append(stamp)
        for quantity in ("soc", "pv_w", "load_w", "battery_w"):
            if values[quantity] is None:
                raise BatteryError(f"homeassistant.entities.{quantity}: not configured")
        # HA stamps each entity when its sensor last reported; the newest stamp shows the device is
        # alive (a steady SOC keeps an old last_updated on HA before 2024.3, which lacks last_reported).
        measured_at, origin = (max(times), "device") if times else (received, "received")
        return BatteryReading(soc_pct=values["soc"], pv_w=values["pv_w"], load_w=values["load_w"],
                              battery_w=values["battery_w"], grid_w=values["grid_w"],
                              measured_at=min(measured_at, received), source=self.name, measured_at_from=origin)

    def _state(self, entity: str) -> dict[str, Any]:
        try:
            reply = self._http.get(f"{self.url}/api/states/{entity}", timeout=self.cfg.timeout_sec,
                                   headers={"Authorization": f"Bearer {self.cfg.token}", "Accept": "application/json"})
        except requests.RequestException as exc:
            raise BatteryError(f"Home Assistant unreachable ({type(exc).__name__})") from None
        if reply.status_code == 401:
            raise BatteryError("Home Assistant refused the token (HTTP 401): check homeassistant.token")
        if reply.status_code == 404:
            raise BatteryError(f"Home Assistant has no entity {entity}")
        if reply.status_code != 200:
            raise BatteryError(f"Home Assistant: HTTP {reply.status_code} for {entity}")
        try:
            body = reply.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise BatteryError(f"Home Assistant: {entity} reply is not a JSON object")
        return body

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()


def _parse_time(text: Any) -> float | None:
    """HA's ISO 8601 time (always with an offset) as epoch seconds."""
    if not isinstance(text, str) or not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None  # a naive time could be any zone
    return stamp.timestamp()
