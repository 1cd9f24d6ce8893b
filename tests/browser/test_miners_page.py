"""The Miners page (/miners: templates/miners.html, static/js/miners*.js) and the page navigation
(templates/_pages_nav.html, static/js/nav.js) in Debian's Chromium against the REAL app with
simulated miners: every miner in the table, sort and filters, deep links and the back button,
the remembered column choice, the CSV export (a real download), bulk actions with per-miner
results, and the phone menu by keyboard without sideways scrolling. Screenshots: test-artifacts/.
"""

from __future__ import annotations

import csv
import io
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app

from simulator import MinerSpec, SimFleet
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.90.2"  # the web server; this file owns 127.83.90.0/24 and 127.83.91.0/24
NET = "127.86.6"      # simulated miners (the Miners page's range)
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}

BITAXES = [f"{NET}.10", f"{NET}.11", f"{NET}.12"]
ANTMINERS = [f"{NET}.20", f"{NET}.21"]
CGMINER = f"{NET}.30"
OFFLINE = f"{NET}.99"  # added as a Bitaxe; nothing listens there
SIMULATED = BITAXES + ANTMINERS + [CGMINER]
ALL = SIMULATED + [OFFLINE]
FAMILY = {**{ip: "bitaxe" for ip in BITAXES + [OFFLINE]}, **{ip: "antminer" for ip in ANTMINERS}, CGMINER: "cgminer"}
TAGS = {BITAXES[0]: ["rack-a"], BITAXES[1]: ["rack-a", "garage"], ANTMINERS[0]: ["garage"]}
NAMES = {BITAXES[0]: "desk gamma"}


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("bitaxe", ip) for ip in BITAXES] + [MinerSpec("antminer", ip) for ip in ANTMINERS]
    specs.append(MinerSpec("cgminer", CGMINER))
    fleet = SimFleet(specs, allow_any_client=True, seed=23)
    fleet.start()
    yield fleet
    fleet.stop()


def set_settings(base: str, runtime, ip: str, **values) -> None:
    """Tags and names through PATCH /api/miners/<ip> (the miner settings API)."""
    reply = requests.patch(f"{base}/api/miners/{ip}", json=values, headers=AUTH, timeout=10)
    assert reply.status_code == 200, reply.text


@pytest.fixture(scope="module")
def server(tmp_path_factory, sim):
    """The real app with six simulated miners (three families) and one that never answers."""
    path = tmp_path_factory.mktemp("miners-page") / "config.yaml"
    path.write_text(
        f"network:\n  subnet: {NET}.0/24\n  port_offset: {sim.port_offset}\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1.0\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        for ip in ALL:
            reply = requests.post(base + "/api/miners", json={"ip": ip, "family": FAMILY[ip]}, headers=AUTH, timeout=15)
            assert reply.status_code in (200, 201), reply.text
        for ip, tags in TAGS.items():
            set_settings(base, runtime, ip, tags=tags)
        for ip, name in NAMES.items():
            set_settings(base, runtime, ip, name=name)
        deadline = time.monotonic() + 30  # offline after a few failed poll rounds (2 s apart)
        while True:
            listed = {m["ip"]: m for m in requests.get(base + "/api/miners", timeout=5).json()}
            if listed[OFFLINE]["status"] == "offline" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert listed[OFFLINE]["status"] == "offline"
        assert all(listed[ip]["status"] == "online" for ip in SIMULATED), {ip: m["status"] for ip, m in listed.items()}
        yield base


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def shown_ips(page) -> list[str]:
    return page.locator("#mn-rows tr").evaluate_all("trs => trs.map(tr => tr.dataset.ip)")


def column_texts(page, key: str) -> list[str]:
    return page.locator(f"#mn-rows td.mn-c-{key}").evaluate_all("tds => tds.map(td => td.textContent.trim())")


def watts(text: str) -> float:
    """ "1.23 kW" -> 1230.0 (util.js fmtPower)."""
    value, unit = text.split()
    return float(value) * {"W": 1, "kW": 1e3, "MW": 1e6}[unit]


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def log_in(page, server: str) -> None:
    """Through the bulk bar's own "Log in" link: the login page returns to the same view (?next=)."""
    url = page.url
    page.locator("#mn-login-hint").get_by_role("link", name="Log in").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url)
    expect(page.locator("#logout-btn")).to_be_visible()


