"""What every price source shares: the fetch result, its error, and bounded JSON requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests

from services.battery.http_json import parse_timestamp

from ..model import PriceSlot

USER_AGENT = "minerfleet-prices/1"


class PriceError(Exception):
    """A fetch or parse failure, in one line that names the source and never holds a URL or token."""


@dataclass(frozen=True)
class Fetched:
    """One successful fetch: slots in time order, with the unit and currency they are in."""

    slots: list[PriceSlot]
    unit: str
    currency: str


class PriceSource:
    """Base of the network sources: a requests session with a timeout on every call."""

    name = "base"

    def __init__(self, cfg: Any, timeout_sec: float, session: requests.Session | None = None) -> None:
        self.cfg = cfg  # the source's own config section
        self.timeout_sec = timeout_sec
        self._http = session or requests.Session()
        self._http.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    def fetch(self, now: float, window: tuple[float, float]) -> Fetched:  # pragma: no cover - overridden
        """Fetch and parse the prices of ``window`` (local midnight today to the end of tomorrow)."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the HTTP session (its pooled connections)."""
        self._http.close()

    def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        """One request; any failure becomes a PriceError naming only the source and the cause."""
        try:
            reply = self._http.request(method, url, timeout=self.timeout_sec, **kwargs)
        except requests.RequestException as exc:
            raise PriceError(f"{self.name}: unreachable ({type(exc).__name__})") from None
        if reply.status_code != 200:
            raise PriceError(f"{self.name}: HTTP {reply.status_code}")
        try:
            return reply.json()
        except ValueError:
            raise PriceError(f"{self.name}: reply is not JSON") from None


def parse_time(value: Any, what: str) -> float:
    """Epoch seconds from epoch s/ms (number or numeric text) or ISO 8601 with an offset."""
    stamp = parse_timestamp(value)  # the battery's HTTP source reads times the same way
    if stamp is None:
        raise PriceError(f"{what}: missing or not a time (epoch s/ms or ISO 8601 with an offset)")
    return stamp


def parse_number(value: Any, what: str) -> float:
    """A finite float from a JSON number or numeric text; missing is an error, never zero."""
    if isinstance(value, bool) or value is None:
        raise PriceError(f"{what}: missing price")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PriceError(f"{what}: not a number: {str(value)[:40]!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise PriceError(f"{what}: not a finite number")
    return number


def iso_utc(ts: float) -> str:
    """"2024-05-07T00:00:00Z" for query parameters."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
