"""A fake controller for browser tests: the real `pages` blueprint plus a canned
JSON API and /ws that follow docs/contracts.md field for field.

The real API is written in parallel; this fake lets the dashboard be tested on
its own, and because it keeps to the contract the page must work unchanged
against web/api.py. The test drives it directly (push a snapshot, move the
discovery job along, drop the socket) so nothing depends on timing luck.

The control endpoints (POST /api/miners/<ip>/<action>, GET .../chips,
.../history, PUT and DELETE .../credentials) validate like web/api.py with the same error
texts, refuse a missing capability with fleet.command's 409 wording, apply a
few driver checks (Bitaxe frequency range, stratum URLs) as 400s, and answer
"<action(values)> sent to <ip>" like the real FleetManager. A test can script
the next answer of one action (fake.script) to show a 409 or 502.

The power side follows services/battery_monitor.py and services/power: GET
/api/battery (reading, age_sec, simulated, status), GET /api/battery/history,
GET/POST /api/autocontrol (the PowerController.status() body; POST validates
like services/power/commands.py) and the {"type": "autocontrol"} push that
services/autocontrol.py sends after each tick (fake.push_autocontrol).

The EMS side follows web/ems.py and docs/EMS.md: GET /api/ems (EmsService.detail();
None answers 404, an older server) and POST /api/ems/release (a dashboard write: 409
{"accepted": false, "message"} while a dispatch is active); fake.set_ems changes the
dispatch and the short ``ems`` summary of GET /api/autocontrol together.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import math
import queue
import threading
import time
from pathlib import Path

from flask import Blueprint, Flask, abort, jsonify, request, session
from flask_sock import Sock

from miners.stratum import parse_stratum_url

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


BITAXE_MODES = ["eco", "standard", "turbo", "overclock"]
WHATSMINER_MODES = ["low", "normal", "high"]


def default_miners():
    now = time.time()
    return [
        miner("10.0.0.2", "bitaxe", "Bitaxe Gamma 601", firmware="AxeOS", firmware_version="v2.4.0",
              hashrate_hs=1.2e12, expected_hashrate_hs=1.25e12, power_w=15.3, temp_c=55.5,
              fan_rpm=[4200], fan_percent=60, uptime_s=93784, hostname="bitaxe-kitchen",
              capabilities=["fan", "frequency", "mode", "pools", "restart"], modes=list(BITAXE_MODES),
              mac="aa:bb:cc:00:00:02"),
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


def board(index, **over):
    """A BoardStatus dict (miners/base.py)."""
    b = {"index": index, "hashrate_hs": None, "expected_hashrate_hs": None, "temp_c": None, "chip_temp_c": None,
         "chips": None, "frequency_mhz": None, "voltage_mv": None, "chip_states": None, "hardware_errors": None}
    b.update(over)
    return b


def pool(url, user, priority, *, status="Alive", active=False, accepted=None, rejected=None):
    """A PoolStatus dict: no password field, ever."""
    return {"url": url, "user": user, "status": status, "active": active, "priority": priority,
            "accepted": accepted, "rejected": rejected}


def chip(board_index, index, **over):
    """A ChipStatus dict as GET /api/miners/<ip>/chips lists them."""
    c = {"board": board_index, "index": index, "hashrate_hs": None, "state": None, "temp_c": None,
         "frequency_mhz": None, "voltage_mv": None, "errors": None}
    c.update(over)
    return c


def default_details():
    """Detail-only fields (boards, pools, ...) of the default miners, by IP."""
    return {
        "10.0.0.2": {
            "boards": [board(0, hashrate_hs=1.2e12, expected_hashrate_hs=1.25e12, temp_c=55.5, chip_temp_c=61.2,
                             chips=1, frequency_mhz=525.0, voltage_mv=1150.0)],
            "pools": [pool("stratum+tcp://public-pool.io:21496", "bc1qexample.kitchen", 0, active=True,
                           accepted=1520, rejected=3),
                      pool("stratum+tcp://solo.ckpool.org:3333", "bc1qexample.kitchen", 1, status="Unknown")],
            "shares_accepted": 1520, "shares_rejected": 3, "frequency_mhz": 525.0, "voltage_mv": 1150.0,
            "errors": ["fan 2 not detected"],
        },
        "10.0.0.10": {"pools": [pool("stratum+tcp://pool.example.org:3333", "me.avalon", 0, active=True)]},
    }


def control_fleet():
    """Three more miners for the detail tests: (miner dict, detail fields, chips or None)."""
    wm_boards = [board(i, hashrate_hs=42e12, expected_hashrate_hs=43e12, temp_c=70.0 + i, chip_temp_c=82.0 + i,
                       chips=105, frequency_mhz=600.0, hardware_errors=i) for i in range(3)]
    s19_chips = [chip(b, i, hashrate_hs=(0.0 if (b, i) == (1, 7) else 0.28e12 if (b, i) == (0, 3) else 0.45e12),
                      state=("red" if (b, i) == (1, 7) else "ok"), temp_c=66.0 + (i % 7), frequency_mhz=525.0,
                      voltage_mv=1300.0, errors=(12 if (b, i) == (1, 7) else 0))
                 for b in range(3) for i in range(76)]
    return [
        (miner("10.0.0.30", "cgminer", "Avalon 1246", port=4028, firmware="cgminer", firmware_version="4.11.1",
               hashrate_hs=90e12, temp_c=74.0, fan_rpm=[5200, 5150], uptime_s=86000, capabilities=["pools", "restart"]),
         {"boards": [board(i, hashrate_hs=30e12, temp_c=72.0 + i, chips=114) for i in range(3)],
          "pools": [pool("stratum+tcp://btc.pool.example:3333", "acct.avalon", 0, active=True,
                         accepted=800, rejected=2)],
          "shares_accepted": 800, "shares_rejected": 2}, None),
        (miner("10.0.0.40", "whatsminer", "Whatsminer M50S", port=4028, firmware="btminer",
               firmware_version="20240425.15.REL", hashrate_hs=126e12, expected_hashrate_hs=128e12, power_w=3276.0,
               temp_c=82.0, fan_rpm=[4800, 4810], uptime_s=400000, hostname="wm-garage", mac="c4:11:04:00:00:40",
               capabilities=["mode", "pools", "power_percent", "power_watts", "reboot", "restart", "sleep", "wake"],
               modes=list(WHATSMINER_MODES)),
         {"boards": wm_boards, "shares_accepted": 51200, "shares_rejected": 40, "frequency_mhz": 600.0,
          "pools": [pool("stratum+tcp://btc.viabtc.io:3333", "acct.wm", 0, active=True, accepted=51200, rejected=40),
                    pool("stratum+tcp://btc-eu.f2pool.com:1314", "acct.wm", 1),
                    pool("stratum+tcp://ss.antpool.com:3333", "acct.wm", 2, status="Dead")]}, None),
        (miner("10.0.0.50", "vnish", "Antminer S19j Pro", firmware="Vnish", firmware_version="1.2.6",
               hashrate_hs=102.6e12, expected_hashrate_hs=104e12, power_w=2900.0, temp_c=71.0, fan_percent=70,
               uptime_s=7200, hostname="s19-vnish",
               capabilities=["autodownscale", "chips", "frequency", "mode", "pools", "power_watts", "reboot",
                             "restart", "sleep", "wake"], modes=["1900W", "2500W", "3100W"]),
         {"boards": [board(i, hashrate_hs=34.2e12, chips=76, frequency_mhz=525.0, voltage_mv=13200.0, temp_c=60.0 + i)
                     for i in range(3)],
          "pools": [pool("stratum+tcp://stratum.braiins.com:3333", "acct.s19", 0, active=True)],
          "frequency_mhz": 525.0, "voltage_mv": 13200.0,
          "errors": ["chain 1: chip 7 answers with errors"]}, s19_chips),
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
# Every made-up history ends here, so a test that rebuilds what the page was served gets the same buckets
# even when a bucket boundary passes between the page's fetch and the test's (a CI failure, 2026-12-06).
HISTORY_END = int(time.time())


def history_buckets(range_: str) -> tuple[int, list[int]]:
    """The bucket size and bucket timestamps of a made-up history of this range, ending at HISTORY_END."""
    span = RANGES[range_]
    bucket = max(60, span // 288)
    end = HISTORY_END // bucket * bucket
    return bucket, list(range(end - span + bucket, end + 1, bucket))


def history(range_):
    """Smooth made-up fleet history; power has a hole to show gaps stay gaps."""
    bucket, ts = history_buckets(range_)
    wave = [math.sin(t / 5400.0) for t in ts]
    series = {
        "hashrate_hs.sha256d": [5.3e12 + 0.25e12 * w for w in wave],
        "hashrate_hs.scrypt": [185e6 + 8e6 * w for w in wave],
        "power_w": [None if i % 97 in (40, 41) else 248 + 6 * w for i, w in enumerate(wave)],
        "online": [3 for _ in ts],
    }
    return {"range": range_, "bucket_s": bucket, "ts": ts, "series": series}


def battery_history(range_, ts_offset=0):
    """Made-up battery history on the fleet history's buckets; SOC, PV and battery have null holes."""
    bucket, ts = history_buckets(range_)
    wave = [math.sin(t / 7200.0) for t in ts]
    hole = [i % 53 in (20, 21) for i in range(len(ts))]
    series = {
        "soc_pct": [None if h else round(55 + 25 * w, 1) for h, w in zip(hole, wave)],
        "pv_w": [None if h else round(max(0.0, 2400 * w), 1) for h, w in zip(hole, wave)],
        "load_w": [round(650 + 80 * w, 1) for w in wave],
        "battery_w": [None if h else round(-900 * w, 1) for h, w in zip(hole, wave)],
        "grid_w": [None for _ in ts],
    }
    return {"range": range_, "bucket_s": bucket, "ts": [t + ts_offset for t in ts], "series": series}


