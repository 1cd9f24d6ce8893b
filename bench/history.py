"""History bench: a year of history for N miners, every chart timed through HTTP, and the SD-card writes.

Three phases (issue 11, point 5):

1. **Build** (kept in ``--data-dir`` and reused; topped up to now when reused):
   a database for ``--miners`` miners holding what that much polling leaves with
   the default retention, written through the product's own storage code
   (``database.db.Database`` + ``services.history.History``) with a fake clock:
   one round every 5 minutes for the part older than ``--raw-days`` (so its
   roll-ups hold n=1 reading per 5-minute bucket, not 20) and a purge once per
   simulated day, then a round every 15 s for the last ``--raw-days``; a battery
   reading every 60 s throughout; a flush every 8 rounds (the app's 120 s at
   15 s). Miners sit on 127.88.x.y, where nothing listens (mostly sha256d
   Antminers of ~100 TH/s, every 10th a scrypt L7, every 7th reporting no
   power). ``--old-layout`` builds the version-2 file of the code before issue 11
   instead (bench/migrate_v2.py's builder: 5-minute roll-ups for all
   ``--rollup-days``, the old default retention), for ``--app-root`` runs of the
   old code.
2. **Queries**: the real app under gunicorn (tests/gunicorn_proc.py) on a copy of
   that file, its miners offline; start-up time (process start to the first 200
   from /api/health), then every chart (fleet, three miners, battery; ranges 1h
   6h 24h 3d 1w all) ``--reps`` times, interleaved; p50/max against the targets
   (p50 <= 200 ms, max <= 500 ms). A chart that misses is re-run in-process with
   its SQL traced, and each statement's EXPLAIN QUERY PLAN printed.
3. **Writes** (``--wchar-minutes``, 0 skips): 100 simulated miners
   (``python -m simulator --count 100`` in its own process) polled every 15 s by
   the real app with a simulated battery, on another copy of the aged file whose
   first 100 miners are re-pointed at the simulator (so the polled miners carry
   the file's history, as on an installation that has run for a year). After a
   1-minute warm-up, the worker's /proc/<pid>/io wchar (and write_bytes) over the
   window, as MB/day and MB/day per miner, and the database + WAL growth.

``--app-root DIR`` runs phases 2 and 3 from another checkout (the same .venv):

    .venv/bin/python bench/history.py --data-dir /tmp/histbench                  # build, queries, 10-min writes
    git worktree add /tmp/old 9999ac0                                            # the code before issue 11
    .venv/bin/python bench/history.py --data-dir /tmp/histbench --old-layout --app-root /tmp/old --reps 0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import socket
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable

from _common import ROOT, port_offset, start_simulator, stop, stop_on_sigterm

from tests.gunicorn_proc import start_gunicorn, stop_group, workers

MINER_NET = "127.88"  # the built miners' addresses: loopback, nothing listens there
APP_HOST = "127.98.1.1"  # a range no test uses: a bench left running never meets a test's simulator
SIM_BASE = "127.98.0.10"
SIM_COUNT = 100
RAW_STEP = 15  # the default poll interval
OLD_STEP = 300  # one round per 5-minute bucket for the part older than --raw-days
BATTERY_STEP = 60
FLUSH_EVERY = 8  # rounds per flush: the app's storage.flush_interval_sec (120 s) at 15 s
RANGES = ("1h", "6h", "24h", "3d", "1w", "all")
P50_TARGET_S, MAX_TARGET_S, STARTUP_TARGET_S = 0.200, 0.500, 3.0
WRITE_TARGET_MB_DAY = 100.0  # for 100 miners
API_TOKEN = "history-bench-token-0123456789"


# --- phase 1: build ------------------------------------------------------------------------------
class FakeClock:
    """The simulated time History reads (``clock=``)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def miner_specs(count: int) -> list[dict[str, Any]]:
    """The built miners: ip, family, model, algorithm and their typical readings."""
    rng = random.Random(7)
    specs = []
    for i in range(count):
        scrypt = i % 10 == 9
        specs.append({
            "ip": f"{MINER_NET}.{i // 250}.{i % 250 + 1}", "family": "antminer",
            "model": "Antminer L7" if scrypt else "Antminer S19j Pro",
            "algorithm": "scrypt" if scrypt else "sha256d",
            "hashrate": (9.5e9 if scrypt else 100e12) * rng.uniform(0.9, 1.1),
            "power": None if i % 7 == 3 else rng.uniform(2800, 3400),
            "temp": rng.uniform(55, 75), "fan": rng.randrange(4000, 6500, 60)})
    return specs


