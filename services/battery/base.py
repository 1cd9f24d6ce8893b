"""The reading every battery source returns, its status, and the shared bookkeeping.

Sign conventions (one for the whole app, as evcc uses them):
  battery_w  + = the battery is DISCHARGING (supplying the house), - = charging.
  grid_w     + = importing from the grid, - = exporting; None where unknown.
  pv_w, load_w are >= 0.
Every source converts its own convention to this one at the edge.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from .plausibility import PlausibilityError, PlausibilityGuard


class BatteryError(Exception):
    """A battery source could not give a usable reading; the message is safe to show (no secrets)."""


class BatteryStale(BatteryError):
    """The source answered, but its data is older than max_age_sec."""


@dataclass(frozen=True)
class BatteryReading:
    """One measurement of the house battery and its surroundings."""

    soc_pct: float
    pv_w: float
    load_w: float
    battery_w: float  # + = discharging, - = charging
    grid_w: float | None  # + = import, - = export; None = not known
    measured_at: float  # epoch seconds when the DEVICE measured it (see measured_at_from)
    source: str
    # "device" (the device's own clock), "device_change" (receive time when the device's
    # timestamp last changed: EG4), or "received" (the source gives no time: MQTT, HTTP without time_field)
    measured_at_from: str = "device"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True)
class SourceStatus:
    """How a source is doing, for the API and the fail-safe."""

    source: str
    connected: bool  # the last read gave a plausible reading and it is still within max_age_sec
    last_success_ts: float | None
    last_error: str  # "" when the last read worked; never holds a secret
    max_age_sec: float
    rejected_count: int  # readings refused as implausible
    error_count: int
    last_measured_at: float | None = None
    session_age_sec: float | None = None  # cloud sources with a login session

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


def require_number(value: Any, what: str) -> float:
    """A finite float from a JSON value, or BatteryError naming the quantity.

    "unknown"/"unavailable"/None/"" are missing data, never zero.
    """
    if value is None or isinstance(value, bool):
        raise BatteryError(f"{what}: missing")
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "unknown", "unavailable", "none", "null", "nan"):
            raise BatteryError(f"{what}: missing ({text or 'empty'})")
        try:
            value = float(text)
        except ValueError:
            raise BatteryError(f"{what}: not a number: {text[:40]!r}") from None
    if not isinstance(value, (int, float)):
        raise BatteryError(f"{what}: not a number: {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise BatteryError(f"{what}: missing (not finite)")
    return number


def optional_number(value: Any, what: str) -> float | None:
    """Like require_number, but missing data is None."""
    try:
        return require_number(value, what)
    except BatteryError:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "unknown", "unavailable", "none", "null", "nan")):
            return None
        raise


def dig(data: Any, path: str) -> Any:
    """Follow a dotted path ("a.b.0.c") into JSON; None if any step is missing."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict):
            if part not in node:
                return None
            node = node[part]
        elif isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return node


def signed_path(spec: str) -> tuple[str, float]:
    """Split a field spec into (path, sign): a leading "-" negates the value (evcc's convention)."""
    spec = spec.strip()
    if spec.startswith("-"):
        return spec[1:].strip(), -1.0
    return spec, 1.0


class BatterySource:
    """Base of every source: read() validates and keeps status; subclasses implement _fetch()."""

    name = "base"

    def __init__(self, *, max_age_sec: float, guard: PlausibilityGuard | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_age_sec = float(max_age_sec)
        self.guard = guard or PlausibilityGuard()
        self.clock = clock
        self._lock = threading.Lock()  # read() may be called from the scheduler and the API
        self._last_success: float | None = None
        self._last_error = ""
        self._errors = 0
        self._last: BatteryReading | None = None

    def _fetch(self) -> BatteryReading:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self) -> BatteryReading:
        """Fetch, check plausibility and age, and return one reading; raise BatteryError otherwise."""
        with self._lock:
            try:
                reading = self._fetch()
                now = self.clock()
                age = now - reading.measured_at
                if age > self.max_age_sec:
                    raise BatteryStale(f"data is {age:.0f} s old (max_age_sec {self.max_age_sec:.0f})")
                if reading is not self._last:  # a cached reading was checked already
                    try:
                        self.guard.check(reading)
                    except PlausibilityError as exc:
                        raise BatteryError(f"implausible reading rejected: {exc}") from None
            except BatteryError as exc:
                self._errors += 1
                self._last_error = str(exc)
                raise
            self._last = reading
            self._last_success = now
            self._last_error = ""
            return reading

    def _session_age(self) -> float | None:
        return None

    def status(self) -> SourceStatus:
        """Connection status, last success and error, rejected count."""
        last = self._last
        connected = (self._last_success is not None and not self._last_error
                     and last is not None and self.clock() - last.measured_at <= self.max_age_sec)
        return SourceStatus(
            source=self.name, connected=connected, last_success_ts=self._last_success,
            last_error=self._last_error, max_age_sec=self.max_age_sec,
            rejected_count=self.guard.rejected_count, error_count=self._errors,
            last_measured_at=last.measured_at if last else None, session_age_sec=self._session_age())

    @property
    def last_reading(self) -> BatteryReading | None:
        """The last reading read() returned, if any."""
        return self._last

    def close(self) -> None:
        """Release connections; the default has none."""
