"""Crash safety (issue 10 point 7): kill -9 of the worker at random moments, then a start.

The real app runs as in production (``gunicorn -c gunicorn.conf.py``: one gthread worker holding
the runtime, the pollers, autocontrol and the EMS) against simulated miners of several families on
loopback 127.97.0.0/24 (the app on 127.97.1.1), polling every second. Each cycle makes one
acknowledged change (an EMS activate/deactivate, an autocontrol override or policy change, a
command, a new miner), waits for its 2xx, and SIGKILLs the worker at a seeded random moment
(right after the reply, during the next poll round's write, during a command or an EMS activate
still in flight); gunicorn's master starts a new worker, or, in some cycles, the whole server is
killed and started again. After each start:

- ``PRAGMA integrity_check`` of the database is "ok";
- GET /api/ems and GET /api/autocontrol show the last acknowledged dispatch, override and policy;
- the miners list holds every miner added;
- every sample row committed before the kill is still there (at most the round in flight is lost);
- the new worker holds DATA_DIR/fleet.lock (its pid in the file), is not read-only and polls.

``test_config_change_restart_keeps_state`` does the same across the restarts a config change makes
(SIGHUP to the master: gunicorn starts the new worker before the old one has let go of the lock;
then SIGTERM and a start with the new config). ``test_sqlite_wal_normal_survives_kill9`` checks
the database claim on its own: with WAL and synchronous=NORMAL, a process killed mid-write loses
no transaction it saw committed.

The seed is printed; ``CRASH_SEED=<n>`` replays a run.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from simulator import MinerSpec, SimFleet, default_port_offset
from services.runtime import LOCK_RETRY_S
from tests.gunicorn_proc import start_gunicorn, stop_group, workers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
NET = "127.97.0"
APP_HOST = "127.97.1.1"
API_TOKEN = "crash-api-token-0123456789abcdef"
EMS_TOKEN = "crash-ems-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
EMS = {"Authorization": f"Bearer {EMS_TOKEN}"}
FLUSH_S = 2  # storage.flush_interval_sec: the most history a kill may lose
RATED_KW = 20.0  # ems.rated_kw: activate is accepted before the first round after a start

# (kind, model): several families; the first three are in config.yaml, the others added by POST /api/miners.
FLEET = [("bitaxe", "BM1370"), ("antminer", "Antminer S19"), ("braiins", "Antminer S19 XP"),
         ("bitaxe", "BM1368"), ("luxos", "Antminer S19k Pro"), ("avalon", "Avalon Nano3s"),
         ("whatsminer", "M30S+"), ("bitaxe", "BM1366")]
IN_CONFIG = 3
FAMILY = {"vnish_legacy": "vnish"}


def _ip(i: int) -> str:
    return f"{NET}.{10 + i}"


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec(kind, _ip(i), model=model, restart_seconds=0.5) for i, (kind, model) in enumerate(FLEET)]
    with SimFleet(specs, port_offset=default_port_offset(), allow_any_client=True, seed=7) as fleet:
        yield fleet


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((APP_HOST, 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, message: str, step: float = 0.1) -> Any:
    """predicate() until truthy (returned); request errors count as not yet; AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (requests.RequestException, ValueError, OSError):
            value = None
        if value:
            return value
        time.sleep(step)
    raise AssertionError(message)


