"""Command line: run a simulated miner fleet until SIGINT/SIGTERM.

    python -m simulator --demo
    python -m simulator --count 500 --base-ip 127.90.0.10 --seed 1
    python -m simulator --kind bitaxe --model Gamma --firmware v2.14.2 --count 3
    python -m simulator --kind whatsminer --model M60S
    python -m simulator --demo --condition 127.77.0.19=hot --control 127.77.0.2:8750
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Iterable

from . import avalon, braiins, luxos, nmminer, vnish, vnish_legacy, whatsminer
from .antminer import AntminerMiner
from .avalon import AvalonMiner
from .axeos import DEFAULT_VERSION as AXEOS_DEFAULT, NERD_DEFAULT_VERSION, BitaxeMiner, NerdQaxeMiner
from .braiins import BraiinsMiner
from .cgminer import CgminerMiner
from .conditions import CONDITIONS, check_condition
from .control import ControlServer, parse_address
from .faults import FAULTS, check_fault
from .fleet import DEMO_LAYOUT, SimFleet, SimulatorError, addresses, default_port_offset, demo_specs, scaled_specs
from .luxos import LuxOSMiner
from .miner import SimMiner
from .models import (AXEOS_VERSIONS, ANTMINER_MODELS, BITAXE_MODELS, USB_MODELS, resolve_antminer, resolve_bitaxe,
                     resolve_usb)
from .nmminer import NMMinerSim
from .spec import KINDS, MinerSpec
from .vnish import VnishMiner
from .vnish_legacy import VnishLegacyMiner
from .whatsminer import WhatsminerMiner


def _names(names: Iterable[object]) -> str:
    return ", ".join(str(n) for n in names)


def _models(default: str, names: Iterable[object]) -> str:
    """The model names with the default one first ("BM1366/Ultra" counts as "BM1366")."""
    listed = [str(n) for n in names]
    first = [n for n in listed if n == default or n.startswith(default + "/")] or [default]
    return _names(first + [n for n in listed if n not in first])


_DEMO_KINDS = Counter(kind for kind, *_ in DEMO_LAYOUT)  # kind -> miners, in layout order

EPILOG = f"""\
kinds, their models (--model, default first) and firmware versions (--firmware):
  bitaxe        AxeOS (ESP-Miner) HTTP on 80, no login.
                --model {_models(resolve_bitaxe(None).asic, (f'{m.asic}/{m.device}' for m in BITAXE_MODELS.values()))}
                --firmware {_names(AXEOS_VERSIONS)} (default {AXEOS_DEFAULT}).
                --model NerdQAxe++: a NerdQAxe++ (4x BM1370) on NerdOS, --firmware default {NERD_DEFAULT_VERSION}.
  cgminer       generic cgminer 4.11.1 API on 4028 with --devices N USB sticks.
                --model {_models(resolve_usb(None).name, USB_MODELS)}
                Reads, restart, addpool/switchpool/poolpriority/enablepool/disablepool/removepool.
  antminer      stock Bitmain firmware: read-only API on 4028 (stats/pools/devs/summary/version, others
                Code 45) and the digest-auth web CGI on 80 (root/root).
                --model {_models(resolve_antminer(None).type, ANTMINER_MODELS)}
  nmminer       NMMiner / NMAxe, UDP only: telemetry to 127.0.0.1:12345, config datagrams on 12347.
                --model {_models(nmminer.DEFAULT_BOARD, nmminer.BOARDS)}
  avalon        Canaan cgminer 4.11.1 on 4028: ascset, setpool with the web password (root; Q: admin).
                --model {_models(avalon.resolve_avalon(None).prod, (m.prod for m in avalon.AVALON_MODELS.values()))}
  vnish         Vnish 1.x (AnthillOS): REST /api/v1 on 80 (web password admin), read-only API on 4028.
                --model {_models(vnish.resolve_model(None).full_name, vnish.MODELS)}
                --firmware 1.2.x or 1.3.x (default {vnish.DEFAULT_VERSION}; 1.3.x adds throttle and /boards).
  vnish_legacy  Vnish 3.x: bmminer API on 4028, digest-auth Vnish CGI on 80 (root/root).
                --model {_models(vnish_legacy.resolve_model(None).type, vnish_legacy.MODELS)}
                --firmware default {vnish_legacy.DEFAULT_VERSION}.
  whatsminer    MicroBT btminer API 2 on 4028 (token + AES writes, admin/admin); the M60S also answers
                API 3 on 4433 (length-prefixed JSON, account super/super).
                --model {_models(whatsminer.resolve_model(None).key, whatsminer.MODELS)}
                --firmware overrides the model's build string (e.g. 20230412.18.Rel).
  braiins       BraiinsOS: BOSminer/BOSer API on 4028, BOS+ REST on 80 from 25.07 (root/root).
                --model {_models(braiins.resolve_model(None).name, braiins.MODELS)}
                --firmware 25.11 (BOS+ with REST, default), 23.03, 0.2.0+ (S9 default) or 0.2.0.
  luxos         LuxOS LUXminer API on 4028 (session for writes, profiles as modes).
                --model {_models(luxos.resolve_model(None).name, luxos.MODELS)}
                --firmware the LUXminer build (default {luxos.DEFAULT_VERSION}).

