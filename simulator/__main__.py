"""Command line: run a simulated miner fleet until SIGINT/SIGTERM.

    python -m simulator --demo
    python -m simulator --count 500 --base-ip 127.90.0.10 --seed 1
    python -m simulator --kind bitaxe --model Gamma --firmware v2.14.2 --count 3
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .antminer import AntminerMiner
from .axeos import BitaxeMiner
from .cgminer import CgminerMiner
from .fleet import DEMO_LAYOUT, SimFleet, SimulatorError, addresses, default_port_offset, demo_specs, scaled_specs
from .miner import SimMiner
from .models import AXEOS_VERSIONS, ANTMINER_MODELS, BITAXE_MODELS, USB_MODELS
from .spec import KINDS, MinerSpec

EPILOG = f"""\
kinds and models:
  bitaxe    AxeOS HTTP on port 80. --model {', '.join(f'{m.asic}/{m.device}' for m in BITAXE_MODELS.values())};
            --firmware one of {', '.join(AXEOS_VERSIONS)} (the /api/system/info fields follow it).
  cgminer   generic cgminer 4.11.1 API on port 4028 with USB sticks: --model {', '.join(USB_MODELS)};
            --devices N sticks. Answers every command incl. restart and pool control.
  antminer  stock bmminer: API on 4028 (only stats/pools/devs/summary/version, others get
            Code 45 Access denied) and a digest-auth web server on 80 (401 without root/root).
            --model {', '.join(ANTMINER_MODELS)}.

fleets:
  --demo (default)  6 Bitaxes (4 models, 6 AxeOS versions), 3 cgminer, a stock S9, S19 and L3+
                    on consecutive addresses from --base-ip (default 127.77.0.10).
  --count N         a mixed benchmark fleet of N miners (per 20: 12 Bitaxe, 5 cgminer, 3 Antminer)
                    from --base-ip (default 127.90.0.10); with --demo, N miners of the demo layout.
  --kind K          N miners of one kind (with --model, --firmware, --devices).

ports: the firmware's ports plus --port-offset (default {default_port_offset()} here: 0 as root, else
10000, so 80 -> 10080 and 4028 -> 14028). Give the app's config the same network.port_offset.

access: AxeOS refuses /api/* from clients outside 10/8, 172.16/12, 192.168/16 with 401. A loopback
client is outside, so by default the simulator lifts that rule; --strict-access applies it.

Every address is in 127.0.0.0/8 (all loopback on Linux, no setup needed). Stop with Ctrl-C.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by --help)."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="Simulated Bitcoin miners (AxeOS, cgminer, stock Antminer) "
        "on loopback addresses, one process, one event loop.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="the demo fleet (default when no --count/--kind)")
    parser.add_argument("--count", type=int, help="number of miners")
    parser.add_argument("--base-ip", help="first address (127.x.y.z); the others follow, skipping .0 and .255")
    parser.add_argument("--kind", choices=KINDS, help="a fleet of this kind only")
    parser.add_argument("--model", help="model for --kind (e.g. Gamma, BM1366, S19, 'GekkoScience Compac F')")
    parser.add_argument("--firmware", help="AxeOS version for --kind bitaxe (e.g. v2.14.2)")
    parser.add_argument("--devices", type=int, default=2, help="USB sticks per cgminer miner (default 2)")
    parser.add_argument("--port-offset", type=int, default=None,
                        help="added to every firmware port (default: 0 as root, else 10000)")
    parser.add_argument("--strict-access", action="store_true",
                        help="apply AxeOS's private-range rule (loopback clients then get 401 on /api/*)")
    parser.add_argument("--seed", type=int, default=None, help="seed the noise for repeatable readings")
    parser.add_argument("--restart-seconds", type=float, default=3.0,
                        help="how long a restarted miner stays unreachable (default 3)")
    parser.add_argument("--quiet", action="store_true", help="do not list the miners at start")
    return parser


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


def describe(miner: SimMiner) -> str:
    """One line: address, kind, model, firmware, ports."""
    if isinstance(miner, BitaxeMiner):
        what = f"Bitaxe {miner.hw.device} ({miner.hw.asic}), AxeOS {miner.version}"
    elif isinstance(miner, CgminerMiner):
        what = f"{len(miner.devices)} x {miner.usb.name}, cgminer {miner.VERSION}"
    elif isinstance(miner, AntminerMiner):
        what = f"{miner.hw.type}, stock {miner.hw.description}"
    else:  # pragma: no cover
        what = miner.model
    ports = " ".join(f"{proto}:{port}" for proto, port in miner.ports().items())
    return f"{miner.ip:<15} {miner.kind:<8} {what:<52} {ports}"


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        specs = make_specs(args)
        fleet = SimFleet(specs, port_offset=args.port_offset, allow_any_client=not args.strict_access,
                         seed=args.seed)
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
    try:
        if not args.quiet:
            for miner in fleet.miners:
                print(describe(miner))
        access = "strict (AxeOS private-range rule)" if args.strict_access else "any client"
        print(f"{len(fleet)} simulated miners listening (port offset {fleet.port_offset}, access: {access}); "
              "Ctrl-C to stop", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        fleet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
