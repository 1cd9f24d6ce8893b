"""The nominal power of a model the table does not know: learned at full setting, never lowered by a throttle.

The fakes' model "Fake X1" is not in the power table; they draw 15 W x the last octet
(15, 30, 45 W = 0.09 kW rated) until a watt target is sent, then that target (as a
Whatsminer under adjust_power_limit does), so a throttled reading IS the target.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from miners.base import MinerStatus
from services.power.allocator import MinerHistory, MinerInput, PowerAllocator, miner_input, nominal_power
from services.power.learned import STATE_KEY, NominalLog, at_full_setting
from tests.fakes import FakePowerDriver, reset_fakes
from tests.test_ems_api import EMS, IPS, activate, build, drain

SETTLE = 300.0


@pytest.fixture
def throttled_reads(monkeypatch):
    """FakePowerDriver reads its last watt target as its power (15 W x last octet before any)."""
    original = FakePowerDriver.read

    def read(self):
        status = original(self)
        sent = [w for host, kind, w in FakePowerDriver.settings if host == self.host and kind == "watts"]
        if sent:
            status.power_w = float(sent[-1])
        return status

    monkeypatch.setattr(FakePowerDriver, "read", read)


@pytest.fixture
def env(tmp_path, throttled_reads):
    reset_fakes()
    app, runtime = build(tmp_path)
    yield app.test_client(), runtime
    runtime.shutdown()


def learn(runtime) -> None:
    """Two poll rounds the controller sees: the fakes' full-setting power is learned."""
    for _ in range(2):
        runtime.fleet.poll_round()
        runtime.autocontrol.inputs(time.time())


def rated_w(runtime) -> float:
    _, inputs = runtime.autocontrol.inputs(time.time())
    return PowerAllocator.rated_w(inputs)


# --- through the control loop ----------------------------------------------------------------
def test_a_throttled_reading_leaves_the_nominal_at_full_power(env):
    client, runtime = env
    learn(runtime)
    assert rated_w(runtime) == pytest.approx(90.0)
    assert activate(client, {"activationPowerInKw": 0.05}).status_code == 200
    drain(runtime)
    sent = {host: w for host, kind, w in FakePowerDriver.settings if kind == "watts"}
    assert sum(sent.values()) <= 50 and len(sent) == 3
    runtime.fleet.poll_round()  # the miners now read their targets
    powers = {r.ip: r.status.power_w for r in runtime.fleet.records()}
    assert powers == {ip: float(w) for ip, w in sent.items()}
    # Before this fix the nominal was that reading: rated 0.05 kW after the dispatch.
    assert rated_w(runtime) == pytest.approx(90.0)
    assert client.get("/api/status", headers=EMS).get_json()["ratedPowerInKw"] == 0.09
    # Long after the command (outside the settle window) a throttled reading still does not count.
    later = time.time() + 2 * SETTLE
    runtime.fleet.poll_round()
    runtime.autocontrol.inputs(later)
    runtime.fleet.poll_round()
    _, inputs = runtime.autocontrol.inputs(later)  # stale at that clock: nominal per miner, not rated
    assert sorted(nominal_power(m)[0] for m in inputs) == [15.0, 30.0, 45.0]


def test_a_second_dispatch_above_the_first_target_is_accepted(env):
    client, runtime = env
    # No learning beforehand: the app has polled once and the EMS dispatches at once (the first
    # reading at full setting, seen by the activate itself, is the only one before the throttle).
    assert activate(client, {"activationPowerInKw": 0.05}).status_code == 200
    drain(runtime)
    runtime.fleet.poll_round()
    runtime.fleet.poll_round()
    reply = activate(client, {"activationPowerInKw": 0.08})  # above 0.05 kW, within the real 0.09 kW
    assert reply.status_code == 200 and reply.get_json()["accepted"] is True, reply.get_json()
    drain(runtime)
    assert runtime.autocontrol.last_plan["expected_w"] == pytest.approx(80, abs=3)
    sent = {}
    for host, kind, w in FakePowerDriver.settings:
        if kind == "watts":
            sent[host] = w
    assert sum(sent.values()) == pytest.approx(80, abs=3)  # planned at full size, not at the first target
    assert activate(client, {"activationPowerInKw": 0.091}).status_code == 400  # the real rating still holds


def test_learned_values_are_written_with_the_history_flush_and_survive_a_restart(env):
    _, runtime = env
    assert runtime.autocontrol.nominals in runtime.history.companions
    learn(runtime)
    ids = {r.ip: r.id for r in runtime.fleet.records()}
    runtime.history.flush()
    again = NominalLog(runtime.db)
    assert {ip: again.get(ids[ip]) for ip in IPS} == {"10.0.0.1": 15.0, "10.0.0.2": 30.0, "10.0.0.3": 45.0}
    # Nothing rose: the next flush does not write the key again.
    assert runtime.autocontrol.nominals.write(None, time.time()) == 0


# --- the rules, on plain records ---------------------------------------------------------------
def record(watts, *, seen, model="Whatsminer M31S V10", family="whatsminer", hashrate=76e12, online=True,
           last_command_ts=None, modes=()):
    return SimpleNamespace(id=7, ip="10.0.0.7", family=family, model=None, online=online, last_seen_ts=seen,
                           last_command_ts=last_command_ts, driver=SimpleNamespace(modes=modes),
                           status=MinerStatus(power_w=watts, hashrate_hs=hashrate, model=model))


