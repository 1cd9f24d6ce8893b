"""Soak: the real app under gunicorn, accelerated, for --minutes; prints RSS, descriptors and threads over time.

What runs (every part through the product's own code paths, nothing faked):

- the simulator's demo fleet (``python -m simulator --demo``: 24 miners of every
  family, the two NMMiners broadcasting UDP telemetry) in its own process on
  127.93.0.10+;
- the app as a Pi runs it, ``gunicorn -c gunicorn.conf.py`` (one worker), with a
  config written to a temporary directory: poll every 1 s, the simulated house
  battery read every 2 s, autocontrol enabled and ticking every 5 s (its minimum), a discovery
  of the /24 at start and every 5 minutes, NMMiner telemetry listened to, CSV logs on;
- 5 WebSocket clients (wsproto, answering the server's pings and sending the
  page's "ping" every 20 s like the dashboard), one of which stops reading after
  its handshake and never reads again;
- an EMS ``POST /api/activate`` / ``/api/deactivate`` every minute, alternating;
- a miner command every ``--command-every`` seconds (power percent, a mode, or a
  restart, whatever the miner can do): a few hundred over 30 minutes;
- a dashboard's reads every 2 s (miners, stats, history, autocontrol, EMS, events).

Every ``--sample-sec`` it samples the gunicorn worker from /proc (VmRSS,
descriptors, threads) and the app (poll round age, WebSocket clients), and at the
end compares each against its value after the warm-up (``--warmup-min``): the
issue's bar is growth under 5 %. Exit code 0 when every series stayed flat.

    .venv/bin/python bench/soak.py                  # 30 minutes
    .venv/bin/python bench/soak.py --minutes 5      # a quick look
    .venv/bin/python bench/soak.py --json out.json  # the samples too
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from _common import ROOT, port_offset, stop, stop_on_sigterm

from tests.gunicorn_proc import start_gunicorn, stop_group, workers

NET = "127.93.0"
APP_HOST = "127.93.1.1"
API_TOKEN = "soak-api-token-0123456789abcdef"
EMS_TOKEN = "soak-ems-token-0123456789abcdef"
GROWTH_LIMIT = 0.05  # the bar: under 5 % after the first minutes


# --- the app -----------------------------------------------------------------------------------
def free_port(host: str) -> int:
    """A TCP port free on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def write_config(tmp: Path, port: int, offset: int) -> Path:
    """The soak's config.yaml: the demo's settings, accelerated."""
    path = tmp / "config.yaml"
    path.write_text(
        f"server:\n  data_dir: {tmp / 'data'}\n  host: {APP_HOST}\n  port: {port}\n"
        f"network:\n  subnet: {NET}.0/24\n  port_offset: {offset}\n  discover_on_start: true\n"
        "  discover_every_min: 5\n"
        "polling:\n  interval_sec: 1\n  timeout_sec: 0.8\n"
        "nmminer:\n  listen: true\n"
        "battery:\n  source: simulated\n  poll_sec: 2\n  max_age_sec: 30\n"
        "  simulated:\n    pv_kw: 30\n    battery_kwh: 40\n    base_load_w: 800\n    initial_soc: 75\n"
        "autocontrol:\n  enabled: true\n  policy: ratchet\n  tick_sec: 5\n  min_interval_sec: 10\n"
        "  grace_sec: 10\n  min_on_sec: 20\n  min_off_sec: 20\n"
        "storage:\n  csv_interval_sec: 5\n"
        f"ems:\n  token: {EMS_TOKEN}\n"
        f"security:\n  api_token: {API_TOKEN}\n  admin_password: soak-password\n"
        "logging:\n  level: WARNING\n")
    return path


def start_app(config: Path, log: IO, probe: Path | None = None) -> subprocess.Popen:
    """gunicorn as start.sh runs it, in its own session (so stopping reaches the worker too).

    probe: also run bench/gunicorn_probe.py's memory probe in the worker, writing JSON lines there.
    """
    if probe is None:
        return start_gunicorn(config, log)
    return start_gunicorn(config, log, conf="bench/gunicorn_probe.py", MEMPROBE_OUT=str(probe))


def worker_pid(master: int) -> int | None:
    """gunicorn's worker: the master's only child."""
    pids = workers(master)
    return pids[0] if pids else None


