"""Settings -> Configuration and Security in Debian's Chromium against the REAL app (desktop and phone):
a new poll interval applies at once (the poll job is rescheduled), a bad subnet shows start-up's own
line under the field with nothing written, a restart key says so, a regenerated API token is shown
once and the old one is refused, and a password change keeps this browser logged in. Screenshots
land in test-artifacts/."""

from __future__ import annotations

import re

import pytest
import requests
import yaml
from harness import ARTIFACTS, expect, page_opener, real_app

from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.94.1"  # this file's loopback range: 127.83.94-95 (docs/contracts.md)
PHONE = {"width": 390, "height": 844}
BAD_SUBNET_LINE = "network.subnet: not a CIDR network like 192.168.1.0/24: '192.168.1.0/33'"


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "# the barn's controller\n"
        "network:\n  subnet: 127.83.95.0/28   # nobody answers here\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
        "battery:\n  source: none\n"
        "ems:\n  token: ems-token-0123456789abcdef\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        yield base, runtime, path


def _login(page, password: str = TEST_PASSWORD) -> None:
    page.locator("#login-link").click()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/settings$"))
    expect(page.locator("#set-forms")).to_be_visible()


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways ({width} px)"


def test_desktop_edit_polling_live_bad_subnet_restart_key_and_token(browser, site):
    base, runtime, path = site
    with page_opener(browser, base) as open_page:
        open_page.expected_http_errors = 1  # the refused subnet (400), on purpose
        page = open_page("/settings")
        expect(page.locator("#set-login")).to_be_visible()
        expect(page.locator("#set-forms")).to_be_hidden()  # nothing shown (or asked for) before a login
        _login(page)
        expect(page.locator("#set-path")).to_have_text(str(path.resolve()))
        expect(page.get_by_label("Poll every")).to_have_value("2")
        assert page.get_by_label("Current password").input_value() == ""  # secrets never filled in

        # A live key: saved, and the running poll job takes it at once.
        form = page.locator("#set-discovery")
        page.get_by_label("Poll every").fill("5")
        form.get_by_role("button", name=re.compile("^Save")).click()
        expect(form.locator(".set-saved")).to_have_text("Saved — applies now")
        assert runtime.scheduler.get_job("poll").trigger.interval.total_seconds() == 5
        assert yaml.safe_load(path.read_text())["polling"]["interval_sec"] == 5
        assert "# nobody answers here" in path.read_text()  # the user's comments stay

        # A bad subnet: start-up's own line under the field, nothing written.
        before = path.read_bytes()
        page.get_by_label("Subnet to scan").fill("192.168.1.0/33")
        form.get_by_role("button", name=re.compile("^Save")).click()
        error = page.locator('.set-field[data-key="network.subnet"] .set-error')
        expect(error).to_have_text(BAD_SUBNET_LINE)
        expect(page.get_by_label("Subnet to scan")).to_have_attribute("aria-invalid", "true")
        expect(form.locator(".set-saved")).to_have_text("Not saved")
        assert path.read_bytes() == before
        page.screenshot(path=str(ARTIFACTS / "settings-config-error.png"), full_page=True)
        page.get_by_label("Subnet to scan").fill("127.83.95.0/28")

        # A restart key says so, and is marked pending.
        site_form = page.locator("#set-site")
        page.get_by_label("Site name").fill("barn-2")
        site_form.get_by_role("button", name=re.compile("^Save")).click()
        expect(site_form.locator(".set-saved")).to_have_text("Saved — restart needed for site")
        expect(site_form.locator('.set-field[data-key="site"] .set-apply')).to_have_text("restart pending")
        assert runtime.config.site == "home"
        alerts_form = page.locator("#set-alerts")
        page.get_by_label("Quiet hours").fill("22:00-07:00")
        alerts_form.get_by_role("button", name=re.compile("^Save")).click()
        expect(alerts_form.locator(".set-saved")).to_have_text("Saved — applies now")
        assert runtime.alerts.status()["quiet_hours"] == "22:00-07:00"  # the alert service took it at once
        page.get_by_label("Quiet hours").fill("")  # empty = none (null), not "": start-up would refuse ""
        alerts_form.get_by_role("button", name=re.compile("^Save")).click()
        expect(alerts_form.locator(".set-saved")).to_have_text("Saved — applies now")
        assert yaml.safe_load(path.read_text())["alerts"]["quiet_hours"] is None
        assert runtime.alerts.status()["quiet_hours"] is None
        expect(page.locator("#bak-list li")).to_have_count(4)

        # The API token: regenerated after a confirmation, shown once, the old one refused.
        page.get_by_role("button", name="Regenerate API token").click()
        page.locator("#confirm-ok").click()
        expect(page.locator("#sec-shown")).to_be_visible()
        token = page.locator("#sec-shown-value").input_value()
        assert len(token) >= 32 and token != TEST_TOKEN
        write = {"polling.offline_after": 4}
        old = requests.patch(base + "/api/settings", json=write, timeout=5,
                             headers={"Authorization": f"Bearer {TEST_TOKEN}"})
        assert old.status_code == 401
        new = requests.patch(base + "/api/settings", json=write, timeout=5, headers={"Authorization": f"Bearer {token}"})
        assert new.status_code == 200
        page.screenshot(path=str(ARTIFACTS / "settings-config.png"), full_page=True)
        page.get_by_role("button", name="Done").click()
        expect(page.locator("#sec-shown")).to_be_hidden()
        _no_sideways_scroll(page)


