"""Find this machine's own LAN (the default discovery subnet) without sending a packet."""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import socket
import struct

log = logging.getLogger(__name__)

_SIOCGIFNETMASK = 0x891B
_SIOCGIFADDR = 0x8915
_LARGEST_AUTO_PREFIX = 24  # a /16 home LAN would mean 65k probes; scan the /24 we sit in


def default_route_interface(route_file: str = "/proc/net/route") -> str | None:
    """Name of the interface holding the IPv4 default route, or None."""
    try:
        with open(route_file) as fh:
            next(fh)
            for line in fh:
                parts = line.split()
                if len(parts) > 7 and parts[1] == "00000000" and parts[7] == "00000000":
                    return parts[0]
    except (OSError, StopIteration):
        return None
    return None


def _ioctl_ipv4(ifname: str, request: int) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(sock.fileno(), request, struct.pack("256s", ifname.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def own_lan(route_file: str = "/proc/net/route") -> ipaddress.IPv4Network | None:
    """The IPv4 network of the default-route interface, narrowed to at most a /24."""
    ifname = default_route_interface(route_file)
    if not ifname:
        return None
    addr = _ioctl_ipv4(ifname, _SIOCGIFADDR)
    mask = _ioctl_ipv4(ifname, _SIOCGIFNETMASK)
    if not addr or not mask:
        return None
    net = ipaddress.IPv4Network(f"{addr}/{mask}", strict=False)
    if net.prefixlen < _LARGEST_AUTO_PREFIX:
        narrowed = ipaddress.IPv4Network(f"{addr}/{_LARGEST_AUTO_PREFIX}", strict=False)
        log.info("own LAN is %s; discovery scans the /24 around this host, %s", net, narrowed)
        net = narrowed
    return net


MAX_SUBNETS = 16  # network.subnet may list several networks (VLANs, a second shed)


def subnet_parts(setting: str) -> list[str]:
    """The entries of a subnet setting: "192.168.1.0/24, 10.0.5.0/24" -> two; "" -> ["auto"]."""
    parts = [p.strip() for p in (setting or "").replace(";", ",").split(",")]
    return [p for p in parts if p] or ["auto"]


def resolve_subnets(setting: str) -> list[ipaddress.IPv4Network]:
    """Every network a subnet setting names ("auto" = the own LAN), in order, repeats left out; ValueError as resolve_subnet."""
    out: list[ipaddress.IPv4Network] = []
    for part in subnet_parts(setting):
        net = resolve_subnet(part)
        if net not in out:
            out.append(net)
    return out


def subnets_text(nets: list[ipaddress.IPv4Network]) -> str:
    """How a list of networks is shown and sent back: "192.168.1.0/24, 10.0.5.0/24"."""
    return ", ".join(str(n) for n in nets)


def resolve_subnet(setting: str) -> ipaddress.IPv4Network:
    """A configured subnet, or the own LAN for "auto"; ValueError when neither is known."""
    if setting and setting != "auto":
        net = ipaddress.ip_network(setting, strict=False)
        if not isinstance(net, ipaddress.IPv4Network):
            raise ValueError("only IPv4 subnets can be scanned")
        return net
    net = own_lan()
    if net is None:
        raise ValueError("no default route: set network.subnet in config.yaml (e.g. 192.168.1.0/24)")
    return net
