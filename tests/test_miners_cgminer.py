"""Generic cgminer parsers on recorded replies, and CGMinerDriver against a fake API on loopback."""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, fixture_bytes, fixture_json, status_reply  # noqa: E402

from miners import cgminer, json_repair  # noqa: E402
from miners.base import POOLS, RESTART, MinerProtocolError, MinerUnreachable, PoolConfig  # noqa: E402
from miners.cgminer import CGMinerDriver  # noqa: E402
from miners.cgminer_api import APIError  # noqa: E402


# --- pure parsers on real replies -------------------------------------------------------------------
def test_bosminer_summary_mhs_to_hs():
    parsed = cgminer.parse_summary(fixture_json("cgminer/summary.s9_bosminer_0.2.0.json"))
    assert parsed["hashrate_hs"] == pytest.approx(14274425.317759488e6)  # "MHS 5s"
    assert parsed["uptime_s"] == 92
    assert (parsed["shares_accepted"], parsed["shares_rejected"]) == (68, 2)
    assert parsed["power_w"] is None  # cgminer/bosminer summary has no watts


def test_whatsminer_summary_reports_its_own_power():
    parsed = cgminer.parse_summary(fixture_json("cgminer/summary.m31s.json"))
    assert parsed["power_w"] == 3553
    assert parsed["expected_hashrate_hs"] == pytest.approx(75697e9)  # "Factory GHS"


def test_nan_hashrate_falls_through_to_the_next_window():
    reply = json_repair.loads_lenient(fixture_bytes("cgminer/raw/multicommand.a10xx_bare_nan.malformed.txt").decode())
    parsed = cgminer.parse_summary(reply["summary"][0])
    assert parsed["hashrate_hs"] == 0  # "MHS av": nan (repaired to null); "MHS 30s": 0 is reported


def test_pools_skip_empty_slots_and_mark_the_pool_in_use():
    pools = cgminer.parse_pools(fixture_json("cgminer/pools.s9_bosminer_0.2.0.json"))
    assert [p.url for p in pools] == ["stratum+tcp://stratum.antpool.com:3333",
                                      "stratum+tcp://stratum.slushpool.com:3333"]
    assert [p.active for p in pools] == [True, False]
    assert pools[1].status == "Dead" and pools[0].accepted == 68 and pools[0].priority == 0


def test_devs_become_boards_without_dummy_temperature():
    boards = cgminer.parse_devs(fixture_json("cgminer/devs.a1566.json"))
    assert len(boards) == 1
    assert boards[0].hashrate_hs == pytest.approx(197497926.49e6)  # "MHS 30s", first window present
    assert boards[0].temp_c is None  # Avalon devs Temperature is -273.0 (unused)


def test_version_gives_model_and_firmware():
    avalon = cgminer.parse_version(fixture_json("cgminer/version.a1566.json"))
    assert avalon == {"firmware": "cgminer", "firmware_version": "24102401_25462b2_9ddf522",
                      "model": "AvalonMiner 15-194"}
    bos = cgminer.parse_version(fixture_json("cgminer/version.s9_bosminer.json"))
    assert bos["firmware"] == "bosminer" and bos["firmware_version"] == "0.2.0-d360818" and "model" not in bos


def test_multicommand_reply_parses_to_status():
    joined = fixture_json("cgminer/multicommand_pools+summary+stats.a10xx.json")
    status = cgminer.parse_cgminer({name: joined[name][0] for name in ("summary", "stats", "pools")})
    assert status.hashrate_hs == pytest.approx(32247416.81e6)  # "MHS 30s"
    assert status.power_w is None
    assert status.uptime_s == 155
    assert status.pools and status.pools[0].active


def test_devs_only_sums_boards():
    status = cgminer.parse_cgminer({"devs": fixture_json("cgminer/devs.a1566.json"),
                                    "version": fixture_json("cgminer/version.a1566.json")})
    assert status.hashrate_hs == pytest.approx(197497926.49e6)
    assert status.model == "AvalonMiner 15-194"


def test_type_suffix_is_stripped():
    assert cgminer.model_from_type("Antminer S9 (vnish 3.8.6)") == "Antminer S9"


# --- the driver against a fake API ------------------------------------------------------------------
def bos_replies() -> dict:
    return {
        "summary": fixture_bytes("cgminer/summary.s9_bosminer_0.2.0.json"),
        "pools": fixture_bytes("cgminer/pools.s9_bosminer_0.2.0.json"),
        "version": fixture_bytes("cgminer/version.s9_bosminer.json"),
        "stats": status_reply("CGMiner stats", section="STATS", body=[{"STATS": 0, "ID": "X"}]),
        "devs": status_reply("0 ASC(s)", section="DEVS"),
    }


