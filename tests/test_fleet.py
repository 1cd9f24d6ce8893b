"""FleetManager with fake drivers: parallel rounds, deadlines, offline logic, events, stats."""

from __future__ import annotations

import logging
import time

import pytest

from database import queries
from miners.base import NotSupported
from tests.fakes import FakeDriver


def add(fleet, *ips):
    return [fleet.add(ip, "fake") for ip in ips]


def test_round_reads_every_miner_and_stores_one_sample_each(runtime):
    fleet = runtime.fleet
    add(fleet, "10.0.0.1", "10.0.0.2", "10.0.0.3")
    summary = fleet.poll_round()
    assert summary["ok"] == 3
    runtime.history.flush()
    with runtime.db.read() as conn:
        rows = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert rows == 3
    assert all(r.online for r in fleet.records())


def test_hung_miner_does_not_delay_the_round_beyond_its_timeout(runtime):
    fleet = runtime.fleet
    add(fleet, "10.0.0.1", "10.0.0.2", "10.0.0.9")
    FakeDriver.behaviour["10.0.0.9"] = "hang"
    started = time.monotonic()
    summary = fleet.poll_round()
    elapsed = time.monotonic() - started
    timeout = runtime.config.polling.timeout_sec
    assert elapsed < timeout + 0.9, elapsed  # timeout 0.5 s + 0.5 s margin, not the 30 s hang
    assert summary["ok"] == 2 and summary["timed_out"] == 1
    assert fleet.get("10.0.0.1").online
    assert "no answer within" in fleet.get("10.0.0.9").last_error
    # The stuck call is not stacked again on the next round.
    fleet.poll_round()
    assert FakeDriver.reads["10.0.0.9"] == 1
    assert fleet.get("10.0.0.9").last_error == "still waiting for the previous poll"


def test_slow_miners_are_polled_in_parallel(runtime):
    fleet = runtime.fleet
    ips = [f"10.0.1.{i}" for i in range(1, 9)]
    add(fleet, *ips)
    for ip in ips:
        FakeDriver.behaviour[ip] = "slow"  # 0.3 s each; 8 workers
    started = time.monotonic()
    assert fleet.poll_round()["ok"] == 8
    assert time.monotonic() - started < 1.0


def test_offline_after_n_failures_keeps_last_good_reading_and_logs_transitions_once(runtime, caplog):
    fleet = runtime.fleet
    (record,) = add(fleet, "10.0.0.5")
    fleet.poll_round()
    good = record.status
    FakeDriver.behaviour["10.0.0.5"] = "fail"
    caplog.set_level(logging.INFO, logger="services.fleet")
    fleet.poll_round()
    assert record.online  # one failure is not enough (offline_after = 2)
    for _ in range(3):
        fleet.poll_round()
    assert record.online is False
    assert record.status is good  # the last good reading is kept
    view = record.to_dict()
    assert view["status"] == "offline" and view["hashrate_hs"] is None and view["power_w"] is None
    assert view["model"] == "Fake X1"
    offline_lines = [r for r in caplog.records if "miner_offline" in r.getMessage()]
    assert len(offline_lines) == 1
    FakeDriver.behaviour["10.0.0.5"] = "ok"
    fleet.poll_round()
    assert record.online
    with runtime.db.read() as conn:
        kinds = [row["kind"] for row in queries.recent_events(conn)]
    assert kinds.count("miner_offline") == 1 and kinds.count("miner_online") == 1


def test_auth_refusal_is_shown_as_unauthorized_not_offline(runtime):
    fleet = runtime.fleet
    (record,) = add(fleet, "10.0.0.6")
    FakeDriver.behaviour["10.0.0.6"] = "auth"
    fleet.poll_round()
    view = record.to_dict()
    assert view["status"] == "unauthorized"
    assert "401" in view["last_error"]


def test_driver_bug_is_one_miners_failure(runtime):
    fleet = runtime.fleet
    add(fleet, "10.0.0.7", "10.0.0.8")
    FakeDriver.behaviour["10.0.0.7"] = "crash"
    assert fleet.poll_round()["ok"] == 1
    assert fleet.get("10.0.0.7").last_error == "driver error: KeyError"


def test_stats_never_invent_power(runtime):
    fleet = runtime.fleet
    add(fleet, "10.0.0.1", "10.0.0.2")
    FakeDriver.behaviour["10.0.0.2"] = "nopower"
    fleet.poll_round()
    stats = fleet.stats()
    assert stats["online"] == 2 and stats["power_reported_by"] == 1
    assert stats["power_w"] == 15.0
    assert stats["hashrate_hs"] == {"sha256d": 3e12}
    FakeDriver.behaviour["10.0.0.1"] = "nopower"
    fleet.poll_round()
    assert fleet.stats()["power_w"] is None


