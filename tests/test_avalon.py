"""Avalon: the pure parsers on recorded replies (tests/fixtures/avalon, sources in its README), and the driver
against a local fake cgminer API (one request per connection, reply + NUL)."""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, fixture_bytes, fixture_json, status_reply  # noqa: E402

from miners import avalon, json_repair  # noqa: E402
from miners.avalon import A_SERIES, HOME, NANO3, AvalonDriver  # noqa: E402
from miners.base import (  # noqa: E402
    CHIPS,
    FAN,
    MODE,
    POOLS,
    REBOOT,
    RESTART,
    SLEEP,
    WAKE,
    Credentials,
    MinerAuthError,
    MinerError,
    NotSupported,
    PoolConfig,
)

TH = 1e12


def text(name: str) -> str:
    return fixture_bytes(f"avalon/{name}").decode()


# --- the Name[value] strings ---------------------------------------------------------------
def test_parse_mm_a1566_tokens():
    mm, hb = avalon.mm_data(fixture_json("avalon/stats.a1566.json"))
    assert mm["Ver"] == "15-194-24102401_25462b2_9ddf522" and mm["WORKMODE"] == "1"
    assert avalon.values(mm["PS"]) == [0, 1209, 1187, 297, 3526, 1188, 3731]
    assert mm["SYSTEMSTATU"] == "Work: In Work, Hash Board: 3"  # commas inside a value survive
    assert len(avalon.values(mm["PVT_T2"])) == 160 and hb == {}
    assert mm["ATAOPTS2"].startswith("--avalon10-freq 300:318:339:360")


def test_parse_a1566_full_status():
    status = avalon.parse_avalon({"stats": fixture_json("avalon/stats.a1566.json"),
                                  "version": fixture_json("avalon/version.a1566.json"),
                                  "pools": fixture_json("avalon/pools.a1566.json")})
    assert status.model == "AvalonMiner 15-194" and status.firmware == "cgminer"
    assert status.firmware_version == "24102401_25462b2_9ddf522"
    assert status.mac == "12:34:56:78:90:12"  # "MAC":"123456789012", no colons on the wire
    assert status.hashrate_hs == pytest.approx(199241.07e9)  # GHSspd: real-time GH/s
    assert status.expected_hashrate_hs == pytest.approx(201920.42e9)  # GHSmm
    assert status.power_w == 3731  # WALLPOWER (= PS[6] here), not MPO[3515]
    assert status.temp_c == 78 and status.fan_rpm == [4275, 4282] and status.fan_percent == 49
    assert [b.hashrate_hs / 1e9 for b in status.boards] == pytest.approx([59459.52, 61407.83, 63139.66])
    assert [b.chip_temp_c for b in status.boards] == [77, 78, 77] and [b.chips for b in status.boards] == [160] * 3
    assert status.frequency_mhz == pytest.approx(345.94) and status.state == "mining"
    assert [p.url for p in status.pools][0] == "stratum+tcp://stratum.pool.io:3333" and status.pools[0].active


def test_parse_a10xx_joined_reply_and_unknown_power():
    joined = fixture_json("avalon/multicommand_pools+summary+stats.a10xx.json")
    status = avalon.parse_avalon({name: joined[name][0] for name in ("summary", "stats", "pools")})
    assert status.model == "AvalonMiner 1047"  # from Ver[1047-...]: no version reply given
    assert status.hashrate_hs == pytest.approx(32247416.81e6)  # no GHSspd on this build: summary "MHS 30s"
    assert status.power_w is None  # PS[0 0 0 0 0 0]: no reading, never 0 W
    assert [b.chips for b in status.boards] == [120, 120] and status.temp_c == 64
    assert status.shares_accepted == 6 and len(status.pools) == 3


def test_bare_nan_a10xx_reply_is_repaired_and_parsed():
    raw = text("raw/multicommand.a10xx_bare_nan.malformed.txt")
    with pytest.raises(ValueError):
        json.loads(raw)
    joined = json_repair.loads_lenient(raw)
    status = avalon.parse_avalon({name: joined[name][0] for name in ("summary", "stats", "pools")})
    assert status.expected_hashrate_hs == pytest.approx(37470.98e9) and status.boards


