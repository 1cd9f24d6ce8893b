"""The chart ranges every chart offers (1h ... all) and the bucket that gives each a few hundred points.

One place for the list: the API checks ``?range=`` against it, the pages render
their range buttons from it (web/pages.py hands it to the templates) and the
history bench sizes its queries with the same function.
"""

from __future__ import annotations

RANGES_S: dict[str, int] = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "3d": 3 * 86400, "1w": 7 * 86400}
ALL = "all"  # from the oldest stored row
NAMES: tuple[str, ...] = (*RANGES_S, ALL)
TARGET_POINTS = 300  # a chart wants a few hundred points per series, not every row
MIN_SPAN_S = 3600  # "all" on a fresh install still spans an hour
DEFAULT = "24h"  # the range a chart shows first
# The miner detail dialog has offered three since it was written (no reason was recorded); kept:
# its range buttons share each chart section's head with the title, which on a phone fits three.
DETAIL_NAMES: tuple[str, ...] = ("1h", "24h", "1w")


def spans(names: tuple[str, ...] = NAMES) -> dict[str, int | None]:
    """{name: seconds} of ``names`` for the pages' range buttons; "all" is None (from the oldest row)."""
    return {name: RANGES_S.get(name) for name in names}


def window(name: str, now: float, interval_s: float, oldest: float | None) -> tuple[float, int]:
    """(since epoch s, bucket s) for range ``name``: the bucket is a whole number of poll intervals.

    ``oldest`` is the oldest stored timestamp (only "all" uses it); an unknown name raises ValueError.
    """
    if name == ALL:
        span = max(now - (oldest if oldest is not None else now - MIN_SPAN_S), MIN_SPAN_S)
    elif name in RANGES_S:
        span = RANGES_S[name]
    else:
        raise ValueError(f"range must be one of {', '.join(NAMES)}")
    interval = int(max(interval_s, 1))
    bucket = max(interval, int(span // TARGET_POINTS))
    bucket = -(-bucket // interval) * interval
    return now - span, bucket
