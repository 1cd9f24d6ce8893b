"""The error window (templates/_alerts.html, static/js/alerts.js) in Debian's Chromium against the
REAL app: simulated miners that stop answering become items with the bell's count, Clear and
Clear all acknowledge them, Mute / Unmute a kind, Send test reaches a local json:// receiver,
and the window on a phone. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from harness import ARTIFACTS, expect, page_opener, real_app

from simulator import MinerSpec, SimFleet
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "127.83.70.2"  # the web server; this file owns 127.83.70.0/24 and 127.83.71.0/24
NET = "127.83.71"
RECEIVER_HOST = "127.83.70.9"  # the json:// notification receiver
IPS = [f"{NET}.{10 + i}" for i in range(3)]
POLL_S = 1
ALERT_WAIT_MS = 30_000  # offline after one failed poll, then the next alerts check (every 10 s)
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


class Receiver:
    """A local HTTP server taking Apprise's json:// posts (no internet)."""

    def __init__(self, host: str) -> None:
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    outer.bodies.append(json.loads(raw or b"{}"))
                except ValueError:
                    outer.bodies.append({"raw": raw.decode("utf-8", "replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def receiver():
    rx = Receiver(RECEIVER_HOST)
    yield rx
    rx.close()


@pytest.fixture(scope="module")
def sim():
    fleet = SimFleet([MinerSpec("bitaxe", ip, restart_seconds=1.0) for ip in IPS], allow_any_client=True, seed=13)
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, sim, receiver):
    """The real app: three simulated Bitaxes, offline at the first failed poll, alerts to the receiver."""
    path = tmp_path_factory.mktemp("alerts-ui") / "config.yaml"
    path.write_text(
        f"network:\n  subnet: {NET}.0/24\n  port_offset: {sim.port_offset}\n"
        f"polling:\n  interval_sec: {POLL_S}\n  timeout_sec: 0.8\n  offline_after: 1\n"
        f"alerts:\n  urls: ['json://{RECEIVER_HOST}:{receiver.port}/ctl-hook']\n  offline_after_min: 0\n"
        f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
    )
    with real_app(path, HOST) as (base, runtime):
        for ip in IPS:
            reply = requests.post(base + "/api/miners", json={"ip": ip, "family": "bitaxe"}, headers=AUTH, timeout=10)
            assert reply.status_code in (200, 201), reply.text
        wait_until(lambda: all(m["status"] == "online" for m in requests.get(base + "/api/miners", timeout=5).json()),
                   "the three miners online")
        yield base


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def active(base: str) -> list[dict]:
    return requests.get(base + "/api/alerts", timeout=5).json()


@pytest.fixture
def faults(sim, server):
    """Stop miners for one test; afterwards they answer again and their problems clear."""
    down: list[str] = []

    def stop(*ips: str) -> None:
        for ip in ips:
            sim.set_fault(ip, "down")
            down.append(ip)

    yield stop
    for ip in down:
        sim.set_fault(ip, None)
    wait_until(lambda: not active(server), "every problem resolved", timeout=40)


@pytest.fixture
def open_page(browser, server):
    with page_opener(browser, server) as opener:
        yield opener


def log_in(page, base: str, path: str) -> None:
    """Through the error window's own "Log in to clear" link: the login page returns to ``path``."""
    page.locator("#alerts-btn").click()
    page.get_by_role("link", name="Log in to clear").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(path) + "$"))
    expect(page.locator("#logout-btn")).to_be_visible()