class RoundMaker:
    """Plausible per-miner rows for a round: each miner's typical value times a cheap, varying noise."""

    def __init__(self, ids: list[int], specs: list[dict[str, Any]]) -> None:
        rng = random.Random(11)
        self.noise = [rng.gauss(1.0, 0.03) for _ in range(7919)]  # prime length: rounds do not repeat
        self.miners = [(mid, s["algorithm"], s["hashrate"], s["power"], s["temp"], s["fan"])
                       for mid, s in zip(ids, specs)]
        self.k = 0

    def rows(self) -> list[tuple]:
        """One round: (miner_id, algorithm, hashrate_hs, power_w, temp_c, fan_rpm)."""
        noise, n = self.noise, len(self.noise)
        o = self.k * 131
        self.k += 1
        return [(mid, algo, hs * noise[(o + j) % n], pw * noise[(o + j + 1) % n] if pw else None,
                 round(temp * noise[(o + j + 2) % n], 1), fan)
                for j, (mid, algo, hs, pw, temp, fan) in enumerate(self.miners)]


def battery_reading(t: float) -> Any:
    """A house battery at time t: a solar day curve, a load, the SOC following the balance."""
    from services.battery import BatteryReading

    day = (t % 86400) / 86400
    pv = max(0.0, math.sin((day - 0.25) * 2 * math.pi)) * 25000
    load = 18000 + 4000 * math.sin(t / 7000)
    battery = max(-10000.0, min(10000.0, load - pv))
    soc = 50 + 40 * math.sin((day - 0.4) * 2 * math.pi)
    return BatteryReading(soc_pct=round(soc, 1), pv_w=round(pv), load_w=round(load), battery_w=round(battery),
                          grid_w=round(load - pv - battery), measured_at=t, source="simulated")


def last_round(path: Path) -> float | None:
    """The newest round a kept file was built to, from its side file (None: build it anew).

    Kept beside the file, not read from its tables, so a change of layout cannot misread it.
    """
    side = Path(f"{path}.built.json")
    if not (path.exists() and side.exists()):
        return None
    return json.loads(side.read_text())["to"]


