"""The "Grid dispatch (EMS)" part of the Battery & control panel in Debian's Chromium against
the REAL app (real_site.py): every state is made by real EMS calls with the EMS token (docs/EMS.md),
real dashboard writes and the real controller over two scripted miners (a Whatsminer set in
watts, an Antminer S19j Pro that reports no power and is estimated). Each test gets a fresh app:
a dispatch is state. Loopback 127.83.87.x (web, meter) and 127.83.88.x (miners).
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app
from real_site import API_TOKEN, TEST_PASSWORD, BatteryMeter, ScriptedMiner, log_in, real_site

from miners.base import MinerStatus

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.87.1"  # the web servers; this file owns 127.83.87.0/24 and 127.83.88.0/24
METER_HOST = "127.83.87.9"
NET = "127.83.88"
WHATSMINER, S19 = f"{NET}.40", f"{NET}.9"
EMS_TOKEN = "ems-browser-token-0123456789"
EMS = {"Authorization": f"Bearer {EMS_TOKEN}"}
API = {"Authorization": f"Bearer {API_TOKEN}"}


def fmt_kw(kw: float) -> str:
    """The page's (and services/ems fmt_kw's) kW text: 2.3456 -> "2.346 kW"."""
    return f"{kw:.3f}".rstrip("0").rstrip(".") + " kW"


def miners() -> list[ScriptedMiner]:
    return [
        ScriptedMiner(WHATSMINER, "whatsminer", MinerStatus(
            hashrate_hs=126e12, power_w=3276.0, temp_c=70.0, model="Whatsminer M50S", firmware="btminer"),
            capabilities={"power_watts", "power_percent", "sleep", "wake", "restart"}),
        ScriptedMiner(S19, "antminer", MinerStatus(  # no power reading: the EMS estimates it from the model
            hashrate_hs=78e12, temp_c=65.0, model="Antminer S19j Pro", firmware="bmminer"),
            capabilities={"sleep", "wake", "restart", "mode", "pools"}),
    ]


@pytest.fixture
def make_site(browser, tmp_path_factory):
    """make_site(soc=54, token=True, silence="hold", with_miners=True) -> (site, open_page), a fresh app."""
    stack: list = []

    def _make(soc=54.0, token=True, silence="hold", with_miners=True):
        meter = BatteryMeter(METER_HOST)
        meter.set(soc=soc)
        stack.append(meter.close)
        extra = "autocontrol:\n  enabled: true\n  tick_sec: 5\n"
        if token:
            extra += f"ems:\n  token: {EMS_TOKEN}\n  silence: {silence}\n  lease_minutes: 10\n"
        cm = real_site(tmp_path_factory.mktemp("ems"), HOST, miners() if with_miners else [],
                       subnet=f"{NET}.0/24", meter=meter, extra=extra)
        site = cm.__enter__()
        stack.append(lambda: cm.__exit__(None, None, None))
        pages = page_opener(browser, site.base)
        open_page = pages.__enter__()
        stack.append(lambda: pages.__exit__(None, None, None))
        return site, open_page

    yield _make
    for close in reversed(stack):
        close()


def ems_call(site, method, path, body=None, headers=EMS):
    reply = requests.request(method, site.base + path, json=body, headers=headers, timeout=10)
    return reply


def activate(site, kw):
    reply = ems_call(site, "POST", "/api/activate", {"activationPowerInKw": kw})
    assert reply.status_code == 200 and reply.json()["accepted"] is True, reply.text
    return reply


def settled(site) -> None:
    """Wait until a poll has read the Whatsminer at the watt target the dispatch sent it (the active power moved)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sent = site.miner(WHATSMINER).called("set_power_watts")
        status = site.record(WHATSMINER).status
        if sent and status is not None and status.power_w == sent[-1][0]:
            return
        time.sleep(0.2)
    raise AssertionError("the Whatsminer was never read at its watt target")


def detail(site) -> dict:
    return requests.get(site.base + "/api/ems", timeout=5).json()