def test_offline_miner_shows_with_the_badge_then_clear(open_page, server, receiver, faults):
    # The fleet page: the count follows the socket's "alerts" messages. Frames and requests are
    # timed from before the page loads (a page without the socket first, then the fleet page).
    page = open_page("/events")
    frames: list[tuple[float, dict]] = []
    fetched: list[float] = []

    def on_frame(payload) -> None:
        if isinstance(payload, str) and payload.startswith("{") and '"alerts"' in payload:
            msg = json.loads(payload)
            if msg.get("type") == "alerts":
                frames.append((time.monotonic(), msg))

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    page.on("request", lambda r: fetched.append(time.monotonic()) if r.url.endswith("/api/alerts/status") else None)
    page.goto(server + "/")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    bell, count = page.locator("#alerts-btn"), page.locator("#alerts-count")
    expect(bell).to_have_attribute("aria-label", "Problems: none")
    expect(count).to_be_hidden()

    faults(IPS[0])
    expect(count).to_have_text("1", timeout=ALERT_WAIT_MS)
    # The refresh came from the socket's message, not from a poll (none while the socket is live).
    sent = [t for t, msg in frames if msg.get("count") == 1]
    assert sent, frames
    assert any(sent[0] <= t <= sent[0] + 2 for t in fetched), (sent, fetched)
    expect(bell).to_have_attribute("aria-label", "Problems: 1 not cleared")
    expect(bell).to_have_attribute("data-level", "warning")

    bell.click()
    dlg = page.get_by_role("dialog", name="Problems")
    expect(dlg).to_be_visible()
    item = dlg.locator(".alert-item")
    expect(item).to_have_count(1)
    expect(item.locator(".sev")).to_have_text("warning")
    expect(item.locator(".alert-title")).to_contain_text(f"{IPS[0]}")
    expect(item.locator(".alert-title")).to_contain_text("offline")
    link = item.get_by_role("link")
    expect(link).to_have_attribute("href", f"/#miner={IPS[0]}")
    since = item.locator("time")
    expect(since).to_have_text(re.compile(r"^\d+ (s|min) ago$"))
    # The exact time on hover: the server's since_ts in the browser's locale.
    since_ts = active(server)[0]["since_ts"]
    assert since.get_attribute("title") == page.evaluate("ts => new Date(ts * 1000).toLocaleString()", since_ts)
    # Without a session nothing can be cleared: the window says how.
    expect(dlg.get_by_role("button", name=re.compile("^Clear"))).to_have_count(0)
    expect(dlg.get_by_role("link", name="Log in to clear")).to_be_visible()
    expect(dlg.locator("#alerts-channels .channel")).to_have_count(1)
    url = dlg.locator("#alerts-channels .channel-url")
    # The channel's label (services/alerts/labels.py), never its URL: no path, user or token.
    expect(url).to_have_text(f"JSON webhook · {RECEIVER_HOST}:{receiver.port}")
    assert "/ctl-hook" not in dlg.inner_html()
    page.screenshot(path=str(ARTIFACTS / "alerts-window-logged-out.png"))
    page.keyboard.press("Escape")
    expect(dlg).to_be_hidden()
    expect(bell).to_be_focused()  # the dialog hands focus back

    log_in(page, server, "/")
    bell.click()
    expect(dlg).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "alerts-window.png"))
    dlg.get_by_role("button", name=re.compile(f"^Clear: .*{re.escape(IPS[0])}")).click()
    expect(count).to_be_hidden()
    expect(bell).to_have_attribute("aria-label", "Problems: none")
    expect(item).to_have_count(0)
    expect(dlg.locator("#alerts-empty")).to_have_text("No problems to clear (1 cleared).")
    assert [a["acknowledged"] for a in active(server)] == [True]  # still active: the miner is still down

    dlg.get_by_label("Show cleared").check()
    expect(item).to_have_count(1)
    expect(item).to_have_class(re.compile("alert-acked"))
    expect(item.locator(".state-chip")).to_have_text("cleared")


def test_clear_all_on_a_page_without_the_socket(open_page, server, faults):
    page = open_page("/automation")  # no /ws here: the bell polls every 15 s
    log_in(page, server, "/automation")
    faults(IPS[1], IPS[2])
    wait_until(lambda: len([a for a in active(server) if not a["acknowledged"]]) == 2, "two offline alerts", timeout=40)
    expect(page.locator("#alerts-count")).to_have_text("2", timeout=20_000)

    page.locator("#alerts-btn").focus()  # by keyboard this time
    page.keyboard.press("Enter")
    dlg = page.get_by_role("dialog", name="Problems")
    expect(page.locator("#alerts-close")).to_be_focused()
    expect(dlg.locator(".alert-item")).to_have_count(2)
    expect(dlg.locator("#alerts-summary")).to_have_text("2 not cleared")
    dlg.get_by_role("button", name="Clear all").click()
    expect(page.locator(".toast").filter(has_text="Cleared")).to_have_text("Cleared 2")
    expect(page.locator("#alerts-count")).to_be_hidden()
    expect(dlg.locator(".alert-item")).to_have_count(0)
    expect(dlg.get_by_role("button", name="Clear all")).to_be_hidden()
    assert all(a["acknowledged"] for a in active(server))