def build_new(path: Path, miners: int, raw_days: float, rollup_days: float, end: float,
              say: Callable[[str], None]) -> dict[str, Any]:
    """Write (or top up to ``end``) a layout-3 file through Database + History with a fake clock."""
    from database import queries
    from database.db import Database
    from services.config import StorageConfig
    from services.history import History

    raw_from = (end - raw_days * 86400) // OLD_STEP * OLD_STEP
    first = (end - rollup_days * 86400) // OLD_STEP * OLD_STEP
    from database.db import NeedsMigration

    resumed = last_round(path)
    if resumed is not None:
        try:
            Database(path).close()
        except NeedsMigration:  # kept from an older layout of this branch: build it again
            say(f"  {path.name} is in another layout: building it anew")
            resumed = None
    if resumed is None:
        for old in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            old.unlink(missing_ok=True)
    start = first if resumed is None else resumed + (RAW_STEP if resumed >= raw_from else OLD_STEP)
    clock = FakeClock(start)
    db = Database(path)
    history = History(db, StorageConfig(), clock=clock)
    specs = miner_specs(miners)
    with db.write() as conn:
        ids = [queries.upsert_miner(conn, ip=s["ip"], family=s["family"], port=None, model=s["model"],
                                    algorithm=s["algorithm"], source="manual") for s in specs]
    maker = RoundMaker(ids, specs)
    t, battery_t = start, start
    next_purge = (start // 86400 + 1) * 86400
    rounds = readings = days = 0
    t0 = time.monotonic()
    try:
        while t < end:
            step = RAW_STEP if t >= raw_from else OLD_STEP
            clock.now = t
            history.add_round(t, maker.rows())
            while battery_t <= t:
                history.add_battery(battery_reading(battery_t), battery_t + 0.4)
                battery_t += BATTERY_STEP
                readings += 1
            rounds += 1
            if rounds % FLUSH_EVERY == 0:
                history.flush()
            if t >= next_purge:  # the app's hourly maintenance, here once per simulated day
                history.flush()
                history.purge(t)
                history.checkpoint()
                next_purge += 86400
                days += 1
                if days % 30 == 0 or step == RAW_STEP:
                    say(f"  built to {time.strftime('%Y-%m-%d', time.gmtime(t))}: {rounds} rounds, "
                        f"{time.monotonic() - t0:.0f} s")
            t += step
        clock.now = t
        history.flush(final=True)
        history.purge(t)
    finally:
        db.close()
    Path(f"{path}.built.json").write_text(json.dumps({"to": t - RAW_STEP, "miners": miners}))
    return {"rounds": rounds, "battery_readings": readings, "seconds": round(time.monotonic() - t0, 1),
            "from": start, "to": t, "resumed_from": resumed}


def build_old(path: Path, miners: int, raw_days: float, rollup_days: float, end: float) -> dict[str, Any]:
    """The version-2 file of the code before issue 11 (bench/migrate_v2.py), its miners moved to 127.88.x.y."""
    import migrate_v2

    t0 = time.monotonic()
    migrate_v2.build(path, miners, raw_days, rollup_days, int(end))
    conn = sqlite3.connect(path)
    with conn:
        for i, spec in enumerate(miner_specs(miners), start=1):  # the builder's 10.0.x.y: never dial a LAN
            conn.execute("UPDATE miners SET ip = ?, family = ?, model = ?, algorithm = ? WHERE id = ?",
                         (spec["ip"], spec["family"], spec["model"], spec["algorithm"], i))
    conn.close()
    return {"seconds": round(time.monotonic() - t0, 1), "to": end}


def table_rows(path: Path) -> dict[str, int]:
    """Rows per table of the file (sqlite_sequence and friends left out)."""
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {name: conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0] for name in names}
    finally:
        conn.close()


def file_mb(path: Path) -> float:
    """The database plus its WAL, in MB."""
    return round(sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()) / 1e6, 1)