def test_active_dispatch_shows_target_since_power_estimates_and_calls(make_site):
    site, open_page = make_site()
    # Three calls, oldest first: a wrong token, a refused value, the dispatch.
    assert ems_call(site, "GET", "/api/status", headers={"Authorization": "Bearer not-the-ems-token-000"}
                    ).status_code == 401
    assert ems_call(site, "POST", "/api/activate", {"activationPowerInKw": "4"}).status_code == 400
    activate(site, 4)
    settled(site)
    page = open_page()
    body = detail(site)
    # The M50S is not in the power table: its nominal is the 3276 W it drew before the dispatch
    # (services/power/learned.py), not its reading at the watt target now; + S19j Pro 3050 W.
    assert body["status"]["ratedPowerInKw"] == 6.326
    expect(page.locator("#ems-state")).to_have_text("Active at 4 kW")
    expect(page.locator("#ems-state")).to_have_attribute("data-state", "active")
    expect(page.locator("#ems-since")).to_have_text(re.compile(r"^since .+ \(\d+ s ago\)$"))
    expect(page.locator("#ems-rated")).to_have_text(fmt_kw(body["status"]["ratedPowerInKw"]))
    expect(page.locator("#ems-active")).to_have_text(fmt_kw(body["status"]["activePowerInKw"]))
    expect(page.locator("#ems-held")).to_be_hidden()
    expect(page.locator("#ems-lease-row")).to_be_hidden()  # silence: hold
    expect(page.locator("#ems-release-row")).to_be_hidden()  # only a stopped fleet can be released
    expect(page.locator("#ems-est-sum")).to_have_text("1 miner's power estimated (they report none)")
    page.locator("#ems-est-sum").click()
    [estimate] = body["estimated"]
    expect(page.locator("#ems-est-list li")).to_have_text(
        f"{S19}: {fmt_kw(estimate['watts'] / 1000)} ({estimate['why']})")
    assert re.fullmatch(r"reports no power: nominal \d+ W x measured hashrate \d+% of nominal", estimate["why"])
    calls = page.locator("#ems-calls li")
    expect(calls).to_have_count(3)
    expect(calls.nth(0)).to_contain_text('POST /api/activate {"activationPowerInKw": 4}')
    expect(calls.nth(0).locator(".ems-call-status")).to_have_text("200")
    expect(calls.nth(0)).to_have_attribute("data-ok", "true")
    expect(calls.nth(0).locator(".ems-call-msg")).to_contain_text("activated: 4 kW (was idle)")
    expect(calls.nth(1)).to_have_attribute("data-ok", "false")
    expect(calls.nth(1).locator(".ems-call-status")).to_have_text("400")
    expect(calls.nth(1).locator(".ems-call-msg")).to_have_text('activationPowerInKw: must be a JSON number, got "4"')
    expect(calls.nth(2)).to_contain_text("GET /api/status")
    expect(calls.nth(2).locator(".ems-call-msg")).to_have_text(re.compile(r"^wrong EMS token \(from [\d.]+\)$"))
    expect(page.locator("#ems-calls-empty")).to_be_hidden()
    assert EMS_TOKEN not in page.content()
    # The dispatch reached the miners: the Whatsminer got a watt target.
    assert site.miner(WHATSMINER).called("set_power_watts")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#power-panel").screenshot(path=str(ARTIFACTS / "ems-active.png"))


def test_safety_holding_the_dispatch_back_is_an_alert(make_site):
    site, open_page = make_site(soc=25.0)  # a battery emergency (emergency_soc 30)
    activate(site, 4)
    body = detail(site)
    page = open_page()
    held = page.locator("#ems-held")
    expect(held).to_be_visible()
    expect(held).to_have_attribute("role", "alert")
    reason = body["safety"] or body["decision"]["reason"]
    assert "SOC 25%" in reason, body
    expect(held).to_have_text(f"Held back by safety: {reason}")
    expect(page.locator("#ems-state")).to_have_text("Active at 4 kW")  # the dispatch stays stored


