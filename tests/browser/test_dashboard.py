"""Dashboard in a real browser (Debian's Chromium via Playwright) against the REAL app
(real_site.py: create_app with its runtime, scripted miner drivers, and for discovery a
simulated Bitaxe on 127.83.82.50 read by the real driver). Loopback 127.83.80-82.x.

Screenshots land in test-artifacts/ (git-ignored) for a human look.
"""

from __future__ import annotations

import re
import time

import pytest
from harness import ARTIFACTS, expect, page_opener
from real_site import TEST_PASSWORD, ScriptedMiner, card, log_in, real_site

from miners.base import BoardStatus, MinerAuthError, MinerProtocolError, MinerStatus, MinerUnreachable, PoolStatus
from simulator import MinerSpec, SimFleet

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.80.1"  # the web server; this file owns 127.83.80.0/24-127.83.82.0/24
NET = "127.83.81"  # the scripted miners
SCAN_NET = "127.83.82"  # discovery finds a simulated Bitaxe here
BITAXE, CGMINER, OFFLINE, SCRYPT, LOCKED = (f"{NET}.{n}" for n in (2, 10, 9, 20, 100))
ORDER = [BITAXE, OFFLINE, CGMINER, SCRYPT, LOCKED]  # numeric, not text order (.9 before .10)

__all__ = ["card", "log_in"]  # test_real_app.py imports card from here


def fleet() -> list[ScriptedMiner]:
    """Five miners: two SHA-256 online (one without power), one Scrypt, one offline, one refusing us."""
    bitaxe = MinerStatus(
        hashrate_hs=1.2e12, expected_hashrate_hs=1.25e12, power_w=15.3, temp_c=55.5, fan_rpm=[4200],
        fan_percent=60, uptime_s=93784, hostname="bitaxe-kitchen", mac="aa:bb:cc:00:00:02",
        model="Bitaxe Gamma 601", firmware="AxeOS", firmware_version="v2.4.0", frequency_mhz=525.0,
        voltage_mv=1150.0, boards=[BoardStatus(0, hashrate_hs=1.2e12, temp_c=55.5, chips=1)],
        pools=[PoolStatus("stratum+tcp://public-pool.io:21496", "bc1qexample.kitchen", "Alive", True, 0)])
    cgminer = MinerStatus(hashrate_hs=4.1e12, temp_c=61.0, fan_rpm=[2100, 2150], uptime_s=5400,
                          model="Avalon Nano 3", firmware="cgminer")
    scrypt = MinerStatus(hashrate_hs=185e6, algorithm="scrypt", power_w=233.0, temp_c=48.0, fan_percent=45,
                         uptime_s=700000, model="Goldshell Mini-DOGE", firmware="cgminer")
    return [
        ScriptedMiner(BITAXE, "bitaxe", bitaxe, capabilities={"fan", "frequency", "mode", "pools", "restart"}),
        ScriptedMiner(CGMINER, "cgminer", cgminer, capabilities={"pools"}),
        ScriptedMiner(OFFLINE, "antminer", None, model="Antminer S19j Pro", capabilities={"restart", "pools"},
                      error=MinerUnreachable("connection timed out after 3.0 s")),
        ScriptedMiner(LOCKED, "antminer", None, model="Antminer S9", capabilities={"restart"},
                      error=MinerAuthError("401 Unauthorized from /cgi-bin/stats.cgi")),
        ScriptedMiner(SCRYPT, "goldshell", scrypt, capabilities={"restart"}),
    ]


def seed_history(runtime) -> None:
    """24 h of 5-minute rounds of the fleet, as the poller would have written them."""
    ids = {r.ip: r.id for r in runtime.fleet.records()}
    now = time.time()
    for i in range(288, 0, -1):
        runtime.history.add_round(now - i * 300, [
            (ids[BITAXE], "sha256d", 1.2e12, 15.3, 55.5, 4200), (ids[CGMINER], "sha256d", 4.1e12, None, 61.0, 2150),
            (ids[SCRYPT], "scrypt", 185e6, 233.0, 48.0, None)])


@pytest.fixture(scope="module")
def sim():
    """The Bitaxe a discovery of 127.83.82.0/24 finds (real driver, simulated AxeOS)."""
    fleet_ = SimFleet([MinerSpec("bitaxe", f"{SCAN_NET}.50", model="BM1366")], allow_any_client=True, seed=5)
    fleet_.start()
    yield fleet_
    fleet_.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory, sim):
    with real_site(tmp_path_factory.mktemp("dashboard"), HOST, fleet(), subnet=f"{NET}.0/24",
                   port_offset=sim.port_offset, before_start=seed_history) as s:
        yield s