def test_parse_nano3s_mm_string_and_version():
    """miner-sentinel's Nano 3S string: PS[0 0 27541 4 0 3756 133] -> 133 W from PS[6] (= MPO, by coincidence)."""
    status = avalon.parse_avalon({"estats": {"STATS": [{"MM ID0": text("raw/stats_mm_id0.nano3s.txt")}]},
                                  "version": fixture_json("avalon/version.nano3s.json")})
    assert status.model == "Avalon Nano3s" and status.mac == "E0:E1:A9:3F:30:53"
    assert status.firmware_version == "25021401_56abae7"
    assert status.hashrate_hs == pytest.approx(6598.84e9) and status.power_w == 133
    assert status.temp_c == 95 and status.fan_rpm == [1520] and status.fan_percent == 33
    assert status.boards[0].chips == 12 and status.boards[0].temp_c is None  # ITemp[-273]: no sensor
    assert avalon.model_kind(status.model, {}) == HOME
    chips = avalon.parse_chips(*avalon.mm_data({"STATS": [{"MM ID0": text("raw/stats_mm_id0.nano3s.txt")}]}))
    assert len(chips) == 12 and chips[0].temp_c == 85 and chips[0].voltage_mv == 299


def test_parse_avalon_q_soft_off_summary_string():
    """The Avalon Q 'STATS':{...} string captured while soft-off: sleeping, 0 GH/s, wall watts still read."""
    mm = avalon.parse_mm(text("raw/stats_mm_summary.avalon_q_softoff.txt"))
    assert mm["Ver"] == "Q-25052801_14a19a2" and mm["Mask"] == "25"  # "Nonce Mask[25]": the key has a space
    summary = text("raw/stats_mm_summary.avalon_q_softoff.txt")
    status = avalon.parse_avalon({"estats": {"STATS": [{"MM ID0:Summary": summary}]}})
    assert status.model == "Avalon Q" and status.state == "sleeping"
    assert status.hashrate_hs == 0 and status.expected_hashrate_hs == pytest.approx(55032.79e9)
    assert status.power_w == 146  # PS[0 1222 4 0 0 2245 146]: 7th value = wall power while soft-off
    assert status.fan_rpm == [0, 0, 0, 0] and status.temp_c is None  # TMax[0]: no reading
    assert status.boards[0].temp_c == 27  # HBOTemp


def test_parse_nano3_text_mode_stats_without_power():
    """Nano 3 (fw nano3-24071801) plain-text `stats`; the capture's line breaks came from the e-mail that
    posted it (the device sends one line), so they are turned back into the spaces they replaced."""
    reply = avalon.parse_text_reply(text("raw/stats.nano3_textmode.txt").replace("\n", " "))
    assert reply["STATUS"][0]["Code"] == "70" and reply["STATS"][0]["ID"] == "AVANANO0"
    status = avalon.parse_avalon({"stats": reply})
    assert status.model == "Avalon Nano3" and avalon.model_kind(status.model, {}) == NANO3
    assert status.power_w is None  # PS[0 0 0 3 2792 89 324] is not Canaan's layout: no made-up watts
    assert status.hashrate_hs == pytest.approx(2630.98e9) and status.temp_c == 87
    assert status.boards[0].chips == 10 and status.uptime_s == 512943


def test_text_mode_version_and_ascset_from_the_a10_manual():
    version = avalon.parse_text_reply(text("raw/version.a10xx_textmode.manual.txt"))
    assert version["VERSION"][0]["PROD"] == "AvalonMiner 10xx" and version["VERSION"][0]["DNA"] == "0000000000000000"
    assert avalon.parse_avalon({"version": version}).mac == "AA:A5:83:6A:0F:14"
    info = avalon.parse_text_reply(text("raw/ascset_workmode.a10xx_textmode.manual.txt"))
    assert info["STATUS"][0]["Msg"] == "ASC 0 set info: WORKMODE[1]"


def test_text_mode_unescapes_and_glues_commas():
    reply = avalon.parse_text_reply("STATUS=S,Code=70,Msg=CGMiner stats|STATS=0,MM ID0=SYSTEMSTATU[Work: In Work\\, "
                                    "Hash Board: 1] PS[0 1 2 3 40 5 60],MM Count=1|")
    assert reply["STATS"][0]["MM ID0"] == "SYSTEMSTATU[Work: In Work, Hash Board: 1] PS[0 1 2 3 40 5 60]"
    unescaped = avalon.parse_text_reply("STATS=0,MM ID0=SYSTEMSTATU[Work: In Work, Hash Board: 3 ] Elapsed[5],"
                                        "MM Count=1")
    assert unescaped["STATS"][0]["MM ID0"].endswith("Elapsed[5]") and unescaped["STATS"][0]["MM Count"] == "1"


