"""Benchmark: EMS dispatch of the demo fleet scaled to 50 simulated miners, through the real app.

Setup: the simulated miners (``simulator.demo_specs``, every family, 50 miners on
127.91.0.10+) run in THIS process on the simulator's own event loop thread; the
app runs as in production, ``gunicorn -c gunicorn.conf.py`` (one gthread
worker, its scheduler, pollers and AutoControl) in its own process, on
127.91.1.1. A separate process keeps the simulator's work off the app's GIL,
and gunicorn is the code path a Pi serves the EMS with (werkzeug would measure
a server nobody deploys). The miners are listed in the app's config with their
family (the NMMiners, UDP-only and never commanded, are left out); it is a grid
site (``battery.source: none``) with solar autocontrol off, so only the EMS
commands the fleet.

Each repetition: ``POST /api/activate`` at ``--fraction`` (default 50 %) of
``ratedPowerInKw``, wait until settled, ``POST /api/deactivate``, wait until
settled, then until ``autocontrol.min_off_sec`` has passed (a sleeping miner may
not be woken before that). Measured per call:

- reply: from sending the POST to its complete reply (target <= 100 ms);
- last miner commanded: from sending the POST to the moment the LAST miner that
  got a command saw its first write request arrive, observed at the simulated
  miners (a tap on each miner's request handlers, below; target <= 1 s);
- within 5 % (simulator): until the true power of the controllable miners (the
  simulator's own power model, summed) is within 5 % of the target and stays
  there; for deactivate, at or below 5 % of the kW just withdrawn;
- within 5 % (app): the same for ``activePowerInKw`` of ``GET /api/status``, which
  is as fresh as the app's last poll of each miner (a re-poll 1 s after each
  command, then every ``polling.interval_sec``);
- within 5 % excluding the miners slow by design (``SLOW_FAMILIES``: an Avalon's
  soft-off/soft-on is scheduled 5 s ahead by the driver, a Whatsminer reboots
  after a power-limit write): the other miners against the target less what
  the slow ones draw at the end of the call.

    .venv/bin/python bench/ems_dispatch.py                 # 5 repetitions, a table
    .venv/bin/python bench/ems_dispatch.py --reps 3 --json # machine-readable
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from _common import ROOT, port_offset, stop_on_sigterm

from services.power.model_power import lookup_model
from simulator import SimFleet, demo_specs
from simulator.antminer import LOW_POWER_FACTOR, AntminerMiner
from simulator.avalon import AvalonMiner
from tests.gunicorn_proc import start_gunicorn, stop_group
from simulator.cgminer import CgminerMiner
from simulator.nmminer import NMMinerSim
from simulator.vnish import VnishMiner
from simulator.vnish_legacy import VnishLegacyMiner
from simulator.whatsminer import WhatsminerMiner

NET = "127.91.0"
APP_HOST = "127.91.1.1"
EMS_TOKEN = "bench-ems-token-0123456789abcdef"
API_TOKEN = "bench-api-token-0123456789"
TARGETS = {"reply_ms": 100.0, "commanded_s": 1.0}
BAND = 0.05  # "within 5 %"
SAMPLE_S = 0.1  # simulator power sampling
STATUS_S = 0.25  # GET /api/status sampling
QUIET_S = 3.0  # settled = in band and no new write for this long
FAMILY_OF_KIND = {"vnish_legacy": "vnish"}  # simulator kind -> the app's family (the others are the same)
SLOW_FAMILIES = ("avalon", "whatsminer")  # power moves seconds after the command by design (see above)
# Requests a driver makes that change nothing on the miner (sessions, logins, tokens).
_SESSION_PATHS = ("/unlock", "/auth/login")
_CG_WRITES = {"ascset", "pause", "resume", "curtail", "profileset", "restart", "reboot", "rebootdevice",
              "resetminer", "switchpool", "addpool", "enablepool", "disablepool", "removepool", "poolpriority"}


# --- the simulator side: write requests and true power ------------------------------------------
class WriteTap:
    """Timestamps every write request a simulated miner receives (``time.monotonic()``, loop thread).

    The simulator stays untouched: each miner's request handlers are wrapped on the
    instance (HTTP, the cgminer API and the Whatsminer API 3 stream), and a request
    counts as a write by its protocol: an HTTP POST/PUT/PATCH/DELETE that did not
    fail (a digest-auth challenge or a login is not a command), a cgminer API
    command that changes something, any encrypted Whatsminer API 2 request (its
    writes are the only encrypted ones), an API 3 ``set.*``.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writes: list[tuple[float, str, str]] = []  # (monotonic, ip, what)

    def install(self, fleet: Any) -> None:
        """Wrap every miner of a SimFleet (call before the app talks to them)."""
        for miner in fleet.miners:
            for name in ("_http_dispatch", "_cgapi_dispatch"):
                if not hasattr(miner, name):
                    raise SystemExit(f"simulator changed: {type(miner).__name__} has no {name}; update WriteTap")
            miner._http_dispatch = self._wrap_http(miner, miner._http_dispatch)
            miner._cgapi_dispatch = self._wrap_cgapi(miner, miner._cgapi_dispatch)
            if hasattr(miner, "_api3"):
                miner._api3 = self._wrap_api3(miner, miner._api3)

    def _note(self, ip: str, what: str) -> None:
        with self.lock:
            self.writes.append((time.monotonic(), ip, what))

    def _wrap_http(self, miner: Any, inner: Callable) -> Callable:
        def dispatch(request: Any) -> object:
            result = inner(request)
            status = getattr(result, "status", 200)
            if (request.method in ("POST", "PUT", "PATCH", "DELETE") and status < 400
                    and not request.path.endswith(_SESSION_PATHS)):
                self._note(miner.ip, f"{request.method} {request.path}")
            return result
        return dispatch

    def _wrap_cgapi(self, miner: Any, inner: Callable) -> Callable:
        def dispatch(data: bytes, client_ip: str) -> object:
            what = _cg_write(data)
            if what:
                self._note(miner.ip, what)
            return inner(data, client_ip)
        return dispatch

    def _wrap_api3(self, miner: Any, inner: Callable) -> Callable:
        def dispatch(body: bytes) -> Any:
            try:
                cmd = json.loads(body).get("cmd", "")
            except (ValueError, AttributeError):
                cmd = ""
            if isinstance(cmd, str) and cmd.startswith("set."):
                self._note(miner.ip, f"api3 {cmd}")
            return inner(body)
        return dispatch

    def since(self, t0: float, until: float | None = None) -> list[tuple[float, str, str]]:
        """The writes seen from ``t0`` (to ``until``)."""
        with self.lock:
            return [w for w in self.writes if w[0] >= t0 and (until is None or w[0] <= until)]


