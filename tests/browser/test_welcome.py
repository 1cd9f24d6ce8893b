"""The first-run welcome on the overview (templates/panels/welcome.html, static/js/welcome.js) in Debian's
Chromium against the REAL app (real_site.py: create_app with its runtime and no miner at all), desktop and
phone: the subnet pre-filled, a scan that finds the simulated miners and gives way to the cards, add by
IP (and the API's refusal shown), "No battery" saved to config.yaml as battery.source none, and "I'll do
this later" remembered. The detected-subnet path (network.subnet auto) is tests/test_discovery_default.py.

Loopback: web server 127.83.102.1, battery meter 127.83.103.1, simulated Bitaxes 127.86.9.0/24
(docs/contracts.md). Screenshots: test-artifacts/welcome-*.png.
"""

from __future__ import annotations

import re

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener
from real_site import API_TOKEN, BatteryMeter, card, log_in, real_site

from services.config import load_config
from simulator import MinerSpec, SimFleet

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST, METER_HOST = "127.83.102.1", "127.83.103.1"
NET = "127.86.9"
SUBNET = f"{NET}.0/24"
BITAXES = [f"{NET}.{n}" for n in (20, 21, 22)]
NOBODY = f"{NET}.99"  # nothing listens here
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
LATER_KEY = "minerfleet.welcome.later"


@pytest.fixture(scope="module")
def sim():
    """Three Bitaxes (real driver, simulated AxeOS) for the scan to find."""
    fleet = SimFleet([MinerSpec("bitaxe", ip) for ip in BITAXES], allow_any_client=True, seed=9)
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory, sim):
    """A fresh app: no miner known, network.subnet the simulator's range, an HTTP battery meter."""
    meter = BatteryMeter(METER_HOST)
    try:
        with real_site(tmp_path_factory.mktemp("welcome"), HOST, [], subnet=SUBNET, meter=meter,
                       port_offset=sim.port_offset) as s:
            yield s
    finally:
        meter.close()


@pytest.fixture
def open_page(browser, site):
    """page_opener on an app that knows no miner and has run no scan yet."""
    site.reset()  # no scripted miners: every miner a test added is removed
    site.runtime.discovery.latest = None
    with page_opener(browser, site.base) as opener:
        yield opener
    site.reset()


def _no_sideways_scroll(page) -> None:
    width, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page scrolls sideways ({width} px in {inner})"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_fresh_app_welcomes_with_the_subnet_and_asks_for_a_login(open_page, size):
    page = open_page("/", **(PHONE if size == "phone" else {}))
    welcome = page.locator("#welcome")
    expect(welcome).to_be_visible()
    expect(page.locator("#welcome").get_by_label("Subnet")).to_have_value(SUBNET)  # GET /api/discover's default_subnet
    expect(page.locator("#welcome-subnet-note")).to_have_text(re.compile("network.subnet"))  # configured
    # Logged out: the login link instead of buttons that would only bounce to the login page.
    expect(page.locator("#welcome-login")).to_be_visible()
    expect(page.locator("#welcome-login-link")).to_have_attribute("href", "/login?next=/")
    for name in ("Scan", "Add", "No battery"):
        expect(welcome.get_by_role("button", name=name, exact=True)).to_be_disabled()
    expect(welcome.get_by_role("link", name="Set up a battery source")).to_have_attribute(
        "href", "/settings#set-battery")
    _no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"welcome-{size}-logged-out.png"), full_page=size == "desktop")

    log_in(page)
    expect(welcome).to_be_visible()
    expect(page.locator("#welcome-login")).to_be_hidden()
    expect(welcome.get_by_role("button", name="Scan", exact=True)).to_be_enabled()
    expect(page.locator("#welcome-bat-now")).to_have_text("Saved source: an HTTP JSON source.")
    _no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"welcome-{size}.png"), full_page=size == "desktop")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_scan_finds_the_simulated_miners_and_gives_way_to_the_cards(open_page, size):
    page = open_page("/", **(PHONE if size == "phone" else {}))
    log_in(page)
    expect(page.locator("#welcome")).to_be_visible()
    page.locator("#welcome").get_by_role("button", name="Scan", exact=True).click()
    assert ("POST", "/api/discover", {"subnet": SUBNET}) in open_page.requests
    # The welcome stays while its scan runs, then says what it found where it was, above the cards.
    expect(page.locator("#welcome-outcome-text")).to_have_text(
        f"Scanned {SUBNET}: found 3 miners. Your miners are below.", timeout=20_000)
    expect(page.locator("#welcome")).to_be_hidden()
    for ip in BITAXES:
        expect(card(page, ip)).to_be_visible()
    _no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"welcome-{size}-scanned.png"), full_page=size == "desktop")
    page.locator("#welcome-outcome-close").click()
    expect(page.locator("#welcome-outcome")).to_be_hidden()


