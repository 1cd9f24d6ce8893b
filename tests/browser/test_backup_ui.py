"""Settings -> Backup & restore in Debian's Chromium against the REAL app (its background runtime polling
simulated miners): download a backup, change the fleet, restore the file (checked first, then confirmed),
a damaged file refused with nothing changed, undo; desktop and phone sizes. Screenshots to test-artifacts/.
Loopback: the app on 127.83.98.x, the simulated miners on 127.86.4.x (docs/contracts.md)."""

from __future__ import annotations

import json
import re
import tarfile
import time

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener

from tests.conftest import TEST_PASSWORD, TEST_TOKEN
from tests.served_app import serving

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.98.2"
NET = "127.86.4"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


@pytest.fixture(scope="module")
def sim():
    from simulator import SimFleet, demo_specs

    with SimFleet(demo_specs(f"{NET}.40", 3, restart_seconds=1.0), allow_any_client=True, seed=5) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def server(tmp_path_factory, sim):
    from app import create_app
    from services.config import load_config

    path = tmp_path_factory.mktemp("backup-ui") / "config.yaml"
    path.write_text(f"network:\n  subnet: {NET}.0/24\n  port_offset: {sim.port_offset}\n"
                    "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
                    "storage:\n  flush_interval_sec: 2\n"
                    "battery:\n  source: none\n"
                    f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n")
    app = create_app(config=load_config(path, environ={}), start_background=True)
    app.extensions["config_environ"] = {}  # web/backup.py: restored configs are loaded as this one was
    runtime = app.extensions["runtime"]
    assert runtime.scheduler is not None and not runtime.read_only
    for miner in sim.miners:
        runtime.fleet.add(miner.spec.ip, miner.spec.kind)
    try:
        # The runtime is replaced by every restore: stop whichever one is current.
        with serving(app, HOST, before_stop=lambda: app.extensions["runtime"].shutdown()) as base:
            yield base
    finally:
        app.extensions["runtime"].shutdown()


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def _miners(base: str) -> set[str]:
    return {m["ip"] for m in requests.get(base + "/api/miners", timeout=5).json()}


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways ({width} px)"


def test_download_restore_refuse_and_undo_in_the_browser(open_page, server, sim, tmp_path):
    ips = {m.spec.ip for m in sim.miners}
    assert _miners(server) == ips
    page = open_page("/settings")
    panel = page.locator("#backup")
    expect(panel.get_by_role("heading", name="Backup & restore")).to_be_visible()
    expect(page.locator("#bk-login")).to_be_visible()
    expect(page.get_by_role("button", name="Download backup")).to_be_disabled()
    expect(page.locator("#bk-undo-state")).to_have_text("No restore to undo.")

    page.locator("#login-link").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/settings$"))
    download_button = page.get_by_role("button", name="Download backup")
    expect(download_button).to_be_enabled()
    expect(page.locator("#bk-login")).to_be_hidden()

    # The secrets box warns before anything is downloaded.
    page.get_by_label(re.compile("Include secrets")).check()
    expect(page.locator("#bk-secrets-warning")).to_be_visible()
    page.locator("#backup").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "settings-backup.png"), full_page=True)
    page.get_by_label(re.compile("Include secrets")).uncheck()
    expect(page.locator("#bk-secrets-warning")).to_be_hidden()

    with page.expect_download() as info:
        download_button.click()
    saved = tmp_path / "backup.tar.gz"
    info.value.save_as(saved)
    assert re.match(r"minerfleet-home-\d{8}-\d{6}\.tar\.gz$", info.value.suggested_filename)
    with tarfile.open(saved, "r:gz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        config = tar.extractfile("config.yaml").read().decode()
    assert manifest["secrets_included"] is False and manifest["miners"] == 3
    assert TEST_TOKEN not in config and TEST_PASSWORD not in config

    # After the backup a miner is removed.
    gone = sorted(ips)[0]
    assert requests.delete(f"{server}/api/miners/{gone}", headers=AUTH, timeout=5).status_code == 200
    assert _miners(server) == ips - {gone}

    # A damaged copy is refused at the check, and nothing changes.
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    open_page.expected_http_errors = 3  # the refused check (400), and a bell poll that may meet the restart (503)
    page.locator("#bk-file").set_input_files(str(damaged))
    expect(page.locator("#bk-error")).to_contain_text("cannot be restored (nothing changed)")
    expect(page.get_by_role("button", name="Restore…")).to_be_disabled()
    assert _miners(server) == ips - {gone}

    # The good file: checked (what it is shown), then restored after the confirmation.
    page.locator("#bk-file").set_input_files(str(saved))
    expect(page.locator("#bk-checking")).to_contain_text("is a good backup")
    expect(page.locator("#bk-error")).to_be_hidden()
    expect(page.locator("#bk-miners")).to_have_text("3")
    expect(page.locator("#bk-has-secrets")).to_contain_text("not included")
    page.get_by_role("button", name="Restore…").click()
    dialog = page.locator("#bk-confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("3 miners")
    dialog.get_by_role("button", name="Cancel").click()
    assert _miners(server) == ips - {gone}  # cancelled: nothing sent
    page.get_by_role("button", name="Restore…").click()
    dialog.get_by_role("button", name="Restore").click()
    expect(page.locator("#toasts")).to_contain_text("the controller restarted", timeout=20_000)
    assert _miners(server) == ips
    expect(page.locator("#bk-undo-state")).to_contain_text("is kept")
    undo = page.get_by_role("button", name="Undo last restore")
    expect(undo).to_be_enabled()
    page.screenshot(path=str(ARTIFACTS / "settings-backup-restored.png"), full_page=True)

    # The restarted controller polls again.
    deadline = time.monotonic() + 15
    while not all(m["online"] for m in requests.get(server + "/api/miners", timeout=5).json()):
        assert time.monotonic() < deadline, "the restored fleet is not polled"
        time.sleep(0.5)

    undo.click()
    page.locator("#bk-confirm").get_by_role("button", name="Undo restore").click()
    expect(page.locator("#toasts")).to_contain_text("Restore undone")
    expect(page.locator("#bk-undo-state")).to_have_text("No restore to undo.")
    expect(undo).to_be_hidden()
    expect(page.locator("#bk-checking")).to_have_text("")  # the restore's notes went with it
    assert _miners(server) == ips - {gone}

    page.set_viewport_size({"width": 390, "height": 844})
    _no_sideways_scroll(page)
    page.locator("#backup").screenshot(path=str(ARTIFACTS / "settings-backup-phone.png"))