def battery_snapshot(soc=54.0, pv_w=1800.0, load_w=600.0, battery_w=-1200.0, grid_w=None, age=12.0,
                     source="simulated", connected=True, last_error=""):
    """GET /api/battery (services/battery_monitor.py snapshot()); soc=None means never read.

    source="none" is a site without a battery: configured false, its fixed last_error.
    """
    if source == "none":
        soc, connected, last_error = None, False, "no battery configured (battery.source: none)"
    now = time.time()
    reading = None if soc is None else {
        "soc_pct": soc, "pv_w": pv_w, "load_w": load_w, "battery_w": battery_w, "grid_w": grid_w,
        "measured_at": now - age, "source": source, "measured_at_from": "device"}
    return {"reading": reading, "age_sec": None if reading is None else round(age, 1),
            "simulated": source == "simulated", "configured": source != "none",
            "status": {"source": source, "connected": connected,
                       "last_success_ts": None if reading is None else now - age, "last_error": last_error,
                       "max_age_sec": 120.0, "rejected_count": 0, "error_count": 0 if connected else 3,
                       "last_measured_at": None if reading is None else now - age, "session_age_sec": None}}


def autocontrol_status(**over):
    """GET /api/autocontrol (PowerController.status() plus the plan): ratchet, raising 50 -> 60 % in 1:30."""
    now = time.time()
    body = {"enabled": True, "policy": "ratchet", "target_percent": 50.0, "target_w": 1500.0, "cap_percent": 60.0,
            "reason": "SOC 54% -> cap 60%; raising to 60% in 1:30", "battery_age_sec": 12.0, "failsafe": False,
            "emergency": False, "override": None, "miner_overrides": {},
            "timers": [{"action": "raise", "target_percent": 60.0, "at": now + 90, "remaining_sec": 90.0,
                        "text": "raising to 60% in 1:30"}],
            "next_change_at": now + 90, "decided_at": now, "lowest": False, "alert": None, "source": "policy",
            "soc_pct": 54.0, "night": False, "plan": None, "overheated": []}
    body.update(over)
    return body


