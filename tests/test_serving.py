"""The app under REAL gunicorn (gunicorn.conf.py, serving/worker.py): no lock-out by connections.

Simulated Bitaxes on 127.80.10.0/24 (this module's range), the app on 127.80.10.1,
polling every second. Checks what issue 10 measured: a WebSocket client that never
reads does not stop the poll rounds; 50 held partial-header sockets plus 50 open
dashboards leave a normal request answering within 2 s; the server closes
partial headers after its header timeout; handshakes it cannot serve get a 4xx.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from pathlib import Path

import pytest
import requests
import yaml

from serving.worker import HEADER_TIMEOUT_S
from simulator import SimFleet, demo_specs
from tests.conftest import TEST_TOKEN
from tests.gunicorn_proc import start_gunicorn, stop_group, workers
from tests.integration import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
NET = "127.80.10"
HOST = f"{NET}.1"
COUNT = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sim():
    fleet = SimFleet(demo_specs(f"{NET}.10", COUNT), allow_any_client=True, seed=5)
    fleet.start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def app(tmp_path_factory, sim):
    """gunicorn -c gunicorn.conf.py with a config of COUNT miners; yields {"base", "pid", "log"}."""
    tmp = tmp_path_factory.mktemp("serving")
    port = _free_port()
    config = {
        "server": {"host": HOST, "port": port, "data_dir": str(tmp / "data")},
        "network": {"subnet": f"{NET}.0/24", "port_offset": sim.port_offset},
        "polling": {"interval_sec": 1, "timeout_sec": 0.8, "offline_after": 2, "workers": 8},
        "security": {"api_token": TEST_TOKEN, "admin_password": "long-enough-pw"},
        "battery": {"source": "none"},
        "storage": {"csv_interval_sec": 0},
        "miners": [{"ip": m.ip, "family": "bitaxe"} for m in sim.miners],
    }
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    log_path = tmp / "gunicorn.log"
    with open(log_path, "w") as log:
        proc = start_gunicorn(tmp / "config.yaml", log)
    base = f"http://{HOST}:{port}"
    try:
        def fresh():
            try:
                health = requests.get(base + "/api/health", timeout=2).json()
            except requests.RequestException:
                return None
            return health if health["last_round"] and health["last_round"].get("ok") == COUNT else None

        wait_for(fresh, 30, 0.2, message="gunicorn did not start polling:\n" + log_path.read_text()[-3000:])
        worker = _worker_pid(proc.pid)
        yield {"base": base, "host": HOST, "port": port, "pid": worker, "log": log_path,
               "threads": _threads(worker)}
    finally:
        stop_group(proc)
    text = log_path.read_text()
    assert "Traceback" not in text, text[-3000:]


def _worker_pid(master: int) -> int:
    children = workers(master)
    assert len(children) == 1, children
    return children[0]


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _round_age(base: str) -> float:
    return requests.get(base + "/api/health", timeout=2).json()["last_round_age_s"]


def _ws_connect(app: dict, *, rcvbuf: int | None = None) -> socket.socket:
    """Open /ws with a raw socket and read the 101 (nothing more); the caller reads frames or not."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect((app["host"], app["port"]))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {app['host']}:{app['port']}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: the frames behind the 101 stay in the kernel for the caller
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_websocket_that_never_reads_does_not_stop_polling(app):
    stuck = _ws_connect(app, rcvbuf=4096)  # never read again: its window closes after a few snapshots
    try:
        wait_for(lambda: requests.get(app["base"] + "/api/health", timeout=2).json()["websocket_clients"] >= 1,
                 5, message="the push server did not count the client")
        # Rounds every second go on for well past the time a blocking send needed to stall them (issue 10).
        deadline = time.monotonic() + 6
        worst = 0.0
        while time.monotonic() < deadline:
            worst = max(worst, _round_age(app["base"]))
            time.sleep(0.25)
        assert worst < 3.0, f"poll rounds stalled behind a client that does not read (round age {worst} s)"
    finally:
        stuck.close()


