"""Find miners: a one-thread non-blocking connect sweep, then the cheapest read-only fingerprint per host.

Nothing here ever writes to a miner: the only requests are cgminer ``version``
(and ``devdetails`` when ``version`` names no firmware), and HTTP GETs.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import resource
import selectors
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from . import cgminer_api, http, whatsminer_v3
from .base import MinerError
from .bitaxe import model_name as bitaxe_model
from .cgminer import model_from_type, section
from .whatsminer_parse import model_name as whatsminer_model

log = logging.getLogger(__name__)

CGMINER_PORT = 4028
HTTP_PORT = 80
WHATSMINER_V3_PORT = 4433  # Whatsminer API 3.x (firmware from ~2024-11): length-prefixed JSON, reference section 5
SWEEP_TIMEOUT = 0.6  # a LAN host answers a SYN in < 10 ms; Wi-Fi ESP32s in power save take longer
_FD_RESERVE = 128  # descriptors always left free for the web server, pollers, database and logs
_MAX_SWEEP_SOCKETS = 4096  # one chunk of a sweep; a /22 on four ports is swept in four chunks


@dataclass(frozen=True, slots=True)
class Detection:
    """What a host turned out to be; ``unauthorized`` marks AxeOS refusing our address (401)."""

    family: str
    port: int
    model: str | None = None
    protocol: str = "cgminer-api"  # "cgminer-api" (TCP 4028) or "http"
    unauthorized: bool = False


# --- sweep ---------------------------------------------------------------------------------
def _open_descriptors() -> int:
    """Descriptors this process has open now (sockets, files, the database, the web server's)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # no /proc (not Linux): assume a busy process
        return 256


def _fd_budget(wanted: int) -> int:
    """Sockets a sweep may open at once, from the descriptors free now, never the server's last ones.

    Raises RLIMIT_NOFILE's soft limit towards the hard limit if needed. The budget is
    what is free after the descriptors open now, minus a reserve for the web server
    to keep accepting and the pollers to keep connecting meanwhile (it was "limit
    minus 64" whatever was open: with a few hundred in use, accept() got EMFILE and
    gunicorn replaced the worker).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = _open_descriptors()
    needed = in_use + wanted + _FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.debug("cannot raise RLIMIT_NOFILE to %d: %s", target, exc)
    if soft == resource.RLIM_INFINITY:
        return min(wanted, _MAX_SWEEP_SOCKETS)
    free = soft - in_use - _FD_RESERVE
    return max(8, min(wanted, _MAX_SWEEP_SOCKETS, free))


def sweep(hosts: Iterable[str], ports: Iterable[int], timeout: float = SWEEP_TIMEOUT) -> dict[str, set[int]]:
    """Non-blocking TCP connect to every (host, port) at once from one thread, within one deadline.

    Returns the open ports per host; hosts with none are left out. Hosts that drop
    packets cost only the deadline. If the descriptor limit cannot hold every
    socket at once, the pairs are swept in chunks, each with its own deadline.
    """
    pairs = [(h, p) for h in dict.fromkeys(hosts) for p in dict.fromkeys(ports)]
    found: dict[str, set[int]] = {}
    if not pairs:
        return found
    chunk = _fd_budget(len(pairs))
    for start in range(0, len(pairs), chunk):
        for host, port in _sweep_chunk(pairs[start:start + chunk], timeout):
            found.setdefault(host, set()).add(port)
    return found


def _sweep_chunk(pairs: list[tuple[str, int]], timeout: float) -> list[tuple[str, int]]:
    deadline = time.monotonic() + timeout
    open_pairs: list[tuple[str, int]] = []
    with selectors.DefaultSelector() as selector:
        try:
            for host, port in pairs:
                try:
                    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
                except OSError as exc:  # EMFILE despite the budget: sweep what we have
                    log.warning("sweep: cannot open more sockets (%s); %d pairs skipped", exc, len(pairs))
                    break
                sock.setblocking(False)
                try:
                    err = sock.connect_ex((host, port))
                except OSError as exc:  # not an address (gaierror) or similar: that pair is simply closed
                    log.debug("sweep %s:%d: %s", host, port, exc)
                    sock.close()
                    continue
                if err in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
                    selector.register(sock, selectors.EVENT_WRITE, (host, port))
                else:  # refused or unroutable at once (loopback, local subnet without ARP reply)
                    sock.close()
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                for key, _ in selector.select(remaining):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                        open_pairs.append(key.data)
                    selector.unregister(sock)
                    sock.close()
        finally:
            for key in list(selector.get_map().values()):
                selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
    return open_pairs


# --- fingerprint ----------------------------------------------------------------------------
# Substrings of the upper-cased `version` (or `devdetails`) reply -> family, checked in
# order (reference section 2, from pyasic's _parse_socket_type). VNISH moves ahead of
# the Antminer forks: Vnish's Type ("Antminer S9 (vnish 3.8.6)") also contains ANTMINER,
# and pyasic's late Vnish check is why pyasic rarely tells Vnish apart on this probe.
CGMINER_SIGNATURES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("BOSMINER", "BOSER"), "braiins"),
    # "WHATSMINER": btminer answers `version` with Code 14 "invalid cmd", Description "whatsminer v1.1"
    # (a capture in a public "Miner Protocols Documentation"); 2025 builds may refuse devdetails too.
    (("BTMINER", "BITMICRO", "WHATSMINER"), "whatsminer"),
    (("LUXMINER",), "luxos"),
    (("VNISH",), "vnish"),
    (("HIVEON",), "hiveon"),
    (("KAONSU",), "marathon"),
    (("RWGLR",), "msk"),
    (("ANTMINER",), "antminer"),
    (("INTCHAINS_QOMO", "KDAMINER", "BFGMINER"), "goldshell"),
    (("INNOMINER",), "innosilicon"),
    (("AVALON",), "avalon"),
    (("GCMINER", "FLUXOS"), "auradine"),
)

# Page markers of GET / (reference section 2, table B), checked in order.
WEB_SIGNATURES: tuple[tuple[str, str], ...] = (
    ("Braiins OS", "braiins"),
    ("Luxor Firmware", "luxos"),
    ("AxeOS", "bitaxe"),
    ("NerdQAxe", "bitaxe"),
    ("Lucky miner", "bitaxe"),  # LuckyMiner runs an ESP-Miner fork
    ("AnthillOS", "vnish"),
    ("Avalon", "avalon"),
)


def classify_cgminer(text: str) -> str | None:
    """Family for a raw cgminer-API reply text; "cgminer" for any other cgminer-shaped reply, else None."""
    upper = text.upper()
    for needles, family in CGMINER_SIGNATURES:
        if any(needle in upper for needle in needles):
            return family
    return "cgminer" if '"STATUS"' in upper else None


def _cgminer_model(family: str, parsed: object) -> str | None:
    if not isinstance(parsed, dict):
        return None
    for name, keys in (("VERSION", ("Type", "PROD", "MODEL")), ("DEVDETAILS", ("Model",))):
        for block in section(parsed, name)[:1]:
            for key in keys:
                value = block.get(key)
                if isinstance(value, str) and value.strip():
                    return model_from_type(value)
    return None


def _fingerprint_cgminer(host: str, port: int, timeout: float) -> Detection | None:
    family, model = None, None
    for command in ("version", "devdetails"):  # devdetails only when version named nothing specific
        try:
            text, parsed = cgminer_api.query_raw(host, port, command, timeout=timeout)
        except MinerError as exc:
            log.debug("fingerprint %s:%d %s: %s", host, port, exc)
            break
        found = classify_cgminer(text)
        if found is None:
            break
        model = model or _cgminer_model(found, parsed)
        family = found if family in (None, "cgminer") else family
        if family != "cgminer":
            break
    return Detection(family, port, model, "cgminer-api") if family else None


def _fingerprint_http(host: str, port: int, timeout: float) -> Detection | None:
    base = f"http://{host}:{port}" if port != 80 else f"http://{host}"
    with http.new_session() as session:
        try:
            reply = http.request(session, "GET", base + "/api/system/info", timeout=timeout)
        except MinerError as exc:
            log.debug("fingerprint %s: /api/system/info: %s", base, exc)
            return None
        if reply.status == 200:
            try:
                info = reply.json()
            except MinerError:
                info = None
            if isinstance(info, dict) and ("ASICModel" in info or "hashRate" in info or "deviceModel" in info):
                return Detection("bitaxe", port, bitaxe_model(info), "http")
        # AxeOS answers a client outside its private ranges with a bare 401 (no
        # WWW-Authenticate challenge) on every /api path; digest-protected Antminer
        # pages always send a challenge, so a bare 401 here is AxeOS's access rule.
        axeos_refusal = reply.status == 401 and "www-authenticate" not in {k.lower() for k in reply.headers}
        try:
            page = http.request(session, "GET", base + "/", timeout=timeout)
        except MinerError:
            page = None
        if page is not None:
            found = _classify_page(page)
            if found is not None:
                return Detection(found, port, None, "http", unauthorized=axeos_refusal and found == "bitaxe")
        if axeos_refusal:
            return Detection("bitaxe", port, None, "http", unauthorized=True)
    return None


def _classify_page(page: http.HttpReply) -> str | None:
    challenge = next((v for k, v in page.headers.items() if k.lower() == "www-authenticate"), "")
    if page.status == 401 and re.search(r'realm="?antMiner', challenge, re.IGNORECASE):
        return "antminer"
    location = next((v for k, v in page.headers.items() if k.lower() == "location"), "")
    if page.status in (301, 302, 307, 308) and "/cgi-bin/luci" in location:
        return "whatsminer"
    text = page.text
    for marker, family in WEB_SIGNATURES:
        if marker.lower() in text.lower():
            return family
    return None


def fingerprint(host: str, open_ports: Iterable[int], *, port_offset: int = 0,
                timeout: float = 2.0) -> Detection | None:
    """Identify a host from its open ports: cgminer `version` on 4028, Whatsminer API 3 on 4433, else HTTP on 80."""
    ports = set(open_ports)
    cg_port, http_port = CGMINER_PORT + port_offset, HTTP_PORT + port_offset
    if cg_port in ports:
        found = _fingerprint_cgminer(host, cg_port, timeout)
        if found is not None:
            return found
    v3_port = WHATSMINER_V3_PORT + port_offset
    if v3_port in ports:  # only when 4028 said nothing: one read-only get.device.info frame
        found = fingerprint_whatsminer_v3(host, v3_port, timeout)
        if found is not None:
            return found
    if http_port in ports:
        return _fingerprint_http(host, http_port, timeout)
    return None


def fingerprint_whatsminer_v3(host: str, port: int = WHATSMINER_V3_PORT, timeout: float = 2.0) -> Detection | None:
    """Whatsminer API 3 on ``port``: a length-prefixed get.device.info "miner" answering msg.miner (read-only).

    pyasic's factory does the same probe (``_socket_ping_btminer_v3``) when 4028 is inconclusive.
    """
    try:
        reply = whatsminer_v3.exchange(host, port, {"cmd": "get.device.info", "param": "miner"}, timeout=timeout)
    except MinerError as exc:
        log.debug("fingerprint %s:%d api3: %s", host, port, exc)
        return None
    msg = reply.get("msg") if isinstance(reply, dict) else None
    if not isinstance(msg, dict) or not isinstance(msg.get("miner"), dict):
        return None
    return Detection("whatsminer", port, whatsminer_model(msg["miner"].get("type")), "whatsminer-api3")


def sweep_ports(port_offset: int = 0) -> list[int]:
    """Every TCP port fingerprint() can use (cgminer API, Whatsminer API 3, HTTP), plus the offset."""
    return [CGMINER_PORT + port_offset, WHATSMINER_V3_PORT + port_offset, HTTP_PORT + port_offset]


def detect(host: str, *, port_offset: int = 0, timeout: float = 2.0) -> Detection | None:
    """Sweep one host's miner ports, then fingerprint it; None when nothing answers as a miner."""
    ports = sweep_ports(port_offset)
    found = sweep([host], ports, timeout=min(timeout, 1.0))
    open_ports = found.get(host)
    return fingerprint(host, open_ports, port_offset=port_offset, timeout=timeout) if open_ports else None
