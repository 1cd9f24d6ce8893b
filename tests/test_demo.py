"""End to end: ./start.sh --demo (simulator + gunicorn) serves a live fleet; SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver(BaseHTTPRequestHandler):
    """A local webhook: what Apprise's json:// channel posts (title, message, type)."""

    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory, receiver):
    port = free_port()
    data = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if k not in ("CONFIG", "DATA_DIR", "API_TOKEN", "ADMIN_PASSWORD")}
    control = f"127.80.7.2:{free_port()}"
    env.update(PORT=str(port), DEMO_DIR=str(data), DEMO_NET="127.80.7", ALERT_URLS=receiver,
               SIM_CONTROL_PORT=control.rsplit(":", 1)[1])
    log = open(data / "out.log", "w")
    proc = subprocess.Popen(["./start.sh", "--demo"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    yield {"proc": proc, "base": base, "data": data, "token": None, "control": control}
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


def get(url):
    return requests.get(url, timeout=5)


def test_demo_serves_at_least_10_online_miners_within_a_minute(demo):
    deadline = time.monotonic() + 60
    miners = []
    while time.monotonic() < deadline:
        try:
            miners = get(demo["base"] + "/api/miners").json()
            if sum(m["online"] for m in miners) >= 10:
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    assert sum(m["online"] for m in miners) >= 10, (demo["data"] / "out.log").read_text()[-3000:]
    stats = get(demo["base"] + "/api/stats").json()
    miners = get(demo["base"] + "/api/miners").json()
    assert stats["miners_total"] == len(miners)
    assert stats["online"] == sum(m["online"] for m in miners)
    assert stats["offline"] == len(miners) - stats["online"]
    from simulator.fleet import DEMO_LAYOUT

    assert len(miners) >= len(DEMO_LAYOUT) - 2  # every family; the two NMMiners may still be on their way
    assert {"bitaxe", "cgminer", "antminer"} <= {m["family"] for m in miners}
    page = get(demo["base"] + "/")
    assert page.status_code == 200 and "vendor/chart" in page.text


def test_demo_shows_prices_break_even_and_an_example_rule(demo):
    """Issue 12: a time-of-use table offline, break-even per miner, the example rule, the deciding layer."""
    test_demo_serves_at_least_10_online_miners_within_a_minute(demo)
    prices = get(demo["base"] + "/api/prices").json()
    assert (prices["source"], prices["currency"], prices["unit"]) == ("fixed", "USD", "¢/kWh")
    assert prices["now"] in (9, 16, 32) and prices["slots"] and prices["error"] is None
    table = get(demo["base"] + "/api/profitability").json()
    known = [m for m in table["miners"] if m["break_even"] is not None]
    assert len(known) >= 5 and all(0 < m["break_even"] < 1 for m in known)  # USD per kWh
    rules = get(demo["base"] + "/api/rules").json()["rules"]
    assert [r["name"] for r in rules if r["source"] == "config"] == ["peak-half-power"]
    deadline = time.monotonic() + 30  # the first control tick comes within autocontrol.tick_sec (10 s)
    while (control := get(demo["base"] + "/api/autocontrol").json())["layer"] is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert control["layer"] in ("safety", "override", "ems", "rules", "price", "policy")
    assert control["rule"] in (None, "peak-half-power")


def test_websocket_pushes_snapshots(demo):
    import simple_websocket

    ws = simple_websocket.Client.connect(demo["base"].replace("http", "ws") + "/ws")
    try:
        first = json.loads(ws.receive(timeout=10))
        assert first["type"] == "snapshot" and first["stats"]["miners_total"] >= 10
        assert "discovery" in first
        ws.send("ping")
        seen = set()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not {"pong", "snapshot"} <= seen:
            message = ws.receive(timeout=10)
            seen.add("pong" if message == "pong" else json.loads(message)["type"])
        assert {"pong", "snapshot"} <= seen  # a new snapshot after the next poll round (every 5 s)
    finally:
        ws.close()


def demo_secrets(data) -> dict[str, str]:
    """The demo's secrets, from the owner-only file start.sh writes (never from its output)."""
    lines = (data / "credentials.txt").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_secrets_are_in_an_owner_only_file_not_on_stdout(demo):
    path = demo["data"] / "credentials.txt"
    assert path.stat().st_mode & 0o777 == 0o600
    secrets = demo_secrets(demo["data"])
    assert secrets["api_token"] == (demo["data"] / "api_token").read_text().strip()
    assert secrets["password"] and secrets["ems_token"]
    log = (demo["data"] / "out.log").read_text()
    assert str(path) in log
    for name in ("password", "api_token", "ems_token"):
        assert secrets[name] not in log, name
    session = requests.Session()
    reply = session.post(demo["base"] + "/login", json={"password": secrets["password"]}, timeout=10)
    assert reply.status_code == 200 and session.get(demo["base"] + "/api/session", timeout=5).json()["logged_in"]


def test_writes_need_the_token(demo):
    token = demo_secrets(demo["data"])["api_token"]
    miners = get(demo["base"] + "/api/miners").json()
    target = next(m["ip"] for m in miners if m["family"] == "cgminer")
    url = f"{demo['base']}/api/miners/{target}/restart"
    assert requests.post(url, timeout=5).status_code == 401
    reply = requests.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert reply.status_code == 200, reply.text
    for path in ("/api/miners", "/api/stats", "/api/discover", "/api/health", "/api/events", "/"):
        assert token not in get(demo["base"] + path).text


def test_the_simulated_house_and_the_controller_decide_live(demo):
    """The demo's house reads every 5 s and the controller ticks every 10 s, sending its first settings."""
    deadline = time.monotonic() + 60
    status, battery, commands = {}, {}, []
    while time.monotonic() < deadline:
        battery = get(demo["base"] + "/api/battery").json()
        status = get(demo["base"] + "/api/autocontrol").json()
        events = get(demo["base"] + "/api/events?limit=200").json()
        commands = [e for e in events if e["actor"] == "controller" and e["kind"] == "command"]
        if status.get("decided_at") and commands:
            break
        time.sleep(1)
    reading = battery.get("reading") or {}
    assert 0 <= reading.get("soc_pct", -1) <= 100 and reading.get("pv_w") is not None, battery
    assert status["enabled"] is True and status["policy"] == "ratchet", status
    assert status["decided_at"] and status["reason"] and 0 <= status["target_percent"] <= 100, status
    assert status["failsafe"] is False and status["battery_age_sec"] < 60, status
    assert commands, "the controller sent no command within a minute"


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(what)


def test_stopping_a_simulated_miner_raises_one_alert_and_starting_it_resolves_it(demo):
    """Issue 13's demo check: stop a miner -> an error-window item and one message; start it -> both resolved."""
    test_demo_serves_at_least_10_online_miners_within_a_minute(demo)
    ip = "127.80.7.10"
    ctl = [sys.executable, "-m", "simulator.ctl", "--control", demo["control"]]
    _wait(lambda: any(m["ip"] == ip and m["online"] for m in get(demo["base"] + "/api/miners").json()), 60,
          f"{ip} never online")

    def offline_alert():
        return [a for a in get(demo["base"] + "/api/alerts").json() if a["kind"] == "miner_offline" and a["miner"] == ip]

    def messages(word):
        return [m for m in Receiver.received if ip in m["title"] and word in m["title"]]

    subprocess.run([*ctl, "stop", ip], cwd=ROOT, check=True, timeout=30, capture_output=True)
    [alert] = _wait(offline_alert, 60, f"no error-window item for {ip}")
    assert alert["severity"] == "warning" and alert["acknowledged"] is False
    assert get(demo["base"] + "/api/alerts/status").json()["count"] >= 1
    _wait(lambda: messages("offline"), 30, f"no message for {ip}: {Receiver.received}")
    subprocess.run([*ctl, "start", ip], cwd=ROOT, check=True, timeout=30, capture_output=True)
    _wait(lambda: not offline_alert(), 60, f"{ip}'s alert never resolved")
    _wait(lambda: messages("back online"), 30, f"no 'back online' message for {ip}: {Receiver.received}")
    assert len(messages("offline")) == 1 and len(messages("back online")) == 1


def test_sigterm_stops_cleanly(demo):
    proc = demo["proc"]
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        alive = subprocess.run(["ps", "-o", "pid,stat,cmd", "-g", str(proc.pid)], capture_output=True, text=True)
        raise AssertionError(f"the demo did not stop within 30 s; still running:\n{alive.stdout}") from None
    assert code in (0, -signal.SIGTERM, 143)
    log = (demo["data"] / "out.log").read_text()
    assert "controller stopped" in log
    assert "Traceback" not in log
