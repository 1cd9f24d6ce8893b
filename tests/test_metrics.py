"""GET /metrics on the fake runtime: contract names and labels, values as the API shows them, auth, isolation.

The exposition is parsed with prometheus_client's own text parser, as Prometheus would read it.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.metrics import SPECS
from tests.conftest import TEST_TOKEN
from tests.fakes import FakeDriver

NET = "127.85.2"
CONTRACT = ("minerfleet_miner_hashrate_hs", "minerfleet_miner_power_w", "minerfleet_miner_online",
            "minerfleet_fleet_power_w")
MINER_LABELS = {"site", "ip", "name", "family", "model"}


def scrape(client, headers=None) -> dict:
    """GET /metrics (asserting 200 and the text format) -> family name -> Metric."""
    reply = client.get("/metrics", headers=headers or {})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.headers["Content-Type"] == prometheus_client.CONTENT_TYPE_LATEST
    return {fam.name: fam for fam in text_string_to_metric_families(reply.get_data(as_text=True))}


def by_ip(fams: dict, name: str) -> dict[str, float]:
    """One per-miner family's samples as {ip: value}."""
    return {s.labels["ip"]: s.value for s in fams[name].samples}


def one(fams: dict, metric: str, **labels: str) -> float | None:
    """The value of the single sample named ``metric`` matching ``labels`` (None when there is none)."""
    fam = fams[metric[:-len("_total")] if metric.endswith("_total") and metric not in fams else metric]
    found = [s.value for s in fam.samples
             if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, found
    return found[0] if found else None


def add(runtime, *lasts: int, **kw) -> list[str]:
    ips = [f"{NET}.{last}" for last in lasts]
    for ip in ips:
        runtime.fleet.add(ip, "fake", **kw)
    return ips


def test_contract_names_carry_the_labels_and_match_the_miners_api(client, runtime):
    (a,) = add(runtime, 21, name="garage")
    (b,) = add(runtime, 22)
    runtime.fleet.poll_round()
    fams = scrape(client)
    for name in CONTRACT:
        assert name in fams, name
    miners = {m["ip"]: m for m in client.get("/api/miners").get_json()}
    stats = client.get("/api/stats").get_json()
    for name in ("minerfleet_miner_hashrate_hs", "minerfleet_miner_power_w", "minerfleet_miner_online"):
        for sample in fams[name].samples:
            assert set(sample.labels) == MINER_LABELS, sample
            assert sample.labels["site"] == "home"
    assert one(fams, "minerfleet_miner_online", ip=a, name="garage", family="fake", model="Fake X1") == 1.0
    for ip, miner in miners.items():
        assert by_ip(fams, "minerfleet_miner_hashrate_hs")[ip] == miner["hashrate_hs"]
        assert by_ip(fams, "minerfleet_miner_power_w")[ip] == miner["power_w"]
        assert by_ip(fams, "minerfleet_miner_temp_c")[ip] == miner["temp_c"]
        assert by_ip(fams, "minerfleet_miner_fan_rpm")[ip] == max(miner["fan_rpm"])
        assert by_ip(fams, "minerfleet_miner_efficiency_j_th")[ip] == pytest.approx(miner["efficiency_j_th"])
        assert by_ip(fams, "minerfleet_miner_uptime_seconds")[ip] == miner["uptime_s"]
        assert by_ip(fams, "minerfleet_miner_last_seen_timestamp_seconds")[ip] == miner["last_seen_ts"]
    assert one(fams, "minerfleet_fleet_power_w", site="home") == stats["power_w"] == 22 * 15.0 + 21 * 15.0
    assert one(fams, "minerfleet_fleet_hashrate_hs", algorithm="sha256d") == stats["hashrate_hs"]["sha256d"]
    assert one(fams, "minerfleet_fleet_miners") == 2 and one(fams, "minerfleet_fleet_miners_online") == 2
    assert one(fams, "minerfleet_fleet_last_round_timestamp_seconds") == stats["updated_ts"]
    info = fams["minerfleet_miner_info"].samples
    assert {s.labels["ip"]: s.labels["firmware"] for s in info} == {a: "fakefw", b: "fakefw"}
    assert one(fams, "minerfleet_controller_polling") == 1.0


def test_every_metric_carries_the_configured_site(config, runtime):
    from app import create_app

    barn = dataclasses.replace(config, site="barn")
    runtime.config = barn  # the collector reads the site once, when it is built
    from services.metrics import Metrics

    runtime.metrics = Metrics(runtime)
    client = create_app(config=barn, runtime=runtime, start_background=False,
                        test_config={"TESTING": True}).test_client()
    add(runtime, 23)
    runtime.fleet.poll_round()
    fams = scrape(client)
    samples = [s for fam in fams.values() for s in fam.samples]
    assert len(samples) > 40
    assert {s.labels.get("site") for s in samples} == {"barn"}


def test_offline_miner_has_online_0_and_no_stale_values(client, runtime):
    up, down = add(runtime, 24, 25)
    runtime.fleet.poll_round()
    FakeDriver.behaviour[down] = "fail"
    for _ in range(runtime.config.polling.offline_after):
        runtime.fleet.poll_round()
    fams = scrape(client)
    assert by_ip(fams, "minerfleet_miner_online") == {up: 1.0, down: 0.0}
    for name in ("minerfleet_miner_power_w", "minerfleet_miner_hashrate_hs", "minerfleet_miner_temp_c",
                 "minerfleet_miner_fan_rpm", "minerfleet_miner_efficiency_j_th"):
        assert set(by_ip(fams, name)) == {up}, name  # the last good reading is not shown as current
    assert down in by_ip(fams, "minerfleet_miner_last_seen_timestamp_seconds")  # when it was last seen
    assert one(fams, "minerfleet_fleet_miners_offline") == 1
    assert one(fams, "minerfleet_fleet_power_w") == 24 * 15.0
    assert one(fams, "minerfleet_poll_errors_total", family="fake") == runtime.config.polling.offline_after


def test_unknown_power_is_absent_never_an_invented_zero(client, runtime):
    (ip,) = add(runtime, 26)
    FakeDriver.behaviour[ip] = "nopower"
    runtime.fleet.poll_round()
    fams = scrape(client)
    assert by_ip(fams, "minerfleet_miner_hashrate_hs") == {ip: 26e12}
    assert by_ip(fams, "minerfleet_miner_power_w") == {}
    assert fams["minerfleet_fleet_power_w"].samples == []  # the family is declared, with no value
    assert one(fams, "minerfleet_fleet_power_reported_by") == 0


def test_removing_a_miner_removes_its_series(client, runtime):
    keep, gone = add(runtime, 27, 28)
    runtime.fleet.poll_round()
    assert gone in by_ip(scrape(client), "minerfleet_miner_hashrate_hs")
    runtime.fleet.remove(gone)
    text = client.get("/metrics").get_data(as_text=True)
    assert f'ip="{gone}"' not in text
    assert f'ip="{keep}"' in text


def test_poll_histogram_counts_full_rounds_only_and_errors_count_per_family(client, runtime):
    a, b = add(runtime, 29, 30)
    for _ in range(3):
        runtime.fleet.poll_round()
    runtime.fleet.poll_round([runtime.fleet.get(a)])  # a partial round (the re-poll after a command)
    FakeDriver.behaviour[b] = "crash"
    runtime.fleet.poll_round()
    fams = scrape(client)
    hist = {s.name: s for s in fams["minerfleet_poll_round_duration_seconds"].samples if "le" not in s.labels}
    assert hist["minerfleet_poll_round_duration_seconds_count"].value == 4
    assert hist["minerfleet_poll_round_duration_seconds_count"].labels == {"site": "home"}
    assert 0 <= hist["minerfleet_poll_round_duration_seconds_sum"].value < 4 * 1.0
    assert one(fams, "minerfleet_poll_errors_total", family="fake") == 1


def test_scrape_does_not_wait_for_a_hung_poll_round(client, runtime):
    fast, hung = add(runtime, 31, 32)
    runtime.fleet.poll_round()
    FakeDriver.behaviour[hung] = "hang"
    FakeDriver.behaviour[fast] = "slow"  # the round is busy for its whole timeout
    rounds = threading.Thread(target=runtime.fleet.poll_round, name="test-round")
    rounds.start()
    try:
        time.sleep(0.1)
        started = time.monotonic()
        fams = scrape(client)
        assert time.monotonic() - started < 0.25
        assert rounds.is_alive()  # the scrape answered while the round was still running
        assert by_ip(fams, "minerfleet_miner_online") == {fast: 1.0, hung: 1.0}
    finally:
        rounds.join(5)


def test_reads_require_login_needs_the_bearer_token(config, runtime):
    from app import create_app

    locked = dataclasses.replace(config, security=dataclasses.replace(config.security, reads_require_login=True))
    client = create_app(config=locked, runtime=runtime, start_background=False,
                        test_config={"TESTING": True}).test_client()
    reply = client.get("/metrics")
    assert reply.status_code == 401 and "Bearer" in reply.get_json()["error"]
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    fams = scrape(client, {"Authorization": f"Bearer {TEST_TOKEN}"})
    assert "minerfleet_miner_online" in fams
    assert TEST_TOKEN not in client.get("/metrics", headers={"Authorization": f"Bearer {TEST_TOKEN}"}
                                        ).get_data(as_text=True)


def test_open_reads_need_no_token_and_the_reply_is_not_cached(client):
    reply = client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    assert client.post("/metrics").status_code == 405


def test_each_runtime_has_its_own_registry(config, runtime, tmp_path):
    from database.db import Database
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from tests.fakes import fake_factory

    other_cfg = dataclasses.replace(config, server=dataclasses.replace(config.server, data_dir=str(tmp_path / "b")),
                                    site="other")
    other_cfg.data_path.mkdir(parents=True, exist_ok=True)
    db = Database(other_cfg.data_path / "fleet.db")
    other = Runtime(other_cfg, fleet=FleetManager(other_cfg, db, driver_factory=fake_factory), db=db)
    try:
        add(runtime, 33)
        add(other, 34)
        runtime.fleet.poll_round()
        other.fleet.poll_round()
        mine = runtime.metrics.exposition().decode()
        theirs = other.metrics.exposition().decode()
        assert f'ip="{NET}.33"' in mine and f'ip="{NET}.34"' not in mine
        assert f'ip="{NET}.34"' in theirs and 'site="other"' in theirs
        assert runtime.metrics.registry is not other.metrics.registry
        # prometheus_client's global registry holds none of ours: two apps (and the tests) never clash.
        assert not [n for n in prometheus_client.REGISTRY._names_to_collectors if n.startswith("minerfleet")]
    finally:
        other.shutdown()


def test_battery_controller_ems_and_alerts_match_their_apis(client, runtime):
    add(runtime, 35)
    runtime.fleet.poll_round()
    runtime.battery.poll()  # the simulated battery (the tests' default source)
    runtime.alerts.alerts = lambda: [{"severity": "critical"}, {"severity": "warning"}, {"severity": "warning"}]
    fams = scrape(client)
    battery = client.get("/api/battery").get_json()
    reading = battery["reading"]
    src = {"site": "home", "source": "simulated"}
    assert one(fams, "minerfleet_battery_connected", **src) == 1.0
    assert one(fams, "minerfleet_battery_soc_percent", **src) == reading["soc_pct"]
    assert one(fams, "minerfleet_battery_pv_w", **src) == reading["pv_w"]
    assert one(fams, "minerfleet_battery_load_w", **src) == reading["load_w"]
    assert one(fams, "minerfleet_battery_power_w", **src) == reading["battery_w"]
    assert 0 <= one(fams, "minerfleet_battery_reading_age_seconds", **src) < 60
    control = client.get("/api/autocontrol").get_json()
    assert one(fams, "minerfleet_control_enabled") == float(control["enabled"])
    assert one(fams, "minerfleet_control_failsafe") == float(control["failsafe"])
    assert {s.labels["state"]: s.value for s in fams["minerfleet_ems_state"].samples} == {
        "idle": 1.0, "active": 0.0, "stopped": 0.0}
    assert {s.labels["layer"] for s in fams["minerfleet_control_layer"].samples} == {
        "safety", "override", "ems", "rules", "price", "policy"}
    assert {s.labels["severity"]: s.value for s in fams["minerfleet_alerts_active"].samples} == {
        "info": 0.0, "warning": 2.0, "critical": 1.0}


def test_control_target_and_layer_after_a_tick(client, runtime):
    add(runtime, 36)
    runtime.fleet.poll_round()
    runtime.battery.poll()
    runtime.autocontrol.command({"enabled": True}, by="test")
    runtime.autocontrol.tick()
    control = client.get("/api/autocontrol").get_json()
    fams = scrape(client)
    assert one(fams, "minerfleet_control_enabled") == 1.0
    assert control["layer"] in {"safety", "override", "ems", "rules", "price", "policy"}
    layers = {s.labels["layer"]: s.value for s in fams["minerfleet_control_layer"].samples}
    assert layers[control["layer"]] == 1.0 and sum(layers.values()) == 1.0
    assert one(fams, "minerfleet_control_target_percent") == control["target_percent"]


def test_no_battery_configured_exports_no_battery_metrics(tmp_path):
    fams = _scrape_with(tmp_path, "battery:\n  source: none\n")
    assert not [name for name in fams if name.startswith("minerfleet_battery_")]


def test_price_now_with_the_default_price_is_marked_stale(tmp_path):
    fams = _scrape_with(tmp_path, "prices:\n  source: none\n  currency: EUR\n  default_price: 0.25\n")
    labels = {"site": "home", "currency": "EUR", "source": "none"}
    assert one(fams, "minerfleet_price_per_kwh", **labels) == 0.25
    assert one(fams, "minerfleet_price_stale", **labels) == 1.0


def test_a_failing_section_leaves_the_others_in_the_scrape(client, runtime, caplog):
    add(runtime, 37)
    runtime.fleet.poll_round()

    def broken():
        raise RuntimeError("controller bug")

    runtime.autocontrol.status = broken
    for _ in range(2):
        fams = scrape(client)
        assert "minerfleet_miner_online" in fams and "minerfleet_alerts_active" in fams
        assert "minerfleet_control_enabled" not in fams
    assert sum("control section failed" in r.getMessage() for r in caplog.records) == 1  # once, not per scrape


def test_catalogue_names_are_prefixed_and_unique_and_the_contract_is_in_it():
    assert all(name.startswith("minerfleet_") for name in SPECS)
    for name in CONTRACT:
        assert name in SPECS
    samples = [spec.sample_name for spec in SPECS.values()]
    assert len(set(samples)) == len(samples)


def _scrape_with(tmp_path, extra: str) -> dict:
    """A fake-fleet app whose config.yaml adds ``extra``; one miner, one round, one scrape."""
    from app import create_app
    from database.db import Database
    from services.config import load_config
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from tests.conftest import BASE_CONFIG
    from tests.fakes import fake_factory, reset_fakes

    reset_fakes()
    (tmp_path / "config.yaml").write_text(BASE_CONFIG + extra)
    config = load_config(tmp_path / "config.yaml", environ={})
    db = Database(config.data_path / "fleet.db")
    runtime = Runtime(config, fleet=FleetManager(config, db, driver_factory=fake_factory), db=db)
    try:
        add(runtime, 38)
        runtime.fleet.poll_round()
        client = create_app(config=config, runtime=runtime, start_background=False,
                            test_config={"TESTING": True}).test_client()
        return scrape(client)
    finally:
        runtime.shutdown()
