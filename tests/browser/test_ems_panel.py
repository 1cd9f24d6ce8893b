"""The "Grid dispatch (EMS)" part of the Battery & control panel in Debian's Chromium.

Against the fake controller (fake_api.py: GET /api/ems, POST /api/ems/release, the /ws
autocontrol push carrying ``ems``), and once against the real app with an EMS token,
driven by real EMS calls. Loopback range 127.83.50.0/24.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from harness import ARTIFACTS, expect, fake_site, real_app

from test_dashboard import log_in

pytestmark = pytest.mark.browser

HOST = "127.83.50.1"

fake, server, open_page = fake_site(HOST)


def test_active_dispatch_shows_target_since_power_estimates_and_calls(open_page, fake):
    page = open_page()
    expect(page.locator("#ems-state")).to_have_text("Active at 4 kW")
    expect(page.locator("#ems-state")).to_have_attribute("data-state", "active")
    expect(page.locator("#ems-since")).to_have_text(re.compile(r"^since .+ \(5 min ago\)$"))
    expect(page.locator("#ems-rated")).to_have_text("9.917 kW")
    expect(page.locator("#ems-active")).to_have_text("3.86 kW")
    expect(page.locator("#ems-held")).to_be_hidden()
    expect(page.locator("#ems-lease-row")).to_be_hidden()
    expect(page.locator("#ems-release-row")).to_be_hidden()  # only a stopped fleet can be released
    expect(page.locator("#ems-est-sum")).to_have_text("1 miner's power estimated (they report none)")
    page.locator("#ems-est-sum").click()
    expect(page.locator("#ems-est-list li")).to_have_text(
        "10.0.0.9: 2.438 kW (reports no power: nominal 3250 W x measured hashrate 75% of nominal)")
    calls = page.locator("#ems-calls li")
    expect(calls).to_have_count(3)
    expect(calls.nth(0)).to_contain_text('POST /api/activate {"activationPowerInKw": 4}')
    expect(calls.nth(0).locator(".ems-call-status")).to_have_text("200")
    expect(calls.nth(0)).to_have_attribute("data-ok", "true")
    expect(calls.nth(0).locator(".ems-call-msg")).to_contain_text("activated: 4 kW (was idle)")
    expect(calls.nth(1)).to_have_attribute("data-ok", "false")
    expect(calls.nth(1).locator(".ems-call-status")).to_have_text("400")
    expect(calls.nth(2)).to_contain_text("GET /api/status")
    expect(calls.nth(2).locator(".ems-call-msg")).to_have_text("wrong EMS token (from 192.168.1.20)")
    expect(page.locator("#ems-calls-empty")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#power-panel").screenshot(path=str(ARTIFACTS / "ems-active.png"))


def test_safety_holding_the_dispatch_back_is_an_alert(open_page, fake):
    fake.set_ems(safety="battery emergency (SOC 25%, floor 30%)", unavailable_reason="battery emergency (SOC 25%, floor 30%)",
                 decision={"source": "safety", "reason": "battery emergency: off", "at": time.time(), "target_w": 0})
    page = open_page()
    held = page.locator("#ems-held")
    expect(held).to_be_visible()
    expect(held).to_have_attribute("role", "alert")
    expect(held).to_have_text("Held back by safety: battery emergency (SOC 25%, floor 30%)")
    expect(page.locator("#ems-state")).to_have_text("Active at 4 kW")  # the dispatch stays stored


def test_a_manual_override_above_the_dispatch_is_named(open_page, fake):
    fake.set_ems(unavailable_reason="manual override 20% holds the fleet",
                 decision={"source": "override", "reason": "manual override 20%", "at": time.time(), "target_w": 600})
    page = open_page()
    expect(page.locator("#ems-held")).to_have_text("Held back by a manual override: manual override 20%")


def test_idle_and_unavailable_is_a_quiet_line_not_an_alert(open_page, fake):
    fake.set_ems(state="idle", active=False, runningStatus=1, target_kw=None, since=time.time() - 7200,
                 unavailable_reason="no controllable miner is online with fresh data", calls=[])
    page = open_page()
    expect(page.locator("#ems-state")).to_have_text("Idle: the EMS does not hold the fleet")
    expect(page.locator("#ems-since")).to_have_text("since 2 h ago")
    expect(page.locator("#ems-held")).to_be_hidden()
    expect(page.locator("#ems-unavailable")).to_have_text(
        "Not available for dispatch now: no controllable miner is online with fresh data")
    expect(page.locator("#ems-calls li")).to_have_count(0)
    expect(page.locator("#ems-calls-empty")).to_be_visible()


def test_lease_counts_down(open_page, fake):
    fake.set_ems(silence="lease", lease_expires_at=time.time() + 600)
    page = open_page()
    expect(page.locator("#ems-lease-row")).to_be_visible()
    expect(page.locator("#ems-lease")).to_have_text(re.compile(r"^in (10:00|9:5\d)$"))
    first = page.locator("#ems-lease").text_content()
    page.wait_for_timeout(2100)
    assert page.locator("#ems-lease").text_content() != first  # it counts, between polls


def test_not_configured_is_one_line(open_page, fake):
    fake.set_ems(configured=False)
    page = open_page()
    expect(page.locator("#ems-none")).to_have_text(
        "EMS dispatch is not configured (set ems.token in config.yaml or EMS_TOKEN).")
    expect(page.locator("#ems-body")).to_be_hidden()


def test_a_server_without_the_ems_routes_says_so(open_page, fake):
    open_page.expected_http_errors = 1
    with fake.lock:
        fake.ems = None
    page = open_page()
    expect(page.locator("#ems-none")).to_have_text("This controller has no EMS dispatch.")
    expect(page.locator("#bat-soc")).to_have_text("54 %")  # the rest of the panel is unaffected


def test_release_needs_login_then_hands_the_fleet_back(open_page, fake):
    fake.set_ems(state="stopped", active=False, runningStatus=1, target_kw=0.0, since=time.time() - 60)
    page = open_page()
    expect(page.locator("#ems-state")).to_have_text("Stopped by the EMS (deactivated)")
    button = page.get_by_role("button", name="Release to solar policy")
    expect(button).to_be_visible()
    expect(button).to_be_disabled()
    expect(page.locator("#ems-release-login")).to_be_visible()
    log_in(page)
    button = page.get_by_role("button", name="Release to solar policy")
    expect(button).to_be_enabled()
    expect(page.locator("#ems-release-login")).to_be_hidden()
    button.click()
    expect(page.locator("#ems-state")).to_have_text("Idle: the EMS does not hold the fleet")
    expect(page.locator("#ems-release-row")).to_be_hidden()
    expect(page.locator("#ems-error")).to_be_hidden()
    assert ("POST", "/api/ems/release", {}) in fake.requests


def test_release_error_is_shown_inline(open_page, fake):
    open_page.expected_http_errors = 1
    fake.set_ems(state="stopped", active=False, runningStatus=1, target_kw=0.0, since=time.time() - 60)
    page = open_page()
    log_in(page)
    message = "a dispatch is active (4 kW): the EMS ends it with /api/deactivate"
    with fake.lock:
        fake.ems_next = (409, {"accepted": False, "message": message})
    page.get_by_role("button", name="Release to solar policy").click()
    error = page.locator("#ems-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(f"Could not release the fleet: {message}")
    expect(page.get_by_role("button", name="Release to solar policy")).to_be_enabled()  # try again later


def test_a_ws_autocontrol_message_with_a_new_dispatch_reloads_at_once(open_page, fake):
    page = open_page()
    expect(page.locator("#ems-state")).to_have_text("Active at 4 kW")
    gets = fake.ems_gets
    fake.push_autocontrol()  # the same dispatch: no extra GET
    page.wait_for_timeout(500)
    assert fake.ems_gets == gets
    fake.set_ems(target_kw=6.5, since=time.time(), status={"isAvailableForDispatch": True, "runningStatus": 2,
                                                           "ratedPowerInKw": 9.917, "activePowerInKw": 4.1})
    fake.push_autocontrol()  # well before the 15 s poll
    expect(page.locator("#ems-state")).to_have_text("Active at 6.5 kW", timeout=3000)
    expect(page.locator("#ems-since")).to_have_text(re.compile(r"\(\d s ago\)$"))


def test_untrusted_text_stays_text(open_page, fake):
    evil = '<img src=x onerror="window.__pwned=1">'
    fake.set_ems(calls=[{"at": time.time(), "call": "POST /api/activate", "request": evil, "status": 400,
                         "accepted": False, "message": evil}],
                 estimated=[{"ip": "10.0.0.9", "watts": 10.0, "why": evil}])
    page = open_page()
    expect(page.locator("#ems-calls li .ems-call-msg")).to_have_text(evil)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#ems img").count() == 0


def test_phone_layout_keeps_the_dispatch_readable(open_page, fake):
    page = open_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    expect(page.locator("#ems-state")).to_have_text("Active at 4 kW")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
    page.locator("#ems").screenshot(path=str(ARTIFACTS / "ems-phone.png"))


# ---------- the real app ----------

EMS_TOKEN = "ems-browser-token-0123456789"


@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    """The real app with an EMS token, a grid site (battery.source none), no miners."""
    from tests.conftest import TEST_PASSWORD, TEST_TOKEN

    path = tmp_path_factory.mktemp("ems-real") / "config.yaml"
    path.write_text(
        "network:\n  subnet: 127.83.51.0/24\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
        "battery:\n  source: none\n"
        "autocontrol:\n  tick_sec: 5\n"
        f"ems:\n  token: {EMS_TOKEN}\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, "127.83.50.2") as (base, runtime):
        yield {"base": base, "runtime": runtime, "password": TEST_PASSWORD}


@pytest.mark.integration
def test_panel_against_the_real_app(browser, real_server):
    """Real EMS calls show up in the panel; the EMS's deactivate offers the release, which works."""
    base = real_server["base"]
    ems = {"Authorization": f"Bearer {EMS_TOKEN}"}
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(base + "/")
        expect(page.locator("#ems-state")).to_have_text("Idle: the EMS does not hold the fleet", timeout=10_000)
        expect(page.locator("#ems-unavailable")).to_contain_text("no controllable miner")
        # No miners: an activate is refused (rated 0 kW); a deactivate is accepted and stops the fleet.
        reply = requests.post(base + "/api/activate", json={"activationPowerInKw": 1}, headers=ems, timeout=5)
        assert reply.status_code == 400 and reply.json()["accepted"] is False
        assert requests.post(base + "/api/deactivate", headers=ems, timeout=5).json()["accepted"] is True
        # The deactivate kicks a controller tick; its /ws message carries the new state.
        expect(page.locator("#ems-state")).to_have_text("Stopped by the EMS (deactivated)", timeout=10_000)
        calls = page.locator("#ems-calls li")
        expect(calls).to_have_count(2)
        expect(calls.nth(0)).to_contain_text("POST /api/deactivate")
        expect(calls.nth(1).locator(".ems-call-status")).to_have_text("400")
        assert EMS_TOKEN not in page.content()

        page.goto(base + "/login")
        page.get_by_label("Password").fill(real_server["password"])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/$"))
        button = page.get_by_role("button", name="Release to solar policy")
        expect(button).to_be_enabled(timeout=10_000)
        button.click()
        expect(page.locator("#ems-state")).to_have_text("Idle: the EMS does not hold the fleet")
        assert real_server["runtime"].autocontrol.ems.state.mode == "idle"
        assert errors == [], errors
    finally:
        ctx.close()
