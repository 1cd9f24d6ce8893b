"""The real app for browser tests, with miners and a battery whose next reading the test sets.

Everything behind the page is the production code: create_app, the Runtime with its
scheduler, FleetManager, the history, the battery monitor, the controller, the EMS
routes and the WebSocket push server. Two things are the test's:

- ScriptedDriver: the driver of one miner (a MinerDriver subclass per family, with the
  real driver class's family, port, capabilities and modes), reading what the test put
  in its ScriptedMiner and answering commands as scripted. It goes in through
  FleetManager's ``driver_factory``; addresses without a script get the real driver
  (miners.make_driver), so simulated miners (simulator/) can join the same fleet.
- BatteryMeter (tests/battery_meter.py): a loopback HTTP server with a JSON reading the test sets, read by the
  real ``battery.source: http`` source.

Used by test_dashboard.py, test_power_panel.py, test_ems_panel.py and test_miner_detail.py.
"""

from __future__ import annotations

import copy
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import miners
from miners.base import (ChipStatus, Credentials, MinerDriver, MinerStatus, PoolConfig, PoolStatus)
from miners.cgminer import CGMinerDriver
from miners.stratum import validate_pools

from harness import expect

from tests.battery_meter import BatteryMeter  # noqa: F401 - the browser tests import it from here
from tests.served_app import serving

TEST_PASSWORD = "browser-pass-0123"  # security.admin_password of every site here
API_TOKEN = "browser-token-0123456789abcdef"  # security.api_token


# --- scripted miners ------------------------------------------------------------------------
class ScriptedMiner:
    """One miner's next reading and answers, set by the test; the driver reads it on every poll.

    ``status``: what read() returns (a copy); ``error``: raised by read() instead while set.
    ``capabilities``/``modes``: this firmware's (None = the family's, from the real driver class).
    ``answer(action, outcome)``: the next call of ``action`` (a driver method name) raises
    ``outcome`` (an exception) or returns it as the driver's note (a string).
    Commands change the next reading the way the firmware would show them (sleep: no hashrate).
    """

    def __init__(self, ip: str, family: str, status: MinerStatus | None, *, error: Exception | None = None,
                 capabilities: set[str] | None = None, modes: tuple[str, ...] | None = None,
                 chips: list[ChipStatus] | None = None, model: str | None = None) -> None:
        self.ip, self.family, self.model = ip, family, model
        self.lock = threading.Lock()
        self._initial = (copy.deepcopy(status), error, capabilities, modes, copy.deepcopy(chips))
        self.reset()

    def reset(self) -> None:
        """Back to the reading and answers the miner was created with."""
        status, error, capabilities, modes, chips = self._initial
        with self.lock:
            self.status = copy.deepcopy(status)
            self.error = error
            self.capabilities = None if capabilities is None else frozenset(capabilities)
            self.modes = modes
            self.chips = copy.deepcopy(chips) or []
            self.answers: dict[str, Exception | str] = {}
            self.calls: list[tuple[str, tuple]] = []
            self.reads = 0
            self._asleep_hs: float | None = None

    def set(self, **fields: Any) -> None:
        """Change fields of the next reading (MinerStatus names)."""
        with self.lock:
            assert self.status is not None
            self.status = replace(self.status, **fields)

    def fail(self, error: Exception | None) -> None:
        """Every read raises ``error`` from now on (None: answer again)."""
        with self.lock:
            self.error = error

    def answer(self, action: str, outcome: Exception | str) -> None:
        """The next ``action`` call raises ``outcome`` or returns it as a note."""
        with self.lock:
            self.answers[action] = outcome

    def called(self, action: str) -> list[tuple]:
        """The arguments of every ``action`` call the miner received."""
        with self.lock:
            return [args for name, args in self.calls if name == action]

    # --- what the driver calls ---
    def read(self) -> MinerStatus:
        with self.lock:
            self.reads += 1
            if self.error is not None:
                raise self.error
            assert self.status is not None
            return copy.deepcopy(self.status)

    def command(self, action: str, *args: Any) -> str | None:
        with self.lock:
            self.calls.append((action, args))
            outcome = self.answers.pop(action, None)
            if isinstance(outcome, Exception):
                raise outcome
            self._apply(action, args)
            return outcome

    def _apply(self, action: str, args: tuple) -> None:
        """What the next read shows after a command went through."""
        s = self.status
        if s is None:
            return
        if action == "sleep":
            if s.state != "sleeping":
                self._asleep_hs = s.hashrate_hs
            s.state, s.hashrate_hs = "sleeping", 0.0
        elif action == "wake":
            s.state = "mining"
            if self._asleep_hs is not None:
                s.hashrate_hs, self._asleep_hs = self._asleep_hs, None
        elif action == "set_frequency":
            s.frequency_mhz = float(args[0])
            if args[1] is not None:
                s.voltage_mv = float(args[1])
        elif action == "set_power_watts":
            s.power_w = float(args[0])
        elif action == "set_fan" and args[0] is not None:
            s.fan_percent = float(args[0])
        elif action == "set_pools":
            s.pools = [PoolStatus(url=p.url, user=p.user, status="Unknown", priority=i)
                       for i, p in enumerate(args[0])]


