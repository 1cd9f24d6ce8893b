"""SimFleet: many simulated miners on one asyncio event loop in one background thread.

Each miner listens on its own loopback address (127.x.y.z) on the firmware's
real ports plus ``port_offset``. Tests, the demo and the benchmarks drive it
from ordinary threads; every change to a miner's sockets is handed to the loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator, TypeVar

from .antminer import AntminerMiner
from .avalon import AvalonMiner
from .axeos import BitaxeMiner
from .braiins import BraiinsMiner
from .cgminer import CgminerMiner
from .conditions import check_conditions
from .faults import check_fault
from .luxos import LuxOSMiner
from .miner import BindError, SimMiner
from .models import AXEOS_VERSIONS
from .nmminer import NMMinerSim
from .spec import MinerSpec
from .vnish import VnishMiner
from .vnish_legacy import VnishLegacyMiner
from .whatsminer import WhatsminerMiner

T = TypeVar("T")

MINER_CLASSES: dict[str, type[SimMiner]] = {"bitaxe": BitaxeMiner, "cgminer": CgminerMiner,
                                            "antminer": AntminerMiner,
                                            "nmminer": NMMinerSim,
                                            "avalon": AvalonMiner,
                                            "vnish": VnishMiner, "vnish_legacy": VnishLegacyMiner,
                                            "whatsminer": WhatsminerMiner,
                                            "braiins": BraiinsMiner, "luxos": LuxOSMiner}


class SimulatorError(RuntimeError):
    """The fleet could not start (an address/port could not be bound) or was misused."""


def default_port_offset() -> int:
    """0 when we may bind ports below 1024 (root), else 10000 (80 -> 10080, 4028 -> 14028)."""
    return 0 if os.geteuid() == 0 else 10000


def _raise_fd_limit(wanted: int) -> None:
    # Every listener and every open connection is a file descriptor; 500 miners
    # with two ports plus a benchmark's client sockets exceed the common 1024.
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):
        pass


class SimFleet:
    """A set of simulated miners: ``start()`` binds them all, ``stop()`` closes everything."""

    def __init__(self, specs: Iterable[MinerSpec], *, port_offset: int | None = None,
                 allow_any_client: bool = False, seed: int | None = None) -> None:
        self.specs = list(specs)
        self.port_offset = default_port_offset() if port_offset is None else port_offset
        self.allow_any_client = allow_any_client
        self.seed = seed
        self._miners: dict[str, SimMiner] = {}
        for spec in self.specs:
            if spec.ip in self._miners:
                raise SimulatorError(f"two simulated miners on {spec.ip}")
            cls = MINER_CLASSES[spec.kind]
            self._miners[spec.ip] = cls(spec, port_offset=self.port_offset, seed=seed,
                                        allow_any_client=allow_any_client)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> SimFleet:
        """Bind every miner's ports; returns once all listen (raises SimulatorError if one cannot bind)."""
        with self._lock:
            if self._loop is not None:
                return self
            listeners = sum(len(m.protocols) for m in self._miners.values())
            _raise_fd_limit(listeners * 2 + 4096)
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="sim-fleet-loop", daemon=True)
            thread.start()
            started.wait()
            self._loop, self._thread = loop, thread
        try:
            self._call(self._bind_all(), timeout)
        except BindError as exc:
            self.stop()
            raise SimulatorError(str(exc)) from exc
        except BaseException:
            self.stop()
            raise
        return self

    async def _bind_all(self) -> None:
        for miner in self._miners.values():
            await miner.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Close every listener and connection and end the loop thread (safe to call twice)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            if not thread.is_alive():
                loop.close()

    async def _shutdown(self) -> None:
        for miner in self._miners.values():
            await miner.shutdown()
        # Aborted connections end their tasks by themselves; cancel whatever is left after a moment.
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=1.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def __enter__(self) -> SimFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._loop is not None

    # --- access ------------------------------------------------------------------------
    def miner(self, ip: str) -> SimMiner:
        """The live simulated miner at ``ip`` (state readable and settable by tests)."""
        try:
            return self._miners[ip]
        except KeyError:
            raise KeyError(f"no simulated miner at {ip}") from None

    @property
    def miners(self) -> list[SimMiner]:
        """All miners, in spec order."""
        return list(self._miners.values())

    def __len__(self) -> int:
        return len(self._miners)

    def __iter__(self) -> Iterator[SimMiner]:
        return iter(self._miners.values())

    # --- control ------------------------------------------------------------------------
    def set_fault(self, ip: str, fault: str | None) -> None:
        """Inject a fault (faults.FAULTS): None, "hang", "reset", "malformed", "down", "drip", "huge",
        "wrongtypes" or "absurd" (None restores listening)."""
        check_fault(fault)
        miner = self.miner(ip)
        if self._loop is None:
            miner.fault = fault  # applied when the fleet starts
            return
        self._call(miner.set_fault(fault))

    def set_conditions(self, ip: str, names: Iterable[str]) -> None:
        """Replace a miner's hardware conditions (conditions.CONDITIONS; empty = healthy), applied on the loop.

        ValueError for an unknown name or one the miner's kind cannot show; nothing changes then.
        """
        miner = self.miner(ip)
        names = list(names) if not isinstance(names, str) else names  # a str is refused by check_conditions
        check_conditions(miner.kind, miner.supported_conditions, names)  # raise here, in the caller's thread
        if self._loop is None:
            miner.set_conditions(names)  # no loop yet: nothing else touches the miner
            return

        async def go() -> None:
            miner.set_conditions(names)

        self._call(go())

    def restart(self, ip: str, seconds: float | None = None) -> None:
        """Power-cycle a miner as if its restart button was pressed."""
        miner = self.miner(ip)

        async def go() -> None:
            miner.reboot(seconds)

        self._call(go())

    def call(self, func: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``func()`` on the fleet's loop thread and return its result (for state changes mid-request)."""
        async def go() -> T:
            return func()

        return self._call(go(), timeout)

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        loop = self._loop
        if loop is None:
            coro.close()
            raise SimulatorError("the fleet is not running")
        if threading.current_thread() is self._thread:
            raise SimulatorError("SimFleet methods cannot be called from the fleet's own loop thread")
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, loop)
        return future.result(timeout)