def ems_call(call, request_text, status, accepted, message, ago):
    """One entry of /api/ems "calls" (services/ems/dispatch.py CallRecord)."""
    return {"at": time.time() - ago, "call": call, "request": request_text, "status": status,
            "accepted": accepted, "message": message}


def ems_detail(**over):
    """GET /api/ems as in docs/EMS.md: active at 4 kW for 5 min, hold, one estimated miner, three calls."""
    now = time.time()
    body = {
        "configured": True, "silence": "hold", "lease_minutes": 15.0, "state": "active", "active": True,
        "runningStatus": 2, "target_kw": 4.0, "since": now - 300, "last_call_at": now - 300,
        "lease_expires_at": None, "status_calls": 12, "last_status_call_at": now - 20,
        "calls": [
            ems_call("POST /api/activate", '{"activationPowerInKw": 4}', 200, True,
                     "activated: 4 kW (was idle); commands are going out to 2 controllable miner(s) now: watch "
                     "activePowerInKw (acknowledgement is not delivery)", 300),
            ems_call("POST /api/activate", '{"activationPowerInKw": "4"}', 400, False,
                     "activationPowerInKw: must be a JSON number, got a string", 320),
            ems_call("GET /api/status", "", 401, None, "wrong EMS token (from 192.168.1.20)", 400),
        ],
        "status": {"isAvailableForDispatch": True, "runningStatus": 2, "ratedPowerInKw": 9.917,
                   "activePowerInKw": 3.86},
        "rated_kw_source": "computed", "computed_rated_kw": 9.917, "safety": None, "unavailable_reason": None,
        "controllable": ["10.0.0.2", "10.0.0.9"], "available": ["10.0.0.2", "10.0.0.9"], "fixed_load_kw": 0.0,
        "estimated": [{"ip": "10.0.0.9", "watts": 2437.5,
                       "why": "reports no power: nominal 3250 W x measured hashrate 75% of nominal"}],
        "battery_configured": True, "autocontrol_enabled": True,
        "decision": {"source": "ems", "reason": "EMS dispatch 4 kW", "at": now - 299, "target_w": 4000.0},
    }
    body.update(over)
    return body


