"""Pure parsers for Whatsminer replies: API 2.x (cgminer-shaped + flat btminer replies) and API 3.x (JSON on 4433).

Units: API 2 hashrates are MH/s ("MHS *", "HS RT"), "Factory GHS" is GH/s,
"Power" is W (-1 = unknown); API 3 hashrates are TH/s. Everything is turned
into H/s, W and degrees C here, once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .base import BoardStatus, MinerStatus, PoolStatus
from .cgminer import best_share, integer, num, parse_pools, positive, section
from .values import difficulty

MH = 1e6
GH = 1e9
TH = 1e12
# Real-time first (what the miner does now), the session average last. pyasic reads "MHS 1m".
_MAX_ERROR_CODES = 64  # "Error Code Count" is read as a loop bound
_V2_RATE_KEYS = ("MHS 1m", "MHS 5s", "HS RT", "MHS 5m", "MHS 15m", "MHS av")
_V3_RATE_KEYS = ("hash-realtime", "hash-1min", "hash-average", "hash-15min")
# get_version fw_ver / get.device.info fwversion start with the build date: "20210322.22.REL".
_FW_DATE = re.compile(r"^\s*'?(\d{8})")
# "M30S+V40" -> "M30S+ V40", "M60S_VK40" -> "M60S VK40", "M30S++_VH70" -> "M30S++ VH70".
_MODEL = re.compile(r"^(M\d+[A-Z]*\+*)_?(V[A-Z]{0,2}\d+)$", re.IGNORECASE)


# --- identity ------------------------------------------------------------------------------
def model_name(raw: Any) -> str | None:
    """Display model from DEVDETAILS Model / get.device.info miner.type: "M60S_VK40" -> "Whatsminer M60S VK40"."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    match = _MODEL.match(text)
    core = f"{match.group(1)} {match.group(2)}" if match else text.replace("_", " ")
    return f"Whatsminer {core}"


def firmware_date(version: Any) -> int | None:
    """The yyyymmdd build date at the front of a Whatsminer firmware version, or None."""
    if not isinstance(version, str):
        return None
    match = _FW_DATE.match(version)
    return int(match.group(1)) if match else None


def clean_firmware_version(value: Any) -> str | None:
    """"'20201202.22.REL'" -> "20201202.22.REL" (btminer wraps SUMMARY "Firmware Version" in quotes)."""
    if not isinstance(value, str):
        return None
    text = value.strip().strip("'").strip()
    return text or None


def api_version(value: Any) -> tuple[int, int, int] | None:
    """get_version Msg.api_ver: "2.0.5" -> (2, 0, 5); "whatsminer v1.4.0" -> (1, 4, 0); "v1.3" -> (1, 3, 0)."""
    if not isinstance(value, str):
        return None
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", value)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def flat_msg(reply: Mapping[str, Any] | None) -> dict[str, Any]:
    """``Msg`` of a flat btminer reply (get_version, status, get_miner_info), {} when absent."""
    if not isinstance(reply, Mapping):
        return {}
    msg = reply.get("Msg")
    return dict(msg) if isinstance(msg, Mapping) else {}


def is_off(status_msg: Mapping[str, Any]) -> bool | None:
    """status Msg: mineroff (API 2.x) or btmineroff (older "whatsminer v1.x" API) -> True when not mining."""
    for key in ("mineroff", "btmineroff"):
        value = status_msg.get(key)
        if isinstance(value, str):
            return value.strip().lower() == "true"
        if isinstance(value, bool):
            return value
    return None


def _mac(value: Any) -> str | None:
    return value.strip().upper() if isinstance(value, str) and value.strip() else None


# --- API 2.x ---------------------------------------------------------------------------------
def summary_block(reply: Mapping[str, Any] | None) -> dict[str, Any]:
    """SUMMARY[0]; newer firmware may answer `summary` in the flat shape with the block in Msg.

    The flat form was reported for 2025 firmware (a pyasic patch set,
    pyasic_driver/patches/btminer.py "Individual summary uses WhatsMiner Msg
    format"); no capture of it was found, so it is accepted, not assumed.
    """
    blocks = section(reply, "SUMMARY")
    if blocks:
        return blocks[0]
    msg = flat_msg(reply)
    return msg if any(key.startswith(("MHS", "Power", "Elapsed")) for key in msg) else {}


