"""Each price source against recorded (or documented) replies served on loopback: requests sent, slots parsed."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from services.prices.config import AwattarConfig, ComedConfig, HttpPricesConfig, OctopusConfig, TibberConfig
from services.prices.sources.awattar import AwattarSource, parse_marketdata
from services.prices.sources.base import PriceError
from services.prices.sources.comed import ComedSource, hourly_slots
from services.prices.sources.http_json import HttpPriceSource, parse_current, parse_slots
from services.prices.sources.octopus import OctopusSource, parse_page, tariff_url
from services.prices.sources.tibber import TibberSource, parse_price_info

FIXTURES = Path(__file__).parent / "fixtures" / "prices"
WINDOW = (0.0, 4e9)  # the sources take the period asked for; the recorded replies decide the content


def fixture(name: str) -> Any:
    """A recorded reply as parsed JSON."""
    return json.loads((FIXTURES / name).read_text())


def ts(text: str) -> float:
    """Epoch seconds of an ISO time with offset."""
    return datetime.fromisoformat(text).timestamp()


@dataclass
class Seen:
    """One request the loopback server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class ReplyServer:
    """An HTTP server on 127.0.0.1 (port 0) answering through ``route(seen) -> (status, json body)``."""

    route: Callable[[Seen], tuple[int, Any]]
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()),
                            self.rfile.read(length) if length else b"")
                outer.seen.append(seen)
                status, body = outer.route(seen)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="price-test-server", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def serve():
    """Start ReplyServers for a test and close them after it."""
    servers: list[ReplyServer] = []

    def start(route: Callable[[Seen], tuple[int, Any]]) -> ReplyServer:
        server = ReplyServer(route)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


AGILE = "AGILE-FLEX-22-11-25"  # the recorded pages' product and region
OUTGOING = "AGILE-OUTGOING-19-05-13"


def octopus_route(seen: Seen) -> tuple[int, Any]:
    """The recorded Agile pages at the import path; page 2 also serves as Agile Outgoing."""
    if seen.path == urlsplit(tariff_url("", AGILE, "J")).path:
        return 200, fixture("octopus_agile_page2.json" if seen.query.get("page") == ["2"] else "octopus_agile_page1.json")
    if seen.path == urlsplit(tariff_url("", OUTGOING, "J")).path:
        return 200, fixture("octopus_agile_page2.json")
    return 404, {"detail": "Not found."}


# --- Octopus ----------------------------------------------------------------------------------------
def test_octopus_follows_next_on_the_configured_server_and_keeps_negative_prices(serve):
    server = serve(octopus_route)
    source = OctopusSource(OctopusConfig(product=AGILE, region="J", base_url=server.url), timeout_sec=5)
    try:
        fetched = source.fetch(ts("2024-05-07T12:00:00+00:00"), (ts("2024-05-06T23:00:00+00:00"), 4e9))
    finally:
        source.close()
    first, second = server.seen
    assert first.path == f"/v1/products/{AGILE}/electricity-tariffs/E-1R-{AGILE}-J/standard-unit-rates/"
    assert first.query["period_from"] == ["2024-05-06T23:00:00Z"] and "period_to" in first.query
    # The recorded "next" names api.octopus.energy; only its query is asked of our server.
    assert second.path == first.path and second.query == {"page": ["2"]}
    assert fetched.unit == "p/kWh" and fetched.currency == "GBP"
    assert len(fetched.slots) == 9
    assert [s.start for s in fetched.slots] == sorted(s.start for s in fetched.slots)
    by_start = {s.start: s for s in fetched.slots}
    at_20 = by_start[ts("2024-05-07T20:00:00+00:00")]
    assert (at_20.price, at_20.price_main, at_20.end) == (20.1915, pytest.approx(0.201915), ts("2024-05-07T20:30:00+00:00"))
    negative = by_start[ts("2026-05-25T13:00:00+00:00")]
    assert negative.price == -3.0 and negative.price_main == pytest.approx(-0.03)


def test_octopus_export_product_gives_export_prices_by_slot(serve):
    server = serve(octopus_route)
    cfg = OctopusConfig(product=AGILE, region="j", export_product=OUTGOING, base_url=server.url)
    source = OctopusSource(cfg, timeout_sec=5)
    try:
        slots = source.fetch(0, WINDOW).slots
    finally:
        source.close()
    assert any(s.path.endswith(f"/E-1R-{OUTGOING}-J/standard-unit-rates/") for s in server.seen)
    exported = {s.start: s.export_main for s in slots if s.export_main is not None}
    assert exported[ts("2026-05-25T13:00:00+00:00")] == pytest.approx(-0.03)  # negative: exporting then costs money
    assert exported[ts("2026-05-25T22:30:00+00:00")] == pytest.approx(0.141)
    assert ts("2024-05-07T20:00:00+00:00") not in exported  # no export price published for that slot


