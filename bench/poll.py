"""Benchmark: one poll round of 100 and 500 simulated miners, and the app's resident memory.

The simulator runs in its own process, so the figures are the controller's
alone. Part 1 drives the real FleetManager (real drivers, and the real
history flush every 8th round, as the app writes every 120 s at 15 s polls) in this process and reports wall time and CPU time (all
threads) per round. Part 2 starts the real app under gunicorn with the 500
miners listed in its config, lets it poll a few rounds, and reads the
worker's VmRSS.

    .venv/bin/python bench/poll.py                 # 100 and 500 miners
    .venv/bin/python bench/poll.py --sizes 500 --rounds 5
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, port_offset, start_simulator, stop, stop_on_sigterm

from tests.gunicorn_proc import start_gunicorn, stop_group

BASE_IP = "127.93.0.10"
ROUNDS_PER_FLUSH = 8  # storage.flush_interval_sec 120 / polling.interval_sec 15


def _config(tmp: Path, extra: str = "") -> Path:
    path = tmp / "config.yaml"
    path.write_text(f"server:\n  host: 127.0.0.1\nnetwork:\n  port_offset: {port_offset()}\n"
                    "polling:\n  interval_sec: 15\n  timeout_sec: 5\n"
                    "security:\n  api_token: bench-token-0123456789\n  admin_password: bench-password\n" + extra)
    return path


ALERT_CHECKS = 20


def poll_rounds(specs, rounds: int) -> tuple[list[tuple[float, float, int]], float]:
    """(wall s, cpu s, miners ok) for each measured round, after one warm-up round; and the CPU s of one
    alerts check (services/alerts, every 10 s in the app) over these miners."""
    from services.config import load_config
    from services.runtime import Runtime

    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(load_config(_config(Path(tmp)), environ={}))
        try:
            for spec in specs:
                runtime.fleet.add(spec.ip, spec.kind)
            runtime.fleet.poll_round()  # warm-up: connections, caches (e.g. AxeOS /api/system/asic)
            results = []
            for n in range(rounds):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                summary = runtime.fleet.poll_round()
                if n % ROUNDS_PER_FLUSH == ROUNDS_PER_FLUSH - 1:
                    runtime.history.flush()  # the app writes every 8th round (120 s at 15 s): counted in that round
                results.append((time.perf_counter() - wall0, time.process_time() - cpu0, summary["ok"]))
            runtime.autocontrol.tick()  # the control tick the alerts read the 1-hour averages from
            cpu0 = time.process_time()
            for _ in range(ALERT_CHECKS):
                runtime.alerts.tick()
            alerts_cpu = (time.process_time() - cpu0) / ALERT_CHECKS
        finally:
            runtime.shutdown()
    return results, alerts_cpu


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def app_memory(specs, settle_s: float, probe: Path | None = None) -> tuple[int, int, list[tuple[float, float]]]:
    """Start gunicorn with every miner in config, poll for ``settle_s`` with a dashboard's reads.

    Returns (worker RSS kB at the end, miners online, [(minute, RSS MB)] sampled every minute).
    The dashboard: the miner list and totals every 5 s (what a tab without a WebSocket polls),
    the 24 h and 1 w fleet charts and one miner's chart every 60 s (the chart refresh). The app starts
    as systemd starts it (tests/gunicorn_proc.py: the unit's malloc settings); ``probe``: JSON lines from
    bench/gunicorn_probe.py's in-worker memory probe there.
    """
    import requests

    entries = "".join(f"  - ip: {s.ip}\n    family: {s.kind}\n" for s in specs)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _config(Path(tmp), "miners:\n" + entries)
        port = _free_port()
        probe_env = {"MEMPROBE_OUT": str(probe)} if probe else {}
        proc = start_gunicorn(cfg, subprocess.DEVNULL, conf="bench/gunicorn_probe.py" if probe else "gunicorn.conf.py",
                              PORT=str(port), **probe_env)
        base = f"http://127.0.0.1:{port}"
        samples: list[tuple[float, float]] = []
        try:
            deadline = time.monotonic() + 60
            online = 0
            while time.monotonic() < deadline:
                try:
                    online = requests.get(f"{base}/api/stats", timeout=5).json()["online"]
                    if online == len(specs):
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.5)
            workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
            worker = int(workers[0])
            started = time.monotonic()
            next_chart = next_sample = started
            while (now := time.monotonic()) < started + settle_s:
                for path in ("/api/miners", "/api/stats"):
                    requests.get(base + path, timeout=10)
                if now >= next_chart:
                    for path in ("/api/history?range=24h", "/api/history?range=1w",
                                 f"/api/miners/{specs[0].ip}/history?range=24h"):
                        requests.get(base + path, timeout=30)
                    next_chart += 60
                if now >= next_sample:
                    samples.append(((now - started) / 60, _rss_kb(worker) / 1024))
                    next_sample += 60
                time.sleep(5)
            for path in ("/api/miners", "/api/stats", "/api/history?range=24h", "/"):
                requests.get(base + path, timeout=10)
            rss = _rss_kb(worker)
            samples.append((settle_s / 60, rss / 1024))
        finally:
            stop_group(proc)
    return rss, online, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--settle", type=float, default=35.0,
                        help="seconds of polling with a dashboard's reads before measuring memory (3600: the hour)")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--probe", type=Path, help="memory probe in the worker (bench/gunicorn_probe.py): JSON lines here")
    parser.add_argument("--base-ip", default=BASE_IP, help="first simulated miner (another range beside a soak)")
    args = parser.parse_args()
    stop_on_sigterm()
    from simulator import scaled_specs

    largest = max(args.sizes)
    sim = start_simulator(largest, args.base_ip)
    try:
        all_specs = scaled_specs(args.base_ip, largest)
        for size in args.sizes:
            results, alerts_cpu = poll_rounds(all_specs[:size], args.rounds)
            walls = [r[0] for r in results]
            cpus = [r[1] for r in results]
            ok = min(r[2] for r in results)
            # CPU as a mean over the rounds: every 8th carries the history flush, as in the app.
            print(f"{size} miners: round wall median {statistics.median(walls):.3f} s (max {max(walls):.3f}), "
                  f"CPU mean {statistics.mean(cpus):.3f} s = {1000 * statistics.mean(cpus) / size:.2f} ms "
                  f"per miner (median round {1000 * statistics.median(cpus) / size:.2f} ms), {ok}/{size} ok  "
                  f"(targets: 500 in <= 3 s, <= 1 ms CPU per miner)")
            print(f"{size} miners: one alerts check {1000 * alerts_cpu:.1f} ms CPU "
                  f"({1000 * alerts_cpu / size:.3f} ms per miner; it runs every 10 s)")
        if not args.no_memory:
            rss, online, samples = app_memory(all_specs, args.settle, args.probe)
            print(f"app (gunicorn worker) with {largest} miners, {online} online, after {args.settle / 60:.1f} min "
                  f"with a dashboard's reads: VmRSS {rss / 1024:.1f} MB (target < 80 MB)")
            if len(samples) > 2:
                print("  RSS by minute: " + ", ".join(f"{m:.0f}: {mb:.1f}" for m, mb in samples))
    finally:
        stop(sim)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
