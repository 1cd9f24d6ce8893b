"""An AutoControl on the test runtime's fake miners, with a settable battery, temperatures and clock.

Shared by the overheat and EMS control tests: subclasses build the config; this holds
the temperature patch of FakePowerDriver, the battery reading and the tick.
"""

from __future__ import annotations

import dataclasses

from services.power.decision import BatterySample
from tests.fakes import FakePowerDriver

IPS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")  # fakes draw 15 W x last octet: 15, 30, 45 W; 51-53 C


class ControlSite:
    """``temps[ip]`` overrides a fake's temperature; ``soc`` None = no battery reading."""

    def __init__(self, runtime, monkeypatch, config, *, soc: float | None, now: float = 0.0) -> None:
        self.runtime = runtime
        self.config = config
        self.temps: dict[str, float | None] = {}
        original, temps = FakePowerDriver.read, self.temps

        def read(driver):
            status = original(driver)
            return dataclasses.replace(status, temp_c=temps.get(driver.host, status.temp_c))

        monkeypatch.setattr(FakePowerDriver, "read", read)
        for ip in IPS:
            runtime.fleet.add(ip, "fakepower")
        self.soc = soc
        self.now = now

    def reading(self):
        """The battery reading AutoControl sees (fresh at ``now``)."""
        if self.soc is None:
            return None
        return BatterySample(soc_pct=self.soc, pv_w=0.0, load_w=500.0, battery_w=500.0, measured_at=self.now)

    def rebuild(self):
        """A new AutoControl on the same database (a restart)."""
        from services.autocontrol import AutoControl

        return AutoControl(self.config, self.runtime.db, self.runtime.fleet, self.reading, notify=lambda _: None)

    def tick(self, now, control=None):
        """Poll (temperatures), then tick at ``now`` with every reading fresh at ``now``."""
        self.runtime.fleet.poll_round()
        for record in self.runtime.fleet.records():
            record.last_seen_ts = now
        self.now = now
        return (control or self.control).tick(now)
