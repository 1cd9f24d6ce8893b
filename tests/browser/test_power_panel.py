"""The dashboard's "Battery & control" panel and power chart in Debian's Chromium,
against the fake controller (fake_api.py): GET /api/battery, GET/POST
/api/autocontrol, the /ws autocontrol push, /api/battery/history merged with
/api/history. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re
import time

import pytest
from harness import ARTIFACTS, expect, fake_site, real_app

from fake_api import battery_history, battery_snapshot
from test_dashboard import log_in

pytestmark = pytest.mark.browser

HOST = "127.83.40.1"  # this file's own loopback range, 127.83.40.0/24
CHART = "Chart.getChart(document.getElementById('power-chart'))"

fake, server, open_page = fake_site(HOST)


def chart_eval(page, body):
    """Run ``body`` (an expression over `chart`) once the power chart exists."""
    page.wait_for_function(f"!!{CHART} && {CHART}.data.datasets[0].data.length > 0")
    return page.evaluate(f"() => {{ const chart = {CHART}; return {body}; }}")


# ---------- the panel ----------

def test_panel_shows_the_battery_reading(open_page, fake):
    page = open_page()
    expect(page.locator("#bat-soc")).to_have_text("54 %")
    expect(page.locator("#soc-bar")).to_have_attribute("aria-valuenow", "54")
    expect(page.locator("#bat-pv")).to_have_text("1.8 kW")
    expect(page.locator("#bat-load")).to_have_text("600 W")
    expect(page.locator("#bat-flow")).to_have_text("charging 1.2 kW")
    expect(page.locator("#bat-grid-tile")).to_be_hidden()  # the simulated house meters no grid
    expect(page.locator("#bat-age")).to_have_text(re.compile(r"^Measured 1\d s ago$"))
    expect(page.locator("#bat-status")).to_have_text("simulated (simulated house): ok")
    expect(page.locator("#bat-empty")).to_be_hidden()
    # The age grows between polls.
    first = int(re.search(r"\d+", page.locator("#bat-age").inner_text()).group())
    expect(page.locator("#bat-age")).not_to_have_text(f"Measured {first} s ago", timeout=3000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#power-panel").screenshot(path=str(ARTIFACTS / "power-panel.png"))

    # Discharging, a metered grid and a failing source, all in plain words.
    fake.battery = battery_snapshot(soc=31.4, pv_w=0.0, load_w=950.0, battery_w=800.0, grid_w=300.0, age=200,
                                    source="eg4", connected=False, last_error="EG4 portal: login refused (HTTP 401)")
    page.reload()
    expect(page.locator("#bat-soc")).to_have_text("31 %")
    expect(page.locator("#bat-flow")).to_have_text("discharging 800 W")
    expect(page.locator("#bat-pv")).to_have_text("0 W")
    expect(page.locator("#bat-grid")).to_have_text("importing 300 W")
    expect(page.locator("#bat-status")).to_have_text("eg4: error: EG4 portal: login refused (HTTP 401)")
    expect(page.locator("#bat-age")).to_have_text(re.compile(r"^Measured 3 min ago \(stale\)$"))  # max_age 120 s


def test_panel_says_plainly_when_there_is_no_reading(open_page, fake):
    page = open_page()
    fake.battery = battery_snapshot(soc=None, source="http", connected=False,
                                    last_error="http: connection refused")
    page.reload()
    expect(page.locator("#bat-empty")).to_have_text(
        "No battery reading yet. The source (http) reports: http: connection refused")
    expect(page.locator("#bat-body")).to_be_hidden()

    fake.battery = battery_snapshot(source="none")  # battery.source: none, a grid-only site
    page.reload()
    none_text = "No battery source is configured on this controller (battery.source: none)."
    expect(page.locator("#bat-empty")).to_have_text(none_text)
    expect(page.locator("#bat-body")).to_be_hidden()

    fake.battery = None  # a server without the battery routes answers 404
    open_page.expected_http_errors = 1
    page.reload()
    expect(page.locator("#bat-empty")).to_have_text(none_text)
    expect(page.locator("#bat-body")).to_be_hidden()
    expect(page.locator("#ac-reason")).to_have_text("SOC 54% → cap 60%")  # the controller part still shows


def test_reason_and_timer_count_down(open_page, fake):
    page = open_page()
    expect(page.locator("#ac-reason")).to_have_text("SOC 54% → cap 60%")  # the timer's text moved to the list
    expect(page.locator("#ac-target")).to_have_text("50% (1.5 kW)")
    expect(page.locator("#ac-cap")).to_have_text("60%")
    expect(page.locator("#ac-source")).to_have_text("solar policy")
    timer = page.locator("#ac-timers li")
    expect(timer).to_have_text(re.compile(r"^raising to 60% in 1:[23]\d$"))
    seconds = lambda: int(re.search(r"1:(\d\d)$", timer.inner_text()).group(1))  # noqa: E731
    before = seconds()
    page.wait_for_timeout(2200)
    assert 1 <= before - seconds() <= 3, "the countdown does not run between updates"
    expect(page.locator("#ac-alert")).to_be_hidden()
    expect(page.locator("#ac-off-note")).to_be_hidden()

    # A tick pushed over /ws: surplus, stopping soon, a fail-safe alert and an override.
    now = time.time()
    fake.push_autocontrol(
        policy="surplus", cap_percent=None, target_percent=10.0, target_w=300.0, decided_at=now, source="override",
        reason="shortfall 400 W -> minimum 10%, stopping in 0:45", failsafe=True, emergency=True,
        alert="battery data 11 min old (limit 10 min)",
        timers=[{"action": "stop", "target_percent": 0.0, "at": now + 45, "remaining_sec": 45.0,
                 "text": "stopping in 0:45"}],
        override={"percent": 50.0, "until": now + 1500, "set_at": now, "by": "session"},
        overheated=[{"ip": "10.0.0.40", "temp_c": 91.0, "limit_c": 85.0, "resume_c": 75.0, "since": now - 60,
                     "reason": "Whatsminer M50S 91 °C >= 85 °C -> sleep until 75 °C"}])
    expect(page.locator("#ac-reason")).to_have_text("shortfall 400 W → minimum 10%")
    expect(timer).to_have_text(re.compile(r"^stopping in 0:4\d$"))
    expect(page.locator("#ac-cap-row")).to_be_hidden()
    expect(page.locator("#ac-source")).to_have_text("manual override")
    expect(page.locator("#ac-policy")).to_have_value("surplus")
    alert = page.locator("#ac-alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Battery emergency")
    expect(alert).to_contain_text("Fail-safe in force: battery data 11 min old (limit 10 min).")
    expect(alert).to_contain_text("Overheating, 10.0.0.40 stopped: Whatsminer M50S 91 °C >= 85 °C → sleep until 75 °C")
    expect(page.locator("#ac-override")).to_have_text(re.compile(r"^Manual override: 50% until .+ \(2[45]:\d\d left\)$"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#power-panel").screenshot(path=str(ARTIFACTS / "power-panel-alert.png"))


def test_enable_switch_posts_and_reflects_the_answer(open_page, fake):
    page = open_page()
    switch = page.get_by_role("switch", name="Autocontrol")
    expect(switch).to_be_checked()
    expect(switch).to_be_disabled()  # logged out
    expect(page.locator("#ac-login")).to_be_visible()
    expect(page.get_by_label("Policy")).to_be_disabled()

    log_in(page)
    switch = page.get_by_role("switch", name="Autocontrol")
    expect(switch).to_be_enabled()
    expect(page.locator("#ac-login")).to_be_hidden()
    switch.click()
    expect(switch).not_to_be_checked()
    expect(page.locator("#ac-state")).to_have_text("off")
    expect(page.locator("#ac-off-note")).to_be_visible()
    assert ("POST", "/api/autocontrol", {"enabled": False}) in fake.requests
    assert fake.autocontrol["enabled"] is False

    # The server refuses: the switch goes back and says why.
    open_page.expected_http_errors = 1
    fake.autocontrol_next = (409, "autocontrol is held by an EMS dispatch")
    switch.click()
    expect(page.locator("#ac-error")).to_have_text(
        "Could not switch autocontrol on: autocontrol is held by an EMS dispatch")
    expect(switch).not_to_be_checked()
    expect(switch).to_be_enabled()
    expect(page.locator("#ac-state")).to_have_text("off")
    assert fake.autocontrol["enabled"] is False

    # The next good answer clears the error; the policy selector posts too.
    switch.click()
    expect(switch).to_be_checked()
    expect(page.locator("#ac-error")).to_be_hidden()
    page.get_by_label("Policy").select_option("surplus")
    expect(page.locator("#ac-cap-row")).to_be_hidden()  # the fake's answer: no cap under surplus
    assert ("POST", "/api/autocontrol", {"policy": "surplus"}) in fake.requests
    assert fake.autocontrol["policy"] == "surplus"


# ---------- the chart ----------

def test_chart_has_five_lines_and_keeps_nulls(open_page, fake):
    page = open_page()
    labels = chart_eval(page, "chart.data.datasets.map(d => d.label)")
    assert labels == ["Battery SOC", "Solar (PV)", "Battery (+ discharging)", "Miners' power", "Hashrate SHA-256"]
    assert ("GET", "/api/battery/history?range=24h", None) in fake.requests
    assert ("GET", "/api/history?range=24h", None) in fake.requests

    expected = battery_history("24h")
    soc = chart_eval(page, "chart.data.datasets[0].data")
    assert len(soc) == len(expected["ts"])
    assert [p["y"] for p in soc] == expected["series"]["soc_pct"]  # None stays None, never 0
    assert any(p["y"] is None for p in soc)
    power = chart_eval(page, "chart.data.datasets[3].data.map(p => p.y)")
    assert None in power and 0 not in power

    # Hashrate in TH/s on its own axis (the fake's fleet does ~5.3 TH/s SHA-256).
    top = chart_eval(page, "Math.max(...chart.data.datasets[4].data.map(p => p.y))")
    assert 5 < top < 6
    assert chart_eval(page, "chart.options.scales.yHash.title.text") == "TH/s"
    assert chart_eval(page, "[chart.options.scales.yPct.min, chart.options.scales.yPct.max]") == [0, 100]
    expect(page.locator("#power-chart-empty")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".power-split").screenshot(path=str(ARTIFACTS / "power-chart.png"))


def test_battery_buckets_snap_to_the_fleet_grid(open_page, fake):
    page = open_page()
    fake.battery_ts_offset = 7  # a battery bucket 7 s off the fleet's (bucket 300 s at 24h)
    page.reload()
    soc_x = chart_eval(page, "chart.data.datasets[0].data.map(p => p.x)")
    fleet_x = set(chart_eval(page, "chart.data.datasets[3].data.map(p => p.x)"))
    assert soc_x and all(x in fleet_x for x in soc_x)


def test_toggle_hides_a_line_and_persists(open_page):
    page = open_page()
    pv = page.get_by_label("Solar (PV)")
    expect(pv).to_be_checked()
    assert chart_eval(page, "chart.isDatasetVisible(1)") is True
    pv.uncheck()
    assert chart_eval(page, "chart.isDatasetVisible(1)") is False
    assert chart_eval(page, "chart.isDatasetVisible(0)") is True

    page.reload()
    expect(page.get_by_label("Solar (PV)")).not_to_be_checked()
    assert chart_eval(page, "chart.isDatasetVisible(1)") is False
    assert page.evaluate("localStorage.getItem('minerfleet.powerChart.hidden')") == '["pv_w"]'
    page.get_by_label("Solar (PV)").check()
    page.reload()
    expect(page.get_by_label("Solar (PV)")).to_be_checked()
    assert chart_eval(page, "chart.isDatasetVisible(1)") is True


def test_range_buttons_refetch_both_histories(open_page, fake):
    page = open_page()
    chart_eval(page, "0")
    button = page.get_by_role("button", name="Power chart: 1h")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Power chart: 24h")).to_have_attribute("aria-pressed", "false")
    page.wait_for_function(f"{CHART}.data.datasets[0].data.length <= 62")
    assert ("GET", "/api/battery/history?range=1h", None) in fake.requests
    assert ("GET", "/api/history?range=1h", None) in fake.requests
    span = chart_eval(page, "chart.options.scales.x.max - chart.options.scales.x.min")
    assert span == pytest.approx(3600)
    # The History chart keeps its own range.
    expect(page.get_by_role("button", name="24h", exact=True)).to_have_attribute("aria-pressed", "true")


def test_empty_history_says_so(open_page, fake):
    page = open_page()
    fake.history_empty = True
    page.reload()
    expect(page.locator("#power-chart-empty")).to_be_visible()
    expect(page.locator("#power-chart-empty")).to_have_text("No history yet.")


# ---------- phone ----------

@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_layout_stacks(open_page, scheme):
    page = open_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                     has_touch=True, color_scheme=scheme)
    expect(page.locator("#bat-flow")).to_have_text("charging 1.2 kW")
    chart_eval(page, "0")
    boxes = page.evaluate("""() => {
        const r = (sel) => document.querySelector(sel).getBoundingClientRect();
        return { panel: r('#power-panel'), chart: r('.power-chart-panel'),
                 width: [document.documentElement.scrollWidth, window.innerWidth] };
    }""")
    assert boxes["width"][0] <= boxes["width"][1], boxes["width"]
    assert boxes["chart"]["top"] >= boxes["panel"]["bottom"]  # stacked, not side by side
    assert abs(boxes["chart"]["left"] - boxes["panel"]["left"]) <= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"power-phone-{scheme}.png"), full_page=True)


# ---------- the real app ----------

@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    """The real app (background runtime, simulated house, controller ticking every 5 s), no miners."""
    from tests.conftest import TEST_PASSWORD, TEST_TOKEN

    path = tmp_path_factory.mktemp("power-real") / "config.yaml"
    path.write_text(
        "network:\n  subnet: 127.83.41.0/24\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
        "battery:\n  source: simulated\n  poll_sec: 2\n"
        "autocontrol:\n  tick_sec: 5\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, "127.83.40.2") as (base, runtime):
        yield {"base": base, "runtime": runtime, "password": TEST_PASSWORD}


@pytest.mark.integration
def test_panel_against_the_real_app(browser, real_server):
    """The real /api/battery, /api/autocontrol, its /ws push and POST (Origin-checked session) fit the page."""
    base, runtime = real_server["base"], real_server["runtime"]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        frames: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
            payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))))
        page.goto(base + "/")
        expect(page.locator("#bat-soc")).to_have_text(re.compile(r"^\d+ %$"), timeout=10_000)
        expect(page.locator("#bat-flow")).to_have_text(re.compile(r"^(charging|discharging) [\d.]+ k?W$|^idle$"))
        expect(page.locator("#bat-status")).to_have_text(re.compile(r"^simulated \(simulated house\): ok$"))
        # A controller tick arrives over /ws and fills the decision (autocontrol is off on a fresh install).
        expect(page.locator("#ac-reason")).not_to_have_text(re.compile(r"^(No decision yet.*|—)$"), timeout=15_000)
        pushed = lambda: any('"type": "autocontrol"' in f.replace('":"', '": "') for f in frames)  # noqa: E731
        deadline = time.monotonic() + 12  # tick_sec 5
        while not pushed() and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert pushed(), "no autocontrol message on /ws"
        switch = page.get_by_role("switch", name="Autocontrol")
        expect(switch).not_to_be_checked()
        expect(page.locator("#ac-off-note")).to_be_visible()

        page.goto(base + "/login")
        page.get_by_label("Password").fill(real_server["password"])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/$"))
        switch = page.get_by_role("switch", name="Autocontrol")
        expect(switch).to_be_enabled()
        switch.click()
        expect(switch).to_be_checked()
        expect(page.locator("#ac-error")).to_be_hidden()
        assert runtime.autocontrol.status()["enabled"] is True
        page.get_by_label("Policy").select_option("surplus")
        expect(page.locator("#ac-cap-row")).to_be_hidden()
        assert runtime.autocontrol.status()["policy"] == "surplus"
        switch.click()  # back off: nothing else in this module wants it on
        expect(switch).not_to_be_checked()
        assert runtime.autocontrol.status()["enabled"] is False

        # The chart reads the real battery history (the fleet has none: no miners).
        page.wait_for_function(f"!!{CHART} && {CHART}.data.datasets[0].data.length > 0", timeout=10_000)
        assert errors == [], errors
    finally:
        ctx.close()
