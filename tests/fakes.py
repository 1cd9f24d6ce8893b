"""Fake drivers for FleetManager and API tests: canned readings, slow, failing or hung miners."""

from __future__ import annotations

import threading
import time

from miners.base import (POOLS, POWER_WATTS, RESTART, SLEEP, WAKE, MinerAuthError, MinerDriver, MinerStatus,
                         MinerUnreachable)


class FakeDriver(MinerDriver):
    """Behaviour chosen per IP by the test through ``FakeDriver.behaviour[ip]``."""

    family = "fake"
    default_port = 4028
    capabilities = frozenset({RESTART, POOLS})
    behaviour: dict[str, str] = {}
    reads: dict[str, int] = {}
    restarts: list[str] = []
    pools: dict = {}
    release = threading.Event()  # lets "hang" miners finish at the end of a test

    def read(self) -> MinerStatus:
        FakeDriver.reads[self.host] = FakeDriver.reads.get(self.host, 0) + 1
        mode = FakeDriver.behaviour.get(self.host, "ok")
        if mode == "fail":
            raise MinerUnreachable("connection refused")
        if mode == "auth":
            raise MinerAuthError("AxeOS refused this controller's address (401)")
        if mode == "crash":
            raise KeyError("driver bug")
        if mode == "hang":
            FakeDriver.release.wait(30)
            raise MinerUnreachable("hung")
        if mode == "slow":
            time.sleep(0.3)
        last = int(self.host.rsplit(".", 1)[1])
        return MinerStatus(hashrate_hs=1e12 * last, power_w=None if mode == "nopower" else 15.0 * last,
                           temp_c=50.0 + last, fan_rpm=[3000], model="Fake X1", firmware="fakefw",
                           uptime_s=100)

    def restart(self) -> None:
        FakeDriver.restarts.append(self.host)

    def set_pools(self, pools) -> None:
        from miners.stratum import validate_pools

        validate_pools(pools, max_pools=3)
        FakeDriver.pools[self.host] = pools


class FakePowerDriver(FakeDriver):
    """A fake with a watts knob and sleep/wake, recording every setting it is sent."""

    family = "fakepower"
    capabilities = frozenset({POWER_WATTS, SLEEP, WAKE})
    settings: list = []

    def set_power_watts(self, watts: int) -> None:
        FakePowerDriver.settings.append((self.host, "watts", watts))

    def sleep(self) -> None:
        FakePowerDriver.settings.append((self.host, "sleep", None))

    def wake(self) -> None:
        FakePowerDriver.settings.append((self.host, "wake", None))


def fake_factory(family, host, *, port=None, port_offset=0, timeout=3.0, credentials=None):
    """A driver factory like miners.make_driver that knows only the fake families."""
    classes = {"fake": FakeDriver, "fakepower": FakePowerDriver}
    if family not in classes:
        raise ValueError(f"unknown family {family!r}")
    return classes[family](host, port=port, timeout=timeout, credentials=credentials)


def reset_fakes() -> None:
    """Clear the class-level test state."""
    FakeDriver.behaviour = {}
    FakeDriver.reads = {}
    FakeDriver.restarts = []
    FakeDriver.pools = {}
    FakePowerDriver.settings = []
    FakeDriver.release = threading.Event()
