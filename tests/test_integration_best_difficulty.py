"""Best difficulty end to end: each family's real driver against its simulated firmware on 127.84.3.0/24.

A test sets the simulator's ``best_session_diff`` knob above the network difficulty (a
solo miner "finds a block"), reads the miner through the driver and checks where the value
lands: ``best_session_difficulty`` always, ``best_difficulty`` only where the firmware
keeps an all-time best. A restart then clears the session value and keeps the all-time one.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from dataclasses import dataclass

import pytest

from miners import make_driver
from miners.base import MinerError, MinerStatus
from miners.nmminer import NMMinerDriver, TelemetryStore
from services.nmminer_listener import NMMinerListener
from simulator import MinerSpec, SimFleet
from tests.integration import wait_for

pytestmark = pytest.mark.integration

NET = "127.84.3"
NETWORK_DIFFICULTY = 1.49e14  # about the network difficulty at the end of 2026
BLOCK = 2.0e14  # a share above it: a found block


@dataclass(frozen=True)
class Case:
    """One simulated firmware, the driver family that reads it, and what its firmware reports."""

    name: str
    spec: MinerSpec
    family: str
    all_time: bool  # the firmware keeps a best across restarts (best_difficulty)
    reports: bool = True  # False: no best share field at all (Whatsminer API 3)


CASES = [
    Case("axeos-2.6-strings", MinerSpec("bitaxe", f"{NET}.10", firmware_version="v2.6.0", restart_seconds=0.3),
         "bitaxe", all_time=True),
    Case("axeos-2.12-numbers", MinerSpec("bitaxe", f"{NET}.11", firmware_version="v2.12.0", restart_seconds=0.3),
         "bitaxe", all_time=True),
    Case("nerdos", MinerSpec("bitaxe", f"{NET}.12", model="NerdQAxe++", restart_seconds=0.3), "bitaxe", all_time=True),
    Case("cgminer", MinerSpec("cgminer", f"{NET}.13", model="GekkoScience Compac F", restart_seconds=0.3),
         "cgminer", all_time=False),
    Case("antminer", MinerSpec("antminer", f"{NET}.14", model="Antminer S19", restart_seconds=0.3),
         "antminer", all_time=False),
    Case("avalon", MinerSpec("avalon", f"{NET}.15", model="Avalon Nano3s", restart_seconds=0.3),
         "avalon", all_time=False),
    Case("vnish-1.x-rest", MinerSpec("vnish", f"{NET}.16", model="Antminer S19", restart_seconds=0.3),
         "vnish", all_time=False),
    Case("vnish-3.x", MinerSpec("vnish_legacy", f"{NET}.17", model="Antminer S9", restart_seconds=0.3),
         "vnish", all_time=False),
    Case("whatsminer-api2", MinerSpec("whatsminer", f"{NET}.18", model="M30S+", restart_seconds=0.3),
         "whatsminer", all_time=False),
    Case("whatsminer-api3", MinerSpec("whatsminer", f"{NET}.19", model="M60S", restart_seconds=0.3),
         "whatsminer", all_time=False, reports=False),
    Case("braiins-rest", MinerSpec("braiins", f"{NET}.20", model="Antminer S19 XP", firmware_version="25.11",
                                   restart_seconds=0.3), "braiins", all_time=False),
    Case("braiins-cgminer-api", MinerSpec("braiins", f"{NET}.21", model="Antminer S9", firmware_version="0.2.0",
                                          restart_seconds=0.3), "braiins", all_time=False),
    Case("luxos", MinerSpec("luxos", f"{NET}.22", model="Antminer S19j Pro", restart_seconds=0.3),
         "luxos", all_time=True),
    Case("nmminer", MinerSpec("nmminer", f"{NET}.23", model="NM-TV-154", restart_seconds=0.3), "nmminer",
         all_time=False),
    Case("nmaxe", MinerSpec("nmminer", f"{NET}.24", model="NMAxe", restart_seconds=0.3), "nmminer", all_time=True),
]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def fd_targets() -> set[str]:
    """Open descriptors with what they point at, to name a leak."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(fd + "=" + os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return out


@pytest.fixture(scope="module")
def world():
    """The simulated fleet and an NMMiner listener with its own telemetry store; nothing left open after."""
    fds, threads = open_fds(), threading.active_count()
    t0 = fd_targets()
    store = TelemetryStore()
    listener = NMMinerListener(None, bind=f"{NET}.1", port=0, store=store).start()
    try:
        fleet = SimFleet([case.spec for case in CASES], allow_any_client=True, seed=84)
        for miner in fleet.miners:
            if miner.kind == "nmminer":
                miner.telemetry_target = listener.address
                miner.interval_s = 0.1
        with fleet:
            yield fleet, store
    finally:
        listener.stop()
    deadline = time.monotonic() + 5.0
    while (open_fds() > fds or threading.active_count() > threads) and time.monotonic() < deadline:
        gc.collect()  # a refused connection's socket waits in a traceback cycle for the cyclic GC
        time.sleep(0.05)
    assert open_fds() <= fds and threading.active_count() <= threads, (fd_targets() - t0, t0 - fd_targets())


def driver_for(case: Case, fleet: SimFleet, store: TelemetryStore):
    if case.family == "nmminer":
        return NMMinerDriver(case.spec.ip, store=store, port=fleet.port_offset + 12347)
    return make_driver(case.family, case.spec.ip, port_offset=fleet.port_offset, timeout=3.0)


def read(driver) -> MinerStatus | None:
    """One read, or None while the miner is down (restarting)."""
    try:
        return driver.read()
    except MinerError:
        return None


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_block_found_reaches_the_right_field(case: Case, world):
    fleet, store = world
    miner = fleet.miner(case.spec.ip)
    driver = driver_for(case, fleet, store)
    try:
        first = wait_for(lambda: read(driver), timeout=10, message=f"{case.name}: no reading")
        if not case.reports:
            assert (first.best_difficulty, first.best_session_difficulty) == (None, None)
        else:
            assert first.best_session_difficulty is not None and first.best_session_difficulty < NETWORK_DIFFICULTY
            assert (first.best_difficulty is not None) == case.all_time

        fleet.call(lambda: setattr(miner, "best_session_diff", BLOCK))

        def found() -> MinerStatus | None:
            status = read(driver)
            # NMMiners broadcast every 0.1 s: wait for a datagram sent after the knob was set.
            return status if status and (not case.reports or (status.best_session_difficulty or 0) > 1e14) else None

        after = wait_for(found, timeout=10, message=f"{case.name}: the new best never showed")
        if not case.reports:
            assert (after.best_difficulty, after.best_session_difficulty) == (None, None)
            return
        # Exact, except where the firmware only sends an SI string (NMMiner: 4 significant digits).
        assert after.best_session_difficulty == pytest.approx(BLOCK, rel=1e-3)
        assert after.best_session_difficulty >= NETWORK_DIFFICULTY  # what "block found" compares
        if case.all_time:
            assert after.best_difficulty == pytest.approx(BLOCK, rel=1e-3)
        else:
            assert after.best_difficulty is None

        fleet.restart(case.spec.ip, seconds=0.3)

        def rebooted() -> MinerStatus | None:
            status = read(driver)
            return status if status and (status.best_session_difficulty or 0) < NETWORK_DIFFICULTY else None

        later = wait_for(rebooted, timeout=15, message=f"{case.name}: the session best survived a restart")
        if case.all_time:
            assert later.best_difficulty == pytest.approx(BLOCK, rel=1e-3)  # kept across the restart
        else:
            assert later.best_difficulty is None
    finally:
        driver.close()
