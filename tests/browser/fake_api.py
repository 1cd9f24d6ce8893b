"""A fake controller for browser tests: the real `pages` blueprint plus a canned
JSON API and /ws that follow docs/contracts.md field for field.

The real API is written in parallel; this fake lets the dashboard be tested on
its own, and because it keeps to the contract the page must work unchanged
against web/api.py. The test drives it directly (push a snapshot, move the
discovery job along, drop the socket) so nothing depends on timing luck.
"""

from __future__ import annotations

import copy
import json
import math
import queue
import threading
import time
from pathlib import Path

from flask import Blueprint, Flask, abort, jsonify, request, session
from flask_sock import Sock

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2"
DEFAULT_SUBNET = "10.0.0.0/24"
_CLOSE = object()  # queued to a socket to make the server drop it


def miner(ip, family, model, **over):
    """A miner dict with every field of GET /api/miners (contract order)."""
    now = time.time()
    m = {
        "ip": ip, "port": 80, "family": family, "name": None, "model": model, "firmware": None,
        "firmware_version": None, "algorithm": "sha256d", "online": True, "status": "online",
        "hashrate_hs": None, "expected_hashrate_hs": None, "power_w": None, "temp_c": None,
        "fan_rpm": [], "fan_percent": None, "uptime_s": None, "efficiency_j_th": None,
        "capabilities": [], "modes": [], "last_seen": None, "last_seen_ts": now - 12,
        "last_error": None, "hostname": None, "mac": None, "state": "mining",
    }
    m.update(over)
    if m["last_seen_ts"] is not None:
        m["last_seen"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["last_seen_ts"]))
    if m["power_w"] is not None and m["hashrate_hs"] and m["algorithm"] == "sha256d":
        m["efficiency_j_th"] = m["power_w"] / (m["hashrate_hs"] / 1e12)
    return m


def default_miners():
    now = time.time()
    return [
        miner("10.0.0.2", "bitaxe", "Bitaxe Gamma 601", firmware="AxeOS", firmware_version="v2.4.0",
              hashrate_hs=1.2e12, expected_hashrate_hs=1.25e12, power_w=15.3, temp_c=55.5,
              fan_rpm=[4200], fan_percent=60, uptime_s=93784, hostname="bitaxe-kitchen",
              capabilities=["restart", "fan", "frequency", "pools"], mac="aa:bb:cc:00:00:02"),
        miner("10.0.0.10", "cgminer", "Avalon Nano 3", firmware="cgminer", hashrate_hs=4.1e12,
              temp_c=61.0, fan_rpm=[2100, 2150], uptime_s=5400, capabilities=["pools"]),
        miner("10.0.0.9", "antminer", "Antminer S19j Pro", online=False, status="offline",
              last_seen_ts=now - 2 * 3600, capabilities=["restart", "pools"],
              last_error="MinerUnreachable: connection timed out after 3.0 s"),
        miner("10.0.0.100", "antminer", "Antminer S9", online=False, status="unauthorized",
              last_seen_ts=now - 300, capabilities=["restart"],
              last_error="MinerAuthError: 401 Unauthorized from /cgi-bin/stats.cgi"),
        miner("10.0.0.20", "goldshell", "Goldshell Mini-DOGE", algorithm="scrypt", hashrate_hs=185e6,
              power_w=233.0, temp_c=48.0, fan_percent=45, uptime_s=700000, capabilities=["restart"]),
    ]


def compute_stats(miners):
    """GET /api/stats from the miner list, the way the contract defines it."""
    online = [m for m in miners if m["online"]]
    powered = [m for m in online if m["power_w"] is not None]
    hashrate: dict[str, float] = {}
    for m in online:
        if m["hashrate_hs"] is not None:
            hashrate[m["algorithm"]] = hashrate.get(m["algorithm"], 0.0) + m["hashrate_hs"]
    temps = [m["temp_c"] for m in online if m["temp_c"] is not None]
    eff = [m for m in powered if m["algorithm"] == "sha256d" and m["hashrate_hs"]]
    eff_hs = sum(m["hashrate_hs"] for m in eff)
    return {
        "miners_total": len(miners), "online": len(online), "offline": len(miners) - len(online),
        "power_w": round(sum(m["power_w"] for m in powered), 1) if powered else None,
        "power_reported_by": len(powered), "hashrate_hs": hashrate,
        "avg_temp_c": round(sum(temps) / len(temps), 1) if temps else None,
        "efficiency_j_th": round(sum(m["power_w"] for m in eff) / (eff_hs / 1e12), 2) if eff_hs else None,
        "updated_ts": time.time(),
    }


