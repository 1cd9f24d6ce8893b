"""The cgminer-API TCP client: framing, deadlines, errors, multi-command, and the JSON repairs."""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, SilentPort, fixture_bytes, status_reply  # noqa: E402

from miners import cgminer_api, json_repair  # noqa: E402
from miners.base import MinerAuthError, MinerProtocolError, MinerUnreachable  # noqa: E402
from miners.cgminer_api import AccessDenied, APIError, EmptyReply  # noqa: E402


# --- repairs ---------------------------------------------------------------------------------
def test_healthy_reply_takes_only_the_strict_parse(monkeypatch):
    class Boom:
        def sub(self, *args, **kwargs):
            raise AssertionError("repair path used for a healthy reply")

    monkeypatch.setattr(json_repair, "_QUOTED_NONFINITE", Boom())
    monkeypatch.setattr(json_repair, "_BARE_NONFINITE", Boom())
    text = fixture_bytes("antminer/version.s19_sleeping.json").decode()
    assert json_repair.loads_lenient(text)["VERSION"][0]["Type"] == "Antminer S19"


@pytest.mark.parametrize("broken, check", [
    ('{"a":1}\x00', lambda d: d == {"a": 1}),                                        # trailing NUL
    ('{"a":1,"b":2,}', lambda d: d == {"a": 1, "b": 2}),                              # btminer ",}"
    ('{"Type":"Antminer S9\n","a":1}', lambda d: d["Type"] == "Antminer S9"),         # raw newline
    ('{"STATS":[{"a":1}{"b":2}]}', lambda d: d["STATS"] == [{"a": 1}, {"b": 2}]),     # bmminer "}{"
    ('{"L":[,{"a":1}]}', lambda d: d["L"] == [{"a": 1}]),                             # bmminer "[,{"
    ('{"x":"1""temp0":5}', lambda d: d["temp0"] == 5),                                # btminer 2023-01-06
    ('{"MHS av":"nan","GHS":"inf","ok":1,}', lambda d: d["MHS av"] is None and d["GHS"] is None),  # Avalon
    ('{"MHS av":nan,"x":[1,nan]}', lambda d: d["MHS av"] is None and d["x"] == [1, None]),  # bare nan
    (',"id":1}', lambda d: d == {"id": 1}),                                           # Avalon fragment
    ('{"a":1,"Error Code 1":"x","Error Code 2":"tru', lambda d: d["a"] == 1 and "Error Code 2" not in d),
    ('{"Msg":{"error_code":["1":"2"]},"a":1}', lambda d: d["Msg"]["error_code"] == {"1": "2"}),
    ('{"Firmware Version":"\\\'2020.REL\\\'"}', lambda d: d["Firmware Version"] == "'2020.REL'"),
])
def test_each_firmware_quirk_is_repaired(broken, check):
    with pytest.raises(ValueError):
        json.loads(broken)
    assert check(json_repair.loads_lenient(broken))


def test_real_malformed_replies_are_repaired():
    stats = json_repair.loads_lenient(fixture_bytes("antminer/raw/stats.l3plus_cgminer.malformed.txt").decode())
    assert stats["STATS"][0]["Type"] == "Antminer L3+" and stats["STATS"][1]["GHS 5s"] == "504.56"
    avalon = json_repair.loads_lenient(fixture_bytes("cgminer/raw/multicommand.a10xx_bare_nan.malformed.txt").decode())
    assert avalon["summary"][0]["SUMMARY"][0]["MHS av"] is None
    assert avalon["stats"][0]["STATS"][0]["ID"] == "AVA100"
    m20s = json_repair.loads_lenient(fixture_bytes("cgminer/raw/summary.m20s_escaped_quote.malformed.txt").decode())
    assert m20s["SUMMARY"][0]["Firmware Version"] == "'20200917.22.REL'"


def test_garbage_stays_an_error():
    with pytest.raises(ValueError):
        json_repair.loads_lenient("Socket connect failed: Connection refused\n")


# --- one command over TCP ------------------------------------------------------------------------
def test_replays_a_recorded_reply_with_nul():
    with FakeCgminer({"version": fixture_bytes("antminer/version.s19_sleeping.json")}) as fake:
        reply = cgminer_api.send_command(fake.host, fake.port, "version", timeout=2)
    assert reply["VERSION"][0]["Type"] == "Antminer S19"
    assert fake.requests == [{"command": "version"}]


def test_parameter_is_sent_and_reply_without_nul_is_accepted():
    with FakeCgminer({"switchpool": status_reply("Switching to pool 1")}, mode="no_nul") as fake:
        reply = cgminer_api.send_command(fake.host, fake.port, "switchpool", "1", timeout=2)
    assert reply["STATUS"][0]["Msg"] == "Switching to pool 1"
    assert fake.requests == [{"command": "switchpool", "parameter": "1"}]


def test_malformed_reply_over_the_wire_is_repaired():
    raw = fixture_bytes("antminer/raw/stats.s9_hiveon.malformed.txt")
    with FakeCgminer({"stats": raw}) as fake:
        reply = cgminer_api.send_command(fake.host, fake.port, "stats", timeout=2)
    assert reply["STATS"][1]["chain_acn6"] == 63


