"""Where in its solar day a site is, learned from its own PV readings (no location, no forecast).

The surplus policy raises its priority SOC through the day (services/power/surplus.py),
so it needs the share of the PV day that has passed. It learns the time of day (UTC)
at which PV starts and stops from the readings: a sunrise is the first reading above
``DAYLIGHT_W`` after ``CONFIRM_SEC`` of darkness seen without a gap, a sunset the last
light reading before such darkness. Both move by minutes a day, so the last ones seen
stand for today, and a transition the readings missed (the policy is not asked while
the battery data are stale or in a battery emergency, often on winter mornings) keeps
the one seen before. Until both have been seen the day is taken as ``DEFAULT_DAY_SEC`` long.
"""

from __future__ import annotations

from dataclasses import dataclass

DAYLIGHT_W = 10.0  # PV above this is daylight: inverters read 0 at night, overcast daylight gives far more
CONFIRM_SEC = 1800.0  # darkness this long (seen without a gap) is a night, not a reading glitch
MAX_GAP_SEC = 900.0  # readings further apart than this cannot time a sunrise or a sunset
DAY_SEC = 86400.0
DEFAULT_DAY_SEC = 12 * 3600.0  # the PV day's length until a sunrise and a sunset have been seen
MIN_DAY_SEC, MAX_DAY_SEC = 3 * 3600.0, 21 * 3600.0  # a learned length outside these is not believed


@dataclass
class SolarDay:
    """The last sunrise and sunset seen (seconds after UTC midnight); observe() every reading."""

    rise_tod: float | None = None
    set_tod: float | None = None
    last_seen: float | None = None  # the previous observation (epoch)
    last_light: float | None = None  # the last light observation of the current light run
    dark_since: float | None = None  # start of the current dark run, seen without a gap (None while light)
    night_seen: bool = False  # the current dark run has lasted CONFIRM_SEC

    def observe(self, now: float, pv_w: float | None) -> None:
        """Record one PV reading taken at ``now`` (epoch seconds); None is ignored."""
        if pv_w is None:
            return
        light = pv_w > DAYLIGHT_W
        if self.last_seen is None or not 0 <= now - self.last_seen <= MAX_GAP_SEC:
            # A gap hides when the light came or went: start over from this reading.
            self.last_light, self.dark_since, self.night_seen = (now, None, False) if light else (None, now, False)
            self.last_seen = now
            return
        self.last_seen = now
        if light:
            if self.night_seen:
                self.rise_tod = now % DAY_SEC
            self.dark_since, self.night_seen, self.last_light = None, False, now
            return
        if self.dark_since is None:
            self.dark_since = now
        if not self.night_seen and now - self.dark_since >= CONFIRM_SEC:
            self.night_seen = True
            if self.last_light is not None:
                self.set_tod = self.last_light % DAY_SEC
            self.last_light = None

    def length_sec(self) -> float:
        """The PV day's length: from the last sunrise to the last sunset seen, else DEFAULT_DAY_SEC."""
        if self.rise_tod is None or self.set_tod is None:
            return DEFAULT_DAY_SEC
        length = (self.set_tod - self.rise_tod) % DAY_SEC
        return length if MIN_DAY_SEC <= length <= MAX_DAY_SEC else DEFAULT_DAY_SEC

    def fraction(self, now: float, light: bool) -> float | None:
        """Share of the PV day passed at ``now`` (0 at sunrise, 1 at sunset and while dark); None = nothing seen yet."""
        if self.set_tod is None and self.rise_tod is None:
            return None
        if not light:
            return 1.0
        length = self.length_sec()
        # Before the first sunset is seen, the day is taken to end DEFAULT_DAY_SEC after the sunrise.
        set_tod = self.set_tod if self.set_tod is not None else (self.rise_tod + length) % DAY_SEC
        to_set = (set_tod - now) % DAY_SEC
        if to_set > length:  # light past the learned sunset (days grow): the day is over
            return 1.0 if to_set > DAY_SEC - 2 * 3600.0 else 0.0
        return 1.0 - to_set / length
