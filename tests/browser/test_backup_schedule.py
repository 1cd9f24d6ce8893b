"""Settings -> Backup & restore -> Scheduled backups to a folder, in Debian's Chromium against the REAL app
(create_app with its background runtime, a tmp folder as backup.dir): the status (on, folder, last
success and failure, next run, the archives), "Back up now" writing an archive, the schedule saved live
from the form (keep 1 prunes at the next run), a relative folder refused under its field with start-up's
own line, a missing folder shown as the last failure; desktop 1280x900 and phone 390x844, failing on
console errors. Screenshots to test-artifacts/. Loopback: 127.83.106-107 (docs/contracts.md)."""

from __future__ import annotations

import re
import time

import pytest
from harness import ARTIFACTS, expect, page_opener, real_app

from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DESKTOP_HOST = "127.83.106.1"
PHONE_HOST = "127.83.107.1"
PHONE = {"width": 390, "height": 844}
NAME = re.compile(r"^minerfleet-barn-\d{8}-\d{6}\.tar\.gz$")


def _site(tmp_path, host: str):
    folder = tmp_path / "usb-stick"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"not ours")  # a foreign file: never listed, never deleted
    path = tmp_path / "config.yaml"
    path.write_text("network:\n  subnet: 127.86.13.0/28   # nobody answers here\n"
                    "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
                    "battery:\n  source: none\n"
                    f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
                    "site: barn\n"
                    f"backup:\n  dir: {folder}\n  allow_same_disk: true   # the test's folder is on the data's disk\n")
    return folder, path, real_app(path, host)


def _login(page) -> None:
    page.locator("#login-link").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/settings$"))


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways ({width} px)"


def _ours(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if NAME.match(p.name))


def test_desktop_status_back_up_now_live_settings_and_a_failure(browser, tmp_path):
    folder, path, app = _site(tmp_path, DESKTOP_HOST)
    with app as (base, runtime), page_opener(browser, base) as open_page:
        open_page.expected_http_errors = 1  # the refused relative folder (400), on purpose
        page = open_page("/settings")
        expect(page.locator("#bks-state")).to_have_text("Log in to see the schedule.")
        expect(page.locator("#bks-body")).to_be_hidden()
        _login(page)

        expect(page.locator("#bks-enabled")).to_have_text("on, every 24 h")
        expect(page.locator("#bks-dir")).to_have_text(str(folder))
        expect(page.locator("#bks-last-ok")).to_have_text("never")
        expect(page.locator("#bks-last-error")).to_have_text("none")
        expect(page.locator("#bks-next")).to_contain_text("(in ")  # a few minutes after start, not at it
        expect(page.locator("#bks-archives-note")).to_have_text("None yet.")
        expect(page.get_by_label(re.compile("^Folder"))).to_have_value(str(folder))

        page.get_by_role("button", name="Back up now").click()
        expect(page.locator("#bks-archives li")).to_have_count(1)
        [first] = _ours(folder)
        expect(page.locator("#bks-archives li .bks-name")).to_have_text(first)
        expect(page.locator("#bks-last-ok")).to_contain_text(first)
        expect(page.locator("#bks-count")).to_have_text("(1 of at most 7)")
        expect(page.locator("#toasts")).to_contain_text(f"Backup saved: {first}")
        expect(page.get_by_role("button", name="Back up now")).to_be_enabled()

        # The schedule, saved from the form: it applies at once (keep 1 prunes at the next run).
        page.get_by_label(re.compile("^Back up every")).fill("6")
        page.get_by_label(re.compile("^Keep the newest")).fill("1")
        page.get_by_role("button", name="Save schedule").click()
        expect(page.locator("#bks-saved")).to_have_text("Saved — applies now")
        expect(page.locator("#bks-enabled")).to_have_text("on, every 6 h")
        assert runtime.config.backup.keep == 1 and runtime.config.backup.every_hours == 6
        assert "keep: 1" in path.read_text() and "# nobody answers here" in path.read_text()
        time.sleep(1.1)  # the next archive's stamp is a new second
        page.get_by_role("button", name="Back up now").click()
        expect(page.locator("#bks-last-ok")).not_to_contain_text(first)
        expect(page.locator("#bks-archives li")).to_have_count(1)
        [second] = _ours(folder)
        assert second != first and (folder / "holiday.jpg").read_bytes() == b"not ours"
        expect(page.locator("#bks-archives li .bks-name")).to_have_text(second)
        page.locator("#bks-title").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "backup-schedule-desktop.png"), full_page=True)

        # A relative folder: start-up's own line under the field, nothing written.
        before = path.read_bytes()
        page.get_by_label(re.compile("^Folder")).fill("usb/backups")
        page.get_by_role("button", name="Save schedule").click()
        error = page.locator('.bks-field[data-key="backup.dir"] .bks-error')
        expect(error).to_have_text("backup.dir: must be an absolute path like /mnt/usb/minerfleet (or empty = off), "
                                   "got 'usb/backups'")
        expect(page.get_by_label(re.compile("^Folder"))).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#bks-saved")).to_have_text("Not saved")
        assert path.read_bytes() == before

        # A stick that is not mounted: the run fails, and the page says why.
        missing = tmp_path / "not-mounted"
        page.get_by_label(re.compile("^Folder")).fill(str(missing))
        page.get_by_role("button", name="Save schedule").click()
        expect(page.locator("#bks-saved")).to_have_text("Saved — applies now")
        expect(error).to_be_hidden()
        page.get_by_role("button", name="Back up now").click()
        expect(page.locator("#bks-last-error")).to_contain_text(
            f"folder {missing} not found: is the USB stick or NAS share mounted?")
        expect(page.locator("#toasts")).to_contain_text("Backup failed: folder")
        expect(page.locator("#bks-last-ok")).to_contain_text(second)  # the last good one stays shown
        page.locator("#bks-title").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "backup-schedule-failed.png"), full_page=True)
        _no_sideways_scroll(page)


def test_phone_status_and_back_up_now(browser, tmp_path):
    folder, _, app = _site(tmp_path, PHONE_HOST)
    with app as (base, runtime), page_opener(browser, base) as open_page:
        page = open_page("/settings", viewport=PHONE, is_mobile=True, has_touch=True)
        _login(page)
        expect(page.locator("#bks-enabled")).to_have_text("on, every 24 h")
        page.get_by_role("button", name="Back up now").tap()
        expect(page.locator("#bks-archives li")).to_have_count(1)
        [name] = _ours(folder)
        expect(page.locator("#bks-archives li .bks-name")).to_have_text(name)
        expect(page.locator("#bks-last-ok")).to_contain_text(name)
        page.get_by_label(re.compile("Scheduled archives hold the secrets")).check()
        expect(page.locator("#bks-secrets-warning")).to_be_visible()
        page.locator("#bks-title").scroll_into_view_if_needed()
        _no_sideways_scroll(page)
        page.screenshot(path=str(ARTIFACTS / "backup-schedule-phone.png"), full_page=True)
        page.get_by_label(re.compile("Scheduled archives hold the secrets")).uncheck()
        expect(page.locator("#bks-secrets-warning")).to_be_hidden()