def test_a_manual_override_above_the_dispatch_is_named(make_site):
    site, open_page = make_site()
    activate(site, 4)
    reply = requests.post(site.base + "/api/autocontrol", json={"override": {"percent": 20, "minutes": 30}},
                          headers=API, timeout=5)
    assert reply.status_code == 200, reply.text
    site.runtime.autocontrol.kick()
    page = open_page()
    expect(page.locator("#ems-held")).to_have_text(re.compile(r"^Held back by a manual override: manual override 20%"))
    expect(page.locator("#ems-state")).to_have_text("Active at 4 kW")


def test_idle_and_unavailable_is_a_quiet_line_not_an_alert(make_site):
    site, open_page = make_site(with_miners=False)  # nothing to dispatch
    page = open_page()
    expect(page.locator("#ems-state")).to_have_text("Idle: the EMS does not hold the fleet")
    expect(page.locator("#ems-held")).to_be_hidden()
    expect(page.locator("#ems-unavailable")).to_have_text(
        f"Not available for dispatch now: {detail(site)['unavailable_reason']}")
    expect(page.locator("#ems-unavailable")).to_contain_text("no controllable miner")
    expect(page.locator("#ems-calls li")).to_have_count(0)
    expect(page.locator("#ems-calls-empty")).to_be_visible()


def test_lease_counts_down(make_site):
    site, open_page = make_site(silence="lease")  # lease_minutes 10
    activate(site, 4)
    page = open_page()
    expect(page.locator("#ems-lease-row")).to_be_visible()
    expect(page.locator("#ems-lease")).to_have_text(re.compile(r"^in (10:00|9:5\d)$"))
    first = page.locator("#ems-lease").text_content()
    page.wait_for_timeout(2100)
    assert page.locator("#ems-lease").text_content() != first  # it counts, between polls


def test_not_configured_is_one_line(make_site):
    site, open_page = make_site(token=False)
    page = open_page()
    expect(page.locator("#ems-none")).to_have_text(
        "EMS dispatch is not configured (set ems.token in config.yaml or EMS_TOKEN).")
    expect(page.locator("#ems-body")).to_be_hidden()
    expect(page.locator("#bat-soc")).to_have_text("54 %")  # the rest of the panel is unaffected


def test_release_needs_login_then_hands_the_fleet_back(make_site):
    site, open_page = make_site()
    assert ems_call(site, "POST", "/api/deactivate").json()["accepted"] is True
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
    assert ("POST", "/api/ems/release") in [r[:2] for r in open_page.requests]
    assert site.runtime.autocontrol.ems.state.mode == "idle"