@pytest.fixture
def open_page(browser, site):
    """page_opener on the site, its miners back to their first readings (the offline one last seen 2 h ago)."""
    site.reset()
    site.record(OFFLINE).last_seen_ts = time.time() - 2 * 3600
    with page_opener(browser, site.base) as opener:
        yield opener


def order(page) -> list[str]:
    return page.locator("#cards .card").evaluate_all("cards => cards.map(c => c.dataset.ip)")


def test_totals_and_cards_show_the_api_numbers(open_page):
    page = open_page()
    expect(page.locator("#t-total")).to_have_text("5")
    expect(page.locator("#t-online")).to_have_text("3")
    expect(page.locator("#t-offline")).to_have_text("2")
    expect(page.locator("#totals .tile-hash").nth(0)).to_contain_text("SHA-256")
    expect(page.locator("#totals .tile-hash dd").nth(0)).to_have_text("5.30 TH/s")
    expect(page.locator("#totals .tile-hash").nth(1)).to_contain_text("Scrypt")
    expect(page.locator("#totals .tile-hash dd").nth(1)).to_have_text("185 MH/s")
    expect(page.locator("#t-power")).to_have_text("248 W")
    expect(page.locator("#t-power-note")).to_have_text("2 of 3 report power")
    expect(page.locator("#t-temp")).to_have_text("54.8 °C")
    expect(page.locator("#t-eff")).to_have_text("12.8 J/TH")

    assert order(page) == ORDER

    bitaxe = card(page, BITAXE)
    expect(bitaxe.locator(".badge")).to_have_text("bitaxe")
    expect(bitaxe.locator(".card-title")).to_have_text("Bitaxe Gamma 601")
    expect(bitaxe.locator(".status")).to_have_text("online")
    expect(bitaxe.locator("a.ip")).to_have_attribute("href", f"http://{BITAXE}/")
    expect(bitaxe.locator("a.ip")).to_have_attribute("target", "_blank")
    expect(bitaxe).to_contain_text("1.20 TH/s")
    expect(bitaxe).to_contain_text("15.3 W")
    expect(bitaxe).to_contain_text("55.5 °C")
    expect(bitaxe).to_contain_text("4200 rpm")
    expect(bitaxe).to_contain_text("1 d 2 h")
    expect(bitaxe.locator(".seen")).to_have_text(re.compile(r"^Last seen \d s ago$"))  # polled every 2 s

    # Unknown power is "—", never 0 W.
    cg = card(page, CGMINER)
    expect(cg.locator("dd").nth(1)).to_have_text("—")
    expect(cg).to_contain_text("2100 / 2150 rpm")

    expect(card(page, SCRYPT)).to_contain_text("185 MH/s (Scrypt)")
    offline = card(page, OFFLINE)
    expect(offline.locator(".status")).to_have_text("offline")
    expect(offline.locator(".card-error")).to_have_text("Not reachable: connection timed out after 3.0 s")
    expect(offline.locator(".seen")).to_have_text("Last seen 2 h ago")
    expect(card(page, LOCKED).locator(".status")).to_have_text("unauthorized")
    expect(card(page, LOCKED).locator(".card-error")).to_have_text(
        "Access refused: 401 Unauthorized from /cgi-bin/stats.cgi")

    # Restart only where the miner can do it now: capability and online.
    expect(bitaxe.get_by_role("button", name="Restart")).to_be_visible()
    expect(cg.get_by_role("button", name="Restart")).to_be_hidden()
    expect(offline.get_by_role("button", name="Restart")).to_be_hidden()
    expect(cg.get_by_role("button", name="Remove")).to_be_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-desktop.png"), full_page=True)


def test_websocket_snapshot_updates_cards_in_place(open_page, site):
    page = open_page()
    page.eval_on_selector(f'.card[data-ip="{BITAXE}"]', "c => { c.dataset.marker = 'same-node'; }")
    site.miner(BITAXE).set(hashrate_hs=2.5e12, temp_c=66.0)
    site.miner(CGMINER).set(power_w=70.0)
    site.poll()  # a poll round: its snapshot goes out over /ws
    bitaxe = card(page, BITAXE)
    expect(bitaxe).to_contain_text("2.50 TH/s")
    expect(bitaxe).to_contain_text("66.0 °C")
    expect(bitaxe).to_have_attribute("data-marker", "same-node")  # updated, not re-created
    expect(card(page, CGMINER).locator("dd").nth(1)).to_have_text("70.0 W")
    expect(page.locator("#totals .tile-hash dd").nth(0)).to_have_text("6.60 TH/s")
    expect(page.locator("#t-power-note")).to_be_hidden()  # all three online miners report now
    assert order(page) == ORDER

    # The live point is appended to the chart.
    points = "() => Chart.getChart(document.getElementById('chart')).data.datasets[0].data.slice(-1)[0].y"
    page.wait_for_function(f"({points})() === 6.6e12")


