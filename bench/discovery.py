"""Benchmark: time to discover a /24 holding N simulated miners, the other addresses SILENT.

On a real LAN an absent host does not answer a SYN at all (nothing refuses
it), so a scanner that waits out one timeout per address is slow. Here every
non-miner address of the /24 drops SYNs through an iptables DROP rule on the
loopback range (root only; installs Debian's iptables if missing). The
measured path is the app's own: services.discovery.Discovery over a real
FleetManager, from start to "done" with every miner fingerprinted and polled.

    sudo .venv/bin/python bench/discovery.py --miners 20 --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, port_offset, start_simulator, stop

CHAIN = "MINERBENCH"


def _iptables(*args: str, check: bool = True) -> None:
    subprocess.run(["iptables", *args], check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def install_drop_rules(subnet: str, keep: list[str]) -> None:
    """Drop SYNs to every address of subnet except the simulated miners."""
    if shutil.which("iptables") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "iptables"], check=True, stdout=subprocess.DEVNULL)
    remove_drop_rules()
    _iptables("-N", CHAIN)
    for ip in keep:
        _iptables("-A", CHAIN, "-d", ip, "-j", "RETURN")
    _iptables("-A", CHAIN, "-d", subnet, "-p", "tcp", "--syn", "-j", "DROP")
    _iptables("-I", "INPUT", "-j", CHAIN)


def remove_drop_rules() -> None:
    """Undo install_drop_rules (safe to call when nothing is installed)."""
    _iptables("-D", "INPUT", "-j", CHAIN, check=False)
    _iptables("-F", CHAIN, check=False)
    _iptables("-X", CHAIN, check=False)


def run_once(subnet: str, expected: int) -> tuple[float, int]:
    """One discovery through the app's own code; returns (seconds, miners found)."""
    from services.config import load_config
    from services.runtime import Runtime

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(f"network:\n  subnet: {subnet}\n  port_offset: {port_offset()}\n"
                       "security:\n  api_token: bench-token-0123456789\n  admin_password: bench-password\n")
        runtime = Runtime(load_config(cfg, environ={}))
        try:
            started = time.perf_counter()
            job = runtime.discovery.start(wait=True)
            elapsed = time.perf_counter() - started
        finally:
            runtime.shutdown()
    if job.state != "done":
        raise SystemExit(f"discovery failed: {job.error}")
    online = sum(1 for m in job.found if m["online"])
    if online != expected:
        print(f"  warning: {online} of {expected} miners online after discovery", file=sys.stderr)
    return elapsed, len(job.found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--miners", type=int, default=20, help="simulated miners in the /24 (default 20)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--net", default="127.92.1", help="the /24 on loopback (default 127.92.1)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: silent hosts need an iptables DROP rule")
    from simulator import scaled_specs

    subnet = f"{args.net}.0/24"
    base = f"{args.net}.10"
    ips = [s.ip for s in scaled_specs(base, args.miners)]
    sim = start_simulator(args.miners, base)
    try:
        install_drop_rules(subnet, ips)
        times = []
        for i in range(args.runs):
            elapsed, found = run_once(subnet, args.miners)
            times.append(elapsed)
            print(f"run {i + 1}: {elapsed:.3f} s, {found} of {args.miners} miners found "
                  f"({254 - args.miners} silent addresses)")
    finally:
        remove_drop_rules()
        stop(sim)
    print(f"discovery of a /24 with {args.miners} miners and silent hosts: "
          f"median {statistics.median(times):.3f} s, best {min(times):.3f} s (target <= 1 s; pyasic ~3 s)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