def _rate(block: Mapping[str, Any], keys: tuple[str, ...], scale: float) -> float | None:
    for key in keys:
        value = num(block.get(key))
        if value is not None and value >= 0:
            return value * scale
    return None


def _watts(value: Any) -> float | None:
    """btminer "Power": watts, -1 when the PSU does not report it."""
    watts = num(value)
    return watts if watts is not None and watts >= 0 else None


def parse_v2_summary(block: Mapping[str, Any]) -> dict[str, Any]:
    """SUMMARY[0] -> hashrate, expected hashrate, power, limit, mode, fans, temps, uptime, shares, MAC, firmware."""
    if not block:
        return {}
    fan_in, fan_out = integer(block.get("Fan Speed In")), integer(block.get("Fan Speed Out"))
    fans = [rpm for rpm in (fan_in, fan_out) if rpm]
    hashing = (_rate(block, _V2_RATE_KEYS, MH) or 0) > 0
    if fan_in == 0 and fan_out == 0 and hashing and block.get("Liquid Cooling") is not True:
        fans = [0, 0]  # both air fans read 0 while hashing: stopped (one 0 alone is "no reading", see below)
    factory = positive(block.get("Factory GHS"))
    errors = []
    # A lying count (1e30) must not spin the poll thread: real btminer lists a handful at most.
    for i in range(min(integer(block.get("Error Code Count")) or 0, _MAX_ERROR_CODES)):
        code = block.get(f"Error Code {i}")
        if code not in (None, ""):
            errors.append(f"error code {code}")
    return {
        "hashrate_hs": _rate(block, _V2_RATE_KEYS, MH),
        "expected_hashrate_hs": factory * GH if factory is not None else None,
        "power_w": _watts(block.get("Power")),
        "power_limit_w": positive(block.get("Power Limit")),
        "power_mode": block.get("Power Mode") if isinstance(block.get("Power Mode"), str) else None,
        # Elapsed is btminer's own uptime (restart_btminer resets it); Uptime is the OS.
        "uptime_s": integer(block.get("Elapsed")) if block.get("Elapsed") is not None else integer(block.get("Uptime")),
        "shares_accepted": integer(block.get("Accepted")),
        "shares_rejected": integer(block.get("Rejected")),
        # btminer is cgminer-based: "Best Share" is its in-memory best since btminer started.
        "best_share": difficulty(block.get("Best Share")),
        # M31S fw 20201202 reports "Fan Speed Out": 0 beside 5700 In while hashing: 0 is no reading.
        "fan_rpm": fans,
        "chip_temp_max": positive(block.get("Chip Temp Max")),
        "board_temp": positive(block.get("Temperature")),
        "frequency_mhz": positive(block.get("freq_avg")),
        "mac": _mac(block.get("MAC")),
        "firmware_version": clean_firmware_version(block.get("Firmware Version")),
        "errors": errors,
    }


def _board_rate(dev: Mapping[str, Any]) -> float | None:
    """Board hashrate in H/s from "MHS 1m"... (MH/s).

    A pyasic patch set for 2025 firmware (pyasic_driver/patches/btminer.py)
    reports DEVS "MHS 1m" carrying TH/s on newer builds, spotted by a value below
    the board's own "Factory GHS"; the same test is applied here.
    """
    rate = _rate(dev, _V2_RATE_KEYS, 1.0)
    if rate is None:
        return None
    factory = positive(dev.get("Factory GHS"))
    if factory is not None and 0 < rate < factory:
        return rate * TH
    return rate * MH


def parse_v2_boards(reply: Mapping[str, Any] | None) -> list[BoardStatus]:
    """devs/edevs DEVS[] (one per hash board, Name "SM") -> boards, numbered by ASC/Slot."""
    boards = []
    for position, dev in enumerate(section(reply, "DEVS")):
        number = integer(dev.get("ASC", dev.get("Slot", dev.get("ID"))))
        factory = positive(dev.get("Factory GHS"))
        boards.append(BoardStatus(
            index=number if number is not None else position,
            hashrate_hs=_board_rate(dev),
            expected_hashrate_hs=factory * GH if factory is not None else None,
            temp_c=positive(dev.get("Temperature")),
            chip_temp_c=positive(dev.get("Chip Temp Max")),
            chips=integer(dev.get("Effective Chips")),
            frequency_mhz=positive(dev.get("Chip Frequency")),
            hardware_errors=integer(dev.get("Hardware Errors")),
        ))
    return boards


