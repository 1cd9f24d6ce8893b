"""The JSON API of DESIGN section 7: miners, fleet stats, discovery, commands, history, events."""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, request

import miners
from database import queries
from miners import base
from miners.base import MinerAuthError, MinerError, NotSupported
from services.discovery import DiscoveryBusy
from services.fleet import UnknownMiner
from web.auth import caller, error, read_allowed, write_required
from web.body import BadRequest, boolean, check_fields, json_object, json_value, no_body, text, whole

bp = Blueprint("api", __name__, url_prefix="/api")

RANGES_S = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "3d": 3 * 86400, "1w": 7 * 86400}
_TARGET_POINTS = 300  # a chart wants a few hundred points per series, not every row
_MAX_POOLS = 10  # firmwares keep 3 (cgminer, Vnish) to a handful; the driver checks its own limit


def _runtime():
    return current_app.extensions["runtime"]


def _fleet():
    return _runtime().fleet


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest):
    return error(str(exc), exc.status)


@bp.errorhandler(UnknownMiner)
def _unknown(exc: UnknownMiner):
    return error(f"no miner with IP {exc.args[0]}", 404)


@bp.before_request
def _guard_reads():
    if request.method == "GET" and not read_allowed():
        return error("authentication required", 401)
    return None


def _ipv4(value: Any, what: str = "ip") -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a string like 192.168.1.50")
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        raise BadRequest(f"{what} is not an IPv4 address: {value[:40]!r}") from None


def _actor() -> str:
    return caller() or "anonymous"


# --- miners -----------------------------------------------------------------------
@bp.get("/miners")
def list_miners():
    """Every known miner with its latest reading."""
    return jsonify(_fleet().miners_list())


@bp.get("/miners/<ip>")
def miner_detail(ip: str):
    """One miner: full status, capabilities, last seen, online."""
    return jsonify(_fleet().get(_ipv4(ip)).to_dict(detail=True))


@bp.post("/miners")
@write_required
def add_miner():
    """Add a miner by IP; without a family it is detected (read requests only)."""
    body = json_object(("ip", "family", "port", "username", "password"))
    ip = _ipv4(body.get("ip"))
    family = text(body["family"], "family", max_len=40) if body.get("family") else None
    port = body.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise BadRequest("port must be a whole number 1-65535")
    creds = None
    if body.get("password") is not None or body.get("username") is not None:
        creds = {"username": text(body.get("username", ""), "username", empty=True),
                 "password": text(body.get("password", ""), "password", empty=True)}
    fleet = _fleet()
    model = None
    if family is None:
        from miners import detect

        found = detect.detect(ip, port_offset=fleet.config.network.port_offset,
                              timeout=fleet.config.polling.timeout_sec)
        if found is None:
            return error(f"no supported miner answered at {ip}; check the address or give its family", 422)
        if not miners.has_driver(found.family):
            return error(f"{ip} looks like a {found.family} miner, which is not supported yet", 422)
        family, model = found.family, found.model
    try:
        record = fleet.add(ip, family, port=port, model=model, source="manual", credentials=creds)
    except ValueError:
        raise BadRequest(f"unknown family {family!r}; known: {', '.join(miners.FAMILIES)}") from None
    fleet.poll_round([record])
    return jsonify(record.to_dict(detail=True)), 201


@bp.delete("/miners/<ip>")
@write_required
def delete_miner(ip: str):
    """Forget a miner and its history."""
    ip = _ipv4(ip)
    no_body()
    _fleet().remove(ip, actor=_actor())
    _fleet().notify(_fleet().snapshot_message())
    return jsonify({"deleted": ip})


@bp.post("/miners/<ip>/restart")
@write_required
def restart_miner(ip: str):
    """Restart a miner (409 when its firmware cannot)."""
    return _run_command(_ipv4(ip), "restart", body=False)


@bp.post("/miners/<ip>/reboot")
@write_required
def reboot_miner(ip: str):
    """Reboot the whole device, where restart only restarts the mining process (Vnish)."""
    return _run_command(_ipv4(ip), "reboot", body=False)