def test_50_partial_headers_and_50_dashboards_do_not_lock_out_a_request(app):
    pid = app["pid"]
    wait_for(lambda: requests.get(app["base"] + "/api/health", timeout=2).json()["websocket_clients"] == 0, 10,
             message="WebSockets of an earlier test still open")
    # gunicorn's pool makes its threads on demand: let it make all of them first, so the count is fair.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(32) as pool:
        assert all(r.status_code == 200 for r in pool.map(
            lambda _: requests.get(app["base"] + "/api/miners", timeout=5), range(64)))
    fds_before, threads_before = _fds(pid), _threads(pid)
    partial: list[socket.socket] = []
    dashboards: list[socket.socket] = []
    try:
        for _ in range(50):
            sock = socket.create_connection((app["host"], app["port"]), timeout=5)
            sock.sendall(b"GET /api/miners HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
            partial.append(sock)
        for _ in range(50):
            dashboards.append(_ws_connect(app))
        health = requests.get(app["base"] + "/api/health", timeout=2).json()
        assert health["websocket_clients"] == 50
        for _ in range(5):
            started = time.monotonic()
            reply = requests.get(app["base"] + "/api/miners", timeout=2)
            assert reply.status_code == 200 and len(reply.json()) == COUNT
            assert time.monotonic() - started < 2.0
        # The dashboards are live: each got its snapshot on connect (with the discovery state).
        first = _read_text_frame(dashboards[-1])
        assert first["type"] == "snapshot" and "discovery" in first and len(first["miners"]) == COUNT
        assert _threads(pid) <= threads_before + 1, "held connections took threads"  # +1: the push thread
    finally:
        for sock in dashboards:
            sock.close()
    # The server closes the partial headers itself after its header timeout.
    for sock in partial:
        sock.settimeout(HEADER_TIMEOUT_S + 5)
    closed = 0
    for sock in partial:
        try:
            closed += sock.recv(1) == b""
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
        sock.close()
    assert closed == 50
    wait_for(lambda: _fds(pid) <= fds_before + 2, 10,
             message=f"descriptors not freed: {fds_before} before, {_fds(pid)} after")
    wait_for(lambda: requests.get(app["base"] + "/api/health", timeout=2).json()["websocket_clients"] == 0, 10,
             message="closed dashboards still counted")


def _read_text_frame(sock: socket.socket) -> dict:
    """One unmasked server text frame (the snapshot), parsed as JSON."""
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import TextMessage

    conn = Connection(ConnectionType.CLIENT)
    parts: list[str] = []
    sock.settimeout(5)
    while True:
        conn.receive_data(sock.recv(65536))
        for event in conn.events():
            if isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    return json.loads("".join(parts))


@pytest.mark.parametrize("headers, code", [
    ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "8",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 426),
    ({"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 426),
    ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": "short"}, 400),
    ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}, 400),
])
def test_handshakes_the_server_cannot_serve_get_a_4xx(app, headers, code):
    reply = requests.get(app["base"] + "/ws", headers=headers, timeout=5)
    assert reply.status_code == code, reply.text
    assert reply.json()["error"]
    if headers.get("Sec-WebSocket-Version") == "8":
        assert reply.headers["Sec-WebSocket-Version"] == "13"
    # The worker is still serving normally afterwards.
    assert requests.get(app["base"] + "/api/health", timeout=2).status_code == 200


def test_a_header_block_that_never_ends_gets_431(app):
    with socket.create_connection((app["host"], app["port"]), timeout=5) as sock:
        sock.sendall(b"GET /api/miners HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 40_000)
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 431"), reply


def test_a_body_that_trickles_holds_no_thread(app):
    """Bodies are read in the loop too: 20 requests whose body never comes leave the workers free."""
    held = []
    try:
        for _ in range(20):
            sock = socket.create_connection((app["host"], app["port"]), timeout=5)
            sock.sendall(b"POST /api/autocontrol HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"enab")
            held.append(sock)
        started = time.monotonic()
        assert requests.get(app["base"] + "/api/miners", timeout=2).status_code == 200
        assert time.monotonic() - started < 2.0
    finally:
        for sock in held:
            sock.close()


def test_keep_alive_requests_still_work(app):
    with requests.Session() as session:
        for _ in range(5):
            assert session.get(app["base"] + "/api/miners", timeout=2).status_code == 200
        reply = session.post(app["base"] + "/api/autocontrol", json={"enabled": False},
                             headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=5)
        assert reply.status_code == 200, reply.text


def test_the_thread_count_is_what_it_was_at_start(app):
    """Every pool is started whole (services/pools.py): after this module's bursts, the worker has the
    threads it had once polling began, plus the push thread the first WebSocket client started."""
    from concurrent.futures import ThreadPoolExecutor

    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}

    def hit(i: int) -> int:
        path = ("/api/miners", "/api/history?range=1h", "/api/events", "/api/health")[i % 4]
        return requests.get(app["base"] + path, headers=headers, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(pool.map(hit, range(200)))
    assert set(codes) == {200}, codes
    time.sleep(1.5)  # a poll round in between
    assert _threads(app["pid"]) == app["threads"] + 1, (app["threads"], _threads(app["pid"]))