# --- the app -------------------------------------------------------------------------------------
def free_port(host: str) -> int:
    """A TCP port free on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def prepare_run(pristine: Path, run: Path) -> Path:
    """A fresh copy of the built file in ``run``/data (the kept file is never written by the app)."""
    shutil.rmtree(run, ignore_errors=True)
    (run / "data").mkdir(parents=True)
    shutil.copyfile(pristine, run / "data" / "fleet.db")
    os.chmod(run / "data" / "fleet.db", 0o600)
    return run / "data" / "fleet.db"


def write_config(run: Path, port: int, *, battery: str, miners: list[Any] = (), csv: bool = False) -> Path:
    """A config.yaml both the new and the old code accept (no keys added by issue 11).

    csv: the CSV logs at the code's own default interval (else off).
    """
    entries = "".join(f"  - ip: {s.ip}\n    family: {s.kind}\n" for s in miners)
    path = run / "config.yaml"
    path.write_text(
        f"server:\n  data_dir: {run / 'data'}\n  host: {APP_HOST}\n  port: {port}\n"
        f"network:\n  port_offset: {port_offset()}\n  discover_on_start: false\n  discover_every_min: 0\n"
        "polling:\n  interval_sec: 15\n"
        f"battery:\n  source: {battery}\n"
        + ("" if csv else "storage:\n  csv_interval_sec: 0\n") +
        f"security:\n  api_token: {API_TOKEN}\n  admin_password: history-bench-password\n"
        "logging:\n  level: WARNING\n" + (f"miners:\n{entries}" if entries else ""))
    return path


class App:
    """gunicorn running the app from ``root`` on a run directory; times its start-up."""

    def __init__(self, run: Path, config: Path, root: Path) -> None:
        self.log: IO = open(run / "gunicorn.log", "w")
        self.run = run
        self.base = f"http://{APP_HOST}:{_port_of(config)}"
        self.t0 = time.monotonic()
        self.proc = start_gunicorn(config, self.log, root=root)
        self.startup_s: float | None = None

    def wait_healthy(self, timeout: float = 600.0) -> float:
        """Seconds from process start to the first 200 from /api/health."""
        import requests

        deadline = self.t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.base + "/api/health", timeout=2).status_code == 200:
                    self.startup_s = time.monotonic() - self.t0
                    return self.startup_s
            except requests.RequestException:
                pass
            time.sleep(0.02)
        raise SystemExit(f"no 200 from /api/health in {timeout:g} s:\n{self.log_tail()}")

    def worker(self) -> int:
        """The worker's pid."""
        pids = workers(self.proc.pid)
        if not pids:
            raise SystemExit("no gunicorn worker")
        return pids[0]

    def log_tail(self) -> str:
        self.log.flush()
        return "\n".join((self.run / "gunicorn.log").read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        stop_group(self.proc)
        self.log.close()


def _port_of(config: Path) -> int:
    for line in config.read_text().splitlines():
        if line.strip().startswith("port:"):
            return int(line.split(":")[1])
    raise ValueError("no port in config")


# --- phase 2: queries ----------------------------------------------------------------------------
def chart_paths(miner_ips: list[str]) -> list[tuple[str, str, str]]:
    """(chart, range, path) for every chart the bench times."""
    paths = [("fleet", r, f"/api/history?range={r}") for r in RANGES]
    for ip in miner_ips:
        paths += [(f"miner {ip}", r, f"/api/miners/{ip}/history?range={r}") for r in RANGES]
    paths += [("battery", r, f"/api/battery/history?range={r}") for r in RANGES]
    # Energy and cost per miner (this month and last): its first request computes the closed days.
    return paths + [("energy cost", "month", "/api/energy/cost")]


def time_queries(base: str, paths: list[tuple[str, str, str]], reps: int) -> list[dict[str, Any]]:
    """Each path ``reps`` times, interleaved (each pass asks every chart once); seconds per request."""
    import requests

    session = requests.Session()
    times: dict[str, list[float]] = {p: [] for _, _, p in paths}
    points: dict[str, int] = {}
    for _ in range(reps):
        for _, _, path in paths:
            t0 = time.perf_counter()
            reply = session.get(base + path, timeout=300)
            times[path].append(time.perf_counter() - t0)
            if reply.status_code != 200:
                raise SystemExit(f"{path}: HTTP {reply.status_code} {reply.text[:200]}")
            body = reply.json()
            points[path] = len(body["ts"]) if "ts" in body else len(body["miners"])
    results = []
    for chart, rng, path in paths:
        t = times[path]
        p50, worst = statistics.median(t), max(t)
        results.append({"chart": chart, "range": rng, "path": path, "points": points[path],
                        "p50_s": round(p50, 4), "max_s": round(worst, 4), "first_s": round(t[0], 4),
                        "pass": p50 <= P50_TARGET_S and worst <= MAX_TARGET_S})
    return results


def explain(db_file: Path, result: dict[str, Any], app_root: Path) -> list[dict[str, Any]]:
    """Re-run one chart in-process on the file with its SQL traced: each statement, its time and plan."""
    if app_root.resolve() != ROOT.resolve():
        return []  # the old code's History differs: its plans are in issue 11
    from database.db import Database
    from services.config import StorageConfig
    from services.history import History
    from services import chart_range

    db = Database(db_file)
    history = History(db, StorageConfig())
    now = time.time()
    rng = result["range"]
    since, bucket = chart_range.window(rng, now, RAW_STEP, history.oldest())  # the API's own bucketing
    statements: list[str] = []
    try:
        with db.read() as conn:
            ids = {r["ip"]: r["id"] for r in conn.execute("SELECT id, ip FROM miners")}
            conn.set_trace_callback(statements.append)
            t0 = time.perf_counter()
            if result["chart"] == "fleet":
                history.fleet_chart(since, bucket)
            elif result["chart"] == "battery":
                history.battery_chart(since, bucket)
            else:
                history.miner_chart(ids[result["chart"].split()[1]], since, bucket)
            total = time.perf_counter() - t0
            conn.set_trace_callback(None)
            out = []
            for sql in statements:
                t1 = time.perf_counter()
                conn.execute(sql).fetchall()
                took = time.perf_counter() - t1
                plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]
                out.append({"sql": " ".join(sql.split()), "s": round(took, 4), "plan": plan})
            return [{"in_process_s": round(total, 4), "statements": out}]
    finally:
        db.close()