def test_untrusted_strings_are_shown_as_text(open_page, site):
    page = open_page()
    evil = '<img src=x onerror="window.__pwned=1">'
    miner = site.miner(BITAXE)
    miner.set(model=evil, hostname="<b>host</b>")
    site.poll()  # the model is taken from a good reading
    miner.fail(MinerProtocolError(f"{evil}<script>window.__pwned=2</script>"))
    site.poll()
    expect(card(page, BITAXE).locator(".card-title")).to_have_text(evil)
    expect(card(page, BITAXE).locator(".card-error")).to_contain_text("<script>")
    assert page.locator("#cards img, #cards script, #cards b").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_discovery_shows_progress_and_adds_what_it_found(open_page, site):
    page = open_page()
    log_in(page)
    expect(page.get_by_label("Subnet to scan")).to_have_value(f"{NET}.0/24")
    page.get_by_label("Subnet to scan").fill(f"{SCAN_NET}.0/24")
    page.get_by_role("button", name="Discover").click()
    assert ("POST", "/api/discover", {"subnet": f"{SCAN_NET}.0/24"}) in open_page.requests
    # Progress comes over /ws and from the 1 s GET /api/discover poll; the scan is quick on loopback.
    expect(page.locator("#discover-text")).to_have_text(
        re.compile(rf"^(Scanning|Done) {SCAN_NET}\.0/24: \d+ / 254 probed, found [01]$"))
    expect(page.locator("#discover-text")).to_have_text(f"Done {SCAN_NET}.0/24: 254 / 254 probed, found 1",
                                                        timeout=30_000)
    assert page.eval_on_selector("#discover-progress", "p => [p.value, p.max]") == [254, 254]
    expect(page.locator(".toast")).to_contain_text("Discovery finished: found 1 miner")
    expect(page.locator("#discover-btn")).to_be_enabled()
    expect(page.locator("#discover-found li")).to_have_text([re.compile(rf"^bitaxe{SCAN_NET}\.50")])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-discovery.png"), full_page=True)
    # The server added it to the fleet; the page refreshes rather than wait for a poll round.
    expect(card(page, f"{SCAN_NET}.50")).to_be_visible()
    expect(card(page, f"{SCAN_NET}.50").locator(".status")).to_have_text("online", timeout=10_000)


def test_remove_asks_for_confirmation(open_page, site):
    page = open_page()
    log_in(page)
    target = card(page, OFFLINE)
    dialog = page.locator("#confirm")
    target.get_by_role("button", name="Remove").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Remove {OFFLINE}?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(target).to_be_visible()
    assert not [r for r in open_page.requests if r[0] == "DELETE"]

    target.get_by_role("button", name="Remove").click()
    dialog.get_by_role("button", name="Remove").click()
    expect(target).to_have_count(0)
    expect(page.locator(".toast")).to_contain_text(f"Removed {OFFLINE}")
    assert [r[:2] for r in open_page.requests if r[0] == "DELETE"] == [("DELETE", f"/api/miners/{OFFLINE}")]
    expect(page.locator("#t-total")).to_have_text("4")  # after the refresh snapshot
    assert OFFLINE not in [r.ip for r in site.runtime.fleet.records()]
    site.poll()  # and it does not come back from a live snapshot
    expect(page.locator("#t-total")).to_have_text("4")
    expect(target).to_have_count(0)


def test_writes_need_login_and_login_page_works(open_page, site):
    open_page.expected_http_errors = 2  # the logged-out restart and the wrong password: 401 on purpose
    page = open_page()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.locator("#logout-btn")).to_be_hidden()

    # Logged out: a write answers 401 and sends the user to the login page.
    card(page, BITAXE).get_by_role("button", name="Restart").click()
    page.locator("#confirm").get_by_role("button", name="Restart").click()
    page.wait_for_url("**/login**")
    assert site.miner(BITAXE).called("restart") == []

    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong password")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("#logout-btn")).to_be_visible()

    card(page, BITAXE).get_by_role("button", name="Restart").click()
    page.locator("#confirm").get_by_role("button", name="Restart").click()
    expect(page.locator(".toast")).to_contain_text(f"Restart sent to {BITAXE}")
    assert ("POST", f"/api/miners/{BITAXE}/restart") in [r[:2] for r in open_page.requests]
    assert site.miner(BITAXE).called("restart") == [()]

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()


