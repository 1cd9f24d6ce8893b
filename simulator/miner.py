"""SimMiner: the life of one simulated miner on the event loop (listeners, faults, reboots, clock)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
import time
from collections.abc import Iterable
from typing import ClassVar

from . import cgapi, httpd, lies
from .conditions import NORMAL_REJECT_RATIO, REJECT_RATIO, check_conditions
from .faults import DRIP_INTERVAL_S, HANG, HUGE_BYTES, LIES, RESET, SHAPES, Shape, check_fault, hold, reset
from .physics import ShareCounter
from .spec import MinerSpec

log = logging.getLogger(__name__)

HTTP = "http"
CGAPI = "cgapi"
LENGTH_PREFIXED = "lenprefix"  # 4-byte little-endian length + JSON (Whatsminer API 3.x, TCP 4433)
FIRMWARE_PORTS = {HTTP: 80, CGAPI: 4028, LENGTH_PREFIXED: 4433}


class BindError(OSError):
    """A simulated miner could not listen on its address/port."""


class SimMiner:
    """Base class: one miner's sockets and clock; subclasses speak a firmware's protocol.

    All methods run on the fleet's event loop except the plain attribute reads and
    writes tests do (``fault`` must be changed through ``SimFleet.set_fault``).
    """

    kind: ClassVar[str] = ""
    protocols: ClassVar[tuple[str, ...]] = ()
    # The hardware conditions (conditions.CONDITIONS) this firmware's replies can show.
    supported_conditions: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, spec: MinerSpec, *, port_offset: int = 0, seed: int | None = None,
                 allow_any_client: bool = False) -> None:
        self.spec = spec
        self.ip = spec.ip
        self.port_offset = port_offset
        self.allow_any_client = allow_any_client
        self.restart_seconds = spec.restart_seconds
        # One generator per miner, seeded from (seed, ip): the same miner gets the same noise
        # whatever else is in the fleet. str seeds are hashed with SHA-512 by random.seed.
        self.rng = random.Random(f"{seed}:{spec.ip}") if seed is not None else random.Random()
        self.fault: str | None = None
        self.conditions: frozenset[str] = frozenset()  # change through SimFleet.set_conditions
        self.reboots = 0
        self.requests = 0
        self._skew = 0.0
        self._boot = self.now()
        self._servers: list[asyncio.AbstractServer] = []
        self._conns: set[asyncio.StreamWriter] = set()
        self._reboot_handle: asyncio.TimerHandle | None = None
        self._stopped = False
        self._malformed_count = 0
        self._lie_count = 0
        self.drip_interval_s = DRIP_INTERVAL_S  # "drip": seconds between two bytes
        self.huge_bytes = HUGE_BYTES  # "huge": size a reply is padded to
        self.lie_variant: int | None = None  # "wrongtypes"/"absurd": one variant for every reply (None: cycle)

    # --- identity --------------------------------------------------------------
    @property
    def model(self) -> str:
        """Model name as the firmware reports it."""
        raise NotImplementedError

    @property
    def description(self) -> str:
        """cgminer STATUS Description (cgminer-style miners only)."""
        return ""

    def ports(self) -> dict[str, int]:
        """The TCP ports this miner listens on: {"http": 80+offset, "cgapi": 4028+offset}."""
        return {proto: FIRMWARE_PORTS[proto] + self.port_offset for proto in self.protocols}

    def mac(self, prefix: str) -> str:
        """A stable MAC address derived from the IP, under a vendor prefix ("AA:BB:CC")."""
        digest = hashlib.sha1(self.ip.encode()).digest()
        return prefix + "".join(f":{b:02X}" for b in digest[:3])

    # --- clock -----------------------------------------------------------------
    def now(self) -> float:
        """The miner's monotonic clock (seconds), including any ``skip``."""
        return time.monotonic() + self._skew

    def skip(self, seconds: float) -> None:
        """Let ``seconds`` pass for this miner at once: uptime and share counters jump ahead."""
        self._skew += seconds

    @property
    def uptime_s(self) -> int:
        """Seconds since the miner (re)booted."""
        return int(self.now() - self._boot)

    @property
    def listening(self) -> bool:
        """True while the miner accepts connections."""
        return bool(self._servers)

    def on_boot(self) -> None:
        """Reset what a power cycle resets (session counters); subclasses extend."""
        self._boot = self.now()

    # --- hardware conditions ---------------------------------------------------------
    def set_conditions(self, names: Iterable[str]) -> None:
        """Replace the hardware conditions (conditions.CONDITIONS); ValueError for one this kind cannot show."""
        new = check_conditions(self.kind, self.supported_conditions, names)
        self.settle()  # counters grown so far were grown under the old conditions
        old, self.conditions = self.conditions, new
        self.on_conditions(old)

    def settle(self) -> None:
        """Grow the lazily counted shares up to now, at the rates before a change."""
        self._advance()

    def _advance(self) -> object:
        """Grow share counters from the last call to now (subclasses that count shares)."""
        return None

    def on_conditions(self, old: frozenset[str]) -> None:
        """React to a change of ``self.conditions`` from ``old`` (e.g. kill or revive a pool)."""

    @property
    def reject_ratio(self) -> float:
        """Share of the shares the pool rejects: high under "rejecting"."""
        return REJECT_RATIO if "rejecting" in self.conditions else NORMAL_REJECT_RATIO

    # --- best share (test knob: a solo miner "finds a block") --------------------------
    def session_counters(self) -> list[ShareCounter]:
        """The share counters whose best share this firmware reports as the session best."""
        shares = getattr(self, "shares", None)
        return [shares] if isinstance(shares, ShareCounter) else []

    @property
    def best_session_diff(self) -> float:
        """The best share difficulty since boot, as the firmware reports it (0.0 before the first share)."""
        return max((counter.best_share for counter in self.session_counters()), default=0.0)

    @best_session_diff.setter
    def best_session_diff(self, value: float) -> None:
        """Set the session best, as if a share of that difficulty had just been found.

        Above the network difficulty that is a found block. Shares found later only
        raise it; a restart clears it; all-time bests (AxeOS NVS, NerdOS, LuxOS, NMAxe)
        take it up at the next read, as their firmware does.
        """
        self.settle()  # shares grown so far count before the new best
        for counter in self.session_counters():
            counter.best_share = float(value)

    # --- protocol hooks (subclasses) ---------------------------------------------
    def handle_http(self, request: httpd.Request) -> httpd.Response | object:
        """Answer one HTTP request (port 80)."""
        return httpd.Response(404, b"Not Found")

    def handle_cgapi(self, request: cgapi.Request) -> str | tuple[str, object]:
        """Answer one cgminer API request (port 4028): reply text, optionally with an after-close action."""
        return cgapi.encode(cgapi.message("E", 14, "Invalid command", self.description), request.isjson)

    def handle_cgapi_bytes(self, data: bytes, client_ip: str) -> object:
        """Answer one raw request on port 4028 (default: parsed as cgminer's api.c does, then handle_cgapi)."""
        parsed = cgapi.parse_request(data)
        if isinstance(parsed, cgapi.CgReply):
            assert parsed.status is not None
            parsed.status.description = self.description
            return cgapi.encode(parsed, True)
        return self.handle_cgapi(parsed)

    async def serve_stream(self, proto: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> object:
        """Serve one connection of a protocol other than HTTP/cgminer (e.g. LENGTH_PREFIXED); HANG/RESET/None."""
        writer.close()
        return None

    def malformed_http(self, request: httpd.Request, response: httpd.Response) -> httpd.Response:
        """The reply under the "malformed" fault (default: unchanged)."""
        return response

    def malformed_cgapi(self, text: str) -> str:
        """A port 4028 reply under the "malformed" fault (default: JSON broken the next known way)."""
        if not text.startswith("{"):
            return text
        text = cgapi.malform(text, self._malformed_count)
        self._malformed_count += 1
        return text

    def reply_shape(self) -> Shape | None:
        """How the next reply's bytes go out: a Shape under "drip"/"huge", else None (at once)."""
        if self.fault in SHAPES:
            return Shape(self.fault, self.drip_interval_s, self.huge_bytes)
        return None

    def lie(self, text: str) -> str:
        """The reply text as the "wrongtypes"/"absurd" fault rewrites it (unchanged otherwise).

        Every transport passes its replies through here: HTTP JSON bodies, port 4028
        replies, API 3 frames and NMMiner datagrams.
        """
        if self.fault not in LIES:
            return text
        variant = self._lie_count if self.lie_variant is None else self.lie_variant
        self._lie_count += 1
        return lies.wrong_types(text, variant) if self.fault == "wrongtypes" else lies.absurd(text, variant)

    def _lie_http(self, response: httpd.Response) -> httpd.Response:
        body = response.body.lstrip()
        if response.status != 200 or body[:1] not in (b"{", b"["):
            return response  # errors, pages and CGI "ok" replies stay as they are
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return response
        return dataclasses.replace(response, body=self.lie(text).encode("utf-8"))  # a copy: replies may be shared

    # --- dispatch with faults ------------------------------------------------------
    def fault_answer(self) -> object | None:
        """HANG or RESET while that fault is set; otherwise None, and the request is counted."""
        if self.fault == "hang":
            return HANG
        if self.fault == "reset":
            return RESET
        self.requests += 1
        return None

    def _http_dispatch(self, request: httpd.Request) -> object:
        refused = self.fault_answer()
        if refused is not None:
            return refused
        result = self.handle_http(request)
        if self.fault == "malformed" and isinstance(result, httpd.Response):
            result = self.malformed_http(request, result)
        elif self.fault in LIES and isinstance(result, httpd.Response):
            result = self._lie_http(result)
        return result

    def _cgapi_dispatch(self, data: bytes, client_ip: str) -> object:
        refused = self.fault_answer()
        if refused is not None:
            return refused
        result = self.handle_cgapi_bytes(data, client_ip)
        if self.fault == "malformed" or self.fault in LIES:
            text, after = result if isinstance(result, tuple) else (result, None)
            if isinstance(text, str):
                text = self.malformed_cgapi(text) if self.fault == "malformed" else self.lie(text)
            result = (text, after) if after is not None else text
        return result

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proto: str) -> None:
        if self.fault == "reset":
            reset(writer)
            return
        self._conns.add(writer)
        try:
            if proto == HTTP:
                outcome = await httpd.serve_http(reader, writer, self._http_dispatch, shape=self.reply_shape)
            elif proto == CGAPI:
                outcome = await cgapi.serve_cgapi(reader, writer, self._cgapi_dispatch, shape=self.reply_shape)
            else:
                outcome = await self.serve_stream(proto, reader, writer)
            if outcome is RESET:
                reset(writer)
            elif outcome is HANG:
                await hold(reader, writer)
        except (ConnectionError, OSError):
            writer.transport.abort()
        except asyncio.CancelledError:
            # Fleet shutdown. Ending quietly matters: asyncio's stream callback calls
            # task.exception() on the finished task, which raises for a cancelled one.
            writer.transport.abort()
        except Exception:  # a bug in a handler must not kill the loop; the client sees a reset
            log.exception("simulated miner %s crashed on a %s request", self.ip, proto)
            writer.transport.abort()
        finally:
            self._conns.discard(writer)

    # --- sockets -----------------------------------------------------------------
    async def listen(self) -> None:
        """Bind every port of this miner (raises BindError naming the address and port)."""
        if self._servers or self._stopped:
            return
        servers = []
        try:
            for proto in self.protocols:
                port = FIRMWARE_PORTS[proto] + self.port_offset

                async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter, _p: str = proto) -> None:
                    await self._on_connect(r, w, _p)

                try:
                    server = await asyncio.start_server(on_connect, host=self.ip, port=port,
                                                        reuse_address=True, backlog=256)
                except OSError as exc:
                    raise BindError(exc.errno, f"cannot listen on {self.ip}:{port} ({self.kind}): "
                                               f"{exc.strerror or exc}") from exc
                servers.append(server)
        except BaseException:
            for server in servers:
                server.close()
            raise
        self._servers = servers

    def stop_accepting(self) -> None:
        """Close the listening sockets (new connections are refused); open ones carry on."""
        for server in self._servers:
            server.close()
        self._servers = []

    def close_listeners(self) -> None:
        """Stop listening and drop every open connection (what a power cut does)."""
        self.stop_accepting()
        for writer in list(self._conns):
            writer.transport.abort()
        self._conns.clear()

    def reboot(self, seconds: float | None = None) -> None:
        """Go unreachable for ``seconds`` (default ``restart_seconds``), then come back with uptime 0."""
        delay = self.restart_seconds if seconds is None else seconds
        self.reboots += 1
        self.close_listeners()
        if self._reboot_handle is not None:
            self._reboot_handle.cancel()
        loop = asyncio.get_running_loop()
        self._reboot_handle = loop.call_later(delay, lambda: loop.create_task(self._come_back()))

    @property
    def rebooting(self) -> bool:
        """True between a restart and the miner answering again."""
        return self._reboot_handle is not None

    async def _come_back(self) -> None:
        self._reboot_handle = None
        self.on_boot()
        if self.fault != "down" and not self._stopped:
            try:
                await self.listen()
            except BindError:
                log.exception("simulated miner %s could not come back after a restart", self.ip)

    async def set_fault(self, fault: str | None) -> None:
        """Apply a fault (see faults.FAULTS); "down" closes the listeners, None reopens them."""
        self.fault = check_fault(fault)
        if fault == "down":
            self.close_listeners()
        elif not self._servers and self._reboot_handle is None:
            await self.listen()

    async def start(self) -> None:
        """Begin serving (again after a shutdown); a "down" fault set before start keeps it closed."""
        self._stopped = False
        if self.fault != "down":
            await self.listen()

    async def shutdown(self) -> None:
        """Close everything for good (fleet stop)."""
        self._stopped = True
        if self._reboot_handle is not None:
            self._reboot_handle.cancel()
            self._reboot_handle = None
        self.close_listeners()
