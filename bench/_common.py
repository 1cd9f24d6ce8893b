"""Shared by the benchmarks: run the simulator in its own process and wait for it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def port_offset() -> int:
    """The simulator's default: real ports as root, +10000 otherwise (the app dials the same)."""
    import os

    return 0 if os.geteuid() == 0 else 10000


def start_simulator(count: int, base_ip: str, *extra: str) -> subprocess.Popen:
    """Start ``python -m simulator --count N`` (a mixed fleet) and return once every miner listens."""
    from simulator import scaled_specs

    offset = port_offset()
    specs = scaled_specs(base_ip, count)
    last = specs[-1]
    port = (80 if last.kind == "bitaxe" else 4028) + offset
    if _answers(last.ip, port):  # the figures would be another run's (a bench left running?)
        raise SystemExit(f"{last.ip}:{port} already answers: another simulator is running there (--base-ip)")
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--count", str(count), "--base-ip", base_ip,
                             "--port-offset", str(offset), "--quiet", "--seed", "1", *extra], cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"simulator exited with {proc.returncode}")
        if _answers(last.ip, port):
            return proc
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("simulator did not come up in 120 s")


def _answers(ip: str, port: int) -> bool:
    """True when something accepts a TCP connection there."""
    try:
        with socket.create_connection((ip, port), timeout=0.2):
            return True
    except OSError:
        return False


def stop_on_sigterm() -> None:
    """Make SIGTERM (kill, pkill) run the finally blocks, so the simulator and gunicorn stop too."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def stop(proc: subprocess.Popen) -> None:
    """Terminate a child process and wait for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