def test_release_error_is_shown_inline(make_site):
    site, open_page = make_site()
    assert ems_call(site, "POST", "/api/deactivate").json()["accepted"] is True
    page = open_page()
    log_in(page)
    # The controller cannot be reached for this one request (the network drops it).
    open_page.expected_http_errors = 1
    page.route("**/api/ems/release", lambda route: route.abort())
    page.get_by_role("button", name="Release to solar policy").click()
    error = page.locator("#ems-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(re.compile(r"^Could not release the fleet: .+"))
    expect(page.get_by_role("button", name="Release to solar policy")).to_be_enabled()  # try again later
    assert site.runtime.autocontrol.ems.state.mode == "stopped"
    page.unroute("**/api/ems/release")
    page.get_by_role("button", name="Release to solar policy").click()
    expect(page.locator("#ems-state")).to_have_text("Idle: the EMS does not hold the fleet")
    expect(error).to_be_hidden()


def test_a_ws_autocontrol_message_with_a_new_dispatch_reloads_at_once(make_site):
    site, open_page = make_site()
    activate(site, 4)
    page = open_page()
    expect(page.locator("#ems-state")).to_have_text("Active at 4 kW")
    settled(site)  # a poll has read the Whatsminer at its 4 kW share
    gets = lambda: sum(1 for r in open_page.requests if r[:2] == ("GET", "/api/ems"))  # noqa: E731
    before = gets()
    site.runtime.autocontrol.kick()  # a tick with the same dispatch: its /ws message asks for no GET
    page.wait_for_timeout(800)
    assert gets() == before
    # Above the first dispatch, within the rated 6.326 kW: the 4 kW dispatch throttled the
    # Whatsminer (its model is not in the power table), and its nominal stays the 3276 W it drew
    # at full setting (it was its reading: the rated power fell to 4.762 kW and 6 kW was refused).
    activate(site, 6)  # kicks a tick: its /ws message carries the new dispatch, well before the 15 s poll
    expect(page.locator("#ems-state")).to_have_text("Active at 6 kW", timeout=3000)
    expect(page.locator("#ems-since")).to_have_text(re.compile(r"\(\d s ago\)$"))
    assert gets() == before + 1


def test_untrusted_text_stays_text(make_site):
    site, open_page = make_site()
    evil = '<img src=x onerror="window.__pwned=1">'
    assert ems_call(site, "POST", "/api/activate", {"activationPowerInKw": evil}).status_code == 400
    page = open_page()
    # The request as sent and the refusal quoting it (JSON-escaped, clipped): both as text.
    expect(page.locator("#ems-calls li .ems-call-msg")).to_contain_text('got "<img src=x onerror=')
    expect(page.locator("#ems-calls li")).to_contain_text('{"activationPowerInKw": "<img src=x onerror=')
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#ems img").count() == 0


def test_phone_layout_keeps_the_dispatch_readable(make_site):
    site, open_page = make_site()
    activate(site, 4)
    page = open_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    expect(page.locator("#ems-state")).to_have_text("Active at 4 kW")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#ems").screenshot(path=str(ARTIFACTS / "ems-phone.png"))


# ---------- a grid site without miners ----------

@pytest.fixture(scope="module")
def grid_site(tmp_path_factory):
    """The real app with an EMS token, a grid site (battery.source none), no miners."""
    path = tmp_path_factory.mktemp("ems-real") / "config.yaml"
    path.write_text(
        f"network:\n  subnet: {NET}.0/24\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
        "battery:\n  source: none\n"
        "autocontrol:\n  tick_sec: 5\n"
        f"ems:\n  token: {EMS_TOKEN}\n"
        f"security:\n  api_token: {API_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, "127.83.87.2") as (base, runtime):
        yield {"base": base, "runtime": runtime}


def test_panel_on_a_grid_site_without_miners(browser, grid_site):
    """No miners: an activate is refused (rated 0 kW); the EMS's deactivate offers the release, which works."""
    base = grid_site["base"]
    with page_opener(browser, base) as open_page:
        page = open_page()
        expect(page.locator("#ems-state")).to_have_text("Idle: the EMS does not hold the fleet", timeout=10_000)
        expect(page.locator("#ems-unavailable")).to_contain_text("no controllable miner")
        reply = requests.post(base + "/api/activate", json={"activationPowerInKw": 1}, headers=EMS, timeout=5)
        assert reply.status_code == 400 and reply.json()["accepted"] is False
        assert requests.post(base + "/api/deactivate", headers=EMS, timeout=5).json()["accepted"] is True
        # The deactivate kicks a controller tick; its /ws message carries the new state.
        expect(page.locator("#ems-state")).to_have_text("Stopped by the EMS (deactivated)", timeout=10_000)
        calls = page.locator("#ems-calls li")
        expect(calls).to_have_count(2)
        expect(calls.nth(0)).to_contain_text("POST /api/deactivate")
        expect(calls.nth(1).locator(".ems-call-status")).to_have_text("400")
        assert EMS_TOKEN not in page.content()
        log_in(page)
        button = page.get_by_role("button", name="Release to solar policy")
        expect(button).to_be_enabled(timeout=10_000)
        button.click()
        expect(page.locator("#ems-state")).to_have_text("Idle: the EMS does not hold the fleet")
        assert grid_site["runtime"].autocontrol.ems.state.mode == "idle"