# --- fleets for the demo and the benchmarks ------------------------------------------------

def addresses(base_ip: str, count: int) -> list[str]:
    """``count`` consecutive loopback addresses from ``base_ip``, skipping .0 and .255."""
    start = int(ipaddress.IPv4Address(base_ip))
    out: list[str] = []
    value = start
    while len(out) < count:
        addr = ipaddress.IPv4Address(value)
        if not addr.is_loopback:
            raise ValueError(f"{count} addresses from {base_ip} leave 127.0.0.0/8")
        if value & 0xFF not in (0, 255):
            out.append(str(addr))
        value += 1
    return out


# kind, model, AxeOS version, USB devices
DEMO_LAYOUT: tuple[tuple[str, str, str | None, int], ...] = (
    ("bitaxe", "BM1366", "v2.6.0", 2),
    ("bitaxe", "BM1368", "v2.9.0", 2),
    ("bitaxe", "BM1370", "v2.12.0", 2),
    ("bitaxe", "BM1397", "v2.10.0", 2),
    ("bitaxe", "BM1370", "v2.14.2", 2),
    ("bitaxe", "BM1368", "v2.15.0", 2),
    ("cgminer", "GekkoScience Compac F", None, 2),
    ("cgminer", "GekkoScience Compac F", None, 1),
    ("cgminer", "GekkoScience NewPac", None, 2),
    ("antminer", "Antminer S9", None, 2),
    ("antminer", "Antminer S19", None, 2),
    ("antminer", "Antminer L3+", None, 2),
    ("nmminer", "NM-TV-154", None, 1),  # UDP telemetry to the app listener (nmminer.listen)
    ("nmminer", "NMAxe", None, 1),
    ("avalon", "Avalon Nano3s", None, 1),
    ("avalon", "Avalon Q", None, 1),
    ("vnish", "Antminer S19", "1.2.6", 1),  # Vnish 1.x REST (AnthillOS), web password admin
    ("vnish", "Antminer L7", "1.3.4", 1),  # 1.3.x: throttle and /boards; MH/s units
    ("vnish_legacy", "Antminer S9", "3.9.0", 1),  # Vnish 3.x: cgminer API + digest CGI (root/root)
    ("whatsminer", "M30S+", None, 1),  # btminer API 2.0.5 on 4028 (token + AES writes, admin/admin)
    ("whatsminer", "M60S", None, 1),  # 2025 firmware: API 3.0.2 on 4433 (super/super), get_version on 4028
    ("braiins", "Antminer S19 XP", "25.11", 1),  # BOS+ 25.11: REST (root/root) + BOSer API on 4028
    ("luxos", "Antminer S19k Pro", None, 1),  # LUXminer 2025.4.8: sessions, profiles
    ("bitaxe", "NerdQAxe++", "v1.1.0-beta1", 1),
)


def demo_specs(base_ip: str = "127.77.0.10", count: int = 12, *, restart_seconds: float = 3.0) -> list[MinerSpec]:
    """The demo fleet: 6 Bitaxes (4 models, 6 AxeOS versions), 3 cgminer, a stock S9, S19 and L3+.

    More than 12 repeats the layout on the following addresses.
    """
    return [MinerSpec(kind, ip, model=model, firmware_version=version, devices=devices,
                      restart_seconds=restart_seconds)
            for ip, (kind, model, version, devices) in zip(addresses(base_ip, count),
                                                           (DEMO_LAYOUT[i % len(DEMO_LAYOUT)] for i in range(count)))]


_BITAXE_MODELS = ("BM1366", "BM1368", "BM1370", "BM1397")
_ANTMINERS = ("Antminer S9", "Antminer S19", "Antminer L3+")


def scaled_specs(base_ip: str = "127.90.0.10", count: int = 500, *, restart_seconds: float = 3.0) -> list[MinerSpec]:
    """A large mixed fleet for benchmarks: per 20 miners 12 Bitaxes, 5 cgminer and 3 stock Antminers."""
    specs: list[MinerSpec] = []
    for i, ip in enumerate(addresses(base_ip, count)):
        slot = i % 20
        if slot < 12:
            specs.append(MinerSpec("bitaxe", ip, model=_BITAXE_MODELS[i % 4],
                                   firmware_version=AXEOS_VERSIONS[(i // 4) % len(AXEOS_VERSIONS)],
                                   restart_seconds=restart_seconds))
        elif slot < 17:
            specs.append(MinerSpec("cgminer", ip, model="GekkoScience Compac F", devices=1 + i % 3,
                                   restart_seconds=restart_seconds))
        else:
            specs.append(MinerSpec("antminer", ip, model=_ANTMINERS[slot - 17], restart_seconds=restart_seconds))
    return specs