@pytest.mark.parametrize("tokens, kind, model, watts", [
    ("WALLPOWER[3731] PS[0 1209 1187 297 3526 1188 3731] MPO[3515]", A_SERIES, "AvalonMiner 15-194", 3731),
    ("PS[0 1209 1187 297 3526 1188 3700] MPO[3515]", A_SERIES, "AvalonMiner 15-194", 3700),  # no WALLPOWER: PS[6]
    ("PS[0 1220 1314 140 1839 1308]", A_SERIES, "AvalonMiner 10xx", 1839),  # A10 manual: 6 values -> PS[4]
    ("PS[0 0 27541 4 0 3756 133] MPO[133]", HOME, "Avalon Nano3s", 133),
    ("PS[0 0 27541 4 0 3756 9000] MPO[133]", HOME, "Avalon Nano3s", None),  # implausible for a Nano
    ("PS[0 0 0 3 2792 89 324] MPO[90]", NANO3, "Avalon Nano3", None),  # Nano 3: never from PS
    ("MPO[800]", HOME, "Avalon Q", None),  # MPO is a target, not a reading
])
def test_power_order(tokens, kind, model, watts):
    assert avalon.power_from_mm(avalon.parse_mm(tokens), kind, model) == watts


def test_help_list_and_kinds():
    assert {"softoff", "softon", "workmode", "fan-spd", "time"} <= avalon.help_options(
        fixture_json("avalon/ascset_help.avalon_q.json"))
    assert avalon.model_kind("Avalon Q", {}) == HOME and avalon.model_kind("Avalon Mini3", {}) == HOME
    assert avalon.model_kind("AvalonMiner 15-194", {}) == A_SERIES
    assert avalon.model_kind(None, {"Ver": "1047-20051101_85dc6f0"}) == A_SERIES
    assert avalon.model_kind(None, {"Ver": "nano3-24071801_42c628d"}) == NANO3


def test_pools_never_carry_the_avalon_q_password():
    pools = {"STATUS": [{"STATUS": "S", "Code": 7, "Msg": "1 Pool(s)"}],
             "POOLS": [{"POOL": 0, "URL": "stratum+tcp://Parasite.wtf:42069", "Status": "Alive", "Priority": 0,
                        "User": "bc1q.avalonq1", "Password": "s3cret-pool-pw", "Stratum Active": True}]}
    status = avalon.parse_avalon({"pools": pools})
    assert status.pools[0].user == "bc1q.avalonq1"
    assert "s3cret-pool-pw" not in json.dumps(status.to_dict())


# --- the driver against a fake cgminer API ----------------------------------------------------------
Q_MM = ("'STATS':{Ver[Q-25052801_14a19a2] SYSTEMSTATU[Work: In Work, Hash Board: 1] Elapsed[100] TMax[80] TAvg[75] "
        "Fan1[1500] Fan2[1500] Fan3[1500] Fan4[1500] FanR[45%] PS[0 1222 2450 520 1230 2450 1330] GHSspd[82000.00] "
        "GHSmm[83000.00] MGHS[81000.00] SoftOFF[0] WORKMODE[1] WORKLEVEL[0] MPO[1300]}")


def q_replies(help_reply: str | None = None, **extra):
    summary = status_reply("Summary", code=11, section="SUMMARY", body=[{"Elapsed": 100, "MHS av": 81000000.0,
                                                                      "Accepted": 5, "Rejected": 0}])
    estats = status_reply("CGMiner stats", code=70, section="STATS",
                          body=[{"STATS": 0, "ID": "AVALON0", "MM ID0:Summary": Q_MM,
                                 "HBinfo": "'HB0':{PVT_T0[70 71 72] PVT_V0[283 284 285] MW0[1 2 3]}"}])
    pools = status_reply("1 Pool(s)", code=7, section="POOLS", body=[
        {"POOL": 0, "URL": "stratum+tcp://a.pool:3333", "Status": "Alive", "Priority": 0, "User": "w",
         "Password": "x", "Stratum Active": True}])
    version = status_reply("CGMiner versions", code=22, section="VERSION", body=[
        {"CGMiner": "4.11.1", "PROD": "Avalon Q", "MODEL": "Q", "LVERSION": "25052801_14a19a2", "MAC": "aabbccddeeff"}])
    replies = {"summary": summary, "estats": estats, "pools": pools, "version": version,
               "restart": '{"STATUS":"RESTART","id":1}',
               "ascset": lambda req: help_reply if req.get("parameter") == "0,help" else None}
    replies.update(extra)
    return replies