class Server:
    """gunicorn -c gunicorn.conf.py with a config.yaml of our own; the master is ``proc``."""

    def __init__(self, tmp: Path, port: int, interval: float = 1.0) -> None:
        self.tmp, self.port, self.data = tmp, port, tmp / "data"
        self.base = f"http://{APP_HOST}:{port}"
        self.config = tmp / "config.yaml"
        self.write_config(interval)
        self.proc: subprocess.Popen | None = None
        self.log = open(tmp / "gunicorn.log", "a")
        self.session = requests.Session()

    def write_config(self, interval: float, level: str = "WARNING") -> None:
        self.interval = interval
        miners = "".join(f"  - ip: {_ip(i)}\n    family: {FAMILY.get(kind, kind)}\n"
                         for i, (kind, _) in enumerate(FLEET[:IN_CONFIG]))
        self.config.write_text(textwrap.dedent(f"""\
            server:
              host: {APP_HOST}
              port: {self.port}
              data_dir: {self.data}
            network:
              subnet: {NET}.0/24
              port_offset: {default_port_offset()}
            polling:
              interval_sec: {interval}
              timeout_sec: 0.8
            storage:
              csv_interval_sec: 0
              flush_interval_sec: {FLUSH_S}
            battery:
              source: simulated
              poll_sec: 5
              max_age_sec: 60
              simulated:
                pv_kw: 30
                battery_kwh: 40
                initial_soc: 80
            autocontrol:
              enabled: true
              policy: ratchet
              tick_sec: 5
              min_interval_sec: 0
            ems:
              rated_kw: {RATED_KW}
            logging:
              level: {level}
            """) + "miners:\n" + miners)

    def start(self) -> None:
        self.proc = start_gunicorn(self.config, self.log, API_TOKEN=API_TOKEN, EMS_TOKEN=EMS_TOKEN,
                                   ADMIN_PASSWORD="crash-test-password")

    def workers(self) -> list[int]:
        """The master's children (gunicorn's workers)."""
        assert self.proc is not None
        return workers(self.proc.pid)

    def get(self, path: str, headers: dict | None = None) -> Any:
        reply = self.session.get(self.base + path, headers=headers or AUTH, timeout=5)
        reply.raise_for_status()
        return reply.json()

    def post(self, path: str, body: Any = None, headers: dict | None = None, timeout: float = 10) -> requests.Response:
        return requests.post(self.base + path, json=body, headers=headers or AUTH, timeout=timeout)

    def ready(self, not_pid: int | None = None, timeout: float = 40) -> dict:
        """Until one worker, not ``not_pid``, answers, is not read-only and has finished a poll round."""
        def check() -> dict | None:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            workers = self.workers()
            if len(workers) != 1 or workers[0] == not_pid:
                return None
            health = self.get("/api/health")
            if health["read_only"]:
                return health  # reported at once: waiting longer does not change a read-only worker
            return health if health["last_round"] else None

        health = wait_for(check, timeout, f"the app did not come back in {timeout} s:\n{self.tail()}")
        health["worker"] = self.workers()[0]
        self.ready_at = time.time()  # polling since about here
        return health

    def kill_worker(self) -> int:
        pid = self.workers()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_all(self) -> None:
        """SIGKILL master and worker at once (a power cut of the process tree, not of the disk)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)

    def close(self) -> None:
        """stop(), then close the log and the HTTP session."""
        self.stop()
        self.session.close()
        self.log.close()

    def tail(self) -> str:
        self.log.flush()
        return (self.tmp / "gunicorn.log").read_text()[-3000:]


def db_facts(data: Path) -> dict:
    """Read-only: integrity_check, sample count and newest ts, the miners' ips."""
    conn = sqlite3.connect(f"file:{data / 'fleet.db'}?mode=ro", uri=True, timeout=10)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        count, last = conn.execute("SELECT COUNT(*), MAX(id >> 20) / 1000.0 FROM samples").fetchone()
        ips = {row[0] for row in conn.execute("SELECT ip FROM miners")}
        return {"integrity": integrity, "samples": count, "last_ts": last or 0.0, "ips": ips}
    finally:
        conn.close()


def newest_sample_before(data: Path, ts: float) -> float:
    conn = sqlite3.connect(f"file:{data / 'fleet.db'}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT MAX(id >> 20) / 1000.0 FROM samples WHERE id < ?", (round(ts * 1000) << 20,)).fetchone()[0] or 0.0
    finally:
        conn.close()


def samples_up_to(data: Path, ts: float) -> int:
    conn = sqlite3.connect(f"file:{data / 'fleet.db'}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT COUNT(*) FROM samples WHERE id < ?", ((round(ts * 1000) + 1) << 20,)).fetchone()[0]
    finally:
        conn.close()


class Expected:
    """What the app acknowledged last: the dispatch, the controller settings, the miners."""

    def __init__(self) -> None:
        self.ems: tuple[str, float | None] = ("idle", None)
        self.enabled = True
        self.policy = "ratchet"
        self.override: float | None = None
        self.miner_overrides: dict[str, float] = {}
        self.ips = {_ip(i) for i in range(IN_CONFIG)}
        self.pending: list[threading.Thread] = []  # requests sent just before the kill
        self.settle: list[Callable[[Server], None]] = []  # run after the start: what an unanswered request left

    def check(self, server: Server, where: str) -> None:
        ems = server.get("/api/ems")
        assert (ems["state"], ems["target_kw"] if ems["state"] == "active" else None) == self.ems, (where, ems)
        ac = server.get("/api/autocontrol")
        assert ac["enabled"] is self.enabled and ac["policy"] == self.policy, (where, ac)
        assert (ac["override"] or {}).get("percent") == self.override, (where, ac["override"])
        assert {k: v["percent"] for k, v in ac["miner_overrides"].items()} == self.miner_overrides, (where, ac)
        assert {m["ip"] for m in server.get("/api/miners")} == self.ips, where


