"""Is it night? Sunset/sunrise from latitude/longitude (astral) or the fixed configured times."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from astral import Observer
from astral import sun as astral_sun


@dataclass(frozen=True)
class SunState:
    """Whether it is night at one instant, and why (for the decision's reason)."""

    night: bool
    why: str  # "after sunset 17:12", "polar night", "fixed sunrise 07:00"...


def _local(now: float, tz: dt.tzinfo | None) -> dt.datetime:
    # Without a zone the Pi's own local time is used; astimezone() picks the
    # offset valid at that instant, so DST changes are followed.
    return dt.datetime.fromtimestamp(now, tz) if tz else dt.datetime.fromtimestamp(now).astimezone()


class SunClock:
    """Night = from sunset until sunrise, computed per local date (cached) or from fixed times.

    Polar day and polar night (astral raises ValueError: the sun never sets or
    never rises that day) are decided by the sun's elevation at local noon:
    polar day counts as never night (the ratchet latch then resets only at a
    full battery), polar night as night all day (the sunset rule applies: with
    no sun to refill the battery, holding power back behind the latch gains
    nothing, and the emergency floor still protects the battery).
    """

    def __init__(self, latitude: float | None, longitude: float | None,
                 sunrise: tuple[int, int] = (7, 0), sunset: tuple[int, int] = (19, 0),
                 tz: dt.tzinfo | None = None) -> None:
        self._observer = Observer(latitude, longitude) if latitude is not None and longitude is not None else None
        self._fixed_sunrise = dt.time(*sunrise)
        self._fixed_sunset = dt.time(*sunset)
        self._tz = tz
        self._cache: dict[tuple[dt.date, str], tuple[str, dt.datetime | None, dt.datetime | None]] = {}

    @property
    def tz(self) -> dt.tzinfo | None:
        """The time zone local dates are taken in (None = the system's)."""
        return self._tz

    def _day(self, local: dt.datetime) -> tuple[str, dt.datetime | None, dt.datetime | None]:
        """("sun", sunrise, sunset) | ("polar day"|"polar night", None, None) for local's date."""
        key = (local.date(), str(local.utcoffset()))
        hit = self._cache.get(key)
        if hit is None:
            tzinfo = local.tzinfo
            try:
                rise = astral_sun.sunrise(self._observer, date=local.date(), tzinfo=tzinfo)
                set_ = astral_sun.sunset(self._observer, date=local.date(), tzinfo=tzinfo)
                hit = ("sun", rise, set_)
            except ValueError:
                noon = dt.datetime.combine(local.date(), dt.time(12, 0), tzinfo)
                up = astral_sun.elevation(self._observer, noon) > 0
                hit = ("polar day" if up else "polar night", None, None)
            if len(self._cache) > 8:  # a few days is plenty, also for the year-long bench
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def state(self, now: float) -> SunState:
        """Night or day at ``now`` (epoch seconds), with the reason."""
        local = _local(now, self._tz)
        if self._observer is not None:
            kind, rise, set_ = self._day(local)
            if kind == "polar day":
                return SunState(False, "polar day (sun never sets)")
            if kind == "polar night":
                return SunState(True, "polar night (sun never rises)")
            if local >= set_:
                return SunState(True, f"after sunset {set_:%H:%M}")
            if local < rise:
                return SunState(True, f"before sunrise {rise:%H:%M}")
            return SunState(False, f"day (sunset {set_:%H:%M})")
        t = local.time()
        if t >= self._fixed_sunset:
            return SunState(True, f"after sunset {self._fixed_sunset:%H:%M} (fixed)")
        if t < self._fixed_sunrise:
            return SunState(True, f"before sunrise {self._fixed_sunrise:%H:%M} (fixed)")
        return SunState(False, f"day (fixed sunset {self._fixed_sunset:%H:%M})")