def test_phone_password_change_keeps_this_browser_logged_in(browser, site):
    base, _runtime, path = site
    with page_opener(browser, base) as open_page:
        page = open_page("/settings", viewport=PHONE)
        _login(page)
        _no_sideways_scroll(page)
        page.get_by_label("Current password").fill(TEST_PASSWORD)
        page.get_by_label("New password", exact=False).first.fill("barn-password-2")
        page.get_by_label("New password again").fill("barn-password-2")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator("#sec-password .set-saved")).to_have_text("Password changed — other browsers are logged out")
        page.reload()
        expect(page.locator("#set-forms")).to_be_visible()  # this browser's session was renewed
        expect(page.get_by_label("Poll every")).to_have_value("2")
        page.screenshot(path=str(ARTIFACTS / "settings-config-phone.png"), full_page=True)
        _no_sideways_scroll(page)
    assert requests.post(base + "/login", json={"password": TEST_PASSWORD}, timeout=5).status_code == 401
    assert requests.post(base + "/login", json={"password": "barn-password-2"}, timeout=5).status_code == 200
    assert "barn-password-2" not in path.read_text()


def test_the_section_index_lists_what_is_shown_and_jumps_there(browser, site):
    base, _runtime, _path = site
    with page_opener(browser, base) as open_page:
        page = open_page("/settings", viewport=PHONE)
        index = page.get_by_role("navigation", name="Settings sections")
        expect(index).to_be_visible()
        # Logged out the configuration and security are hidden, and so are their links.
        for name in ("Alerts", "Security", "Discovery & polling"):
            expect(index.get_by_role("link", name=name)).to_be_hidden()
        expect(index.get_by_role("link", name="Integrations")).to_be_visible()
        _login(page)
        for name in ("Discovery & polling", "History", "Battery", "Autocontrol", "Alerts", "Site & access",
                     "Security", "Backup & restore", "Integrations"):
            expect(index.get_by_role("link", name=name, exact=True)).to_be_visible()
        _no_sideways_scroll(page)
        page.screenshot(path=str(ARTIFACTS / "settings-index-top-phone.png"))
        index.get_by_role("link", name="Alerts").click()
        page.wait_for_url(re.compile(r"/settings#set-alerts$"))
        expect(page.locator("#set-alerts")).to_be_in_viewport()
        expect(page.locator("#set-discovery")).not_to_be_in_viewport()
        page.screenshot(path=str(ARTIFACTS / "settings-index-jumped-phone.png"))