def act(server: Server, exp: Expected, rng: random.Random, added: list[int]) -> str:
    """One acknowledged change, chosen by rng; returns what it was."""
    kind = rng.choice(["ems_on", "ems_on", "ems_off", "override", "miner_override", "policy", "command", "add"])
    if kind == "add" and len(added) >= len(FLEET) - IN_CONFIG:
        kind = "ems_on"
    if kind == "ems_on":
        kw = round(rng.uniform(0.5, RATED_KW), 3)
        reply = server.post("/api/activate", {"activationPowerInKw": kw}, headers=EMS)
        assert reply.status_code == 200 and reply.json()["accepted"], reply.text
        exp.ems = ("active", kw)
        return f"EMS activate {kw} kW"
    if kind == "ems_off":
        reply = server.post("/api/deactivate", headers=EMS)
        assert reply.status_code == 200, reply.text
        exp.ems = ("stopped", None)
        return "EMS deactivate"
    if kind == "override":
        pct = float(rng.randrange(0, 101, 5))
        reply = server.post("/api/autocontrol", {"override": {"percent": pct, "minutes": 600}})
        assert reply.status_code == 200, reply.text
        exp.override = pct
        return f"override {pct:g}%"
    if kind == "miner_override":
        ip, pct = rng.choice(sorted(exp.ips)), float(rng.randrange(0, 101, 10))
        reply = server.post("/api/autocontrol", {"override": {"percent": pct, "miner": ip}})
        assert reply.status_code == 200, reply.text
        exp.miner_overrides[ip] = pct
        return f"override {ip} {pct:g}%"
    if kind == "policy":
        exp.policy = "surplus" if exp.policy == "ratchet" else "ratchet"
        reply = server.post("/api/autocontrol", {"policy": exp.policy})
        assert reply.status_code == 200, reply.text
        return f"policy {exp.policy}"
    if kind == "command":
        # A command changes the miner, not the app's state: it only has to be answered.
        reply = server.post(f"/api/miners/{_ip(0)}/fan", {"percent": rng.randrange(40, 101)})
        assert reply.status_code == 200, reply.text
        return "command fan"
    i = IN_CONFIG + len(added)
    kind_, _ = FLEET[i]
    reply = server.post("/api/miners", {"ip": _ip(i), "family": FAMILY.get(kind_, kind_)})
    assert reply.status_code == 201, reply.text
    added.append(i)
    exp.ips.add(_ip(i))
    return f"add {_ip(i)} ({kind_})"


def kill_moment(server: Server, exp: Expected, rng: random.Random) -> str:
    """Wait for a random moment and (for some) start a request still in flight when the kill lands."""
    moment = rng.choice(["reply", "round", "round", "command", "activate"])
    if moment == "reply":
        return "right after the reply"
    if moment == "round":
        # Rounds start every second and end with one write of the samples: a random point in the cycle.
        before = server.get("/api/health")["last_round"]["ts"]
        wait_for(lambda: server.get("/api/health")["last_round"]["ts"] != before, 5, "no poll round", step=0.02)
        time.sleep(rng.uniform(0.0, 1.0))
        return "during a poll round"
    delay = rng.uniform(0.0, 0.15)
    if moment == "command":
        path, body, headers = f"/api/miners/{_ip(1)}/sleep", {}, AUTH
    else:
        kw = round(rng.uniform(0.5, RATED_KW), 3)
        path, body, headers = "/api/activate", {"activationPowerInKw": kw}, EMS

    def fire() -> None:
        try:
            reply = server.post(path, body, headers=headers, timeout=30)
        except requests.RequestException:
            return  # killed before it answered: nothing was acknowledged
        if moment == "activate" and reply.status_code == 200:
            exp.ems = ("active", kw)  # answered before the kill: it must have been kept

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    time.sleep(delay)
    exp.pending.append(thread)
    if moment == "activate":
        # Unanswered, either the old or the new dispatch is right; the reply (if any) decides.
        exp.settle.append(lambda s, old=exp.ems: _settle_activate(s, exp, old, kw))
    return f"{delay * 1000:.0f} ms into {'a command' if moment == 'command' else f'an EMS activate of {kw} kW'}"


def _settle_activate(server: Server, exp: Expected, old: tuple, kw: float) -> None:
    ems = server.get("/api/ems")
    now = (ems["state"], ems["target_kw"] if ems["state"] == "active" else None)
    if exp.ems == old:  # no 200 came back: saved or not, both are consistent
        assert now in (old, ("active", kw)), now
        exp.ems = now


