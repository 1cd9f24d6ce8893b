"""The dashboard in Debian's Chromium against the REAL app: real Runtime with its
background poller and WebSocket hub, real drivers, served by werkzeug's threaded
dev server (which speaks flask-sock's WebSocket), talking to simulated miners on
127.83.9.0/24.

Unlike test_dashboard.py nothing here is pushed by the test: discovery, poll
rounds and snapshots happen on the server's own schedule, so every wait has a
timeout sized to the 2 s poll interval. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re
import time

import pytest
from harness import ARTIFACTS, expect, page_opener, real_app

from simulator import SimFleet, demo_specs
from test_dashboard import card
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.0.2"  # the web server; browser tests own 127.83.x.x (docs/contracts.md)
NET = "127.83.9"
SUBNET = f"{NET}.0/24"
COUNT = 8  # demo layout: 6 Bitaxes (.10-.15), then 2 cgminer (.16, .17)
POLL_S = 2


@pytest.fixture(scope="module")
def sim():
    fleet = SimFleet(demo_specs(f"{NET}.10", COUNT, restart_seconds=1.0), allow_any_client=True, seed=3)
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, sim):
    """The real app with its background runtime, on a free port of HOST."""
    tmp = tmp_path_factory.mktemp("real-app")
    path = tmp / "config.yaml"
    path.write_text(
        f"network:\n  subnet: {SUBNET}\n  port_offset: {sim.port_offset}\n"
        f"polling:\n  interval_sec: {POLL_S}\n  timeout_sec: 1.5\n  offline_after: 2\n  workers: 16\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        yield {"base": base, "runtime": runtime}


@pytest.fixture
def new_page(browser):
    """new_page(**context options) -> (page, ws_frames); fails the test on any page error."""
    contexts, errors = [], []

    def _new(**options):
        options.setdefault("viewport", {"width": 1280, "height": 900})
        ctx = browser.new_context(**options)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        frames: list[str] = []  # text frames the server sent on /ws, in order
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
            payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))))
        return page, frames

    yield _new
    for ctx in contexts:  # closes the sockets before the server goes away
        ctx.close()
    assert errors == [], f"errors in the page: {errors}"


def snapshots(frames):
    return [f for f in frames if f.startswith("{") and '"type": "snapshot"' in f.replace('":"', '": "')]


def test_discover_watch_and_restart_on_the_real_app(new_page, server, sim):
    started = time.monotonic()
    bitaxes = [m.spec.ip for m in sim.miners if m.spec.kind == "bitaxe"]
    cgminers = [m.spec.ip for m in sim.miners if m.spec.kind == "cgminer"]
    assert len(bitaxes) == 6 and len(cgminers) == 2

    page, frames = new_page()
    page.goto(server["base"] + "/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    expect(page.locator("#miners-empty")).to_be_visible()  # a fresh install knows no miner
    expect(page.get_by_role("link", name="Log in")).to_be_visible()

    # Log in through the real /login page.
    page.get_by_role("link", name="Log in").click()
    page.wait_for_url(re.compile(r"/login\?next=(%2F|/)$"))  # it returns to the dashboard
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("#logout-btn")).to_be_visible()
    expect(page.locator("#live")).to_have_attribute("data-state", "live")

    # Discover the simulated /24.
    page.get_by_label("Subnet to scan").fill(SUBNET)
    page.get_by_role("button", name="Discover").click()
    expect(page.locator("#discover-status")).to_be_visible()
    expect(page.locator("#discover-text")).to_have_text(
        f"Done {SUBNET}: 254 / 254 probed, found {COUNT}", timeout=15_000)
    expect(page.locator(".toast").filter(has_text="Discovery finished")).to_have_text(
        f"Discovery finished: found {COUNT} miners")
    expect(page.locator("#discover-btn")).to_be_enabled()
    expect(page.locator("#discover-found li")).to_have_count(COUNT)

    # Eight cards, numeric order, all online with the simulator's numbers.
    cards = page.locator("#cards .card")
    expect(cards).to_have_count(COUNT)
    expect(page.locator("#cards .card .status")).to_have_text(["online"] * COUNT, timeout=POLL_S * 3 * 1000)
    ips = cards.evaluate_all("cards => cards.map(c => c.dataset.ip)")
    assert ips == [f"{NET}.{10 + i}" for i in range(COUNT)]
    hash_re = re.compile(r"^\d+(\.\d+)? [kMGT]?H/s$")
    for ip in bitaxes + cgminers:
        c = card(page, ip)
        family = "bitaxe" if ip in bitaxes else "cgminer"
        expect(c.locator(".badge")).to_have_text(family)
        expect(c.locator(".card-title")).not_to_have_text("Unknown model")
        hashrate, power, temp = (c.locator("dd").nth(i) for i in range(3))
        expect(hashrate).to_have_text(hash_re)
        if family == "bitaxe":
            expect(power).to_have_text(re.compile(r"^\d+(\.\d+)? W$"))
            expect(temp).to_have_text(re.compile(r"^\d+\.\d °C$"))
        else:
            expect(power).to_have_text("—")  # cgminer does not report power: unknown, never 0 W
        expect(c.locator(".card-error")).to_be_hidden()
        expect(c.get_by_role("button", name="Restart")).to_be_visible()

    # Fleet totals from the real /api/stats.
    expect(page.locator("#t-total")).to_have_text(str(COUNT))
    expect(page.locator("#t-online")).to_have_text(str(COUNT))
    expect(page.locator("#t-offline")).to_have_text("0")
    expect(page.locator("#totals .tile-hash dd").first).to_have_text(re.compile(r"^\d+(\.\d+)? [kMGTP]?H/s$"))
    expect(page.locator("#t-power")).to_have_text(re.compile(r"^\d+(\.\d+)? W$"))
    expect(page.locator("#t-power-note")).to_have_text(f"6 of {COUNT} report power")
    expect(page.locator("#t-temp")).to_have_text(re.compile(r"^\d+\.\d °C$"))
    expect(page.locator("#t-eff")).to_have_text(re.compile(r"^\d+\.\d J/TH$"))

    # A later poll round's WebSocket snapshot moves "last seen" back (the 1 s tick only ages it).
    page.eval_on_selector(f'.card[data-ip="{cgminers[0]}"] .seen', """seen => {
        window.__seenDrops = 0;
        const age = () => Number((seen.textContent.match(/(\\d+) s ago/) || [])[1]);
        let last = age();
        new MutationObserver(() => {
            const now = age();
            if (now < last) window.__seenDrops++;
            last = now;
        }).observe(seen, { childList: true, characterData: true, subtree: true });
    }""")
    before = len(snapshots(frames))
    assert before >= 1  # the one sent on connect
    page.wait_for_function("window.__seenDrops >= 1", timeout=POLL_S * 3 * 1000)
    assert len(snapshots(frames)) > before, "the card changed without a new WebSocket snapshot"
    expect(card(page, cgminers[0]).locator(".seen")).to_have_text(re.compile(r"^Last seen [0-3] s ago$"))

    # Restart a cgminer through the confirmation dialog.
    target = cgminers[0]
    reboots = sim.miner(target).reboots
    card(page, target).get_by_role("button", name="Restart").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Restart {target}?")
    dialog.get_by_role("button", name="Restart").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".toast-ok").filter(has_text=target)).to_have_text(f"Restart sent to {target}")
    expect(page.locator(".toast-error")).to_have_count(0)
    assert sim.miner(target).reboots == reboots + 1

    # With the found list open the tools column is the taller one: the chart fills the row
    # (no gap under its panel) and its canvas follows the box, without growing it.
    boxes = page.evaluate("""() => {
        const r = (sel) => document.querySelector(sel).getBoundingClientRect();
        return { panel: r('.chart-panel').bottom, tools: r('.tools').bottom,
                 box: r('.chart-box').height, canvas: r('#chart').height };
    }""")
    assert abs(boxes["panel"] - boxes["tools"]) <= 1, boxes
    assert boxes["box"] > 280 and abs(boxes["canvas"] - boxes["box"]) <= 1, boxes

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "real-desktop.png"), full_page=True)

    # The same live fleet on a phone (logged out, its own socket).
    phone, _ = new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                        is_mobile=True, has_touch=True)
    phone.goto(server["base"] + "/")
    expect(phone.locator("#live")).to_have_attribute("data-state", "live")
    expect(phone.locator("#cards .card")).to_have_count(COUNT)
    expect(phone.locator("#t-online")).to_have_text(re.compile(r"^[78]$"))  # the restarted one may be down
    phone.wait_for_function("Chart.getChart(document.getElementById('chart')).data.datasets[0].data.length >= 1")
    width = phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"page is {width[0]} px wide in a {width[1]} px viewport"
    label = phone.locator("#totals .tile-hash dt").first
    expect(label).to_have_text("Hashrate SHA-256")
    lines = label.evaluate("dt => Math.round(dt.getBoundingClientRect().height / parseFloat(getComputedStyle(dt).lineHeight))")
    assert lines == 1, "the SHA-256 tile label wraps on a phone"
    phone.screenshot(path=str(ARTIFACTS / "real-phone.png"), full_page=True)

    # The server's view agrees: two pages on /ws, the restart logged.
    health = page.request.get(server["base"] + "/api/health").json()
    assert health["websocket_clients"] >= 2 and not health["read_only"]
    events = page.request.get(server["base"] + f"/api/events?miner={target}").json()
    assert any("restart ok" in e.get("message", "") for e in events), events
    assert time.monotonic() - started < 40


def test_login_page_on_a_phone(browser, server):
    """The login page at phone size: a wrong password says so in the page, the right one opens the overview."""
    with page_opener(browser, server["base"]) as open_page:
        open_page.expected_http_errors = 1  # the refused login's 401, provoked on purpose
        page = open_page("/login", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page.get_by_label("Password").fill("not-the-password")
        with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as reply:
            page.get_by_role("button", name="Log in").click()
        assert reply.value.status == 401
        expect(page.locator("#login-error")).to_be_visible()
        expect(page.locator("#login-error")).to_have_text("Wrong password")  # the API's reason, capitalised
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(ARTIFACTS / "login-phone.png"))
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/$"))
        expect(page.locator("#logout-btn")).to_be_visible()