def test_add_miner_by_ip(open_page, site):
    page = open_page()
    log_in(page)
    new_ip = f"{NET}.77"  # no miner answers there: added, then shown offline by its real driver
    page.get_by_label("IP address").fill(new_ip)
    page.get_by_label("Family").fill("bitaxe")
    page.locator("#add-form").get_by_role("button", name="Add").click()
    expect(card(page, new_ip)).to_be_visible()
    assert ("POST", "/api/miners", {"ip": new_ip, "family": "bitaxe"}) in open_page.requests
    expect(page.get_by_label("IP address")).to_have_value("")
    expect(card(page, new_ip).locator(".status")).to_have_text("offline")
    assert site.record(new_ip).family == "bitaxe"


def test_chart_loads_history_and_switches_range(open_page):
    page = open_page()
    count = "() => Chart.getChart(document.getElementById('chart')).data.datasets[0].data.length"
    page.wait_for_function(f"({count})() >= 288")  # the seeded day: one point per 5-minute bucket
    assert ("GET", "/api/history?range=24h", None) in open_page.requests
    page.get_by_role("button", name="1h", exact=True).click()
    expect(page.get_by_role("button", name="1h", exact=True)).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(f"({count})() <= 62")
    assert ("GET", "/api/history?range=1h", None) in open_page.requests


def test_reconnects_after_the_socket_drops(open_page, site):
    open_page.allowed_errors = ("WebSocket connection to",)  # the socket is closed by the server on purpose
    page = open_page()  # live: its first socket is open (and was announced) before the count starts
    # Counted from here, not across a reload: under load the first page's socket could be announced
    # after a listener set before the reload, and the count read 3 (CI on 8d905f7).
    sockets: list = []
    page.on("websocket", lambda ws: sockets.append(ws))
    site.restart_push()  # every socket gets "going away", as when the server restarts
    expect(page.locator("#live")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#live")).to_contain_text("reconnecting")
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=10_000)
    assert len(sockets) == 1  # one new socket: back at the first try (the new server is up first), no storm


def test_polls_rest_while_the_socket_is_refused(open_page, site):
    open_page.allowed_errors = ("WebSocket connection to",)  # the socket is refused on purpose
    site.runtime.hub.push.max_clients = 0  # the push server is "full": /ws answers 503
    page = open_page(wait_live=False)
    sockets: list = []
    page.on("websocket", lambda ws: sockets.append(ws))
    expect(page.locator("#live")).to_have_attribute("data-state", "reconnecting")
    expect(card(page, BITAXE)).to_contain_text("1.20 TH/s")
    site.miner(BITAXE).set(hashrate_hs=3.0e12)  # the poller reads it within 2 s
    expect(card(page, BITAXE)).to_contain_text("3.00 TH/s", timeout=15_000)  # the page's 10 s REST poll
    assert len(sockets) >= 1  # and it kept trying to reconnect
    site.runtime.hub.push.max_clients = 200
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=15_000)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_viewport_has_no_horizontal_scroll(open_page, scheme):
    page = open_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                     is_mobile=True, has_touch=True, color_scheme=scheme)
    expect(page.locator("#cards .card")).to_have_count(5)
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"page is {width[0]} px wide in a {width[1]} px viewport"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-phone-{scheme}.png"), full_page=True)


# ---------- security.reads_require_login ----------

@pytest.fixture(scope="module")
def locked_site(tmp_path_factory):
    """A second app whose reads need a login too (security.reads_require_login: true)."""
    with real_site(tmp_path_factory.mktemp("dashboard-locked"), "127.83.80.2", fleet()[:1],
                   subnet=f"{NET}.0/24", reads_require_login=True) as s:
        yield s


def test_reads_that_need_login_go_to_the_login_page(browser, locked_site):
    with page_opener(browser, locked_site.base) as open_page:
        # Every start-up read of the page answers 401 on purpose, one console line each; the bound
        # leaves room for reads that land before the redirect on a slower run.
        open_page.expected_http_errors = 12
        page = open_page(wait_live=False)
        page.wait_for_url("**/login**")
        assert open_page.http_errors and all("401" in line for line in open_page.http_errors), open_page.http_errors
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        expect(card(page, BITAXE)).to_be_visible()