def test_mute_unmute_and_send_test(open_page, server, receiver, faults):
    page = open_page("/events", viewport={"width": 390, "height": 844})  # a phone
    log_in(page, server, "/events")
    faults(IPS[0])
    expect(page.locator("#alerts-count")).to_have_text("1", timeout=ALERT_WAIT_MS)
    page.locator("#alerts-btn").click()
    dlg = page.get_by_role("dialog", name="Problems")
    item = dlg.locator(".alert-item")
    expect(item).to_have_count(1)
    # The window fills the phone's screen.
    box = dlg.bounding_box()
    assert box["x"] == 0 and box["width"] == 390 and box["height"] >= 800, box
    page.screenshot(path=str(ARTIFACTS / "alerts-window-phone.png"))

    # Mute the kind from the item's menu, by keyboard.
    summary = item.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    choices = item.get_by_role("group", name=re.compile("^Mute .* for$"))
    expect(choices.get_by_role("button")).to_have_text(["1 h", "8 h", "24 h", "until unmuted"])
    page.screenshot(path=str(ARTIFACTS / "alerts-mute-menu-phone.png"))
    choices.get_by_role("button", name="8 h").click()
    expect(page.locator(".toast").filter(has_text="muted")).to_contain_text("muted for 8 h")
    status = requests.get(server + "/api/alerts/status", timeout=5).json()
    assert list(status["muted"]) == ["miner_offline"]
    assert abs(status["muted"]["miner_offline"] - (time.time() + 8 * 3600)) < 120
    muted_rows = dlg.locator("#alerts-muted .muted-row")
    expect(muted_rows).to_have_count(1)
    expect(muted_rows).to_contain_text("until")
    expect(item.get_by_role("button", name=re.compile("^Unmute"))).to_be_visible()
    muted_rows.get_by_role("button", name=re.compile("^Unmute")).click()
    expect(page.locator(".toast").filter(has_text="unmuted")).to_be_visible()
    expect(dlg.locator("#alerts-muted")).to_have_text("Nothing muted.")
    assert requests.get(server + "/api/alerts/status", timeout=5).json()["muted"] == {}

    # The kind picker mutes any kind "until unmuted".
    dlg.get_by_label("Mute", exact=True).select_option("fan_failed")
    dlg.get_by_label("for", exact=True).select_option(label="until unmuted")
    dlg.locator("#alerts-mute-form").get_by_role("button", name="Mute").click()
    expect(dlg.locator("#alerts-muted .muted-row")).to_contain_text("until unmuted")
    assert requests.get(server + "/api/alerts/status", timeout=5).json()["muted"] == {"fan_failed": None}
    requests.post(server + "/api/alerts/mute", json={"kind": "fan_failed", "unmute": True}, headers=AUTH, timeout=5)

    # Send test: one channel, its result in the window, the message at the receiver.
    before = len(receiver.bodies)
    dlg.get_by_role("button", name="Send test").click()
    result = dlg.locator("#alerts-test-results .channel")
    expect(result).to_have_count(1, timeout=25_000)
    expect(result.locator(".channel-state")).to_have_text("sent")
    expect(result).to_have_attribute("data-state", "ok")
    wait_until(lambda: len(receiver.bodies) > before, "the test message at the receiver", timeout=10)
    assert any("test" in json.dumps(b).lower() for b in receiver.bodies[before:])
    expect(dlg.locator("#alerts-channels .channel-state")).to_have_text("working", timeout=20_000)
    dlg.locator("#alerts-test-results").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "alerts-window-test-phone.png"))
