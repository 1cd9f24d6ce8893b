"""POST /api/miners/bulk and pool-set apply on fake drivers: per-miner results, refusals, bounds, read-back."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from miners.base import MODE, POOLS, POWER_PERCENT, RESTART, SLEEP, WAKE, MinerStatus, MinerUnreachable, PoolStatus
from miners.stratum import validate_pools
from services import bulk
from tests.fakes import FakeDriver, FakePowerDriver, fake_factory, reset_fakes

NET = "127.86.2"
SECRET = "bulk-pool-pw-7781"
SET = {"name": "Rack pools", "pools": [{"url": "stratum+tcp://pool.example.org:3333", "user": "me.rack",
                                        "password": SECRET},
                                       {"url": "stratum+tcp://backup.example.org:443", "user": "me.rack"}]}


class PoolFake(FakeDriver):
    """Shows the pools it was last given (priority order); sleep/wake, modes and a percent knob."""

    family = "poolfake"
    capabilities = frozenset({RESTART, POOLS, SLEEP, WAKE, MODE, POWER_PERCENT})
    modes = ("low", "normal")
    shown: dict[str, list] = {}
    sent: list = []
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def read(self) -> MinerStatus:
        status = super().read()
        status.pools = [PoolStatus(url=p.url, user=p.user, priority=i) for i, p in enumerate(self._shown())]
        return status

    def _shown(self) -> list:
        return PoolFake.shown.get(self.host, [])

    def set_pools(self, pools) -> None:
        validate_pools(pools, max_pools=3)
        PoolFake.sent.append((self.host, "pools", [(p.url, p.user, p.password) for p in pools]))
        PoolFake.shown[self.host] = list(pools)

    def _slow(self, what: str, value=None) -> None:
        with PoolFake.lock:
            PoolFake.in_flight += 1
            PoolFake.most_in_flight = max(PoolFake.most_in_flight, PoolFake.in_flight)
        time.sleep(0.15)
        with PoolFake.lock:
            PoolFake.in_flight -= 1
        PoolFake.sent.append((self.host, what, value))

    def sleep(self) -> None:
        self._slow("sleep")

    def wake(self) -> None:
        self._slow("wake")

    def set_mode(self, mode: str) -> None:
        self._slow("mode", mode)

    def set_power_percent(self, percent: int) -> None:
        self._slow("percent", percent)


class LiarFake(PoolFake):
    """Accepts the pools and keeps showing its old one (a firmware that ignores the write)."""

    family = "liarfake"

    def _shown(self) -> list:
        return [type("P", (), {"url": "stratum+tcp://old.example.org:3333", "user": "old.worker"})()]


def factory(family, host, **kwargs):
    classes = {"poolfake": PoolFake, "liarfake": LiarFake}
    if family in classes:
        return classes[family](host, port=kwargs.get("port"), timeout=kwargs.get("timeout", 3.0),
                               credentials=kwargs.get("credentials"))
    return fake_factory(family, host, **kwargs)


@pytest.fixture
def runtime(config):
    from database.db import Database
    from services.fleet import FleetManager
    from services.runtime import Runtime

    reset_fakes()
    PoolFake.shown, PoolFake.sent, PoolFake.in_flight, PoolFake.most_in_flight = {}, [], 0, 0
    db = Database(config.data_path / "fleet.db")
    rt = Runtime(config, fleet=FleetManager(config, db, driver_factory=factory), db=db)
    yield rt
    FakeDriver.release.set()
    rt.shutdown()


def _add(runtime, last: int, family: str):
    return runtime.fleet.add(f"{NET}.{last}", family)


def _post(client, auth, body):
    return client.post("/api/miners/bulk", json=body, headers=auth)


def _by_ip(reply) -> dict:
    return {r["ip"]: r for r in reply.get_json()["results"]}


def _events(runtime, kind: str) -> list[str]:
    with runtime.db.read() as conn:
        return [r["message"] for r in conn.execute("SELECT message FROM events WHERE kind = ? ORDER BY id", (kind,))]


def test_sleep_over_a_mix_reports_every_miner(client, auth, runtime):
    for last in (10, 11):
        _add(runtime, last, "poolfake")
    _add(runtime, 12, "fake")  # restart and pools only: no sleep
    _add(runtime, 13, "poolfake").enabled = False
    ips = [f"{NET}.{n}" for n in (10, 11, 12, 13, 99)]
    reply = _post(client, auth, {"action": "sleep", "miners": ips})
    assert reply.status_code == 200, reply.get_json()
    data = reply.get_json()
    assert [r["ip"] for r in data["results"]] == ips  # the order asked for
    results = _by_ip(reply)
    assert [results[ip]["outcome"] for ip in ips] == ["done", "done", "refused", "refused", "refused"]
    assert results[f"{NET}.10"]["ok"] is True and results[f"{NET}.10"]["error"] is None
    assert "cannot sleep" in results[f"{NET}.12"]["error"]
    assert "disabled" in results[f"{NET}.13"]["error"]
    assert "no miner" in results[f"{NET}.99"]["error"]
    assert (data["ok"], data["failed"], data["refused"]) == (2, 3, 3)
    assert sorted(ip for ip, what, _ in PoolFake.sent if what == "sleep") == [f"{NET}.10", f"{NET}.11"]
    assert _events(runtime, "bulk") == ["sleep on 5 miner(s): 2 done, 3 refused, 0 failed"]
    commands = _events(runtime, "command")
    assert sum("sleep ok" in m for m in commands) == 2 and any("refused" in m for m in commands)


def test_a_failing_miner_does_not_stop_the_others(client, auth, runtime):
    for last in range(20, 26):
        _add(runtime, last, "fake")

    def broken_restart(self):
        if self.host == f"{NET}.21":
            raise MinerUnreachable("connection refused")
        if self.host == f"{NET}.22":
            raise KeyError("a driver bug")
        FakeDriver.restarts.append(self.host)

    original = FakeDriver.restart
    FakeDriver.restart = broken_restart
    try:
        reply = _post(client, auth, {"action": "restart", "all": True})
    finally:
        FakeDriver.restart = original
    results = _by_ip(reply)
    assert results[f"{NET}.21"]["outcome"] == "failed" and "connection refused" in results[f"{NET}.21"]["error"]
    assert results[f"{NET}.22"]["outcome"] == "failed" and "KeyError" in results[f"{NET}.22"]["error"]
    assert sorted(FakeDriver.restarts) == [f"{NET}.{n}" for n in (20, 23, 24, 25)]
    assert (reply.get_json()["ok"], reply.get_json()["failed"]) == (4, 2)


def test_tag_mode_and_percent(client, auth, runtime):
    for last in (30, 31, 32):
        _add(runtime, last, "poolfake")
    _add(runtime, 33, "fakepower")
    for last in (30, 31, 33):
        runtime.fleet.get(f"{NET}.{last}").tags = ("rack-a",)
    reply = _post(client, auth, {"action": "mode", "tag": "rack-a", "value": "low"})
    assert [r["ip"] for r in reply.get_json()["results"]] == [f"{NET}.30", f"{NET}.31", f"{NET}.33"]
    results = _by_ip(reply)
    assert results[f"{NET}.30"]["ok"] and results[f"{NET}.31"]["ok"]
    assert results[f"{NET}.33"]["outcome"] == "refused"  # fakepower has no modes
    bad = _post(client, auth, {"action": "mode", "miners": [f"{NET}.30"], "value": "turbo"})
    assert _by_ip(bad)[f"{NET}.30"]["outcome"] == "refused" and "low, normal" in _by_ip(bad)[f"{NET}.30"]["error"]
    # power_percent: a percent-only firmware gets the percent; a watts firmware nominal x percent.
    runtime.fleet.get(f"{NET}.33").nominal_w = 3000.0
    reply = _post(client, auth, {"action": "power_percent", "miners": [f"{NET}.30", f"{NET}.33"], "value": 50})
    assert all(r["ok"] for r in reply.get_json()["results"]), reply.get_json()
    assert (f"{NET}.30", "percent", 50) in PoolFake.sent
    assert FakePowerDriver.settings[-1] == (f"{NET}.33", "watts", 1500)
    runtime.fleet.get(f"{NET}.33").max_w = 1200.0  # held to the miner's max_w
    reply = _post(client, auth, {"action": "power_percent", "miners": [f"{NET}.33"], "value": 50})
    assert FakePowerDriver.settings[-1] == (f"{NET}.33", "watts", 1200)
    assert "1200" in reply.get_json()["results"][0]["message"]


def test_percent_refused_without_a_nominal(runtime):
    record = _add(runtime, 40, "fakepower")  # never polled: no reading, model not in the table
    assert bulk.percent_plan(record, 50) == ("no nominal power known (model not in table, no reading while "
                                             "hashing): set miners[].nominal_w")
    report = bulk.run_action(runtime.fleet, [record.ip], "power_percent", 50)
    assert report.results[0].outcome == "refused" and "no nominal power" in report.results[0].error
    assert FakePowerDriver.settings == []
    record.driver.power_range_w = (2000.0, 2500.0)  # a BOS+-style published range bounds it
    assert bulk.percent_plan(record, 30, {"nominal_w": 3000.0})[:2] == ("set_power_watts", 2000)


@pytest.mark.parametrize("body, status, reason", [
    ({"action": "nap", "miners": [f"{NET}.50"]}, 400, "action must be one of"),
    ({"miners": [f"{NET}.50"]}, 400, "action must be one of"),
    ({"action": "sleep", "miners": [f"{NET}.50"], "value": 1}, 400, "takes no value"),
    ({"action": "mode", "miners": [f"{NET}.50"]}, 400, "needs a value"),
    ({"action": "power_percent", "miners": [f"{NET}.50"], "value": 5}, 400, "between 10 and 100"),
    ({"action": "power_percent", "miners": [f"{NET}.50"], "value": 101}, 400, "between 10 and 100"),
    ({"action": "power_percent", "miners": [f"{NET}.50"], "value": "50"}, 400, "must be a number"),
    ({"action": "pool_set", "miners": [f"{NET}.50"], "value": 77}, 404, "no pool set"),
    ({"action": "sleep"}, 400, "exactly one of"),
    ({"action": "sleep", "miners": [f"{NET}.50"], "tag": "x"}, 400, "exactly one of"),
    ({"action": "sleep", "miners": "127.86.2.50"}, 400, "non-empty list"),
    ({"action": "sleep", "miners": ["127.86.2.500"]}, 400, "not an IPv4"),
    ({"action": "sleep", "miners": [f"{NET}.50"] * (bulk.MAX_MINERS + 1)}, 400, "at most"),
    ({"action": "sleep", "miners": [f"{NET}.50"], "force": True}, 400, "unknown field"),
])
def test_bad_bodies_send_nothing(client, auth, runtime, body, status, reason):
    _add(runtime, 50, "poolfake")
    reply = _post(client, auth, body)
    assert reply.status_code == status, reply.get_json()
    assert reason in reply.get_json()["error"]
    assert PoolFake.sent == [] and _events(runtime, "bulk") == []


def test_needs_auth_and_bad_json(client, auth, runtime):
    _add(runtime, 51, "poolfake")
    assert client.post("/api/miners/bulk", json={"action": "sleep", "miners": [f"{NET}.51"]}).status_code == 401
    reply = client.post("/api/miners/bulk", data='{"action": "sleep", ', headers={**auth, "Content-Type":
                                                                                   "application/json"})
    assert reply.status_code == 400 and "JSON" in reply.get_json()["error"]
    assert PoolFake.sent == []


def test_concurrency_is_bounded_and_threads_are_returned(client, auth, runtime):
    ips = [f"{NET}.{n}" for n in range(60, 80)]
    for ip in ips:
        runtime.fleet.add(ip, "poolfake")
    runtime.fleet.start_threads()  # the served app's I/O threads, started whole before counting
    _post(client, auth, {"action": "wake", "miners": ips[:1]})  # starts the fleet's one re-poll thread
    before = threading.active_count()
    started = time.monotonic()
    PoolFake.most_in_flight = 0
    reply = _post(client, auth, {"action": "wake", "miners": ips})
    took = time.monotonic() - started
    assert reply.get_json()["ok"] == 20
    assert 2 <= PoolFake.most_in_flight <= bulk.MAX_WORKERS  # parallel, and never more than the bound
    assert took < 20 * 0.15  # faster than one after the other
    deadline = time.monotonic() + 3
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before  # the call's pool is closed (re-polls run on the fleet's threads)
    assert not [t for t in threading.enumerate() if t.name.startswith("bulk")]


def test_a_third_concurrent_call_is_refused(client, auth, runtime):
    _add(runtime, 81, "poolfake")
    taken = [bulk._CALLS.acquire(blocking=False) for _ in range(bulk.MAX_CALLS)]
    try:
        assert all(taken)
        reply = _post(client, auth, {"action": "sleep", "miners": [f"{NET}.81"]})
        assert reply.status_code == 409 and "running already" in reply.get_json()["error"]
    finally:
        for _ in taken:
            bulk._CALLS.release()
    assert _post(client, auth, {"action": "sleep", "miners": [f"{NET}.81"]}).status_code == 200


def test_pool_set_apply_reads_back_and_never_shows_the_password(client, auth, runtime, caplog):
    caplog.set_level(logging.DEBUG)
    _add(runtime, 90, "poolfake")
    _add(runtime, 91, "liarfake")
    _add(runtime, 92, "fakepower")  # no pools capability
    set_id = client.post("/api/pool-sets", json=SET, headers=auth).get_json()["id"]
    ips = [f"{NET}.{n}" for n in (90, 91, 92)]
    reply = client.post(f"/api/pool-sets/{set_id}/apply", json={"miners": ips}, headers=auth)
    assert reply.status_code == 200, reply.get_json()
    results = _by_ip(reply)
    assert results[f"{NET}.90"]["ok"] and "read back" in results[f"{NET}.90"]["message"]
    liar = results[f"{NET}.91"]
    assert liar["ok"] is False and liar["outcome"] == "failed"
    assert "accepted the pools" in liar["error"] and "old.example.org" in liar["error"]
    assert results[f"{NET}.92"]["outcome"] == "refused" and "pools" in results[f"{NET}.92"]["error"]
    # The password went to the miner, and nowhere else.
    assert (f"{NET}.90", "pools", [("stratum+tcp://pool.example.org:3333", "me.rack", SECRET),
                                    ("stratum+tcp://backup.example.org:443", "me.rack", "x")]) in PoolFake.sent
    # The same through the bulk route.
    again = _post(client, auth, {"action": "pool_set", "miners": [f"{NET}.90"], "value": set_id})
    assert again.get_json()["ok"] == 1
    shown = client.get(f"/api/miners/{NET}.90").get_json()["pools"]
    assert [p["url"] for p in shown] == [p["url"] for p in SET["pools"]]  # the read-back reached the record
    with runtime.db.read() as conn:
        events = " ".join(r["message"] for r in conn.execute("SELECT message FROM events"))
    assert "pool set 'Rack pools'" in events and "1 done, 1 refused, 1 failed" in events
    for text in (reply.get_data(as_text=True), again.get_data(as_text=True), events, caplog.text):
        assert SECRET not in text


def test_a_driver_error_echoing_the_password_is_scrubbed(client, auth, runtime, caplog):
    _add(runtime, 95, "poolfake")
    set_id = client.post("/api/pool-sets", json=SET, headers=auth).get_json()["id"]
    original = PoolFake.set_pools

    def echo(self, pools):  # a firmware error reply quoting what it was sent
        raise MinerUnreachable(f"pool rejected: {pools[0].url} {pools[0].user} {pools[0].password}")

    PoolFake.set_pools = echo
    try:
        reply = client.post(f"/api/pool-sets/{set_id}/apply", json={"miners": [f"{NET}.95"]}, headers=auth)
    finally:
        PoolFake.set_pools = original
    result = reply.get_json()["results"][0]
    assert result["outcome"] == "failed" and "pool rejected: stratum+tcp://pool.example.org:3333" in result["error"]
    assert "***" in result["error"] and SECRET not in reply.get_data(as_text=True)


def test_percent_of_a_learned_nominal(runtime, client, auth):
    """A model not in the table: the percent is of the nominal the controller learned at full setting."""
    record = _add(runtime, 41, "fakepower")  # never polled: no reading now
    assert bulk.percent_plan(record, 50, {"learned_w": 3000.0})[:2] == ("set_power_watts", 1500)
    runtime.autocontrol.nominals._values[record.id] = 3000.0  # as if learned at full setting
    reply = _post(client, auth, {"action": "power_percent", "miners": [record.ip], "value": 50})
    assert reply.get_json()["results"][0]["ok"], reply.get_json()
    assert FakePowerDriver.settings[-1] == (record.ip, "watts", 1500)
