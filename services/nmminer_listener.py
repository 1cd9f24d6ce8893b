"""The NMMiner telemetry listener: UDP 12345 broadcasts -> the telemetry store, new miners -> the fleet.

NMMiner and NMAxe push one JSON datagram every few seconds to UDP 12345
(miners/nmminer.py); nothing can be polled. This thread receives them, parses
each with ``miners.nmminer.parse_telemetry``, keeps the latest per IP in
``miners.nmminer.TELEMETRY`` (which ``NMMinerDriver.read()`` serves), and adds a
miner it has not seen before to the fleet (family "nmminer", source
"broadcast"), so NMMiners appear without any discovery scan.

Off unless enabled: config key ``nmminer.listen`` (read with safe defaults while
services/config.py has no ``nmminer`` section yet). Knows nothing of Flask.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

from miners.base import MinerProtocolError
from miners.nmminer import MAX_DATAGRAM, TELEMETRY, TELEMETRY_PORT, NMTelemetry, TelemetryStore, parse_telemetry
from services.fleet import FleetManager, UnknownMiner

log = logging.getLogger(__name__)

FAMILY = "nmminer"
_POLL_S = 0.5  # socket timeout: how promptly stop() is noticed
# A UDP source address is trivial to spoof on a LAN: cap how many miners broadcasts may add.
MAX_AUTO_ADD = 256
_LAN = (ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Network("172.16.0.0/12"),
        ipaddress.IPv4Network("192.168.0.0/16"), ipaddress.IPv4Network("127.0.0.0/8"))


@dataclass(frozen=True)
class ListenerSettings:
    """Where to listen; ``port`` 0 picks a free port (tests), else network.port_offset is added."""

    enabled: bool = False
    bind: str = "0.0.0.0"
    port: int = TELEMETRY_PORT


def settings_from_config(config: Any) -> ListenerSettings:
    """Read ``nmminer.listen`` / ``nmminer.bind`` / ``nmminer.port`` if the config has them; off otherwise."""
    section = getattr(config, "nmminer", None)
    if section is None:
        return ListenerSettings()
    return ListenerSettings(enabled=bool(getattr(section, "listen", False)),
                            bind=str(getattr(section, "bind", "0.0.0.0") or "0.0.0.0"),
                            port=int(getattr(section, "port", TELEMETRY_PORT)))


def is_lan_sender(ip: str) -> bool:
    """True for RFC 1918 and loopback senders: NMMiners live on the LAN, anything else is ignored."""
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    return any(addr in net for net in _LAN)


class NMMinerListener:
    """One daemon thread receiving NMMiner telemetry; ``start()`` binds, ``stop()`` ends it within ~0.5 s."""

    def __init__(self, fleet: FleetManager | None, *, bind: str = "0.0.0.0", port: int = TELEMETRY_PORT,
                 store: TelemetryStore = TELEMETRY) -> None:
        self.fleet = fleet
        self.bind = bind
        self.port = port
        self.store = store
        self.received = 0
        self.malformed = 0
        self.ignored = 0  # non-LAN senders, or an IP field naming another host
        self.added = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._handled: set[str] = set()  # IPs offered to the fleet once in this process
        self._warned: set[str] = set()  # which kinds of bad datagram were logged already

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the real port when ``port`` was 0."""
        if self._sock is None:
            return self.bind, self.port
        host, port = self._sock.getsockname()[:2]
        return host, port

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> NMMinerListener:
        """Bind the UDP socket and start the thread (OSError naming the address when the bind fails)."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # SO_REUSEADDR: NMController (the vendor's tool) or a second listener on the same
        # host may bind 12345 too; every socket with the option gets each broadcast.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.bind, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"NMMiner listener cannot bind UDP {self.bind}:{self.port}: "
                                     f"{exc.strerror or exc}") from exc
        sock.settimeout(_POLL_S)
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nmminer-listener", daemon=True)
        self._thread.start()
        log.info("NMMiner listener on UDP %s:%d", *self.address)
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and close the socket; safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                data, sender = sock.recvfrom(MAX_DATAGRAM)
            except socket.timeout:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    break
                log.warning("NMMiner listener: receive failed: %s", exc)
                self._stop.wait(_POLL_S)
                continue
            try:
                self.handle(data, sender[0])
            except Exception:  # noqa: BLE001 - one bad datagram or a fleet hiccup must not end the thread
                log.exception("NMMiner listener: datagram from %s not handled", sender[0])

    def _warn_once(self, kind: str, message: str, *args: Any) -> None:
        if kind in self._warned:
            log.debug(message, *args)
        else:
            self._warned.add(kind)
            log.warning(message + " (further ones are logged at debug level)", *args)

    def handle(self, data: bytes, sender_ip: str) -> NMTelemetry | None:
        """Process one datagram from ``sender_ip``: store it, add its miner if new; None if ignored."""
        if not is_lan_sender(sender_ip):
            self.ignored += 1
            self._warn_once("foreign", "NMMiner listener: ignored a datagram from %s (not a LAN address)",
                            sender_ip)
            return None
        try:
            telemetry = parse_telemetry(data)
        except MinerProtocolError as exc:
            self.malformed += 1
            self._warn_once("malformed", "NMMiner listener: malformed datagram from %s: %s", sender_ip, exc)
            return None
        if telemetry.ip != sender_ip:
            # A device only broadcasts its own status (NMAxe monitor.cpp); another sender
            # naming this IP would overwrite a real miner's readings.
            self.ignored += 1
            self._warn_once("mismatch", "NMMiner listener: datagram from %s claims IP %s; ignored",
                            sender_ip, telemetry.ip)
            return None
        self.received += 1
        self.store.put(sender_ip, telemetry)
        if sender_ip not in self._handled:
            self._handled.add(sender_ip)
            self._offer_to_fleet(telemetry)
        return telemetry

    def _offer_to_fleet(self, telemetry: NMTelemetry) -> None:
        """Add a miner the fleet does not know (once per process: a miner the user removed stays removed
        until the next start)."""
        fleet = self.fleet
        if fleet is None:
            return
        try:
            fleet.get(telemetry.ip)
            return  # known already (any family): left as it is
        except UnknownMiner:
            pass
        if self.added >= MAX_AUTO_ADD:
            self._warn_once("cap", "NMMiner listener: %d miners added from broadcasts already; %s not added "
                            "(add it by hand if it is real)", MAX_AUTO_ADD, telemetry.ip)
            return
        record = fleet.add(telemetry.ip, FAMILY, model=telemetry.board_type, source="broadcast")
        self.added += 1
        fleet.poll_round([record])  # served from memory: shows it online at once


def start_from_config(config: Any, fleet: FleetManager) -> NMMinerListener | None:
    """Start the listener if ``nmminer.listen`` is on; None when off or the port cannot be bound (logged)."""
    settings = settings_from_config(config)
    if not settings.enabled:
        return None
    port = settings.port + config.network.port_offset if settings.port else 0
    listener = NMMinerListener(fleet, bind=settings.bind, port=port)
    try:
        return listener.start()
    except OSError as exc:
        log.error("%s; NMMiners will not be seen", exc)
        return None
