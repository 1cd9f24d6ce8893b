"""BOS+ power-target limits: GET /api/v1/configuration/constraints parsed, read by the driver once (again
after a firmware change or an outage), a target outside them refused before sending, and the allocator
never planning a BOS+ S19 XP below its 1000 W floor (the 929 W refused every tick in the 2026-12-07 demo).

The simulated miners run on 127.85.3.0/24 (this fix's range, docs/contracts.md)."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import pytest

from miners import make_driver
from miners.base import POWER_WATTS, SLEEP, WAKE
from miners.braiins import BraiinsDriver, parse_power_constraints
from services.power.allocator import (
    SET_POWER_WATTS,
    MinerHistory,
    MinerInput,
    PowerAllocator,
    miner_input,
)
from simulator import MinerSpec, SimFleet
from simulator.braiins import generation
from tests.test_miners_fakes import fixture_json

NET = "127.85.3"
XP, XP2 = f"{NET}.10", f"{NET}.11"
CONSTRAINTS = "/configuration/constraints"
PUT_TARGET = ("PUT", "/api/v1/performance/power-target")


# --- the parser -----------------------------------------------------------------------------------
def test_parse_the_documented_reply():
    # Shape from the OpenAPI 1.3.0 schema, numbers from asic-rs PR #292's S19k Pro (fixtures README).
    reply = fixture_json("braiins/rest_configuration_constraints.s19kpro_documented.json")
    assert parse_power_constraints(reply) == (771.0, 6435.0)


@pytest.mark.parametrize("reply", [
    None, [], {}, {"tuner_constraints": None}, {"tuner_constraints": {"default_mode": 1}},
    {"tuner_constraints": {"power_target": {"min": {"watt": 1000}}}},  # no max: no range
    {"tuner_constraints": {"power_target": {"min": {"watt": 3600}, "max": {"watt": 1000}}}},  # inverted
    {"tuner_constraints": {"power_target": {"min": {"watt": 0}, "max": {"watt": 3600}}}},  # a 0 W floor is no floor
    {"tuner_constraints": {"power_target": {"min": {"watt": True}, "max": {"watt": 3600}}}},
    {"tuner_constraints": {"power_target": {"min": 1000, "max": 3600}}},  # bare numbers: not the schema
])
def test_parse_refuses_partial_or_lying_replies(reply):
    assert parse_power_constraints(reply) is None


# --- the driver against the simulator -----------------------------------------------------------------
def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("braiins", XP, model="S19 XP", firmware_version="25.11"),
             MinerSpec("braiins", XP2, model="S19 XP", firmware_version="25.11")]
    with SimFleet(specs, allow_any_client=True, seed=7) as fleet:
        yield fleet


@pytest.fixture
def xp(sim):
    """The first S19 XP reset to factory settings, its request counters cleared."""
    miner = sim.miner(XP)

    def reset() -> None:
        miner.power_target, miner.paused = miner.hw.default_watts, False
        miner.gen = generation("25.11", miner.hw)
        miner.rest_writes.clear()
        miner.rest_reads.clear()

    sim.call(reset)
    sim.set_fault(XP, None)
    return miner


def driver_for(sim, ip: str) -> BraiinsDriver:
    driver = make_driver("braiins", ip, port_offset=sim.port_offset, timeout=2.0)
    assert isinstance(driver, BraiinsDriver)
    return driver


def test_the_simulator_answers_the_documented_shape(sim, xp):
    driver = driver_for(sim, XP)
    try:
        reply = driver._rest_json("GET", CONSTRAINTS)
    finally:
        driver.close()
    power = reply["tuner_constraints"]["power_target"]
    assert power == {"default": {"watt": 3031}, "max": {"watt": 3600}, "min": {"watt": 1000}}
    assert set(reply["tuner_constraints"]["hashrate_target"]) == {"default", "max", "min"}
    assert reply["tuner_constraints"]["default_mode"] == 1


def test_limits_are_read_once_and_not_on_every_poll(sim, xp):
    fds, threads = open_fds(), threading.active_count()
    driver = driver_for(sim, XP)
    try:
        assert driver.power_range_w is None
        for _ in range(5):
            driver.read()
        assert driver.power_range_w == (1000.0, 3600.0)
        assert xp.rest_reads[CONSTRAINTS] == 1 and xp.rest_reads["/miner/details"] == 5
    finally:
        driver.close()
    # The simulator runs in this process: its side of the connection closes a moment after ours.
    deadline = time.monotonic() + 5.0
    while (open_fds() > fds or threading.active_count() > threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds() <= fds and threading.active_count() <= threads


def test_a_target_outside_the_range_is_refused_before_sending(sim, xp):
    driver = driver_for(sim, XP)
    try:
        driver.read()
        for watts in (929, 3601):
            with pytest.raises(ValueError, match="outside this miner's range 1000-3600 W"):
                driver.set_power_watts(watts)
        assert PUT_TARGET not in xp.rest_writes  # nothing refused by BOS+: nothing sent
        driver.set_power_watts(1000)  # the floor itself is accepted
        assert xp.rest_writes == [PUT_TARGET] and xp.power_target == 1000
    finally:
        driver.close()


def test_a_command_before_the_first_poll_reads_the_limits_first(sim, xp):
    driver = driver_for(sim, XP)
    try:
        with pytest.raises(ValueError, match="1000-3600 W"):
            driver.set_power_watts(929)
        assert xp.rest_reads[CONSTRAINTS] == 1 and xp.rest_writes == []
        driver.read()  # the range just read serves the poll too
        assert xp.rest_reads[CONSTRAINTS] == 1
    finally:
        driver.close()


def test_limits_are_read_again_after_a_firmware_change_and_after_an_outage(sim, xp):
    driver = driver_for(sim, XP)
    try:
        driver.read()
        assert xp.rest_reads[CONSTRAINTS] == 1
        sim.call(lambda: setattr(xp, "gen", generation("26.01", xp.hw)))  # bos_version.current changes
        driver.read()
        assert xp.rest_reads[CONSTRAINTS] == 2
        driver.read()
        assert xp.rest_reads[CONSTRAINTS] == 2
        sim.set_fault(XP, "down")
        with pytest.raises(Exception):
            driver.read()
        sim.set_fault(XP, None)
        driver.read()  # back from an outage: it may have been upgraded or re-powered
        assert xp.rest_reads[CONSTRAINTS] == 3 and driver.power_range_w == (1000.0, 3600.0)
    finally:
        driver.close()


# --- the allocator ------------------------------------------------------------------------------------
def bos_xp(ip: str = XP, *, power_range_w: tuple[float, float] | None = (1000.0, 3600.0), **kw) -> MinerInput:
    return MinerInput(ip=ip, family="braiins", model="Antminer S19 XP", capabilities=frozenset({POWER_WATTS, SLEEP, WAKE}),
                      power_w=3000.0, hashrate_hs=140e12, power_range_w=power_range_w, **kw)


def watt_commands(plan) -> list[int]:
    return [s.value for s in plan.settings if s.action == SET_POWER_WATTS]


def test_the_demo_case_without_limits_asks_929_w():
    # Guard for the test below: without the firmware's range the table's 30 % floor (903 W) lets a
    # share of 929 W through, which BOS+ refuses. Same budget as the demo's tick.
    plan = PowerAllocator().allocate([bos_xp(power_range_w=None)], {}, 0.0, target_w=929)
    assert watt_commands(plan) == [929]


@pytest.mark.parametrize("history", [MinerHistory(), MinerHistory(on=True, level_action=SET_POWER_WATTS, level_value=2500,
                                                                  last_command_ts=-10_000.0, last_switch_ts=-10_000.0)])
def test_a_bos_s19xp_is_never_commanded_below_its_1000_w_floor(history):
    allocator = PowerAllocator()
    seen = []
    for target in range(0, 4001, 25):
        for lowest in (False, True):
            plan = allocator.allocate([bos_xp()], {XP: history}, 0.0, target_w=float(target), lowest=lowest)
            seen += watt_commands(plan)
            for m in plan.miners:
                assert m.expected_w == 0 or 1000 <= m.expected_w <= 3600
    assert seen and min(seen) == 1000 and max(seen) <= 3010  # never above nominal either


def test_overrides_cannot_leave_the_firmware_range():
    plan = PowerAllocator().allocate([bos_xp(min_w=500.0)], {}, 0.0, target_w=700)
    assert watt_commands(plan) in ([], [1000]) and all(v >= 1000 for v in watt_commands(plan))
    assert "firmware accepts 1000-3600 W" in plan.miners[0].explanation


def test_miner_input_carries_the_driver_range():
    driver = SimpleNamespace(capabilities=frozenset({POWER_WATTS}), modes=(), power_steps_w=(),
                             power_range_w=(1000.0, 3600.0))
    record = SimpleNamespace(ip=XP, family="braiins", model="Antminer S19 XP", online=True, last_seen_ts=100.0,
                             status=SimpleNamespace(model="Antminer S19 XP", power_w=3000.0, hashrate_hs=1.4e14),
                             driver=driver)
    assert miner_input(record, 101.0, 60.0).power_range_w == (1000.0, 3600.0)
    driver.power_range_w = None
    assert miner_input(record, 101.0, 60.0).power_range_w is None
    del driver.power_range_w  # a driver class that never heard of it
    assert miner_input(record, 101.0, 60.0).power_range_w is None


def test_control_end_to_end_two_bos_xps_on_a_small_budget(sim, xp):
    """Real drivers, real simulators: every planned watt target is accepted by the firmware."""
    drivers = {ip: driver_for(sim, ip) for ip in (XP, XP2)}
    try:
        history: dict[str, MinerHistory] = {}
        for target in (1858.0, 2100.0, 929.0, 6000.0):
            inputs = []
            for ip, driver in drivers.items():
                status = driver.read()
                record = SimpleNamespace(ip=ip, family="braiins", model=status.model, online=True,
                                         last_seen_ts=time.time(), status=status, driver=driver)
                inputs.append(miner_input(record, time.time(), 60.0))
            plan = PowerAllocator().allocate(inputs, history, time.time(), target_w=target, immediate=True)
            for s in plan.settings:
                getattr(drivers[s.ip], s.action)(*s.args)  # a ValueError here is the bug
                if s.action == SET_POWER_WATTS:
                    assert 1000 <= s.value <= 3600
            history = {}
        assert all(sim.miner(ip).power_target >= 1000 for ip in drivers)
    finally:
        for driver in drivers.values():
            driver.close()
        for ip in drivers:
            sim.call(lambda ip=ip: setattr(sim.miner(ip), "paused", False))
