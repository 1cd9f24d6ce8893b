"""The Tuning section of the miner detail dialog (static/js/miner_tuning.js) in Debian's Chromium against the
REAL app and simulated miners: a Vnish 1.2.6 S19 (limits from its /model), a Vnish 3.9.0 S9 (per-board
voltage) and a Bitaxe (no section). Inputs are bounded by the firmware's limits, per-board frequency and the
thermal target reach the simulator, the API's refusal shows under the form. Desktop and phone sizes;
screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app

from simulator import MinerSpec, SimFleet
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.99.2"  # the web server; this file owns 127.83.99.0/24 (miners in 127.86.7.20-22)
NET = "127.86.7"
S19, S9, AXE = f"{NET}.20", f"{NET}.21", f"{NET}.22"
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("vnish", S19, model="Antminer S19", firmware_version="1.2.6", restart_seconds=0.5),
             MinerSpec("vnish_legacy", S9, model="Antminer S9", firmware_version="3.9.0", restart_seconds=0.5),
             MinerSpec("bitaxe", AXE)]
    with SimFleet(specs, allow_any_client=True, seed=29) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def server(tmp_path_factory, sim):
    path = tmp_path_factory.mktemp("miner-tuning") / "config.yaml"
    path.write_text(
        f"network:\n  subnet: {NET}.0/24\n  port_offset: {sim.port_offset}\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1.5\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        for ip, family in ((S19, "vnish"), (S9, "vnish"), (AXE, "bitaxe")):
            reply = requests.post(base + "/api/miners", json={"ip": ip, "family": family}, headers=AUTH, timeout=10)
            assert reply.status_code in (200, 201), reply.text
        yield base


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def logged_in_detail(open_page, ip: str, **options):
    """A logged-in dashboard with the miner's detail dialog open (the #miner= deep link)."""
    page = open_page("/login", wait_live=False, **options)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#logout-btn")).to_be_visible()
    page.goto(re.sub(r"/(#.*)?$", "/", page.url) + f"#miner={ip}")
    page.reload()
    dlg = page.locator("#detail")
    expect(dlg).to_be_visible()
    expect(dlg.locator("#d-ip")).to_have_text(ip)
    return page, dlg