def ems_summary(detail):
    """The ``ems`` part of GET /api/autocontrol for a /api/ems body (None: the server has no EMS)."""
    if detail is None:
        return {"state": "idle", "target_kw": None, "since": None}
    return {"state": detail["state"], "target_kw": detail["target_kw"] if detail["state"] == "active" else None,
            "since": detail["since"]}


class FakeController:
    """Mutable fake state shared by the API views, the socket and the test."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clients: list[queue.Queue] = []
        self.reset()

    def reset(self):
        with self.lock:
            self.miners = {m["ip"]: m for m in default_miners()}
            self.details = default_details()  # ip -> detail-only fields
            self.chips: dict[str, list] = {}  # ip -> ChipStatus dicts
            self.scripted: dict[tuple[str, str], dict] = {}  # (ip, action path) -> next answer
            self.credentials: set[str] = set()  # IPs with a stored login (never the values)
            self.asleep_hs: dict[str, float] = {}  # hashrate before sleep, back on wake
            self.job = None
            self.reads_require_login = False  # security.reads_require_login
            self.ws_refused = False  # /ws closes at once: the page must fall back to polling
            self.requests: list[tuple[str, str, object]] = []  # writes only: (method, path, json)
            self.ws_connects = 0
            self.pings = 0
            self.battery = battery_snapshot()  # GET /api/battery; None answers 404 (no battery route)
            self.battery_ts_offset = 0  # shifts the battery buckets off the fleet's (alignment tests)
            self.history_empty = False  # both history routes answer with no buckets (a fresh install)
            self.autocontrol = autocontrol_status()
            self.autocontrol_next = None  # the next POST /api/autocontrol answers (status, error) instead
            self.ems = ems_detail()  # GET /api/ems; None answers 404 (a server without the EMS routes)
            self.ems_next = None  # the next POST /api/ems/release answers (status, body) instead
            self.autocontrol["ems"] = ems_summary(self.ems)
            self.ems_gets = 0

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

    def add_miner(self, m, detail=None, chips=None):
        with self.lock:
            self.miners[m["ip"]] = m
            self.details[m["ip"]] = copy.deepcopy(detail or {})
            if chips is not None:
                self.chips[m["ip"]] = copy.deepcopy(chips)

    def add_control_fleet(self):
        for m, detail, chips in control_fleet():
            self.add_miner(m, detail, chips)

    def update_detail(self, ip, **fields):
        with self.lock:
            self.details.setdefault(ip, {}).update(fields)

    def script(self, ip, action, status, error=None, **extra):
        """The next POST /api/miners/<ip>/<action> answers this instead (after validation, like a driver)."""
        with self.lock:
            self.scripted[(ip, action)] = {"status": status, "error": error, **extra}

    def detail(self, ip):
        """GET /api/miners/<ip>: the list dict plus the detail fields (services/miner_state.py)."""
        with self.lock:
            m = copy.deepcopy(self.miners[ip])
            extra = copy.deepcopy(self.details.get(ip, {}))
            creds = ip in self.credentials
        data = {**m, "boards": [], "pools": [], "shares_accepted": None, "shares_rejected": None,
                "frequency_mhz": None, "voltage_mv": None, "errors": [], **extra}
        data["credentials_set"] = creds
        reading = {k: data[k] for k in ("hashrate_hs", "expected_hashrate_hs", "algorithm", "power_w", "temp_c",
                                         "fan_rpm", "fan_percent", "boards", "pools", "uptime_s", "shares_accepted",
                                         "shares_rejected", "model", "firmware", "firmware_version", "mac",
                                         "hostname", "frequency_mhz", "voltage_mv", "state", "errors",
                                         "efficiency_j_th")}
        data["last_reading"] = reading if m["last_seen_ts"] else None
        return data

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

    def set_ems(self, **over):
        """Change GET /api/ems (and the ems summary of GET /api/autocontrol with it)."""
        with self.lock:
            self.ems.update(over)
            self.autocontrol["ems"] = ems_summary(self.ems)

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

    def push_autocontrol(self, **over):
        """services/autocontrol.py after a tick: the status body as {"type": "autocontrol", ...}."""
        with self.lock:
            self.autocontrol.update(over)
            body = copy.deepcopy(self.autocontrol)
        self.broadcast(json.dumps({"type": "autocontrol", **body}))


# --- control plumbing, following web/api.py and services/fleet.py -------------------
class BadRequest(Exception):
    """A request refused with 400 and a reason (web/api.py)."""


def _error(message, code, **extra):
    return jsonify({"error": message, **extra}), code


def _ipv4(text, what="ip"):
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        raise BadRequest(f"{what} is not an IPv4 address: {text!r}") from None


def _json_object():
    if not request.content_length and not request.data:
        return {}
    if not request.is_json:
        raise BadRequest("send JSON with Content-Type: application/json")
    data = request.get_json(silent=True)
    if isinstance(data, list) and request.path.endswith("/pools"):
        return {"pools": data}  # POST .../pools also takes the bare list
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _whole(value, name, low, high):
    """web/api.py's _whole: a whole number in [low, high], else BadRequest with its wording."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise BadRequest(f"{name} must be a number")
    if isinstance(value, float) and not value.is_integer():
        raise BadRequest(f"{name} must be a whole number")
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return int(value)