def test_octopus_errors_name_the_source_never_the_url(serve):
    server = serve(lambda seen: (503, {"detail": "busy"}))
    source = OctopusSource(OctopusConfig(product="AGILE-24-10-01", region="C", base_url=server.url), timeout_sec=5)
    try:
        with pytest.raises(PriceError) as caught:
            source.fetch(0, WINDOW)
    finally:
        source.close()
    assert str(caught.value) == "octopus: HTTP 503" and "127.0.0.1" not in str(caught.value)


def test_octopus_page_prefers_direct_debit_and_rejects_missing_prices():
    page = {"next": None, "results": [
        {"value_inc_vat": 10.0, "valid_from": "2024-05-07T20:00:00Z", "valid_to": "2024-05-07T20:30:00Z",
         "payment_method": "DIRECT_DEBIT"},
        {"value_inc_vat": 11.0, "valid_from": "2024-05-07T20:00:00Z", "valid_to": "2024-05-07T20:30:00Z",
         "payment_method": "NON_DIRECT_DEBIT"}]}
    rows, following = parse_page(page)
    assert rows == [(ts("2024-05-07T20:00:00+00:00"), ts("2024-05-07T20:30:00+00:00"), 10.0)] and following is None
    with pytest.raises(PriceError, match="value_inc_vat: missing"):
        parse_page({"results": [{"valid_from": "2024-05-07T20:00:00Z", "valid_to": None, "value_inc_vat": None}]})


# --- aWATTar ------------------------------------------------------------------------------------------
def test_awattar_converts_eur_per_mwh_to_ct_and_eur_per_kwh(serve):
    server = serve(lambda seen: (200, fixture("awattar_marketdata_de.json")))
    source = AwattarSource(AwattarConfig(country="de", base_url=server.url), timeout_sec=5)
    try:
        fetched = source.fetch(0, (1718316000.0, 1718575200.0))
    finally:
        source.close()
    assert server.seen[0].path == "/v1/marketdata"
    assert server.seen[0].query == {"start": ["1718316000000"], "end": ["1718575200000"]}
    assert (fetched.unit, fetched.currency, len(fetched.slots)) == ("ct/kWh", "EUR", 72)
    first = fetched.slots[0]
    assert (first.start, first.end) == (1718316000.0, 1718319600.0)
    assert first.price == pytest.approx(8.313) and first.price_main == pytest.approx(0.08313)  # 83.13 EUR/MWh
    lowest = min(fetched.slots, key=lambda s: s.price)
    assert lowest.price == pytest.approx(-8.001) and lowest.price_main == pytest.approx(-0.08001)  # -80.01 EUR/MWh
    assert sum(s.price < 0 for s in fetched.slots) == 20


def test_awattar_refuses_another_unit():
    reply = fixture("awattar_marketdata_de.json")
    reply["data"][3]["unit"] = "Eur/kWh"
    with pytest.raises(PriceError, match=r"data\[3\]\.unit"):
        parse_marketdata(reply)


# --- ComEd -------------------------------------------------------------------------------------------------
def test_comed_hourly_averages_in_cents(serve):
    def route(seen: Seen) -> tuple[int, Any]:
        kind = seen.query.get("type", [""])[0]
        return 200, fixture("comed_5minutefeed.json" if kind == "5minutefeed" else "comed_currenthouraverage.json")

    server = serve(route)
    source = ComedSource(ComedConfig(base_url=server.url), timeout_sec=5)
    try:
        fetched = source.fetch(0, WINDOW)
    finally:
        source.close()
    assert [s.query["type"] for s in server.seen] == [["5minutefeed"], ["currenthouraverage"]]
    assert (fetched.unit, fetched.currency) == ("¢/kWh", "USD")
    # 03:50 and 03:55 UTC (2.5 each) end in the 03:00 hour; the 04:05 price (2.0) in the 04:00 hour.
    hours = [(datetime.fromtimestamp(s.start, timezone.utc).strftime("%Y-%m-%d %H:%M"), s.price, s.price_main)
             for s in fetched.slots]
    assert hours == [("2015-06-19 03:00", 2.5, pytest.approx(0.025)), ("2015-06-19 04:00", 2.0, pytest.approx(0.02)),
                     ("2015-08-05 18:00", 8.3, pytest.approx(0.083))]


def test_comed_a_price_stamped_on_the_hour_ends_the_hour_before():
    feed = [{"millisUTC": "1434690000000", "price": "-1.2"}]  # 05:00:00 UTC: the 04:55-05:00 interval
    (slot,) = hourly_slots(feed)
    assert datetime.fromtimestamp(slot.start, timezone.utc).hour == 4 and slot.price_main == pytest.approx(-0.012)