def parse_v2(replies: Mapping[str, Any]) -> MinerStatus:
    """Combine summary/edevs/pools/status/get_version/devdetails/get_miner_info replies (any may be missing)."""
    summary = parse_v2_summary(summary_block(replies.get("summary")))
    status_msg = flat_msg(replies.get("status"))
    version_msg = flat_msg(replies.get("get_version"))
    info_msg = flat_msg(replies.get("get_miner_info"))
    status = MinerStatus(firmware="btminer")
    status.boards = parse_v2_boards(replies.get("edevs") or replies.get("devs"))
    status.hashrate_hs = summary.get("hashrate_hs")
    rates = [b.hashrate_hs for b in status.boards]
    if status.hashrate_hs is None and rates and None not in rates:
        status.hashrate_hs = sum(rates)  # type: ignore[arg-type]
    status.expected_hashrate_hs = summary.get("expected_hashrate_hs")
    status.power_w = summary.get("power_w")
    status.fan_rpm = summary.get("fan_rpm") or []
    status.uptime_s = summary.get("uptime_s")
    status.shares_accepted = summary.get("shares_accepted")
    status.shares_rejected = summary.get("shares_rejected")
    status.frequency_mhz = summary.get("frequency_mhz")
    status.pools = parse_pools(replies.get("pools"))
    # Session only (btminer restarts clear it); the pools' "Best Share" stand in for a flat summary.
    status.best_session_difficulty = (summary.get("best_share") if summary.get("best_share") is not None
                                      else best_share(None, replies.get("pools")))
    devdetails = section(replies.get("devdetails"), "DEVDETAILS")
    status.model = model_name(devdetails[0].get("Model") if devdetails else None) or model_name(
        version_msg.get("miner_type"))
    status.firmware_version = (clean_firmware_version(version_msg.get("fw_ver")) or summary.get("firmware_version")
                               or clean_firmware_version(status_msg.get("FirmwareVersion")
                                                         or status_msg.get("Firmware Version")))
    status.mac = _mac(info_msg.get("mac")) or summary.get("mac")
    hostname = info_msg.get("hostname")
    status.hostname = hostname.strip() if isinstance(hostname, str) and hostname.strip() else None
    temps = [t for b in status.boards for t in (b.chip_temp_c, b.temp_c) if t is not None]
    temps += [t for t in (summary.get("chip_temp_max"), summary.get("board_temp")) if t is not None]
    status.temp_c = max(temps) if temps else None
    status.errors.extend(summary.get("errors") or [])
    _set_state(status, is_off(status_msg))
    return status


def _set_state(status: MinerStatus, off: bool | None) -> None:
    if off:
        status.state = "sleeping"
        # btminer is stopped: nothing is hashed. The firmware said so; this is not a guess.
        status.hashrate_hs = 0.0
        if status.power_w == 0:
            status.power_w = 0.0
    elif status.hashrate_hs == 0:
        status.state = "idle"
    if status.power_w == 0 and status.state != "sleeping":
        status.power_w = None  # a 0 W reading while not asleep is a PSU that reports nothing


# --- API 3.x ---------------------------------------------------------------------------------
def v3_msg(reply: Mapping[str, Any] | None, key: str | None = None) -> Any:
    """``msg`` (or ``msg[key]``) of an API 3 reply; None when absent."""
    if not isinstance(reply, Mapping):
        return None
    msg = reply.get("msg")
    if key is None:
        return msg
    return msg.get(key) if isinstance(msg, Mapping) else None