def _power(body, m):
    if ("watts" in body) == ("percent" in body):
        raise BadRequest('send exactly one of {"watts": n} or {"percent": p}')
    if "watts" in body:
        return "set_power_watts", "power_watts", (_whole(body["watts"], "watts", 1, 100_000),), {}
    return "set_power_percent", "power_percent", (_whole(body["percent"], "percent", 0, 100),), {}


def _mode(body, m):
    mode = body.get("mode")
    if not isinstance(mode, str) or not mode:
        raise BadRequest('send {"mode": name}')
    if "mode" in m["capabilities"] and m["modes"] and mode not in m["modes"]:
        raise BadRequest(f"unknown mode {mode!r}; this miner has {', '.join(m['modes'])}")
    return "set_mode", "mode", (mode,), {}


def _frequency(body, m):
    mhz = _whole(body.get("mhz"), "mhz", 1, 5000)
    volt = _whole(body["voltage_mv"], "voltage_mv", 1, 30_000) if body.get("voltage_mv") is not None else None
    brd = _whole(body["board"], "board", 0, 64) if body.get("board") is not None else None
    return "set_frequency", "frequency", (mhz, volt, brd), {}


def _fan(body, m):
    if "percent" not in body:
        raise BadRequest('send {"percent": 0-100} or {"percent": null} for automatic')
    percent = None if body["percent"] is None else _whole(body["percent"], "percent", 0, 100)
    return "set_fan", "fan", (percent,), {}


def _pools(body, m):
    items = body.get("pools")
    if not isinstance(items, list) or not items:
        raise BadRequest('send {"pools": [{"url": "stratum+tcp://host:port", "user": "...", "password": "x"}]}')
    pools = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"pools[{i}] must be an object with url, user and password")
        url, user, password = item.get("url"), item.get("user"), item.get("password", "x")
        if not isinstance(url, str) or not isinstance(user, str) or not isinstance(password, str):
            raise BadRequest(f"pools[{i}]: url, user and password must be strings")
        pools.append({"url": url.strip(), "user": user.strip(), "password": password})
    return "set_pools", "pools", (pools,), {}


def _autodownscale(body, m):
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise BadRequest('send {"enabled": true|false, ...}')
    limits = {"step_mhz": (1, 200), "min_mhz": (100, 1175), "timer": (1, 1440), "after": (0, 86400), "prec": (1, 100)}
    unknown = set(body) - set(limits) - {"enabled"}
    if unknown:
        raise BadRequest(f"unknown setting(s): {', '.join(sorted(unknown))}")
    settings = {k: _whole(body[k], k, *limits[k]) for k in limits if body.get(k) is not None}
    return "set_autodownscale", "autodownscale", (enabled,), settings


def _plain(action):
    return lambda body, m: (action, action, (), {})


