"""Simulator hardware conditions read through the REAL app drivers, and the simulator's control server.

Every miner listens on 127.84.2.x. Each supported (kind, condition) pair is set,
read with ``miners.make_driver`` and checked on the parsed MinerStatus, then
cleared and read back to normal. The control server (simulator/control.py) and
its command line (simulator/ctl.py) are driven over loopback HTTP.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request

import pytest

from miners import make_driver
from miners.base import MinerError, MinerStatus
from miners.cgminer import parse_stats
from miners.whatsminer_parse import parse_v2_summary
from services.power.overheat import default_limit_c
from simulator import MinerSpec, SimFleet
from simulator import ctl
from simulator.conditions import CONDITIONS, REJECT_RATIO, hot_c
from simulator.control import ControlServer, parse_address

NET = "127.84.2"
ALL = frozenset(CONDITIONS)
NO_BOARD = ALL - {"board_down"}

# ip -> (spec, app driver family, the conditions that kind shows): stated here so a change shows up.
MINERS: dict[str, tuple[MinerSpec, str, frozenset[str]]] = {
    f"{NET}.10": (MinerSpec("bitaxe", f"{NET}.10", model="BM1370"), "bitaxe", NO_BOARD),  # AxeOS default v2.12.0
    f"{NET}.11": (MinerSpec("bitaxe", f"{NET}.11", model="BM1368", firmware_version="v2.15.0"), "bitaxe", NO_BOARD),
    f"{NET}.12": (MinerSpec("antminer", f"{NET}.12", model="S19"), "antminer", ALL),
    f"{NET}.13": (MinerSpec("antminer", f"{NET}.13", model="S9"), "antminer", ALL),
    f"{NET}.14": (MinerSpec("antminer", f"{NET}.14", model="L3+"), "antminer", ALL),
    f"{NET}.15": (MinerSpec("whatsminer", f"{NET}.15", model="M30S+"), "whatsminer", ALL),
    f"{NET}.16": (MinerSpec("whatsminer", f"{NET}.16", model="M31S"), "whatsminer", ALL),
    f"{NET}.17": (MinerSpec("cgminer", f"{NET}.17", devices=2), "cgminer", frozenset({"hot", "rejecting", "pool_down"})),
    f"{NET}.18": (MinerSpec("avalon", f"{NET}.18", model="Avalon Q"), "avalon", NO_BOARD),
    f"{NET}.19": (MinerSpec("vnish", f"{NET}.19", model="Antminer S19", firmware_version="1.2.6"), "vnish", NO_BOARD),
    f"{NET}.20": (MinerSpec("braiins", f"{NET}.20", model="Antminer S19 XP", firmware_version="25.11"), "braiins",
                  NO_BOARD),
    f"{NET}.21": (MinerSpec("luxos", f"{NET}.21", model="Antminer S19k Pro"), "luxos", NO_BOARD),
    f"{NET}.22": (MinerSpec("bitaxe", f"{NET}.22", model="NerdQAxe++"), "bitaxe",
                  frozenset({"fan_stopped", "hot", "rejecting"})),
    f"{NET}.24": (MinerSpec("vnish_legacy", f"{NET}.24", model="Antminer S9"), "vnish", NO_BOARD),
}
UNSUPPORTED_KINDS = {f"{NET}.23": MinerSpec("nmminer", f"{NET}.23")}
M60S = f"{NET}.25"  # Whatsminer API 3 on 4433: its driver reads no share counters and drops 0 rpm fans
CASES = [pytest.param(ip, name, id=f"{MINERS[ip][0].kind}-{MINERS[ip][0].model}-{name}")
         for ip in MINERS for name in CONDITIONS if name in MINERS[ip][2]]
REFUSED = [pytest.param(ip, name, id=f"{MINERS[ip][0].kind}-{MINERS[ip][0].model}-{name}")
           for ip in MINERS for name in CONDITIONS if name not in MINERS[ip][2]]


@pytest.fixture(scope="module")
def fleet():
    specs = ([spec for spec, _, _ in MINERS.values()] + list(UNSUPPORTED_KINDS.values())
             + [MinerSpec("whatsminer", M60S, model="M60S")])
    with SimFleet(specs, allow_any_client=True, seed=84) as fleet:
        yield fleet


@pytest.fixture
def healthy(fleet):
    """Every miner without conditions or faults before and after each test."""
    for miner in fleet.miners:
        fleet.set_conditions(miner.ip, [])
        fleet.set_fault(miner.ip, None)
    yield fleet
    for miner in fleet.miners:
        fleet.set_conditions(miner.ip, [])
        fleet.set_fault(miner.ip, None)


def read(fleet: SimFleet, ip: str) -> MinerStatus:
    """One read through the app's real driver for that miner."""
    driver = make_driver(MINERS[ip][1], ip, port_offset=fleet.port_offset, timeout=3.0)
    try:
        return driver.read()
    finally:
        driver.close()