def _bool_text(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def parse_v3_pools(pools: Any) -> list[PoolStatus]:
    """get.miner.status pools -> PoolStatus list (status "alive", "stratum-active", account = user)."""
    out = []
    if not isinstance(pools, list):
        return out
    for position, entry in enumerate(pools):
        if not isinstance(entry, Mapping):
            continue
        url = entry.get("url")
        if not isinstance(url, str) or not url.strip():
            continue
        priority = integer(entry.get("pool-priority"))
        out.append(PoolStatus(
            url=url.strip(),
            user=str(entry.get("account") or ""),
            status=str(entry.get("status") or ""),
            active=entry.get("stratum-active") is True,
            priority=priority if priority is not None else position,
            accepted=integer(entry.get("accepted")),
            rejected=integer(entry.get("rejected")),
        ))
    return sorted(out, key=lambda p: p.priority if p.priority is not None else 1 << 30)


def parse_v3_boards(edevs: Any) -> list[BoardStatus]:
    """get.miner.status edevs -> boards (hash-average TH/s, effective-chips, chip-temp-*, freq)."""
    boards = []
    if not isinstance(edevs, list):
        return boards
    for position, dev in enumerate(edevs):
        if not isinstance(dev, Mapping):
            continue
        number = integer(dev.get("slot", dev.get("id")))
        factory = positive(dev.get("factory-hash"))
        boards.append(BoardStatus(
            index=number if number is not None else position,
            hashrate_hs=_rate(dev, _V3_RATE_KEYS, TH),
            expected_hashrate_hs=factory * TH if factory is not None else None,
            chip_temp_c=positive(dev.get("chip-temp-max")),
            chips=integer(dev.get("effective-chips")),
            frequency_mhz=positive(dev.get("freq")),
        ))
    return boards


def parse_v3(device_info: Mapping[str, Any] | None, summary: Mapping[str, Any] | None,
             edevs: Any = None, pools: Any = None, miner: Mapping[str, Any] | None = None) -> MinerStatus:
    """get.device.info msg + get.miner.status summary/edevs/pools -> MinerStatus (TH/s -> H/s).

    ``miner`` is a fresher get.device.info "miner" section (working true/false).
    """
    info = device_info if isinstance(device_info, Mapping) else {}
    block = summary if isinstance(summary, Mapping) else {}
    system = info.get("system") if isinstance(info.get("system"), Mapping) else {}
    network = info.get("network") if isinstance(info.get("network"), Mapping) else {}
    miner_info = miner if isinstance(miner, Mapping) else (
        info.get("miner") if isinstance(info.get("miner"), Mapping) else {})
    status = MinerStatus(firmware="btminer")
    status.hashrate_hs = _rate(block, _V3_RATE_KEYS, TH)
    factory = positive(block.get("factory-hash"))
    status.expected_hashrate_hs = factory * TH if factory is not None else None
    status.power_w = _watts(block.get("power-realtime"))
    status.fan_rpm = [rpm for rpm in (integer(block.get("fan-speed-in")), integer(block.get("fan-speed-out"))) if rpm]
    status.uptime_s = integer(block.get("elapsed"))
    # No best share in API 3 (vendor get.miner.status summary, pyasic's BTMinerV3 pool model):
    # best_difficulty and best_session_difficulty stay None.
    status.frequency_mhz = positive(block.get("freq-avg"))
    status.boards = parse_v3_boards(edevs)
    status.pools = parse_v3_pools(pools)
    model_raw = miner_info.get("type")
    if not model_raw and isinstance(info.get("miner"), Mapping):
        model_raw = info["miner"].get("type")
    status.model = model_name(model_raw)
    status.firmware_version = clean_firmware_version(system.get("fwversion"))
    status.mac = _mac(network.get("mac"))
    hostname = network.get("hostname")
    status.hostname = hostname.strip() if isinstance(hostname, str) and hostname.strip() else None
    temps = [b.chip_temp_c for b in status.boards if b.chip_temp_c is not None]
    temps += [t for t in (positive(block.get("chip-temp-max")),) if t is not None]
    board_temps = block.get("board-temperature")
    if isinstance(board_temps, list):
        temps += [t for t in (positive(v) for v in board_temps) if t is not None]
    status.temp_c = max(temps) if temps else None
    codes = info.get("error-code")
    if isinstance(codes, list):
        for entry in codes:
            if isinstance(entry, Mapping):  # {"531": "2025-03-12 14:52:35", "reason": "Slot1 not found."}
                reason = entry.get("reason")
                status.errors.extend(f"error code {k}" + (f": {reason}" if isinstance(reason, str) and reason else "")
                                     for k in entry if k != "reason")
            elif entry not in (None, ""):
                status.errors.append(f"error code {entry}")
    working = _bool_text(miner_info.get("working"))
    _set_state(status, None if working is None else not working)
    return status