# path -> body check returning (driver action, capability, args, kwargs)
CONTROL_PATHS = {"restart": _plain("restart"), "reboot": _plain("reboot"), "sleep": _plain("sleep"),
                 "wake": _plain("wake"), "power": _power, "mode": _mode, "frequency": _frequency, "fan": _fan,
                 "pools": _pools, "autodownscale": _autodownscale}


def _describe(action, args):
    """services/fleet.describe_action: values, never a pool password."""
    if action == "set_pools" and args:
        return f"set_pools({len(args[0])}: {', '.join(p['url'] for p in args[0])})"
    shown = ", ".join("auto" if a is None else str(a) for a in args if a is not None or action == "set_fan")
    return f"{action}({shown})" if shown else action


def _driver_check(m, action, args):
    """A few of the drivers' own ValueErrors (400): what the API cannot know, the driver refuses."""
    if action == "set_pools":
        pools = args[0]
        limit = 3
        if len(pools) > limit:
            raise BadRequest(f"this firmware holds at most {limit} pools, got {len(pools)}")
        for p in pools:
            parse_stratum_url(p["url"])
            if not p["user"]:
                raise BadRequest("every pool needs a worker/user name on one line")
    if m["family"] == "bitaxe" and action == "set_frequency":
        mhz, volt, brd = args
        if brd not in (None, 0):
            raise BadRequest("a Bitaxe has one board (0)")
        if not 50 <= mhz <= 1500:
            raise BadRequest(f"frequency {mhz} MHz is outside 50..1500")
        if volt is not None and not 700 <= volt <= 1800:
            raise BadRequest(f"core voltage {volt} mV is outside 700..1800")


def _apply(fake, ip, action, args):
    """What a poll after the command would show."""
    m, detail = fake.miners[ip], fake.details.setdefault(ip, {})
    if action == "sleep":
        fake.asleep_hs.setdefault(ip, m["hashrate_hs"])
        m.update(state="sleeping", hashrate_hs=0.0, efficiency_j_th=None)  # no J/TH without hashrate
    elif action == "wake":
        m.update(state="mining", hashrate_hs=fake.asleep_hs.pop(ip, m["hashrate_hs"]))
        if m["power_w"] is not None and m["hashrate_hs"]:
            m["efficiency_j_th"] = m["power_w"] / (m["hashrate_hs"] / 1e12)
    elif action == "set_frequency":
        detail["frequency_mhz"] = float(args[0])
        if args[1] is not None:
            detail["voltage_mv"] = float(args[1])
    elif action == "set_fan" and args[0] is not None:
        m["fan_percent"] = args[0]
    elif action == "set_pools":
        detail["pools"] = [pool(p["url"], p["user"], i, status="Unknown", active=False)
                           for i, p in enumerate(args[0])]


def _run_command(fake, ip, path, action, capability, args, kwargs):
    """web/api.py _run_command + FleetManager.command: 404, 409, 400, scripted 502, or the sent message."""
    with fake.lock:
        m = fake.miners.get(ip)
        if m is None:
            return _error(f"no miner with IP {ip}", 404)
        if capability not in m["capabilities"]:
            return _error(f"{m['family']} miners cannot {action.replace('set_', 'set ').replace('_', ' ')}", 409)
        scripted = fake.scripted.pop((ip, path), None)
        try:
            _driver_check(m, action, args)
        except (BadRequest, ValueError) as exc:
            return _error(str(exc), 400)
        if scripted and scripted["status"] != 200:
            extra = {k: v for k, v in scripted.items() if k not in ("status", "error", "note")}
            return _error(scripted["error"], scripted["status"], **extra)
        _apply(fake, ip, action, args)
    note = scripted.get("note") if scripted else None
    what = _describe(action, args + tuple(f"{k}={v}" for k, v in kwargs.items()))
    # The real server re-polls the miner a second later and pushes a snapshot.
    threading.Timer(0.2, fake.push_snapshot).start()
    return jsonify({"ok": True, "message": f"{what} sent to {ip}" + (f": {note}" if note else "")})


def miner_history_series(m, range_):
    """GET /api/miners/<ip>/history: hashrate, power and temperature around the miner's current values."""
    bucket, ts = history_buckets(range_)
    wave = [math.sin(t / 3600.0) for t in ts]

    def around(value, spread):
        return [None if value is None else value * (1 + spread * w) for w in wave]

    return {"range": range_, "bucket_s": bucket, "ts": ts,
            "series": {"hashrate_hs": around(m["hashrate_hs"], 0.04), "power_w": around(m["power_w"], 0.01),
                       "temp_c": around(m["temp_c"], 0.02)}}