def test_error_status_carries_the_firmware_message():
    with FakeCgminer({"ascset": status_reply("Missing device id", letter="E", code=15)}) as fake:
        with pytest.raises(APIError) as err:
            cgminer_api.send_command(fake.host, fake.port, "ascset", timeout=2)
    assert err.value.code == 15 and err.value.msg == "Missing device id"
    assert not isinstance(err.value, AccessDenied)


def test_code_45_is_access_denied():
    denied = status_reply("Access denied to 'restart' command", letter="E", code=45)
    with FakeCgminer({"restart": denied}) as fake:
        with pytest.raises(AccessDenied) as err:
            cgminer_api.send_command(fake.host, fake.port, "restart", timeout=2)
    assert isinstance(err.value, MinerProtocolError) and isinstance(err.value, MinerAuthError)
    assert "Access denied" in str(err.value)


def test_not_json_and_empty_replies():
    with FakeCgminer({"version": b"<html>hello</html>", "quit": b""}) as fake:
        with pytest.raises(MinerProtocolError, match="not JSON"):
            cgminer_api.send_command(fake.host, fake.port, "version", timeout=2)
        with pytest.raises(EmptyReply):
            cgminer_api.send_command(fake.host, fake.port, "quit", timeout=2)


def test_refused_port_is_unreachable():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(MinerUnreachable, match="refused"):
        cgminer_api.send_command("127.0.0.1", port, "version", timeout=1)


def test_peer_that_never_answers_returns_within_the_deadline():
    with FakeCgminer(mode="silent") as fake:
        start = time.monotonic()
        with pytest.raises(MinerUnreachable):
            cgminer_api.send_command(fake.host, fake.port, "summary", timeout=0.4)
        assert time.monotonic() - start < 0.9


def test_peer_that_drops_the_syn_returns_within_the_deadline():
    with SilentPort("127.82.3.1", 4028):
        start = time.monotonic()
        with pytest.raises(MinerUnreachable, match="connect"):
            cgminer_api.send_command("127.82.3.1", 4028, "summary", timeout=0.4)
        assert time.monotonic() - start < 0.9


def test_reset_is_unreachable():
    with FakeCgminer(mode="reset") as fake:
        with pytest.raises(MinerUnreachable):
            cgminer_api.send_command(fake.host, fake.port, "summary", timeout=2)


def test_trickling_peer_is_cut_off_at_the_overall_deadline():
    # One byte every 50 ms never trips the per-read timeout; only the deadline stops it.
    with FakeCgminer(mode="trickle", trickle_every=0.05) as fake:
        start = time.monotonic()
        with pytest.raises(MinerUnreachable, match="not finished"):
            cgminer_api.exchange(fake.host, fake.port, b'{"command":"stats"}', timeout=0.5, read_timeout=0.3)
        elapsed = time.monotonic() - start
    assert 0.45 < elapsed < 1.0


def test_parameter_escaping():
    assert cgminer_api.escape_parameter("pa,ss\\x") == "pa\\,ss\\\\x"


# --- several commands ------------------------------------------------------------------------------
def test_multi_command_reply_is_unwrapped_in_one_connection():
    joined = fixture_bytes("cgminer/multicommand_pools+summary+stats.a10xx.json")
    with FakeCgminer({"pools+summary+stats": joined}) as fake:
        results = cgminer_api.send_commands(fake.host, fake.port, ["pools", "summary", "stats"], timeout=2)
    assert results.joined and not results.errors
    assert results.replies["summary"]["SUMMARY"][0]["Elapsed"] == 155
    assert fake.connections == 1


def test_multi_command_falls_back_to_one_command_per_connection():
    # A firmware that rejects "+" (pyasic: S19) answers the joined request with an error.
    replies = {
        "summary": fixture_bytes("cgminer/summary.s9_bosminer_0.2.0.json"),
        "pools": fixture_bytes("cgminer/pools.s9_bosminer_0.2.0.json"),
        "devs": status_reply("Access denied to 'devs' command", letter="E", code=45),
    }
    with FakeCgminer(replies) as fake:
        results = cgminer_api.send_commands(fake.host, fake.port, ["summary", "pools", "devs"], timeout=2)
    assert not results.joined
    assert set(results.replies) == {"summary", "pools"}
    assert isinstance(results.errors["devs"], AccessDenied)
    assert fake.connections == 4  # the refused joined request + one per command


def test_multi_command_budget_is_one_deadline():
    with FakeCgminer(mode="silent") as fake:
        start = time.monotonic()
        with pytest.raises(MinerUnreachable):
            cgminer_api.send_commands(fake.host, fake.port, ["summary", "pools", "stats"], timeout=0.4)
        assert time.monotonic() - start < 0.9


def test_trailing_whitespace_does_not_trigger_truncation():
    assert json_repair.loads_lenient('{"a":1,"b":2,}\r\n ') == {"a": 1, "b": 2}