def no_sideways_scroll(page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"page is {width[0]} px wide in a {width[1]} px viewport"


def test_every_miner_in_the_table_sorted_and_filtered(open_page, server):
    page = open_page("/miners")
    expect(page.get_by_role("link", name="Miners", exact=True)).to_have_attribute("aria-current", "page")
    expect(page.locator("#mn-rows tr")).to_have_count(len(ALL))
    expect(page.locator("#mn-count")).to_have_text(f"({len(ALL)})")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    assert shown_ips(page) == ALL  # by IP, numerically
    row = page.locator(f'#mn-rows tr[data-ip="{BITAXES[0]}"]')
    expect(row.locator("td.mn-c-name")).to_have_text("desk gamma")
    expect(row.locator("td.mn-c-family")).to_have_text("bitaxe")
    expect(row.locator("td.mn-c-status")).to_have_text("online")
    expect(row.locator("td.mn-c-tags")).to_have_text("rack-a")
    expect(row.locator("td.mn-c-hashrate")).to_contain_text("H/s")
    expect(row.locator("td.mn-c-power")).to_have_text(re.compile(r"^\d+(\.\d+)? W$"))
    expect(page.locator(f'#mn-rows tr[data-ip="{OFFLINE}"] td.mn-c-status')).to_have_text("offline")
    expect(page.locator(f'#mn-rows tr[data-ip="{OFFLINE}"] td.mn-c-power')).to_have_text("—")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "miners-page.png"), full_page=True)

    # Sort by a header: power descending, the offline miner (no power) last either way.
    page.get_by_role("button", name="Power", exact=True).click()
    expect(page.locator("th.mn-c-power")).to_have_attribute("aria-sort", "ascending")
    page.get_by_role("button", name="Power", exact=True).click()
    expect(page.locator("th.mn-c-power")).to_have_attribute("aria-sort", "descending")
    assert query(page) == {"sort": ["power"], "dir": ["desc"]}
    cells = column_texts(page, "power")  # one evaluate: one consistent render of the live table
    known = [watts(t) for t in cells if t != "—"]
    assert known and known == sorted(known, reverse=True), cells
    assert cells[len(known):] == ["—"] * (len(cells) - len(known)), cells  # no reading: last
    assert shown_ips(page)[-1] == OFFLINE

    # Filters: family, then status, then tag and text; the count says "n of m".
    filters = page.get_by_role("search", name="Filter miners")
    filters.get_by_label("Family").select_option("antminer")
    expect(page.locator("#mn-rows tr")).to_have_count(2)
    expect(page.locator("#mn-count")).to_have_text(f"(2 of {len(ALL)})")
    assert set(shown_ips(page)) == set(ANTMINERS)
    filters.get_by_label("Family").select_option("")
    filters.get_by_label("Status").select_option("offline")
    expect(page.locator("#mn-rows tr")).to_have_count(1)
    assert shown_ips(page) == [OFFLINE]
    filters.get_by_label("Status").select_option("")
    filters.get_by_label("Tag").select_option("garage")
    expect(page.locator("#mn-rows tr")).to_have_count(2)
    assert set(shown_ips(page)) == {BITAXES[1], ANTMINERS[0]}
    filters.get_by_label("Search").fill("antminer")
    expect(page.locator("#mn-rows tr")).to_have_count(1)
    assert shown_ips(page) == [ANTMINERS[0]]
    filters.get_by_label("Search").fill("no such miner")
    expect(page.locator("#mn-empty")).to_have_text("No miner matches these filters.")
    expect(page.locator("#mn-wrap")).to_be_hidden()
