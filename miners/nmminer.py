"""NMMiner / NMAxe (NMTech ESP32 lottery miners): UDP telemetry broadcasts and the UDP config datagram.

NerdMiner v2 (BitMaker-hub/NerdMiner_v2) has NO LAN API at all: its only HTTP
server is the WiFiManager captive portal used for setup in AP mode (issue #223,
"API to check miner status", is open). It cannot be monitored or controlled
from the LAN; watch it on the pool's side, and switch it with a smart plug.

NMMiner (closed-source firmware, github:NMminer1024/NMMiner) and NMAxe
(github:NMminer1024/ESP-Miner-NMAxe) have no request/reply API this driver uses:

- **Telemetry is pushed.** Every device broadcasts one JSON datagram to UDP
  12345 (NMAxe every 2 s: ``swarm_thread_entry`` sends when ``swarm_cnt % 20``
  with a 100 ms loop). Nothing can be asked for: ``read()`` returns the latest
  datagram the listener (services/nmminer_listener.py) put into ``TELEMETRY``,
  and a miner that stopped broadcasting is unreachable, not "0 H/s".
- **Configuration is one JSON datagram to UDP 12347**, with ``"IP"`` naming the
  device that must apply it; ``"0.0.0.0"`` means EVERY device that hears it.
  No acknowledgement, no authentication, no error reply.
- **No power reading on NMMiner** (a bare ESP32): ``power_w`` is None. NMAxe
  (a BM1366/BM1370 board with a power monitor) adds ``"Power": "12.3W"``.

Wire format: the vendor README (NMController_client README.md @ 0d16a22) shows a
simplified example; the vendor's own code is more exact and is followed here
where they differ:

| field | README example | firmware / vendor tool |
| --- | --- | --- |
| device IP | ``"IP"`` | NMAxe sends ``"ip"`` (monitor.cpp @ 00bdcb3a); NMController_web reads ``"ip"``; NMController_client reads ``IP`` case-insensitively (Newtonsoft) |
| ``HashRate`` | ``"113.13K"`` | ``formatNumber(h, 5) + "H/s"`` = ``"113.13KH/s"`` (NMAxe; NMController_client HashRateComparer cuts 4 chars: SI letter + "H/s") |
| ``Share`` | ``"1/138"`` | rejected/accepted (NMController_web column "Share (Reject/Accept)"); NMAxe appends ``/<accepted %>%`` |
| ``BestDiff``, ``Uptime`` | one value | NMAxe: ``session + "\\r" + all-time`` (NMController_client HashComparer splits on "\\r") |

Capabilities: POOLS only. There is no LAN restart, sleep, power or frequency
control in the UDP protocol. (NMMiner firmware 2.x documents an HTTP API on port
80 - docs/api-reference.md @ 233e58a: /api/system/info, /api/setting/mining,
/api/system/restart - which this driver does not use; see miners/README.md.)
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from .base import POOLS, MinerDriver, MinerProtocolError, MinerStatus, MinerUnreachable, PoolConfig, PoolStatus
from .stratum import validate_pools
from .values import difficulty, num, si_number, stripped

log = logging.getLogger(__name__)

TELEMETRY_PORT = 12345  # every device broadcasts its JSON status here
CONFIG_PORT = 12347  # the config datagram goes here
STALE_AFTER_S = 30.0  # NMAxe broadcasts every 2 s; 30 s is many missed broadcasts, not one lost datagram
# NMController_client (ConfigWnd.xaml.cs BroadcastNMParamAsync) sends each config datagram
# 10 times, 100 ms apart: UDP may drop one and the firmware never acknowledges.
CONFIG_REPEATS = 10
CONFIG_GAP_S = 0.1
MAX_DATAGRAM = 2048  # NMAxe serialises into a 1024-byte buffer

_HS_UNIT = re.compile(r"\s*H/s\s*$")  # "113.13KH/s": the unit after the SI letter
_UPTIME_RE = re.compile(r"^\s*(\d+)\s*d\s+(\d+):(\d{1,2}):(\d{1,2})\s*$")
_POWER_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*W\s*$", re.IGNORECASE)


# --- pure parsers ------------------------------------------------------------------------------
def parse_si(value: Any) -> float | None:
    """"113.13K" / "113.13KH/s" / "89.47T" / "0.001" / 42 -> a plain number; None if it is none of those."""
    if isinstance(value, str):
        value = _HS_UNIT.sub("", value)
    return si_number(value)  # the one SI parser every driver shares (miners/values.py)


def _split_r(value: Any) -> list[str]:
    """NMAxe joins a session value and an all-time value with a carriage return."""
    return [part.strip() for part in value.split("\r")] if isinstance(value, str) else []


def parse_share(value: Any) -> tuple[int | None, int | None]:
    """"1/138" or "1/138/99.3%" -> (rejected, accepted); (None, None) if unparseable."""
    if not isinstance(value, str):
        return None, None
    parts = value.strip().split("/")
    if len(parts) < 2 or not parts[0].strip().isdigit() or not parts[1].strip().isdigit():
        return None, None
    return int(parts[0]), int(parts[1])


def parse_uptime(value: Any) -> int | None:
    """"00d 01:23:46" -> 5026 seconds (the first value when NMAxe adds "\\r<all-time>"); None otherwise."""
    parts = _split_r(value)
    match = _UPTIME_RE.match(parts[0]) if parts else None
    if not match:
        return None
    days, hours, minutes, seconds = (int(g) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_power(value: Any) -> float | None:
    """NMAxe "12.3W" -> 12.3; None when absent (NMMiner has no power sensor)."""
    if isinstance(value, str):
        match = _POWER_RE.match(value)
        return float(match.group(1)) if match else None
    return None


def _num(value: Any) -> float | None:
    """A JSON number only: NMMiner sends numbers as numbers, and text such as "1.7" is a version, not a value."""
    return num(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True, slots=True)
class NMTelemetry:
    """One telemetry broadcast, in explicit units (H/s, degrees C, dBm, KB, seconds)."""

    ip: str
    hashrate_hs: float | None = None
    board_type: str | None = None
    firmware: str = "NMMiner"  # "NMMiner" or "NMAxe"
    version: str | None = None
    shares_accepted: int | None = None
    shares_rejected: int | None = None
    net_diff: float | None = None
    pool_diff: float | None = None
    last_diff: float | None = None
    # NMAxe sends "session\rall-time" (monitor.cpp); NMMiner one value, read as the session's
    # like NMAxe's first (unverified: its firmware is closed; its HTTP API, unused here, has
    # both, /probe "sbd" session and "ebd" all-time, docs/api-reference.md @ 233e58a).
    best_diff: float | None = None
    best_diff_ever: float | None = None
    blocks_found: int | None = None  # "Valid": block hits
    progress: float | None = None  # "Progress": meaning not documented by the vendor
    temp_c: float | None = None  # NMMiner: ESP32 chip; NMAxe: ASIC
    rssi_dbm: float | None = None
    free_heap_kb: float | None = None
    uptime_s: int | None = None  # since boot
    pool_in_use: str | None = None  # "host:port" as the firmware reports it (no scheme)
    power_w: float | None = None  # NMAxe only


def parse_telemetry(data: bytes | str | dict[str, Any]) -> NMTelemetry:
    """One UDP 12345 datagram (bytes, text or parsed JSON) -> NMTelemetry (pure; MinerProtocolError if malformed)."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise MinerProtocolError("NMMiner telemetry is not UTF-8 text") from None
    if isinstance(data, str):
        try:
            data = json.loads(data.strip().rstrip("\x00"))  # a C-string NUL would not be JSON
        except ValueError:
            raise MinerProtocolError("NMMiner telemetry is not JSON") from None
    if not isinstance(data, dict):
        raise MinerProtocolError("NMMiner telemetry is not a JSON object")
    # Key case differs between firmwares ("IP" on NMMiner, "ip" on NMAxe); the vendor's own
    # Windows client matches names case-insensitively, so this does too.
    doc = {str(k).lower(): v for k, v in data.items()}
    ip_text = stripped(doc.get("ip"))
    try:
        ip = str(ipaddress.IPv4Address(ip_text)) if ip_text else None
    except ValueError:
        ip = None
    if ip is None:
        raise MinerProtocolError("NMMiner telemetry has no valid IP field")
    if "hashrate" not in doc:
        raise MinerProtocolError("NMMiner telemetry has no HashRate field")
    board = stripped(doc.get("boardtype"))
    rejected, accepted = parse_share(doc.get("share"))
    best = _split_r(doc.get("bestdiff"))
    firmware = "NMAxe" if (board and "axe" in board.lower()) or "power" in doc else "NMMiner"
    valid = _num(doc.get("valid"))
    return NMTelemetry(
        ip=ip,
        hashrate_hs=parse_si(doc.get("hashrate")),
        board_type=board,
        firmware=firmware,
        version=stripped(doc.get("version")),
        shares_accepted=accepted,
        shares_rejected=rejected,
        net_diff=parse_si(doc.get("netdiff")),
        pool_diff=parse_si(doc.get("pooldiff")),
        last_diff=parse_si(doc.get("lastdiff")),
        best_diff=difficulty(best[0]) if best else difficulty(doc.get("bestdiff")),
        best_diff_ever=difficulty(best[1]) if len(best) > 1 else None,
        blocks_found=int(valid) if valid is not None else None,
        progress=_num(doc.get("progress")),
        temp_c=_num(doc.get("temp")),
        rssi_dbm=_num(doc.get("rssi")),
        free_heap_kb=_num(doc.get("freeheap")),
        uptime_s=parse_uptime(doc.get("uptime")),
        pool_in_use=stripped(doc.get("poolinuse")),
        power_w=parse_power(doc.get("power")),
    )


