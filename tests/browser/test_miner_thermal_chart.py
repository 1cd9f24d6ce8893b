"""The miner detail's Temperature & fan chart (static/js/miner_detail.js) in Debian's Chromium against
the REAL app: a simulated Bitaxe's stored temp_c and fan_rpm drawn from /api/miners/<ip>/history,
its range buttons, the series toggles (remembered), one request shared with the History chart.
Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import time

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app

from simulator import MinerSpec, SimFleet
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.74.2"  # the web server; this file owns 127.83.74.0/24 and 127.83.75.0/24
IP = "127.83.75.10"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
POINTS = "([id, key]) => Chart.getChart(document.getElementById(id))?.data.datasets.find((d) => d.key === key)" \
         "?.data.filter((p) => p.y !== null).map((p) => p.y) ?? null"
HIDDEN = "([id, key]) => Chart.getChart(document.getElementById(id)).data.datasets.find((d) => d.key === key).hidden"


@pytest.fixture(scope="module")
def sim():
    fleet = SimFleet([MinerSpec("bitaxe", IP, restart_seconds=1.0)], allow_any_client=True, seed=23)
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, sim):
    """The real app polling one simulated Bitaxe every second, until its 1-hour history has a few buckets."""
    path = tmp_path_factory.mktemp("thermal-chart") / "config.yaml"
    path.write_text(
        f"network:\n  subnet: 127.83.75.0/24\n  port_offset: {sim.port_offset}\n"
        "polling:\n  interval_sec: 1\n  timeout_sec: 0.8\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        reply = requests.post(base + "/api/miners", json={"ip": IP, "family": "bitaxe"}, headers=AUTH, timeout=10)
        assert reply.status_code in (200, 201), reply.text
        deadline = time.monotonic() + 60
        while True:  # 1 h range = 12 s buckets: three of them with a reading
            h = requests.get(f"{base}/api/miners/{IP}/history?range=1h", timeout=5).json()
            if sum(v is not None for v in h["series"]["temp_c"]) >= 3:
                break
            assert time.monotonic() < deadline, h
            time.sleep(1)
        yield base


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def test_temperature_and_fan_over_time(open_page, server):
    page = open_page(f"/#miner={IP}", viewport={"width": 1280, "height": 1000})
    dlg = page.locator("#detail")
    expect(dlg).to_be_visible()
    section = dlg.locator("section.d-thermal")
    expect(section.get_by_role("heading", name="Temperature & fan")).to_be_visible()
    expect(section).to_contain_text("Board and inlet temperatures are not stored separately")

    # 24 h first (both charts' default): one request serves both.
    page.wait_for_function(f"({POINTS})(['d-t-chart', 'temp_c'])?.length > 0")
    history_requests = page.evaluate("() => performance.getEntriesByType('resource').map((e) => e.name)"
                                     ".filter((u) => u.includes('/api/miners/') && u.includes('/history'))")
    assert len(history_requests) == 1 and history_requests[0].endswith(f"/api/miners/{IP}/history?range=24h")

    section.get_by_role("button", name="Temperature chart: 1h").click()
    expect(section.get_by_role("button", name="Temperature chart: 1h")).to_have_attribute("aria-pressed", "true")
    expect(dlg.get_by_role("button", name="1h", exact=True)).to_have_attribute("aria-pressed", "false")  # History's own
    page.wait_for_function(f"({POINTS})(['d-t-chart', 'temp_c'])?.length >= 3")
    temps = page.evaluate(POINTS, ["d-t-chart", "temp_c"])
    assert all(20 <= t <= 110 for t in temps), temps  # a Bitaxe's chip, in °C
    # Temperature on the left axis, the fan on the second (right) one.
    axes = page.evaluate("() => Object.fromEntries(Chart.getChart(document.getElementById('d-t-chart'))"
                         ".data.datasets.map((d) => [d.key, d.yAxisID]))")
    assert axes == {"temp_c": "yLeft", "fan_rpm": "yRight"}

    # The toggles hide a line and are remembered across a reload.
    section.get_by_label("Temperature (hottest)").uncheck()
    assert page.evaluate(HIDDEN, ["d-t-chart", "temp_c"]) is True
    page.reload()
    expect(dlg).to_be_visible()
    expect(section.get_by_label("Temperature (hottest)")).not_to_be_checked()
    page.wait_for_function(f"({POINTS})(['d-t-chart', 'temp_c'])?.length > 0")  # loaded, not drawn
    assert page.evaluate(HIDDEN, ["d-t-chart", "temp_c"]) is True
    section.get_by_label("Temperature (hottest)").check()
    assert page.evaluate(HIDDEN, ["d-t-chart", "temp_c"]) is False

    # The fan: the fastest one, in rpm.
    section.get_by_role("button", name="Temperature chart: 1h").click()
    page.wait_for_function(f"({POINTS})(['d-t-chart', 'temp_c'])?.length >= 3")
    section.locator("canvas").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "miner-thermal-chart.png"))
    api = requests.get(f"{server}/api/miners/{IP}/history?range=1h", timeout=5).json()["series"]
    assert "fan_rpm" in api and any(api["fan_rpm"]), api.keys()
    page.wait_for_function(f"({POINTS})(['d-t-chart', 'fan_rpm'])?.length >= 3")
    fans = page.evaluate(POINTS, ["d-t-chart", "fan_rpm"])
    assert all(1000 <= f <= 10000 for f in fans), fans  # the simulator's fan
    assert page.evaluate(HIDDEN, ["d-t-chart", "fan_rpm"]) is False
    expect(section.locator(".toggle-note")).to_have_text(["", ""])  # both have data
    section.get_by_label("Fan (fastest, right axis)").uncheck()
    assert page.evaluate(HIDDEN, ["d-t-chart", "fan_rpm"]) is True
    section.get_by_label("Fan (fastest, right axis)").check()


def test_phone_layout(open_page, server):
    page = open_page(f"/#miner={IP}", viewport={"width": 390, "height": 844})
    section = page.locator("#detail section.d-thermal")
    page.wait_for_function(f"({POINTS})(['d-t-chart', 'temp_c'])?.length > 0")
    section.scroll_into_view_if_needed()
    box = section.bounding_box()
    assert box["width"] <= 390, box
    page.screenshot(path=str(ARTIFACTS / "miner-thermal-chart-phone.png"))
