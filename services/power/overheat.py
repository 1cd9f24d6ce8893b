"""Overheat protection: which miners are too hot to run, with hysteresis, as a pure tracker.

Per miner (by IP) the caller feeds its hottest temperature (MinerStatus.temp_c)
and its limit (miners[].max_temp_c, else autocontrol.overheat_c). A miner trips
at temp >= limit and clears only at temp <= limit - resume delta, so it does not
flap around the limit. An unknown temperature (None: no reading, stale data)
never trips a miner and never clears a trip: a miner that stops answering while
hot stays stopped. No I/O and no clock: the trips are saved by the caller
(``to_json``/``from_json``) under ``OVERHEAT_KEY`` so they survive a restart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable

OVERHEAT_KEY = "autocontrol.overheat"  # key in the database ``state`` table

# Default limits by family, on what each driver reports as temp_c (its hottest reading).
# Bitaxe/NerdQAxe (AxeOS, ESP-Miner): temp_c is the ASIC; ESP-Miner's power management enters its
# own overheat mode at THROTTLE_TEMP 75 C (and stays there until restarted), healthy units run
# 55-65 C, so we stop them a little below. The big miners report chip temperatures: healthy
# Whatsminer and Avalon units read 93-95 C chip maximum in the recorded replies (shared/data/replies),
# their firmware warns at 85-100 C and cuts out at 95-115 C depending on the model; 100 C stops a
# miner that keeps running hotter than any healthy one before it trips its own (power-cycle) cut-out.
FAMILY_LIMIT_C = {"bitaxe": 70.0}
DEFAULT_LIMIT_C = 100.0


def default_limit_c(family: str) -> float:
    """The overheat limit of a family when the config sets none."""
    return FAMILY_LIMIT_C.get(family, DEFAULT_LIMIT_C)


def fmt_c(value: float) -> str:
    """96.04 -> "96 C", 85.5 -> "85.5 C"."""
    return f"{round(float(value), 1):g} C"


@dataclass(frozen=True)
class Trip:
    """One overheated miner: since when, at what temperature, and the limits it is judged by."""

    label: str  # "S19 10.0.0.5": model (or family) and IP, for the reason text
    since: float  # epoch seconds of the trip
    trip_temp_c: float
    limit_c: float
    resume_c: float  # cleared at or below this

    def reason(self, temp_c: float | None) -> str:
        """Why this miner is stopped, with the temperature seen now (None = unknown)."""
        until = f"{fmt_c(self.limit_c)} -> sleep until {fmt_c(self.resume_c)}"
        if temp_c is not None and temp_c >= self.limit_c:
            return f"{self.label} {fmt_c(temp_c)} >= {until}"
        now = "temperature unknown" if temp_c is None else fmt_c(temp_c)
        return f"{self.label} {now}, tripped at {fmt_c(self.trip_temp_c)} >= {until}"


@dataclass(frozen=True)
class Change:
    """A miner tripped (``tripped`` True) or cleared this update; ``text`` is the event message."""

    ip: str
    tripped: bool
    text: str


class OverheatTracker:
    """The overheated miners; ``update`` once per miner per tick, ``trips`` is the current state."""

    def __init__(self, trips: dict[str, Trip] | None = None) -> None:
        self.trips: dict[str, Trip] = dict(trips or {})
        self.temps: dict[str, float | None] = {}  # last temperature fed, for the status (not persisted)

    def update(self, ip: str, temp_c: float | None, limit_c: float | None, resume_delta_c: float, now: float,
               label: str = "") -> Change | None:
        """Feed one miner's hottest temperature; returns the Change when it tripped or cleared now.

        ``limit_c`` None or 0 = protection off for this miner: an existing trip is lifted.
        """
        label = label or ip
        self.temps[ip] = temp_c
        trip = self.trips.get(ip)
        if not limit_c or limit_c <= 0:
            if trip is None:
                return None
            del self.trips[ip]
            return Change(ip, False, f"{label}: overheat protection off -> may run again")
        resume_c = limit_c - resume_delta_c
        if trip is None:
            if temp_c is None or temp_c < limit_c:
                return None
            trip = Trip(label, now, float(temp_c), float(limit_c), float(resume_c))
            self.trips[ip] = trip
            return Change(ip, True, trip.reason(temp_c))
        if trip.limit_c != limit_c or trip.resume_c != resume_c or trip.label != label:
            # The limits come from config and may have changed since the trip (a restart): judge by today's.
            trip = self.trips[ip] = replace(trip, label=label, limit_c=float(limit_c), resume_c=float(resume_c))
        if temp_c is not None and temp_c <= resume_c:
            del self.trips[ip]
            return Change(ip, False, f"{label} {fmt_c(temp_c)} <= {fmt_c(resume_c)}: cooled down -> may run again")
        return None

    def retain(self, ips: Iterable[str]) -> bool:
        """Forget miners not in ``ips`` (removed from the fleet, or no longer controlled); True if any was dropped."""
        keep = set(ips)
        gone = [ip for ip in self.trips if ip not in keep]
        for ip in gone:
            del self.trips[ip]
        for ip in [ip for ip in self.temps if ip not in keep]:
            del self.temps[ip]
        return bool(gone)

    def overheated(self) -> set[str]:
        """IPs of the miners tripped now."""
        return set(self.trips)

    def reason(self, ip: str) -> str:
        """Why ``ip`` is stopped ('' when it is not)."""
        trip = self.trips.get(ip)
        return "" if trip is None else trip.reason(self.temps.get(ip))

    def status(self) -> list[dict[str, Any]]:
        """[{ip, temp_c, limit_c, since, reason}] for the API, sorted by IP."""
        return [{"ip": ip, "temp_c": self.temps.get(ip), "limit_c": trip.limit_c, "resume_c": trip.resume_c,
                 "since": trip.since, "reason": trip.reason(self.temps.get(ip))}
                for ip, trip in sorted(self.trips.items(), key=lambda kv: _ip_key(kv[0]))]

    def to_json(self) -> dict[str, Any]:
        """The trips as JSON-able data (what the store keeps)."""
        return {ip: asdict(trip) for ip, trip in self.trips.items()}

    @classmethod
    def from_json(cls, data: Any) -> "OverheatTracker":
        """Rebuild from to_json's dict; malformed entries are dropped (the next reading trips them again)."""
        trips: dict[str, Trip] = {}
        if isinstance(data, dict):
            for ip, raw in data.items():
                try:
                    trips[str(ip)] = Trip(**raw)
                except TypeError:
                    continue
        return cls(trips)


def _ip_key(ip: str) -> tuple[int, ...] | tuple[int, str]:
    parts = ip.split(".")
    if len(parts) == 4 and all(x.isdigit() for x in parts):
        return tuple(int(x) for x in parts)
    return (1 << 30, ip)