def active_priority(status: MinerStatus) -> int | None:
    actives = [p for p in status.pools if p.active]
    assert len(actives) == 1, status.pools
    return actives[0].priority


def check(fleet: SimFleet, ip: str, name: str, before: MinerStatus, after: MinerStatus) -> None:
    """The parsed reading shows condition ``name`` (``before``: the same miner healthy)."""
    family = MINERS[ip][1]
    if name == "board_down":
        assert after.hashrate_hs and before.hashrate_hs
        assert after.hashrate_hs < before.hashrate_hs * (1 - 0.6 / len(before.boards)), (before, after)
        lost = [b for b in after.boards if b.hashrate_hs == 0 and not b.chips]
        assert len(after.boards) == len(before.boards) - 1 or lost, after.boards
    elif name == "fan_stopped":
        assert after.fan_rpm and all(rpm == 0 for rpm in after.fan_rpm), after.fan_rpm
        assert before.fan_rpm and any(before.fan_rpm)
        assert (after.hashrate_hs or 0) > 0.8 * (before.hashrate_hs or 0) > 0  # still hashing
    elif name == "hot":
        limit = default_limit_c(family)
        assert hot_c(family) >= limit + 10
        assert after.temp_c is not None and after.temp_c >= limit + 10, (after.temp_c, limit)
        assert before.temp_c is not None and before.temp_c < limit
    elif name == "rejecting":
        fleet.call(lambda: fleet.miner(ip).skip(3600))  # an hour of shares at once
        later = read(fleet, ip)
        accepted = (later.shares_accepted or 0) - (after.shares_accepted or 0)
        rejected = (later.shares_rejected or 0) - (after.shares_rejected or 0)
        assert accepted + rejected >= 50, (after, later)
        assert rejected / (accepted + rejected) == pytest.approx(REJECT_RATIO, abs=0.05)
    elif name == "pool_down":
        assert active_priority(before) == 0
        assert active_priority(after) not in (0, None), after.pools
        first = next(p for p in after.pools if p.priority == 0)
        if family != "bitaxe":  # AxeOS reports no pool status, only isUsingFallbackStratum
            assert first.status.lower() in ("dead", "offline"), after.pools
            assert not first.active


def check_normal(fleet: SimFleet, ip: str, before: MinerStatus, cleared: MinerStatus) -> None:
    """Cleared: the readings are back to the healthy ones."""
    family = MINERS[ip][1]
    assert cleared.hashrate_hs == pytest.approx(before.hashrate_hs, rel=0.2)  # instant rates: 3 % noise
    assert len(cleared.boards) == len(before.boards)
    assert [b.chips for b in cleared.boards] == [b.chips for b in before.boards]
    assert len(cleared.fan_rpm) == len(before.fan_rpm) and all(cleared.fan_rpm) == all(before.fan_rpm)
    assert cleared.temp_c is not None and cleared.temp_c < default_limit_c(family)
    assert active_priority(cleared) == 0


@pytest.mark.parametrize(("ip", "name"), CASES)
def test_condition_shows_through_the_real_driver_and_clears(healthy, ip, name):
    fleet = healthy
    before = read(fleet, ip)
    fleet.set_conditions(ip, [name])
    assert fleet.miner(ip).conditions == frozenset({name})
    after = read(fleet, ip)
    check(fleet, ip, name, before, after)
    fleet.set_conditions(ip, [])
    assert fleet.miner(ip).conditions == frozenset()
    check_normal(fleet, ip, before, read(fleet, ip))


def test_whatsminer_api3_shows_board_down_hot_and_pool_down(healthy):
    fleet = healthy
    MINERS[M60S] = (fleet.miner(M60S).spec, "whatsminer", ALL)  # read() and check() look the family up here
    try:
        before = read(fleet, M60S)
        assert len(before.boards) == 3
        for name in ("board_down", "hot", "pool_down"):
            fleet.set_conditions(M60S, [name])
            check(fleet, M60S, name, before, read(fleet, M60S))
        fleet.set_conditions(M60S, [])
        check_normal(fleet, M60S, before, read(fleet, M60S))
    finally:
        del MINERS[M60S]


