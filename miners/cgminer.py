"""Generic cgminer-API driver (port 4028): pure parsers for summary/stats/devs/pools/version, and the driver."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from . import cgminer_api
from .base import (
    POOLS,
    RESTART,
    BoardStatus,
    MinerDriver,
    MinerProtocolError,
    MinerStatus,
    PoolConfig,
    PoolStatus,
)
from .cgminer_api import APIError, CGMinerClient, CommandResults, EmptyReply, escape_parameter, reply_guard
from .stratum import validate_pools
from .values import difficulty, integer, num, positive, scrub

log = logging.getLogger(__name__)

GH = 1e9
MH = 1e6
_UNIT_SCALE = {"H": 1.0, "KH": 1e3, "MH": MH, "GH": GH, "TH": 1e12, "PH": 1e15}
# Hashrate keys in order of preference: a short window first (what the miner does now),
# the session average last. The unit is in the name ("MHS" = MH/s, "GHS" = GH/s), except
# on scrypt/X11 Antminers, whose "GHS" numbers are MH/s (see antminer.py).
_HASHRATE_KEYS = ("5s", "30s", "1m", "5m", "15m", "30m", "av")
# Keys naming the mining software in VERSION[0] / STATS[0] (firmware name, lower-cased).
_SOFTWARE_KEYS = ("BOSer", "BOSminer+", "BOSminer", "LUXminer", "BMMiner", "CGMiner", "Cgminer", "bmminer",
                  "cgminer", "BTMiner", "btminer")
_MAX_CHAINS = 16


# --- value helpers (num, integer, positive live in values.py; imported above for the parsers here) -----
def dashed_max(value: Any) -> float | None:
    """Hottest of an X17/X19 "a-b-c-d" sensor string; 0 means no sensor."""
    if not isinstance(value, str):
        return positive(value)
    readings = [num(part) for part in value.split("-")]
    readings = [r for r in readings if r is not None and r > 0]
    return max(readings) if readings else None


def section(reply: Mapping[str, Any] | None, name: str) -> list[dict[str, Any]]:
    """The list under an upper-case section name (SUMMARY, POOLS, ...), dicts only."""
    if not reply:
        return []
    items = reply.get(name)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def hashrate_from(block: Mapping[str, Any], ghs_scale: float = GH) -> float | None:
    """Hashrate in H/s from "GHS 5s"/"MHS 5s"/.../"MHS av" keys; ``ghs_scale`` is H/s per "GHS" unit."""
    for window in _HASHRATE_KEYS:
        for prefix, scale in (("GHS", ghs_scale), ("MHS", MH)):
            value = num(block.get(f"{prefix} {window}"))
            if value is not None:
                return value * scale
    return None


# --- pure parsers --------------------------------------------------------------------------
def parse_summary(reply: Mapping[str, Any] | None, *, ghs_scale: float = GH) -> dict[str, Any]:
    """SUMMARY[0] -> hashrate_hs, uptime_s, shares, power_w (only where the firmware reports watts)."""
    blocks = section(reply, "SUMMARY")
    if not blocks:
        return {}
    block = blocks[0]
    out: dict[str, Any] = {
        "hashrate_hs": hashrate_from(block, ghs_scale),
        "uptime_s": integer(block.get("Elapsed")),
        "shares_accepted": integer(block.get("Accepted")),
        "shares_rejected": integer(block.get("Rejected")),
    }
    # Whatsminer btminer (API 2.x) reports wall power in SUMMARY "Power" (W; -1 when
    # unknown). Stock cgminer/bmminer have no such key, so their power stays None.
    out["power_w"] = positive(block.get("Power"))
    factory = positive(block.get("Factory GHS"))  # Whatsminer nominal, always GH/s
    if factory is not None:
        out["expected_hashrate_hs"] = factory * GH
    return out


def _chain_numbers(block: Mapping[str, Any]) -> list[int]:
    """Chain numbers present in a bmminer device block (1..4 on X17/X19/L3, 6..8 on S9)."""
    present = []
    for n in range(1, _MAX_CHAINS + 1):
        chips = integer(block.get(f"chain_acn{n}"))
        rate = block.get(f"chain_rate{n}")
        if (chips or 0) > 0 or (isinstance(rate, str) and rate.strip()) or positive(rate) is not None:
            present.append(n)
    return present


def parse_stats(reply: Mapping[str, Any] | None, *, ghs_scale: float = GH) -> dict[str, Any]:
    """bmminer-style STATS -> boards (chains), fans, temps, expected hashrate, model, firmware."""
    blocks = section(reply, "STATS")
    out: dict[str, Any] = {}
    if not blocks:
        return out
    head = blocks[0]
    if isinstance(head.get("Type"), str):
        out["model"] = head["Type"]
    out.update(_software(head))
    device = next((b for b in blocks if any(k.startswith(("chain_acn", "fan", "GHS")) for k in b)), None)
    if device is None:
        return out
    # rate_unit ("GH"/"MH") names the unit of chain_rate*/total_rateideal where present.
    unit = device.get("rate_unit")
    scale = _UNIT_SCALE.get(unit.upper(), ghs_scale) if isinstance(unit, str) else ghs_scale
    out["hashrate_hs"] = hashrate_from(device, ghs_scale)
    out["uptime_s"] = integer(device.get("Elapsed"))
    ideal = positive(device.get("total_rateideal"))
    out["expected_hashrate_hs"] = ideal * scale if ideal is not None else None

    numbers = _chain_numbers(device)
    # S9 numbers its chains 6..8 (pyasic); report them from 0 like every other model,
    # but keep a gap where a chain is missing (S19 with chain 1 dead -> boards 1, 2).
    base = 6 if numbers and min(numbers) >= 6 else 1
    boards = []
    for n in numbers:
        rate = num(device.get(f"chain_rate{n}"))
        ideal_n = positive(device.get(f"chain_rateideal{n}"))
        chip_temp = dashed_max(device.get(f"temp_chip{n}")) or positive(device.get(f"temp2_{n}"))
        board_temp = dashed_max(device.get(f"temp_pcb{n}")) or positive(device.get(f"temp{n}"))
        states = device.get(f"chain_acs{n}")
        boards.append(BoardStatus(
            index=n - base,
            hashrate_hs=rate * scale if rate is not None else None,
            expected_hashrate_hs=ideal_n * scale if ideal_n is not None else None,
            temp_c=board_temp,
            chip_temp_c=chip_temp,
            chips=integer(device.get(f"chain_acn{n}")),
            frequency_mhz=positive(device.get(f"freq{n}")) or positive(device.get(f"freq_avg{n}")),
            chip_states=states.strip() if isinstance(states, str) and states.strip() else None,
            hardware_errors=integer(device.get(f"chain_hw{n}")),
        ))
    out["boards"] = boards
    out["fan_rpm"] = _fans(device)
    freq = positive(device.get("total_freqavg")) or positive(device.get("frequency"))
    out["frequency_mhz"] = freq
    return out


def _fans(device: Mapping[str, Any]) -> list[int]:
    """fanN RPMs. With fan_num = k and the running fans among fan1..fank, report fan1..fank
    (a stopped fan shows as 0 there, which matters); with none turning, k zeros; otherwise
    (S9: fan_num 2, fans at fan5/fan6) only the fans that turn."""
    values = {n: integer(device.get(f"fan{n}")) for n in range(1, _MAX_CHAINS + 1)}
    running = [n for n, rpm in values.items() if rpm]
    count = integer(device.get("fan_num")) or 0
    # fan_num above the fanN keys read is a lie (a loop to 10**30 would never end): only the turning fans then.
    if count and running and max(running) <= count <= _MAX_CHAINS:
        return [values[n] or 0 for n in range(1, count + 1)]
    if not running and 0 < count <= _MAX_CHAINS and any(v is not None for v in values.values()):
        return [0] * count  # fanN keys sent and every one 0: the fans stopped (not "no fans"), which must show
    return [values[n] for n in running]  # type: ignore[misc]


def parse_devs(reply: Mapping[str, Any] | None, *, ghs_scale: float = GH) -> list[BoardStatus]:
    """DEVS (one entry per board/ASC) -> boards; dummy temperatures (-273, 0) are dropped."""
    boards = []
    for position, dev in enumerate(section(reply, "DEVS")):
        temp = num(dev.get("Temperature"))
        number = integer(dev.get("ID", dev.get("ASC")))
        boards.append(BoardStatus(
            index=number if number is not None else position,
            hashrate_hs=hashrate_from(dev, ghs_scale),
            temp_c=temp if temp is not None and temp > 0 else None,  # Avalon reports -273.0 (unused)
            chip_temp_c=positive(dev.get("Chip Temp Max")),  # Whatsminer
            chips=integer(dev.get("Effective Chips")),  # Whatsminer
            frequency_mhz=positive(dev.get("Chip Frequency")),  # Whatsminer
            hardware_errors=integer(dev.get("Hardware Errors")),
        ))
    return boards


def parse_pools(reply: Mapping[str, Any] | None) -> list[PoolStatus]:
    """POOLS -> PoolStatus list by priority; empty slots skipped; passwords never copied."""
    entries = []
    for entry in section(reply, "POOLS"):
        url = entry.get("URL")
        if not isinstance(url, str) or not url.strip():
            continue  # unconfigured slot (stock firmware always lists three)
        pool = PoolStatus(
            url=url.strip(),
            user=str(entry.get("User") or ""),
            status=str(entry.get("Status") or ""),
            priority=integer(entry.get("Priority")),
            accepted=integer(entry.get("Accepted")),
            rejected=integer(entry.get("Rejected")),
        )
        entries.append((pool, entry.get("Stratum Active")))
    entries.sort(key=lambda e: e[0].priority if e[0].priority is not None else 1 << 30)
    # cgminer mines on the highest-priority pool that is alive (failover); "Stratum
    # Active" alone is true for every connected pool, so it cannot mark the one in use.
    for pool, stratum_active in entries:
        if pool.status.lower() == "alive" and stratum_active is not False:
            pool.active = True
            break
    return [pool for pool, _ in entries]


def best_share(summary_reply: Mapping[str, Any] | None, pools_reply: Mapping[str, Any] | None) -> float | None:
    """The session best share: SUMMARY "Best Share", else the highest per-pool "Best Share"; None if neither.

    It is cgminer's global ``best_diff``: the best share since cgminer started, in
    memory only (a restart, or the API's ``zero`` command, clears it: cgminer.c
    ``best_diff``, ``zero_stats``), so it is a session value, never an all-time one.
    bmminer, BOSminer, btminer and Avalon's cgminer keep it the same way. cgminer
    raises the global and the pool's ``best_diff`` together, so the summary value is
    the highest of the pools'; the pools only stand in where a summary lacks it.
    """
    summary = section(summary_reply, "SUMMARY")
    value = difficulty(summary[0].get("Best Share")) if summary else None
    if value is not None:
        return value
    per_pool = [d for d in (difficulty(p.get("Best Share")) for p in section(pools_reply, "POOLS")) if d is not None]
    return max(per_pool) if per_pool else None


def _software(block: Mapping[str, Any]) -> dict[str, Any]:
    """Firmware name/version from a VERSION[0] or STATS[0] block."""
    out: dict[str, Any] = {}
    for key in _SOFTWARE_KEYS:
        if key in block and block[key] not in (None, ""):
            out["firmware"] = key.lower()
            out["firmware_version"] = str(block[key])
            break
    # Stock Antminer: CompileTime (the firmware build date) identifies the firmware best;
    # Avalon: VERSION ("24102401_25462b2_9ddf522").
    for key in ("CompileTime", "VERSION", "LVERSION", "Firmware Version"):
        value = block.get(key)
        if isinstance(value, str) and value.strip():
            out["firmware_version"] = value.strip().strip("'")  # Whatsminer wraps it in '...'
            break
    return out


def model_from_type(text: str) -> str:
    """Model from a `Type` string: "Antminer S9 (vnish 3.8.6)" -> "Antminer S9"."""
    return re.sub(r"\s*\(.*\)\s*$", "", text).strip()


def parse_version(reply: Mapping[str, Any] | None) -> dict[str, Any]:
    """VERSION[0] -> model (Type / PROD), firmware name and version."""
    blocks = section(reply, "VERSION")
    if not blocks:
        return {}
    block = blocks[0]
    out = _software(block)
    for key in ("Type", "PROD", "Model", "MODEL"):
        value = block.get(key)
        if isinstance(value, str) and value.strip():
            out["model"] = model_from_type(value)
            break
    return out


def parse_cgminer(replies: Mapping[str, Mapping[str, Any]], *, ghs_scale: float = GH) -> MinerStatus:
    """Combine summary/stats/devs/pools/version replies into one MinerStatus (pure)."""
    summary = parse_summary(replies.get("summary"), ghs_scale=ghs_scale)
    stats = parse_stats(replies.get("stats"), ghs_scale=ghs_scale)
    version = parse_version(replies.get("version"))
    status = MinerStatus()
    status.hashrate_hs = summary.get("hashrate_hs")
    if status.hashrate_hs is None:
        status.hashrate_hs = stats.get("hashrate_hs")
    status.expected_hashrate_hs = stats.get("expected_hashrate_hs") or summary.get("expected_hashrate_hs")
    status.power_w = summary.get("power_w")
    status.uptime_s = summary.get("uptime_s") if summary.get("uptime_s") is not None else stats.get("uptime_s")
    status.shares_accepted = summary.get("shares_accepted")
    status.shares_rejected = summary.get("shares_rejected")
    status.best_session_difficulty = best_share(replies.get("summary"), replies.get("pools"))  # session only
    status.boards = stats.get("boards") or parse_devs(replies.get("devs"), ghs_scale=ghs_scale)
    board_rates = [b.hashrate_hs for b in status.boards]
    if status.hashrate_hs is None and board_rates and None not in board_rates:
        status.hashrate_hs = sum(board_rates)  # type: ignore[arg-type]  # only devs answered
    status.fan_rpm = stats.get("fan_rpm") or []
    status.frequency_mhz = stats.get("frequency_mhz")
    status.pools = parse_pools(replies.get("pools"))
    status.model = version.get("model") or (model_from_type(stats["model"]) if stats.get("model") else None)
    status.firmware = version.get("firmware") or stats.get("firmware")
    status.firmware_version = version.get("firmware_version") or stats.get("firmware_version")
    temps = [t for b in status.boards for t in (b.chip_temp_c, b.temp_c) if t is not None]
    status.temp_c = max(temps) if temps else None
    if status.hashrate_hs == 0:
        status.state = "idle"  # answering but not hashing (sleeping, starting, or all chains down)
    return status


# --- the driver -----------------------------------------------------------------------------
class CGMinerDriver(MinerDriver):
    """Any miner that speaks the cgminer JSON API on 4028: reads, restart, pools (where allowed)."""

    family: ClassVar[str] = "cgminer"
    default_port: ClassVar[int] = cgminer_api.DEFAULT_PORT
    capabilities: ClassVar[frozenset[str]] = frozenset({RESTART, POOLS})
    read_commands: ClassVar[tuple[str, ...]] = ("summary", "stats", "pools", "devs")
    max_pools: ClassVar[int] = 3

    def __init__(self, host: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.api = CGMinerClient(self.host, self.port, self.timeout)  # its VERSION cache is the subclasses' too

    # hooks for subclasses
    def ghs_scale(self, model: str | None) -> float:
        """H/s per unit of the "GHS" fields for this model."""
        return GH

    def _read_replies(self) -> tuple[dict[str, Any], CommandResults]:
        """``read_commands`` (+ ``version`` the first time; it is cached) in as few requests as allowed.

        Returns the replies, with the cached version merged in, and the raw results
        (for the per-command errors). Raises when neither summary nor stats answered.
        """
        results = self.api.read(self.read_commands)
        if "summary" not in results.replies and "stats" not in results.replies:
            raise results.errors.get("summary") or MinerProtocolError("no summary or stats in the reply")
        return dict(results.replies), results

    @reply_guard
    def read(self) -> MinerStatus:
        """Read summary/stats/pools/devs (+ version once) in one request where the firmware allows."""
        replies, results = self._read_replies()
        model = parse_version(self.api.version).get("model") or parse_stats(replies.get("stats")).get("model")
        status = parse_cgminer(replies, ghs_scale=self.ghs_scale(model))
        status.errors.extend(f"{cmd}: {err.msg}" for cmd, err in results.errors.items())
        return status

    def restart(self) -> None:
        """cgminer `restart` (restarts the mining process, not the OS)."""
        try:
            self.api.send("restart")
        except EmptyReply:
            pass  # some builds close the socket as they go down; that is the restart
        self.api.forget_version()

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Replace the pools with addpool + switchpool + poolpriority + removepool (privileged)."""
        checked = validate_pools(pools, max_pools=self.max_pools)
        secrets = [p.password for p in pools if p.password]
        try:
            self._replace_pools([pool for _, _, pool in checked])
        except APIError as exc:
            raise type(exc)(exc.command, exc.code, scrub(exc.msg, secrets), exc.status) from None

    def _replace_pools(self, pools: list[PoolConfig]) -> None:
        send = self.api.send
        old = section(send("pools"), "POOLS")
        old_ids = sorted((i for i in (integer(p.get("POOL")) for p in old) if i is not None), reverse=True)
        new_ids: list[int] = []
        for pool in pools:
            param = ",".join(escape_parameter(v) for v in (pool.url.strip(), pool.user, pool.password))
            reply = send("addpool", param)
            new_ids.append(added_pool_id(reply, fallback=len(old) + len(new_ids)))
        send("switchpool", str(new_ids[0]))
        send("poolpriority", ",".join(map(str, new_ids)))
        # Remove the old pools from the highest number down: cgminer moves its LAST pool
        # into a removed slot, so removing in descending order keeps every old number valid.
        for pool_id in old_ids:
            try:
                send("removepool", str(pool_id))
            except APIError as exc:
                log.warning("%s: could not remove old pool %d: %s", self.host, pool_id, exc.msg)


def added_pool_id(reply: Mapping[str, Any], fallback: int) -> int:
    """Pool number from cgminer's addpool Msg "Added pool 3: 'url'"."""
    msg = next((str(s.get("Msg", "")) for s in section(reply, "STATUS")), "")
    match = re.search(r"pool (\d+)", msg, re.IGNORECASE)
    return int(match.group(1)) if match else fallback
