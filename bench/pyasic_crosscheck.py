"""Cross-check against pyasic, the field's standard library: does it see our simulated fleet as we do?

Installs pyasic into its own virtual environment (.bench-venv/pyasic; never a
runtime dependency of the app), starts the demo fleet of the simulator on the
REAL firmware ports (pyasic dials 80/4028/4433 and knows no port offset, so
this needs root), runs pyasic's own ``MinerNetwork.scan()`` + ``get_data()``
over the /24, runs the app's own discovery + poll over the same /24, and
prints one row per simulated miner: what the simulator is, pyasic's class
for it and what pyasic read (make, model, firmware, hashrate), what we read,
and a short "why" where the difference is a known pyasic limitation
(PYASIC_LIMITS, each note backed by pyasic's own code). Any other difference
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

# Known pyasic limitations, keyed "kind:model" or "kind" (simulator kinds). File/line
# references are pyasic 0.79.0 (site-packages/pyasic/...); the firmware facts behind
# each are in the simulator module named by the kind.
_SCRYPT = ("pyasic reads scrypt 'GHS 5s' as GH/s (backends/cgminer.py:116-135, vnish.py:220-238, "
           "unit=GH); the firmware puts MH/s there, so pyasic is 1000x high")
PYASIC_LIMITS: dict[str, str] = {
    "braiins": ("pyasic's BOSer reads serial/MAC/fw/boards/power/fans/pools only over gRPC :50051 "
                "(backends/braiins_os.py:711-786, web/braiins_os/boser.py:56); not simulated, and the "
                "refused connect escapes get_data (boser.py:110 auth() is outside its try)"),
    "cgminer": ("pyasic has no generic-cgminer type: 'version'/'devdetails' match no firmware string "
                "(miners/factory.py:1068-1097 _parse_socket_type; no type in MinerTypes :53-73)"),
    "nmminer": ("UDP-only device; pyasic scans TCP 80, 4028/4029/8889 (network/__init__.py:175-214) "
                "and has no NMMiner class"),
    "bitaxe:NerdQAxe++": ("pyasic 0.79 has no NerdQAxe class: the model is ASICModel only "
                          "(factory.py:1548-1559, BM1370 -> BitAxeGamma at 686-692); deviceModel ignored"),
    "antminer:Antminer L3+": _SCRYPT,
    "vnish:Antminer L7": _SCRYPT,
    "luxos": ("pyasic's summary reader returns None before parsing (backends/luxminer.py:244-252), so its "
              "rate is the sum of stats chain_rateN (:263-311); the sim's stats shape is unverified"),
}


def known_limit(kind: str, model: str | None) -> str:
    """The PYASIC_LIMITS note for a simulated miner, or ""."""
    return PYASIC_LIMITS.get(f"{kind}:{model}", PYASIC_LIMITS.get(kind, ""))

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


def our_scan(subnet: str, broadcasters: int = 0) -> dict[str, dict]:
    """The app's own discovery and first poll of the subnet (waiting for ``broadcasters`` NMMiners to report)."""
    from services.config import load_config
    from services.nmminer_listener import start_from_config as start_nmminer_listener
    from services.runtime import Runtime

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(f"network:\n  subnet: {subnet}\n"
                       "nmminer:\n  listen: true\n  bind: 127.0.0.1\n"  # NMMiners have no TCP: they report by UDP
                       "security:\n  api_token: bench-token-0123456789\n  admin_password: bench-password\n")
        config = load_config(cfg, environ={})
        runtime = Runtime(config)
        try:
            # Runtime.start() would also start the scheduler; the bench polls once by hand.
            runtime.nmminer_listener = start_nmminer_listener(config, runtime.fleet)
            job = runtime.discovery.start(wait=True)
            deadline = time.monotonic() + 6.0  # NMMiners report every 2 s; none answers a scan
            while (runtime.nmminer_listener is not None and runtime.nmminer_listener.added < broadcasters
                   and time.monotonic() < deadline):
                time.sleep(0.2)
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
        ours = our_scan(f"{NET}.0/24", sum(1 for s in specs.values() if s.kind == "nmminer"))
    finally:
        stop(sim)
    by_ip = {row["ip"]: row for row in theirs["rows"]}
    print(f"pyasic {theirs['version']} vs this app, simulated demo fleet on {NET}.0/24 ({count} miners)\n")
    header = ("ip", "simulated", "pyasic class", "pyasic make / model / firmware", "pyasic hashrate",
              "ours family / model", "our hashrate", "diff", "why (known pyasic limitation)")
    rows = []
    for ip, spec in specs.items():
        p, o = by_ip.get(ip, {}), ours.get(ip, {})
        if p.get("error"):
            seen = p["error"]
        elif p:
            seen = f"{p.get('make')} / {p.get('model')} / {p.get('firmware')}"
        else:
            seen = "not identified"
        diff = "-"
        if p.get("hashrate_hs") and o.get("hashrate_hs"):
            diff = f"{100 * (o['hashrate_hs'] - p['hashrate_hs']) / p['hashrate_hs']:+.1f}%"
        rows.append((ip, f"{spec.kind} {spec.model or ''}".strip(), p.get("class", "-"), seen,
                     fmt_hs(p.get("hashrate_hs")), f"{o.get('family', '-')} / {o.get('model', '-')}",
                     fmt_hs(o.get("hashrate_hs")), diff, known_limit(spec.kind, spec.model) or "-"))
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
