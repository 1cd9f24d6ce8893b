"""CGMinerClient (miners/cgminer_api.py) and the value helpers: joined reads, version cache, deadline, size cap,
JSON repair on huge input, and every 4028 driver against replies of the wrong types.

Fake servers bind 127.0.0.1:0; the simulated fleet lives on 127.93.41.0/24.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, status_reply  # noqa: E402

from miners import cgminer_api, json_repair, values  # noqa: E402
from miners.base import MinerError, MinerProtocolError, MinerStatus, MinerUnreachable  # noqa: E402
from miners.cgminer_api import APIError, CGMinerClient, reply_guard  # noqa: E402


def _summary(mhs: float = 1000.0) -> str:
    return status_reply("Summary", section="SUMMARY", body=[{"MHS 5s": mhs, "Elapsed": 60}])


def _version(name: str = "4.11.1") -> str:
    return status_reply("CGMiner versions", section="VERSION", body=[{"CGMiner": name, "Type": "Antminer S9"}])


def _joined(**parts: str) -> str:
    return json.dumps({name: [json.loads(text)] for name, text in parts.items()} | {"id": 1})


# --- multi-command ---------------------------------------------------------------------------------
def test_joined_reply_is_split_and_the_join_is_learnt():
    pools = status_reply("Pools", section="POOLS", body=[])
    replies = {"summary+pools": _joined(summary=_summary(), pools=pools)}
    with FakeCgminer(replies) as fake:
        client = CGMinerClient(fake.host, fake.port, timeout=2)
        first = client.query(["summary", "pools"])
        second = client.query(["summary", "pools"])
    assert first.joined and client.multi_ok is True
    assert first.replies["summary"]["SUMMARY"][0]["MHS 5s"] == 1000.0 and "POOLS" in first.replies["pools"]
    assert second.joined and [r["command"] for r in fake.requests] == ["summary+pools", "summary+pools"]


def test_refused_join_falls_back_and_is_not_tried_again():
    replies = {"summary": _summary(), "pools": status_reply("Pools", section="POOLS", body=[])}  # "a+b": Code 14
    with FakeCgminer(replies) as fake:
        client = CGMinerClient(fake.host, fake.port, timeout=2)
        first = client.query(["summary", "pools"])
        client.query(["summary", "pools"])
    assert not first.joined and client.multi_ok is False and set(first.replies) == {"summary", "pools"}
    assert [r["command"] for r in fake.requests] == ["summary+pools", "summary", "pools", "summary", "pools"]


def test_a_command_refused_inside_the_join_lands_in_errors():
    refused = status_reply("Invalid command", letter="E", code=14)
    replies = {"summary+estats": _joined(summary=_summary(), estats=refused)}
    with FakeCgminer(replies) as fake:
        results = CGMinerClient(fake.host, fake.port, timeout=2).query(["summary", "estats"])
    assert results.joined and set(results.replies) == {"summary"}
    assert isinstance(results.errors["estats"], APIError) and results.errors["estats"].code == 14


# --- version cache -----------------------------------------------------------------------------------
def test_version_is_read_once_and_again_after_forget():
    replies = {"summary+version": _joined(summary=_summary(), version=_version()), "summary": _summary()}
    with FakeCgminer(replies) as fake:
        client = CGMinerClient(fake.host, fake.port, timeout=2)
        first = client.read(["summary"])
        second = client.read(["summary"])  # one command: no join, no version
        client.forget_version()
        client.read(["summary"])
    assert first.replies["version"]["VERSION"][0]["CGMiner"] == "4.11.1"
    assert second.replies["version"] is first.replies["version"]  # the cached reply comes with every read
    assert [r["command"] for r in fake.requests] == ["summary+version", "summary", "summary+version"]


def test_refused_version_is_asked_again_and_extra_comes_after_it():
    refused = status_reply("Invalid command", letter="E", code=14)
    replies = {"summary+version+profiles": _joined(summary=_summary(), version=refused,
                                                   profiles=status_reply("Profiles", section="PROFILES"))}
    with FakeCgminer(replies) as fake:
        client = CGMinerClient(fake.host, fake.port, timeout=2)
        first = client.read(["summary"], extra=["profiles"])
        client.read(["summary"], extra=["profiles"])
    assert "version" in first.errors and client.version is None and "version" not in first.replies
    assert [r["command"] for r in fake.requests] == ["summary+version+profiles"] * 2


def test_send_passes_the_parameter_and_raises_the_firmwares_refusal():
    replies = {"ascset": lambda req: status_reply("ASC 0 set failed: Unknown option: x", letter="E", code=120)
               if req.get("parameter") == "0,x" else status_reply("ASC 0 set OK", code=119)}
    with FakeCgminer(replies) as fake:
        client = CGMinerClient(fake.host, fake.port, timeout=2)
        assert client.send("ascset", "0,fan-spd,50")["STATUS"][0]["Code"] == 119
        with pytest.raises(APIError, match="Unknown option"):
            client.send("ascset", "0,x")
    assert [r.get("parameter") for r in fake.requests] == ["0,fan-spd,50", "0,x"]


# --- deadline and size cap ------------------------------------------------------------------------------
def _in_thread(call, limit: float) -> tuple[BaseException | None, float]:
    """Run ``call`` in a thread; (what it raised, seconds taken), failing the test if it outlives ``limit``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        start = time.monotonic()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["exc"] = exc
        outcome["took"] = time.monotonic() - start

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), f"the call was still reading after {limit} s"
    return outcome.get("exc"), outcome["took"]


