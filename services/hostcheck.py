"""Which ``Host`` names this controller answers to: the guard against DNS rebinding.

A web page on ``evil.example`` can make its own name resolve to the Pi's LAN
address (DNS rebinding); the browser then treats the controller as the same
origin as the page and lets it read every answer (and try passwords). The
browser still sends ``Host: evil.example``, so answering only the names the
controller really has stops it. Allowed without any setting: this machine's
own addresses (re-read when they may have changed: DHCP), loopback
(127.0.0.0/8, ::1, ``localhost``), the hostname, ``hostname.local`` (mDNS) and
the hostname under the LAN's DNS search domains from /etc/resolv.conf (set by
the LAN's own DHCP, not by a web page). ``server.allowed_hosts`` adds names;
``"*"`` switches the check off (behind a reverse proxy that checks it).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

REFRESH_S = 30.0  # an unknown address literal re-reads the machine's addresses at most this often


def split_host(header: str) -> str:
    """'Pi.LAN:5000' -> 'pi.lan', '[::1]:80' -> '::1', '10.0.0.5' -> '10.0.0.5' (the port is ignored)."""
    host = header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def local_addresses(fib_trie: str = "/proc/net/fib_trie", if_inet6: str = "/proc/net/if_inet6") -> set[str]:
    """Every IPv4 and IPv6 address of this machine (all interfaces, secondary addresses too), from /proc."""
    found: set[str] = set()
    try:
        previous = ""
        for line in Path(fib_trie).read_text().splitlines():
            text = line.strip()
            if text.startswith("|--"):
                previous = text[3:].strip()
            elif text.startswith("/32 host LOCAL") and previous:
                found.add(previous)
    except OSError:
        pass
    try:
        for line in Path(if_inet6).read_text().splitlines():
            raw = line.split()[0] if line.split() else ""
            if len(raw) == 32:
                found.add(str(ipaddress.IPv6Address(int(raw, 16))))
    except (OSError, ValueError):
        pass
    return found


def search_domains(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """The LAN's DNS search domains ('lan', 'fritz.box', 'home.arpa'), from /etc/resolv.conf."""
    domains: list[str] = []
    try:
        for line in Path(resolv_conf).read_text().splitlines():
            parts = line.split()
            if parts and parts[0] in ("search", "domain"):
                domains.extend(d.lower().rstrip(".") for d in parts[1:] if d.rstrip("."))
    except OSError:
        pass
    return domains


def _normal(host: str) -> str:
    """An address in its canonical text ('FD00:0::2' -> 'fd00::2'); a name unchanged."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


class HostAllowList:
    """Decides whether a Host header names this controller."""

    def __init__(self, configured: Iterable[str] = (), *, hostname: str | None = None,
                 addresses: Callable[[], set[str]] = local_addresses,
                 domains: Callable[[], list[str]] = search_domains,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """configured: server.allowed_hosts ("*" = allow any)."""
        configured = [_normal(split_host(h)) for h in configured]
        self.any = "*" in configured
        name = (hostname if hostname is not None else socket.gethostname()).lower().rstrip(".")
        short = name.split(".")[0]
        self.names = {"localhost", *configured}
        if name:
            self.names |= {name, short, f"{short}.local", *(f"{short}.{d}" for d in domains())}
        self._addresses = addresses
        self._clock = clock
        self._lock = threading.Lock()
        self._own: set[str] = set()
        self._read_at = float("-inf")
        self._refresh()

    def _refresh(self) -> None:
        self._own = {str(ipaddress.ip_address(a)) for a in self._addresses()}
        self._read_at = self._clock()

    def allows(self, header: str | None) -> bool:
        """True if the Host header (port ignored) is one of our names or addresses; no header = True."""
        if self.any or header is None:
            return True  # no Host at all: not a browser, so no rebinding
        host = split_host(header)
        if host in self.names:
            return True
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        if addr.is_loopback or (addr.version == 6 and addr.ipv4_mapped and addr.ipv4_mapped.is_loopback):
            return True
        text = str(addr)
        if text in self._own or text in self.names:
            return True
        with self._lock:
            if self._clock() - self._read_at >= REFRESH_S:  # the DHCP lease may have changed the address
                self._refresh()
            return text in self._own
