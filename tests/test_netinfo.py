"""Default discovery subnet: the own LAN from the default route, narrowed to a /24."""

from __future__ import annotations

import ipaddress

import pytest

from services import netinfo

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
"""


def test_default_route_interface(tmp_path):
    path = tmp_path / "route"
    path.write_text(ROUTES)
    assert netinfo.default_route_interface(str(path)) == "wlan0"
    path.write_text(ROUTES.splitlines()[0] + "\n")
    assert netinfo.default_route_interface(str(path)) is None
    assert netinfo.default_route_interface(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("addr, mask, expected", [
    ("192.168.1.23", "255.255.255.0", "192.168.1.0/24"),
    ("10.1.2.3", "255.255.0.0", "10.1.2.0/24"),  # a /16 LAN: scan the /24 we sit in
    ("172.16.5.9", "255.255.255.128", "172.16.5.0/25"),
])
def test_own_lan_is_narrowed_to_a_slash_24(monkeypatch, tmp_path, addr, mask, expected):
    path = tmp_path / "route"
    path.write_text(ROUTES)
    values = {netinfo._SIOCGIFADDR: addr, netinfo._SIOCGIFNETMASK: mask}
    monkeypatch.setattr(netinfo, "_ioctl_ipv4", lambda ifname, request: values[request])
    assert netinfo.own_lan(str(path)) == ipaddress.IPv4Network(expected)


def test_resolve_subnet(monkeypatch):
    assert str(netinfo.resolve_subnet("192.168.7.0/24")) == "192.168.7.0/24"
    monkeypatch.setattr(netinfo, "own_lan", lambda: None)
    with pytest.raises(ValueError, match="set network.subnet"):
        netinfo.resolve_subnet("auto")
    with pytest.raises(ValueError):
        netinfo.resolve_subnet("fe80::/64")


def test_real_machine_answers_something():
    # Whatever this machine's routes are, the call must not raise.
    lan = netinfo.own_lan()
    assert lan is None or lan.prefixlen >= 24