def to_status(telemetry: NMTelemetry) -> MinerStatus:
    """NMTelemetry -> MinerStatus (power stays None unless an NMAxe reported it)."""
    status = MinerStatus(
        hashrate_hs=telemetry.hashrate_hs,
        power_w=telemetry.power_w,
        temp_c=telemetry.temp_c,
        uptime_s=telemetry.uptime_s,
        shares_accepted=telemetry.shares_accepted,
        shares_rejected=telemetry.shares_rejected,
        best_difficulty=telemetry.best_diff_ever,
        best_session_difficulty=telemetry.best_diff,
        model=telemetry.board_type,
        firmware=telemetry.firmware,
        firmware_version=telemetry.version,
    )
    if telemetry.pool_in_use:
        # The firmware reports only host:port of the pool it is connected to: no scheme,
        # no worker name, no failover list; shown as reported.
        status.pools = [PoolStatus(url=telemetry.pool_in_use, status="in use", active=True, priority=None,
                                   accepted=telemetry.shares_accepted, rejected=telemetry.shares_rejected)]
    return status


# --- the telemetry store the listener fills ------------------------------------------------------
class TelemetryStore:
    """Latest telemetry per miner IP with its receive time; thread-safe.

    The listener (services/nmminer_listener.py) writes, drivers read: miners/ never
    imports services/, so the store lives here and is shared through ``TELEMETRY``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = 4096) -> None:
        self._clock = clock
        self.max_entries = max_entries  # UDP sources are easy to spoof: the store must not grow without end
        self._lock = threading.Lock()
        self._data: dict[str, tuple[NMTelemetry, float]] = {}

    def put(self, ip: str, telemetry: NMTelemetry, received: float | None = None) -> None:
        """Store the newest telemetry of ``ip`` (received now unless given, on the store's clock)."""
        with self._lock:
            self._data[ip] = (telemetry, self._clock() if received is None else received)
            if len(self._data) > self.max_entries:
                oldest = min(self._data, key=lambda key: self._data[key][1])
                del self._data[oldest]

    def get(self, ip: str) -> tuple[NMTelemetry, float] | None:
        """(telemetry, age in seconds) of ``ip``, or None if nothing was ever received."""
        with self._lock:
            entry = self._data.get(ip)
        if entry is None:
            return None
        telemetry, received = entry
        return telemetry, max(0.0, self._clock() - received)

    def ips(self) -> list[str]:
        """Every IP telemetry was received from."""
        with self._lock:
            return list(self._data)

    def forget(self, ip: str) -> None:
        """Drop one miner's telemetry."""
        with self._lock:
            self._data.pop(ip, None)

    def clear(self) -> None:
        """Drop everything (tests)."""
        with self._lock:
            self._data.clear()


TELEMETRY = TelemetryStore()


# --- the driver ------------------------------------------------------------------------------------
class NMMinerDriver(MinerDriver):
    """An NMMiner / NMAxe: reads from the broadcast telemetry store, writes pools with one UDP datagram.

    ``port`` is the config port (12347 + network.port_offset); telemetry arrives on
    the listener's port, not through this driver.
    """

    family: ClassVar[str] = "nmminer"
    default_port: ClassVar[int] = CONFIG_PORT
    capabilities: ClassVar[frozenset[str]] = frozenset({POOLS})

    def __init__(self, host: str, *, store: TelemetryStore | None = None, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.store = store if store is not None else TELEMETRY
        self.stale_after_s = STALE_AFTER_S
        self.config_repeats = CONFIG_REPEATS
        self.config_gap_s = CONFIG_GAP_S

    def _fresh(self) -> NMTelemetry:
        entry = self.store.get(self.host)
        if entry is None:
            raise MinerUnreachable("no telemetry broadcast from this NMMiner has been received (UDP 12345); "
                                   "is the NMMiner listener enabled and the miner on this LAN?")
        telemetry, age = entry
        if age > self.stale_after_s:
            raise MinerUnreachable(f"no telemetry broadcast from this NMMiner for {int(age)} s")
        return telemetry

    def read(self) -> MinerStatus:
        """The latest broadcast telemetry (MinerUnreachable when none arrived for ``stale_after_s``)."""
        return to_status(self._fresh())

    def config_datagram(self, pools: list[PoolConfig]) -> dict[str, Any]:
        """The JSON object set_pools() sends (contains the pool passwords: never log it)."""
        checked = validate_pools(pools, max_pools=2)
        target = _unicast_target(self.host)
        # "IP" is always this miner's own address, never "0.0.0.0": the firmware applies a
        # datagram whose IP is "0.0.0.0" on EVERY NMMiner/NMAxe that hears it.
        doc: dict[str, Any] = {"IP": target}
        for (_host, _port, pool), prefix in zip(checked, ("Primary", "Secondary")):
            # One field holds the whole URL with its port ("stratum+tcp://host:port"); the worker
            # (BTC address[.name]) is "...Address", the pool password "...Password" (README 2.4).
            doc[f"{prefix}Pool"] = pool.url.strip()
            doc[f"{prefix}Address"] = pool.user
            doc[f"{prefix}Password"] = pool.password
        return doc

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Send the config datagram UNICAST to this miner (Primary/Secondary pool); no reply exists.

        Only the pool fields are sent. The vendor tool always sends the whole settings
        object (WiFi, display, ...); whether the closed-source NMMiner firmware keeps
        the settings a datagram leaves out is not documented (unverified). With one
        pool the secondary pool is left out. The firmware never acknowledges: the next
        broadcasts show the pool in use (it may switch only after a reconnect).
        """
        doc = self.config_datagram(pools)
        self._fresh()  # only a miner that is broadcasting right now is sent anything
        payload = json.dumps(doc, separators=(",", ":")).encode()
        # UNICAST to the miner's own IP and port, never a broadcast address: a broadcast
        # reaches every NMMiner on the LAN (and this tool's tests may only use loopback).
        # SO_BROADCAST stays off, so the kernel itself refuses a broadcast destination.
        deadline = time.monotonic() + self.timeout
        sent = 0
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for i in range(self.config_repeats):
                    if i and time.monotonic() + self.config_gap_s > deadline:
                        break
                    if i:
                        time.sleep(self.config_gap_s)
                    sock.sendto(payload, (doc["IP"], self.port))
                    sent += 1
        except OSError as exc:
            raise MinerUnreachable(f"cannot send the config datagram to {self.host}:{self.port}: "
                                   f"{exc.strerror or type(exc).__name__}") from None
        log.info("%s: pool config sent (%d datagrams, no acknowledgement exists): %s", self.host, sent,
                 ", ".join(p.url for p in pools))


def _unicast_target(host: str) -> str:
    """The miner's own IPv4 address; refuses "0.0.0.0", 255.255.255.255 and multicast (ValueError)."""
    try:
        addr = ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"an NMMiner is addressed by its IPv4 address, got {host!r}") from None
    if addr.is_unspecified or addr == ipaddress.IPv4Address("255.255.255.255") or addr.is_multicast:
        raise ValueError(f"{host} is not one miner's address; a broadcast would reconfigure every NMMiner")
    return str(addr)


__all__ = [
    "CONFIG_PORT", "NMMinerDriver", "NMTelemetry", "STALE_AFTER_S", "TELEMETRY", "TELEMETRY_PORT",
    "TelemetryStore", "parse_power", "parse_share", "parse_si", "parse_telemetry", "parse_uptime", "to_status",
]