@bp.post("/miners/<ip>/autodownscale")
@write_required
def set_autodownscale(ip: str):
    """Vnish 3.x auto-downscale: ``{"enabled": bool, "step_mhz"?, "min_mhz"?, "timer"?, "after"?, "prec"?}``."""
    ip = _ipv4(ip)
    limits = {"step_mhz": (1, 200), "min_mhz": (100, 1175), "timer": (1, 1440), "after": (0, 86400), "prec": (1, 100)}
    body = json_object(("enabled", *limits))
    if not isinstance(body.get("enabled"), bool):
        raise BadRequest('send {"enabled": true|false, ...}')
    enabled = boolean(body["enabled"], "enabled")
    settings = {key: whole(body[key], key, *limits[key]) for key in limits if body.get(key) is not None}
    return _run_command(ip, "set_autodownscale", enabled, **settings)


@bp.post("/miners/<ip>/sleep")
@write_required
def sleep_miner(ip: str):
    """Stop hashing, staying reachable (sleep, pause, soft-off or power-off, per firmware)."""
    return _run_command(_ipv4(ip), "sleep", body=False)


@bp.post("/miners/<ip>/wake")
@write_required
def wake_miner(ip: str):
    """Resume hashing."""
    return _run_command(_ipv4(ip), "wake", body=False)


@bp.post("/miners/<ip>/power")
@write_required
def set_power(ip: str):
    """``{"watts": n}`` (power target) or ``{"percent": p}``."""
    ip = _ipv4(ip)
    body = json_object(("watts", "percent"))
    if ("watts" in body) == ("percent" in body):
        raise BadRequest('send exactly one of {"watts": n} or {"percent": p}')
    if "watts" in body:
        watts = whole(body["watts"], "watts", 1, 100_000)
        return _run_command(ip, "set_power_watts", watts)
    percent = whole(body["percent"], "percent", 0, 100)
    return _run_command(ip, "set_power_percent", percent)


@bp.post("/miners/<ip>/mode")
@write_required
def set_mode(ip: str):
    """``{"mode": name}``, one of the miner's ``modes``."""
    ip = _ipv4(ip)
    body = json_object(("mode",))
    record = _fleet().get(ip)
    if "mode" not in body:
        raise BadRequest('send {"mode": name}')
    mode = text(body["mode"], "mode", max_len=64)
    # An empty list means not learnt yet (Vnish 1.x reads its presets only after a login): the driver checks.
    if base.MODE in record.driver.capabilities and record.driver.modes and mode not in record.driver.modes:
        raise BadRequest(f"unknown mode {mode!r}; this miner has {', '.join(record.driver.modes)}")
    return _run_command(ip, "set_mode", mode)


@bp.post("/miners/<ip>/frequency")
@write_required
def set_frequency(ip: str):
    """``{"mhz": n, "voltage_mv": n (optional), "board": n (optional)}``."""
    ip = _ipv4(ip)
    body = json_object(("mhz", "voltage_mv", "board"))
    mhz = whole(body.get("mhz"), "mhz", 1, 5000)
    voltage = whole(body["voltage_mv"], "voltage_mv", 1, 30_000) if body.get("voltage_mv") is not None else None
    board = whole(body["board"], "board", 0, 64) if body.get("board") is not None else None
    return _run_command(ip, "set_frequency", mhz, voltage, board)


@bp.post("/miners/<ip>/fan")
@write_required
def set_fan(ip: str):
    """``{"percent": p}`` for a fixed speed, ``{"percent": null}`` for automatic."""
    ip = _ipv4(ip)
    body = json_object(("percent",))
    if "percent" not in body:
        raise BadRequest('send {"percent": 0-100} or {"percent": null} for automatic')
    percent = None if body["percent"] is None else whole(body["percent"], "percent", 0, 100)
    return _run_command(ip, "set_fan", percent)