def _autocontrol_changes(body):
    """services/power/commands.apply_command's checks (same wording) -> the status fields to change."""
    if not body:
        raise ValueError("body: expected a JSON object with enabled, policy or override")
    known = {"enabled", "policy", "override"}
    unknown = set(body) - known
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown field (known: {', '.join(sorted(known))})")
    changes = {}
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ValueError(f"enabled: expected true or false, got {body['enabled']!r}")
        changes["enabled"] = body["enabled"]
    if "policy" in body:
        if body["policy"] not in ("ratchet", "surplus"):
            raise ValueError(f"policy: must be ratchet or surplus, got {body['policy']!r}")
        changes["policy"] = body["policy"]
    if "override" in body:
        ov = body["override"]
        if not isinstance(ov, dict):
            raise ValueError("override: expected an object {percent, minutes or until, miner} or {clear: true, miner}")
        if ov.get("clear") is True:
            changes["override"] = None
        else:
            percent = ov.get("percent")
            if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
                raise ValueError(f"override.percent: must be 0-100, got {percent}")
            now = time.time()
            until = now + 60 * ov["minutes"] if ov.get("minutes") is not None else ov.get("until")
            changes["override"] = {"percent": float(percent), "until": until, "set_at": now, "by": "session"}
    return changes


def api_blueprint(fake: FakeController) -> Blueprint:
    bp = Blueprint("fake_api", __name__)

    @bp.before_request
    def guard_reads():
        if (request.method == "GET" and request.path.startswith("/api/") and request.path != "/api/session"
                and fake.reads_require_login and not session.get("auth")):
            return jsonify(error="authentication required"), 401
        return None

    @bp.errorhandler(BadRequest)
    def bad_request(exc):
        return _error(str(exc), 400)

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
            empty = fake.history_empty
        if empty:
            return jsonify({"range": range_, "bucket_s": 60, "ts": [], "series": {"power_w": [], "online": []}})
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

    # --- one miner: detail, controls, chips, history, credentials (web/api.py) ---
    @bp.get("/api/miners/<ip>")
    def miner_detail(ip):
        ip = _ipv4(ip)
        if ip not in fake.miners:
            return _error(f"no miner with IP {ip}", 404)
        return jsonify(fake.detail(ip))

    @bp.post("/api/miners/<ip>/<action>")
    def control(ip, action):
        if action not in CONTROL_PATHS:
            abort(404)
        if (resp := need_login()) is not None:
            return resp
        ip = _ipv4(ip)
        body = _json_object()
        if action == "mode" and ip not in fake.miners:  # web/api.py reads the record first here
            return _error(f"no miner with IP {ip}", 404)
        call = CONTROL_PATHS[action](body, fake.miners.get(ip))
        return _run_command(fake, ip, action, *call)

    @bp.get("/api/miners/<ip>/chips")
    def chips(ip):
        ip = _ipv4(ip)
        if ip not in fake.miners:
            return _error(f"no miner with IP {ip}", 404)
        m = fake.miners[ip]
        if "chips" not in m["capabilities"]:
            return _error(f"{m['family']} firmware does not report per-chip data", 409)
        if not m["online"]:
            return _error("the miner did not answer: timed out", 502)
        with fake.lock:
            return jsonify({"ip": ip, "chips": copy.deepcopy(fake.chips.get(ip, []))})

    @bp.get("/api/miners/<ip>/history")
    def miner_history(ip):
        ip = _ipv4(ip)
        if ip not in fake.miners:
            return _error(f"no miner with IP {ip}", 404)
        range_ = request.args.get("range", "24h")
        if range_ not in RANGES:
            return _error("range must be one of 1h, 6h, 24h, 3d, 1w, all", 400)
        with fake.lock:
            fake.requests.append(("GET", request.full_path, None))
        return jsonify(miner_history_series(fake.miners[ip], range_))

    @bp.put("/api/miners/<ip>/credentials")
    def credentials(ip):
        if (resp := need_login()) is not None:
            return resp
        ip = _ipv4(ip)
        body = _json_object()
        user, password = body.get("username", ""), body.get("password")
        if not isinstance(user, str) or not isinstance(password, str) or not (user or password):
            return _error('send {"username": "...", "password": "..."} (DELETE clears them)', 400)
        if ip not in fake.miners:
            return _error(f"no miner with IP {ip}", 404)
        with fake.lock:
            fake.credentials.add(ip)
        return jsonify({"ok": True, "credentials_set": True})

    @bp.delete("/api/miners/<ip>/credentials")
    def clear_credentials(ip):
        if (resp := need_login()) is not None:
            return resp
        ip = _ipv4(ip)
        if ip not in fake.miners:
            return _error(f"no miner with IP {ip}", 404)
        with fake.lock:
            fake.credentials.discard(ip)
        return jsonify({"ok": True, "credentials_set": False})

    # --- battery and autocontrol (web/battery.py, web/autocontrol.py) ---
    @bp.get("/api/battery")
    def battery():
        with fake.lock:
            body = copy.deepcopy(fake.battery)
        if body is None:
            abort(404)
        if body["reading"] is not None:  # the age grows like the real one
            body["age_sec"] = round(time.time() - body["reading"]["measured_at"], 1)
        return jsonify(body)

    @bp.get("/api/battery/history")
    def battery_history_view():
        range_ = request.args.get("range", "24h")
        if range_ not in RANGES:
            return _error("range must be one of 1h, 6h, 24h, 3d, 1w, all", 400)
        with fake.lock:
            fake.requests.append(("GET", request.full_path, None))
            offset, empty = fake.battery_ts_offset, fake.history_empty
        if empty:
            return jsonify({"range": range_, "bucket_s": 60, "ts": [],
                            "series": {k: [] for k in ("soc_pct", "pv_w", "load_w", "battery_w", "grid_w")}})
        return jsonify(battery_history(range_, offset))

    @bp.get("/api/autocontrol")
    def autocontrol_get():
        with fake.lock:
            return jsonify(copy.deepcopy(fake.autocontrol))

    @bp.post("/api/autocontrol")
    def autocontrol_post():
        if (resp := need_login()) is not None:
            return resp
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            return _error("send a JSON object with enabled, policy or override (Content-Type: application/json)", 400)
        try:
            changes = _autocontrol_changes(body)
        except ValueError as exc:
            return _error(str(exc), 400)
        with fake.lock:
            scripted, fake.autocontrol_next = fake.autocontrol_next, None
            if scripted is not None:
                return _error(scripted[1], scripted[0])
            fake.autocontrol.update(changes)
            if "policy" in changes:
                fake.autocontrol["cap_percent"] = 60.0 if changes["policy"] == "ratchet" else None
            return jsonify(copy.deepcopy(fake.autocontrol))

    # --- EMS dispatch (web/ems.py) ---
    @bp.get("/api/ems")
    def ems_get():
        with fake.lock:
            fake.ems_gets += 1
            body = copy.deepcopy(fake.ems)
        if body is None:
            abort(404)
        return jsonify(body)

    @bp.post("/api/ems/release")
    def ems_release():
        if (resp := need_login()) is not None:
            return resp
        with fake.lock:
            scripted, fake.ems_next = fake.ems_next, None
            if scripted is not None:
                return jsonify(scripted[1]), scripted[0]
            ems = fake.ems
            if ems is None:
                abort(404)
            if ems["state"] == "active":
                return jsonify(accepted=False, message=(
                    f"a dispatch is active ({ems['target_kw']:g} kW): the EMS ends it with /api/deactivate; "
                    "a manual override outranks it meanwhile")), 409
            if ems["state"] == "idle":
                return jsonify(accepted=True, message="the EMS does not hold the fleet: nothing to release")
            ems.update(state="idle", active=False, runningStatus=1, target_kw=None, since=time.time())
            fake.autocontrol["ems"] = ems_summary(ems)
        return jsonify(accepted=True, message="released: the solar policy decides again")

    @bp.get("/api/miner-types")
    def miner_types():
        import miners as drivers  # the real capability matrix, read from the driver classes

        return jsonify(drivers.capability_matrix())

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
    # The real app's security headers (web/guard.py), so every browser test runs under its CSP.
    from web.guard import add_security_headers

    app.after_request(lambda response: add_security_headers(response, request.host))
    sock = Sock(app)

    @sock.route("/ws")
    def ws(socket):
        with fake.lock:
            fake.ws_connects += 1
        if fake.ws_refused:
            return
        if fake.reads_require_login and not session.get("auth"):
            # As web/ws.py does: the error message, then a close frame (1008 policy violation).
            socket.send(json.dumps({"type": "error", "error": "authentication required"}))
            socket.close(reason=1008, message="authentication required")
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
