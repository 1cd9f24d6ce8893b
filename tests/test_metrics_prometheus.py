"""/metrics of the real app against simulated miners on 127.85.2.0/24, and a real Prometheus scraping it.

The Prometheus is Debian's package (``./test.sh`` installs it when run as root), started by the
test with a generated config on 127.85.2.2: it scrapes the app (werkzeug on 127.85.2.3) with the
API token as its bearer token, and the test reads the series back through Prometheus's HTTP API.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.serving import make_server

from simulator import SimFleet, demo_specs
from tests.conftest import TEST_TOKEN
from tests.integration import AUTH, add_miner, live_app, wait_for
from tests.test_metrics_dashboard import DASHBOARD, expressions

pytestmark = pytest.mark.integration

NET = "127.85.2"
PROMETHEUS_HOST = f"{NET}.2"
APP_HOST = f"{NET}.3"
KIND_FAMILY = {"vnish_legacy": "vnish"}
START_BUDGET_S = 20.0  # a Prometheus slower than this to be ready is skipped (docs/metrics.md: manual check)
PER_MINER = ("minerfleet_miner_hashrate_hs", "minerfleet_miner_power_w", "minerfleet_miner_temp_c",
             "minerfleet_miner_online")


@pytest.fixture(scope="module")
def sim():
    # 12 = the whole demo layout: Bitaxes, cgminer sticks, stock S9/S19 and a scrypt L3+.
    with SimFleet(demo_specs(f"{NET}.10", 12, restart_seconds=0.5), allow_any_client=True, seed=11) as fleet:
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    """The real Runtime and app (no scheduler), every simulated miner added, reads behind the token."""
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset, security={"reads_require_login": True}) as live:
        for miner in sim.miners:
            add_miner(live.client, miner.spec.ip, KIND_FAMILY.get(miner.spec.kind, miner.spec.kind))
        live.runtime.fleet.poll_round()
        yield live


def scrape(client) -> dict:
    """GET /metrics with the token, parsed: family name -> Metric."""
    reply = client.get("/metrics", headers=AUTH)
    assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
    return {fam.name: fam for fam in text_string_to_metric_families(reply.get_data(as_text=True))}


def by_ip(fams: dict, name: str) -> dict[str, float]:
    """The samples named ``name`` (a counter's with _total) as {ip: value}."""
    fam = fams[name[:-len("_total")] if name.endswith("_total") and name not in fams else name]
    return {s.labels["ip"]: s.value for s in fam.samples if s.name == name}


def test_metrics_match_the_api_for_every_simulated_family(live, sim):
    client, runtime = live.client, live.runtime
    assert client.get("/metrics").status_code == 401  # reads_require_login: no token, no metrics
    fams = scrape(client)
    miners = {m["ip"]: m for m in client.get("/api/miners", headers=AUTH).get_json()}
    assert len(miners) == len(sim.miners) and all(m["online"] for m in miners.values())
    for ip, miner in miners.items():
        detail = client.get(f"/api/miners/{ip}", headers=AUTH).get_json()
        labels = {s.labels["ip"]: s.labels for s in fams["minerfleet_miner_online"].samples}[ip]
        assert labels == {"site": "home", "ip": ip, "name": miner["name"] or "", "family": miner["family"],
                          "model": miner["model"] or ""}
        assert by_ip(fams, "minerfleet_miner_online")[ip] == 1.0
        assert by_ip(fams, "minerfleet_miner_hashrate_hs")[ip] == miner["hashrate_hs"]
        for metric, key in (("minerfleet_miner_power_w", "power_w"), ("minerfleet_miner_temp_c", "temp_c"),
                            ("minerfleet_miner_best_difficulty", "best_difficulty"),
                            ("minerfleet_miner_best_session_difficulty", "best_session_difficulty"),
                            ("minerfleet_miner_shares_accepted_total", "shares_accepted"),
                            ("minerfleet_miner_shares_rejected_total", "shares_rejected")):
            source = detail if key.startswith("shares") else miner
            # Present exactly when the firmware reports it (a stock S9 reports no power: no sample, not 0).
            assert by_ip(fams, metric).get(ip) == source[key], (ip, metric)
        assert by_ip(fams, "minerfleet_miner_fan_rpm").get(ip) == (max(miner["fan_rpm"]) if miner["fan_rpm"] else None)
    stats = client.get("/api/stats", headers=AUTH).get_json()
    fleet_power = [s.value for s in fams["minerfleet_fleet_power_w"].samples]
    assert fleet_power == [stats["power_w"]]
    hashrate = {s.labels["algorithm"]: s.value for s in fams["minerfleet_fleet_hashrate_hs"].samples}
    assert hashrate == stats["hashrate_hs"] and set(hashrate) == {"sha256d", "scrypt"}
    accepted = by_ip(fams, "minerfleet_miner_shares_accepted_total")
    assert accepted and all(v >= 0 for v in accepted.values())


def test_a_miner_gone_offline_then_deleted(live, sim):
    client, runtime = live.client, live.runtime
    down = sim.miners[0].spec.ip
    other = sim.miners[1].spec.ip
    sim.set_fault(down, "down")
    try:
        for _ in range(runtime.config.polling.offline_after):
            runtime.fleet.poll_round()
        fams = scrape(client)
        assert by_ip(fams, "minerfleet_miner_online")[down] == 0.0
        assert by_ip(fams, "minerfleet_miner_online")[other] == 1.0
        for name in PER_MINER[:3]:
            assert down not in by_ip(fams, name), name
        assert [s.value for s in fams["minerfleet_poll_errors"].samples
                if s.labels["family"] == runtime.fleet.get(down).family] == [runtime.config.polling.offline_after]
        stats = client.get("/api/stats", headers=AUTH).get_json()
        assert [s.value for s in fams["minerfleet_fleet_power_w"].samples] == [stats["power_w"]]
        assert client.delete(f"/api/miners/{down}", headers=AUTH).status_code in (200, 204)
        text = client.get("/metrics", headers=AUTH).get_data(as_text=True)
        assert f'ip="{down}"' not in text and f'ip="{other}"' in text
    finally:
        sim.set_fault(down, None)


# --- a real Prometheus --------------------------------------------------------------------------------
def free_port(host: str) -> int:
    """A port free on ``host`` right now (prometheus binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app, host: str) -> Iterator[str]:
    """The app on werkzeug's threaded server on a free port of ``host``; yields host:port."""
    server = make_server(host, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="test-metrics-http", daemon=True)
    thread.start()
    try:
        yield f"{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def prometheus(directory: Path, target: str) -> Iterator[str]:
    """Debian's prometheus scraping ``target`` every second (one job with the token, one without)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus is not installed (apt-get install prometheus; ./test.sh does it as root)")
    jobs = [{"job_name": "minerfleet", "metrics_path": "/metrics", "authorization": {"credentials": TEST_TOKEN},
             "static_configs": [{"targets": [target]}]},
            {"job_name": "no-token", "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}]
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                                      "scrape_configs": jobs}))
    listen = f"{PROMETHEUS_HOST}:{free_port(PROMETHEUS_HOST)}"
    log = open(directory / "prometheus.log", "wb")
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
                             f"--web.listen-address={listen}", "--log.level=warn"],
                            cwd=directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://{listen}"
        deadline = time.monotonic() + START_BUDGET_S
        while True:
            try:
                if get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {(directory / 'prometheus.log').read_text()[-800:]}")
            if time.monotonic() > deadline:
                pytest.skip(f"prometheus was not ready within {START_BUDGET_S:g} s here (docs/metrics.md: manual check)")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def get(url: str, **kwargs) -> requests.Response:
    """One GET on loopback, never through a proxy from the environment (a fresh session, closed)."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, **kwargs)


def query(base: str, expr: str) -> list[dict]:
    """An instant query through Prometheus's HTTP API: its result vector."""
    reply = get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
    reply.raise_for_status()
    body = reply.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


@dataclass(frozen=True)
class Scraped:
    """The served app, its runtime and the Prometheus scraping it (base URL)."""

    live: Any
    base: str
    first_scrape_s: float  # from starting prometheus to the first series it holds


@pytest.fixture(scope="module")
def scraped(sim, tmp_path_factory) -> Iterator[Scraped]:
    """One Prometheus for the module: its first scrape comes ~5 s after start (its target-update tick)."""
    directory = tmp_path_factory.mktemp("prometheus")
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    with live_app(directory, f"{NET}.0/24", sim.port_offset, security={"reads_require_login": True}) as live:
        for miner in sim.miners:
            add_miner(live.client, miner.spec.ip, KIND_FAMILY.get(miner.spec.kind, miner.spec.kind))
        live.runtime.fleet.poll_round()
        with serving(live.app, APP_HOST) as target:
            started = time.monotonic()
            with prometheus(directory, target) as base:
                wait_for(lambda: query(base, 'minerfleet_fleet_miners{job="minerfleet"}'), timeout=20, step=0.2,
                         message="prometheus never scraped the app")
                yield Scraped(live, base, time.monotonic() - started)
    wait_for(lambda: threading.active_count() <= threads, timeout=5, message="a server thread is left")
    assert len(os.listdir("/proc/self/fd")) <= fds  # prometheus's log, the server socket: all closed


def test_a_real_prometheus_scrapes_the_app_with_the_bearer_token(scraped, sim):
    base, runtime = scraped.base, scraped.live.runtime
    print(f"prometheus: first series {scraped.first_scrape_s:.2f} s after its start")
    online = query(base, 'minerfleet_miner_online{job="minerfleet"}')
    assert {r["metric"]["ip"] for r in online} == {m.spec.ip for m in sim.miners}
    assert all(r["metric"]["site"] == "home" and r["value"][1] == "1" for r in online)
    power = query(base, 'minerfleet_fleet_power_w{job="minerfleet"}')
    assert [float(r["value"][1]) for r in power] == [runtime.fleet.stats()["power_w"]]
    rounds = query(base, 'minerfleet_poll_round_duration_seconds_count{job="minerfleet"}')
    assert [r["value"][1] for r in rounds] == ["1"]
    # The job without the token is refused: reads_require_login holds for scrapers too.
    targets = wait_for(lambda: [t for t in get(f"{base}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
                                if t["labels"]["job"] == "no-token" and t["lastError"]],
                       timeout=10, step=0.2, message="the no-token job was never scraped")
    assert "401" in targets[0]["lastError"] and targets[0]["health"] == "down"
    assert query(base, 'up{job="minerfleet"}')[0]["value"][1] == "1"


def test_every_dashboard_query_is_valid_promql_and_the_core_panels_have_data(scraped):
    results = {}
    for expr in expressions(json.loads(DASHBOARD.read_text())):
        promql = expr
        if promql.startswith("label_values("):  # Grafana's template function, not PromQL: query its series
            promql = promql[len("label_values("):promql.rindex(",")]
        promql = promql.replace("$__rate_interval", "1m").replace('"$site"', '".*"').replace('"$miner"', '".*"')
        results[expr] = query(scraped.base, promql)  # a parse or type error is a 400 and fails here
    for needed in ('sum(minerfleet_fleet_power_w{site=~"$site"})',
                   'minerfleet_miner_hashrate_hs{site=~"$site", ip=~"$miner"}',
                   "label_values(minerfleet_fleet_miners, site)"):
        assert results[needed], needed
