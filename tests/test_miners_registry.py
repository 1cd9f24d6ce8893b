"""The driver registry and make_driver(); the package imports nothing but its own modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import miners
from miners.antminer import AntminerDriver
from miners.base import ALL_CAPABILITIES, Credentials, MinerDriver
from miners.bitaxe import BitaxeDriver
from miners.cgminer import CGMinerDriver

ROOT = Path(__file__).resolve().parents[1]


def test_registry_is_explicit():
    from miners.base import MinerDriver

    expected = {"bitaxe", "cgminer", "antminer", "avalon", "nmminer", "vnish", "whatsminer", "braiins", "luxos"}
    assert set(miners.DRIVERS) == expected
    for family, cls in miners.DRIVERS.items():
        assert issubclass(cls, MinerDriver) and cls.family == family, family
    assert miners.DRIVERS["bitaxe"] is BitaxeDriver and miners.DRIVERS["antminer"] is AntminerDriver
    assert set(miners.DRIVERS) <= set(miners.FAMILIES)
    assert not set(miners.DRIVERS) & miners.CGMINER_API_FAMILIES


@pytest.mark.parametrize("family, cls, port", [("bitaxe", BitaxeDriver, 80), ("cgminer", CGMinerDriver, 4028),
                                               ("antminer", AntminerDriver, 4028)])
def test_default_ports_and_offset(family, cls, port):
    driver = miners.make_driver(family, "127.82.0.9", timeout=1.5)
    assert type(driver) is cls and driver.port == port and driver.timeout == 1.5
    assert miners.make_driver(family, "127.82.0.9", port_offset=20000).port == port + 20000
    assert miners.make_driver(family, "127.82.0.9", port=1234, port_offset=20000).port == 1234


def test_cgminer_api_families_fall_back_read_only():
    family = sorted(miners.CGMINER_API_FAMILIES - set(miners.DRIVERS))[0]  # any family still without a driver
    driver = miners.make_driver(family, "127.82.0.9")
    assert type(driver) is CGMinerDriver and driver.port == 4028
    assert driver.capabilities == frozenset() and driver.family == family
    assert CGMinerDriver.capabilities  # the class itself is untouched
    assert miners.has_driver("avalon") and not miners.has_driver("nerdminer")  # NerdMiner v2: no LAN API


def test_unknown_family():
    with pytest.raises(ValueError, match="unknown miner family"):
        miners.make_driver("toaster", "127.82.0.9")


def test_credentials_never_in_repr():
    driver = miners.make_driver("cgminer", "127.82.0.9", credentials=Credentials("root", "hunter2"))
    assert "hunter2" not in repr(driver) and "hunter2" not in repr(driver.credentials)


def test_capabilities_are_known_names():
    for cls in miners.DRIVERS.values():
        assert issubclass(cls, MinerDriver) and cls.capabilities <= set(ALL_CAPABILITIES)


def test_miners_imports_nothing_of_ours_and_no_flask():
    code = ("import sys, miners, miners.detect; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'services', 'web', 'database', 'simulator')];"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr


def test_pool_password_never_in_repr():
    from miners.base import PoolConfig

    assert "s3cret" not in repr(PoolConfig("stratum+tcp://p.example:3333", "me", "s3cret"))
