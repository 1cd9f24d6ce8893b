"""Cross-check against pyasic, the field's standard library: does it see our simulated fleet as we do?

Installs pyasic into its own virtual environment (.bench-venv/pyasic; never a
runtime dependency of the app), starts the demo fleet of the simulator on the
REAL firmware ports (pyasic dials 80/4028/4433 and knows no port offset, so
this needs root), runs pyasic's own ``MinerNetwork.scan()`` + ``get_data()``
over the /24, runs the app's own discovery + poll over the same /24, and
prints one row per simulated miner: what the simulator is, what pyasic
identified (make, model, firmware, hashrate) and what we read. A difference
is a bug in the simulator or in our reading until shown otherwise.

    sudo .venv/bin/python bench/pyasic_crosscheck.py [--miners 24] [--pyasic-version 0.79.0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import ROOT, stop

VENV = ROOT / ".bench-venv" / "pyasic"
NET = "127.95.0"

PYASIC_SCAN = textwrap.dedent("""
    import asyncio, json, sys
    import pyasic
    from pyasic.network import MinerNetwork

    async def read(miner):
        row = {"ip": str(miner.ip), "class": type(miner).__name__}
        try:
            data = await asyncio.wait_for(miner.get_data(), 30)
        except Exception as exc:  # report, do not hide
            row["error"] = repr(exc)[:120]
            return row
        rate = data.hashrate
        row.update(make=data.make, model=data.model, firmware=data.fw_ver, wattage=data.wattage,
                   hashrate_hs=float(rate.into(rate.unit.H)) if rate is not None else None)
        return row

    async def main(subnet):
        miners = await MinerNetwork.from_subnet(subnet).scan()
        rows = await asyncio.gather(*(read(m) for m in miners))
        print(json.dumps({"version": getattr(pyasic, "__version__", "?"), "rows": rows}))

    asyncio.run(main(sys.argv[1]))
""")


def ensure_pyasic(version: str | None) -> str:
    """Create the side venv and install pyasic (once); returns its python."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    spec = f"pyasic=={version}" if version else "pyasic"
    probe = subprocess.run([str(python), "-c", "import pyasic"], capture_output=True)
    if probe.returncode != 0 or version:
        subprocess.run([str(python), "-m", "pip", "install", "-q", spec], check=True)
    return str(python)


def pyasic_scan(python: str, subnet: str) -> dict:
    """pyasic's own scan and read of the subnet, as JSON."""
    out = subprocess.run([python, "-c", PYASIC_SCAN, subnet], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit(f"pyasic scan failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def our_scan(subnet: str) -> dict[str, dict]:
    """The app's own discovery and first poll of the subnet."""
    from services.config import load_config
    from services.runtime import Runtime

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(f"network:\n  subnet: {subnet}\n"
                       "security:\n  api_token: bench-token-0123456789\n  admin_password: bench-password\n")
        runtime = Runtime(load_config(cfg, environ={}))
        try:
            job = runtime.discovery.start(wait=True)
            runtime.fleet.poll_round()
            return {m["ip"]: m for m in runtime.fleet.miners_list()} if job.state == "done" else {}
        finally:
            runtime.shutdown()


def fmt_hs(value: float | None) -> str:
    """H/s with an SI prefix."""
    if value is None:
        return "-"
    for unit, scale in (("PH/s", 1e15), ("TH/s", 1e12), ("GH/s", 1e9), ("MH/s", 1e6), ("kH/s", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} H/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--miners", type=int, default=0, help="demo fleet size (default: one of each demo entry)")
    parser.add_argument("--pyasic-version", default=None)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: pyasic only dials the real ports 80/4028/4433")
    from simulator import demo_specs
    from simulator.fleet import DEMO_LAYOUT

    count = args.miners or len(DEMO_LAYOUT)
    specs = {s.ip: s for s in demo_specs(f"{NET}.10", count)}
    python = ensure_pyasic(args.pyasic_version)
    sim = subprocess.Popen([sys.executable, "-m", "simulator", "--demo", "--count", str(count), "--base-ip",
                            f"{NET}.10", "--port-offset", "0", "--quiet", "--seed", "1"], cwd=ROOT)
    try:
        time.sleep(3)
        theirs = pyasic_scan(python, f"{NET}.0/24")
        ours = our_scan(f"{NET}.0/24")
    finally:
        stop(sim)
    by_ip = {row["ip"]: row for row in theirs["rows"]}
    print(f"pyasic {theirs['version']} vs this app, simulated demo fleet on {NET}.0/24 ({count} miners)\n")
    header = ("ip", "simulated", "pyasic make / model / firmware", "pyasic hashrate", "ours family / model",
              "our hashrate", "diff")
    rows = []
    for ip, spec in specs.items():
        p, o = by_ip.get(ip, {}), ours.get(ip, {})
        if p.get("error"):
            seen = f"{p['class']}: {p['error']}"
        elif p:
            seen = f"{p.get('make')} / {p.get('model')} / {p.get('firmware')}"
        else:
            seen = "not identified"
        diff = "-"
        if p.get("hashrate_hs") and o.get("hashrate_hs"):
            diff = f"{100 * (o['hashrate_hs'] - p['hashrate_hs']) / p['hashrate_hs']:+.1f}%"
        rows.append((ip, f"{spec.kind} {spec.model or ''}".strip(), seen, fmt_hs(p.get("hashrate_hs")),
                     f"{o.get('family', '-')} / {o.get('model', '-')}", fmt_hs(o.get("hashrate_hs")), diff))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(v).ljust(w) for v, w in zip(row, widths)))
    identified = sum(1 for ip in specs if by_ip.get(ip) and not by_ip[ip].get("error"))
    print(f"\npyasic identified and read {identified} of {len(specs)}; we read "
          f"{sum(1 for ip in specs if ours.get(ip, {}).get('online'))} of {len(specs)}. "
          "Hashrates are read moments apart from noisy simulators: a few percent is noise.")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
