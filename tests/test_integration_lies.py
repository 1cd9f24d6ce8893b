"""The real app against simulated miners that lie, one per fault per transport, on 127.163.1.0/24.

Every family the simulator speaks, over HTTP (AxeOS, Vnish 1.x REST, BraiinsOS REST),
the cgminer API on 4028 (stock Antminer, Avalon, Whatsminer API 2, LuxOS, cgminer,
Vnish 3.x) and Whatsminer API 3 on 4433, gets a healthy miner plus one with each of
the faults "drip" (one byte a second), "huge" (8 MB), "wrongtypes" and "absurd".
Two poll rounds run once for the module; the tests then read what they left:
rounds end within the deadline, healthy miners keep their readings, the dripping
and huge ones fail with a clear error, the lying ones give None fields with a note,
no driver crashes, and no reply over the caps is held in memory. NMMiner's UDP
telemetry is checked at the parser (the listener reads at most 2 kB a datagram).
"""

from __future__ import annotations

import logging
import math
import time
import tracemalloc

import pytest

from miners import make_driver
from miners.base import MinerError, MinerStatus
from miners.nmminer import MAX_DATAGRAM, parse_telemetry, to_status
from services.plausibility import check
from simulator import MinerSpec, SimFleet, lies
from tests.integration import live_app
from tests.test_miners_fakes import fixture_bytes

pytestmark = pytest.mark.integration

NET = "127.163.1"
TIMEOUT_S = 1.5
ROUND_MARGIN_S = 0.5  # services/fleet.py _ROUND_MARGIN_S
SLACK_S = 0.5  # thread hand-over on a shared 2-core machine
HELD_LIMIT = 2 * 1024 * 1024 + 512 * 1024  # the 2 MB HTTP cap plus parsing overhead

# (label, simulator kind, model, firmware, app family)
TRANSPORTS = [
    ("axeos-http", "bitaxe", "BM1370", "v2.12.0", "bitaxe"),
    ("vnish-rest-http", "vnish", "Antminer S19", None, "vnish"),
    ("braiins-rest-http", "braiins", None, "25.11", "braiins"),
    ("antminer-4028", "antminer", "Antminer S19", None, "antminer"),
    ("avalon-4028", "avalon", "Avalon Q", None, "avalon"),
    ("whatsminer-api2-4028", "whatsminer", "M30S+", None, "whatsminer"),
    ("whatsminer-api3-4433", "whatsminer", "M60S", None, "whatsminer"),
    ("luxos-4028", "luxos", None, None, "luxos"),
    ("cgminer-4028", "cgminer", None, None, "cgminer"),
    ("vnish-legacy-4028", "vnish_legacy", "Antminer S9", None, "vnish"),
]
# One miner per lie variant, the same variant on every reply, so what a round sees does not depend on
# how many requests the driver made: "wrongtypes-0" numbers as strings, "-1" nulls, "-2" objects as
# lists; "absurd" 1e30 H/s, -300 C, -5 W, 10^7 rpm; "absurd-nan" NaN H/s, +inf C, 1e9 W, -1 rpm.
FAULTS = [None, "drip", "huge", "wrongtypes-0", "wrongtypes-1", "wrongtypes-2", "absurd", "absurd-nan"]
LIE_VARIANT = {"wrongtypes-0": 0, "wrongtypes-1": 1, "wrongtypes-2": 2, "absurd": 0, "absurd-nan": 1}
WRONGTYPES = [f for f in FAULTS if f and f.startswith("wrongtypes")]

# Driver crashes on wrong types found in files this change does not own (reported, not fixed here).
KNOWN_CRASHES: dict[tuple[str, str], str] = {}


def ip_of(t: int, f: int) -> str:
    return f"{NET}.{10 + t * len(FAULTS) + f}"