def test_read_learns_model_help_and_capabilities():
    with FakeCgminer(q_replies(fixture_bytes("avalon/ascset_help.avalon_q.json"))) as fake:
        driver = AvalonDriver(fake.host, port=fake.port, timeout=2)
        status = driver.read()
        assert status.model == "Avalon Q" and status.hashrate_hs == pytest.approx(82000e9)
        assert status.power_w == 1330 and status.boards[0].chips == 3
        assert driver.capabilities == {RESTART, REBOOT, POOLS, CHIPS, MODE, SLEEP, WAKE, FAN}
        assert AvalonDriver.capabilities == {RESTART, REBOOT, SLEEP, WAKE, MODE, FAN, POOLS, CHIPS}  # the maximum
        driver.read()
        commands = [r["command"] for r in fake.requests]
        # first poll: the joined request (multi refused by the fake -> singles), version once, help once
        assert commands.count("version") == 1 and commands.count("ascset") == 1
        assert {"command": "ascset", "parameter": "0,help"} in fake.requests


def test_nano3s_without_softoff_in_help_cannot_sleep():
    nano_help = status_reply("ASC 0 set info: help|voltage|fan-spd|workmode|worklevel|reboot|", letter="I", code=118)
    replies = q_replies(nano_help)
    replies["version"] = fixture_bytes("avalon/version.nano3s.json")
    replies["estats"] = status_reply("CGMiner stats", code=70, section="STATS",
                                     body=[{"STATS": 0, "MM ID0": text("raw/stats_mm_id0.nano3s.txt")}])
    with FakeCgminer(replies) as fake:
        driver = AvalonDriver(fake.host, port=fake.port, timeout=2)
        driver.read()
        assert SLEEP not in driver.capabilities and MODE in driver.capabilities
        with pytest.raises(NotSupported, match="sleep"):
            driver.sleep()
        assert not any(r.get("parameter", "").startswith("0,softoff") for r in fake.requests)


def test_mode_sleep_wake_fan_and_restart_forms():
    sent: list[str] = []

    def ascset(req):
        sent.append(req["parameter"])
        param = req["parameter"]
        if param == "0,help":
            return fixture_bytes("avalon/ascset_help.avalon_q.json")
        if param.startswith("0,softoff"):
            return fixture_bytes("avalon/ascset_softoff.avalon_q.json")
        if param.startswith("0,softon"):
            return b""  # the Avalon Q may close without a reply: success
        return fixture_bytes("avalon/ascset_workmode.avalon_q.json")

    with FakeCgminer(q_replies(ascset=ascset)) as fake:
        driver = AvalonDriver(fake.host, port=fake.port, timeout=2)
        driver.set_mode("high")  # reads first: the model decides the form
        driver.sleep()
        driver.wake()
        driver.set_fan(70)
        driver.set_fan(None)
        driver.reboot()
        driver.restart()
        with pytest.raises(ValueError):
            driver.set_fan(10)
        with pytest.raises(ValueError):
            driver.set_mode("turbo")
    assert sent[1] == "0,workmode,set,2"
    assert sent[2].startswith("0,softoff,1:") and sent[3].startswith("0,softon,1:")
    assert sent[4:] == ["0,fan-spd,70", "0,fan-spd,-1", "0,reboot,0"]
    assert {"command": "restart"} in fake.requests  # restart = the cgminer process only


def test_ascset_errors_map_to_clear_errors():
    failed = status_reply("ASC 0 set failed: Unknown option: softoff", letter="E", code=120)
    caling = status_reply("ASC 0 set failed: current mode 1 is caling Don't permit switch mode", letter="E", code=120)

    def ascset(req):
        if req["parameter"] == "0,help":
            return fixture_bytes("avalon/ascset_help.avalon_q.json")
        return failed if "softoff" in req["parameter"] else caling

    with FakeCgminer(q_replies(ascset=ascset)) as fake:
        driver = AvalonDriver(fake.host, port=fake.port, timeout=2)
        with pytest.raises(NotSupported, match="softoff"):
            driver.sleep()
        with pytest.raises(MinerError, match="calibrating"):
            driver.set_mode("low")


