"""The Automation page (/automation) in Debian's Chromium against the REAL app: rules from
config.yaml (read-only) and from the API with their live state, the form that adds, edits and
deletes rules through /api/rules (the server's 400 reason shown word for word, nothing saved),
and the control decision's layer and rule from /api/autocontrol. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app

from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.60.2"  # this file's own loopback range, 127.83.60.0/24
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
TICK_S = 5  # autocontrol.tick_sec's minimum: rule states change on ticks
FIRING_RULE = {"name": "cheap-percent", "when": {"price_below": 30}, "then": {"action": "percent", "value": 40}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app: a flat 24.5 p/kWh, one config rule (armed at that price), no miners."""
    path = tmp_path_factory.mktemp("automation-real") / "config.yaml"
    path.write_text(
        "network:\n  subnet: 127.83.61.0/24\n"
        "polling:\n  interval_sec: 2\n  timeout_sec: 1\n"
        "battery:\n  source: simulated\n  poll_sec: 2\n"
        f"autocontrol:\n  tick_sec: {TICK_S}\n"
        "prices:\n  source: fixed\n  currency: GBP\n  unit: p/kWh\n  fixed: {price: 24.5}\n"
        "rules:\n"
        "  - name: stop-when-dear\n    when: {price_above: 30}\n    until: {price_below: 25}\n"
        "    then: {action: sleep}\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        reply = requests.post(base + "/api/rules", json=FIRING_RULE, headers=AUTH, timeout=5)
        assert reply.status_code == 201, reply.text
        yield base


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def api_rules(base):
    return {r["name"]: r for r in requests.get(base + "/api/rules", timeout=5).json()["rules"]}


def rule_card(page, name):
    return page.locator(f'#rules li.rule[data-name="{name}"]')


def log_in(page, base):
    """Through the page's own "Log in" link: the login page returns to /automation (?next=)."""
    page.goto(base + "/automation")
    page.locator("#login-link").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/automation$"))
    expect(page.locator("#logout-btn")).to_be_visible()


def test_login_never_returns_to_another_host(open_page, server):
    page = open_page("/login?next=//evil.example/x")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(server + "/")


def test_lists_config_and_api_rules_with_their_state_and_the_decision(open_page, server):
    page = open_page("/automation")
    expect(page.locator("#rules li.rule")).to_have_count(2)
    # Priority order: config.yaml's first.
    assert page.locator("#rules li.rule").evaluate_all("lis => lis.map(li => li.dataset.name)") == [
        "stop-when-dear", "cheap-percent"]

    config = rule_card(page, "stop-when-dear")
    expect(config.locator(".rule-source")).to_have_text("config.yaml")
    expect(config.locator(".rule-state")).to_have_text("armed")
    expect(config.locator(".rule-when")).to_have_text("When price above 30 p/kWh")
    expect(config.locator(".rule-until")).to_have_text("Until price below 25 p/kWh")
    expect(config.locator(".rule-then")).to_have_text("Then sleep → whole fleet")
    expect(config.locator(".rule-ro")).to_have_text("Defined in config.yaml (read-only: change it there)")
    expect(config.locator(".rule-meta")).to_have_text("Last fired never Fired today 0")
    expect(config.get_by_role("button")).to_have_count(0)

    api = rule_card(page, "cheap-percent")
    expect(api.locator(".rule-source")).to_have_text("API")
    expect(api.locator(".rule-then")).to_have_text("Then power 40 % → whole fleet")
    # The flat 24.5 p/kWh is below 30: the rule fires at the next control tick (the page polls every 10 s).
    expect(api.locator(".rule-state")).to_have_text("firing", timeout=(TICK_S + 12) * 1000)
    expect(api).to_have_attribute("data-state", "firing")
    expect(api.locator(".rule-meta")).to_have_text(re.compile(r"^Last fired \d\d:\d\d.* \(\d+ (s|min) ago\) Fired today 1$"))
    # Logged out: nothing to edit, the form is not offered, the page says why.
    expect(api.get_by_role("button")).to_have_count(0)
    expect(page.locator("#rule-editor")).to_be_hidden()
    expect(page.locator("#rules-login")).to_be_visible()

    # The control decision names the rules layer and the rule; the legend marks that layer.
    expect(page.locator("#dec-layer")).to_have_text("Rules", timeout=15_000)
    expect(page.locator("#dec-rule")).to_have_text("cheap-percent")
    expect(page.locator("#dec-target")).to_have_text(re.compile(r"^40 %"))
    expect(page.locator("#dec-reason")).to_contain_text("cheap-percent")
    expect(page.locator("#precedence li")).to_have_count(6)
    expect(page.locator('#precedence li[aria-current="step"]')).to_have_attribute("data-layer", "rules")
    assert page.locator("#precedence li").evaluate_all("lis => lis.map(li => li.dataset.layer)") == [
        "safety", "override", "ems", "rules", "price", "policy"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "automation-desktop.png"), full_page=True)