def test_family_is_stored_and_reloaded_without_detection(runtime, config):
    from services.fleet import FleetManager
    from tests.fakes import fake_factory

    add(runtime.fleet, "10.0.0.4")
    again = FleetManager(config, runtime.db, driver_factory=fake_factory)
    assert again.get("10.0.0.4").family == "fake"
    again.shutdown()


def test_command_checks_capability_and_logs_actor(runtime):
    fleet = runtime.fleet
    add(fleet, "10.0.0.3")
    fleet.command("10.0.0.3", "restart", actor="token")
    assert FakeDriver.restarts == ["10.0.0.3"]
    with pytest.raises(NotSupported):
        fleet.command("10.0.0.3", "sleep", actor="token")
    with runtime.db.read() as conn:
        events = [(e["actor"], e["message"]) for e in queries.recent_events(conn, miner_ip="10.0.0.3")]
    assert ("token", "restart ok") in events
    assert ("token", "sleep refused: fake miners cannot sleep") in events


def test_listeners_get_a_snapshot_per_round_and_a_bad_listener_is_harmless(runtime):
    fleet = runtime.fleet
    add(fleet, "10.0.0.1")
    got = []
    fleet.subscribe(lambda message: 1 / 0)
    fleet.subscribe(got.append)
    fleet.poll_round()
    assert got[-1]["type"] == "snapshot" and got[-1]["stats"]["online"] == 1


def test_concurrent_rounds_share_one_read_and_count_it_once(runtime):
    import threading

    fleet = runtime.fleet
    (record,) = add(fleet, "10.0.0.7")
    FakeDriver.behaviour["10.0.0.7"] = "slow"  # 0.3 s, well inside the 0.5 s timeout
    other = threading.Thread(target=fleet.poll_round)
    other.start()
    time.sleep(0.05)
    summary = fleet.poll_round()  # starts while the other round's read is in flight
    other.join()
    assert FakeDriver.reads["10.0.0.7"] == 1  # one read on the wire, not two
    assert record.online and record.failures == 0 and record.last_error is None
    runtime.history.flush()
    with runtime.db.read() as conn:
        rows = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert rows == 1 and summary["skipped"] == 0


def test_a_command_error_echoing_a_password_is_masked_in_the_event_and_the_error(runtime, monkeypatch):
    """Firmware may echo what it was sent; a driver that forgot to scrub still leaks nothing."""
    from miners.base import MinerError, PoolConfig

    fleet = runtime.fleet
    fleet.add("10.0.0.5", "fake", credentials={"username": "root", "password": "web-secret-77"})

    class EchoError(MinerError):
        pass

    def echoing_set_pools(self, pools):
        raise EchoError(f"addpool refused: {pools[0].password} (login {self.credentials.password})")

    monkeypatch.setattr(FakeDriver, "set_pools", echoing_set_pools)
    pools = [PoolConfig(url="stratum+tcp://pool.example:3333", user="me.w1", password="pool-secret-42")]
    with pytest.raises(EchoError) as raised:  # the same kind of error, so the API maps it as before
        fleet.command("10.0.0.5", "set_pools", pools, actor="token")
    assert str(raised.value) == "addpool refused: *** (login ***)"
    with runtime.db.read() as conn:
        messages = [e["message"] for e in queries.recent_events(conn, miner_ip="10.0.0.5")]
    failed = [m for m in messages if "failed" in m]
    assert failed == ["set_pools(1: stratum+tcp://pool.example:3333) failed: addpool refused: *** (login ***)"]
    assert not [m for m in messages if "secret" in m]


def test_a_factory_login_is_not_masked_so_the_user_name_stays_readable(runtime, monkeypatch):
    """Antminer stock root/root: the refusal names user root, and hiding 'root' would hide nothing secret."""
    from miners.base import MinerAuthError, PoolConfig

    fleet = runtime.fleet
    fleet.add("10.0.0.6", "fake", credentials={"username": "root", "password": "root"})

    def refusing(self, pools):
        raise MinerAuthError("the web interface refused user root (HTTP 401)")

    monkeypatch.setattr(FakeDriver, "set_pools", refusing)
    with pytest.raises(MinerAuthError, match="refused user root"):
        fleet.command("10.0.0.6", "set_pools", [PoolConfig(url="stratum+tcp://pool.example:3333", user="me")])