fleets:
  --demo (default)  one miner per DEMO_LAYOUT entry on consecutive addresses from --base-ip (default
                    127.77.0.10); --count N repeats the layout. {len(DEMO_LAYOUT)} miners:
{textwrap.fill(_names(f'{n} {k}' for k, n in _DEMO_KINDS.items()), 100, initial_indent=' ' * 20,
               subsequent_indent=' ' * 20)}.
  --count N         a mixed benchmark fleet of N miners (per 20: 12 Bitaxe, 5 cgminer, 3 stock Antminer)
                    from --base-ip (default 127.90.0.10).
  --kind K          N miners (--count, default 1) of one kind, with --model, --firmware, --devices.

ports: the firmware's ports (TCP 80, 4028, 4433; UDP 12347; telemetry sent to 12345) plus --port-offset
(default {default_port_offset()} here: 0 as root, else 10000, so 80 -> 10080 and 4028 -> 14028).
Give the app's config the same network.port_offset.

conditions (--condition IP=NAME[,NAME]): hardware trouble the replies show, read by the real drivers:
  {", ".join(CONDITIONS)} (simulator/README.md lists which kind shows which).
control: --control 127.77.0.2:8750 serves GET /miners and POST /miners/<ip> {{"fault": ..., "conditions": [...]}}
  on loopback; `python -m simulator.ctl list | stop IP | start IP | fault IP NAME | condition IP NAME... | clear IP`.