class Crashes(logging.Handler):
    """Collects the fleet's 'driver ... crashed' log records (an exception that reached the round)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.ips: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if "crashed" in record.getMessage():
            ip = str(record.args[0]) if record.args else "?"
            self.ips[ip] = record.exc_text or (str(record.exc_info[1]) if record.exc_info else "")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Run the simulated fleet and two poll rounds once; yield what the tests inspect."""
    from simulator import default_port_offset

    offset = default_port_offset()
    specs = [MinerSpec(kind, ip_of(t, f), model=model, firmware_version=firmware, restart_seconds=60)
             for t, (_label, kind, model, firmware, _family) in enumerate(TRANSPORTS) for f in range(len(FAULTS))]
    crashes = Crashes()
    logging.getLogger("services.fleet").addHandler(crashes)
    sim = SimFleet(specs, port_offset=offset, allow_any_client=True, seed=11)
    try:
        with sim, live_app(tmp_path_factory.mktemp("lies"), f"{NET}.0/24", offset,
                           polling={"timeout_sec": TIMEOUT_S}) as live:
            fleet = live.runtime.fleet
            for t, (_label, _kind, _model, _firmware, family) in enumerate(TRANSPORTS):
                for f in range(len(FAULTS)):
                    fleet.add(ip_of(t, f), family)
            fleet.poll_round()  # learn each miner (versions, tokens) while every one is healthy
            for t in range(len(TRANSPORTS)):
                for f, fault in enumerate(FAULTS):
                    if fault in LIE_VARIANT:
                        sim.call(lambda m=sim.miner(ip_of(t, f)), v=LIE_VARIANT[fault]: setattr(m, "lie_variant", v))
                    if fault:
                        sim.set_fault(ip_of(t, f), fault.split("-")[0])
            rounds = [fleet.poll_round(), fleet.poll_round()]
            details = {r.ip: live.client.get(f"/api/miners/{r.ip}").get_json() for r in fleet.records()}
            held = {}
            for t, (label, _kind, _model, _firmware, family) in enumerate(TRANSPORTS):
                held[label] = _peak_of_one_read(ip_of(t, FAULTS.index("huge")), family, offset)
            yield {"rounds": rounds, "details": details, "crashes": crashes.ips, "held": held}
    finally:
        logging.getLogger("services.fleet").removeHandler(crashes)


def _peak_of_one_read(ip: str, family: str, offset: int) -> int:
    """Peak bytes allocated while one driver reads a miner that sends 8 MB."""
    driver = make_driver(family, ip, port_offset=offset, timeout=TIMEOUT_S)
    tracemalloc.start()
    try:
        try:
            driver.read()
        except MinerError:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        driver.close()


def case(label: str, fault: str | None):
    t = [x[0] for x in TRANSPORTS].index(label)
    return pytest.param(label, ip_of(t, FAULTS.index(fault)), id=f"{label}-{fault or 'healthy'}",
                        marks=[pytest.mark.xfail(reason=KNOWN_CRASHES[(label, fault)], strict=True)]
                        if (label, fault) in KNOWN_CRASHES else [])


LABELS = [x[0] for x in TRANSPORTS]


def test_rounds_end_within_the_deadline(world):
    for summary in world["rounds"]:
        assert summary["duration_s"] <= TIMEOUT_S + ROUND_MARGIN_S + SLACK_S, summary
        assert summary["polled"] + summary["skipped"] == len(TRANSPORTS) * len(FAULTS)


@pytest.mark.parametrize("label,ip", [case(label, None) for label in LABELS])
def test_healthy_miners_keep_their_readings(world, label, ip):
    detail = world["details"][ip]
    assert detail["status"] == "online", detail["last_error"]
    assert detail["hashrate_hs"] and detail["hashrate_hs"] > 0
    assert not any("implausible" in e for e in detail["errors"] or [])


@pytest.mark.parametrize("label,ip", [case(label, fault) for label in LABELS for fault in ("drip", "huge")])
def test_dripping_and_huge_replies_fail_cleanly(world, label, ip):
    detail = world["details"][ip]
    assert ip not in world["crashes"], world["crashes"].get(ip)
    assert detail["status"] != "online"
    assert detail["last_error"] and not detail["last_error"].startswith("driver error")


@pytest.mark.parametrize("label", LABELS)
def test_nothing_over_the_caps_is_held(world, label):
    assert world["held"][label] < HELD_LIMIT, world["held"][label]


