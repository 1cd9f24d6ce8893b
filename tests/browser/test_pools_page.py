"""The Pools & wallets page (/pools: templates/pools.html, static/js/pools.js) in Debian's Chromium against
the REAL app and simulated miners: wallets from the pool users with a checksum typo flagged, the solo
panel (network difficulty, best shares, expected time to a block), shares per miner and pool, and the
pool library editor (create, edit, apply to selected miners and to a tag with per-miner results,
delete), on desktop and phone sizes. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app

from simulator import MinerSpec, SimFleet
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.92.2"  # the web server; this file owns 127.83.92.0/24 and 127.83.93.0/24
NET = "127.83.93"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
PHONE = {"width": 390, "height": 844}
SEGWIT = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
TYPO = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"  # one character off: the checksum fails
TAPROOT = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
SECRET = "pool-secret-7731"
SPECS = [
    MinerSpec("bitaxe", f"{NET}.10", model="Gamma", restart_seconds=0.5,
              pools=(("stratum+tcp://solo.ckpool.org:3333", f"{SEGWIT}.gamma"),)),
    MinerSpec("bitaxe", f"{NET}.11", model="NerdQAxe++", restart_seconds=0.5,
              pools=(("stratum+tcp://public-pool.io:21496", f"{TYPO}.nerd"),)),
    MinerSpec("cgminer", f"{NET}.12", model="GekkoScience Compac F", restart_seconds=0.5,
              pools=(("stratum+tcp://stratum.braiins.com:3333", "myaccount.compac"),)),
]
FAMILIES = {f"{NET}.10": "bitaxe", f"{NET}.11": "bitaxe", f"{NET}.12": "cgminer"}


@pytest.fixture(scope="module")
def sim():
    fleet = SimFleet(SPECS, allow_any_client=True, seed=29)
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, sim):
    path = tmp_path_factory.mktemp("pools-page") / "config.yaml"
    path.write_text(
        f"network:\n  subnet: {NET}.0/24\n  port_offset: {sim.port_offset}\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1.5\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
        "solo:\n  network_difficulty: 1.2e+14\n"
    )
    with real_app(path, HOST) as (base, runtime):
        for ip, family in FAMILIES.items():
            reply = requests.post(base + "/api/miners", json={"ip": ip, "family": family}, headers=AUTH, timeout=10)
            assert reply.status_code in (200, 201), reply.text
        reply = requests.patch(f"{base}/api/miners/{NET}.11", json={"tags": ["garage"]}, headers=AUTH, timeout=10)
        assert reply.status_code == 200, reply.text
        runtime.fleet.poll_round()
        yield base


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways ({width} px)"


def test_wallets_solo_and_shares(open_page, server):
    page = open_page("/pools")
    expect(page.get_by_role("link", name="Pools & wallets")).to_have_attribute("aria-current", "page")
    rows = page.locator("#pw-wallets-rows tr")
    expect(rows).to_have_count(2)  # the account name (myaccount.compac) is no wallet
    good = rows.filter(has_text=SEGWIT)
    expect(good.locator(".badge")).to_have_text(["valid", "solo"])
    expect(good).to_contain_text("SegWit P2WPKH")
    expect(good).to_contain_text(f"{NET}.10 · gamma")
    bad = rows.filter(has_text=TYPO)
    expect(bad.locator(".badge")).to_have_text(["invalid", "solo"])
    expect(bad).to_have_class(re.compile("pw-row-bad"))
    expect(page.locator("#pw-invalid")).to_be_visible()
    expect(page.locator("#pw-invalid")).to_contain_text(TYPO)

    expect(page.locator("#pw-netdiff")).to_have_text("120 T")
    expect(page.locator("#pw-netdiff-src")).to_have_text("configured")
    expect(page.locator("#pw-solo-miners")).to_have_text("2")
    expect(page.locator("#pw-solo-eta")).to_have_text(re.compile(r"^[\d,]+ years$"))
    expect(page.locator("#pw-solo-day")).to_have_text(re.compile(r"^1 in [\d,]+$"))
    solo_rows = page.locator("#pw-solo-rows tr")
    expect(solo_rows.filter(has_text=f"{NET}.10")).to_contain_text("solo")
    expect(solo_rows.filter(has_text=f"{NET}.12")).to_contain_text("pooled")

    shares = page.locator("#pw-shares-rows tr")
    expect(shares.filter(has_text=f"{NET}.10")).to_contain_text("solo.ckpool.org:3333")
    page.get_by_label("Range").select_option("1h")
    expect(shares.filter(has_text=f"{NET}.10")).to_have_count(1)
    # A miner's shares over time: stacked bars from GET /api/miners/<ip>/shares.
    shares.filter(has_text=f"{NET}.10").get_by_role("button", name=f"{NET}.10").click()
    expect(page.locator("#pw-chart-box")).to_be_visible()
    expect(page.locator("#pw-chart-title")).to_have_text(f"{NET}.10: shares, 1h")
    expect(page.locator("#pw-chart-sum")).to_have_text(re.compile(r"^[\d,]+ accepted, [\d,]+ rejected \(1 pool; bars of 5 min\)$"))
    assert page.evaluate("() => !!Chart.getChart(document.getElementById('pw-chart'))")
    page.screenshot(path=str(ARTIFACTS / "pools-page.png"), full_page=True)


def test_phone_layout(open_page, server):
    seeded = requests.post(f"{server}/api/pool-sets", headers=AUTH, timeout=10, json={
        "name": "A long-named backup pool set for the garage miners",
        "pools": [{"url": "stratum+tcp://solo.ckpool.org:3333", "user": f"{TAPROOT}.a-long-worker-name"}]})
    assert seeded.status_code == 201, seeded.text
    try:
        page = open_page("/pools", viewport=PHONE)
        expect(page.locator("#pw-wallets-rows tr")).to_have_count(2)
        expect(page.locator("#pw-solo-rows tr").first).to_be_visible()
        expect(page.locator("#pl-list .pl-set")).to_have_count(1)
        page.locator("#pw-shares-rows tr").first.get_by_role("button").click()
        expect(page.locator("#pw-chart-box")).to_be_visible()
        _no_sideways_scroll(page)
        page.screenshot(path=str(ARTIFACTS / "pools-page-phone.png"), full_page=True)
    finally:
        requests.delete(f"{server}/api/pool-sets/{seeded.json()['id']}", headers=AUTH, timeout=10)


def _log_in(page) -> None:
    page.goto(re.sub(r"^(https?://[^/]+).*$", r"\1/login?next=/pools", page.url))
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/pools$"))
    expect(page.locator("#logout-btn")).to_be_visible()


def _pools_of(base: str, ip: str) -> list[tuple[str, str]]:
    detail = requests.get(f"{base}/api/miners/{ip}", timeout=10).json()
    return [(p["url"], p["user"]) for p in detail["pools"]]


def test_pool_library_create_edit_apply_delete(open_page, server):
    page = open_page("/pools")
    expect(page.locator("#pl-login")).to_be_visible()
    expect(page.get_by_role("button", name="New pool set")).to_be_disabled()
    _log_in(page)

    page.get_by_role("button", name="New pool set").click()
    page.get_by_label("Name").fill("Solo CK")
    page.locator("#pl-url-0").fill("stratum+tcp://solo.ckpool.org:3333")
    page.locator("#pl-user-0").fill(f"{TAPROOT}.rig")
    page.locator("#pl-password-0").fill(SECRET)
    page.locator("#pl-url-1").fill("stratum+tcp://public-pool.io:21496")
    page.locator("#pl-user-1").fill(f"{TAPROOT}.rig")
    page.get_by_role("button", name="Save").click()
    card = page.locator("#pl-list .pl-set").filter(has_text="Solo CK")
    expect(card).to_have_count(1)
    expect(card.locator(".pl-set-pools li")).to_have_count(2)
    expect(card.locator(".pl-set-pools li").first).to_contain_text("password set")

    # A bad URL is refused with the API's reason (the one 400 the console shows), and nothing is saved.
    open_page.expected_http_errors = 1
    page.get_by_role("button", name="New pool set").click()
    page.get_by_label("Name").fill("Broken")
    page.locator("#pl-url-0").fill("http://not-stratum")
    page.locator("#pl-user-0").fill("x")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#pl-form-error")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#pl-list .pl-set")).to_have_count(1)

    # Edit: a new name, the password left empty keeps the stored one.
    card.get_by_role("button", name="Edit").click()
    expect(page.locator("#pl-password-0")).to_have_attribute("placeholder", "unchanged")
    page.get_by_label("Name").fill("Solo CK taproot")
    page.get_by_role("button", name="Save").click()
    card = page.locator("#pl-list .pl-set").filter(has_text="Solo CK taproot")
    expect(card.locator(".pl-set-pools li").first).to_contain_text("password set")

    # Apply to selected miners: per-miner results, and the miners read back the new pools.
    card.get_by_role("button", name="Apply…").click()
    page.get_by_label(f"{NET}.10").check()
    page.get_by_label(f"{NET}.12").check()
    page.locator("#pl-apply-go").click()
    results = page.locator("#pl-results-list li")
    expect(results).to_have_count(2)
    expect(page.locator("#pl-results-summary")).to_have_text("2 done, 0 refused, 0 failed")
    assert _pools_of(server, f"{NET}.10")[0] == ("stratum+tcp://solo.ckpool.org:3333", f"{TAPROOT}.rig")
    assert _pools_of(server, f"{NET}.12")[0] == ("stratum+tcp://solo.ckpool.org:3333", f"{TAPROOT}.rig")
    page.screenshot(path=str(ARTIFACTS / "pools-library.png"), full_page=True)

    # Apply to a tag: only the tagged miner.
    card.get_by_role("button", name="Apply…").click()
    page.get_by_label("every miner tagged").check()
    page.get_by_label("Tag", exact=True).select_option("garage")
    page.locator("#pl-apply-go").click()
    expect(page.locator("#pl-results-list li")).to_have_count(1)
    expect(page.locator("#pl-results-list li")).to_contain_text(f"{NET}.11")
    assert _pools_of(server, f"{NET}.11")[0] == ("stratum+tcp://solo.ckpool.org:3333", f"{TAPROOT}.rig")

    # The password never comes back.
    listing = requests.get(f"{server}/api/pool-sets", timeout=10)
    assert SECRET not in listing.text and '"password_set": true' in listing.text.replace('":true', '": true')

    # The wallets follow the pools the miners use now (the next poll rounds).
    expect(page.locator("#pw-wallets-rows tr").filter(has_text=TAPROOT)).to_contain_text(f"{NET}.10", timeout=40_000)

    # Delete, confirmed in the dialog.
    card.get_by_role("button", name="Delete").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#pl-list .pl-set")).to_have_count(0)
    expect(page.locator("#pl-empty")).to_be_visible()
