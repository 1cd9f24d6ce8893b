"""The miner detail dialog in Debian's Chromium against the REAL app (real_site.py: create_app,
its runtime and API, scripted drivers per IP): identity, numbers, boards, pools, chips, and
controls shown per capability, with the JSON each control posts and the way errors read.

Miners (scripted, on 127.83.84.x; the web server on 127.83.83.1):
  .2  bitaxe      restart, fan, frequency, mode, pools (an AxeOS without pause: no sleep/wake)
  .30 cgminer     restart, pools
  .40 whatsminer  power_watts, power_percent, sleep, wake, restart, reboot, mode, pools
  .50 vnish S19   chips (+ most controls)

Screenshots land in test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
import time

import pytest
from harness import ARTIFACTS, expect, page_opener
from real_site import ScriptedMiner, card, log_in, real_site

from miners.base import (BoardStatus, ChipStatus, MinerAuthError, MinerStatus, NotSupported, PoolStatus)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.83.1"  # this file owns 127.83.83.0/24 and 127.83.84.0/24
NET = "127.83.84"
BITAXE, CGMINER, WHATSMINER, VNISH = (f"{NET}.{n}" for n in (2, 30, 40, 50))
SECRET = "p00l-secret"


def _pool(url, user, priority, status="Alive", active=False, accepted=None, rejected=None):
    return PoolStatus(url, user, status, active, priority, accepted, rejected)


def _s19_chips() -> list[ChipStatus]:
    """Three boards of 76 chips: board 1 chip 7 red with errors, board 0 chip 3 weak."""
    def rate(b, i):
        return 0.0 if (b, i) == (1, 7) else 0.28e12 if (b, i) == (0, 3) else 0.45e12

    return [ChipStatus(b, i, hashrate_hs=rate(b, i), state="red" if (b, i) == (1, 7) else "ok",
                       temp_c=66.0 + (i % 7), frequency_mhz=525.0, voltage_mv=1300.0,
                       errors=12 if (b, i) == (1, 7) else 0)
            for b in range(3) for i in range(76)]


def fleet() -> list[ScriptedMiner]:
    bitaxe = MinerStatus(
        hashrate_hs=1.2e12, expected_hashrate_hs=1.25e12, power_w=15.3, temp_c=55.5, fan_rpm=[4200],
        fan_percent=60, uptime_s=93784, hostname="bitaxe-kitchen", mac="aa:bb:cc:00:00:02",
        model="Bitaxe Gamma 601", firmware="AxeOS", firmware_version="v2.4.0", frequency_mhz=525.0,
        voltage_mv=1150.0, shares_accepted=1520, shares_rejected=3, errors=["fan 2 not detected"],
        boards=[BoardStatus(0, hashrate_hs=1.2e12, expected_hashrate_hs=1.25e12, temp_c=55.5, chip_temp_c=61.2,
                            chips=1, frequency_mhz=525.0, voltage_mv=1150.0)],
        pools=[_pool("stratum+tcp://public-pool.io:21496", "bc1qexample.kitchen", 0, active=True,
                     accepted=1520, rejected=3),
               _pool("stratum+tcp://solo.ckpool.org:3333", "bc1qexample.kitchen", 1, status="Unknown")])
    cgminer = MinerStatus(
        hashrate_hs=90e12, temp_c=74.0, fan_rpm=[5200, 5150], uptime_s=86000, model="Avalon 1246",
        firmware="cgminer", firmware_version="4.11.1", shares_accepted=800, shares_rejected=2,
        boards=[BoardStatus(i, hashrate_hs=30e12, temp_c=72.0 + i, chips=114) for i in range(3)],
        pools=[_pool("stratum+tcp://btc.pool.example:3333", "acct.avalon", 0, active=True, accepted=800,
                     rejected=2)])
    whatsminer = MinerStatus(
        hashrate_hs=126e12, expected_hashrate_hs=128e12, power_w=3276.0, temp_c=82.0, fan_rpm=[4800, 4810],
        uptime_s=400000, hostname="wm-garage", mac="c4:11:04:00:00:40", model="Whatsminer M50S",
        firmware="btminer", firmware_version="20240425.15.REL", shares_accepted=51200, shares_rejected=40,
        frequency_mhz=600.0,
        boards=[BoardStatus(i, hashrate_hs=42e12, expected_hashrate_hs=43e12, temp_c=70.0 + i, chip_temp_c=82.0 + i,
                            chips=105, frequency_mhz=600.0, hardware_errors=i) for i in range(3)],
        pools=[_pool("stratum+tcp://btc.viabtc.io:3333", "acct.wm", 0, active=True, accepted=51200, rejected=40),
               _pool("stratum+tcp://btc-eu.f2pool.com:1314", "acct.wm", 1),
               _pool("stratum+tcp://ss.antpool.com:3333", "acct.wm", 2, status="Dead")])
    vnish = MinerStatus(
        hashrate_hs=102.6e12, expected_hashrate_hs=104e12, power_w=2900.0, temp_c=71.0, fan_percent=70,
        uptime_s=7200, hostname="s19-vnish", model="Antminer S19j Pro", firmware="Vnish", firmware_version="1.2.6",
        frequency_mhz=525.0, voltage_mv=13200.0, errors=["chain 1: chip 7 answers with errors"],
        boards=[BoardStatus(i, hashrate_hs=34.2e12, chips=76, frequency_mhz=525.0, voltage_mv=13200.0,
                            temp_c=60.0 + i) for i in range(3)],
        pools=[_pool("stratum+tcp://stratum.braiins.com:3333", "acct.s19", 0, active=True)])
    return [
        ScriptedMiner(BITAXE, "bitaxe", bitaxe, capabilities={"fan", "frequency", "mode", "pools", "restart"}),
        ScriptedMiner(CGMINER, "cgminer", cgminer, capabilities={"pools", "restart"}),
        ScriptedMiner(WHATSMINER, "whatsminer", whatsminer, capabilities={
            "mode", "pools", "power_percent", "power_watts", "reboot", "restart", "sleep", "wake"}),
        ScriptedMiner(VNISH, "vnish", vnish, modes=("1900W", "2500W", "3100W"), chips=_s19_chips(), capabilities={
            "autodownscale", "chips", "frequency", "mode", "pools", "power_watts", "reboot", "restart", "sleep",
            "wake"}),
    ]


def seed_history(runtime) -> None:
    """24 h of 5-minute rounds, as the poller would have written them (the per-miner chart reads them)."""
    ids = {r.ip: r.id for r in runtime.fleet.records()}
    now = time.time()
    for i in range(288, 0, -1):
        runtime.history.add_round(now - i * 300, [
            (ids[BITAXE], "sha256d", 1.2e12, 15.3, 55.5, 4200), (ids[CGMINER], "sha256d", 90e12, None, 74.0, 5200),
            (ids[WHATSMINER], "sha256d", 126e12, 3276.0, 82.0, 4810), (ids[VNISH], "sha256d", 102.6e12, 2900.0, 71.0, None)])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with real_site(tmp_path_factory.mktemp("detail"), HOST, fleet(), subnet=f"{NET}.0/24",
                   before_start=seed_history) as s:
        yield s


@pytest.fixture
def open_page(browser, site):
    site.reset()
    with page_opener(browser, site.base) as opener:
        yield opener


@pytest.fixture
def fleet_page(open_page):
    """fleet_page(logged_in=False, **context options) -> a dashboard page with every card shown."""

    def _open(logged_in=False, **options):
        page = open_page(**options)
        if logged_in:
            log_in(page)
        expect(card(page, VNISH)).to_be_visible()
        return page

    return _open


def open_detail(page, ip, via="title"):
    c = card(page, ip)
    if via == "title":
        c.locator(".card-title a").click()
    else:
        c.get_by_role("button", name="Details").click()
    dlg = page.locator("#detail")
    expect(dlg).to_be_visible()
    expect(dlg.locator("#d-ip")).to_have_text(ip)
    return dlg


def close_detail(page, escape=False):
    if escape:
        page.keyboard.press("Escape")
    else:
        page.locator("#d-close").click()
    expect(page.locator("#detail")).to_be_hidden()
    # The dialog's "close" event (which clears the #miner= hash) is a task queued after it hides:
    # wait for it, or it may clear a hash the test sets next.
    page.wait_for_function("!location.hash.startsWith('#miner=')")


def action_buttons(dlg):
    return dlg.locator("#d-controls button[data-action]").evaluate_all(
        "bs => bs.filter(b => b.checkVisibility()).map(b => b.textContent)")


def toasts(page):
    return page.locator(".toast")


def posted(open_page, path):
    """The JSON bodies the pages POSTed or PUT to ``path`` (page.on("request"))."""
    return [body for method, p, body in list(open_page.requests) if method in ("POST", "PUT") and p == path]


def set_range(locator, value):
    locator.evaluate("(r, v) => { r.value = v; r.dispatchEvent(new Event('input', { bubbles: true })); }", value)


def test_details_show_identity_numbers_boards_pools_and_history(fleet_page, site, open_page):
    page = fleet_page()
    dlg = open_detail(page, BITAXE)
    assert page.evaluate("location.hash") == f"#miner={BITAXE}"
    expect(dlg.locator("#d-title")).to_have_text("Bitaxe Gamma 601")
    expect(dlg.locator("#d-family")).to_have_text("bitaxe")
    expect(dlg.locator("#d-status")).to_have_text("online")
    expect(dlg.locator("#d-fw")).to_have_text("AxeOS v2.4.0")
    expect(dlg.locator("#d-ip")).to_have_attribute("href", f"http://{BITAXE}/")
    expect(dlg.locator("#d-ip")).to_have_attribute("target", "_blank")
    expect(dlg.locator("#d-host")).to_have_text("bitaxe-kitchen")
    expect(dlg.locator("#d-mac")).to_have_text("aa:bb:cc:00:00:02")
    numbers = dlg.locator("#d-numbers")
    for text in ("1.20 TH/s", "of 1.25 TH/s expected", "15.3 W", "55.5 °C", "4200 rpm", "525 MHz", "1150 mV",
                 "1520 / 3"):
        expect(numbers).to_contain_text(text)

    boards = dlg.locator("#d-boards tr")
    expect(boards).to_have_count(1)
    expect(boards.first.locator("th, td")).to_have_text(
        ["0", "1.20 TH/s / 1.25 TH/s", "55.5 °C · chip 61.2 °C", "1", "525 MHz", "1150 mV", "—"])
    pools = dlg.locator("#d-pools tr")
    expect(pools).to_have_count(2)
    expect(pools.nth(0).locator("th, td")).to_have_text(
        ["1", "stratum+tcp://public-pool.io:21496", "bc1qexample.kitchen", "Alive", "active", "1520 / 3"])
    expect(pools.nth(1)).to_contain_text("stratum+tcp://solo.ckpool.org:3333")
    expect(pools.nth(1)).not_to_contain_text("active")
    expect(dlg.locator("#d-notes")).to_have_text("fan 2 not detected")
    expect(dlg.locator("#d-chips-sec")).to_be_hidden()  # no "chips" capability

    # The per-miner chart: hashrate and power from /api/miners/<ip>/history.
    count = "(i) => Chart.getChart(document.getElementById('d-chart')).data.datasets[i].data.length"
    page.wait_for_function(f"({count})(0) >= 288 && ({count})(1) >= 288")
    assert ("GET", f"/api/miners/{BITAXE}/history?range=24h", None) in open_page.requests
    dlg.get_by_role("button", name="1h", exact=True).click()
    page.wait_for_function(f"({count})(0) <= 62")
    assert ("GET", f"/api/miners/{BITAXE}/history?range=1h", None) in open_page.requests

    # Live numbers follow the WebSocket while the dialog is open.
    site.miner(BITAXE).set(hashrate_hs=1.5e12)
    site.poll()
    expect(numbers).to_contain_text("1.50 TH/s")

    close_detail(page, escape=True)
    assert page.evaluate("location.hash") == ""
    dlg = open_detail(page, CGMINER, via="button")
    expect(dlg.locator("#d-title")).to_have_text("Avalon 1246")
    expect(dlg.locator("#d-boards tr")).to_have_count(3)
    expect(dlg.locator("#d-notes")).to_have_text("No errors reported.")
    close_detail(page)

    # A link with #miner=<ip> opens straight into the details.
    page.goto(page.url.split("#")[0] + f"#miner={WHATSMINER}")
    page.reload()
    expect(page.locator("#detail #d-title")).to_have_text("Whatsminer M50S")


def test_controls_follow_capabilities(fleet_page):
    page = fleet_page()

    # Bitaxe-like: mode, frequency + voltage, fan; restart only.
    dlg = open_detail(page, BITAXE)
    assert action_buttons(dlg) == ["Restart"]
    mode = dlg.get_by_label("Mode", exact=True)
    expect(mode.locator("option")).to_have_text(["Choose a mode…", "eco", "standard", "turbo", "overclock"])
    expect(dlg.get_by_label("Frequency (MHz)")).to_have_value("525")
    expect(dlg.get_by_label("Core voltage (mV)")).to_have_value("1150")
    expect(dlg.get_by_label("Automatic")).to_be_visible()
    expect(dlg.get_by_label("Fan speed")).to_have_value("60")
    expect(dlg.get_by_label("Power target (W)")).to_have_count(0)
    expect(dlg.get_by_label("Power (% of nominal)")).to_have_count(0)
    expect(dlg.get_by_role("button", name="Edit pools")).to_be_visible()
    expect(dlg.get_by_text("Auto-downscale")).to_have_count(0)
    close_detail(page)

    # Whatsminer-like: power in watts and percent, sleep/wake, reboot; no frequency or fan.
    dlg = open_detail(page, WHATSMINER)
    assert action_buttons(dlg) == ["Wake", "Sleep", "Restart", "Reboot"]
    expect(dlg.get_by_label("Power target (W)")).to_be_visible()
    expect(dlg.get_by_label("Power (% of nominal)")).to_be_visible()
    expect(dlg.locator(".power-now")).to_have_text("Drawing 3.28 kW now.")
    expect(dlg.get_by_label("Mode", exact=True).locator("option")).to_have_text(
        ["Choose a mode…", "low", "normal", "high"])
    expect(dlg.get_by_label("Frequency (MHz)")).to_have_count(0)
    expect(dlg.get_by_label("Fan speed")).to_have_count(0)
    close_detail(page)

    # Plain cgminer: restart and pools, nothing else.
    dlg = open_detail(page, CGMINER)
    assert action_buttons(dlg) == ["Restart"]
    expect(dlg.locator("#d-controls form")).to_have_count(0)
    expect(dlg.get_by_role("button", name="Edit pools")).to_be_visible()
    close_detail(page)

    # Cards: Sleep only where the miner can sleep, Wake only while it sleeps.
    expect(card(page, WHATSMINER).get_by_role("button", name="Sleep")).to_be_visible()
    expect(card(page, WHATSMINER).get_by_role("button", name="Wake")).to_be_hidden()
    for ip in (BITAXE, CGMINER):
        expect(card(page, ip).get_by_role("button", name="Sleep")).to_be_hidden()
        expect(card(page, ip).get_by_role("button", name="Wake")).to_be_hidden()
    expect(card(page, WHATSMINER).locator(".state-chip")).to_be_hidden()


def test_mode_frequency_fan_and_power_post_the_right_json(fleet_page, site, open_page):
    page = fleet_page(logged_in=True)
    dlg = open_detail(page, BITAXE)
    dlg.get_by_label("Mode", exact=True).select_option("eco")
    dlg.get_by_role("button", name="Apply").first.click()
    expect(toasts(page)).to_have_text([f"Mode eco sent to {BITAXE}"])
    expect(page.locator("#detail #toasts")).to_have_count(1)  # above the modal, not behind it
    expect(toasts(page)).to_be_in_viewport()
    assert posted(open_page, f"/api/miners/{BITAXE}/mode") == [{"mode": "eco"}]
    toasts(page).click()

    dlg.get_by_label("Frequency (MHz)").fill("550")
    dlg.get_by_label("Core voltage (mV)").fill("1200")
    dlg.get_by_label("Core voltage (mV)").press("Enter")
    expect(toasts(page)).to_have_text([f"Frequency 550 MHz, 1200 mV sent to {BITAXE}"])
    assert posted(open_page, f"/api/miners/{BITAXE}/frequency") == [{"mhz": 550, "voltage_mv": 1200}]
    toasts(page).click()
    # The re-read after the command shows the new setting.
    expect(dlg.locator("#d-numbers")).to_contain_text("550 MHz")

    dlg.get_by_label("Automatic").check()
    expect(dlg.get_by_label("Fan speed")).to_be_disabled()
    dlg.locator("form").filter(has=page.get_by_label("Automatic")).get_by_role("button", name="Apply").click()
    expect(toasts(page)).to_have_text([f"Fan automatic sent to {BITAXE}"])
    assert posted(open_page, f"/api/miners/{BITAXE}/fan") == [{"percent": None}]
    toasts(page).click()
    close_detail(page)

    dlg = open_detail(page, WHATSMINER)
    dlg.get_by_label("Power target (W)").fill("3000")
    dlg.get_by_label("Power target (W)").press("Enter")
    expect(toasts(page)).to_have_text([f"Power target 3000 W sent to {WHATSMINER}"])
    toasts(page).click()
    set_range(dlg.get_by_label("Power (% of nominal)"), "80")
    expect(dlg.locator("output").first).to_have_text("80 %")
    site.miner(WHATSMINER).answer("set_power_percent", "preset 'low' is the closest")  # the driver's note
    dlg.locator("form").filter(has=page.get_by_label("Power (% of nominal)")).get_by_role("button", name="Set").click()
    expect(toasts(page)).to_have_text([f"Power 80 % sent to {WHATSMINER}: preset 'low' is the closest"])
    assert posted(open_page, f"/api/miners/{WHATSMINER}/power") == [{"watts": 3000}, {"percent": 80}]
    assert site.miner(WHATSMINER).called("set_power_watts") == [(3000,)]
    assert site.miner(WHATSMINER).called("set_power_percent") == [(80,)]


def test_409_400_and_502_are_shown_readably(fleet_page, site, open_page):
    open_page.expected_http_errors = 3  # the scripted 400, 409 and 502
    page = fleet_page(logged_in=True)
    # 400 from the driver's own limits (the API's 1..5000 lets 1600 through; AxeOS's driver refuses it).
    site.miner(BITAXE).answer("set_frequency", ValueError("frequency 1600 MHz is outside 50..1500"))
    dlg = open_detail(page, BITAXE)
    dlg.get_by_label("Frequency (MHz)").fill("1600")
    dlg.get_by_label("Frequency (MHz)").press("Enter")
    expect(page.locator(".toast-error")).to_have_text(
        f"Error: Frequency 1600 MHz, 1150 mV on {BITAXE} was refused: frequency 1600 MHz is outside 50..1500")
    # The typed value stays for a correction; the live refresh does not reset it.
    expect(dlg.get_by_label("Frequency (MHz)")).to_have_value("1600")
    page.locator(".toast-error").click()
    close_detail(page)

    # 409: the capability went away with a firmware update (the server knows better than the page).
    site.miner(WHATSMINER).answer("set_power_watts", NotSupported(
        "whatsminer miners cannot set power watts on this firmware version"))
    dlg = open_detail(page, WHATSMINER)
    dlg.get_by_label("Power target (W)").fill("3000")
    dlg.get_by_label("Power target (W)").press("Enter")
    expect(page.locator(".toast-error")).to_have_text(
        f"Error: Power target 3000 W on {WHATSMINER} is not possible: "
        "whatsminer miners cannot set power watts on this firmware version")
    page.locator(".toast-error").click()

    # 502 with miner_error "auth": the miner refused our login, and the toast says where to set it.
    site.miner(WHATSMINER).answer("sleep", MinerAuthError("wrong password"))
    dlg.locator("#d-controls").get_by_role("button", name="Sleep").click()
    page.locator("#confirm").get_by_role("button", name="Sleep").click()
    expect(page.locator(".toast-error")).to_have_text(
        f"Error: Sleep on {WHATSMINER} failed: the miner refused the login: wrong password "
        "(set the miner's login under Miner login in its details)")
    site.poll()
    assert site.record(WHATSMINER).to_dict()["state"] == "mining"


def test_sleep_and_wake_from_the_card_with_state_chip(fleet_page, site, open_page):
    page = fleet_page(logged_in=True)
    wm = card(page, WHATSMINER)
    wm.get_by_role("button", name="Sleep").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_contain_text(f"Put {WHATSMINER} to sleep?")
    dialog.get_by_role("button", name="Cancel").click()
    assert posted(open_page, f"/api/miners/{WHATSMINER}/sleep") == []

    wm.get_by_role("button", name="Sleep").click()
    dialog.get_by_role("button", name="Sleep").click()
    expect(toasts(page)).to_have_text([f"Sleep sent to {WHATSMINER}"])
    assert posted(open_page, f"/api/miners/{WHATSMINER}/sleep") == [{}]
    # The server re-polls and pushes a snapshot: the card says "sleeping" and offers Wake.
    expect(wm.locator(".state-chip")).to_have_text("sleeping")
    expect(wm.locator(".status")).to_have_text("online")
    expect(wm.get_by_role("button", name="Sleep")).to_be_hidden()
    wm.get_by_role("button", name="Wake").click()  # no confirmation: it starts hashing
    expect(toasts(page).filter(has_text="Wake")).to_have_text(f"Wake sent to {WHATSMINER}")
    expect(wm.locator(".state-chip")).to_be_hidden()
    expect(wm.get_by_role("button", name="Sleep")).to_be_visible()

    # Reboot (the device) asks first too, and is a different endpoint than Restart.
    dlg = open_detail(page, WHATSMINER)
    # The Wake toast from the card is still up: it moved above the dialog's backdrop.
    expect(page.locator("#detail #toasts .toast").filter(has_text="Wake")).to_be_visible()
    dlg.locator("#d-controls").get_by_role("button", name="Reboot").click()
    expect(dialog).to_contain_text(f"Reboot {WHATSMINER}?")
    dialog.get_by_role("button", name="Reboot").click()
    expect(toasts(page).filter(has_text="Reboot")).to_have_text(f"Reboot sent to {WHATSMINER}")
    assert posted(open_page, f"/api/miners/{WHATSMINER}/reboot") == [{}]
    assert site.miner(WHATSMINER).called("reboot") == [()]
    assert posted(open_page, f"/api/miners/{WHATSMINER}/restart") == []
    assert site.miner(WHATSMINER).called("restart") == []


def test_pools_editor_posts_priority_order_and_never_shows_a_password(fleet_page, site, open_page):
    open_page.expected_http_errors = 1  # the scripted 400 for a bad pool list
    page = fleet_page(logged_in=True)
    dlg = open_detail(page, BITAXE)
    dlg.get_by_role("button", name="Edit pools").click()
    rows = dlg.locator(".pool-row")
    expect(rows).to_have_count(3)
    urls, users, passwords = (dlg.locator(f'.pool-row input[name="{n}"]') for n in ("url", "user", "password"))
    expect(urls.nth(0)).to_have_value("stratum+tcp://public-pool.io:21496")
    expect(urls.nth(1)).to_have_value("stratum+tcp://solo.ckpool.org:3333")
    expect(urls.nth(2)).to_have_value("")
    for i in range(3):
        expect(passwords.nth(i)).to_have_value("")
        expect(passwords.nth(i)).to_have_attribute("type", "password")

    urls.nth(2).fill("stratum+tcp://backup.example:3333")
    users.nth(2).fill("bc1qexample.backup")
    passwords.nth(2).fill(SECRET)
    rows.nth(2).get_by_role("button", name="Move pool 3 up").click()
    rows.nth(1).get_by_role("button", name="Move pool 2 up").click()
    expect(urls.nth(0)).to_have_value("stratum+tcp://backup.example:3333")
    expect(urls.nth(1)).to_have_value("stratum+tcp://public-pool.io:21496")

    # Client-side shape check: nothing is sent while a URL is not stratum+tcp://host:port.
    urls.nth(2).fill("http://solo.ckpool.org")
    dlg.get_by_role("button", name="Save pools").click()
    expect(rows.nth(2).locator(".field-error")).to_have_text("The URL must look like stratum+tcp://host:port.")
    expect(urls.nth(2)).to_have_attribute("aria-invalid", "true")
    assert posted(open_page, f"/api/miners/{BITAXE}/pools") == []

    # The server has the last word: a host it refuses comes back as a readable 400.
    urls.nth(2).fill("stratum+tcp://solo_ckpool:3333")
    dlg.get_by_role("button", name="Save pools").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_contain_text(f"Change the pools of {BITAXE}?")
    expect(confirm).to_contain_text("1. stratum+tcp://backup.example:3333")
    expect(confirm).not_to_contain_text(SECRET)
    confirm.get_by_role("button", name="Change pools").click()
    expect(page.locator(".toast-error")).to_have_text(
        f"Error: New pool list on {BITAXE} was refused: "
        "pool host 'solo_ckpool' is not a valid host name or IPv4 address")
    page.locator(".toast-error").click()

    urls.nth(2).fill("stratum+tcp://solo.ckpool.org:3333")
    dlg.get_by_role("button", name="Save pools").click()
    confirm.get_by_role("button", name="Change pools").click()
    expect(toasts(page)).to_have_text([f"New pool list sent to {BITAXE}"])
    assert posted(open_page, f"/api/miners/{BITAXE}/pools")[-1] == {"pools": [
        {"url": "stratum+tcp://backup.example:3333", "user": "bc1qexample.backup", "password": SECRET},
        {"url": "stratum+tcp://public-pool.io:21496", "user": "bc1qexample.kitchen"},
        {"url": "stratum+tcp://solo.ckpool.org:3333", "user": "bc1qexample.kitchen"},
    ]}
    # The editor is gone with its password field; the re-read table shows the new order, no password.
    expect(dlg.locator(".pool-row")).to_have_count(0)
    expect(dlg.locator("#d-pools tr").first).to_contain_text("stratum+tcp://backup.example:3333")
    expect(dlg.locator("#d-pools tr")).to_have_count(3)
    assert SECRET not in page.content()
    values = page.locator("input").evaluate_all("xs => xs.map(x => x.value)")
    assert SECRET not in values

    # Reopened, the editor starts from the miner's pools with empty password fields.
    dlg.get_by_role("button", name="Edit pools").click()
    expect(urls.nth(0)).to_have_value("stratum+tcp://backup.example:3333")
    expect(passwords.nth(0)).to_have_value("")


def test_chips_grid_shows_every_chip_with_a_legend(fleet_page, site):
    page = fleet_page()
    site.miner(VNISH).chips[5].state = '<img src=x onerror="window.__pwned=1">'  # a state only a miner would write
    dlg = open_detail(page, VNISH)
    expect(dlg.locator("#d-chips-sec")).to_be_visible()
    expect(dlg.locator(".chip-board")).to_have_count(3)
    expect(dlg.locator("#d-chips .chip")).to_have_count(228)
    expect(dlg.locator(".chip-board h4").nth(1)).to_have_text(
        re.compile(r"^Board 1 76 chips · 75 good · 1 problem · 33\.\d TH/s$"))
    expect(dlg.locator("#d-chips .c-bad")).to_have_count(2)  # the red chip and the one with a strange state
    expect(dlg.locator("#d-chips .c-h2")).to_have_count(1)  # 0.28 of 0.45 TH/s: weak
    expect(dlg.locator("#d-chips-legend")).to_contain_text("Hashrate:")
    expect(dlg.locator("#d-chips-legend")).to_contain_text("problem")
    expect(dlg.locator("#d-chips-legend .chip")).to_have_count(6)

    dlg.locator('#d-chips .chip[data-i="83"]').click()  # board 1, chip 7
    expect(dlg.locator("#d-chip-info")).to_have_text(
        "Board 1, chip 7: 0 H/s · red · 66.0 °C · 525 MHz · 1300 mV · 12 errors")
    dlg.locator('#d-chips .chip[data-i="5"]').click()
    expect(dlg.locator("#d-chip-info")).to_contain_text('<img src=x onerror="window.__pwned=1">')
    assert page.locator("#detail img").count() == 0
    assert page.evaluate("window.__pwned") is None

    # A miner without chips: the section stays hidden and /chips is never asked.
    close_detail(page)
    open_detail(page, WHATSMINER)
    expect(page.locator("#d-chips-sec")).to_be_hidden()


def test_credentials_form_stores_a_login_and_never_shows_it(fleet_page, site, open_page):
    page = fleet_page(logged_in=True)
    dlg = open_detail(page, CGMINER)
    state = dlg.locator(".creds-state")
    expect(state).to_have_text("No login stored: the firmware's factory login is tried.")
    expect(dlg.get_by_role("button", name="Clear login")).to_be_hidden()
    expect(dlg.locator('#d-creds input[name="password"]')).to_have_attribute("autocomplete", "new-password")
    dlg.get_by_label("Username").fill("root")
    dlg.locator('#d-creds input[name="password"]').fill("s3cret-pw")
    dlg.get_by_role("button", name="Save login").click()
    expect(toasts(page)).to_have_text([f"Login for {CGMINER} saved"])
    expect(state).to_have_text("✓ Credentials set (never shown).")
    expect(dlg.locator('#d-creds input[name="password"]')).to_have_value("")
    assert ("PUT", f"/api/miners/{CGMINER}/credentials",
            {"username": "root", "password": "s3cret-pw"}) in open_page.requests
    assert site.record(CGMINER).driver.credentials.username == "root"  # the driver was rebuilt with it
    assert "s3cret-pw" not in page.content()
    close_detail(page)
    open_detail(page, CGMINER)
    expect(state).to_have_text("✓ Credentials set (never shown).")  # from the detail's credentials_set

    # Clearing asks first, then DELETEs; the factory login applies again.
    dlg.get_by_role("button", name="Clear login").click()
    confirm = page.locator("#confirm")
    expect(confirm).to_contain_text(f"Forget the login for {CGMINER}?")
    confirm.get_by_role("button", name="Clear login").click()
    expect(state).to_have_text("No login stored: the firmware's factory login is tried.")
    expect(dlg.get_by_role("button", name="Clear login")).to_be_hidden()
    assert ("DELETE", f"/api/miners/{CGMINER}/credentials") in [r[:2] for r in open_page.requests]
    assert site.record(CGMINER).credentials_set is False


def test_logged_out_control_goes_to_login(fleet_page, site, open_page):
    open_page.expected_http_errors = 1  # the logged-out write answers 401
    page = fleet_page()
    dlg = open_detail(page, WHATSMINER)
    dlg.locator("#d-controls").get_by_role("button", name="Wake").click()
    page.wait_for_url("**/login**")
    assert site.miner(WHATSMINER).called("wake") == []  # refused before it reached the miner


def test_untrusted_strings_in_details_are_text(fleet_page, site):
    page = fleet_page()
    evil = '<img src=x onerror="window.__pwned=1">'
    site.miner(CGMINER).set(model=evil, hostname="<b>host</b>", firmware="<script>window.__pwned=2</script>",
                            errors=[evil], pools=[PoolStatus(evil, "<i>me</i>", "<u>Alive</u>", True, 0)])
    site.poll()
    dlg = open_detail(page, CGMINER)
    expect(dlg.locator("#d-title")).to_have_text(evil)
    expect(dlg.locator("#d-pools tr").first).to_contain_text(evil)
    expect(dlg.locator("#d-notes")).to_have_text(evil)
    expect(dlg.locator("#d-host")).to_have_text("<b>host</b>")
    dlg.get_by_role("button", name="Edit pools").click()
    expect(dlg.locator('.pool-row input[name="url"]').first).to_have_value(evil)
    assert page.locator("#detail img, #detail script, #detail b, #detail i, #detail u").count() == 0
    assert page.evaluate("window.__pwned") is None


def _no_sideways_scroll(page):
    sizes = page.evaluate("""() => {
        const body = document.getElementById('d-body');
        return [document.documentElement.scrollWidth, window.innerWidth, body.scrollWidth, body.clientWidth];
    }""")
    assert sizes[0] <= sizes[1], f"page is {sizes[0]} px wide in a {sizes[1]} px viewport"
    assert sizes[2] <= sizes[3], f"dialog content is {sizes[2]} px wide in {sizes[3]} px"


def test_screenshots_desktop_and_phone(fleet_page):
    ARTIFACTS.mkdir(exist_ok=True)
    page = fleet_page()
    dlg = open_detail(page, VNISH)
    expect(dlg.locator("#d-chips .chip")).to_have_count(228)
    page.wait_for_function("Chart.getChart(document.getElementById('d-chart')).data.datasets[0].data.length > 0")
    _no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "detail-desktop.png"))
    dlg.locator("#d-body").evaluate("b => { b.scrollTop = b.scrollHeight; }")
    page.screenshot(path=str(ARTIFACTS / "detail-desktop-end.png"))

    for scheme in ("light", "dark"):
        phone = fleet_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                           has_touch=True, color_scheme=scheme)
        dlg = open_detail(phone, WHATSMINER)
        phone.wait_for_function("Chart.getChart(document.getElementById('d-chart')).data.datasets[0].data.length > 0")
        box = dlg.bounding_box()
        assert box and box["width"] == 390 and box["height"] == 844, box  # the whole screen
        _no_sideways_scroll(phone)
        # Touch targets of the controls are at least 30 px high.
        heights = dlg.locator("#d-controls button").evaluate_all("bs => bs.map(b => b.getBoundingClientRect().height)")
        assert min(heights) >= 30, heights
        suffix = "" if scheme == "light" else "-dark"
        phone.screenshot(path=str(ARTIFACTS / f"detail-phone{suffix}.png"))
        body = dlg.locator("#d-body")
        for i in (1, 2, 3):
            body.evaluate("(b, i) => { b.scrollTop = i * (b.clientHeight - 60); }", i)
            phone.screenshot(path=str(ARTIFACTS / f"detail-phone{suffix}-{i}.png"))
        if scheme == "light":
            close_detail(phone)
            phone.screenshot(path=str(ARTIFACTS / "detail-phone-cards.png"), full_page=True)
