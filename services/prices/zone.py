"""Local time for prices: the "day" of cheapest-N-hours, the time-of-use table and the ISO times shown."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


class Zone:
    """A named IANA zone, or the machine's own local time when the name is empty."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._tz = ZoneInfo(name) if name else None

    def local(self, ts: float) -> datetime:
        """An aware local datetime for an epoch time (the machine's offset when no zone is named)."""
        if self._tz is not None:
            return datetime.fromtimestamp(ts, self._tz)
        return datetime.fromtimestamp(ts).astimezone()

    def timestamp(self, naive_local: datetime) -> float:
        """Epoch seconds of a naive local wall-clock time (the earlier one when a DST change repeats it)."""
        if self._tz is not None:
            return naive_local.replace(tzinfo=self._tz).timestamp()
        return naive_local.timestamp()

    def day_start(self, ts: float) -> float:
        """Local midnight at or before ``ts``."""
        local = self.local(ts).replace(tzinfo=None)
        return self.timestamp(local.replace(hour=0, minute=0, second=0, microsecond=0))

    def next_day_start(self, ts: float) -> float:
        """The local midnight after the day containing ``ts`` (23 or 25 h later on DST days)."""
        local = self.local(ts).replace(tzinfo=None)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        return self.timestamp(midnight)

    def iso(self, ts: float) -> str:
        """ISO 8601 with the local offset, to the second."""
        return self.local(ts).isoformat(timespec="seconds")