def test_a_drip_of_one_byte_a_second_ends_at_the_overall_deadline():
    # Each byte comes well inside any per-recv timeout: only the overall deadline can stop this.
    with FakeCgminer(mode="trickle", trickle_every=1.0) as fake:
        client = CGMinerClient(fake.host, fake.port, timeout=1.5)
        exc, took = _in_thread(lambda: client.send("summary"), limit=6)
    assert isinstance(exc, MinerUnreachable) and "within 1.5 s" in str(exc)
    assert took < 1.5 + 0.5


def test_a_joined_read_shares_one_deadline_against_a_drip():
    with FakeCgminer(mode="trickle", trickle_every=0.5) as fake:
        client = CGMinerClient(fake.host, fake.port, timeout=1.2)
        exc, took = _in_thread(lambda: client.read(["summary", "pools", "stats"]), limit=6)
    assert isinstance(exc, MinerUnreachable) and took < 1.2 + 0.5


def test_a_reply_of_several_megabytes_is_cut_at_the_cap():
    big = json.dumps({"STATUS": [{"STATUS": "S", "Code": 11, "Msg": "Summary"}],
                      "SUMMARY": [{"x": "y" * (3 * cgminer_api.MAX_REPLY_BYTES)}]})
    with FakeCgminer({"summary": big}) as fake:
        client = CGMinerClient(fake.host, fake.port, timeout=5)
        exc, took = _in_thread(lambda: client.send("summary"), limit=10)
    assert isinstance(exc, MinerProtocolError) and "larger than 1024 kB" in str(exc)


def test_a_large_reply_under_the_cap_still_parses():
    body = [{"Chip": i, "GHS 1m": 1.5, "Healthy": "Y"} for i in range(9000)]  # ~0.4 MB, a 3-board healthchipget x 10
    reply = status_reply("Chips", section="CHIPS", body=body)
    assert 300_000 < len(reply) < cgminer_api.MAX_REPLY_BYTES
    with FakeCgminer({"healthchipget": reply}) as fake:
        got = CGMinerClient(fake.host, fake.port, timeout=5).send("healthchipget", "0")
    assert len(got["CHIPS"]) == 9000


# --- JSON repair on hostile input ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    '"error_code":["a",' * 55_000 + "}",  # the old repair regex backtracked quadratically here (~70 s)
    (":" + " " * 1000) * 1000 + "}",
    ":nan," * 250_000,
    "," * 1_000_000,
])
def test_repair_of_a_megabyte_of_garbage_is_linear(text):
    start = time.monotonic()
    with pytest.raises(ValueError):
        json_repair.loads_lenient(text)
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("text", ["[" * 200_000, '{"a":' * 100_000, "[" * 100_000 + "}"])
def test_nesting_too_deep_is_a_value_error_not_a_recursion_error(text):
    with pytest.raises(ValueError):
        json_repair.loads_lenient(text)


