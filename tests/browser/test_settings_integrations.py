"""Settings -> Integrations in Debian's Chromium against the REAL app publishing to a REAL mosquitto:
the connection state, last publish, discovery prefix and /metrics URL; "Re-publish discovery" after a
login puts the discovery configs on the broker again. Screenshots land in test-artifacts/."""

from __future__ import annotations

import re

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app

from tests.conftest import TEST_PASSWORD, TEST_TOKEN
from tests.mqtt_broker import Broker, Listener, require_mosquitto

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.76.2"  # this file's own loopback range, 127.83.76.0/24
BROKER_HOST = "127.83.76.3"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    require_mosquitto()
    with Broker(tmp_path_factory.mktemp("settings-broker"), BROKER_HOST) as broker:
        yield broker


@pytest.fixture(scope="module")
def server(tmp_path_factory, broker):
    path = tmp_path_factory.mktemp("settings-real") / "config.yaml"
    path.write_text(
        "site: barn-2\n"
        "network:\n  subnet: 127.83.77.0/24\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
        "battery:\n  source: none\n"
        f"mqtt:\n  enabled: true\n  host: {BROKER_HOST}\n  port: {broker.port}\n  base_topic: fleet-barn\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        yield base


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def test_integrations_show_the_broker_and_metrics_and_republish(open_page, server, broker):
    status = requests.get(server + "/api/integrations", timeout=5).json()
    assert status["site"] == "barn-2" and status["mqtt"]["base_topic"] == "fleet-barn"
    assert status["metrics"]["url"].endswith("/metrics")
    page = open_page("/settings")
    expect(page.locator("#mqtt-state")).to_have_text("connected", timeout=15_000)
    expect(page.locator("#int-site")).to_have_text("barn-2")
    expect(page.locator("#mqtt-broker")).to_have_text(f"{BROKER_HOST}:{broker.port}")
    expect(page.locator("#mqtt-prefix")).to_have_text("homeassistant")
    expect(page.locator("#mqtt-base")).to_have_text("fleet-barn/…")
    expect(page.locator("#metrics-url")).to_have_text(re.compile(r"^http://127\.83\.76\.2:\d+/metrics$"))
    expect(page.locator("#mqtt-login")).to_be_visible()
    expect(page.get_by_role("button", name="Re-publish discovery")).to_be_disabled()
    page.screenshot(path=str(ARTIFACTS / "settings-integrations.png"), full_page=True)

    page.locator("#login-link").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/settings$"))
    button = page.get_by_role("button", name="Re-publish discovery")
    expect(button).to_be_enabled()
    listener = Listener(broker, "homeassistant/#")
    try:
        before = len(listener.messages)  # the retained configs arrive on subscribe
        button.click()
        expect(page.locator("#toasts")).to_contain_text("published again")
        page.wait_for_timeout(1500)
        assert len(listener.messages) > before, "re-publish sent nothing"
        assert any(t.endswith("/config") for t, _, _ in listener.messages[before:])
    finally:
        listener.close()
    expect(page.locator("#mqtt-last")).not_to_have_text("—")
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
    page.screenshot(path=str(ARTIFACTS / "settings-integrations-phone.png"), full_page=True)


def test_without_mqtt_the_view_says_why_and_republish_is_refused(tmp_path):
    """The API alone: mqtt off -> enabled false with the reason; POST republish -> 409 naming it."""
    from app import create_app
    from services.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text(f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n")
    config = load_config(path, environ={})
    app = create_app(config=config, start_background=False, test_config={"TESTING": True})
    client = app.test_client()
    try:
        body = client.get("/api/integrations").get_json()
        assert body["mqtt"]["enabled"] is False and "mqtt.enabled is false" in body["mqtt"]["inactive_reason"]
        assert client.post("/api/integrations/mqtt/republish").status_code == 401
        reply = client.post("/api/integrations/mqtt/republish", headers={"Authorization": f"Bearer {TEST_TOKEN}"})
        assert reply.status_code == 409 and "mqtt.enabled is false" in reply.get_json()["error"]
    finally:
        app.extensions["runtime"].shutdown()