def _numbers_are_plausible_or_none(detail: dict) -> None:
    for name in ("hashrate_hs", "power_w", "temp_c", "fan_percent", "expected_hashrate_hs"):
        value = detail.get(name)
        assert value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                 and math.isfinite(value)), (name, value)
    assert all(isinstance(rpm, int) and 0 <= rpm <= 30000 for rpm in detail["fan_rpm"] or []), detail["fan_rpm"]


@pytest.mark.parametrize("label,ip", [case(label, fault) for label in LABELS for fault in WRONGTYPES])
def test_wrong_types_give_none_or_a_clear_failure(world, label, ip):
    detail = world["details"][ip]
    assert ip not in world["crashes"], world["crashes"].get(ip)
    if detail["status"] == "online":
        _numbers_are_plausible_or_none(detail)
    else:
        assert detail["last_error"] and not detail["last_error"].startswith("driver error"), detail["last_error"]


@pytest.mark.parametrize("label,ip", [case(label, fault) for label in LABELS for fault in ("absurd", "absurd-nan")])
def test_absurd_values_are_none(world, label, ip):
    detail = world["details"][ip]
    assert ip not in world["crashes"], world["crashes"].get(ip)
    assert detail["status"] == "online", detail["last_error"]
    _numbers_are_plausible_or_none(detail)
    # Every hashrate, power and temperature the simulator sends is absurd: none may survive,
    # on the miner or on a board.
    assert (detail["hashrate_hs"], detail["temp_c"], detail["power_w"]) == (None, None, None), detail
    for board in detail["boards"] or []:
        assert (board["hashrate_hs"], board["temp_c"], board["chip_temp_c"]) == (None, None, None), board


@pytest.mark.parametrize("label,ip", [case(label, "absurd") for label in LABELS])
def test_absurd_hashrate_is_named_in_a_note(world, label, ip):
    """1e30 (in the firmware's unit) is a number no parser refuses: only the plausibility check stops it, and says so."""
    detail = world["details"][ip]
    notes = [e for e in detail["errors"] or [] if e.startswith("implausible")]
    assert any(n.startswith("implausible hashrate_hs 1e+") for n in notes), notes  # 1e30 in the firmware's unit


# --- NMMiner (UDP): the parser and the check on every lie ----------------------------------------
TELEMETRY_TEXT = fixture_bytes("nmminer/udp12345_telemetry.example.json").decode()


@pytest.mark.parametrize("variant", range(lies.WRONGTYPE_VARIANTS))
def test_nmminer_wrong_types_never_crash(variant):
    text = lies.wrong_types(TELEMETRY_TEXT, variant)
    try:
        telemetry = parse_telemetry(text.encode())
    except MinerError:
        return  # refused as malformed: the listener counts it and goes on
    status = to_status(telemetry)
    cleaned, _dropped = check(status, "nmminer")
    for name in ("hashrate_hs", "power_w", "temp_c"):
        value = getattr(cleaned, name)
        assert value is None or (isinstance(value, (int, float)) and math.isfinite(value)), (name, value)


@pytest.mark.parametrize("variant", range(lies.ABSURD_VARIANTS))
def test_nmminer_absurd_values_are_dropped(variant):
    status = to_status(parse_telemetry(lies.absurd(TELEMETRY_TEXT, variant).encode()))
    cleaned, dropped = check(status, "nmminer")
    assert cleaned.hashrate_hs is None and cleaned.temp_c is None
    if variant == 0:  # 1e30 and -300 parse as numbers: the check drops them (NaN/inf the parser already refuses)
        assert {"hashrate_hs", "temp_c"} <= {d.field for d in dropped}


def test_nmminer_huge_datagram_is_cut_by_the_listener_buffer():
    from simulator.faults import huge_parts

    _total, pieces = huge_parts(TELEMETRY_TEXT.encode(), 65507)
    datagram = b"".join(pieces)
    with pytest.raises(MinerError):
        parse_telemetry(datagram[:MAX_DATAGRAM])  # recvfrom(MAX_DATAGRAM) keeps only this much