@bp.post("/miners/<ip>/pools")
@write_required
def set_pools(ip: str):
    """``{"pools": [{"url", "user", "password"}]}`` (or the bare list), first = highest priority."""
    ip = _ipv4(ip)
    usage = 'send {"pools": [{"url": "stratum+tcp://host:port", "user": "...", "password": "x"}]}'
    body = json_value()
    if isinstance(body, dict):
        check_fields(body, ("pools",))
        items = body.get("pools")
    else:
        items = body
    if not isinstance(items, list) or not items:
        raise BadRequest(usage)
    if len(items) > _MAX_POOLS:
        raise BadRequest(f"at most {_MAX_POOLS} pools, got {len(items)}")
    pools = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"pools[{i}] must be an object with url, user and password")
        check_fields(item, ("url", "user", "password"), f"pools[{i}].")
        url = text(item.get("url"), f"pools[{i}].url", max_len=512).strip()
        user = text(item.get("user"), f"pools[{i}].user").strip()
        password = text(item.get("password", "x"), f"pools[{i}].password", empty=True)
        pools.append(base.PoolConfig(url=url, user=user, password=password))
    return _run_command(ip, "set_pools", pools)


@bp.get("/miners/<ip>/chips")
def miner_chips(ip: str):
    """Per-chip hashrate and state, for the firmwares that report chips."""
    ip = _ipv4(ip)
    try:
        chips = _fleet().read_chips(ip)
    except NotSupported as exc:
        return error(str(exc), 409)
    except MinerError as exc:
        return error(f"the miner did not answer: {exc}", 502)
    return jsonify({"ip": ip, "chips": [dataclasses.asdict(chip) for chip in chips]})


@bp.put("/miners/<ip>/credentials")
@write_required
def set_credentials(ip: str):
    """Store the login the miner's control interface needs (never returned by any GET)."""
    ip = _ipv4(ip)
    body = json_object(("username", "password"))
    if not isinstance(body.get("username", ""), str) or not isinstance(body.get("password"), str):
        raise BadRequest('send {"username": "...", "password": "..."} (DELETE clears them)')
    user = text(body.get("username", ""), "username", empty=True)
    password = text(body["password"], "password", empty=True)
    if not (user or password):
        raise BadRequest('send {"username": "...", "password": "..."} (DELETE clears them)')
    _fleet().set_credentials(ip, {"username": user, "password": password}, actor=_actor())
    return jsonify({"ok": True, "credentials_set": True})


@bp.delete("/miners/<ip>/credentials")
@write_required
def clear_credentials(ip: str):
    """Forget a miner's stored login; its firmware's factory default applies again."""
    ip = _ipv4(ip)
    no_body()
    _fleet().set_credentials(ip, None, actor=_actor())
    return jsonify({"ok": True, "credentials_set": False})


@bp.get("/miner-types")
def miner_types():
    """The capability matrix (family x action), read from the driver classes themselves."""
    return jsonify(miners.capability_matrix())


def _run_command(ip: str, action: str, *args: Any, body: bool = True, **kwargs: Any):
    """Send one command (``body=False``: the route takes no body, so refuse one first)."""
    if not body:
        no_body()
    fleet = _fleet()
    fleet.get(ip)  # 404 before anything else
    try:
        message = fleet.command(ip, action, *args, actor=_actor(), **kwargs)
    except NotSupported as exc:
        return error(str(exc), 409)
    except ValueError as exc:  # the driver refused the values before sending anything
        return error(str(exc), 400)
    except MinerAuthError as exc:
        return error(f"the miner refused the login: {exc}", 502, miner_error="auth")
    except MinerError as exc:
        return error(f"the miner did not accept the command: {exc}", 502)
    return jsonify({"ok": True, "message": message})


# --- fleet --------------------------------------------------------------------------
@bp.get("/stats")
def stats():
    """Fleet totals."""
    return jsonify(_fleet().stats())


@bp.get("/health")
def health():
    """Liveness and the last poll round, for monitoring."""
    runtime = _runtime()
    last = runtime.fleet.last_round
    age = time.time() - last["ts"] if last else None
    return jsonify({"ok": True, "read_only": runtime.read_only, "last_round": last,
                    "last_round_age_s": round(age, 1) if age is not None else None,
                    "websocket_clients": runtime.hub.count()})


# ?actor= groups -> the actor values events carry (web/auth.py caller(), the services' ACTOR names).
ACTOR_GROUPS: dict[str, tuple[str | None, ...]] = {
    "user": ("session", "token", "anonymous", "mqtt"), "controller": ("controller",), "ems": ("ems",),
    "rule": ("rules",), "system": ("system", "alerts", None)}