_CLASSES: dict[str, type] = {}


def driver_class(family: str) -> type:
    """A ScriptedDriver subclass carrying the real driver class's family, port, capabilities and modes."""
    if family not in _CLASSES:
        real = miners.DRIVERS.get(family) or CGMinerDriver
        _CLASSES[family] = type(f"Scripted{real.__name__}", (ScriptedDriver,), {
            "family": family, "default_port": real.default_port, "capabilities": real.capabilities,
            "modes": real.modes})
    return _CLASSES[family]


class ScriptedDriver(MinerDriver):
    """A driver whose readings and answers come from the test's ScriptedMiner for its address."""

    script: ScriptedMiner

    def __init__(self, host: str, script: ScriptedMiner, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.script = script
        if script.capabilities is not None:  # this firmware version's, like a real driver after its probe
            self.capabilities = script.capabilities  # type: ignore[misc]
        if script.modes is not None:
            self.modes = script.modes  # type: ignore[misc]

    def read(self) -> MinerStatus:
        """The scripted reading (or its error)."""
        return self.script.read()

    def read_chips(self) -> list[ChipStatus]:
        """The scripted chips."""
        self.script.command("read_chips")
        return copy.deepcopy(self.script.chips)

    def restart(self) -> Any:
        return self.script.command("restart")

    def reboot(self) -> Any:
        return self.script.command("reboot")

    def sleep(self) -> Any:
        return self.script.command("sleep")

    def wake(self) -> Any:
        return self.script.command("wake")

    def set_power_watts(self, watts: int) -> Any:
        return self.script.command("set_power_watts", watts)

    def set_power_percent(self, percent: int) -> Any:
        return self.script.command("set_power_percent", percent)

    def set_mode(self, mode: str) -> Any:
        return self.script.command("set_mode", mode)

    def set_frequency(self, mhz: int, voltage_mv: int | None = None, board: int | None = None) -> Any:
        return self.script.command("set_frequency", mhz, voltage_mv, board)

    def set_fan(self, percent: int | None) -> Any:
        return self.script.command("set_fan", percent)

    def set_pools(self, pools: list[PoolConfig]) -> Any:
        validate_pools(pools, max_pools=3)  # the drivers' own check (miners/stratum.py): a 400 before sending
        return self.script.command("set_pools", list(pools))

    def set_autodownscale(self, enabled: bool, **settings: int | None) -> Any:
        return self.script.command("set_autodownscale", enabled, settings)


# --- the site -----------------------------------------------------------------------------------
@dataclass
class Site:
    """A running real app: its URL, runtime, scripted miners by IP, and the battery meter (or None)."""

    base: str
    runtime: Any
    miners: dict[str, ScriptedMiner]
    meter: BatteryMeter | None

    def miner(self, ip: str) -> ScriptedMiner:
        return self.miners[ip]

    def poll(self) -> None:
        """One poll round now (the scheduler's own keep running): its snapshot goes out over /ws."""
        self.runtime.fleet.poll_round()

    def read_battery(self) -> None:
        """One battery read now (the scheduler's own keep running)."""
        self.runtime.battery.poll()

    def record(self, ip: str) -> Any:
        return self.runtime.fleet.get(ip)

    def restart_push(self) -> None:
        """Every open WebSocket is closed by its server, as at a restart ("going away"); new ones are served."""
        from services.push import PushServer

        old, self.runtime.hub.push = self.runtime.hub.push, PushServer()
        old.close()

    def reset(self) -> None:
        """The scripted miners (only they) back in the fleet with their first readings, polled; /ws open to all."""
        fleet = self.runtime.fleet
        for record in fleet.records():
            if record.ip not in self.miners:  # added by a test (discovery, add by IP)
                fleet.remove(record.ip)
        known = {record.ip for record in fleet.records()}
        for script in self.miners.values():
            script.reset()
            if script.ip not in known:  # removed by a test
                fleet.add(script.ip, script.family, model=script.model, source="manual")
        self.runtime.hub.push.max_clients = 200
        self.poll()


def scripted_factory(scripts: dict[str, ScriptedMiner]) -> Callable[..., MinerDriver]:
    """A driver factory like miners.make_driver: scripted drivers for ``scripts``, real ones elsewhere."""

    def make(family: str, host: str, *, port: int | None = None, port_offset: int = 0, timeout: float = 3.0,
             credentials: Credentials | None = None) -> MinerDriver:
        script = scripts.get(host)
        if script is None:
            return miners.make_driver(family, host, port=port, port_offset=port_offset, timeout=timeout,
                                      credentials=credentials)
        return driver_class(family)(host, script, port=port, timeout=timeout, credentials=credentials)

    return make


def config_text(*, subnet: str, battery: str = "battery:\n  source: none\n", extra: str = "",
                poll_sec: float = 2, port_offset: int = 0, reads_require_login: bool = False) -> str:
    """config.yaml for a site: fast polls, history written at once, the test's login."""
    return (f"network:\n  subnet: {subnet}\n  port_offset: {port_offset}\n"
            f"polling:\n  interval_sec: {poll_sec}\n  timeout_sec: 1\n  offline_after: 1\n"
            "storage:\n  flush_interval_sec: 0\n"
            f"{battery}{extra}"
            f"security:\n  api_token: {API_TOKEN}\n  admin_password: {TEST_PASSWORD}\n"
            f"  reads_require_login: {'true' if reads_require_login else 'false'}\n")


@contextmanager
def real_site(tmp: Path, host: str, scripts: list[ScriptedMiner], *, subnet: str,
              meter: BatteryMeter | None = None, extra: str = "", poll_sec: float = 2, port_offset: int = 0,
              reads_require_login: bool = False,
              before_start: Callable[[Any], None] | None = None) -> Iterator[Site]:
    """Start create_app with these scripted miners (and meter) on ``host``; yields the Site.

    ``extra``: more config.yaml sections. ``before_start(runtime)``: e.g. seed history before the
    scheduler runs. Miners are added as the API adds them (FleetManager.add) and polled once.
    """
    from app import create_app
    from database.db import Database
    from services.config import load_config
    from services.fleet import FleetManager
    from services.runtime import Runtime

    threads_before, fds_before = set(threading.enumerate()), _open_fds()
    path = tmp / "config.yaml"
    battery = meter.config() if meter is not None else "battery:\n  source: none\n"
    path.write_text(config_text(subnet=subnet, battery=battery, extra=extra, poll_sec=poll_sec,
                                port_offset=port_offset, reads_require_login=reads_require_login))
    config = load_config(path, environ={})  # data/ next to the config file
    by_ip = {s.ip: s for s in scripts}
    config.data_path.mkdir(parents=True, exist_ok=True)
    db = Database(config.data_path / "fleet.db", migrate=True)
    fleet = FleetManager(config, db, driver_factory=scripted_factory(by_ip))
    runtime = Runtime(config, fleet=fleet, db=db)
    for script in scripts:
        fleet.add(script.ip, script.family, model=script.model, source="manual")
    if before_start is not None:
        before_start(runtime)
    app = create_app(config=config, runtime=runtime, start_background=True)
    try:
        assert runtime.scheduler is not None and not runtime.read_only, "the background runtime did not start"
        site = Site(base="", runtime=runtime, miners=by_ip, meter=meter)
        site.poll()
        if meter is not None:
            site.read_battery()
        with serving(app, host, before_stop=runtime.shutdown) as base:
            site.base = base
            yield site
    finally:
        runtime.shutdown()
    # Everything the app opened is gone once it stopped: threads (poller, push server, executors,
    # request threads) and descriptors (database, sockets), within a few seconds.
    deadline = time.monotonic() + 10
    while (_new_threads(threads_before) or _open_fds() > fds_before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _new_threads(threads_before), [t.name for t in _new_threads(threads_before)]
    assert _open_fds() <= fds_before, f"{_open_fds()} descriptors open, {fds_before} before the app started"


def _new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started since ``before``, except Playwright's own (asyncio's executor, the browser session's)."""
    return [t for t in threading.enumerate() if t not in before and not t.name.startswith("asyncio")]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# --- page helpers ---------------------------------------------------------------------------------
def card(page: Any, ip: str) -> Any:
    """The dashboard card of one miner."""
    return page.locator(f'#cards .card[data-ip="{ip}"]')


def log_in(page: Any) -> None:
    """Log in through the login page and come back to a live dashboard."""
    page.goto(re.sub(r"^(https?://[^/]+).*$", r"\1/login", page.url))
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#logout-btn")).to_be_visible()
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
