"""Commands to one miner (restart, sleep, power, mode, frequency, fan, pools...), its login and its chips.

Each route checks its body, then sends one command through FleetManager.command, which
checks the capability and logs the audit event; the firmware's refusal comes back as
409 (not supported), 400 (values refused before sending) or 502 (the miner said no).
"""

from __future__ import annotations

import dataclasses

from flask import jsonify

from miners import base
from miners.base import MinerError, NotSupported
from web import access
from web.auth import error, write_required
from web.body import BadRequest, boolean, check_fields, ipv4, json_object, json_value, no_body, text, whole

bp = access.blueprint("miner_commands", __name__, url_prefix="/api")

_MAX_POOLS = 10  # firmwares keep 3 (cgminer, Vnish) to a handful; the driver checks its own limit


def _fleet():
    return access.runtime().fleet


@bp.post("/miners/<ip>/restart")
@write_required
def restart_miner(ip: str):
    """Restart a miner (409 when its firmware cannot)."""
    return access.run_command(ipv4(ip), "restart", body=False)


@bp.post("/miners/<ip>/reboot")
@write_required
def reboot_miner(ip: str):
    """Reboot the whole device, where restart only restarts the mining process (Vnish)."""
    return access.run_command(ipv4(ip), "reboot", body=False)


@bp.post("/miners/<ip>/autodownscale")
@write_required
def set_autodownscale(ip: str):
    """Vnish 3.x auto-downscale: ``{"enabled": bool, "step_mhz"?, "min_mhz"?, "timer"?, "after"?, "prec"?}``."""
    ip = ipv4(ip)
    limits = {"step_mhz": (1, 200), "min_mhz": (100, 1175), "timer": (1, 1440), "after": (0, 86400), "prec": (1, 100)}
    body = json_object(("enabled", *limits))
    if not isinstance(body.get("enabled"), bool):
        raise BadRequest('send {"enabled": true|false, ...}')
    enabled = boolean(body["enabled"], "enabled")
    settings = {key: whole(body[key], key, *limits[key]) for key in limits if body.get(key) is not None}
    return access.run_command(ip, "set_autodownscale", enabled, **settings)


@bp.post("/miners/<ip>/sleep")
@write_required
def sleep_miner(ip: str):
    """Stop hashing, staying reachable (sleep, pause, soft-off or power-off, per firmware)."""
    return access.run_command(ipv4(ip), "sleep", body=False)


@bp.post("/miners/<ip>/wake")
@write_required
def wake_miner(ip: str):
    """Resume hashing."""
    return access.run_command(ipv4(ip), "wake", body=False)


@bp.post("/miners/<ip>/power")
@write_required
def set_power(ip: str):
    """``{"watts": n}`` (power target) or ``{"percent": p}``."""
    ip = ipv4(ip)
    body = json_object(("watts", "percent"))
    if ("watts" in body) == ("percent" in body):
        raise BadRequest('send exactly one of {"watts": n} or {"percent": p}')
    if "watts" in body:
        watts = whole(body["watts"], "watts", 1, 100_000)
        return access.run_command(ip, "set_power_watts", watts)
    percent = whole(body["percent"], "percent", 0, 100)
    return access.run_command(ip, "set_power_percent", percent)


@bp.post("/miners/<ip>/mode")
@write_required
def set_mode(ip: str):
    """``{"mode": name}``, one of the miner's ``modes``."""
    ip = ipv4(ip)
    body = json_object(("mode",))
    record = _fleet().get(ip)
    if "mode" not in body:
        raise BadRequest('send {"mode": name}')
    mode = text(body["mode"], "mode", max_len=64)
    # An empty list means not learnt yet (Vnish 1.x reads its presets only after a login): the driver checks.
    if base.MODE in record.driver.capabilities and record.driver.modes and mode not in record.driver.modes:
        raise BadRequest(f"unknown mode {mode!r}; this miner has {', '.join(record.driver.modes)}")
    return access.run_command(ip, "set_mode", mode)


@bp.post("/miners/<ip>/frequency")
@write_required
def set_frequency(ip: str):
    """``{"mhz": n, "voltage_mv": n (optional), "board": n (optional)}``."""
    ip = ipv4(ip)
    body = json_object(("mhz", "voltage_mv", "board"))
    mhz = whole(body.get("mhz"), "mhz", 1, 5000)
    voltage = whole(body["voltage_mv"], "voltage_mv", 1, 30_000) if body.get("voltage_mv") is not None else None
    board = whole(body["board"], "board", 0, 64) if body.get("board") is not None else None
    return access.run_command(ip, "set_frequency", mhz, voltage, board)


@bp.post("/miners/<ip>/fan")
@write_required
def set_fan(ip: str):
    """``{"percent": p}`` for a fixed speed, ``{"percent": null}`` for automatic."""
    ip = ipv4(ip)
    body = json_object(("percent",))
    if "percent" not in body:
        raise BadRequest('send {"percent": 0-100} or {"percent": null} for automatic')
    percent = None if body["percent"] is None else whole(body["percent"], "percent", 0, 100)
    return access.run_command(ip, "set_fan", percent)


@bp.post("/miners/<ip>/pools")
@write_required
def set_pools(ip: str):
    """``{"pools": [{"url", "user", "password"}]}`` (or the bare list), first = highest priority."""
    ip = ipv4(ip)
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
    return access.run_command(ip, "set_pools", pools)


@bp.get("/miners/<ip>/chips")
def miner_chips(ip: str):
    """Per-chip hashrate and state, for the firmwares that report chips."""
    ip = ipv4(ip)
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
    ip = ipv4(ip)
    body = json_object(("username", "password"))
    if not isinstance(body.get("username", ""), str) or not isinstance(body.get("password"), str):
        raise BadRequest('send {"username": "...", "password": "..."} (DELETE clears them)')
    user = text(body.get("username", ""), "username", empty=True)
    password = text(body["password"], "password", empty=True)
    if not (user or password):
        raise BadRequest('send {"username": "...", "password": "..."} (DELETE clears them)')
    _fleet().set_credentials(ip, {"username": user, "password": password}, actor=access.actor())
    return jsonify({"ok": True, "credentials_set": True})


@bp.delete("/miners/<ip>/credentials")
@write_required
def clear_credentials(ip: str):
    """Forget a miner's stored login; its firmware's factory default applies again."""
    ip = ipv4(ip)
    no_body()
    _fleet().set_credentials(ip, None, actor=access.actor())
    return jsonify({"ok": True, "credentials_set": False})