def test_add_edit_and_delete_a_rule_through_the_form(open_page, server):
    page = open_page("/automation")
    log_in(page, server)
    expect(page.locator("#rule-editor")).to_be_visible()
    expect(rule_card(page, "stop-when-dear").get_by_role("button")).to_have_count(0)  # logged in, still read-only
    expect(rule_card(page, "cheap-percent").get_by_role("button", name="Edit rule cheap-percent")).to_be_visible()
    expect(page.locator("#when-price_above + .price-unit")).to_have_text("p/kWh")

    # Add: a weekday night window for one family, 30 %, with guards.
    form = page.locator("#rule-form")
    form.get_by_label("Name").fill("quiet nights")
    page.locator("#when-time-from").fill("22:00")
    page.locator("#when-time-to").fill("07:00")
    for day in ("mon", "tue", "wed", "thu", "fri"):
        page.locator(f'input[data-day="when"][value="{day}"]').check()
    form.get_by_label("A family").check()
    page.locator("#rf-family").select_option("bitaxe")
    page.locator("#rf-action").select_option("percent")
    page.locator("#rf-value").fill("30")
    page.locator("#rf-cooldown_min").fill("15")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator(".toast-ok")).to_have_text("Rule “quiet nights” added")
    card = rule_card(page, "quiet nights")
    expect(card).to_be_visible()
    expect(card.locator(".rule-when")).to_have_text("When 22:00–07:00 Mon–Fri")
    expect(card.locator(".rule-then")).to_have_text("Then power 30 % → family bitaxe")
    expect(card.locator(".rule-guards")).to_have_text("at most every 15 min")
    saved = api_rules(server)["quiet nights"]
    assert saved["when"] == {"time": {"from": "22:00", "to": "07:00", "days": ["mon", "tue", "wed", "thu", "fri"]}}
    assert saved["target"] == {"family": "bitaxe"} and saved["then"] == {"action": "percent", "value": 30}
    assert saved["cooldown_min"] == 15 and saved["source"] == "api"
    expect(page.locator("#rf-name")).to_have_value("")  # the form is empty again

    # A bad rule: the server's own reason, the field marked, nothing created.
    before = api_rules(server)
    form.get_by_label("Name").fill("too much")
    page.locator("#when-price_above").fill("30")
    page.locator("#rf-action").select_option("percent")
    page.locator("#rf-value").fill("150")
    open_page.expected_http_errors = 3  # the refused POST, PUT and a bad time window below: Chromium logs each 4xx
    page.get_by_role("button", name="Add rule").click()
    body = {"name": "too much", "enabled": True, "when": {"price_above": 30}, "then": {"action": "percent", "value": 150}}
    api_error = requests.post(server + "/api/rules", json=body, headers=AUTH, timeout=5).json()["error"]
    assert api_error == "then.value: must be 0 to 100, got 150"
    expect(page.locator("#rule-error")).to_have_text(api_error)
    expect(page.locator("#rf-value")).to_have_attribute("aria-invalid", "true")
    assert api_rules(server).keys() == before.keys()
    expect(page.locator("#rules li.rule")).to_have_count(3)

    # Another refusal from a trigger: only one end of a time window.
    page.locator("#rf-value").fill("50")
    page.locator("#when-price_above").fill("")
    page.locator("#when-time-from").fill("06:00")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("#rule-error")).to_have_text(
        "when.time: give both from and to (or neither, with days, for whole days)")
    assert api_rules(server).keys() == before.keys()
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#rule-error")).to_be_hidden()

    # Edit: the form is filled from the rule; a PUT replaces it.
    card.get_by_role("button", name="Edit rule quiet nights").click()
    expect(page.locator("#form-title")).to_have_text("Edit rule “quiet nights”")
    expect(page.locator("#rf-name")).to_have_value("quiet nights")
    expect(page.locator("#when-time-from")).to_have_value("22:00")
    expect(page.locator('input[data-day="when"][value="sat"]')).not_to_be_checked()
    expect(page.locator('input[data-day="when"][value="fri"]')).to_be_checked()
    expect(page.locator("#rf-family")).to_have_value("bitaxe")
    expect(page.locator("#rf-value")).to_have_value("30")
    page.locator("#rf-value").fill("20")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".toast-ok").filter(has_text="saved")).to_have_text("Rule “quiet nights” saved")
    expect(card.locator(".rule-then")).to_have_text("Then power 20 % → family bitaxe")
    assert api_rules(server)["quiet nights"]["then"] == {"action": "percent", "value": 20}
    expect(page.locator("#form-title")).to_have_text("Add a rule")

    # A PUT refused by the server changes nothing either.
    card.get_by_role("button", name="Edit rule quiet nights").click()
    page.locator("#rf-max_per_day").fill("0")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#rule-error")).to_have_text("max_per_day: must be 1 to 1000, got 0")
    expect(page.locator("#rf-max_per_day")).to_have_attribute("aria-invalid", "true")
    assert "max_per_day" not in api_rules(server)["quiet nights"]
    page.get_by_role("button", name="Cancel edit").click()

    # Delete, after a confirmation (cancel first: nothing happens).
    card.get_by_role("button", name="Delete rule quiet nights").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_contain_text("Delete rule “quiet nights”?")
    dialog.get_by_role("button", name="Cancel").click()
    assert "quiet nights" in api_rules(server)
    card.get_by_role("button", name="Delete rule quiet nights").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator(".toast-ok").filter(has_text="deleted")).to_have_text("Rule “quiet nights” deleted")
    expect(card).to_have_count(0)
    assert "quiet nights" not in api_rules(server)
    assert requests.get(server + "/api/rules/quiet%20nights", timeout=5).status_code == 404
    assert len(open_page.http_errors) == 3