SEVERITIES = ("info", "warning", "critical")


def _whole(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number") from None


def _listed(name: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    values = tuple(v.strip() for v in request.args.get(name, "").split(",") if v.strip())
    for value in values:
        if allowed is not None and value not in allowed:
            raise BadRequest(f"{name}: must be one of {', '.join(allowed)}, got {value[:40]!r}")
        if len(value) > 64 or not value.isprintable():
            raise BadRequest(f"{name}: not a valid value")
    return values


@bp.get("/events")
def events():
    """Newest events first, filtered: ?limit= ?miner= ?kind=a,b ?severity= ?actor=user|controller|ems|rule|system
    ?q=text ?before=<id> (the next page); header X-Total-Count = events matching the filters."""
    limit = min(max(_whole("limit") or 100, 1), 1000)
    miner_ip = request.args.get("miner")
    miner = _ipv4(miner_ip, "miner") if miner_ip else None
    groups = _listed("actor", tuple(ACTOR_GROUPS))
    actors = tuple(a for g in groups for a in ACTOR_GROUPS[g]) if groups else None
    text = request.args.get("q", "").strip()
    if len(text) > 200:
        raise BadRequest("q: at most 200 characters")
    with _runtime().db.read() as conn:
        rows, total = queries.find_events(conn, limit=limit, miner_ip=miner, kinds=_listed("kind"),
                                          severities=_listed("severity", SEVERITIES), actors=actors,
                                          text=text or None, before_id=_whole("before"), count=True)
    reply = jsonify([dict(row) for row in rows])
    reply.headers["X-Total-Count"] = str(total)
    return reply


@bp.get("/events/kinds")
def event_kinds():
    """The kinds present among the events (the Events page's filter)."""
    with _runtime().db.read() as conn:
        return jsonify(queries.event_kinds(conn))


# --- discovery ------------------------------------------------------------------------
@bp.post("/discover")
@write_required
def start_discovery():
    """Start scanning a subnet (default from config or the Pi's own LAN)."""
    body = json_object(("subnet",))
    subnet = body.get("subnet")  # absent or null: the configured subnet (or the Pi's own LAN)
    if subnet is not None:
        if not isinstance(subnet, str) or not subnet.strip():
            raise BadRequest("subnet must be a string like 192.168.1.0/24 (leave it out for the configured one)")
        subnet = text(subnet, "subnet", max_len=64).strip()
    try:
        job = _runtime().discovery.start(subnet)
    except DiscoveryBusy as exc:
        return error(str(exc), 409, job=_runtime().discovery.status())
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    _fleet().event("discovery", f"scan of {job.subnet} started", actor=_actor())
    return jsonify(job.to_dict()), 202


@bp.get("/discover")
def discovery_status():
    """The latest discovery job and its progress."""
    return jsonify(_runtime().discovery.status())


# --- history --------------------------------------------------------------------------
def range_window() -> tuple[str, float, int]:
    """(range name, since epoch s, bucket s) from ?range=, sized to ~300 points per series."""
    name = request.args.get("range", "24h")
    now = time.time()
    if name == "all":
        oldest = _runtime().history.oldest() or now - 3600
        span = max(now - oldest, 3600)
    elif name in RANGES_S:
        span = RANGES_S[name]
    else:
        raise BadRequest(f"range must be one of {', '.join([*RANGES_S, 'all'])}")
    interval = int(max(_fleet().config.polling.interval_sec, 1))
    bucket = max(interval, int(span // _TARGET_POINTS))
    bucket = -(-bucket // interval) * interval  # a whole number of poll intervals
    return name, now - span, bucket


@bp.get("/history")
def fleet_history():
    """Fleet hashrate per algorithm, power and online count, bucketed for a chart."""
    name, since, bucket = range_window()
    bucket, rows = _runtime().history.fleet_chart(since, bucket)
    ts: list[int] = []
    index: dict[int, int] = {}
    per_algo: dict[str, dict[int, float]] = {}
    power: dict[int, float | None] = {}
    online: dict[int, int] = {}
    for row in rows:
        t = row["t"]
        if t not in index:
            index[t] = len(ts)
            ts.append(t)
        per_algo.setdefault(row["algorithm"], {})[t] = row["hashrate_hs"]
        if row["power_w"] is not None:
            power[t] = (power.get(t) or 0.0) + row["power_w"]
        online[t] = online.get(t, 0) + row["online"]
    series: dict[str, list] = {f"hashrate_hs.{algo}": [values.get(t) for t in ts] for algo, values in per_algo.items()}
    series["power_w"] = [power.get(t) for t in ts]
    series["online"] = [online.get(t, 0) for t in ts]
    return jsonify({"range": name, "bucket_s": bucket, "ts": ts, "series": series})


@bp.get("/miners/<ip>/history")
def miner_history(ip: str):
    """One miner's hashrate, power, temperature (hottest) and fan (fastest), bucketed for a chart."""
    record = _fleet().get(_ipv4(ip))
    name, since, bucket = range_window()
    bucket, rows = _runtime().history.miner_chart(record.id, since, bucket)
    return jsonify({"range": name, "bucket_s": bucket, "ts": [r["t"] for r in rows],
                    "series": {key: [r[key] for r in rows] for key in ("hashrate_hs", "power_w", "temp_c", "fan_rpm")}})


# --- CSV export (DESIGN 6: GET /api/history.csv exports any range) ----------------------
_BATTERY_KEYS = ("soc_pct", "pv_w", "load_w", "battery_w", "grid_w")


@bp.get("/history.csv")
def history_csv():
    """The chart history as a CSV download: the fleet (with battery columns) or, with ?ip=, one miner."""
    import csv
    import io

    from flask import Response

    from services.csv_log import csv_cell, local_iso

    ip = request.args.get("ip")
    record = _fleet().get(_ipv4(ip)) if ip else None  # 400 for a bad address, 404 for an unknown one
    name, since, bucket = range_window()
    if record is None:
        bucket, header, rows = _fleet_csv_rows(since, bucket)
    else:
        bucket, header, rows = _miner_csv_rows(record.id, since, bucket)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([local_iso(t), t, *(csv_cell(v) for v in values)] for t, values in rows)
    filename = f"history-{record.ip if record else 'fleet'}-{name}-{time.strftime('%Y-%m-%d')}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "X-Bucket-Seconds": str(bucket)})


def _fleet_csv_rows(since: float, bucket: int) -> tuple[int, list[str], list[tuple[int, list]]]:
    """Bucket, header and (t, cells) of the fleet history, one hashrate column per algorithm, battery if stored."""
    history = _runtime().history
    bucket, fleet_rows = history.fleet_chart(since, bucket)
    battery = {row["t"]: row for row in history.battery_chart(since, bucket)[1]}
    # Known miners' algorithms too, so the columns do not depend on who happened to answer.
    algorithms = sorted({row["algorithm"] for row in fleet_rows} | {r.algorithm for r in _fleet().records()})
    hashrate: dict[int, dict[str, float]] = {}
    power: dict[int, float] = {}
    online: dict[int, int] = {}
    for row in fleet_rows:
        t = row["t"]
        hashrate.setdefault(t, {})[row["algorithm"]] = row["hashrate_hs"]
        if row["power_w"] is not None:
            power[t] = power.get(t, 0.0) + row["power_w"]
        online[t] = online.get(t, 0) + row["online"]
    header = ["time", "epoch", *(f"hashrate_hs_{algo}" for algo in algorithms), "power_w", "online"]
    if battery:
        header += _BATTERY_KEYS
    rows = []
    for t in sorted(set(online) | set(battery)):
        cells = [hashrate.get(t, {}).get(algo) for algo in algorithms] + [power.get(t), online.get(t, 0)]
        if battery:
            cells += [battery[t][key] if t in battery else None for key in _BATTERY_KEYS]
        rows.append((t, cells))
    return bucket, header, rows


def _miner_csv_rows(miner_id: int, since: float, bucket: int) -> tuple[int, list[str], list[tuple[int, list]]]:
    """Bucket, header and (t, cells) of one miner's history."""
    keys = ("hashrate_hs", "power_w", "temp_c")
    bucket, chart = _runtime().history.miner_chart(miner_id, since, bucket)
    return bucket, ["time", "epoch", *keys], [(row["t"], [row[key] for key in keys]) for row in chart]
