"""Miner drivers: the explicit family registry and the one factory the services use."""

from __future__ import annotations

from .antminer import AntminerDriver
from .avalon import AvalonDriver
from .base import Credentials, MinerDriver
from .bitaxe import BitaxeDriver
from .braiins import BraiinsDriver
from .cgminer import CGMinerDriver
from .luxos import LuxOSDriver
from .nmminer import NMMinerDriver
from .vnish import VnishDriver
from .whatsminer import WhatsminerDriver

# Families with a driver of their own. Adding a family = one module + one line here.
DRIVERS: dict[str, type[MinerDriver]] = {
    "bitaxe": BitaxeDriver,
    "cgminer": CGMinerDriver,
    "antminer": AntminerDriver,
    "avalon": AvalonDriver,  # Canaan: MM ID strings, ascset writes, setpool
    "nmminer": NMMinerDriver,  # UDP broadcast telemetry + UDP config datagram
    "vnish": VnishDriver,  # 1.x REST (AnthillOS, unlock token) or 3.x cgminer + digest CGI, picked per miner
    "whatsminer": WhatsminerDriver,  # btminer API 2.x on 4028 (token + AES) or API 3.x on 4433
    "braiins": BraiinsDriver,  # BOS+ REST (25.07+, token login) or the BOSminer cgminer API (pause/resume)
    "luxos": LuxOSDriver,  # LUXminer API on 4028, session id for writes, profiles as modes
}

# Families detect.py recognises that have no driver yet but answer the cgminer API on
# 4028 (reference sections 5-9): they are read through CGMinerDriver, which reports
# what the common summary/stats/pools/devs give; their writes need family-specific
# commands, so a proper driver replaces each.
CGMINER_API_FAMILIES: frozenset[str] = frozenset({
    "hiveon", "marathon", "msk",
    "goldshell", "innosilicon", "auradine",
})

FAMILIES: list[str] = sorted(set(DRIVERS) | CGMINER_API_FAMILIES)


def has_driver(family: str) -> bool:
    """True if make_driver() can build a driver for ``family`` (own driver or cgminer fallback)."""
    return family in DRIVERS or family in CGMINER_API_FAMILIES


def make_driver(family: str, host: str, *, port: int | None = None, port_offset: int = 0,
                timeout: float = 3.0, credentials: Credentials | None = None) -> MinerDriver:
    """Build the driver for ``family``; the port defaults to the driver's default + ``port_offset``.

    An explicit ``port`` is used as given (no offset added). Raises ValueError for
    an unknown family.
    """
    cls = DRIVERS.get(family)
    if cls is None and family in CGMINER_API_FAMILIES:
        cls = CGMinerDriver  # read-only-ish fallback, see CGMINER_API_FAMILIES
    if cls is None:
        raise ValueError(f"unknown miner family {family!r}; known: {', '.join(FAMILIES)}")
    driver = cls(host, port=port if port is not None else cls.default_port + port_offset,
                 timeout=timeout, credentials=credentials)
    if cls is CGMinerDriver and family != "cgminer":
        # The generic driver's restart/addpool are cgminer commands these firmwares
        # refuse or implement differently (btminer needs tokens, LuxOS a session id):
        # read-only until the family gets a driver of its own.
        driver.capabilities = frozenset()
        driver.family = family  # instance attribute: messages name the real family
    return driver


def capability_matrix() -> dict[str, dict]:
    """Family -> what its driver class declares (the family's maximum; a firmware version may offer less)."""
    from .base import ALL_CAPABILITIES

    matrix = {}
    for family, cls in sorted(DRIVERS.items()):
        matrix[family] = {
            "capabilities": {name: name in cls.capabilities for name in ALL_CAPABILITIES},
            "modes": list(cls.modes),
            "default_port": cls.default_port,
            "driver": cls.__name__,
        }
    for family in sorted(CGMINER_API_FAMILIES - set(DRIVERS)):
        matrix[family] = {"capabilities": {name: False for name in ALL_CAPABILITIES}, "modes": [],
                          "default_port": CGMinerDriver.default_port,
                          "driver": "CGMinerDriver (read-only until this family has a driver of its own)"}
    return matrix


__all__ = ["capability_matrix", "DRIVERS", "FAMILIES", "CGMINER_API_FAMILIES", "has_driver", "make_driver"]