def test_the_first_reading_sets_it_one_spike_does_not_raise_it_two_in_a_row_do():
    log = NominalLog()
    free = MinerHistory()
    log.observe(record(3300.0, seen=1.0), free, 1000.0, SETTLE)
    assert log.get(7) == 3300.0  # the next tick may throttle it: there may be no second reading
    log.observe(record(3900.0, seen=2.0), free, 1000.0, SETTLE)
    assert log.get(7) == 3300.0  # a spike alone
    log.observe(record(3310.0, seen=3.0), free, 1000.0, SETTLE)
    assert log.get(7) == 3310.0
    log.observe(record(3310.0, seen=3.0), free, 1000.0, SETTLE)  # the same poll seen again: ignored
    log.observe(record(3200.0, seen=4.0), free, 1000.0, SETTLE)
    assert log.get(7) == 3310.0  # never lowered


def test_a_reading_that_does_not_count_breaks_the_pair():
    log = NominalLog()
    log.observe(record(3000.0, seen=1.0), MinerHistory(), 1000.0, SETTLE)
    log.observe(record(3300.0, seen=2.0, last_command_ts=900.0), MinerHistory(), 1000.0, SETTLE)
    log.observe(record(3300.0, seen=3.0), MinerHistory(), 1000.0, SETTLE)
    assert log.get(7) == 3000.0
    log.observe(record(3300.0, seen=4.0), MinerHistory(), 1000.0, SETTLE)
    assert log.get(7) == 3300.0


@pytest.mark.parametrize("history, rec, counts", [
    (MinerHistory(), {}, True),
    (MinerHistory(level_action="set_power_watts", level_value=2000, last_command_ts=0.0), {}, False),
    (MinerHistory(level_action="set_power_watts", level_value=9999, last_command_ts=0.0), {}, False),
    (MinerHistory(level_action="set_power_percent", level_value=60, last_command_ts=0.0), {}, False),
    (MinerHistory(level_action="set_power_percent", level_value=100, last_command_ts=0.0), {}, True),
    (MinerHistory(level_action="set_power_percent", level_value=100, last_command_ts=950.0), {}, False),  # settling
    (MinerHistory(), {"last_command_ts": 950.0}, False),  # a dashboard command settling
    (MinerHistory(on=False), {}, False),
    (MinerHistory(), {"hashrate": 0.0}, False),
    (MinerHistory(), {"online": False}, False),
    (MinerHistory(level_action="set_mode", level_value="low", last_command_ts=0.0),
     {"family": "antminer", "modes": ("sleep", "low", "normal")}, False),
    (MinerHistory(level_action="set_mode", level_value="normal", last_command_ts=0.0),
     {"family": "antminer", "modes": ("sleep", "low", "normal")}, True),
])
def test_which_readings_count(history, rec, counts):
    assert at_full_setting(record(3300.0, seen=1.0, **rec), history, 1000.0, SETTLE) is counts


def test_a_model_in_the_table_is_not_learned():
    log = NominalLog()
    for seen in (1.0, 2.0):
        log.observe(record(3300.0, seen=seen, model="Whatsminer M60S VK40"), MinerHistory(), 1000.0, SETTLE)
    assert log.to_dict() == {}


def test_nominal_order_override_table_learned_reading():
    base = dict(ip="10.0.0.7", family="whatsminer", power_w=2000.0, hashrate_hs=50e12)
    assert nominal_power(MinerInput(**base, model="Whatsminer M31S V10"))[0] == 2000.0  # nothing learned yet
    learned = MinerInput(**base, model="Whatsminer M31S V10", learned_w=3553.0)
    assert nominal_power(learned) == (3553.0, "nominal 3553 W = highest measured at full setting (model not in table)")
    assert nominal_power(MinerInput(**base, model="Whatsminer M60S VK40", learned_w=3553.0))[0] == 3300.0
    assert nominal_power(MinerInput(**base, model="Whatsminer M31S V10", learned_w=3553.0, nominal_w=3400.0))[0] == 3400.0
    # Asleep (no reading): the learned value still plans it; before, it was not planned at all.
    asleep = MinerInput(ip="10.0.0.7", family="whatsminer", model="Whatsminer M31S V10", learned_w=3553.0)
    assert nominal_power(asleep)[0] == 3553.0


def test_miner_input_carries_the_learned_value():
    rec = record(2000.0, seen=time.time())
    rec.driver = SimpleNamespace(capabilities=frozenset({"power_watts"}), modes=(), power_steps_w=())
    assert miner_input(rec, time.time(), 60.0, learned_w=3553.0).learned_w == 3553.0


def test_a_bad_stored_value_is_ignored(tmp_path):
    from database import queries
    from database.db import Database

    db = Database(tmp_path / "fleet.db", migrate=True)
    with db.write() as conn:
        queries.set_state(conn, STATE_KEY, {"1": 3300, "2": "x", "3": -5, "4": True})
    assert NominalLog(db).to_dict() == {1: 3300.0}
    db.close()