def test_kill9_of_the_worker_keeps_acknowledged_state(sim, tmp_path):
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 1_000_000))
    print(f"crash test seed {seed} (CRASH_SEED={seed} replays it)")
    rng = random.Random(seed)
    server = Server(tmp_path, free_port())
    exp, added, cycles = Expected(), [], 7
    windows_checked = 0
    try:
        server.start()
        health = server.ready()
        # Cycles 1-6 get two full restarts and one master-only kill; the rest: the master respawns the worker.
        restarts = dict(zip(rng.sample(range(1, cycles), 3), ("all", "all", "master")))
        for cycle in range(cycles):
            if cycle % 2 == 0:  # a worker that has flushed by the kill, so the loss window can be checked
                time.sleep(max(0.0, server.ready_at + FLUSH_S + 1.0 - time.time()))
            what = act(server, exp, rng, added)
            when = kill_moment(server, exp, rng)
            before = db_facts(server.data)
            if restarts.get(cycle) == "all":
                server.kill_all()
                assert (server.data / "fleet.lock").exists()  # the stale file stays; only the flock went
                server.start()
                how, old = "master and worker killed, started again", None
            elif restarts.get(cycle) == "master":
                # The orphaned worker notices its master is gone and stops; a new server started at once
                # must not come up read-only behind it.
                orphan = server.workers()[0]
                os.kill(server.proc.pid, signal.SIGKILL)
                server.proc.wait(10)
                server.start()
                how, old = "master killed (worker orphaned), started again", orphan
                wait_for(lambda: not Path(f"/proc/{orphan}").exists() or
                         Path(f"/proc/{orphan}/stat").read_text().split()[2] == "Z", 30, "the orphan did not exit")
            else:
                old = server.kill_worker()
                how = "worker killed, master respawned it"
            polling_since, killed_at = server.ready_at, time.time()
            print(f"cycle {cycle}: {what}; kill -9 {when}; {how}")
            for thread in exp.pending:
                thread.join(35)
            health = server.ready(not_pid=old)
            for settle in exp.settle:
                settle(server)
            exp.pending.clear()
            exp.settle.clear()
            assert not health["read_only"], f"cycle {cycle}: the new worker came back read-only\n{server.tail()}"
            assert (server.data / "fleet.lock").read_text().strip() == str(health["worker"])
            after = db_facts(server.data)
            assert after["integrity"] == ["ok"], after["integrity"]
            assert exp.ips <= after["ips"]
            # Every row committed before the kill is still there; new rounds add more.
            assert samples_up_to(server.data, before["last_ts"]) >= before["samples"], (before, after)
            # At most the history flush window was lost: rounds wait FLUSH_S in memory, and the round in
            # flight (started up to one interval before the kill) may be lost with them.
            window_start = killed_at - FLUSH_S - server.interval - 1.0
            if killed_at > polling_since + FLUSH_S + 0.5:  # else the killed worker may not have flushed yet
                kept = newest_sample_before(server.data, killed_at)
                assert kept >= window_start, (kept, killed_at)
                windows_checked += 1
            # The new worker writes rounds of its own.
            wait_for(lambda: db_facts(server.data)["samples"] > before["samples"], 10, "no samples after the start")
            exp.check(server, f"cycle {cycle} ({what}; {when})")
        print(f"loss window checked in {windows_checked} of {cycles} cycles")
        assert windows_checked >= cycles // 2, "the loss window was checked in too few cycles"
        last = server.get("/api/health")["last_round"]["ts"]
        wait_for(lambda: server.get("/api/health")["last_round"]["ts"] > last, 5, "rounds stopped after the cycles")
    finally:
        server.close()
    assert db_facts(server.data)["integrity"] == ["ok"]


