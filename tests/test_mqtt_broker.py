"""The real app publishing to a real mosquitto: discovery, state, last will, commands, broker restart, deletes.

Simulated miners and brokers on 127.85.1.x (the MQTT range in docs/contracts.md); a paho client in the
test subscribes like Home Assistant would. Rounds are run by the test (no scheduler).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from simulator import MinerSpec, SimFleet
from tests.ha_discovery import check_all, render
from tests.integration import AUTH, live_app, wait_for
from tests.mqtt_broker import Broker, Listener, require_mosquitto
from tests.resources import fd_names, open_fds

pytestmark = pytest.mark.integration

NET = "127.85.1"
BITAXE, ANTMINER, WHATSMINER = f"{NET}.10", f"{NET}.11", f"{NET}.12"
BX, AM, WM = (ip.replace(".", "_") for ip in (BITAXE, ANTMINER, WHATSMINER))


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("bitaxe", BITAXE, firmware_version="v2.14.0"), MinerSpec("antminer", ANTMINER),
             MinerSpec("whatsminer", WHATSMINER)]
    with SimFleet(specs, allow_any_client=True, seed=3) as fleet:
        yield fleet


@pytest.fixture
def broker(tmp_path):
    require_mosquitto()
    with Broker(tmp_path / "broker", f"{NET}.1") as b:
        yield b


def app_with_mqtt(tmp_path, sim, broker, **mqtt):
    tmp_path.mkdir(parents=True, exist_ok=True)
    section = {"enabled": True, "host": broker.host, "port": broker.port, "min_interval_sec": 0, **mqtt}
    return live_app(tmp_path, f"{NET}.0/24", sim.port_offset, mqtt=section)


def add_all(runtime):
    for ip, family in ((BITAXE, "bitaxe"), (ANTMINER, "antminer"), (WHATSMINER, "whatsminer")):
        runtime.fleet.add(ip, family)


def configs(listener, prefix="homeassistant"):
    return {t: p for t, p in listener.latest().items() if t.startswith(prefix + "/")}


def state(listener, mid):
    raw = listener.last(f"minerfleet/{mid}/state")
    return json.loads(raw) if raw else None


def test_discovery_and_state_after_a_poll_round(tmp_path, sim, broker):
    listener = Listener(broker, "#")
    try:
        with app_with_mqtt(tmp_path, sim, broker) as live:
            rt = live.runtime
            add_all(rt)
            rt.start_mqtt()
            rt.fleet.poll_round()
            listener.wait(lambda l: all((state(l, m) or {}).get("online") for m in (BX, AM, WM)),
                          message="a state with online true for every miner")
            listener.wait_for("minerfleet/status", lambda p: p == b"online")
            found = listener.wait(lambda l: len(configs(l)) >= 40 and configs(l), message="discovery configs")
            assert check_all(found) == []
            # One HA device per miner, each via the controller's device.
            devices = {}
            for topic, raw in found.items():
                if raw:
                    device = json.loads(raw)["device"]
                    devices[device["identifiers"][0]] = device
            assert {f"minerfleet_home_{m}" for m in (BX, AM, WM)} | {"minerfleet_home"} == set(devices)
            assert devices[f"minerfleet_home_{WM}"]["via_device"] == "minerfleet_home"
            assert devices[f"minerfleet_home_{BX}"]["configuration_url"] == f"http://{BITAXE}/"
            # Controls where the firmware can: the Whatsminer a power number, the stock Antminer none.
            assert found[f"homeassistant/number/minerfleet_home_{WM}/power_target/config"]
            assert found[f"homeassistant/switch/minerfleet_home_{BX}/mining/config"]
            assert found.get(f"homeassistant/number/minerfleet_home_{AM}/power_target/config", b"") == b""
            # The state matches what the API shows, and the templates render as HA would.
            api = live.client.get(f"/api/miners/{BITAXE}").get_json()
            bx = state(listener, BX)
            assert bx["hashrate_hs"] == api["hashrate_hs"] and bx["power_w"] == round(api["power_w"], 1)
            assert bx["site"] == "home" and bx["ip"] == BITAXE and bx["mode"] == "mining"
            for key in ("hashrate_hs", "power_w", "temp_c", "fan_rpm", "online", "mode", "pool", "efficiency_j_th"):
                assert key in bx, key
            cfg = json.loads(found[f"homeassistant/sensor/minerfleet_home_{BX}/hashrate/config"])
            rendered = float(render(cfg["value_template"], listener.last(cfg["state_topic"])))
            assert rendered == pytest.approx(api["hashrate_hs"] / 1e12, rel=1e-3)
            listener.wait(lambda l: (l.json("minerfleet/fleet") or {}).get("online") == 3, message="fleet totals")
            assert listener.json("minerfleet/fleet")["site"] == "home"
            assert listener.json("minerfleet/control")["policy"] == "ratchet"
            assert listener.json("minerfleet/battery")["configured"] is True
            # Energy grows from the polled power between rounds (an estimate).
            time.sleep(1.1)
            rt.fleet.poll_round()
            listener.wait(lambda l: (state(l, BX) or {}).get("energy_kwh", 0) > 0, message="energy above 0")
            assert rt.mqtt.status()["connected"] is True and rt.mqtt.status()["devices"] == 3
        # A clean stop says offline itself (a DISCONNECT suppresses the will).
        listener.wait_for("minerfleet/status", lambda p: p == b"offline")
    finally:
        listener.close()


def test_last_will_when_the_connection_dies_then_back_online(tmp_path, sim, broker):
    listener = Listener(broker, "minerfleet/status")
    try:
        with app_with_mqtt(tmp_path, sim, broker, keepalive_sec=10) as live:
            rt = live.runtime
            rt.start_mqtt()
            listener.wait_for("minerfleet/status", lambda p: p == b"online")
            mark = len(listener.messages)
            # The app's TCP connection dies without a DISCONNECT (as on a crash): the broker sends the will.
            rt.mqtt._client.socket().shutdown(socket.SHUT_RDWR)
            listener.wait_for("minerfleet/status", lambda p: p == b"offline", after=mark)
            # paho reconnects by itself (backoff from 1 s) and the app says online again.
            mark = len(listener.messages)
            listener.wait_for("minerfleet/status", lambda p: p == b"online", after=mark, timeout=15)
            assert rt.mqtt.connects == 2
    finally:
        listener.close()


def test_switch_command_sleeps_a_simulated_bitaxe_and_wakes_it(tmp_path, sim, broker):
    listener = Listener(broker, "minerfleet/#")
    try:
        with app_with_mqtt(tmp_path, sim, broker) as live:
            rt = live.runtime
            add_all(rt)
            rt.fleet.poll_round()
            rt.start_mqtt()
            listener.wait(lambda l: (state(l, BX) or {}).get("mining") is True, message="bitaxe mining")
            mark = len(listener.messages)
            listener.publish(f"minerfleet/{BX}/mining/set", "OFF")
            result = json.loads(listener.wait_for(f"minerfleet/{BX}/result", after=mark))
            assert result["ok"] is True and result["control"] == "mining", result
            assert sim.miner(BITAXE).paused is True  # the simulator stopped hashing
            # The command's re-poll shows it at once (the throttle does not hold it back).
            listener.wait(lambda l: (state(l, BX) or {}).get("mode") == "paused", message="paused state")
            assert state(listener, BX)["mining"] is False and not state(listener, BX)["hashrate_hs"]
            rows = live.client.get("/api/events?limit=10", headers=AUTH).get_json()
            assert any(e["actor"] == "mqtt" and "sleep ok" in e["message"] for e in rows), rows
            mark = len(listener.messages)
            listener.publish(f"minerfleet/{BX}/mining/set", "ON")
            assert json.loads(listener.wait_for(f"minerfleet/{BX}/result", after=mark))["ok"] is True
            assert sim.miner(BITAXE).paused is False
    finally:
        sim.call(lambda: setattr(sim.miner(BITAXE), "paused", False))
        listener.close()


def test_bad_payloads_are_answered_and_the_client_carries_on(tmp_path, sim, broker):
    listener = Listener(broker, "minerfleet/#")
    try:
        with app_with_mqtt(tmp_path, sim, broker) as live:
            rt = live.runtime
            add_all(rt)
            rt.fleet.poll_round()
            rt.start_mqtt()
            listener.wait_for("minerfleet/status", lambda p: p == b"online")
            cases = [(f"minerfleet/{WM}/power/set", b"lots", f"minerfleet/{WM}/result", "expected a number"),
                     (f"minerfleet/{WM}/power/set", b"\xff\xfe", f"minerfleet/{WM}/result", "not UTF-8"),
                     (f"minerfleet/{BX}/power/set", b"15", f"minerfleet/{BX}/result", "cannot set power watts"),
                     (f"minerfleet/{BX}/mode/set", b"warp", f"minerfleet/{BX}/result", "unknown mode"),
                     (f"minerfleet/{AM}/jump/set", b"1", f"minerfleet/{AM}/result", "unknown control"),
                     ("minerfleet/10_9_9_9/mining/set", b"ON", "minerfleet/10_9_9_9/result", "no miner"),
                     ("minerfleet/control/policy/set", b"chaos", "minerfleet/control/result",
                      "policy: must be ratchet or surplus"),
                     (f"minerfleet/{WM}/mining/set", b"X" * 5000, f"minerfleet/{WM}/result", "longer than")]
            for topic, payload, result_topic, error in cases:
                mark = len(listener.messages)
                listener.publish(topic, payload)
                body = json.loads(listener.wait_for(result_topic, after=mark))
                assert body["ok"] is False and error in body["error"], (topic, body)
            # Still alive: a good command after all that works, and nothing changed on the miners.
            assert rt.mqtt.status()["connected"]
            assert {t.name for t in threading.enumerate()} >= {"mqtt-publish", "mqtt-commands"}
            mark = len(listener.messages)
            listener.publish(f"minerfleet/{WM}/power/set", "3000")
            body = json.loads(listener.wait_for(f"minerfleet/{WM}/result", after=mark))
            assert body["ok"] is True, body
            mark = len(listener.messages)
            listener.publish("minerfleet/control/autocontrol/set", "ON")
            assert json.loads(listener.wait_for("minerfleet/control/result", after=mark))["ok"] is True
            assert rt.autocontrol.controller.state.enabled is True
            listener.wait(lambda l: (l.json("minerfleet/control") or {}).get("enabled") is True,
                          message="control state enabled")
    finally:
        listener.close()


def test_broker_restart_reconnects_and_publishes_everything_again(tmp_path, sim, broker):
    with app_with_mqtt(tmp_path, sim, broker) as live:
        rt = live.runtime
        add_all(rt)
        rt.fleet.poll_round()
        rt.start_mqtt()
        wait_for(lambda: rt.mqtt.status()["connected"], message="connected")
        broker.stop()  # persistence off: every retained message is gone with it
        wait_for(lambda: not rt.mqtt.status()["connected"], message="disconnect noticed")
        assert "connection lost" in rt.mqtt.status()["last_error"]
        time.sleep(1.5)
        broker.start()
        wait_for(lambda: rt.mqtt.status()["connected"], timeout=30, message="reconnected")
        kinds = [e["kind"] for e in live.client.get("/api/events?limit=20", headers=AUTH).get_json()]
        assert kinds.count("mqtt_lost") == 1 and kinds.count("mqtt_connected") == 1, kinds  # not one per retry
        # A client that subscribes now gets the retained availability, discovery and states back.
        listener = Listener(broker, "#")
        try:
            listener.wait(lambda l: l.last("minerfleet/status") == b"online"
                          and all(state(l, m) for m in (BX, AM, WM))
                          and len([p for p in configs(l).values() if p]) >= 35, timeout=15,
                          message="retained state re-published")
            assert all(retain for t, _, retain in listener.messages if t == "minerfleet/status")
            assert check_all(configs(listener)) == []
        finally:
            listener.close()


def test_deleting_a_miner_empties_its_configs_and_state(tmp_path, sim, broker):
    with app_with_mqtt(tmp_path, sim, broker) as live:
        rt = live.runtime
        add_all(rt)
        rt.fleet.poll_round()
        rt.start_mqtt()
        listener = Listener(broker, "#")
        try:
            mine = f"minerfleet_home_{AM}/"
            listener.wait(lambda l: len([t for t, p in configs(l).items() if mine in t and p]) >= 5,
                          message="antminer configs")
            assert live.client.delete(f"/api/miners/{ANTMINER}", headers=AUTH).status_code == 200
            listener.wait(lambda l: all(p == b"" for t, p in configs(l).items() if mine in t)
                          and l.last(f"minerfleet/{AM}/state") == b"", message="emptied configs")
        finally:
            listener.close()
        # Nothing of it is retained any more; the other miners' are.
        later = Listener(broker, "#")
        try:
            later.wait(lambda l: state(l, BX) is not None, message="retained state of the others")
            time.sleep(0.3)
            assert not [t for t in later.latest() if AM in t]
            assert rt.mqtt.status()["devices"] == 2
        finally:
            later.close()


def test_battery_set_to_none_in_settings_empties_its_entity(tmp_path, sim, broker):
    """battery.* applies live (docs/settings.md): the SOC entity goes from Home Assistant at the next pass."""
    soc = "homeassistant/sensor/minerfleet_home_controller/soc/config"
    with app_with_mqtt(tmp_path, sim, broker) as live:
        rt = live.runtime
        rt.start_mqtt()
        listener = Listener(broker, "homeassistant/#")
        try:
            rt.fleet.poll_round()
            listener.wait(lambda l: bool(configs(l).get(soc)), message="the SOC entity announced")
            reply = live.client.patch("/api/settings", json={"battery.source": "none"}, headers=AUTH)
            assert reply.status_code == 200 and "battery.source" in reply.get_json()["applied"]
            rt.fleet.poll_round()  # the publisher's next pass
            listener.wait(lambda l: configs(l).get(soc) == b"", message="the SOC entity emptied")
            assert any(p for t, p in configs(listener).items() if "fleet_power" in t)  # the rest stays
        finally:
            listener.close()


def test_read_only_integration_takes_no_commands(tmp_path, sim, broker):
    listener = Listener(broker, "#")
    try:
        with app_with_mqtt(tmp_path, sim, broker, commands=False) as live:
            rt = live.runtime
            add_all(rt)
            rt.fleet.poll_round()
            rt.start_mqtt()
            listener.wait(lambda l: state(l, BX), message="state")
            listener.wait(lambda l: len([p for p in configs(l).values() if p]) >= 20, message="configs")
            time.sleep(0.3)
            announced = {t.split("/")[1] for t, p in configs(listener).items() if p}
            assert announced == {"sensor", "binary_sensor"}
            listener.publish(f"minerfleet/{BX}/mining/set", "OFF")
            time.sleep(1.0)
            assert listener.last(f"minerfleet/{BX}/result") is None and sim.miner(BITAXE).paused is False
            assert "mqtt-commands" not in {t.name for t in threading.enumerate()}
    finally:
        listener.close()


def test_password_broker_refuses_a_wrong_password_without_showing_it(tmp_path, sim):
    require_mosquitto()
    with Broker(tmp_path / "broker", f"{NET}.2", users={"fleet": "right-pass-1"}) as broker:
        with app_with_mqtt(tmp_path / "a", sim, broker, username="fleet", password="wrong-pass-2") as live:
            live.runtime.start_mqtt()
            status = wait_for(lambda: live.runtime.mqtt.status()["last_error"] and live.runtime.mqtt.status(),
                              message="an error shown")
            assert not status["connected"] and "refused" in status["last_error"]
            assert "wrong-pass" not in json.dumps(status)
        listener = Listener(broker, "minerfleet/status", username="fleet", password="right-pass-1")
        try:
            with app_with_mqtt(tmp_path / "b", sim, broker, username="fleet", password="right-pass-1") as live:
                live.runtime.start_mqtt()
                listener.wait_for("minerfleet/status", lambda p: p == b"online")
                assert live.runtime.mqtt.status()["connected"]
        finally:
            listener.close()


def test_threads_and_sockets_are_released_at_shutdown(tmp_path, sim, broker):
    with app_with_mqtt(tmp_path / "warm", sim, broker) as live:  # imports and first-time setup
        live.runtime.start_mqtt()
        wait_for(lambda: live.runtime.mqtt.status()["connected"], message="connected")
    time.sleep(0.3)
    fds, threads = open_fds(), threading.active_count()
    for run in range(2):
        with app_with_mqtt(tmp_path / f"run{run}", sim, broker) as live:
            add_all(live.runtime)
            live.runtime.start_mqtt()
            live.runtime.fleet.poll_round()
            wait_for(lambda: live.runtime.mqtt.status()["published"] > 20, message="published")
    wait_for(lambda: threading.active_count() <= threads, timeout=5,
             message=f"threads left: {[t.name for t in threading.enumerate()]}")
    assert not [t for t in threading.enumerate() if t.name.startswith(("mqtt-", "paho"))]
    assert open_fds() <= fds, "\n".join(fd_names())


CRASHING_APP = """
import sys, time
from services.config import load_config
from services.runtime import Runtime
runtime = Runtime(load_config(sys.argv[1], environ={}))
runtime.start_mqtt()
while not runtime.mqtt.status()["connected"]:
    time.sleep(0.05)