def _cg_write(data: bytes) -> str | None:
    """'ascset' (or 'whatsminer enc') when a cgminer-API request is a write, else None."""
    text = data.decode("utf-8", "replace").strip("\x00\r\n ")
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        if "enc" in obj:
            return "whatsminer enc"
        names = str(obj.get("command", ""))
    else:
        names = text.partition("|")[0]
    hits = [n for n in names.split("+") if n in _CG_WRITES]
    return hits[0] if hits else None


def true_power_w(miner: Any) -> float:
    """The simulator's own power of one miner (noise-free); runs on the loop thread.

    Stock Antminers and cgminer sticks model no power: nominal (the app's model
    table) times their hashrate factor (0 asleep, 0.7 in low), and 5 W per stick.
    """
    if isinstance(miner, VnishMiner):
        return float(miner.watts())
    if isinstance(miner, WhatsminerMiner):
        return float(miner.target_power())
    if isinstance(miner, AvalonMiner):
        # A scheduled softoff/softon is applied by the simulator on the next request; count it from its time.
        off, now = miner.soft_off, miner.wall_time()
        if miner.soft.off_at is not None and now >= miner.soft.off_at:
            off = True
        if miner.soft.on_at is not None and now >= miner.soft.on_at:
            off = False
        return float(miner.hw.idle_watts if off else miner.point.watts * miner.power_bias)
    if isinstance(miner, VnishLegacyMiner):
        return float(sum(miner.chain_watts(c) for c in miner.hw.chains))
    if isinstance(miner, AntminerMiner):
        row = lookup_model("antminer", miner.hw.type)
        factor = 0.0 if miner.sleeping else LOW_POWER_FACTOR if miner.work_mode == 3 else 1.0
        return (row.nominal_w if row else 0.0) * factor
    if isinstance(miner, CgminerMiner):
        return 5.0 * len(miner.devices)
    if isinstance(miner, NMMinerSim):
        return float(miner.board.power_w or 0.0)
    return float(miner.power_w())  # AxeOS/NerdOS, BraiinsOS, LuxOS


