"""Issue 14's demo check, end to end: ./start.sh --demo with $MQTT_HOST pointing at a real mosquitto
announces a Home Assistant device per simulated miner, and the mining switch's command pauses one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.mqtt_broker import Broker, Listener, require_mosquitto
from tests.test_demo import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
NET = "127.80.8"  # this demo's own /24 (test_demo uses 127.80.7)
BITAXE = f"{NET}.10"  # the demo layout's first miner: a Bitaxe (AxeOS v2.6.0 has no pause: see below)


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(what)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    require_mosquitto()
    data = tmp_path_factory.mktemp("demo-mqtt")
    broker = Broker(data / "broker", f"{NET}.1").start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("CONFIG", "DATA_DIR", "API_TOKEN", "ADMIN_PASSWORD")}
    env.update(PORT=str(port), DEMO_DIR=str(data), DEMO_NET=NET, MQTT_HOST=broker.host, MQTT_PORT=str(broker.port),
               SIM_CONTROL_PORT=str(free_port()))
    log = open(data / "out.log", "w")
    proc = subprocess.Popen(["./start.sh", "--demo"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "broker": broker, "log": data / "out.log"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        broker.stop()


def test_demo_announces_a_device_per_miner_and_a_switch_pauses_one(demo):
    base = demo["base"]
    miners = _wait(lambda: [m for m in requests.get(base + "/api/miners", timeout=5).json() if m["online"]]
                   if sum(m["online"] for m in requests.get(base + "/api/miners", timeout=5).json()) >= 15 else None,
                   90, "the demo's miners never came online: " + demo["log"].read_text()[-2000:])
    listener = Listener(demo["broker"], "homeassistant/#", "minerfleet/#")
    try:
        def devices():
            found = set()
            for topic, raw in listener.latest().items():
                if topic.startswith("homeassistant/") and raw:
                    found.add(json.loads(raw)["device"]["identifiers"][0])
            return found

        wanted = {f"minerfleet_home_{m['ip'].replace('.', '_')}" for m in miners}
        _wait(lambda: wanted <= devices(), 60, f"devices missing: {sorted(wanted - devices())}")
        assert "minerfleet_home" in devices()  # the controller's own device
        # A Bitaxe whose AxeOS can pause (v2.14+ in the demo layout: the fifth entry, .14).
        target = next(m for m in miners if m["family"] == "bitaxe" and "sleep" in m["capabilities"])
        mid = target["ip"].replace(".", "_")
        before = len(listener.messages)
        listener.publish(f"minerfleet/{mid}/mining/set", "OFF")
        answer = listener.wait_for(f"minerfleet/{mid}/result", after=before, timeout=15)
        assert json.loads(answer)["ok"] is True, answer

        def paused():
            m = requests.get(f"{base}/api/miners/{target['ip']}", timeout=5).json()
            return m if m.get("last_reading", {}).get("state") in ("paused", "sleeping") else None

        _wait(paused, 30, f"{target['ip']} still mining after the switch command")
        listener.publish(f"minerfleet/{mid}/mining/set", "ON")
    finally:
        listener.close()
