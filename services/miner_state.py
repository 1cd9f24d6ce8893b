"""What the app knows about one miner between polls, and how it is shown."""

from __future__ import annotations

import functools
import ipaddress
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from miners.base import MinerDriver, MinerStatus

ONLINE = "online"
OFFLINE = "offline"
UNKNOWN = "unknown"
UNAUTHORIZED = "unauthorized"
DISABLED = "disabled"  # switched off in its settings: not polled, not commanded, history kept

# Fields of MinerStatus shown in the list; the detail view shows all of them.
_LIST_FIELDS = ("hashrate_hs", "expected_hashrate_hs", "power_w", "temp_c", "fan_rpm", "fan_percent",
                "uptime_s", "hostname", "mac", "state", "firmware_version",
                "best_difficulty", "best_session_difficulty")


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO-8601 UTC, or None."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts else None


@functools.lru_cache(maxsize=4096)
def ip_sort_key(ip: str) -> int:
    """Numeric order for dotted IPv4 addresses (cached: the fleet list is sorted on every round and request)."""
    return int(ipaddress.IPv4Address(ip))


@dataclass
class MinerRecord:
    """One known miner: identity, driver, last good reading and online bookkeeping."""

    id: int
    ip: str
    family: str
    port: int | None
    driver: MinerDriver
    model: str | None = None
    name: str | None = None
    algorithm: str = "sha256d"
    credentials_set: bool = False
    status: MinerStatus | None = None  # last GOOD reading, kept while offline
    online: bool | None = None  # None = not polled yet
    failures: int = 0  # failed polls in a row
    last_seen_ts: float | None = None
    last_error: str | None = None
    unauthorized: bool = False
    inflight: Future | None = None  # the poll read running now, shared by concurrent rounds
    inflight_since: float = 0.0  # monotonic time it was sent
    applied: Future | None = None  # the last read whose result was applied (each is applied once)
    last_command_ts: float | None = None  # the last command it accepted (a lower hashrate after it is no fault)
    # Settings (services/miner_settings.py): the values in effect, the browser/API's over the config.yaml
    # entry's; power limits None = the model table (then measured power) decides.
    tags: tuple[str, ...] = ()
    enabled: bool = True
    notes: str | None = None
    location: str | None = None
    nominal_w: float | None = None
    min_w: float | None = None
    max_w: float | None = None
    max_temp_c: float | None = None  # None = autocontrol.overheat_c, then the family's limit
    autocontrol: bool = True  # False = never commanded by the controller (a fixed load)
    set_here: frozenset[str] = frozenset()  # the settings stored from the browser/API (the rest: config.yaml)

    @property
    def state_name(self) -> str:
        """online / offline / unauthorized / unknown / disabled, as the dashboard shows it."""
        if not self.enabled:
            return DISABLED
        if self.online:
            return ONLINE
        if self.unauthorized:
            return UNAUTHORIZED
        if self.online is None:
            return UNKNOWN
        return OFFLINE

    def to_dict(self, detail: bool = False) -> dict[str, Any]:
        """JSON view for the API and the WebSocket; never contains credentials."""
        status = self.status
        data: dict[str, Any] = {
            "ip": self.ip,
            "port": self.driver.port,
            "family": self.family,
            "name": self.name,
            "model": (status.model if status and status.model else self.model),
            "firmware": status.firmware if status else None,
            "algorithm": self.algorithm,
            "online": bool(self.online) and self.enabled,
            "status": self.state_name,
            "tags": list(self.tags),
            "enabled": self.enabled,
            "notes": self.notes,
            "location": self.location,
            "nominal_w": self.nominal_w,
            "min_w": self.min_w,
            "max_w": self.max_w,
            "max_temp_c": self.max_temp_c,
            "autocontrol": self.autocontrol,
            "set_here": sorted(self.set_here),
            "capabilities": sorted(self.driver.capabilities),
            "modes": list(self.driver.modes),
            "last_seen": iso(self.last_seen_ts),
            "last_seen_ts": self.last_seen_ts,
            "last_error": self.last_error,
            "efficiency_j_th": status.efficiency_j_th if status and self.online and self.enabled else None,
            "pool": _pool_url(status),  # the Miners table's Pool column, without a detail read per miner
        }
        for name in _LIST_FIELDS:
            data[name] = getattr(status, name) if status else None
        if not self.online or not self.enabled:
            # Keep identity from the last good read, but never present stale
            # hashrate or power as if the miner were still producing it.
            for name in ("hashrate_hs", "power_w", "temp_c", "fan_percent", "uptime_s",
                         "best_difficulty", "best_session_difficulty"):
                data[name] = None
            data["fan_rpm"] = []
        if detail:
            full = status.to_dict() if status else {}
            for name in ("boards", "pools", "shares_accepted", "shares_rejected", "frequency_mhz",
                         "voltage_mv", "errors", "firmware_version"):
                data[name] = full.get(name)
            data["credentials_set"] = self.credentials_set
            data["last_reading"] = full or None  # the last good reading, even while offline
        return data


def _pool_url(status: MinerStatus | None) -> str | None:
    """The URL of the pool the miner mines on (the active one, else its first), from its last good reading."""
    pools = status.pools if status else None
    if not pools:
        return None
    return next((p.url for p in pools if p.active), pools[0].url)