def test_the_error_code_repair_still_applies():
    assert json_repair.loads_lenient('{"error_code":["a":"b"]}') == {"error_code": {"a": "b"}}
    assert json_repair.loads_lenient('{"Msg":{"error_code":["x":"y","z":"w"],"n":1}}') == \
        {"Msg": {"error_code": {"x": "y", "z": "w"}, "n": 1}}


# --- wrong types ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reply", ["[1,2,3]", "42", '"text"', "null", "[" * 50_000])
def test_a_reply_that_is_not_an_object_is_a_protocol_error(reply):
    with FakeCgminer({"summary": reply}) as fake:
        with pytest.raises(MinerProtocolError):
            CGMinerClient(fake.host, fake.port, timeout=2).send("summary")


def test_an_infinite_error_code_is_no_overflow():
    reply = '{"STATUS":[{"STATUS":"E","Code":1e999,"Msg":"nope"}],"id":1}'
    with FakeCgminer({"summary": reply}) as fake:
        with pytest.raises(APIError) as caught:
            CGMinerClient(fake.host, fake.port, timeout=2).send("summary")
    assert caught.value.code is None and caught.value.msg == "nope"


def test_wrong_shapes_inside_a_join_fall_back_to_single_commands():
    replies = {"summary+pools": json.dumps({"summary": {"oops": 1}, "pools": [1]}), "summary": _summary(),
               "pools": status_reply("Pools", section="POOLS", body=[])}
    with FakeCgminer(replies) as fake:
        client = CGMinerClient(fake.host, fake.port, timeout=2)
        results = client.query(["summary", "pools"])
    assert not results.joined and client.multi_ok is False and set(results.replies) == {"summary", "pools"}


def test_reply_guard_turns_a_parser_type_error_into_a_protocol_error_and_leaves_miner_errors():
    class Reader:
        host = "127.0.0.1"

        @reply_guard
        def read(self, boom: BaseException) -> None:
            raise boom

    with pytest.raises(MinerProtocolError, match="unexpected types .TypeError"):
        Reader().read(TypeError("float() argument must be a string or a real number, not 'list'"))
    unreachable = MinerUnreachable("gone")
    with pytest.raises(MinerUnreachable) as caught:
        Reader().read(unreachable)
    assert caught.value is unreachable


@pytest.mark.parametrize(("value", "expected"), [
    ("54997.01", 54997.01), (" 69.2", 69.2), (12, 12.0), (True, None), (None, None), ([1], None), ({}, None),
    ("nan", None), (float("inf"), None), ("1e999", None), (10 ** 400, None), ("abc", None),
])
def test_num_answers_none_for_what_is_not_a_finite_number(value, expected):
    assert values.num(value) == expected


def test_integer_positive_mac_and_scrub():
    assert values.integer("14") == 14 and values.integer("7.9") == 7 and values.integer([]) is None
    assert values.positive(0) is None and values.positive("-3") is None and values.positive("5") == 5.0
    assert values.mac_address("e0e1a93f3053") == "E0:E1:A9:3F:30:53"
    assert values.mac_address("C0-FA-38-6A-6E-B2") == "C0:FA:38:6A:6E:B2"
    assert values.mac_address("zz") is None and values.mac_address(123456789012) is None
    assert values.scrub("bad pass hunter2 for x", ["hunter2", "x"]) == "bad pass *** for x"  # 1-char secrets stay


def test_a_lying_fan_count_neither_raises_nor_loops():
    from miners.cgminer import parse_stats

    stats = {"STATS": [{"Type": "Antminer S19"}, {"fan_num": 10 ** 30, "fan1": 3000, "fan2": 3100, "GHS 5s": 1}]}
    start = time.monotonic()
    assert parse_stats(stats)["fan_rpm"] == [3000, 3100]  # the fans that turn; fan_num ignored
    assert time.monotonic() - start < 1.0