def test_vnish_1x_limits_per_board_frequency_thermal_and_a_refusal(open_page, server, sim):
    page, dlg = logged_in_detail(open_page, S19)
    box = dlg.locator("#d-tuning")
    expect(dlg.locator("#d-tuning-sec")).to_be_visible()
    box.scroll_into_view_if_needed()
    # The S19's /model limits bound the inputs and are said in words.
    expect(box.locator('[data-role="tn-limits"]')).to_contain_text("Frequency 50–1000 MHz (the firmware's limits)")
    expect(box.locator('[data-role="tn-limits"]')).to_contain_text("warns above 850 MHz")
    board1 = box.locator('[data-role="tn-board-1"]')
    mhz = board1.get_by_label("MHz")
    expect(mhz).to_have_attribute("min", "50")
    expect(mhz).to_have_attribute("max", "1000")
    expect(box.locator('form[data-role^="tn-board-"]')).to_have_count(3)
    expect(board1.get_by_label("mV")).to_have_count(0)  # one voltage for all boards on 1.x
    thermal = box.locator('[data-role="tn-thermal"]').get_by_label("Target (°C)")
    expect(thermal).to_have_value("65")
    expect(thermal).to_have_attribute("max", "90")

    # Outside the limits the browser refuses before anything is sent.
    writes = sim.miner(S19).settings_writes
    mhz.fill("1200")
    board1.get_by_role("button", name="Apply").click()
    assert mhz.evaluate("i => i.validity.rangeOverflow") is True
    assert sim.miner(S19).settings_writes == writes

    mhz.fill("720")
    board1.get_by_role("button", name="Apply").click()
    expect(page.locator("#toasts")).to_contain_text(f"Board 1: 720 MHz sent to {S19}")
    expect(page.locator("#toasts")).to_contain_text("switched to 'disabled'")
    chains = sim.miner(S19).settings["miner"]["overclock"]["chains"]
    assert [c["freq"] for c in chains] == [0, 720, 0]
    expect(box.locator('[data-role="tn-board-1"]').get_by_label("MHz")).to_have_value("720")

    thermal = box.locator('[data-role="tn-thermal"]').get_by_label("Target (°C)")
    thermal.fill("60")
    box.locator('[data-role="tn-thermal"]').get_by_role("button", name="Set").click()
    expect(page.locator("#toasts")).to_contain_text(f"Thermal target 60 °C sent to {S19}")
    assert sim.miner(S19).settings["miner"]["cooling"]["mode"] == {"name": "auto", "param": 60}
    page.screenshot(path=str(ARTIFACTS / "miner-tuning-desktop.png"), full_page=True)

    # The firmware cannot hold a target with the fan on manual: the API's 409 shows under the form.
    sim.miner(S19).settings["miner"]["cooling"]["mode"] = {"name": "manual", "param": 80}
    open_page.expected_http_errors = 1
    try:
        form = box.locator('[data-role="tn-thermal"]')
        form.get_by_label("Target (°C)").fill("62")
        form.get_by_role("button", name="Set").click()
        error = form.locator(".tn-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("Not possible: the fan is in manual mode")
        assert sim.miner(S19).settings["miner"]["cooling"]["mode"]["name"] == "manual"
    finally:
        sim.miner(S19).settings["miner"]["cooling"]["mode"] = {"name": "auto", "param": 65}


def test_vnish_3x_per_board_voltage_and_no_section_for_a_bitaxe(open_page, server, sim):
    page, dlg = logged_in_detail(open_page, S9)
    box = dlg.locator("#d-tuning")
    board2 = box.locator('[data-role="tn-board-2"]')
    expect(board2.get_by_label("mV")).to_be_visible()
    expect(box.locator('[data-role="tn-limits"]')).to_contain_text("documented range")
    board2.get_by_label("MHz").fill("600")
    board2.get_by_label("mV").fill("9000")
    board2.get_by_role("button", name="Apply").click()
    expect(page.locator("#toasts")).to_contain_text(f"Board 2: 600 MHz, 9000 mV sent to {S9}")
    conf = sim.miner(S9).conf
    assert (conf["bitmain-freq3"], conf["bitmain-voltage3"]) == ("600", "900")  # centivolts, like the config
    expect(box.locator('[data-role="tn-board-2"]').get_by_label("mV")).to_have_value("9000")

    # Another miner in the same dialog: a Bitaxe has no thermal target, so no Tuning section.
    page.goto(re.sub(r"#.*$", "", page.url) + f"#miner={AXE}")
    page.reload()
    expect(dlg.locator("#d-ip")).to_have_text(AXE)
    expect(dlg.locator("#d-tuning-sec")).to_be_hidden()
    assert not any("/tuning" in path for _, path, _ in open_page.requests if AXE in path)


def test_phone_layout_has_no_sideways_scroll(open_page, server):
    page, dlg = logged_in_detail(open_page, S9, **PHONE)
    box = dlg.locator("#d-tuning")
    box.locator('[data-role="tn-thermal"]').scroll_into_view_if_needed()
    expect(box.locator('[data-role="tn-thermal"]').get_by_role("button", name="Set")).to_be_visible()
    widths = page.evaluate("""() => {
        const body = document.getElementById('d-body');
        const rights = [...document.querySelectorAll('#d-tuning form')].map((f) => f.getBoundingClientRect().right);
        return [document.documentElement.scrollWidth, body.scrollWidth, body.clientWidth, Math.max(...rights)];
    }""")
    page_w, body_scroll, body_client, form_right = widths
    assert page_w <= 390 and body_scroll <= body_client and form_right <= 390, widths
    page.screenshot(path=str(ARTIFACTS / "miner-tuning-phone.png"))