# --- Tibber ------------------------------------------------------------------------------------------------
def test_tibber_posts_the_query_with_the_bearer_token(serve):
    server = serve(lambda seen: (200, fixture("tibber_priceinfo.json")))
    source = TibberSource(TibberConfig(token="tok-0123456789", base_url=server.url + "/v1-beta/gql"), timeout_sec=5)
    try:
        fetched = source.fetch(0, WINDOW)
    finally:
        source.close()
    (seen,) = server.seen
    assert seen.method == "POST" and seen.path == "/v1-beta/gql"
    assert seen.headers["Authorization"] == "Bearer tok-0123456789"
    query = json.loads(seen.body)["query"]
    for word in ("viewer", "homes", "currentSubscription", "priceInfo", "today", "tomorrow", "total", "startsAt"):
        assert word in query
    assert (fetched.unit, fetched.currency, len(fetched.slots)) == ("NOK/kWh", "NOK", 48)
    first, last = fetched.slots[0], fetched.slots[-1]
    assert first.start == ts("2021-12-29T00:00:00+01:00") and first.end == ts("2021-12-29T01:00:00+01:00")
    assert first.price == first.price_main == 1.7628
    assert last.start == ts("2021-12-30T23:00:00+01:00") and last.price == 1.7181
    assert "tok-0123456789" not in repr(source)


def test_tibber_graphql_errors_are_reported_without_the_token(serve):
    server = serve(lambda seen: (200, {"errors": [{"message": "Context creation failed: invalid token"}]}))
    source = TibberSource(TibberConfig(token="secret-token-xyz", base_url=server.url), timeout_sec=5)
    try:
        with pytest.raises(PriceError) as caught:
            source.fetch(0, WINDOW)
    finally:
        source.close()
    assert "invalid token" in str(caught.value) and "secret-token-xyz" not in str(caught.value)


def test_tibber_quarter_hour_lists_end_at_the_next_start():
    reply = {"data": {"viewer": {"homes": [{"id": "h1", "currentSubscription": {"priceInfo": {"today": [
        {"total": 0.3, "startsAt": "2025-10-01T00:00:00.000+02:00", "currency": "EUR"},
        {"total": 0.2, "startsAt": "2025-10-01T00:15:00.000+02:00", "currency": "EUR"}]}}}]}}}
    slots, currency = parse_price_info(reply, "h1")
    assert currency == "EUR" and slots[0].end - slots[0].start == 900 and slots[1].end - slots[1].start == 3600
    with pytest.raises(PriceError, match="no home with id 'other'"):
        parse_price_info(reply, "other")


# --- generic HTTP JSON ------------------------------------------------------------------------------------
def test_http_dotted_paths_read_the_awattar_reply_like_the_awattar_parser():
    cfg = HttpPricesConfig(url="http://127.0.0.1/", slots="data", start="start_timestamp", end="end_timestamp",
                           price="marketprice")
    generic = parse_slots(fixture("awattar_marketdata_de.json"), cfg, "EUR/MWh")
    dedicated = parse_marketdata(fixture("awattar_marketdata_de.json"))
    assert [s.start for s in generic] == [s.start for s in dedicated]
    assert [s.price_main for s in generic] == pytest.approx([s.price_main for s in dedicated])
    assert generic[0].price == pytest.approx(0.08313)  # shown per kWh: EUR/MWh -> EUR/kWh


def test_http_list_index_in_path_and_ends_from_the_next_start():
    cfg = HttpPricesConfig(url="http://127.0.0.1/", slots="data.viewer.homes.1.currentSubscription.priceInfo.tomorrow",
                           start="startsAt", price="total", slot_minutes=60)
    slots = parse_slots(fixture("tibber_priceinfo.json"), cfg, "NOK/kWh")
    assert len(slots) == 24 and slots[0].end == slots[1].start and slots[-1].end - slots[-1].start == 3600
    assert slots[2].price == 1.4895


def test_http_single_current_price_over_loopback(serve):
    server = serve(lambda seen: (200, fixture("tibber_priceinfo.json")))
    cfg = HttpPricesConfig(url=server.url + "/prices?key=abc", current="data.viewer.homes.0.currentSubscription.priceInfo.current.total")
    source = HttpPriceSource(cfg, "NOK/kWh", "NOK", valid_s=3600, timeout_sec=5)
    try:
        fetched = source.fetch(1000.0, WINDOW)
    finally:
        source.close()
    assert server.seen[0].query == {"key": ["abc"]}
    assert [(s.start, s.end, s.price) for s in fetched.slots] == [(1000.0, 4600.0, 1.6907)]
    assert "abc" not in repr(source)
    with pytest.raises(PriceError, match="missing price"):
        parse_current({}, cfg, "NOK/kWh", 0, 60)