def test_conditions_combine(healthy):
    fleet, ip = healthy, f"{NET}.12"
    before = read(fleet, ip)
    fleet.set_conditions(ip, ["board_down", "fan_stopped", "hot", "pool_down"])
    after = read(fleet, ip)
    for name in ("board_down", "hot", "pool_down"):
        check(fleet, ip, name, before, after)
    assert after.fan_rpm == [0, 0, 0, 0] and after.hashrate_hs  # the boards left keep hashing
    fleet.set_conditions(ip, ["hot"])  # replaces the set
    assert fleet.miner(ip).conditions == frozenset({"hot"})
    again = read(fleet, ip)
    assert len(again.boards) == len(before.boards) and all(again.fan_rpm) and active_priority(again) == 0


@pytest.mark.parametrize(("ip", "name"), REFUSED)
def test_a_kind_refuses_a_condition_it_cannot_show(healthy, ip, name):
    fleet = healthy
    kind = MINERS[ip][0].kind
    with pytest.raises(ValueError, match=rf"{kind}.*'{name}'"):
        fleet.set_conditions(ip, ["hot", name] if "hot" in MINERS[ip][2] and name != "hot" else [name])
    assert fleet.miner(ip).conditions == frozenset()  # nothing applied


@pytest.mark.parametrize("ip", list(UNSUPPORTED_KINDS))
def test_kinds_without_conditions_refuse_every_one(healthy, ip):
    for name in CONDITIONS:
        with pytest.raises(ValueError, match=UNSUPPORTED_KINDS[ip].kind):
            healthy.set_conditions(ip, [name])


def test_bad_names_and_addresses(healthy):
    with pytest.raises(ValueError, match="unknown condition 'frozen'"):
        healthy.set_conditions(f"{NET}.12", ["frozen"])
    with pytest.raises(ValueError, match="list of names"):
        healthy.set_conditions(f"{NET}.12", "hot")
    with pytest.raises(KeyError):
        healthy.set_conditions(f"{NET}.99", ["hot"])


def test_conditions_set_before_start_apply_when_the_fleet_comes_up():
    ip = f"{NET}.40"
    fleet = SimFleet([MinerSpec("antminer", ip, model="S19")], allow_any_client=True, seed=1)
    fleet.set_conditions(ip, ["hot", "pool_down"])
    with fleet:
        driver = make_driver("antminer", ip, port_offset=fleet.port_offset, timeout=3.0)
        try:
            status = driver.read()
        finally:
            driver.close()
    assert status.temp_c is not None and status.temp_c >= default_limit_c("antminer") + 10
    assert active_priority(status) == 1


# --- the small driver fixes the conditions needed (recorded reply shapes) ---------------------------

def test_cgminer_stats_with_every_fan_at_zero_reports_zeros_not_no_fans():
    block = {"STATS": 0, "ID": "BTM_SOC0", "fan_num": 4, "fan1": 0, "fan2": 0, "fan3": 0, "fan4": 0,
             "chain_acn1": 76, "chain_rate1": "31000.00"}
    assert parse_stats({"STATS": [{"Type": "Antminer S19"}, block]})["fan_rpm"] == [0, 0, 0, 0]
    s9 = {"fan_num": 2, **{f"fan{n}": 0 for n in range(1, 9)}, "chain_acn6": 63}  # S9: fans at fan5/fan6
    assert parse_stats({"STATS": [{}, s9]})["fan_rpm"] == [0, 0]
    assert parse_stats({"STATS": [{}, {"fan_num": 0, "chain_acn1": 76}]})["fan_rpm"] == []  # hydro: no fans


def test_whatsminer_both_fans_at_zero_while_hashing_is_a_stop_not_no_reading():
    base = {"MHS 1m": 100000000.0, "Fan Speed In": 0, "Fan Speed Out": 0}
    assert parse_v2_summary(base)["fan_rpm"] == [0, 0]
    assert parse_v2_summary({**base, "Fan Speed In": 5700})["fan_rpm"] == [5700]  # M31S: Out 0 = no reading
    assert parse_v2_summary({**base, "Liquid Cooling": True})["fan_rpm"] == []  # hydro units have no fans
    assert parse_v2_summary({**base, "MHS 1m": 0.0})["fan_rpm"] == []  # not hashing: no claim


# --- the control server ------------------------------------------------------------------------------

def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def http(method: str, url: str, body: object = None, raw: bytes | None = None) -> tuple[int, object]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        finally:
            exc.close()