# --- every 4028 driver against lying replies -------------------------------------------------------------------
NET = "127.93.41"
FUZZ_ROUNDS = 40  # reads per family, each with other garbage (seeded: a failure names its seed)
FAMILIES = {  # family -> (simulator spec kwargs, driver family, driver kwargs)
    "cgminer": ({"kind": "cgminer"}, "cgminer"),
    "avalon": ({"kind": "avalon", "model": "Avalon Q"}, "avalon"),
    "luxos": ({"kind": "luxos"}, "luxos"),
    "braiins": ({"kind": "braiins", "model": "Antminer S19", "firmware_version": "23.03"}, "braiins"),
    "antminer": ({"kind": "antminer", "model": "Antminer S19"}, "antminer"),
    "whatsminer": ({"kind": "whatsminer", "model": "M31S"}, "whatsminer"),
}
_ODD_VALUES: list[Any] = ["garbage", "", [1, "x"], {"x": {"y": []}}, None, True, -1, 1e308, 10 ** 30, "NaN",
                          float("nan"), float("-inf"), [[[]]], "12,34", -273.15]


def _mutate(node: Any, rng: random.Random, rate: float) -> Any:
    """``node`` with some values swapped for values of other types (seeded, so a failure can be replayed)."""
    if rng.random() < rate:
        return rng.choice(_ODD_VALUES + [[node], {"wrapped": node}])
    if isinstance(node, dict):
        return {key: _mutate(value, rng, rate) for key, value in node.items() if rng.random() > rate / 4}
    if isinstance(node, list):
        return [_mutate(item, rng, rate) for item in node]
    return node


@pytest.fixture(scope="module")
def lying_fleet():
    from simulator import MinerSpec, SimFleet

    specs = [MinerSpec(ip=f"{NET}.{10 + i}", **spec) for i, (spec, _) in enumerate(FAMILIES.values())]
    with SimFleet(specs, allow_any_client=True, seed=3) as fleet:
        yield fleet


def _recording(monkeypatch) -> dict[bytes, bytes]:
    """Record every request -> raw reply that goes through cgminer_api.exchange."""
    seen: dict[bytes, bytes] = {}
    real = cgminer_api.exchange

    def exchange(host: str, port: int, request: bytes, **kwargs: Any) -> bytes:
        seen[request] = raw = real(host, port, request, **kwargs)
        return raw

    monkeypatch.setattr(cgminer_api, "exchange", exchange)
    return seen


@pytest.mark.parametrize("family", list(FAMILIES))
def test_replies_of_the_wrong_types_give_a_status_or_a_miner_error(family, lying_fleet, monkeypatch):
    from miners import make_driver

    index = list(FAMILIES).index(family)
    host, driver_family = f"{NET}.{10 + index}", FAMILIES[family][1]

    def fresh():
        return make_driver(driver_family, host, port_offset=lying_fleet.port_offset, timeout=2.0)

    recorded = _recording(monkeypatch)
    honest = fresh()
    assert isinstance(honest.read(), MinerStatus)  # the simulator's honest replies, recorded
    joined = [req for req in recorded if b"+" in req]
    for request in joined:  # the single commands too, for drivers that fall back after a garbled join
        for command in json.loads(request)["command"].split("+"):
            cgminer_api.exchange(host, honest.port, cgminer_api.encode_request(command), timeout=2.0)
    honest.close()
    originals = {req: json_repair.loads_lenient(raw.decode(errors="replace")) for req, raw in recorded.items()}

    outcomes: dict[str, int] = {}
    for seed in range(FUZZ_ROUNDS):
        rng = random.Random(f"{family}-{seed}")
        rate = rng.choice((0.05, 0.2, 0.5))

        def lying_exchange(_host: str, _port: int, request: bytes, **_kwargs: Any) -> bytes:
            original = originals.get(request)
            if original is None:
                return status_reply("Invalid command", letter="E", code=14).encode()
            return json.dumps(_mutate(original, rng, rate)).encode()

        monkeypatch.setattr(cgminer_api, "exchange", lying_exchange)
        driver = fresh()
        try:
            result = driver.read()
            assert isinstance(result, MinerStatus)
            outcomes["status"] = outcomes.get("status", 0) + 1
        except MinerError as exc:
            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
        except Exception as exc:  # noqa: BLE001 - TypeError, KeyError, ...: the failure names the seed to replay
            pytest.fail(f"{family} seed {seed} (rate {rate}): {type(exc).__name__}: {exc}")
        finally:
            driver.close()
    assert outcomes.get("status", 0) >= 5, outcomes  # lightly garbled replies still give a reading