def query_phase(pristine: Path, work: Path, args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    """Start the app on a copy of the file, time start-up and every chart."""
    run = work / f"run-{os.getpid()}-queries"  # per process: two benches may share --data-dir
    db_file = prepare_run(pristine, run)
    port = free_port(APP_HOST)
    app = App(run, write_config(run, port, battery="none"), args.app_root)
    try:
        startup = app.wait_healthy()
        say(f"start-up: {startup:.2f} s to the first 200 from /api/health "
            f"({'PASS' if startup <= STARTUP_TARGET_S else 'FAIL'}, target <= {STARTUP_TARGET_S:g} s)")
        specs = miner_specs(args.miners)
        picks = sorted({0, args.miners // 2 - 1, args.miners - 1} | ({9} if args.miners > 9 else set()))
        ips = [specs[i]["ip"] for i in picks]
        paths = chart_paths(ips)
        say(f"timing {len(paths)} charts x {args.reps} (miners {', '.join(ips)}; {specs[9]['ip'] if args.miners > 9 else '-'}"
            f" is scrypt, every 7th from the 4th reports no power) ...")
        load0 = os.getloadavg()
        t0 = time.monotonic()
        results = time_queries(app.base, paths, args.reps)
        load1 = os.getloadavg()
        rss = _rss_mb(app.worker())
    finally:
        app.stop()
    say(f"{'chart':24} {'range':>5} {'points':>6} {'p50 ms':>8} {'max ms':>8} {'first ms':>8}")
    for r in results:
        say(f"{r['chart']:24} {r['range']:>5} {r['points']:>6} {1000 * r['p50_s']:>8.1f} {1000 * r['max_s']:>8.1f} "
            f"{1000 * r['first_s']:>8.1f}  {'PASS' if r['pass'] else 'FAIL'}")
    failed = [r for r in results if not r["pass"]]
    say(f"{len(results) - len(failed)}/{len(results)} charts meet p50 <= {1000 * P50_TARGET_S:.0f} ms and "
        f"max <= {1000 * MAX_TARGET_S:.0f} ms; {time.monotonic() - t0:.0f} s of requests, load average "
        f"{load0[0]:.2f} -> {load1[0]:.2f}; worker RSS after: {rss:.1f} MB")
    for r in failed:
        if r["chart"] == "energy cost":
            continue  # not one chart query: its figures above are the report
        r["explain"] = explain(db_file, r, args.app_root)
        for e in r["explain"]:
            say(f"  {r['path']}: {e['in_process_s'] * 1000:.0f} ms in-process")
            for s in e["statements"]:
                say(f"    {s['s'] * 1000:7.1f} ms  {s['sql'][:160]}")
                for line in s["plan"]:
                    say(f"               plan: {line}")
    return {"startup_s": round(startup, 3), "startup_pass": startup <= STARTUP_TARGET_S, "reps": args.reps,
            "charts": results, "all_pass": not failed, "loadavg_before": load0, "loadavg_after": load1,
            "worker_rss_mb": rss}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- phase 3: writes ------------------------------------------------------------------------------
def repoint_miners(db_file: Path, specs: list[Any]) -> None:
    """The file's first len(specs) miners become the simulator's (keeping their history); the rest go."""
    conn = sqlite3.connect(db_file)
    with conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM miners ORDER BY id")]
        if len(ids) < len(specs):
            raise SystemExit(f"the built file has {len(ids)} miners; the write phase needs {len(specs)}")
        for mid, spec in zip(ids, specs):
            conn.execute("UPDATE miners SET ip = ?, port = NULL, family = ?, model = ?, algorithm = 'sha256d', "
                         "credentials = NULL WHERE id = ?", (spec.ip, spec.kind, spec.model, mid))
        conn.execute(f"DELETE FROM miners WHERE id > {ids[len(specs) - 1]}")  # their rows age out as before
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def io_counters(pid: int) -> dict[str, int]:
    """/proc/<pid>/io (every thread's, dead ones included)."""
    out = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        key, value = line.split(":")
        out[key] = int(value)
    return out


def write_phase(pristine: Path, work: Path, args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    """100 simulated miners polled every 15 s on a copy of the aged file; the worker's writes over the window."""
    import requests
    from simulator import scaled_specs

    run = work / f"run-{os.getpid()}-writes"
    db_file = prepare_run(pristine, run)
    specs = scaled_specs(args.sim_base, SIM_COUNT)
    repoint_miners(db_file, specs)
    sim = start_simulator(SIM_COUNT, args.sim_base)
    port = free_port(APP_HOST)
    app = App(run, write_config(run, port, battery="simulated", miners=specs, csv=args.csv), args.app_root)
    try:
        startup = app.wait_healthy()
        deadline = time.monotonic() + 120
        online = 0
        while time.monotonic() < deadline and online < SIM_COUNT:
            try:
                online = requests.get(app.base + "/api/stats", timeout=5).json()["online"]
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(1)
        if online < SIM_COUNT:
            say(f"warning: only {online}/{SIM_COUNT} simulated miners online after 2 minutes")
        say(f"writes: app up in {startup:.2f} s, {online} miners online; 60 s warm-up, then "
            f"{args.wchar_minutes:g} minutes")
        time.sleep(60)
        pid = app.worker()
        io0, size0, load0, t0 = io_counters(pid), file_mb(db_file), os.getloadavg(), time.monotonic()
        end = t0 + args.wchar_minutes * 60
        while time.monotonic() < end:
            time.sleep(min(60.0, max(0.0, end - time.monotonic())))
            if app.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{app.log_tail()}")
        io1, size1, load1 = io_counters(pid), file_mb(db_file), os.getloadavg()
        window = time.monotonic() - t0
        if app.worker() != pid:
            raise SystemExit("the gunicorn worker was replaced during the window")
        health = requests.get(app.base + "/api/health", timeout=5).json()
        online_end = requests.get(app.base + "/api/stats", timeout=5).json().get("online")
        rss = _rss_mb(pid)
    finally:
        app.stop()
        stop(sim)
    per_day = 86400 / window / 1e6
    result = {"miners": SIM_COUNT, "online_end": online_end, "window_s": round(window, 1),
              "wchar_mb_day": round((io1["wchar"] - io0["wchar"]) * per_day, 1),
              "write_bytes_mb_day": round((io1.get("write_bytes", 0) - io0.get("write_bytes", 0)) * per_day, 1),
              "syscw_per_min": round((io1["syscw"] - io0["syscw"]) / window * 60),
              "db_wal_mb_start": size0, "db_wal_mb_end": size1, "db_wal_growth_mb": round(size1 - size0, 2),
              "startup_s": round(startup, 3), "loadavg_before": load0, "loadavg_after": load1,
              "worker_rss_mb": rss, "last_round_age_s": health.get("last_round_age_s")}
    result["wchar_mb_day_per_miner"] = round(result["wchar_mb_day"] / SIM_COUNT, 2)
    result["pass"] = result["wchar_mb_day"] <= WRITE_TARGET_MB_DAY
    say(f"writes over {window / 60:.1f} min, {online_end} miners online at the end: wchar "
        f"{result['wchar_mb_day']:.1f} MB/day ({result['wchar_mb_day_per_miner']:.2f} MB/day per miner; "
        f"{'PASS' if result['pass'] else 'FAIL'}, target <= {WRITE_TARGET_MB_DAY:g} MB/day for 100), "
        f"write_bytes {result['write_bytes_mb_day']:.1f} MB/day, {result['syscw_per_min']} write calls/min; "
        f"database + WAL {size0:.1f} -> {size1:.1f} MB; load average {load0[0]:.2f} -> {load1[0]:.2f}; "
        f"worker RSS {rss:.1f} MB")
    return result


# --- main ----------------------------------------------------------------------------------------
def main() -> int:
    """Build (or reuse), time the charts, measure the writes; print, and --json."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--miners", type=int, default=200)
    ap.add_argument("--raw-days", type=float, default=3)
    ap.add_argument("--rollup-days", type=float, default=365)
    ap.add_argument("--data-dir", type=Path, help="keep the built file here and reuse it (default: a temp dir)")
    ap.add_argument("--reps", type=int, default=20, help="requests per chart (0 skips the query phase)")
    ap.add_argument("--wchar-minutes", type=float, default=10, help="write window (0 skips the write phase)")
    ap.add_argument("--app-root", type=Path, default=ROOT, help="the checkout to run the app from")
    ap.add_argument("--old-layout", action="store_true", help="build the version-2 file (for --app-root of old code)")
    ap.add_argument("--sim-base", default=SIM_BASE, help=f"first simulated miner's address (default {SIM_BASE}; "
                    "another one lets two write phases run at once)")
    ap.add_argument("--csv", action="store_true",
                    help="write phase: CSV logs on at the code's default interval (default: off)")
    ap.add_argument("--json", type=Path, help="write every figure here")
    args = ap.parse_args()
    stop_on_sigterm()
    args.app_root = args.app_root.resolve()
    sys.path.insert(0, str(ROOT / "bench"))

    def say(msg: str) -> None:
        print(msg, flush=True)

    import tempfile

    temp = None
    if args.data_dir is None:
        temp = tempfile.TemporaryDirectory(prefix="histbench-")
        args.data_dir = Path(temp.name)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    layout = "v2" if args.old_layout else "v3"
    pristine = args.data_dir / f"{layout}-{args.miners}m-{args.raw_days:g}r-{args.rollup_days:g}d.db"
    out: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "cpus": os.cpu_count(),
                           "file": str(pristine)}
    try:
        end = time.time() // RAW_STEP * RAW_STEP
        load0 = os.getloadavg()
        if args.old_layout:
            if pristine.exists():
                built = {"reused": True}
                say(f"build: reusing {pristine} (the old layout is not topped up: its last rounds are "
                    f"{(end - _old_last(pristine)) / 3600:.1f} h old)")
            else:
                say(f"build: version-2 file for {args.miners} miners, {args.raw_days:g} d raw, "
                    f"{args.rollup_days:g} d of 5-minute roll-ups (bench/migrate_v2.py's builder) ...")
                built = build_old(pristine, args.miners, args.raw_days, args.rollup_days, end)
        else:
            reused = last_round(pristine) is not None
            if reused:
                say(f"build: reusing {pristine}, topping it up to now through History (a round every "
                    f"{RAW_STEP} s) ...")
            else:
                say(f"build: {pristine.name}: {args.miners} miners, "
                    f"a round every {OLD_STEP} s for {args.rollup_days - args.raw_days:g} d (roll-ups of n=1 per "
                    f"5-minute bucket), then every {RAW_STEP} s for {args.raw_days:g} d; a battery reading every "
                    f"{BATTERY_STEP} s; through Database + History, default retention ...")
            built = build_new(pristine, args.miners, args.raw_days, args.rollup_days, end, say)
        built["rows"] = table_rows(pristine)
        built["file_mb"] = file_mb(pristine)
        built["loadavg_before"], built["loadavg_after"] = load0, os.getloadavg()
        out["build"] = built
        if "seconds" in built:
            say(f"build: {built['seconds']:.0f} s (load average {load0[0]:.2f} -> {os.getloadavg()[0]:.2f})")
        say(f"file: {built['file_mb']:.1f} MB; rows: " +
            ", ".join(f"{k} {v:,}" for k, v in built["rows"].items() if v))
        if args.reps > 0:
            out["queries"] = query_phase(pristine, args.data_dir, args, say)
        if args.wchar_minutes > 0:
            out["writes"] = write_phase(pristine, args.data_dir, args, say)
    finally:
        for name in (f"run-{os.getpid()}-queries", f"run-{os.getpid()}-writes"):  # this run's only
            shutil.rmtree(args.data_dir / name, ignore_errors=True)
        if args.json:
            args.json.write_text(json.dumps(out, indent=1))
        if temp is not None:
            temp.cleanup()
    ok = out.get("queries", {}).get("all_pass", True) and out.get("writes", {}).get("pass", True)
    return 0 if ok else 1


def _old_last(path: Path) -> float:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT MAX(ts) FROM samples").fetchone()[0] or 0.0
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