@pytest.fixture
def control(healthy):
    fds, threads = open_fds(), threading.active_count()
    server = ControlServer(healthy, f"{NET}.2", 0).start()
    yield server, f"http://{server.address}"
    server.stop()
    server.stop()  # twice is fine
    deadline = time.monotonic() + 5
    while (open_fds() > fds or threading.active_count() > threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds() <= fds and threading.active_count() <= threads


def test_control_lists_every_miner(control, healthy):
    _, base = control
    healthy.set_conditions(f"{NET}.12", ["hot", "rejecting"])
    status, listed = http("GET", base + "/miners")
    assert status == 200 and isinstance(listed, list)
    by_ip = {m["ip"]: m for m in listed}
    assert set(by_ip) == {m.ip for m in healthy.miners}
    s19 = by_ip[f"{NET}.12"]
    assert s19 == {"ip": f"{NET}.12", "kind": "antminer", "model": "Antminer S19", "fault": None,
                   "conditions": ["hot", "rejecting"], "supported_conditions": list(CONDITIONS), "listening": True}
    assert by_ip[f"{NET}.23"]["supported_conditions"] == []
    assert http("GET", base + f"/miners/{NET}.10")[1]["kind"] == "bitaxe"


def test_control_stop_refuses_connections_and_start_brings_the_miner_back(control, healthy):
    _, base = control
    ip = f"{NET}.12"
    status, miner = http("POST", base + f"/miners/{ip}", {"fault": "down"})
    assert status == 200 and miner["fault"] == "down" and miner["listening"] is False
    with pytest.raises(MinerError) as refused:
        read(healthy, ip)
    assert "refused" in str(refused.value).lower()
    status, miner = http("POST", base + f"/miners/{ip}", {"fault": None, "conditions": []})
    assert status == 200 and miner["fault"] is None and miner["listening"] is True
    assert read(healthy, ip).hashrate_hs


def test_control_sets_conditions_seen_by_the_driver(control, healthy):
    _, base = control
    ip = f"{NET}.15"
    status, miner = http("POST", base + f"/miners/{ip}", {"conditions": ["board_down", "fan_stopped"]})
    assert status == 200 and miner["conditions"] == ["board_down", "fan_stopped"]
    reading = read(healthy, ip)
    assert len(reading.boards) == 2 and reading.fan_rpm == [0, 0]


@pytest.mark.parametrize(("path", "body", "raw", "code", "reason"), [
    (f"/miners/{NET}.99", {"fault": "down"}, None, 404, "no simulated miner"),
    ("/miners/not-an-ip", {"fault": "down"}, None, 400, "not an IPv4 address"),
    (f"/miners/{NET}.12", {"fault": "melt"}, None, 400, "unknown fault"),
    (f"/miners/{NET}.12", {"conditions": ["frozen"]}, None, 400, "unknown condition"),
    (f"/miners/{NET}.10", {"conditions": ["board_down"]}, None, 400, "bitaxe"),
    (f"/miners/{NET}.12", {"conditions": "hot"}, None, 400, "list of names"),
    (f"/miners/{NET}.12", {"fault": 3}, None, 400, "fault must be"),
    (f"/miners/{NET}.12", {"mood": "sad"}, None, 400, "unknown key"),
    (f"/miners/{NET}.12", {}, None, 400, "JSON object"),
    (f"/miners/{NET}.12", None, b"{not json", 400, "not JSON"),
    (f"/miners/{NET}.12", None, b"x" * 5000, 400, "bytes"),
    ("/elsewhere", {"fault": "down"}, None, 404, "not found"),
])
def test_control_bad_requests_change_nothing(control, healthy, path, body, raw, code, reason):
    _, base = control
    status, reply = http("POST", base + path, body, raw)
    assert status == code and reason in reply["error"], reply
    assert all(m.fault is None and not m.conditions for m in healthy.miners)
    # A valid fault with an invalid condition applies neither.
    status, _ = http("POST", base + f"/miners/{NET}.12", {"fault": "down", "conditions": ["frozen"]})
    assert status == 400 and healthy.miner(f"{NET}.12").fault is None


def test_ctl_command_line(control, healthy, capsys):
    server, _ = control
    address = ["--control", server.address]
    ip = f"{NET}.13"
    assert ctl.main(address + ["stop", ip]) == 0 and healthy.miner(ip).fault == "down"
    assert ctl.main(address + ["condition", ip, "hot", "pool_down"]) == 0
    assert healthy.miner(ip).conditions == frozenset({"hot", "pool_down"})
    assert ctl.main(address + ["clear", ip]) == 0  # conditions only
    assert healthy.miner(ip).conditions == frozenset() and healthy.miner(ip).fault == "down"
    assert ctl.main(address + ["fault", ip, "hang"]) == 0 and healthy.miner(ip).fault == "hang"
    assert ctl.main(address + ["condition", ip, "fan_stopped"]) == 0
    assert ctl.main(address + ["start", ip]) == 0
    assert healthy.miner(ip).fault is None and healthy.miner(ip).conditions == frozenset()
    assert ctl.main(address + ["list"]) == 0
    out = capsys.readouterr().out
    assert f"{ip:<15} antminer" in out and "hot,pool_down" in out
    assert ctl.main(address + ["stop", f"{NET}.99"]) == 1
    assert ctl.main(address + ["condition", f"{NET}.10", "board_down"]) == 1
    assert "404: no simulated miner" in capsys.readouterr().err


def test_ctl_unreachable_or_non_loopback_address(capsys):
    assert ctl.main(["--control", f"{NET}.3:1", "list"]) == 2
    assert "no simulator control server" in capsys.readouterr().err
    assert ctl.main(["--control", "192.168.1.5:8750", "list"]) == 2
    assert "only loopback" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["10.0.0.1:8750", "0.0.0.0:8750", "example.com:8750", "127.0.0.1", "127.0.0.1:x",
                                  "127.0.0.1:70000"])