RANGES = {"1h": 3600, "6h": 21600, "24h": 86400, "3d": 259200, "1w": 604800, "all": 259200}


def history(range_):
    """Smooth made-up fleet history; power has a hole to show gaps stay gaps."""
    span = RANGES[range_]
    bucket = max(60, span // 288)
    now = int(time.time()) // bucket * bucket
    ts = list(range(now - span + bucket, now + 1, bucket))
    wave = [math.sin(t / 5400.0) for t in ts]
    series = {
        "hashrate_hs.sha256d": [5.3e12 + 0.25e12 * w for w in wave],
        "hashrate_hs.scrypt": [185e6 + 8e6 * w for w in wave],
        "power_w": [None if i % 97 in (40, 41) else 248 + 6 * w for i, w in enumerate(wave)],
        "online": [3 for _ in ts],
    }
    return {"range": range_, "bucket_s": bucket, "ts": ts, "series": series}


class FakeController:
    """Mutable fake state shared by the API views, the socket and the test."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clients: list[queue.Queue] = []
        self.reset()

    def reset(self):
        with self.lock:
            self.miners = {m["ip"]: m for m in default_miners()}
            self.job = None
            self.reads_require_login = False  # security.reads_require_login
            self.ws_refused = False  # /ws closes at once: the page must fall back to polling
            self.requests: list[tuple[str, str, object]] = []  # writes only: (method, path, json)
            self.ws_connects = 0
            self.pings = 0

    # --- state the test inspects or changes ---
    def miner_list(self):
        with self.lock:
            return copy.deepcopy(list(self.miners.values()))

    def discovery(self):
        with self.lock:
            if self.job is None:
                return {"job_id": None, "state": "idle", "subnet": DEFAULT_SUBNET, "probed": 0,
                        "total": 0, "found": [], "error": None}
            return copy.deepcopy(self.job)

    def update_miner(self, ip, **fields):
        with self.lock:
            self.miners[ip].update(fields)

    def update_job(self, **fields):
        with self.lock:
            self.job.update(fields)

    def finish_job(self):
        """Like services/discovery.py: found miners join the fleet, then the job is done."""
        with self.lock:
            for m in self.job["found"]:
                self.miners.setdefault(m["ip"], copy.deepcopy(m))
            self.job.update(state="done", probed=self.job["total"], finished_ts=time.time())

    def snapshot(self, with_discovery=False):
        """The WS snapshot; only the one sent on connect carries "discovery"."""
        miners = self.miner_list()
        message = {"type": "snapshot", "miners": miners, "stats": compute_stats(miners)}
        if with_discovery:
            message["discovery"] = self.discovery()
        return message

    # --- pushes over /ws ---
    def broadcast(self, message):
        with self.lock:
            for q in self.clients:
                q.put(message)

    def push_snapshot(self):
        self.broadcast(json.dumps(self.snapshot()))

    def push_discovery(self):
        self.broadcast(json.dumps({"type": "discovery", **self.discovery()}))

    def drop_sockets(self):
        self.broadcast(_CLOSE)


def api_blueprint(fake: FakeController) -> Blueprint:
    bp = Blueprint("fake_api", __name__)

    @bp.before_request
    def guard_reads():
        if (request.method == "GET" and request.path.startswith("/api/") and request.path != "/api/session"
                and fake.reads_require_login and not session.get("auth")):
            return jsonify(error="authentication required"), 401
        return None

    def need_login():
        origin = request.headers.get("Origin")
        if origin and origin != request.host_url.rstrip("/"):
            abort(403)
        if not session.get("auth"):
            return jsonify(error="authentication required: log in, or send Authorization: Bearer <API_TOKEN>"), 401
        with fake.lock:
            fake.requests.append((request.method, request.path, request.get_json(silent=True)))
        return None

    @bp.get("/api/miners")
    def miners():
        return jsonify(fake.miner_list())

    @bp.get("/api/stats")
    def stats():
        return jsonify(compute_stats(fake.miner_list()))

    @bp.get("/api/history")
    def fleet_history():
        range_ = request.args.get("range", "24h")
        if range_ not in RANGES:
            return jsonify(error="unknown range"), 400
        with fake.lock:
            fake.requests.append(("GET", request.full_path, None))
        return jsonify(history(range_))

    @bp.get("/api/session")
    def session_state():
        return jsonify(logged_in=bool(session.get("auth")))

    @bp.post("/login")
    def login():
        data = request.get_json(silent=True) or request.form
        if data.get("password") != PASSWORD:
            return jsonify(error="wrong password"), 401
        session["auth"] = True
        return jsonify(logged_in=True)

    @bp.post("/logout")
    def logout():
        session.clear()
        return jsonify(logged_in=False)

    @bp.get("/api/discover")
    def discover_state():
        return jsonify(fake.discovery())

    @bp.post("/api/discover")
    def discover_start():
        if (resp := need_login()) is not None:
            return resp
        if fake.discovery()["state"] == "running":
            return jsonify(error="a discovery is already running", job=fake.discovery()), 409
        subnet = (request.get_json(silent=True) or {}).get("subnet") or DEFAULT_SUBNET
        with fake.lock:
            fake.job = {"job_id": "job-1", "state": "running", "subnet": subnet, "probed": 0,
                        "total": 254, "found": [], "error": None, "started_ts": time.time(),
                        "finished_ts": None}
        return jsonify(fake.discovery()), 202

    @bp.post("/api/miners")
    def add():
        if (resp := need_login()) is not None:
            return resp
        data = request.get_json(silent=True) or {}
        ip = data.get("ip", "")
        if not ip:
            return jsonify(error="ip is required"), 400
        m = miner(ip, data.get("family") or "bitaxe", "Bitaxe Supra", hashrate_hs=0.6e12,
                  power_w=11.0, temp_c=50.0, capabilities=["restart"])
        with fake.lock:
            fake.miners[ip] = m
        return jsonify(m), 201

    @bp.post("/api/miners/<ip>/restart")
    def restart(ip):
        if (resp := need_login()) is not None:
            return resp
        if ip not in fake.miners:
            return jsonify(error="no such miner"), 404
        return jsonify(ok=True, message="restart command sent")

    @bp.delete("/api/miners/<ip>")
    def remove(ip):
        if (resp := need_login()) is not None:
            return resp
        with fake.lock:
            if fake.miners.pop(ip, None) is None:
                return jsonify(error="no such miner"), 404
        return jsonify(deleted=ip)

    return bp


def make_app(fake: FakeController) -> Flask:
    from web.pages import bp as pages_bp  # the real pages under test

    app = Flask(__name__, static_folder=str(ROOT / "static"), template_folder=str(ROOT / "templates"))
    app.secret_key = "browser-test-only"
    app.register_blueprint(pages_bp)
    app.register_blueprint(api_blueprint(fake))
    sock = Sock(app)

    @sock.route("/ws")
    def ws(socket):
        with fake.lock:
            fake.ws_connects += 1
        if fake.ws_refused:
            return
        if fake.reads_require_login and not session.get("auth"):
            socket.send(json.dumps({"type": "error", "error": "authentication required"}))
            return
        q: queue.Queue = queue.Queue()
        with fake.lock:
            fake.clients.append(q)
        try:
            socket.send(json.dumps(fake.snapshot(with_discovery=True)))
            while True:
                msg = socket.receive(timeout=0.05)
                if msg == "ping":
                    fake.pings += 1
                    socket.send("pong")
                while not q.empty():
                    out = q.get()
                    if out is _CLOSE:
                        socket.close()
                        return
                    socket.send(out)
        finally:
            with fake.lock:
                fake.clients.remove(q)

    return app