def test_a_rule_for_a_tag_round_trips_through_the_form(open_page, server):
    page = open_page("/automation")
    log_in(page, server)
    form = page.locator("#rule-form")
    form.get_by_label("Name").fill("shed at night")
    page.locator("#when-time-from").fill("23:00")
    page.locator("#when-time-to").fill("06:00")
    form.get_by_label("A tag").check()
    expect(page.locator("#rf-family-row")).to_be_hidden()
    page.locator("#rf-tag").fill(" shed ")
    page.locator("#rf-action").select_option("sleep")
    page.get_by_role("button", name="Add rule").click()
    card = rule_card(page, "shed at night")
    expect(card.locator(".rule-then")).to_have_text("Then sleep → tag shed")
    assert api_rules(server)["shed at night"]["target"] == {"tag": "shed"}
    card.get_by_role("button", name="Edit rule shed at night").click()
    expect(form.get_by_label("A tag")).to_be_checked()
    expect(page.locator("#rf-tag")).to_have_value("shed")
    page.get_by_role("button", name="Cancel edit").click()
    expect(page.locator("#rf-tag-row")).to_be_hidden()
    requests.delete(server + "/api/rules/shed%20at%20night", headers=AUTH, timeout=5).raise_for_status()


def test_phone_layout(open_page, server):
    page = open_page("/automation", viewport={"width": 390, "height": 844}, device_scale_factor=2,
                     is_mobile=True, has_touch=True)
    log_in(page, server)
    expect(page.locator("#rules li.rule")).to_have_count(2)
    expect(page.locator("#rule-editor")).to_be_visible()
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"page is {width[0]} px wide in a {width[1]} px viewport"
    # The page links fold behind the Menu button (templates/_pages_nav.html), which opens them under the bar.
    expect(page.get_by_role("link", name="Automation")).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="Automation")).to_have_attribute("aria-current", "page")
    page.keyboard.press("Escape")
    expect(page.get_by_role("link", name="Automation")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "automation-phone.png"), full_page=True)