def test_read_in_one_joined_request():
    replies = bos_replies()

    def joined(request):
        return json.dumps({name: [json.loads(replies[name])] for name in request["command"].split("+")} | {"id": 1})

    replies["summary+stats+pools+devs+version"] = joined
    replies["summary+stats+pools+devs"] = joined
    with FakeCgminer(replies) as fake:
        driver = CGMinerDriver(fake.host, port=fake.port, timeout=2)
        first = driver.read()
        second = driver.read()
    assert first.hashrate_hs == pytest.approx(14274425.317759488e6)
    assert first.firmware == "bosminer" and second.firmware_version == "0.2.0-d360818"
    assert first.power_w is None
    assert [r["command"] for r in fake.requests] == ["summary+stats+pools+devs+version", "summary+stats+pools+devs"]


def test_read_falls_back_and_remembers_that_joining_fails():
    with FakeCgminer(bos_replies()) as fake:  # no joined entries: the fake answers "Invalid command"
        driver = CGMinerDriver(fake.host, port=fake.port, timeout=2)
        driver.read()
        fake.requests.clear()
        status = driver.read()
    assert [r["command"] for r in fake.requests] == ["summary", "stats", "pools", "devs"]
    assert status.pools[0].url == "stratum+tcp://stratum.antpool.com:3333"


def test_read_of_a_dead_host_is_unreachable():
    with FakeCgminer(mode="reset") as fake:
        with pytest.raises(MinerUnreachable):
            CGMinerDriver(fake.host, port=fake.port, timeout=1).read()


def test_read_without_summary_or_stats_is_an_error():
    with FakeCgminer({}) as fake:
        with pytest.raises(MinerProtocolError):
            CGMinerDriver(fake.host, port=fake.port, timeout=1).read()


def test_capabilities():
    assert CGMinerDriver.capabilities == {RESTART, POOLS}


def test_restart_sends_restart():
    with FakeCgminer({"restart": '{"STATUS":"RESTART"}'}) as fake:
        CGMinerDriver(fake.host, port=fake.port, timeout=1).restart()
    assert fake.requests == [{"command": "restart"}]


def test_set_pools_adds_switches_orders_and_removes(caplog):
    old = fixture_bytes("cgminer/pools.s9_bosminer_0.2.0.json")  # pools 0 and 1
    added = iter([2, 3])

    def addpool(request):
        return status_reply(f"Added pool {next(added)}: 'stratum+tcp://x'", code=55)

    replies = {"pools": old, "addpool": addpool, "switchpool": status_reply("Switching to pool 2"),
               "poolpriority": status_reply("Changed priority"), "removepool": status_reply("Removed pool")}
    caplog.set_level(logging.DEBUG)
    with FakeCgminer(replies) as fake:
        CGMinerDriver(fake.host, port=fake.port, timeout=1).set_pools([
            PoolConfig("stratum+tcp://pool.example.org:3333", "me.rig1", "s3cret,pw"),
            PoolConfig("stratum+tcp://backup.example.org:443", "me.rig1", "x"),
        ])
    sent = [(r["command"], r.get("parameter")) for r in fake.requests]
    assert sent == [
        ("pools", None),
        ("addpool", "stratum+tcp://pool.example.org:3333,me.rig1,s3cret\\,pw"),
        ("addpool", "stratum+tcp://backup.example.org:443,me.rig1,x"),
        ("switchpool", "2"),
        ("poolpriority", "2,3"),
        ("removepool", "1"),
        ("removepool", "0"),
    ]
    assert "s3cret" not in caplog.text


def test_set_pools_validates_before_writing():
    with FakeCgminer({}) as fake:
        driver = CGMinerDriver(fake.host, port=fake.port, timeout=1)
        for bad in ("http://pool:3333", "stratum+tcp://pool", "stratum+tcp://po ol:3333", "stratum+tcp://p:99999"):
            with pytest.raises(ValueError):
                driver.set_pools([PoolConfig(bad, "me")])
    assert fake.requests == []


def test_set_pools_error_never_shows_the_password():
    denied = status_reply("Invalid addpool stratum+tcp://p.example:3333,me,hunter22", letter="E", code=58)
    with FakeCgminer({"pools": fixture_bytes("cgminer/pools.s9_bosminer_0.2.0.json"), "addpool": denied}) as fake:
        with pytest.raises(APIError) as err:
            CGMinerDriver(fake.host, port=fake.port, timeout=1).set_pools(
                [PoolConfig("stratum+tcp://p.example:3333", "me", "hunter22")])
    assert "hunter22" not in str(err.value)