access: AxeOS refuses /api/* from clients outside 10/8, 172.16/12, 192.168/16 with 401. A loopback
client is outside, so by default the simulator lifts that rule; --strict-access applies it.

Every address is in 127.0.0.0/8 (all loopback on Linux, no setup needed). Stop with Ctrl-C.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by --help)."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Simulated Bitcoin miners (AxeOS, NerdOS, cgminer, stock Antminer, NMMiner, Avalon, Vnish, "
        "Whatsminer, BraiinsOS, LuxOS) on loopback addresses, one process, one event loop.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="the demo fleet (default when no --count/--kind)")
    parser.add_argument("--count", type=int, help="number of miners")
    parser.add_argument("--base-ip", help="first address (127.x.y.z); the others follow, skipping .0 and .255")
    parser.add_argument("--kind", choices=KINDS, help="a fleet of this kind only")
    parser.add_argument("--model", help="model for --kind (e.g. Gamma, NerdQAxe++, S19, 'Avalon Q', M60S)")
    parser.add_argument("--firmware", help="firmware version for --kind (e.g. v2.14.2, 1.3.4, 25.11); "
                        "ignored by cgminer, antminer and avalon")
    parser.add_argument("--devices", type=int, default=2, help="USB sticks per cgminer miner (default 2)")
    parser.add_argument("--port-offset", type=int, default=None,
                        help="added to every firmware port (default: 0 as root, else 10000)")
    parser.add_argument("--strict-access", action="store_true",
                        help="apply AxeOS's private-range rule (loopback clients then get 401 on /api/*)")
    parser.add_argument("--seed", type=int, default=None, help="seed the noise for repeatable readings")
    parser.add_argument("--restart-seconds", type=float, default=3.0,
                        help="how long a restarted miner stays unreachable (default 3)")
    parser.add_argument("--fault", action="append", default=[], metavar="[IP=]FAULT",
                        help="start with a fault: FAULT for every miner or IP=FAULT for one (repeatable); "
                        f"one of {', '.join(f for f in FAULTS if f)}")
    parser.add_argument("--condition", action="append", default=[], metavar="IP=NAME[,NAME]",
                        help="start a miner with hardware conditions (repeatable); "
                        f"names: {', '.join(CONDITIONS)}")
    parser.add_argument("--control", metavar="HOST:PORT",
                        help="serve the control API on this loopback address (python -m simulator.ctl talks to it)")
    parser.add_argument("--quiet", action="store_true", help="do not list the miners at start")
    return parser


def parse_faults(values: list[str], ips: list[str]) -> dict[str, str]:
    """--fault values -> {ip: fault}; ValueError naming a bad fault or an address not in the fleet."""
    faults: dict[str, str] = {}
    for value in values:
        ip, sep, name = value.rpartition("=")
        check_fault(name)
        if sep and ip not in ips:
            raise ValueError(f"--fault {value}: {ip} is not one of the simulated miners")
        for target in ([ip] if sep else ips):
            faults[target] = name
    return faults


def parse_conditions(values: list[str], ips: list[str]) -> dict[str, list[str]]:
    """--condition values -> {ip: [names]} (repeats add up); ValueError naming a bad name or address."""
    conditions: dict[str, list[str]] = {}
    for value in values:
        ip, sep, names = value.partition("=")
        if not sep or not ip or not names:
            raise ValueError(f"--condition {value}: use IP=NAME (or IP=NAME,NAME)")
        if ip not in ips:
            raise ValueError(f"--condition {value}: {ip} is not one of the simulated miners")
        for name in names.split(","):
            check_condition(name.strip())
            if name.strip() not in conditions.setdefault(ip, []):
                conditions[ip].append(name.strip())
    return conditions


def make_specs(args: argparse.Namespace) -> list[MinerSpec]:
    """The specs the arguments ask for."""
    if args.kind:
        count = args.count or 1
        return [MinerSpec(args.kind, ip, model=args.model, firmware_version=args.firmware, devices=args.devices,
                          restart_seconds=args.restart_seconds)
                for ip in addresses(args.base_ip or "127.77.0.10", count)]
    if args.count and not args.demo:
        return scaled_specs(args.base_ip or "127.90.0.10", args.count, restart_seconds=args.restart_seconds)
    return demo_specs(args.base_ip or "127.77.0.10", args.count or len(DEMO_LAYOUT), restart_seconds=args.restart_seconds)


def label(miner: SimMiner) -> str:
    """What the miner is: hardware and the firmware it runs (not the cgminer STATUS Description)."""
    if isinstance(miner, NerdQaxeMiner):  # before BitaxeMiner: it is a subclass
        return f"NerdQAxe++ ({miner.hw.asic_count}x {miner.hw.asic}), NerdOS {miner.version}"
    if isinstance(miner, BitaxeMiner):
        return f"Bitaxe {miner.hw.device} ({miner.hw.asic}), AxeOS {miner.version}"
    if isinstance(miner, CgminerMiner):
        return f"{len(miner.devices)} x {miner.usb.name}, cgminer {miner.VERSION}"
    if isinstance(miner, AntminerMiner):
        cgi = "JSON web CGI" if miner.modern_cgi else "2017 web CGI"
        return f"{miner.hw.type}, stock {miner.hw.version_key} {miner.hw.version} ({cgi})"
    if isinstance(miner, NMMinerSim):
        return f"{miner.board.board_type}, {'NMAxe' if miner.axe else 'NMMiner'} firmware {miner.version}"
    if isinstance(miner, AvalonMiner):
        return f"{miner.hw.prod}, Canaan cgminer {miner.VERSION} fw {miner.hw.firmware}"
    if isinstance(miner, VnishMiner):
        return f"{miner.hw.full_name}, Vnish {miner.version} (AnthillOS REST)"
    if isinstance(miner, VnishLegacyMiner):
        return f"{miner.hw.type}, Vnish {miner.version} (legacy CGI)"
    if isinstance(miner, WhatsminerMiner):
        api = miner.hw.api_ver if miner.hw.api_ver.startswith("whatsminer") else f"API {miner.hw.api_ver}"
        return f"Whatsminer {miner.hw.miner_type.replace('_', ' ')}, btminer {miner.firmware}, {api}"
    if isinstance(miner, BraiinsMiner):
        firmware = f"BOS+ {miner.gen.version} (BOSer + REST)" if miner.rest else f"{miner.gen.key} {miner.gen.value}"
        return f"{miner.hw.name}, {firmware}"
    if isinstance(miner, LuxOSMiner):
        return f"{miner.hw.name}, LuxOS {miner.version}"
    return miner.model  # pragma: no cover - a kind added without a label here


_PORT_NAMES = {"cgapi": "api", "lenprefix": "api3"}  # the proto names of SimMiner.ports(), shorter


def describe(miner: SimMiner) -> str:
    """One line: address, kind, what it is, ports."""
    ports = " ".join(f"{_PORT_NAMES.get(proto, proto)}:{port}" for proto, port in miner.ports().items())
    if isinstance(miner, NMMinerSim):
        host, port = miner.telemetry_target
        ports += f" telemetry->{host}:{port}"
    return f"{miner.ip:<15} {miner.kind:<12} {label(miner):<58} {ports}"


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        specs = make_specs(args)
        fleet = SimFleet(specs, port_offset=args.port_offset, allow_any_client=not args.strict_access,
                         seed=args.seed)
        for ip, fault in parse_faults(args.fault, [spec.ip for spec in specs]).items():
            fleet.set_fault(ip, fault)  # before start: applied as the miners come up
        for ip, names in parse_conditions(args.condition, [spec.ip for spec in specs]).items():
            fleet.set_conditions(ip, names)  # ValueError naming the kind for one it cannot show
        control_at = parse_address(args.control) if args.control else None
    except ValueError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        fleet.start()
    except SimulatorError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 1
    control: ControlServer | None = None
    try:
        if control_at is not None:
            try:
                control = ControlServer(fleet, *control_at).start()
            except OSError as exc:
                print(f"simulator: control server on {args.control}: {exc.strerror or exc}", file=sys.stderr)
                return 1
        if not args.quiet:
            for miner in fleet.miners:
                print(describe(miner))
        access = "strict (AxeOS private-range rule)" if args.strict_access else "any client"
        print(f"{len(fleet)} simulated miners listening (port offset {fleet.port_offset}, access: {access}); "
              "Ctrl-C to stop", flush=True)
        if control is not None:
            print(f"control: http://{control.address}/miners; python -m simulator.ctl --control {control.address} "
                  "list | stop IP | start IP | fault IP NAME | condition IP NAME... | clear IP", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        if control is not None:
            control.stop()
        fleet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
