"""Benchmark: two controllers (two sites) on one machine feeding one mosquitto and one Prometheus.

The scale-out shape of docs/scale-out.md, measured: two real apps under gunicorn (site-a and site-b),
each polling its own simulated fleet (its own simulator process), both publishing to one mosquitto
(Home Assistant discovery + state) and both scraped by one Prometheus every 15 s. After every miner
is online it measures, over ``--minutes``: each worker's CPU share and RSS, the MQTT traffic per
site (retained discovery configs, state messages a minute), and what Prometheus holds per site
(miners online, fleet power, scrape duration and samples). Uses Debian's mosquitto and prometheus
(./test.sh installs both as root).

    .venv/bin/python bench/scale_out.py                   # 2 x 250 miners, 3 minutes
    .venv/bin/python bench/scale_out.py --miners 500 --minutes 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from _common import port_offset, start_simulator, stop, stop_on_sigterm

from tests.gunicorn_proc import start_gunicorn, stop_group, workers
from tests.mqtt_broker import Broker

SITES = {"site-a": "127.97.10.10", "site-b": "127.97.20.10"}  # each site's first simulated miner
BROKER_HOST = "127.97.1.2"
PROMETHEUS_HOST = "127.97.1.3"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SCRAPE_S = 15
TOKEN = "bench-token-0123456789"


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _config(tmp: Path, site: str, specs: list, broker: Broker) -> Path:
    entries = "".join(f"  - ip: {s.ip}\n    family: {s.kind}\n" for s in specs)
    (tmp / site).mkdir()
    path = tmp / site / "config.yaml"
    path.write_text(
        f"site: {site}\nserver:\n  host: 127.0.0.1\n  data_dir: data\nnetwork:\n  port_offset: {port_offset()}\n"
        "polling:\n  interval_sec: 15\n  timeout_sec: 5\nbattery:\n  source: none\n"
        f"mqtt:\n  enabled: true\n  host: {broker.host}\n  port: {broker.port}\n  base_topic: minerfleet/{{site}}\n"
        f"security:\n  api_token: {TOKEN}\n  admin_password: bench-password\nminers:\n{entries}")
    return path


class Counter:
    """A QoS 0 subscriber to the state topics: the state messages per site during the window."""

    def __init__(self, broker: Broker) -> None:
        import paho.mqtt.client as mqtt

        self.states: list[tuple[float, str]] = []
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-counter")
        self._client.on_connect = lambda c, *a: c.subscribe("minerfleet/#", qos=0)
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port, keepalive=60)
        self._client.loop_start()

    def _on_message(self, _c, _u, msg) -> None:
        if msg.topic.endswith("/state"):
            self.states.append((time.monotonic(), msg.topic))

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def retained_configs(broker: Broker, site: str, quiet_s: float = 3.0) -> int:
    """Non-empty discovery configs the broker holds for one site: a fresh QoS 0 subscriber, counted once
    the retained burst has stopped for ``quiet_s`` (a QoS 1 subscription to all ~7,700 lost most of
    them to mosquitto's max_queued_messages, 1000)."""
    import paho.mqtt.client as mqtt

    got: dict[str, bytes] = {}
    last = [time.monotonic()]

    def on_message(_c, _u, msg) -> None:
        got[msg.topic] = bytes(msg.payload)
        last[0] = time.monotonic()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-retained-{site}")
    client.on_connect = lambda c, *a: c.subscribe("homeassistant/#", qos=0)
    client.on_message = lambda c, u, msg: on_message(c, u, msg) if f"/minerfleet_{site}_" in msg.topic else None
    client.connect(broker.host, broker.port, keepalive=60)
    client.loop_start()
    try:
        time.sleep(quiet_s)
        while time.monotonic() - last[0] < quiet_s:
            time.sleep(0.5)
    finally:
        client.loop_stop()
        client.disconnect()
    return sum(1 for payload in got.values() if payload)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _start_prometheus(tmp: Path, targets: list[str]) -> tuple[subprocess.Popen, str]:
    port = _free_port(PROMETHEUS_HOST)
    conf = tmp / "prometheus.yml"
    conf.write_text(f"global:\n  scrape_interval: {SCRAPE_S}s\n  scrape_timeout: 10s\nscrape_configs:\n"
                    f"  - job_name: minerfleet\n    static_configs:\n      - targets: {json.dumps(targets)}\n")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={conf}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                             f"--web.listen-address={PROMETHEUS_HOST}:{port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "prometheus.log", "w"))
    return proc, f"http://{PROMETHEUS_HOST}:{port}"


def _query(requests, base: str, expr: str) -> dict[str, float]:
    reply = requests.get(f"{base}/api/v1/query", params={"query": expr}, timeout=10).json()
    return {r["metric"].get("site") or r["metric"].get("instance", "?"): float(r["value"][1])
            for r in reply["data"]["result"]}


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(1.0)
    raise SystemExit(f"timed out: {what}")


def main() -> None:
    import requests

    from simulator import scaled_specs

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--miners", type=int, default=250, help="simulated miners per site")
    parser.add_argument("--minutes", type=float, default=3.0, help="measured window after every miner is online")
    args = parser.parse_args()
    stop_on_sigterm()
    started = time.monotonic()
    sims, apps, prom = [], {}, None
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = Broker(tmp / "broker", BROKER_HOST).start()
        try:
            for site, base_ip in SITES.items():
                sims.append(start_simulator(args.miners, base_ip))
            for site, base_ip in SITES.items():
                port = _free_port()
                cfg = _config(tmp, site, scaled_specs(base_ip, args.miners), broker)
                log = open(tmp / site / "app.log", "w")
                apps[site] = (start_gunicorn(cfg, log, PORT=str(port)), f"http://127.0.0.1:{port}")
            for site, (_, base) in apps.items():
                _wait(lambda b=base: requests.get(f"{b}/api/stats", timeout=5).json()["online"] == args.miners,
                      180, f"{site}: every miner online")
            counter = Counter(broker)
            prom, prom_base = _start_prometheus(tmp, [base.removeprefix("http://") for _, base in apps.values()])
            _wait(lambda: requests.get(f"{prom_base}/-/ready", timeout=2).ok, 60, "prometheus ready")
            pids = {site: workers(proc.pid)[0] for site, (proc, _) in apps.items()}
            cpu0 = {site: _cpu_s(pid) for site, pid in pids.items()}
            t0 = time.monotonic()
            time.sleep(args.minutes * 60)
            window = time.monotonic() - t0
            cpu = {site: (_cpu_s(pid) - cpu0[site]) / window for site, pid in pids.items()}
            rss = {site: _rss_mb(pid) for site, pid in pids.items()}
            counter.close()
            status = {site: requests.get(f"{base}/api/integrations", timeout=5).json()["mqtt"]
                      for site, (_, base) in apps.items()}
            online = _query(requests, prom_base, "sum by (site) (minerfleet_miner_online)")
            power = _query(requests, prom_base, "sum by (site) (minerfleet_fleet_power_w)")
            scrape = _query(requests, prom_base, "scrape_duration_seconds")
            samples = _query(requests, prom_base, "scrape_samples_scraped")
            for site in SITES:
                configs = retained_configs(broker, site)
                states = sum(1 for at, t in counter.states if at >= t0 and t.startswith(f"minerfleet/{site}/"))
                print(f"{site}: {args.miners} miners, worker CPU {100 * cpu[site]:.1f} % of a core, RSS "
                      f"{rss[site]:.1f} MB; MQTT: {status[site]['devices']} devices announced, {status[site]['configs']} "
                      f"discovery configs sent ({status[site]['configs_waiting']} waiting), {configs} on the broker, {states / (window / 60):.0f} state messages a minute; Prometheus: {online.get(site, 0):.0f} online, fleet "
                      f"{power.get(site, 0) / 1000:.1f} kW")
            for instance, seconds in sorted(scrape.items()):
                print(f"scrape {instance}: {1000 * seconds:.0f} ms, {samples.get(instance, 0):.0f} samples")
            print(f"one broker, one Prometheus, two sites: measured {window / 60:.1f} min "
                  f"(run {(time.monotonic() - started) / 60:.1f} min)")
        finally:
            if prom is not None:
                prom.terminate()
                prom.wait(10)
            for proc, _ in apps.values():
                stop_group(proc)
            for sim in sims:
                stop(sim)
            broker.stop()


if __name__ == "__main__":
    main()
