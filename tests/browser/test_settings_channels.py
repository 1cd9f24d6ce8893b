"""Settings -> Alerts -> Alert channels in Debian's Chromium against the REAL app (desktop and phone): a json://
channel typed into a password field is added live and its Test reaches a webhook receiver on 127.86.12.x,
a bad URL shows Apprise's reason under the field with nothing written, Remove asks first, a failing
channel's Test shows its scrubbed error, and the URL is never on the page. Screenshots in test-artifacts/."""

from __future__ import annotations

import re

import pytest
import requests
import yaml
from harness import ARTIFACTS, expect, page_opener, real_app

from tests.conftest import TEST_PASSWORD, TEST_TOKEN
from tests.webhook import webhook_receiver

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.104.1"  # this file's loopback range: 127.83.104-105 (docs/contracts.md)
HOOK_HOST = "127.86.12.20"  # the webhook receiver, in the alert channels' range 127.86.12.x
DEAD_HOST = "127.86.12.21"  # nothing listens: a refused connection
PHONE = {"width": 390, "height": 844}
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
SECRET = "hook-secret-7mq3"


def _receiver():
    return webhook_receiver(HOOK_HOST)


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "# the barn's controller\n"
        "network:\n  subnet: 127.83.105.0/28   # nobody answers here\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
        "battery:\n  source: none\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        yield base, runtime, path


def _login(page) -> None:
    page.locator("#login-link").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/settings$"))
    expect(page.locator("#set-channels")).to_be_visible()


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways ({width} px)"


def test_desktop_add_test_bad_url_and_remove(browser, site):
    base, runtime, path = site
    with _receiver() as (port, received), page_opener(browser, base) as open_page:
        open_page.expected_http_errors = 1  # the refused URL (400), on purpose
        page = open_page("/settings")
        expect(page.locator("#set-channels")).to_be_hidden()  # nothing shown before a login
        _login(page)
        section = page.locator("#set-channels")
        expect(section.locator(".ch-none")).to_have_text(re.compile("^No channel"))
        url_input = page.get_by_label("Add a channel")
        expect(url_input).to_have_attribute("type", "password")  # not shown on screen while typed

        url = f"json://ctl-user:{SECRET}@{HOOK_HOST}:{port}/inbox"
        url_input.fill(url)
        section.get_by_role("button", name="Add channel").click()
        label = f"JSON webhook · {HOOK_HOST}:{port}"
        expect(page.locator("#ch-saved")).to_have_text(f"Added {label}: in use now")
        expect(section.locator(".ch-item")).to_have_count(1)
        expect(section.locator(".ch-item .ch-name")).to_have_text(f"1. {label}")
        expect(url_input).to_have_value("")  # sent once, not kept
        assert yaml.safe_load(path.read_text())["alerts"]["urls"] == [url]
        assert runtime.alerts.notifier is not None  # live

        # Test: through this channel, to the receiver.
        section.get_by_role("button", name=f"Test {label}").click()
        expect(section.locator(".ch-result")).to_have_text("Sent: check that it arrived", timeout=25000)
        assert len(received) == 1 and received[0]["body"]["title"] == "Test from the mining controller"

        # A URL Apprise refuses: its reason under the field, the URL not repeated, nothing written.
        before = path.read_bytes()
        url_input.fill("discord://998877665544")
        section.get_by_role("button", name="Add channel").click()
        error = page.locator("#ch-error")
        expect(error).to_have_text(re.compile(r"^url: Apprise cannot use this discord:// URL: An invalid Discord"))
        expect(url_input).to_have_attribute("aria-invalid", "true")
        assert "998877665544" not in error.inner_text() and path.read_bytes() == before
        url_input.fill("")

        html = page.content()
        assert SECRET not in html and "/inbox" not in html and "ctl-user:" not in html
        page.locator("#set-channels").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "settings-channels.png"), full_page=True)
        section.screenshot(path=str(ARTIFACTS / "settings-channels-section.png"))

        # Remove asks first; Cancel keeps it, Remove removes it (live).
        section.get_by_role("button", name=f"Remove {label}").click()
        page.locator("#confirm").get_by_role("button", name="Cancel").click()
        expect(section.locator(".ch-item")).to_have_count(1)
        section.get_by_role("button", name=f"Remove {label}").click()
        page.locator("#confirm-ok").click()
        expect(section.locator(".ch-none")).to_be_visible()
        expect(page.locator("#ch-saved")).to_have_text(f"Removed {label}")
        assert yaml.safe_load(path.read_text())["alerts"]["urls"] == [] and runtime.alerts.notifier is None
        _no_sideways_scroll(page)


def test_phone_list_and_a_failing_channels_test(browser, site):
    base, _runtime, _path = site
    api = f"{base}/api/settings/alert-channels"
    dead = f"json://dead:{SECRET}@{DEAD_HOST}:1/x"
    tg = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654321"
    for url in (dead, tg):
        assert requests.post(api, headers=AUTH, json={"url": url}, timeout=10).status_code == 201
    with page_opener(browser, base) as open_page:
        page = open_page("/settings", viewport=PHONE)
        _login(page)
        section = page.locator("#set-channels")
        expect(section.locator(".ch-item")).to_have_count(2)
        expect(section.locator(".ch-name")).to_have_text([f"1. JSON webhook · {DEAD_HOST}:1", "2. Telegram"])
        section.get_by_role("button", name=f"Test JSON webhook · {DEAD_HOST}:1").click()
        result = section.locator(".ch-item").first.locator(".ch-result")
        expect(result).to_have_text(re.compile(r"^Failed: "), timeout=25000)
        assert SECRET not in result.inner_text()
        html = page.content()
        for secret in (SECRET, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "987654321", "123456789"):
            assert secret not in html
        _no_sideways_scroll(page)
        section.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "settings-channels-phone.png"), full_page=True)
        section.screenshot(path=str(ARTIFACTS / "settings-channels-section-phone.png"))