def test_control_address_must_be_loopback(text):
    with pytest.raises(ValueError):
        parse_address(text)
    assert parse_address("localhost:8750") == ("127.0.0.1", 8750)


# --- python -m simulator --condition / --control ---------------------------------------------------

def test_command_line_conditions_are_checked_before_anything_starts(capsys):
    from simulator.__main__ import main, parse_conditions

    ips = [f"{NET}.50", f"{NET}.51"]
    assert parse_conditions([f"{NET}.50=hot", f"{NET}.50=hot,rejecting", f"{NET}.51=pool_down"], ips) == {
        f"{NET}.50": ["hot", "rejecting"], f"{NET}.51": ["pool_down"]}
    for bad, reason in ((f"{NET}.50", "use IP=NAME"), (f"{NET}.99=hot", "not one of the simulated miners"),
                        (f"{NET}.50=frozen", "unknown condition")):
        with pytest.raises(ValueError, match=reason):
            parse_conditions([bad], ips)
    assert main(["--kind", "bitaxe", "--base-ip", f"{NET}.50", "--condition", f"{NET}.50=board_down"]) == 2
    assert "bitaxe" in capsys.readouterr().err
    assert main(["--kind", "bitaxe", "--base-ip", f"{NET}.50", "--control", "192.168.0.2:8750"]) == 2
    assert "only loopback" in capsys.readouterr().err


def test_simulator_process_with_control_server_end_to_end():
    import re
    import signal
    import subprocess
    import sys

    ip = f"{NET}.60"
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--kind", "antminer", "--model", "S19", "--base-ip", ip,
                             "--port-offset", "21000", "--condition", f"{ip}=rejecting", "--control", f"{NET}.59:0",
                             "--quiet"], cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        address = None
        deadline = time.monotonic() + 20
        while address is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"the simulator ended early (exit {proc.poll()})"
            if found := re.search(r"control: http://([\d.]+:\d+)/miners", line):
                address = found.group(1)
        assert address and address.startswith(f"{NET}.59:")
        assert ctl.main(["--control", address, "stop", ip]) == 0
        driver = make_driver("antminer", ip, port_offset=21000, timeout=2.0)
        with pytest.raises(MinerError):
            driver.read()
        assert ctl.main(["--control", address, "start", ip]) == 0
        assert driver.read().hashrate_hs
        driver.close()
        listed = ctl.request(address, "GET", "/miners")
        assert [(m["ip"], m["fault"], m["conditions"]) for m in listed] == [(ip, None, [])]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
    assert code == 0


def test_control_reports_a_failed_start_as_500(control, healthy):
    import socket

    _, base = control
    ip = f"{NET}.13"
    assert http("POST", base + f"/miners/{ip}", {"fault": "down"})[0] == 200
    squatter = socket.socket()
    try:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((ip, healthy.miner(ip).ports()["cgapi"]))
        squatter.listen(1)
        status, reply = http("POST", base + f"/miners/{ip}", {"fault": None})
        assert status == 500 and "cannot listen" in reply["error"], reply
    finally:
        squatter.close()
    assert http("POST", base + f"/miners/{ip}", {"fault": None})[0] == 200
    assert read(healthy, ip).hashrate_hs