print("connected", flush=True)
time.sleep(60)
"""


def test_last_will_when_the_app_process_is_killed(tmp_path, sim, broker):
    import subprocess
    import sys

    from tests.integration import config_sections
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_sections(f"{NET}.0/24", sim.port_offset, mqtt={
        "enabled": True, "host": broker.host, "port": broker.port})))
    listener = Listener(broker, "minerfleet/status")
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_APP, str(path)], stdout=subprocess.PIPE,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        assert proc.stdout.readline().strip() == b"connected"
        listener.wait_for("minerfleet/status", lambda p: p == b"online")
        mark = len(listener.messages)
        proc.kill()  # SIGKILL: no shutdown code runs, the kernel closes the socket
        proc.wait(10)
        listener.wait_for("minerfleet/status", lambda p: p == b"offline", after=mark)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        listener.close()


def test_states_are_throttled_and_a_dead_broker_never_slows_polling(tmp_path, sim, broker):
    listener = Listener(broker, "minerfleet/+/state")
    try:
        with app_with_mqtt(tmp_path, sim, broker, min_interval_sec=30) as live:
            rt = live.runtime
            add_all(rt)
            rt.start_mqtt()
            listener.wait(lambda l: state(l, BX), message="the state before any round")
            for _ in range(4):
                rt.fleet.poll_round()
                time.sleep(0.2)
            # Before the first round (not polled yet), then the first reading at once (a change of state),
            # then nothing more within min_interval_sec.
            listener.wait(lambda l: (state(l, BX) or {}).get("online"), message="first reading")
            time.sleep(0.5)
            sent = [json.loads(p) for t, p, _ in listener.messages if t == f"minerfleet/{BX}/state"]
            assert [s["status"] for s in sent] == ["unknown", "online"], sent
            # The broker dies: rounds take as long as without MQTT, and the error is shown.
            broker.stop()
            wait_for(lambda: not rt.mqtt.status()["connected"], message="disconnect noticed")
            started = time.monotonic()
            rt.fleet.poll_round()
            assert time.monotonic() - started < 1.5  # the miners' answers, nothing waits for the broker
            assert rt.mqtt.status()["last_error"]
    finally:
        listener.close()


def test_a_retained_command_is_not_run_and_home_assistant_restart_reannounces(tmp_path, sim, broker):
    listener = Listener(broker, "#")
    try:
        # Left retained on the broker by some client: it must not run when the app (re)subscribes.
        listener.publish(f"minerfleet/{BX}/mining/set", "OFF", retain=True)
        with app_with_mqtt(tmp_path, sim, broker) as live:
            rt = live.runtime
            add_all(rt)
            rt.fleet.poll_round()
            rt.start_mqtt()
            topic = f"homeassistant/switch/minerfleet_home_{BX}/mining/config"
            listener.wait_for(topic, lambda p: bool(p))
            time.sleep(0.5)
            assert sim.miner(BITAXE).paused is False and listener.last(f"minerfleet/{BX}/result") is None
            # Home Assistant's birth message: every config is published again.
            mark = len(listener.messages)
            listener.publish("homeassistant/status", "online")
            listener.wait_for(topic, lambda p: bool(p), after=mark)
    finally:
        listener.publish(f"minerfleet/{BX}/mining/set", "", retain=True)
        listener.close()