def proc_figures(pid: int) -> dict[str, float]:
    """VmRSS (MB), open descriptors and threads of one process, from /proc."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mb": int(status["VmRSS"].split()[0]) / 1024, "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": int(status["Threads"])}


# --- WebSocket clients ---------------------------------------------------------------------------
class WsClient(threading.Thread):
    """A dashboard tab's socket: reads everything, answers pings, says "ping" every 20 s; reconnects if dropped.

    ``stall`` makes it a tab that stopped reading: after the handshake it never reads
    again (and never reconnects), so its receive buffer fills and stays full.
    """

    def __init__(self, host: str, port: int, *, stall: bool, stop_event: threading.Event) -> None:
        super().__init__(daemon=True, name="soak-ws-stall" if stall else "soak-ws")
        self.host, self.port, self.stall, self.stop_event = host, port, stall, stop_event
        self.messages = 0
        self.connects = 0
        self.closed_by_server = 0
        self.sock: socket.socket | None = None

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._session()
            except OSError:
                pass
            if self.stall:
                return
            self.stop_event.wait(1.0)

    def _session(self) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import (AcceptConnection, CloseConnection, Ping, RejectConnection, Request,
                                    TextMessage)

        ws = WSConnection(ConnectionType.CLIENT)
        sock = socket.create_connection((self.host, self.port), timeout=10)
        self.sock = sock
        if self.stall:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, like a sleeping phone
        sock.sendall(ws.send(Request(host=f"{self.host}:{self.port}", target="/ws")))
        self.connects += 1
        accepted = False
        while not accepted:
            data = sock.recv(65536)
            if not data:
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    accepted = True
                elif isinstance(event, RejectConnection):
                    return
        if self.stall:
            self.stop_event.wait()  # hold the socket, read nothing, until the soak ends
            sock.close()
            return
        sock.settimeout(1.0)
        next_ping = time.monotonic() + 20
        try:
            while not self.stop_event.is_set():
                if time.monotonic() >= next_ping:
                    sock.sendall(ws.send(TextMessage(data="ping")))
                    next_ping = time.monotonic() + 20
                try:
                    data = sock.recv(1 << 20)
                except socket.timeout:
                    continue
                if not data:
                    self.closed_by_server += 1
                    return
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, TextMessage) and event.message_finished:
                        self.messages += 1
                    elif isinstance(event, Ping):
                        sock.sendall(ws.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        self.closed_by_server += 1
                        sock.sendall(ws.send(event.response()))
                        return
        finally:
            sock.close()


# --- load ---------------------------------------------------------------------------------------
@dataclass
class Counters:
    """What the load did, and what failed."""

    reads: int = 0
    read_errors: int = 0
    commands: int = 0
    command_refused: int = 0
    command_errors: int = 0
    ems_calls: int = 0
    ems_errors: int = 0
    errors_5xx: int = 0
    slowest_read_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def dashboard_reads(base: str, stop_event: threading.Event, counters: Counters) -> None:
    """What an open dashboard asks for, every 2 s."""
    import requests

    session = requests.Session()
    paths = ["/api/miners", "/api/stats", "/api/history?range=1h", "/api/autocontrol", "/api/ems",
             "/api/events?limit=50", "/api/battery", "/api/health"]
    while not stop_event.wait(2.0):
        for path in paths:
            t0 = time.monotonic()
            try:
                reply = session.get(base + path, timeout=10)
                counters.reads += 1
                counters.slowest_read_s = max(counters.slowest_read_s, time.monotonic() - t0)
                if reply.status_code >= 500:
                    counters.errors_5xx += 1
                    counters.notes.append(f"{path}: {reply.status_code}")
            except requests.RequestException as exc:
                counters.read_errors += 1
                counters.notes.append(f"{path}: {type(exc).__name__}")


def pick_command(miner: dict, rng: random.Random) -> tuple[str, dict | None]:
    """A command this miner can take: a power percent, one of its modes, or a restart."""
    caps = set(miner.get("capabilities") or ())
    ip = miner["ip"]
    if "power_percent" in caps:
        return f"/api/miners/{ip}/power", {"percent": rng.choice([60, 80, 100])}
    if "mode" in caps and miner.get("modes"):
        return f"/api/miners/{ip}/mode", {"mode": rng.choice(miner["modes"])}
    if "power_watts" in caps:
        return f"/api/miners/{ip}/power", {"watts": rng.choice([800, 1200, 3000])}
    return f"/api/miners/{ip}/restart", None


def commander(base: str, every: float, stop_event: threading.Event, counters: Counters, seed: int) -> None:
    """A command to a random online miner every ``every`` seconds."""
    import requests

    rng = random.Random(seed)
    session = requests.Session()
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    while not stop_event.wait(every):
        try:
            miners = [m for m in session.get(base + "/api/miners", timeout=10).json() if m.get("online")]
            if not miners:
                continue
            path, body = pick_command(rng.choice(miners), rng)
            reply = session.post(base + path, json=body, headers=headers, timeout=30)
            counters.commands += 1
            if reply.status_code >= 500 and reply.status_code != 502:
                counters.errors_5xx += 1
                counters.notes.append(f"POST {path}: {reply.status_code} {reply.text[:100]}")
            elif reply.status_code >= 400:
                counters.command_refused += 1  # 409 not supported here, 502 the miner said no: counted, not fatal
        except (requests.RequestException, ValueError) as exc:
            counters.command_errors += 1
            counters.notes.append(f"command: {type(exc).__name__}")


def ems_caller(base: str, stop_event: threading.Event, counters: Counters) -> None:
    """An EMS activate, a minute later a deactivate, and so on."""
    import requests

    session = requests.Session()
    headers = {"Authorization": f"Bearer {EMS_TOKEN}"}
    activate = True
    while not stop_event.wait(60.0):
        try:
            status = session.get(base + "/api/status", headers=headers, timeout=10).json()
            if activate and status.get("isAvailableForDispatch"):
                kw = round(status["ratedPowerInKw"] * 0.5, 2)
                reply = session.post(base + "/api/activate", json={"activationPowerInKw": kw}, headers=headers,
                                     timeout=10)
            else:
                reply = session.post(base + "/api/deactivate", headers=headers, timeout=10)
            counters.ems_calls += 1
            if reply.status_code != 200:
                counters.ems_errors += 1
                counters.notes.append(f"EMS: {reply.status_code} {reply.text[:100]}")
            activate = not activate
        except (requests.RequestException, ValueError, KeyError) as exc:
            counters.ems_errors += 1
            counters.notes.append(f"EMS: {type(exc).__name__}")


# --- sampling -----------------------------------------------------------------------------------
def sample(master: int, base: str, started: float) -> dict[str, Any]:
    """One row: the worker's figures from /proc and the app's own health."""
    import requests

    row: dict[str, Any] = {"t_min": round((time.monotonic() - started) / 60, 2)}
    pid = worker_pid(master)
    row["worker_pid"] = pid
    if pid is not None:
        try:
            row.update(proc_figures(pid))
        except OSError:
            pass
    try:
        health = requests.get(base + "/api/health", timeout=5).json()
        row["round_age_s"] = health.get("last_round_age_s")
        row["ws_clients"] = health.get("websocket_clients")
    except (requests.RequestException, ValueError):
        row["round_age_s"] = None
    return row


def flatness(rows: list[dict], warmup_min: float) -> dict[str, dict[str, float]]:
    """Per series: the value at the end of the warm-up, the largest after it, the last, growth in %."""
    after = [r for r in rows if r["t_min"] >= warmup_min and "rss_mb" in r]
    result: dict[str, dict[str, float]] = {}
    if not after:
        return result
    # The second half of the window on its own: a filling cache (SQLite's pages, allocator arenas) rises and
    # then levels, a leak keeps its slope; the pass/fail bar stays on the whole window.
    late = after[len(after) // 2:]
    for key in ("rss_mb", "fds", "threads"):
        base, peak, last = after[0][key], max(r[key] for r in after), after[-1][key]
        mid, late_peak = late[0][key], max(r[key] for r in late)
        result[key] = {"at_warmup": base, "max_after": peak, "last": last,
                       "growth_pct": round(100 * (peak - base) / base, 1) if base else 0.0,
                       "second_half_pct": round(100 * (late_peak - mid) / mid, 1) if mid else 0.0}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run (default 30)")
    parser.add_argument("--warmup-min", type=float, default=5.0, help="growth is counted from here (default 5)")
    parser.add_argument("--sample-sec", type=float, default=30.0, help="sampling period (default 30)")
    parser.add_argument("--command-every", type=float, default=6.0, help="seconds between commands (default 6)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the samples and the summary here")
    parser.add_argument("--probe", type=Path, help="memory probe in the worker (bench/gunicorn_probe.py): JSON lines here")
    args = parser.parse_args()
    stop_on_sigterm()  # run the finally blocks: stop gunicorn too

    offset = port_offset()
    sim = subprocess.Popen([sys.executable, "-m", "simulator", "--demo", "--base-ip", f"{NET}.10",
                            "--port-offset", str(offset), "--quiet", "--seed", str(args.seed)], cwd=ROOT)
    stop_event = threading.Event()
    counters = Counters()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="soak-") as tmpdir:
        tmp = Path(tmpdir)
        port = free_port(APP_HOST)
        base = f"http://{APP_HOST}:{port}"
        app_log = open(tmp / "gunicorn.log", "w")
        app = start_app(write_config(tmp, port, offset), app_log, args.probe)
        try:
            try:
                _wait_for_app(base, app)
            except SystemExit:
                print((tmp / "gunicorn.log").read_text(errors="replace")[-3000:], file=sys.stderr)
                raise
            clients = [WsClient(APP_HOST, port, stall=(i == 0), stop_event=stop_event) for i in range(5)]
            threads = [*clients,
                       threading.Thread(target=dashboard_reads, args=(base, stop_event, counters), daemon=True),
                       threading.Thread(target=commander, args=(base, args.command_every, stop_event, counters,
                                                                args.seed), daemon=True),
                       threading.Thread(target=ems_caller, args=(base, stop_event, counters), daemon=True)]
            for thread in threads:
                thread.start()
            started = time.monotonic()
            print(f"soak: {args.minutes:g} min, app pid {app.pid} on {base}, simulator demo fleet on {NET}.10+",
                  flush=True)
            print(f"{'t min':>6} {'RSS MB':>7} {'fds':>5} {'threads':>7} {'round age s':>11} {'ws':>3} "
                  f"{'cmds':>5} {'reads':>6} {'5xx':>4}", flush=True)
            end = started + args.minutes * 60
            while time.monotonic() < end:
                if app.poll() is not None:
                    counters.notes.append(f"gunicorn exited with {app.returncode}")
                    break
                row = sample(app.pid, base, started)
                rows.append(row)
                print(f"{row['t_min']:>6.1f} {row.get('rss_mb', float('nan')):>7.1f} {row.get('fds', -1):>5} "
                      f"{row.get('threads', -1):>7} {str(row.get('round_age_s')):>11} "
                      f"{str(row.get('ws_clients')):>3} {counters.commands:>5} {counters.reads:>6} "
                      f"{counters.errors_5xx:>4}", flush=True)
                time.sleep(max(0.0, min(args.sample_sec, end - time.monotonic())))
            rows.append(sample(app.pid, base, started))
            pids = {r.get("worker_pid") for r in rows if r.get("worker_pid")}
        finally:
            stop_event.set()
            stop_group(app)
            app_log.close()
            stop(sim)
        log_tail = (tmp / "gunicorn.log").read_text(errors="replace").splitlines()[-20:]

    summary = flatness(rows, args.warmup_min)
    ages = [r["round_age_s"] for r in rows if r.get("round_age_s") is not None and r["t_min"] >= 1]
    print()
    print(f"after the {args.warmup_min:g}-minute warm-up (growth = largest after it vs its value then):")
    flat = True
    for key, figures in summary.items():
        ok = figures["growth_pct"] < 100 * GROWTH_LIMIT
        flat &= ok
        print(f"  {key:8} {figures['at_warmup']:>8.1f} -> max {figures['max_after']:>8.1f}, last "
              f"{figures['last']:>8.1f}: {figures['growth_pct']:+.1f} % {'flat' if ok else 'GROWING'} "
              f"(second half alone: {figures['second_half_pct']:+.1f} %)")
    print(f"  poll round age: max {max(ages) if ages else 'n/a'} s over {len(ages)} samples (poll interval 1 s)")
    print(f"  worker pids seen: {sorted(pids)} ({'never replaced' if len(pids) == 1 else 'REPLACED'})")
    print(f"  load: {counters.commands} commands ({counters.command_refused} refused by the miner or 409, "
          f"{counters.command_errors} errors), {counters.ems_calls} EMS calls ({counters.ems_errors} errors), "
          f"{counters.reads} reads ({counters.read_errors} errors, slowest {counters.slowest_read_s:.2f} s), "
          f"{counters.errors_5xx} 5xx")
    print(f"  WebSocket clients: {sum(c.messages for c in clients[1:])} messages to the 4 readers, reconnects "
          f"{sum(max(0, c.connects - 1) for c in clients[1:])}, the stalled one connected {clients[0].connects} time(s)")
    for note in counters.notes[:10]:
        print(f"  note: {note}")
    healthy = flat and len(pids) == 1 and counters.errors_5xx == 0 and (not ages or max(ages) < 10)
    if not healthy:
        print("gunicorn log tail:\n  " + "\n  ".join(log_tail))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary, "counters": asdict(counters),
                                         "healthy": healthy}, indent=1))
    return 0 if healthy else 1


def _wait_for_app(base: str, app: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until the app answers and has found the demo fleet."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"gunicorn exited with {app.returncode}")
        try:
            if len(requests.get(base + "/api/miners", timeout=2).json()) >= 20:
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit("the app did not find the demo fleet in 60 s")


if __name__ == "__main__":
    sys.exit(main())