def test_a_refused_scan_shows_the_api_error(open_page):
    open_page.expected_http_errors = 1  # the 400, on purpose
    page = open_page()
    log_in(page)
    page.locator("#welcome").get_by_label("Subnet").fill("10.0.0.0/8")
    page.locator("#welcome").get_by_role("button", name="Scan", exact=True).click()
    expect(page.locator("#welcome-scan-result")).to_have_text(
        "The scan did not start: 10.0.0.0/8 has 16777216 addresses; scan at most 4096 (a /20) at once")
    expect(page.locator("#welcome-scan-result")).to_have_attribute("data-kind", "error")
    expect(page.locator("#welcome")).to_be_visible()


def test_add_by_ip_shows_the_refusal_then_adds_a_miner(open_page, site):
    open_page.expected_http_errors = 1  # the 422 for the address where nobody answers, on purpose
    page = open_page()
    log_in(page)
    add = page.locator("#welcome").get_by_role("button", name="Add", exact=True)
    page.locator("#welcome").get_by_label("Miner address").fill(NOBODY)
    add.click()
    expect(page.locator("#welcome-add-result")).to_have_text(
        f"{NOBODY} was not added: no supported miner answered at {NOBODY}; check the address or give its family",
        timeout=15_000)
    expect(page.locator("#welcome")).to_be_visible()
    assert site.runtime.fleet.records() == []

    page.locator("#welcome-ip").fill(BITAXES[0])
    add.click()
    expect(page.locator("#welcome-outcome-text")).to_have_text(
        re.compile(rf"^Added {re.escape(BITAXES[0])} \(bitaxe[^)]*\)\. Your miners are below\.$"), timeout=15_000)
    expect(card(page, BITAXES[0])).to_be_visible()
    expect(page.locator("#welcome")).to_be_hidden()
    assert [r.ip for r in site.runtime.fleet.records()] == [BITAXES[0]]


def test_a_miner_added_elsewhere_takes_the_welcome_away_live(open_page, site):
    page = open_page()
    expect(page.locator("#welcome")).to_be_visible()
    reply = requests.post(f"{site.base}/api/miners", json={"ip": BITAXES[1], "family": "bitaxe"},
                          headers=AUTH, timeout=15)
    assert reply.status_code == 201, reply.text
    # No reload: the next /ws snapshot draws the card, and the welcome goes without a note (not its step).
    expect(card(page, BITAXES[1])).to_be_visible(timeout=10_000)
    expect(page.locator("#welcome")).to_be_hidden()
    expect(page.locator("#welcome-outcome")).to_be_hidden()
    # ... and comes back when the last miner is removed.
    assert requests.delete(f"{site.base}/api/miners/{BITAXES[1]}", headers=AUTH, timeout=10).status_code == 200
    expect(page.locator("#welcome")).to_be_visible(timeout=10_000)


def test_no_battery_saves_source_none_and_applies_it_at_once(open_page, site):
    path = site.runtime.config.source
    assert load_config(path, environ={}).battery.source == "http"
    page = open_page()
    log_in(page)
    expect(page.locator("#welcome-bat-now")).to_have_text("Saved source: an HTTP JSON source.")
    try:
        page.locator("#welcome").get_by_role("button", name="No battery").click()
        expect(page.locator("#welcome-bat-result")).to_have_text("Saved: no battery. In use now.")
        expect(page.locator("#welcome-bat-now")).to_have_text("Saved source: no battery.")
        assert load_config(path, environ={}).battery.source == "none"
        assert site.runtime.config.battery.source == "none"  # battery.* applies live (BatteryMonitor.reconfigure)
        assert not site.runtime.battery.configured and site.runtime.scheduler.get_job("battery") is None
        page.screenshot(path=str(ARTIFACTS / "welcome-desktop-battery.png"))
        page.locator("#welcome").get_by_role("button", name="No battery").click()  # again: nothing to change
        expect(page.locator("#welcome-bat-result")).to_have_text("Already saved: no battery.")
    finally:
        reply = requests.patch(f"{site.base}/api/settings", json={"battery.source": "http"}, headers=AUTH, timeout=10)
        assert reply.status_code == 200, reply.text
        assert site.runtime.battery.source.name == "http"  # the meter again, for the tests that follow


def test_later_is_remembered_and_welcome_1_brings_it_back(open_page):
    page = open_page()
    expect(page.locator("#welcome")).to_be_visible()
    expect(page.locator("#miners-empty")).to_be_visible()  # the normal empty overview is there beneath
    page.get_by_role("button", name="I'll do this later").click()
    expect(page.locator("#welcome")).to_be_hidden()
    assert page.evaluate(f"localStorage.getItem('{LATER_KEY}')") == "1"
    page.reload()
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("#miners-empty")).to_be_visible()
    expect(page.locator("#welcome")).to_be_hidden()
    page.goto(page.url.split("#")[0].rstrip("/") + "/?welcome=1")
    expect(page.locator("#welcome")).to_be_visible()
    assert not page.url.endswith("?welcome=1")  # the query is dropped: a reload keeps the choice
    assert page.evaluate(f"localStorage.getItem('{LATER_KEY}')") is None
