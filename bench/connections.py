"""Connections vs the app under gunicorn: a WebSocket that never reads, then 50 half-sent requests + 50 dashboards.

Usage: .venv/bin/python bench/connections.py [--root DIR] [--miners N] [--seconds S]

--root: the checkout to run (its gunicorn.conf.py; default this one; an old copy to compare, e.g.
``git archive <rev> | tar -x -C /tmp/old && ln -s $PWD/.venv /tmp/old/.venv``). --miners: simulated
Bitaxes on 127.96.0.10+ (150 make a ~95 KB snapshot). --seconds: how long the non-reading WebSocket
is held while the poll round age (GET /api/health) is sampled every 5 s. Then 50 sockets that send
part of a header and 50 open /ws are held at once, GET /api/miners is timed 15 times, and the script
counts how many of the 50 half-sent requests the server closes within 40 s. Loopback only.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml
from _common import ROOT

if str(ROOT) not in sys.path:  # _common puts it there; said again for the import below
    sys.path.insert(0, str(ROOT))
from tests.gunicorn_proc import stop_group  # noqa: E402

NET = "127.96.0"  # benchmarks own 127.90-99.x.x (docs/contracts.md)
HOST = f"{NET}.1"


def ws_open(port: int, rcvbuf: int | None = None) -> socket.socket:
    """Send a /ws handshake and return the socket without reading anything."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect((HOST, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    return sock


def main() -> None:
    """Run both measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--miners", type=int, default=150)
    parser.add_argument("--seconds", type=int, default=100)
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    from simulator import SimFleet, demo_specs

    sim = SimFleet(demo_specs(f"{NET}.10", args.miners), allow_any_client=True, seed=5)
    sim.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-connections-"))
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    config = {"server": {"host": HOST, "port": port, "data_dir": str(tmp / "data")},
              "network": {"subnet": f"{NET}.0/24", "port_offset": sim.port_offset},
              "polling": {"interval_sec": 1, "timeout_sec": 0.8, "workers": 8},
              "security": {"api_token": "t" * 32, "admin_password": "long-enough-pw"},
              "battery": {"source": "none"}, "storage": {"csv_interval_sec": 0},
              "miners": [{"ip": m.ip, "family": "bitaxe"} for m in sim.miners]}
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, CONFIG=str(tmp / "config.yaml"))
    with open(tmp / "gunicorn.log", "w") as log:
        proc = subprocess.Popen([str(root / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py"], cwd=root, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://{HOST}:{port}"

    def health() -> dict:
        return requests.get(base + "/api/health", timeout=5).json()

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if (health().get("last_round") or {}).get("ok") == args.miners:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        size = len(requests.get(base + "/api/miners", timeout=5).content)
        print(f"{root}: {args.miners} miners, /api/miners {size} B")

        stuck = ws_open(port, rcvbuf=4096)  # never read
        ages: list[float | str] = []
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            try:
                ages.append(health()["last_round_age_s"])
            except requests.RequestException as exc:
                ages.append(f"error {type(exc).__name__}")
            time.sleep(5)
        print("poll round age (s) with a non-reading WebSocket, every 5 s:", ages)
        stuck.close()
        time.sleep(3)

        held = []
        for _ in range(50):
            sock = socket.create_connection((HOST, port), timeout=5)
            sock.sendall(b"GET /api/miners HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(sock)
        for _ in range(50):
            held.append(ws_open(port))
        time.sleep(1)
        answered, times = 0, []
        for _ in range(15):
            t0 = time.monotonic()
            try:
                answered += requests.get(base + "/api/miners", timeout=5).status_code == 200
            except requests.RequestException:
                pass
            times.append(round(time.monotonic() - t0, 3))
        print(f"50 half-sent requests + 50 dashboards held: {answered}/15 GET /api/miners answered, s: {times}")
        t0, closed = time.monotonic(), 0
        for sock in held[:50]:
            sock.settimeout(max(0.1, 40 - (time.monotonic() - t0)))
            try:
                closed += sock.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except OSError:
                pass
        print(f"half-sent requests closed by the server within 40 s: {closed}/50 ({time.monotonic() - t0:.1f} s)")
        for sock in held:
            sock.close()
    finally:
        stop_group(proc)
        sim.stop()


if __name__ == "__main__":
    main()
