"""Stock Antminer parsing on recorded replies (S17, S19 sleeping, S9 chains 6..8, L3+ units) and the driver."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, fixture_bytes, fixture_json  # noqa: E402

from miners import antminer, json_repair  # noqa: E402
from miners.antminer import AntminerDriver  # noqa: E402
from miners.base import SCRYPT, SHA256D, Credentials, PoolConfig  # noqa: E402


def raw(relative: str) -> dict:
    return json_repair.loads_lenient(fixture_bytes(relative).decode())


def test_s17_stats_and_pools():
    status = antminer.parse_antminer({"stats": fixture_json("antminer/stats.s17_cgminer.json"),
                                      "pools": fixture_json("antminer/pools.s17.json")})
    assert status.model == "Antminer S17 Pro" and status.algorithm == SHA256D
    assert status.hashrate_hs == pytest.approx(54997.01e9)  # "GHS 5s" string
    assert status.expected_hashrate_hs == pytest.approx(53619e9)  # total_rateideal, rate_unit GH
    assert status.power_w is None  # stock firmware reports no power
    assert status.fan_rpm == [2400, 3000, 3120, 2400]
    assert [b.index for b in status.boards] == [0, 1, 2]
    first = status.boards[0]
    assert first.hashrate_hs == pytest.approx(17968.26e9)
    assert (first.chips, first.chip_temp_c, first.temp_c) == (48, 80, 53)  # temp_chip1 / temp_pcb1 maxima
    assert first.frequency_mhz == 570 and first.hardware_errors == 731
    assert first.chip_states.startswith("oooooooo")
    assert status.temp_c == 80
    assert status.firmware == "bmminer" and status.firmware_version == "Tue Aug 20 10:37:07 CST 2019"
    assert [p.active for p in status.pools] == [True, False, False]  # all "Stratum Active"; priority 0 mines


def test_s9_chains_six_to_eight_and_fans_five_six():
    status = antminer.parse_antminer({"stats": raw("antminer/raw/stats.s9_hiveon.malformed.txt"),
                                      "version": fixture_json("antminer/version.s9_hiveon.json")})
    assert status.model == "Antminer S9 Hiveon"
    assert [(b.index, b.chips) for b in status.boards] == [(0, 63), (1, 63), (2, 63)]
    assert [b.hashrate_hs for b in status.boards] == pytest.approx([3911.64e9, 3913.70e9, 3956.05e9])
    assert [(b.temp_c, b.chip_temp_c) for b in status.boards] == [(59, 74), (50, 65), (57, 72)]
    assert status.fan_rpm == [3840, 4920]
    assert status.hashrate_hs == pytest.approx(11781.40e9)


def test_l3plus_ghs_fields_are_mhs():
    status = antminer.parse_antminer({"stats": raw("antminer/raw/stats.l3plus_cgminer.malformed.txt"),
                                      "pools": fixture_json("antminer/pools.l3plus.json")})
    assert status.model == "Antminer L3+" and status.algorithm == SCRYPT
    assert status.hashrate_hs == pytest.approx(504.56e6)  # "GHS 5s":"504.56" is MH/s on scrypt
    assert [b.hashrate_hs for b in status.boards] == pytest.approx([126.12e6, 125.79e6, 126.06e6, 126.59e6])
    assert [p.url for p in status.pools] == ["stratum+tcp://us.litecoinpool.org:3333"]  # empty slots dropped


def test_sleeping_s19_reads_zero_and_idle():
    status = antminer.parse_antminer({"stats": fixture_json("antminer/stats.s19_sleeping.json"),
                                      "version": fixture_json("antminer/version.s19_sleeping.json")})
    assert status.hashrate_hs == 0 and status.state == "idle"
    assert status.model == "Antminer S19"
    assert [b.index for b in status.boards] == [1, 2]  # chain 1 reports no chips: the gap stays visible
    assert status.fan_rpm == [1560, 1560, 600, 720]
    assert status.expected_hashrate_hs == pytest.approx(63919e9)


@pytest.mark.parametrize("model, algorithm, scale", [
    ("Antminer S19 Pro", "sha256d", 1e9), ("Antminer L3+", "scrypt", 1e6), ("Antminer L7", "scrypt", 1e6),
    ("Antminer L9", "scrypt", 1e6), ("Antminer D3", "x11", 1e6), ("Antminer S9 Hiveon", "sha256d", 1e9),
    (None, "sha256d", 1e9),
])
def test_algorithm_table(model, algorithm, scale):
    assert antminer.algorithm_for(model) == (algorithm, scale)


def test_driver_reads_l3plus_over_tcp_with_units_fixed():
    replies = {
        "summary": None,  # the fake answers "Invalid command": stats carries the hashrate
        "stats": fixture_bytes("antminer/raw/stats.l3plus_cgminer.malformed.txt"),
        "pools": fixture_bytes("antminer/pools.l3plus.json"),
    }
    with FakeCgminer(replies) as fake:
        status = AntminerDriver(fake.host, port=fake.port, timeout=2).read()
    assert status.algorithm == SCRYPT and status.hashrate_hs == pytest.approx(504.56e6)
    assert "devs" not in {r["command"] for r in fake.requests}  # X19 devs is useless; never asked


def test_driver_controls_through_the_web_cgi_with_factory_login():
    driver = AntminerDriver("127.82.0.1")
    assert driver.family == "antminer" and driver.default_credentials == Credentials("root", "root")
    assert driver.credentials.username == "root"  # no login given: the factory root/root
    assert driver.capabilities == {"restart", "sleep", "wake", "mode", "pools", "chips"}  # family maximum
    assert driver.modes == ("sleep", "low", "normal")
    with pytest.raises(ValueError, match="at most 3"):
        driver.set_pools([PoolConfig("stratum+tcp://p:3333", "u")] * 4)  # refused before anything is sent
