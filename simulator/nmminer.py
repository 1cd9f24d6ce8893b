"""NMMiner / NMAxe (NMTech ESP32 lottery miners): telemetry datagrams out, config datagrams in.

No TCP at all. The miner sends its JSON status every ``interval_s`` to
``telemetry_target`` (default 127.0.0.1:12345 + port_offset, the app listener's
default port) - UNICAST: the real firmware broadcasts to 255.255.255.255:12345,
which the simulator never does (loopback only). It listens for config
datagrams on UDP 12347 (+ offset) on its own loopback address and applies one
only when its "IP" is its own address or "0.0.0.0" (every device), then
reports the new primary pool as PoolInUse. No acknowledgement, no auth: the
firmware has neither.

Shapes (independent of miners/; from the vendor sources named in the protocol
reference, section 10, and the NMAxe firmware):

- NMMiner (closed-source ESP32 firmware): keys as in NMController_client's README
  ("IP", "BoardType", "HashRate", "Share", ...), HashRate with "H/s" as the
  vendor's own client expects (HashRateComparer cuts SI letter + "H/s"), Share
  "rejected/accepted", one BestDiff and one Uptime. No power field.
- NMAxe (model containing "axe"): NMMiner1024/ESP-Miner-NMAxe src/monitor/monitor.cpp
  @ 00bdcb3a swarm_thread_entry: lowercase "ip", Share "rej/acc/pct%", BestDiff and
  Uptime as "session\\rall-time", "Power": "12.3W", "Lastseen".

Not verified against a capture: the NMMiner broadcast interval (NMAxe: 2 s), the
meaning of "Progress", whether the real firmware reconnects at once after a
config datagram or only after a reboot, and how it treats keys a datagram
leaves out (here: unchanged).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from . import faults
from .miner import BindError, SimMiner
from .physics import ShareCounter, noisy
from .spec import MinerSpec

TELEMETRY_PORT = 12345
CONFIG_PORT = 12347
DEFAULT_INTERVAL_S = 2.0  # NMAxe: every 20 loops of 100 ms
NET_DIFF = 126.98e12
MAX_UDP_PAYLOAD = 65507  # IPv4: 65,535 - 8 (UDP header) - 20 (IP header)


@dataclass(frozen=True, slots=True)
class NMBoard:
    """One NMTech-supported board: nominal hashrate and what its firmware reports."""

    board_type: str
    hashrate_hs: float
    temp_c: float
    free_heap_kb: float
    version: str
    power_w: float | None = None  # NMAxe boards measure input power; ESP32 boards cannot
    pool_diff: float = 0.001  # the README example's PoolDiff: lottery pools give ESP32s tiny difficulties


# Hashrates from the NMMiner README table (ESP32) and typical BM1366/BM1370 boards (NMAxe).
BOARDS: dict[str, NMBoard] = {
    "NM-TV-154": NMBoard("NM-TV-154", 1010.9e3, 47.0, 142.6, "v1.8.10"),
    "ESP32-2432S028R": NMBoard("ESP32-2432S028R", 1004.3e3, 49.5, 118.2, "v1.8.10"),
    "LilyGO T-Display S3": NMBoard("LilyGO T-Display S3", 384.5e3, 44.0, 8203.9, "v1.8.10"),
    "NMAxe": NMBoard("NMAxe", 480e9, 55.0, 7950.4, "v2.5.12", power_w=12.1, pool_diff=1024.0),
    "NMAxe-Gamma": NMBoard("NMAxe-Gamma", 1.15e12, 57.0, 7920.8, "v2.5.12", power_w=17.6, pool_diff=2048.0),
}
DEFAULT_BOARD = "NM-TV-154"
DEFAULT_POOLS = (("stratum+tcp://public-pool.io:21496", "18dK8EfyepKuS74fs27iuDJWoGUT4rPto1.nm"),
                 ("stratum+tcp://pool.tazmining.ch:33333", "18dK8EfyepKuS74fs27iuDJWoGUT4rPto1.nm"))


def format_si(value: float, digits: int) -> str:
    """Firmware-style number: ``digits`` significant digits and an SI letter ("113.13K", "89.47T", "0.001")."""
    units = ("", "K", "M", "G", "T", "P", "E")
    i = 0
    value = max(float(value), 0.0)
    while value >= 1000.0 and i < len(units) - 1:
        value /= 1000.0
        i += 1
    whole = len(str(int(value)))
    return f"{value:.{max(digits - whole, 0)}f}{units[i]}"


def format_uptime(seconds: float) -> str:
    """ "00d 01:23:46" """
    s = int(max(seconds, 0))
    return f"{s // 86400:02d}d {s % 86400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def pool_host_port(url: str) -> str:
    """ "stratum+tcp://host:port" -> "host:port" (what PoolInUse shows)."""
    return url.split("://", 1)[-1].strip().rstrip("/")


class _ConfigProtocol(asyncio.DatagramProtocol):
    def __init__(self, miner: NMMinerSim) -> None:
        self.miner = miner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.miner.on_config(data)


class NMMinerSim(SimMiner):
    """An NMMiner or NMAxe on one loopback address: UDP only."""

    kind = "nmminer"
    protocols = ()  # no TCP listener: a port scan finds nothing, as on the real device

    def __init__(self, spec: MinerSpec, *, port_offset: int = 0, seed: int | None = None,
                 allow_any_client: bool = False) -> None:
        super().__init__(spec, port_offset=port_offset, seed=seed, allow_any_client=allow_any_client)
        board = BOARDS.get(spec.model or DEFAULT_BOARD)
        if board is None:  # an unknown board name: an ESP32 of the common kind under that name
            board = NMBoard(spec.model or DEFAULT_BOARD, 1004.0e3, 48.0, 130.0, "v1.8.10")
        self.board = board
        self.axe = "axe" in board.board_type.lower()
        self.version = spec.firmware_version or board.version
        self.telemetry_target: tuple[str, int] = ("127.0.0.1", TELEMETRY_PORT + port_offset)
        self.interval_s = DEFAULT_INTERVAL_S
        pools = list(spec.pools or DEFAULT_POOLS)
        self.pools: list[dict[str, str]] = [
            {"url": url, "user": user, "password": "x"} for url, user in pools[:2]]
        self.pool_in_use = pool_host_port(self.pools[0]["url"]) if self.pools else ""
        self.wifi: dict[str, str] = {}  # WiFiSSID / WiFiPWD if a datagram carried them (never printed)
        self.settings: dict[str, Any] = {}  # the display/time keys a datagram carried
        self.configs_applied = 0
        self.configs_ignored = 0  # meant for another IP, or not JSON
        self.sent = 0
        self.shares = ShareCounter()
        self.uptime_ever_base = 3 * 86400 + 5025.0  # NMAxe keeps an all-time uptime in NVS
        self.best_ever = 4.021e6
        self.blocks = 0
        self._last_advance = self.now()
        self._send_transport: asyncio.DatagramTransport | None = None
        self._config_transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task | None = None

    # --- identity ------------------------------------------------------------------
    @property
    def model(self) -> str:
        """BoardType as the firmware reports it."""
        return self.board.board_type

    def ports(self) -> dict[str, int]:
        """No TCP ports; the UDP config port is listed for information."""
        return {"udp-config": CONFIG_PORT + self.port_offset}

    @property
    def listening(self) -> bool:
        """True while the miner broadcasts and accepts config datagrams."""
        return self._config_transport is not None

    def on_boot(self) -> None:
        """A power cycle: session counters and session best restart from zero."""
        self.uptime_ever_base += self.uptime_s
        super().on_boot()
        self.shares = ShareCounter()
        self._last_advance = self.now()

    # --- telemetry -------------------------------------------------------------------
    def _advance(self) -> float:
        now = self.now()
        hashrate = max(noisy(self.rng, self.board.hashrate_hs, 0.01), 0.0)
        self.shares.advance(self.rng, now - self._last_advance, hashrate, self.board.pool_diff,
                            reject_ratio=0.004, hw_per_share=0.0, now=now)
        self._last_advance = now
        return hashrate

    def telemetry(self) -> dict[str, Any]:
        """The JSON object of one broadcast, in the firmware's key order and formats."""
        hashrate = self._advance()
        shares = self.shares
        self.best_ever = max(self.best_ever, shares.best_share)
        last_diff = self.board.pool_diff / max(self.rng.random(), 1e-3) if shares.accepted else 0.0
        temp = round(noisy(self.rng, self.board.temp_c, 0.01), 1)
        rssi = int(-58 + self.rng.randint(-4, 4))
        heap = round(noisy(self.rng, self.board.free_heap_kb, 0.002), 1)
        uptime = format_uptime(self.uptime_s)
        if not self.axe:
            # NMController_client README (section 1) key order; HashRate with "H/s" (see module doc).
            return {
                "IP": self.ip,
                "BoardType": self.board.board_type,
                "HashRate": format_si(hashrate, 5) + "H/s",
                "Share": f"{shares.rejected}/{shares.accepted}",
                "NetDiff": format_si(NET_DIFF, 4),
                "PoolDiff": format_si(self.board.pool_diff, 4),
                "LastDiff": format_si(last_diff, 4),
                "BestDiff": format_si(max(shares.best_share, 0.0), 4),
                "Valid": self.blocks,
                "Progress": round(self.rng.random(), 3),
                "Temp": temp,
                "RSSI": rssi,
                "FreeHeap": heap,
                "Uptime": uptime,
                "Version": self.version,
                "PoolInUse": self.pool_in_use,
            }
        total = shares.accepted + shares.rejected
        ratio = shares.accepted / total * 100 if total else 0.0
        power = noisy(self.rng, self.board.power_w or 0.0, 0.01)
        # ESP-Miner-NMAxe monitor.cpp swarm_thread_entry, field by field.
        return {
            "ip": self.ip,
            "HashRate": format_si(hashrate, 5) + "H/s",
            "Share": f"{shares.rejected}/{shares.accepted}/{ratio:.1f}%",
            "NetDiff": format_si(NET_DIFF, 4),
            "PoolDiff": format_si(self.board.pool_diff, 4),
            "LastDiff": format_si(last_diff, 4),
            "BestDiff": format_si(shares.best_share, 4) + "\r" + format_si(self.best_ever, 4),
            "Valid": self.blocks,
            "Temp": int(temp),  # int8_t in the firmware
            "RSSI": rssi,
            "FreeHeap": heap,
            "Uptime": uptime + "\r" + format_uptime(self.uptime_ever_base + self.uptime_s),
            "Version": self.version,
            "BoardType": self.board.board_type,
            "Power": f"{power:.1f}W",
            "PoolInUse": self.pool_in_use,
            "Lastseen": int(self.interval_s * 1000),
        }

    def encode_telemetry(self) -> bytes:
        """One datagram; "malformed" cuts it in half (a torn or foreign datagram), "huge" pads it to the
        largest UDP payload (65,507 bytes: a datagram cannot carry megabytes), the lies rewrite it."""
        payload = self.lie(json.dumps(self.telemetry(), separators=(",", ":"))).encode()
        if self.fault == "malformed":
            return payload[: len(payload) // 2]
        if self.fault == "huge":
            _total, pieces = faults.huge_parts(payload, min(self.huge_bytes, MAX_UDP_PAYLOAD))
            return b"".join(pieces)
        return payload

    async def _broadcast_loop(self) -> None:
        await asyncio.sleep(0.05)  # first datagram soon after "boot"
        dripping = b""
        while True:
            transport = self._send_transport
            # "hang"/"reset": the device is alive but silent (Wi-Fi lost, task stuck).
            if transport is not None and self.fault not in ("hang", "reset"):
                try:
                    if self.fault == "drip":
                        # A datagram arrives whole or not at all; the nearest thing to a drip is
                        # the telemetry's bytes one per datagram, one datagram a second.
                        dripping = dripping or self.encode_telemetry()
                        transport.sendto(dripping[:1], self.telemetry_target)
                        dripping = dripping[1:]
                    else:
                        dripping = b""
                        transport.sendto(self.encode_telemetry(), self.telemetry_target)
                    self.sent += 1
                except OSError:
                    pass  # nobody listening: UDP does not care
            pause = self.drip_interval_s if self.fault == "drip" else self.interval_s
            await asyncio.sleep(max(pause, 0.02))

    # --- configuration ------------------------------------------------------------------
    def on_config(self, data: bytes) -> None:
        """Apply a config datagram addressed to this IP or to "0.0.0.0"; anything else is ignored silently."""
        self.requests += 1
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.configs_ignored += 1
            return
        if not isinstance(doc, dict) or doc.get("IP") not in (self.ip, "0.0.0.0"):
            self.configs_ignored += 1
            return
        for index, prefix in enumerate(("Primary", "Secondary")):
            url, user, password = (doc.get(f"{prefix}{k}") for k in ("Pool", "Address", "Password"))
            if not isinstance(url, str) or not url.strip():
                continue  # keys left out keep their value
            while len(self.pools) <= index:
                self.pools.append({"url": "", "user": "", "password": ""})
            self.pools[index] = {"url": url.strip(), "user": str(user or ""), "password": str(password or "")}
        for key in ("WiFiSSID", "WiFiPWD"):
            if isinstance(doc.get(key), str) and doc[key]:
                self.wifi[key] = doc[key]
        for key in ("Timezone", "UIRefresh", "ScreenTimeout", "Brightness", "SaveUptime", "LedEnable",
                    "RotateScreen", "BTCPrice", "AutoBrightness"):
            if key in doc:
                self.settings[key] = doc[key]
        if self.pools and self.pools[0]["url"]:
            self.pool_in_use = pool_host_port(self.pools[0]["url"])  # reconnects to the new primary
        self.configs_applied += 1

    # --- sockets (UDP instead of the base class's TCP servers) -------------------------------------
    async def listen(self) -> None:
        """Open the config socket on <ip>:12347+offset and start broadcasting (BindError if the port is taken)."""
        if self._config_transport is not None or self._stopped:
            return
        loop = asyncio.get_running_loop()
        port = CONFIG_PORT + self.port_offset
        try:
            config, _ = await loop.create_datagram_endpoint(lambda: _ConfigProtocol(self),
                                                            local_addr=(self.ip, port))
        except OSError as exc:
            raise BindError(exc.errno, f"cannot listen on UDP {self.ip}:{port} (nmminer): "
                                       f"{exc.strerror or exc}") from exc
        try:
            # Telemetry leaves from the miner's own address (the listener keys on the sender).
            sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(self.ip, 0))
        except OSError as exc:
            config.close()
            raise BindError(exc.errno, f"cannot open a UDP socket on {self.ip} (nmminer): "
                                       f"{exc.strerror or exc}") from exc
        self._config_transport, self._send_transport = config, sender
        self._task = loop.create_task(self._broadcast_loop())

    def close_listeners(self) -> None:
        """Power cut: stop broadcasting and stop listening for config."""
        super().close_listeners()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for transport in (self._config_transport, self._send_transport):
            if transport is not None:
                transport.close()
        self._config_transport = self._send_transport = None
