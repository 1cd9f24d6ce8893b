"""The ``prices`` section of config.yaml: typed, frozen, defaults in code, every field checked."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .units import UnitError, check_currency, main_factor

SOURCES = ("octopus", "awattar", "comed", "tibber", "http", "fixed", "none")
# Octopus GSP group letters: A..P without I and O (evcc's template; energy-anchors 4.1).
OCTOPUS_REGIONS = "ABCDEFGHJKLMNP"
# What each source publishes in: (unit shown, currency). http and fixed take prices.unit/currency.
SOURCE_UNITS = {"octopus": ("p/kWh", "GBP"), "awattar": ("ct/kWh", "EUR"), "comed": ("¢/kWh", "USD")}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PRODUCT_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,60}$")
_HOURS_RE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _url_ok(url: str) -> bool:
    return url.startswith(("http://", "https://")) and len(url) > 8


def parse_hours(text: str) -> tuple[int, int]:
    """ "HH:MM-HH:MM" -> (start minute, end minute); end <= start runs past midnight, "24:00" ends the day."""
    match = _HOURS_RE.match(text.strip())
    if not match:
        raise ValueError(f"not a time range like 16:00-19:00: {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"not a time range like 16:00-19:00: {text!r}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end or (start == 0 and end == 1440):
        return 0, 1440  # the whole day
    return start, end % 1440 if end == 1440 else end


def parse_days(days: tuple[str, ...]) -> frozenset[int]:
    """("mon-fri", "sun") -> {0, 1, 2, 3, 4, 6}; () = every day."""
    if not days:
        return frozenset(range(7))
    out: set[int] = set()
    for item in days:
        text = item.strip().lower()
        first, _, last = text.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"not a weekday or range like mon-fri (mon..sun): {item!r}")
        a, b = DAYS.index(first), DAYS.index(last or first)
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(out)


@dataclass(frozen=True)
class TouPeriod:
    """One row of a time-of-use table: a price for an hour range on some weekdays."""

    name: str = ""
    price: float = math.nan  # in prices.unit
    hours: str = "00:00-24:00"  # "HH:MM-HH:MM"; an end at or before the start runs past midnight
    days: tuple[str, ...] = ()  # "mon".."sun" or ranges "mon-fri"; empty = every day

    def validate(self) -> None:
        _check(math.isfinite(self.price), "price: required (a number in prices.unit)")
        try:
            parse_hours(self.hours)
        except ValueError as exc:
            raise ValueError(f"hours: {exc}") from None
        try:
            parse_days(self.days)
        except ValueError as exc:
            raise ValueError(f"days: {exc}") from None


@dataclass(frozen=True)
class FixedConfig:
    """A flat price, or a time-of-use table whose first matching period wins (the flat price elsewhere)."""

    price: float | None = None  # in prices.unit; where no period matches
    periods: tuple[TouPeriod, ...] = ()

    def validate(self) -> None:
        _check(self.price is None or math.isfinite(self.price), f"price: must be a number, got {self.price}")


@dataclass(frozen=True)
class OctopusConfig:
    """Octopus Energy (UK) public REST prices: Agile import, optionally Agile Outgoing export."""

    # Agile Octopus October 2024 v1 (capped at 100 p/kWh inc VAT); GET /v1/products/ lists the current ones.
    product: str = "AGILE-24-10-01"
    region: str = ""  # GSP group letter A..P (no I or O): the last letter of your tariff code
    export_product: str = ""  # e.g. AGILE-OUTGOING-19-05-13 for Agile Outgoing; "" = no export prices
    base_url: str = "https://api.octopus.energy"

    def validate(self) -> None:
        _check(bool(_PRODUCT_RE.match(self.product)), f"product: not an Octopus product code like AGILE-24-10-01: {self.product!r}")
        _check(not self.export_product or bool(_PRODUCT_RE.match(self.export_product)),
               f"export_product: not an Octopus product code like AGILE-OUTGOING-19-05-13: {self.export_product!r}")
        _check(not self.region or (len(self.region) == 1 and self.region.upper() in OCTOPUS_REGIONS),
               f"region: must be one letter A-P without I and O (your tariff code's last letter), got {self.region!r}")
        _check(_url_ok(self.base_url), f"base_url: must start with http:// or https://, got {self.base_url!r}")


@dataclass(frozen=True)
class AwattarConfig:
    """aWATTar (Germany, Austria) public hourly market prices."""

    country: str = "de"  # de | at
    base_url: str = ""  # "" = https://api.awattar.<country>

    def validate(self) -> None:
        _check(self.country in ("de", "at"), f"country: must be de or at, got {self.country!r}")
        _check(not self.base_url or _url_ok(self.base_url), f"base_url: must start with http:// or https://, got {self.base_url!r}")

    @property
    def url(self) -> str:
        """The API root for the country."""
        return (self.base_url or f"https://api.awattar.{self.country}").rstrip("/")


@dataclass(frozen=True)
class ComedConfig:
    """ComEd Hourly Pricing (Chicago area, US): real-time 5-minute prices, public."""

    base_url: str = "https://hourlypricing.comed.com"

    def validate(self) -> None:
        _check(_url_ok(self.base_url), f"base_url: must start with http:// or https://, got {self.base_url!r}")


@dataclass(frozen=True)
class TibberConfig:
    """Tibber (Nordics, Germany, Netherlands): GraphQL with a personal access token."""

    token: str = field(default="", repr=False)  # env TIBBER_TOKEN; never logged or returned
    home_id: str = ""  # "" = the first home with a subscription
    base_url: str = "https://api.tibber.com/v1-beta/gql"

    def validate(self) -> None:
        _check(self.token == self.token.strip(), "token: must not start or end with spaces")
        _check(_url_ok(self.base_url), f"base_url: must start with http:// or https://, got {self.base_url!r}")


@dataclass(frozen=True)
class HttpPricesConfig:
    """Any JSON URL: a list of slots (dotted paths to start/end/price in each) or one current price."""

    url: str = ""
    slots: str = ""  # dotted path to the list of slots ("" = the reply itself is the list)
    start: str = "start"  # in each slot: epoch s/ms or ISO 8601 with offset
    end: str = ""  # in each slot; "" = the next slot's start (the last one lasts slot_minutes)
    price: str = "price"  # in each slot, in prices.unit
    export: str = ""  # in each slot, optional export price in prices.unit
    current: str = ""  # a dotted path to ONE current price instead of a list (valid for 2 x refresh_min)
    slot_minutes: float = 60

    def validate(self) -> None:
        _check(not self.url or _url_ok(self.url), "url: must start with http:// or https://")
        _check(1 <= self.slot_minutes <= 1440, f"slot_minutes: must be 1-1440, got {self.slot_minutes}")
        for key in ("start", "price"):
            _check(bool(getattr(self, key).strip()) or bool(self.current), f"{key}: a dotted path is required")


@dataclass(frozen=True)
class PricesConfig:
    """Electricity prices for the controller (docs/prices.md); off (``none``) unless a source is chosen."""

    source: str = "none"  # octopus | awattar | comed | tibber | http | fixed | none
    refresh_min: float = 30  # fetch this often; failures retry sooner with backoff (1, 2, 4... min, at most this)
    max_age_min: float = 1440  # prices fetched longer ago than this are stale even if a slot covers now
    timeout_sec: float = 10  # per HTTP request
    timezone: str = ""  # IANA zone for "today" and the time-of-use table; "" = the machine's local time
    currency: str = ""  # http/fixed: the currency (required); others: must match the source's if set
    unit: str = ""  # http/fixed: the unit of their prices ("" = <currency>/kWh); others: must match if set
    default_price: float | None = None  # used (and marked stale) when no fresh price covers now; in the unit shown
    export_price: float | None = None  # feed-in tariff where the source publishes none; in the unit shown
    octopus: OctopusConfig = field(default_factory=OctopusConfig)
    awattar: AwattarConfig = field(default_factory=AwattarConfig)
    comed: ComedConfig = field(default_factory=ComedConfig)
    tibber: TibberConfig = field(default_factory=TibberConfig)
    http: HttpPricesConfig = field(default_factory=HttpPricesConfig)
    fixed: FixedConfig = field(default_factory=FixedConfig)

    def validate(self) -> None:
        _check(self.source in SOURCES, f"source: must be one of {', '.join(SOURCES)}, got {self.source!r}")
        _check(1 <= self.refresh_min <= 1440, f"refresh_min: must be 1-1440, got {self.refresh_min}")
        _check(self.max_age_min >= 2 * self.refresh_min,
               f"max_age_min: must be at least 2 x refresh_min ({2 * self.refresh_min:g}), got {self.max_age_min}")
        _check(0.5 <= self.timeout_sec <= 60, f"timeout_sec: must be 0.5-60, got {self.timeout_sec}")
        if self.timezone:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"timezone: not an IANA time zone like Europe/London: {self.timezone!r}") from None
        for key in ("default_price", "export_price"):
            value = getattr(self, key)
            _check(value is None or math.isfinite(value), f"{key}: must be a number, got {value}")
        if self.currency:
            try:
                check_currency(self.currency)
            except UnitError as exc:
                raise ValueError(f"currency: {exc}") from None
        if self.unit:
            try:
                main_factor(self.unit)
            except UnitError as exc:
                raise ValueError(f"unit: {exc}") from None
        self._validate_source()

    def _validate_source(self) -> None:
        if self.source in SOURCE_UNITS:
            unit, currency = SOURCE_UNITS[self.source]
            _check(not self.currency or self.currency == currency,
                   f"currency: {self.source} prices are in {currency}, got {self.currency!r}")
            _check(not self.unit or self.unit == unit, f"unit: {self.source} prices are shown in {unit}, got {self.unit!r}")
        if self.source == "octopus":
            _check(bool(self.octopus.region), "octopus.region: required when source is octopus (A-P, your tariff code's last letter)")
        elif self.source == "tibber":
            _check(bool(self.tibber.token), "tibber.token: required when source is tibber (or env TIBBER_TOKEN)")
        elif self.source in ("http", "fixed"):
            _check(bool(self.currency), f"currency: required when source is {self.source} (e.g. EUR, GBP, USD)")
            if self.source == "http":
                _check(bool(self.http.url), "http.url: required when source is http")
            else:
                self._validate_fixed()

    def _validate_fixed(self) -> None:
        from .tou import uncovered  # the table's own module answers "which hour has no price"

        _check(self.fixed.price is not None or bool(self.fixed.periods),
               "fixed.price: a flat price or fixed.periods is required when source is fixed")
        if self.fixed.price is None:
            gap = uncovered(self.fixed.periods)
            _check(gap is None, f"fixed.price: required as the fallback: no period covers {gap}")

    @property
    def shown_currency(self) -> str:
        """The currency of the configured source ("" for tibber until its reply unless prices.currency is set)."""
        return SOURCE_UNITS[self.source][1] if self.source in SOURCE_UNITS else self.currency

    @property
    def shown_unit(self) -> str:
        """The per-kWh unit the configured source's prices are shown in ("" for tibber until its reply)."""
        if self.source in SOURCE_UNITS:
            return SOURCE_UNITS[self.source][0]
        if self.source == "tibber":
            return f"{self.currency}/kWh" if self.currency else ""
        from .units import per_kwh

        return per_kwh(self.unit)[0] if self.unit else f"{self.currency or 'EUR'}/kWh"


def apply_env(data: dict, environ) -> None:
    """Put TIBBER_TOKEN into the raw YAML data (in place), as the battery section does with its secrets."""
    raw = environ.get("TIBBER_TOKEN")
    if not raw:
        return
    prices = data.get("prices")
    if prices is None:
        prices = data["prices"] = {}
    if not isinstance(prices, dict):
        return  # _build reports "prices: expected a mapping"
    tibber = prices.get("tibber")
    if tibber is None:
        tibber = prices["tibber"] = {}
    if isinstance(tibber, dict):
        tibber["token"] = raw