class Sampler:
    """A background thread calling ``read()`` every ``every`` s and keeping (monotonic, value)."""

    def __init__(self, read: Callable[[], Any], every: float) -> None:
        self.read, self.every = read, every
        self.samples: list[tuple[float, Any]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                value = self.read()
                if value is not None:
                    self.samples.append((t, value))
            except Exception:  # noqa: BLE001 - a missed sample is a gap, the bench goes on
                self.errors += 1
            self._stop.wait(max(0.0, self.every - (time.monotonic() - t)))

    def window(self, t0: float, t1: float, key: Callable[[Any], float] = float) -> list[tuple[float, float]]:
        """The samples taken between t0 and t1, as (t, key(value))."""
        return [(t, key(v)) for t, v in list(self.samples) if t0 <= t <= t1]

    def last(self, key: Callable[[Any], float] = float) -> float | None:
        """The newest value (through ``key``)."""
        return key(self.samples[-1][1]) if self.samples else None


def settled_at(samples: list[tuple[float, float]], inside: Callable[[float], bool]) -> float | None:
    """The time of the sample that entered the band for good (None if the last one is outside)."""
    if not samples or not inside(samples[-1][1]):
        return None
    t = samples[-1][0]
    for ts, value in reversed(samples):
        if not inside(value):
            break
        t = ts
    return t


# --- the app side ------------------------------------------------------------------------------
@dataclass
class BenchConfig:
    """What the app runs with (printed with the figures)."""

    count: int = 50  # simulated miners
    poll_interval_sec: float = 5.0
    poll_timeout_sec: float = 3.0
    tick_sec: float = 10.0
    grace_sec: float = 60.0
    min_on_sec: float = 60.0
    min_off_sec: float = 30.0
    miners: dict[str, str] = field(default_factory=dict)  # ip -> family, listed in the config

    def yaml(self, data_dir: Path, port: int) -> str:
        """The app's config.yaml."""
        return (f"server:\n  host: {APP_HOST}\n  port: {port}\n  data_dir: {data_dir}\n"
                f"network:\n  subnet: {NET}.0/24\n  port_offset: {port_offset()}\n"
                f"polling:\n  interval_sec: {self.poll_interval_sec}\n  timeout_sec: {self.poll_timeout_sec}\n"
                "battery:\n  source: none\n"
                f"autocontrol:\n  enabled: false\n  tick_sec: {self.tick_sec}\n  grace_sec: {self.grace_sec}\n"
                f"  min_on_sec: {self.min_on_sec}\n  min_off_sec: {self.min_off_sec}\n"
                f"ems:\n  token: {EMS_TOKEN}\n"
                f"security:\n  api_token: {API_TOKEN}\n  admin_password: bench-password\n"
                "logging:\n  level: WARNING\n"
                + "miners:\n" + "".join(f"  - ip: {ip}\n    family: {family}\n" for ip, family in self.miners.items()))


def free_port(host: str) -> int:
    """A TCP port free on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class App:
    """The app under gunicorn, started with a config written into a temporary directory."""

    def __init__(self, cfg: BenchConfig, tmp: Path) -> None:
        import requests

        self.port = free_port(APP_HOST)
        self.base = f"http://{APP_HOST}:{self.port}"
        (tmp / "config.yaml").write_text(cfg.yaml(tmp / "data", self.port))
        self.log = open(tmp / "gunicorn.log", "w")
        self.proc = start_gunicorn(tmp / "config.yaml", self.log)
        self.session = requests.Session()  # keep-alive, as an EMS client would
        self.ems = {"Authorization": f"Bearer {EMS_TOKEN}"}

    def get(self, path: str, **kw: Any) -> Any:
        """GET path -> JSON (raises on HTTP errors)."""
        reply = self.session.get(self.base + path, timeout=10, **kw)
        reply.raise_for_status()
        return reply.json()

    def status(self, session: Any = None) -> dict:
        """GET /api/status with the EMS token (on ``session``: a sampler thread has its own)."""
        reply = (session or self.session).get(self.base + "/api/status", headers=self.ems, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def post(self, path: str, body: dict | None = None) -> tuple[float, float, Any]:
        """POST an EMS call; (monotonic when sent, seconds to the complete reply, reply JSON)."""
        t0 = time.monotonic()
        reply = self.session.post(self.base + path, json=body, headers=self.ems, timeout=10)
        elapsed = time.monotonic() - t0
        if reply.status_code != 200 or not reply.json().get("accepted"):
            raise SystemExit(f"{path} refused: {reply.status_code} {reply.text}")
        return t0, elapsed, reply.json()

    def stop(self) -> None:
        """SIGTERM to gunicorn (its worker shuts the runtime down)."""
        stop_group(self.proc)
        self.log.close()


def wait_ready(app: App, expected: int, timeout: float = 120.0) -> dict:
    """Until the app answers, has polled the fleet, and the controllable set is stable."""
    import requests

    deadline = time.monotonic() + timeout
    last, stable, detail = None, 0, {}
    while time.monotonic() < deadline:
        if app.proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {app.proc.returncode}")
        try:
            miners = app.get("/api/miners")
            detail = app.get("/api/ems")
        except (requests.RequestException, ValueError):
            time.sleep(0.5)
            continue
        online = sum(1 for m in miners if m["online"])
        key = (online, tuple(detail.get("available", ())))
        stable = stable + 1 if key == last and online >= expected else 0
        last = key
        if stable >= 4 and detail["status"]["isAvailableForDispatch"]:
            return detail
        time.sleep(1.0)
    raise SystemExit(f"the app did not find {expected} online miners in {timeout:.0f} s (last: {last and last[0]})")


# --- one call ----------------------------------------------------------------------------------
@dataclass
class Phase:
    """The figures of one activate or deactivate."""

    call: str
    target_kw: float
    reply_ms: float
    commanded: int  # miners that received a write
    commanded_s: float | None  # POST -> the last of those miners' first write
    within_sim_s: float | None  # POST -> simulator's true power within 5 % for good
    within_app_s: float | None  # POST -> activePowerInKw within 5 % for good
    within_fast_s: float | None  # POST -> the miners not in SLOW_FAMILIES within 5 % of their part
    final_sim_kw: float | None
    final_app_kw: float | None
    per_family_s: dict[str, float] = field(default_factory=dict)  # last first-write per family


def measure(app: App, tap: WriteTap, sim_power: Sampler, app_power: Sampler, families: dict[str, str],
            call: str, target_kw: float, band_kw: float, window_s: float) -> Phase:
    """POST one call and watch until the fleet settles (or ``window_s``).

    ``sim_power`` samples are (fleet kW, kW of the miners not in SLOW_FAMILIES).
    """
    def inside(kw: float) -> bool:
        return abs(kw - target_kw) <= band_kw

    def total(v: tuple[float, float]) -> float:
        return v[0]

    path = "/api/activate" if call == "activate" else "/api/deactivate"
    body = {"activationPowerInKw": target_kw} if call == "activate" else None
    t0, reply_s, _ = app.post(path, body)
    while True:
        time.sleep(0.25)
        now = time.monotonic()
        writes = tap.since(t0)
        quiet = now - (writes[-1][0] if writes else t0) >= QUIET_S
        sim_ok = settled_at(sim_power.window(t0, now, total), inside)
        app_ok = settled_at(app_power.window(t0, now), inside)
        if (quiet and sim_ok is not None and app_ok is not None and now - sim_ok >= QUIET_S
                and now - app_ok >= QUIET_S) or now - t0 >= window_s:
            break
    end = time.monotonic()
    first: dict[str, float] = {}
    for t, ip, _ in tap.since(t0, end):
        first.setdefault(ip, t)
    per_family: dict[str, float] = {}
    for ip, t in first.items():
        fam = families.get(ip, "?")
        per_family[fam] = round(max(per_family.get(fam, 0.0), t - t0), 3)
    sim_t = settled_at(sim_power.window(t0, end, total), inside)
    app_t = settled_at(app_power.window(t0, end), inside)
    # The fast miners' part of the target: the target less what the slow ones draw at the end.
    final = sim_power.last(lambda v: v)
    fast_target = target_kw - (final[0] - final[1]) if final and target_kw > 0 else target_kw
    fast_t = settled_at(sim_power.window(t0, end, lambda v: v[1]), lambda kw: abs(kw - fast_target) <= band_kw)

    def since(t: float | None) -> float | None:
        return None if t is None else round(max(0.0, t - t0), 2)

    return Phase(call, target_kw, round(reply_s * 1000, 1), len(first),
                 round(max(first.values()) - t0, 3) if first else None, since(sim_t), since(app_t), since(fast_t),
                 None if final is None else round(final[0], 3),
                 None if app_power.last() is None else round(app_power.last(), 3), per_family)


# --- report ------------------------------------------------------------------------------------
def summarize(phases: list[Phase]) -> dict[str, dict[str, Any]]:
    """Median and max of each figure, per call."""
    out: dict[str, dict[str, Any]] = {}
    for call in ("activate", "deactivate"):
        rows = [p for p in phases if p.call == call]
        fig: dict[str, Any] = {}
        for key in ("reply_ms", "commanded_s", "within_sim_s", "within_app_s", "within_fast_s", "commanded"):
            values = [getattr(p, key) for p in rows]
            known = [v for v in values if v is not None]
            fig[key] = {"median": statistics.median(known) if known else None, "max": max(known) if known else None,
                        "missed": len(values) - len(known)}
        out[call] = fig
    return out


def table(summary: dict[str, dict[str, Any]], reps: int) -> str:
    """The figures next to their targets."""
    names = (("reply_ms", "POST -> reply", "ms", "<= 100 ms"),
             ("commanded_s", "POST -> last miner commanded", "s", "<= 1 s"),
             ("within_sim_s", "POST -> within 5 % (simulator)", "s", "-"),
             ("within_app_s", "POST -> within 5 % (activePowerInKw)", "s", "-"),
             ("within_fast_s", "POST -> within 5 % (sim., w/o " + "/".join(SLOW_FAMILIES) + ")", "s", "-"),
             ("commanded", "miners commanded", "", "-"))
    lines = [f"{'figure':<48} {'call':<11} {'median':>9} {'max':>9}  target      (n={reps})"]
    for key, label, unit, target in names:
        for call in ("activate", "deactivate"):
            f = summary[call][key]
            med = "-" if f["median"] is None else f"{f['median']:g}"
            mx = "-" if f["max"] is None else f"{f['max']:g}"
            missed = f"  ({f['missed']} not reached)" if f["missed"] else ""
            lines.append(f"{label:<48} {call:<11} {med:>8}{unit[:2]:<1} {mx:>8}{unit[:2]:<1}  {target}{missed}")
    return "\n".join(lines)


def main() -> None:
    import requests

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--miners", type=int, default=50)
    parser.add_argument("--reps", type=int, default=5, help="activate/deactivate pairs (default 5)")
    parser.add_argument("--fraction", type=float, default=0.5, help="activate at this share of ratedPowerInKw")
    parser.add_argument("--poll-interval", type=float, default=5.0, help="polling.interval_sec (default 5)")
    parser.add_argument("--min-off", type=float, default=30.0, help="autocontrol.min_off_sec (default 30)")
    parser.add_argument("--grace", type=float, default=60.0, help="autocontrol.grace_sec (default 60)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds to watch each call at most")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()
    stop_on_sigterm()  # run the finally blocks: stop gunicorn too

    cfg = BenchConfig(count=args.miners, poll_interval_sec=args.poll_interval, grace_sec=args.grace,
                      min_off_sec=args.min_off)
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    specs = demo_specs(f"{NET}.10", args.miners)
    fleet = SimFleet(specs, port_offset=port_offset(), allow_any_client=True, seed=1)
    cfg.miners = {s.ip: FAMILY_OF_KIND.get(s.kind, s.kind) for s in specs if s.kind != "nmminer"}
    tap = WriteTap()
    tap.install(fleet)
    fleet.start()
    with tempfile.TemporaryDirectory() as tmp:
        app = App(cfg, Path(tmp))
        samplers: list[Sampler] = []
        try:
            nm = sum(1 for s in specs if s.kind == "nmminer")  # UDP only: not listed
            say(f"{len(specs)} simulated miners on {NET}.10+ ({nm} NMMiners, UDP only); app (gunicorn, 1 worker) "
                f"on {app.base}; config: polling.interval_sec {cfg.poll_interval_sec:g}, autocontrol.tick_sec "
                f"{cfg.tick_sec:g}, grace_sec {cfg.grace_sec:g}, min_on_sec {cfg.min_on_sec:g}, min_off_sec "
                f"{cfg.min_off_sec:g}, battery.source none, solar autocontrol off")
            detail = wait_ready(app, len(specs) - nm)
            controllable = set(detail["controllable"])
            families = {m["ip"]: m["family"] for m in app.get("/api/miners")}
            by_ip = {m.ip: m for m in fleet.miners}
            slow = {ip for ip in controllable if families[ip] in SLOW_FAMILIES}

            def sim_kw() -> tuple[float, float]:
                watts = fleet.call(lambda: {ip: true_power_w(by_ip[ip]) for ip in controllable})
                return sum(watts.values()) / 1000.0, sum(w for ip, w in watts.items() if ip not in slow) / 1000.0

            sim_power = Sampler(sim_kw, SAMPLE_S).start()
            poller = requests.Session()
            app_power = Sampler(lambda: app.status(poller)["activePowerInKw"], STATUS_S).start()
            samplers = [sim_power, app_power]
            status = app.status()
            rated = status["ratedPowerInKw"]
            target = round(rated * args.fraction, 3)
            fams = sorted({families[ip] for ip in controllable})
            say(f"{len(families)} miners online, {len(controllable)} controllable ({', '.join(fams)}); "
                f"ratedPowerInKw {rated:g}, activePowerInKw {status['activePowerInKw']:g}; "
                f"activate target {target:g} kW ({args.fraction:.0%})")
            phases: list[Phase] = []
            stopped_at = None
            for rep in range(1, args.reps + 1):
                if stopped_at is not None:  # a sleeping miner may not be woken before min_off_sec
                    time.sleep(max(0.0, stopped_at + cfg.min_off_sec + 1.0 - time.monotonic()))
                for call in ("activate", "deactivate"):
                    if call == "deactivate":
                        stopped_at = time.monotonic()
                    phase = measure(app, tap, sim_power, app_power, families, call,
                                    target if call == "activate" else 0.0, BAND * target, args.window)
                    phases.append(phase)
                    say(f"rep {rep} {call:<10} reply {phase.reply_ms:6.1f} ms, {phase.commanded:2d} miners commanded, "
                        f"last at {phase.commanded_s} s, within 5 %: simulator {phase.within_sim_s} s, "
                        f"app {phase.within_app_s} s, w/o slow {phase.within_fast_s} s "
                        f"(now {phase.final_sim_kw} / {phase.final_app_kw} kW); "
                        f"last first-write per family: {phase.per_family_s}")
        finally:
            for s in samplers:
                s.stop()
            app.stop()
            fleet.stop()
    summary = summarize(phases)
    if args.json:
        print(json.dumps({"config": asdict(cfg), "controllable": len(controllable), "rated_kw": rated,
                          "target_kw": target, "summary": summary, "phases": [asdict(p) for p in phases],
                          "targets": TARGETS}, indent=2))
    else:
        print(table(summary, args.reps))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