def test_config_change_restart_keeps_state(sim, tmp_path):
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 1_000_000))
    print(f"config restart seed {seed}")
    rng = random.Random(seed)
    server = Server(tmp_path, free_port())
    exp = Expected()
    try:
        server.start()
        server.ready()
        for body, note in (({"policy": "surplus"}, "policy"), ({"override": {"percent": 35, "minutes": 600}}, "ov")):
            assert server.post("/api/autocontrol", body).status_code == 200, note
        exp.policy, exp.override = "surplus", 35.0
        assert server.post("/api/activate", {"activationPowerInKw": 4.25}, headers=EMS).status_code == 200
        exp.ems = ("active", 4.25)

        # 1. SIGHUP with a changed config: gunicorn starts a new worker, then stops the old one.
        server.write_config(interval=2.0)
        old = server.workers()[0]
        os.kill(server.proc.pid, signal.SIGHUP)
        health = server.ready(not_pid=old)
        assert not health["read_only"], f"after SIGHUP the new worker is read-only\n{server.tail()}"
        assert (server.data / "fleet.lock").read_text().strip() == str(health["worker"])
        exp.check(server, "after SIGHUP")
        assert db_facts(server.data)["integrity"] == ["ok"]

        # 2. An acknowledged change, then SIGHUP and a kill -9 of the workers at a random moment of the handover.
        assert server.post("/api/activate", {"activationPowerInKw": 6.5}, headers=EMS).status_code == 200
        exp.ems = ("active", 6.5)
        server.write_config(interval=1.0)
        old = server.workers()[0]
        os.kill(server.proc.pid, signal.SIGHUP)
        delay = rng.uniform(0.0, 1.5)
        time.sleep(delay)
        for pid in server.workers():
            os.kill(pid, signal.SIGKILL)
        print(f"kill -9 of every worker {delay:.2f} s into a SIGHUP reload")
        health = server.ready(not_pid=old)
        assert not health["read_only"], server.tail()
        exp.check(server, "after SIGHUP + kill -9")
        assert db_facts(server.data)["integrity"] == ["ok"]

        # 3. SIGTERM and a start with a changed config (what systemctl restart does).
        assert server.post("/api/autocontrol", {"policy": "ratchet"}).status_code == 200
        exp.policy = "ratchet"
        server.stop()
        server.write_config(interval=1.5, level="INFO")
        server.start()
        health = server.ready()
        assert not health["read_only"], server.tail()
        exp.check(server, "after SIGTERM and a start")
    finally:
        server.close()
    assert db_facts(server.data)["integrity"] == ["ok"]


_WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from database.db import connect
conn = connect({path!r})
assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, pad BLOB)")
n = conn.execute("SELECT COALESCE(MAX(n) / 100, 0) FROM t").fetchone()[0]
while True:
    n += 1
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?, randomblob(2000))", [(n * 100 + i,) for i in range(20)])
    conn.execute("COMMIT")
    print(n, flush=True)  # only after COMMIT returned: this transaction is acknowledged
"""


def test_sqlite_wal_normal_survives_kill9(tmp_path):
    """database.db.connect's pragmas: a kill -9 mid-write loses no committed transaction, never corrupts."""
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 1_000_000))
    print(f"sqlite kill seed {seed}")
    rng = random.Random(seed)
    path = tmp_path / "t.db"
    script = _WRITER.format(root=str(ROOT), path=str(path))
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        acked = 0
        deadline = time.monotonic() + rng.uniform(0.2, 0.6)
        assert proc.stdout is not None
        for line in proc.stdout:
            acked = int(line)
            if time.monotonic() >= deadline:
                break
        proc.kill()  # SIGKILL, most likely inside a transaction (the writer never pauses)
        rest = proc.stdout.read()
        proc.wait(10)
        acked = max([acked] + [int(x) for x in rest.split()])
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            top = conn.execute("SELECT MAX(n) / 100 FROM t").fetchone()[0]
            # Every acknowledged transaction is there; whole transactions only (20 rows each).
            assert top >= acked > 0
            assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 20 * top
        finally:
            conn.close()


def test_a_read_only_worker_takes_over_once_the_poller_is_gone(sim, tmp_path):
    """A second server on the same data dir serves read-only; when the first stops, its worker hands over
    (services/runtime.py _wait_for_lock): a fresh worker takes the lock and polls."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = Server(tmp_path / "first", free_port())
    second = Server(tmp_path / "second", free_port())
    second.data = first.data
    second.write_config(1.0)
    try:
        first.start()
        first.ready()
        second.start()
        health = second.ready()
        assert health["read_only"], "the second server should have found the lock taken"
        old_worker = health["worker"]
        first.stop()
        health = wait_for(lambda: (h := second.ready(not_pid=old_worker)) and not h["read_only"] and h,
                          LOCK_RETRY_S + 30, "the read-only worker did not take over")
        assert (second.data / "fleet.lock").read_text().strip() == str(health["worker"])
        last = health["last_round"]["ts"]
        wait_for(lambda: second.get("/api/health")["last_round"]["ts"] > last, 10, "no poll round after the handover")
        assert "is free now" in second.tail()
    finally:
        first.close()
        second.close()
