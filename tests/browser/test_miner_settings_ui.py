"""The Settings section of the miner detail dialog (static/js/miner_settings.js) in Debian's Chromium against
the REAL app and two simulated Bitaxes: rename, tags, location, notes and power limits saved with
PATCH /api/miners/<ip>; the API's refusal shown inline with nothing changed; disabling stops every
request to the miner (counted at the simulator) and enabling polls it again. Desktop and phone sizes;
screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app

from simulator import MinerSpec, SimFleet
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.96.2"  # the web server; this file owns 127.83.96.0/24 and 127.83.97.0/24
NET = "127.83.97"
RIG, OTHER = f"{NET}.10", f"{NET}.11"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def sim():
    with SimFleet([MinerSpec("bitaxe", RIG), MinerSpec("bitaxe", OTHER)], allow_any_client=True, seed=23) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def server(tmp_path_factory, sim):
    path = tmp_path_factory.mktemp("miner-settings") / "config.yaml"
    path.write_text(
        f"network:\n  subnet: {NET}.0/24\n  port_offset: {sim.port_offset}\n"
        "polling:\n  interval_sec: 1\n  timeout_sec: 0.8\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        for ip in (RIG, OTHER):
            reply = requests.post(base + "/api/miners", json={"ip": ip, "family": "bitaxe"}, headers=AUTH, timeout=10)
            assert reply.status_code in (200, 201), reply.text
        yield base


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def miner(base: str, ip: str) -> dict:
    return requests.get(f"{base}/api/miners/{ip}", timeout=10).json()


def logged_in_detail(open_page, ip: str, **options):
    """A logged-in dashboard with the miner's detail dialog open (the #miner= deep link)."""
    page = open_page("/login", wait_live=False, **options)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#logout-btn")).to_be_visible()
    page.goto(re.sub(r"/(#.*)?$", "/", page.url) + f"#miner={ip}")
    page.reload()
    dlg = page.locator("#detail")
    expect(dlg).to_be_visible()
    expect(dlg.locator("#d-ip")).to_have_text(ip)
    return page, dlg


def test_rename_tag_limits_and_an_inline_refusal(open_page, server):
    page, dlg = logged_in_detail(open_page, RIG)
    box = dlg.locator("#d-settings")
    box.scroll_into_view_if_needed()
    expect(box.get_by_label("Name", exact=True)).to_have_attribute("placeholder", re.compile(r"\S"))
    box.get_by_label("Name", exact=True).fill("Shed rig")
    box.get_by_label("Tags").fill("shed, solar")
    box.get_by_label("Location").fill("garden shed")
    box.get_by_label("Notes").fill("PSU replaced in May")
    box.get_by_label("Max W").fill("18")
    box.get_by_label("Autocontrol").select_option("off")
    box.get_by_role("button", name="Save settings").click()
    expect(page.locator("#toasts")).to_contain_text(f"Settings of {RIG} saved")
    expect(dlg.locator("#d-title")).to_have_text("Shed rig")
    m = miner(server, RIG)
    assert (m["name"], m["tags"], m["location"], m["notes"], m["max_w"], m["autocontrol"]) == \
        ("Shed rig", ["shed", "solar"], "garden shed", "PSU replaced in May", 18, False)
    assert sorted(m["set_here"]) == ["autocontrol", "location", "max_w", "name", "notes", "tags"]
    card = page.locator(f'article.card[data-ip="{RIG}"]')
    expect(card.locator(".card-title")).to_have_text("Shed rig")

    # The API's refusal appears under the form, word for word; nothing is changed.
    open_page.expected_http_errors = 1  # the 400 below: Chromium logs "Failed to load resource"
    box.get_by_label("Min W").fill("50")
    box.get_by_label("Name", exact=True).fill("Never saved")
    box.get_by_role("button", name="Save settings").click()
    error = box.locator(".ms-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Not saved: min_w: must be at most max_w (18")
    m = miner(server, RIG)
    assert (m["name"], m["min_w"]) == ("Shed rig", None)
    page.screenshot(path=str(ARTIFACTS / "miner-settings-desktop.png"), full_page=True)

    # Emptying a field clears it back to the config / model; the error goes away on success.
    box.get_by_label("Min W").fill("")
    box.get_by_label("Max W").fill("")
    box.get_by_label("Name", exact=True).fill("Shed rig")
    box.get_by_label("Location").fill("")  # back to config.yaml's (none for this miner)
    box.get_by_role("button", name="Save settings").click()
    expect(error).to_be_hidden()
    expect(box.get_by_label("Max W")).to_have_value("")
    m = miner(server, RIG)
    assert m["max_w"] is None and m["location"] is None
    assert sorted(m["set_here"]) == ["autocontrol", "name", "notes", "tags"]


def test_disable_stops_requests_and_enable_polls_again(open_page, server, sim):
    page, dlg = logged_in_detail(open_page, OTHER)
    box = dlg.locator("#d-settings")
    enabled = box.get_by_label("Enabled: poll and control this miner")
    expect(enabled).to_be_checked()
    enabled.uncheck()
    box.get_by_role("button", name="Save settings").click()
    expect(dlg.locator("#d-status")).to_have_text("disabled")
    expect(box.locator('[data-role="ms-enable-note"]')).to_contain_text("not polled or commanded")
    card = page.locator(f'article.card[data-ip="{OTHER}"]')
    expect(card.locator(".status")).to_have_text("disabled")
    before = sim.miner(OTHER).requests
    page.wait_for_timeout(3500)  # three poll rounds at 1 s
    assert sim.miner(OTHER).requests == before
    assert sim.miner(RIG).requests > 0
    # Its controls answer 409 at the API, and the miner hears nothing.
    reply = requests.post(f"{server}/api/miners/{OTHER}/restart", json={}, headers=AUTH, timeout=10)
    assert reply.status_code == 409 and "disabled" in reply.json()["error"]
    assert sim.miner(OTHER).requests == before
    enabled.check()
    box.get_by_role("button", name="Save settings").click()
    expect(dlg.locator("#d-status")).to_have_text("online", timeout=10_000)
    assert sim.miner(OTHER).requests > before


def test_phone_layout_has_no_sideways_scroll(open_page, server):
    page, dlg = logged_in_detail(open_page, RIG, **PHONE)
    box = dlg.locator("#d-settings")
    box.scroll_into_view_if_needed()
    expect(box.get_by_role("button", name="Save settings")).to_be_visible()
    widths = page.evaluate("""() => {
        const body = document.getElementById('d-body');
        const form = document.querySelector('#d-settings form');
        return [document.documentElement.scrollWidth, body.scrollWidth, body.clientWidth,
                form.getBoundingClientRect().right];
    }""")
    page_w, body_scroll, body_client, form_right = widths
    assert page_w <= 390 and body_scroll <= body_client and form_right <= 390, widths
    page.screenshot(path=str(ARTIFACTS / "miner-settings-phone.png"))
