"""The Events page (/events: templates/events.html, static/js/events.js) in Debian's Chromium against
the REAL app: 300 events seeded into the runtime's database, filters by severity, kind, actor,
miner and text kept in the URL (deep links, the back button), "Older" / "Newer" paging over all of
them, and a miner's link into the fleet page's detail view. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app

from simulator import MinerSpec, SimFleet
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.72.2"  # the web server; this file owns 127.83.72.0/24 and 127.83.73.0/24
NET = "127.83.73"
IPS = [f"{NET}.10", f"{NET}.11"]
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
SEEDED = 300
PAGE = 50  # static/js/events.js
KINDS = ("command", "miner_offline", "rule", "ems", "overheat")
ACTORS = ("session", "controller", "ems", "rules", "system")


def seeded(i: int) -> dict:
    """The i-th seeded event (i = 0 is the oldest): what it was written with."""
    severity = "critical" if i % 10 == 0 else "warning" if i % 3 == 0 else "info"
    return {"kind": KINDS[i % len(KINDS)], "actor": ACTORS[(i // 5) % len(ACTORS)],
            "miner": IPS[i % 2] if i % 4 else None, "severity": severity,
            "message": f"seed-{i:03d} {'beta' if i % 7 == 0 else 'alpha'} event"}


@pytest.fixture(scope="module")
def sim():
    fleet = SimFleet([MinerSpec("bitaxe", ip, restart_seconds=1.0) for ip in IPS], allow_any_client=True, seed=17)
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, sim):
    """The real app with two simulated Bitaxes and SEEDED events written through runtime.fleet.event."""
    path = tmp_path_factory.mktemp("events-page") / "config.yaml"
    path.write_text(
        f"network:\n  subnet: {NET}.0/24\n  port_offset: {sim.port_offset}\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1.5\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        for ip in IPS:
            reply = requests.post(base + "/api/miners", json={"ip": ip, "family": "bitaxe"}, headers=AUTH, timeout=10)
            assert reply.status_code in (200, 201), reply.text
        for i in range(SEEDED):
            e = seeded(i)
            runtime.fleet.event(e["kind"], e["message"], miner_ip=e["miner"], actor=e["actor"], severity=e["severity"])
        yield base


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def messages(page) -> list[str]:
    return page.locator("#ev-rows td.ev-msg").evaluate_all("tds => tds.map(td => td.textContent.trim())")


def seed_numbers(page) -> list[int]:
    return [int(re.match(r"seed-(\d+)", m).group(1)) for m in messages(page)]


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_paging_over_every_seeded_event_and_back(open_page, server):
    page = open_page("/events?q=seed-")
    expect(page.get_by_role("link", name="Events")).to_have_attribute("aria-current", "page")
    expect(page.locator("#ev-count")).to_have_text(f"({SEEDED} matching)")
    expect(page.locator("#ev-rows tr")).to_have_count(PAGE)
    expect(page.get_by_label("Search")).to_have_value("seed-")
    assert seed_numbers(page) == list(range(SEEDED - 1, SEEDED - 1 - PAGE, -1))  # newest first
    expect(page.locator("#ev-range")).to_have_text(f"1–{PAGE}")
    expect(page.get_by_role("button", name="Newer")).to_be_disabled()
    page.screenshot(path=str(ARTIFACTS / "events-page.png"))

    # Older to the end: every seeded event once, in order.
    seen = seed_numbers(page)
    for n in range(1, SEEDED // PAGE):
        page.get_by_role("button", name="Older").click()
        expect(page.locator("#ev-range")).to_have_text(f"{n * PAGE + 1}–{(n + 1) * PAGE}")
        seen += seed_numbers(page)
    assert seen == list(range(SEEDED - 1, -1, -1))
    expect(page.get_by_role("button", name="Older")).to_be_disabled()  # 300 of 300 shown
    assert "before" in query(page)

    # Newer goes one page up; the back button returns to the page seen before.
    page.get_by_role("button", name="Newer").click()
    expect(page.locator("#ev-range")).to_have_text(f"{SEEDED - 2 * PAGE + 1}–{SEEDED - PAGE}")
    assert seed_numbers(page)[0] == 2 * PAGE - 1
    page.go_back()
    expect(page.locator("#ev-range")).to_have_text(f"{SEEDED - PAGE + 1}–{SEEDED}")
    assert seed_numbers(page)[-1] == 0
    page.get_by_role("button", name="Newest").click()
    expect(page.locator("#ev-range")).to_have_text(f"1–{PAGE}")
    assert "before" not in query(page)


def test_filters_live_in_the_url(open_page, server):
    page = open_page("/events?q=seed-")
    expect(page.locator("#ev-rows tr")).to_have_count(PAGE)

    # Severity: a choice applies at once and lands in the URL.
    page.get_by_label("Severity").select_option("critical")
    critical = [i for i in range(SEEDED) if seeded(i)["severity"] == "critical"]
    expect(page.locator("#ev-count")).to_have_text(f"({len(critical)} matching)")
    assert query(page) == {"q": ["seed-"], "severity": ["critical"]}
    assert seed_numbers(page) == critical[::-1]
    expect(page.locator("#ev-rows .sev")).to_have_text(["critical"] * len(critical))
    expect(page.locator("#ev-rows tr").first).to_have_attribute("data-severity", "critical")

    # Kind, from the kinds the log holds.
    kinds = page.locator("#ev-kind option").evaluate_all("os => os.map(o => o.value)")
    assert set(KINDS) <= set(kinds) and kinds[0] == ""
    page.get_by_label("Kind").select_option("overheat")
    want = [i for i in critical if seeded(i)["kind"] == "overheat"]
    expect(page.locator("#ev-count")).to_have_text(f"({len(want)} matching)")
    assert seed_numbers(page) == want[::-1]

    # The back button undoes the kind; then actor and miner instead.
    page.go_back()
    expect(page.get_by_label("Kind")).to_have_value("")
    expect(page.locator("#ev-count")).to_have_text(f"({len(critical)} matching)")
    page.get_by_label("Severity").select_option("")
    page.get_by_label("Actor").select_option("ems")
    page.get_by_label("Miner (IP)").fill(IPS[1])
    page.get_by_label("Miner (IP)").press("Enter")
    want = [i for i in range(SEEDED) if seeded(i)["actor"] == "ems" and seeded(i)["miner"] == IPS[1]]
    expect(page.locator("#ev-count")).to_have_text(f"({len(want)} matching)")
    assert query(page) == {"q": ["seed-"], "actor": ["ems"], "miner": [IPS[1]]}
    assert seed_numbers(page) == want[::-1][:PAGE]
    expect(page.locator("#ev-rows td[data-label=Actor]").first).to_have_text("ems")
    link = page.locator("#ev-rows a.ev-miner").first
    expect(link).to_have_attribute("href", f"/#miner={IPS[1]}")
    expect(link).to_contain_text(IPS[1])

    # Text search, with the miner filter still on.
    page.get_by_label("Search").fill("beta")
    page.get_by_label("Search").press("Enter")
    want = [i for i in want if "beta" in seeded(i)["message"]]
    expect(page.locator("#ev-count")).to_have_text(f"({len(want)} matching)")
    assert seed_numbers(page) == want[::-1]

    # A refused filter says why, where the table was.
    page.get_by_label("Miner (IP)").fill("300.1.2.3")
    open_page.expected_http_errors = 1  # the 400 of that request
    page.get_by_label("Miner (IP)").press("Enter")
    expect(page.locator("#ev-error")).to_contain_text("Filter refused: ")
    expect(page.locator("#ev-error")).to_contain_text("miner")
    expect(page.locator("#ev-wrap")).to_be_hidden()

    # Reset: everything, no query.
    page.get_by_role("link", name="Reset").click()
    expect(page.get_by_label("Search")).to_have_value("")
    expect(page.get_by_label("Miner (IP)")).to_have_value("")
    assert urlsplit(page.url).query == ""
    expect(page.locator("#ev-count")).to_have_text(re.compile(r"^\(\d+ events\)$"))
    total = int(requests.get(server + "/api/events?limit=1", timeout=5).headers["X-Total-Count"])
    assert total >= SEEDED + len(IPS)  # the seeded ones, "miner added" and whatever the app logged since


def test_a_deep_link_restores_filters_and_page(open_page, server):
    rows = requests.get(server + "/api/events", params={"q": "seed-", "severity": "warning", "limit": 10}, timeout=5).json()
    before = rows[4]["id"]  # the 5th newest warning: a link to the page after it
    want = [i for i in range(SEEDED) if seeded(i)["severity"] == "warning" and seeded(i)["actor"] == "controller"]
    ids = {r["message"]: r["id"] for r in requests.get(server + "/api/events", params={"q": "seed-", "limit": 1000},
                                                        timeout=5).json()}
    want = [i for i in want if ids[seeded(i)["message"]] < before]

    page = open_page(f"/events?q=seed-&severity=warning&actor=controller&before={before}",
                     viewport={"width": 390, "height": 844})
    expect(page.get_by_label("Search")).to_have_value("seed-")
    expect(page.get_by_label("Severity")).to_have_value("warning")
    expect(page.get_by_label("Actor")).to_have_value("controller")
    expect(page.locator("#ev-range")).to_have_text(f"older than event #{before}")
    expect(page.locator("#ev-rows tr")).to_have_count(min(len(want), PAGE))
    assert seed_numbers(page) == want[::-1][:PAGE]
    expect(page.get_by_role("button", name="Newer")).to_be_enabled()
    page.screenshot(path=str(ARTIFACTS / "events-page-phone.png"))
    # The link cannot know the pages above it: Newer goes to the newest of this filter.
    page.get_by_role("button", name="Newer").click()
    expect(page.locator("#ev-range")).to_have_text(re.compile(r"^1–"))
    assert query(page) == {"q": ["seed-"], "severity": ["warning"], "actor": ["controller"]}
    page.go_back()
    expect(page.locator("#ev-range")).to_have_text(f"older than event #{before}")


def test_a_miner_link_opens_its_detail(open_page, server):
    page = open_page(f"/events?miner={IPS[0]}&q=seed-")
    page.locator("#ev-rows a.ev-miner").first.click()
    page.wait_for_url(re.compile(re.escape(f"/#miner={IPS[0]}") + "$"))
    dlg = page.locator("#detail")
    expect(dlg).to_be_visible()
    expect(dlg.locator("#d-ip")).to_have_text(IPS[0])