def test_a_series_mode_needs_reboot_and_sleep_cuts_hashpower():
    sent: list[str] = []

    def ascset(req):
        sent.append(req["parameter"])
        if req["parameter"] == "0,help":
            return status_reply("ASC 0 set failed: Unknown option: help", letter="E", code=120)
        return status_reply("ASC 0 set info: WORKMODE[1]", letter="I", code=118)

    replies = {"summary": fixture_json("avalon/multicommand_pools+summary+stats.a10xx.json")["summary"][0],
               "estats": fixture_json("avalon/stats.a1566.json"), "pools": fixture_bytes("avalon/pools.a1566.json"),
               "version": fixture_bytes("avalon/version.a1566.json"), "ascset": ascset}
    replies = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in replies.items()}
    with FakeCgminer(replies) as fake:
        driver = AvalonDriver(fake.host, port=fake.port, timeout=2)
        driver.read()
        assert driver.modes == ("low", "high") and {MODE, SLEEP, WAKE} <= driver.capabilities
        assert FAN not in driver.capabilities  # no help list on this build: only what the A10 manual documents
        driver.set_mode("low")
        status = driver.read()  # the recorded stats still say WORKMODE[1]
        assert any("after a reboot" in e for e in status.errors)
        driver.sleep()
    assert sent[1:] == ["0,workmode,0", "0,hashpower,0"]


def test_setpool_forms_reboot_and_secrets():
    calls: list[dict] = []

    def setpool(req):
        calls.append(req)
        return status_reply("Pool set", code=133)

    def ascset(req):
        calls.append(req)
        return fixture_bytes("avalon/ascset_help.avalon_q.json") if req["parameter"] == "0,help" else \
            status_reply("ASC 0 set OK", code=119)

    with FakeCgminer(q_replies(ascset=ascset, setpool=setpool)) as fake:
        driver = AvalonDriver(fake.host, port=fake.port, timeout=2)
        driver.set_pools([PoolConfig("stratum+tcp://eu.pool:3333", "me.q", "poolpw"),
                          PoolConfig("stratum+tcp://us.pool:3333", "me.q", "x")])
    writes = [c for c in calls if c["command"] == "setpool"]
    # Avalon Q left at its default login: the web password is "admin" (not the root/root default)
    assert [w["parameter"] for w in writes] == ["admin,admin,0,stratum+tcp://eu.pool:3333,me.q,poolpw",
                                                "admin,admin,1,stratum+tcp://us.pool:3333,me.q,x"]
    assert calls[-1] == {"command": "ascset", "parameter": "0,reboot,0"}


def test_setpool_refused_login_is_an_auth_error_without_secrets():
    refused = status_reply("setpool auth failed: wrong web password hunter2", letter="E", code=131)
    with FakeCgminer(q_replies(fixture_bytes("avalon/ascset_help.avalon_q.json"), setpool=refused)) as fake:
        driver = AvalonDriver(fake.host, port=fake.port, timeout=2, credentials=Credentials("root", "hunter2"))
        with pytest.raises(MinerAuthError) as err:
            driver.set_pools([PoolConfig("stratum+tcp://eu.pool:3333", "me", "poolpw")])
        assert "hunter2" not in str(err.value) and "poolpw" not in str(err.value)
        assert not any(r.get("parameter") == "0,reboot,0" for r in fake.requests)  # nothing applied
        with pytest.raises(ValueError, match="comma"):
            driver.set_pools([PoolConfig("stratum+tcp://eu.pool:3333", "me", "a,b")])
        with pytest.raises(ValueError):
            driver.set_pools([PoolConfig("stratum+tcp://a:1", "u")] * 4)


def test_read_chips_from_hbinfo():
    with FakeCgminer(q_replies(fixture_bytes("avalon/ascset_help.avalon_q.json"))) as fake:
        chips = AvalonDriver(fake.host, port=fake.port, timeout=2).read_chips()
    assert [(c.board, c.index, c.temp_c, c.voltage_mv) for c in chips] == [(0, 0, 70, 283), (0, 1, 71, 284),
                                                                           (0, 2, 72, 285)]
