"""The Whatsminer simulator on the wire (127.86.2.0/24): API 2 framing and shapes, a real recorded
encrypted request, token life and limits, API 3 framing, tokens and faults. Raw sockets only; the
driver is not involved except to decrypt with the independently written client crypto."""

from __future__ import annotations

import ast
import json
import socket
import struct
import time
from pathlib import Path

import pytest

from miners.whatsminer_crypto import api2_decrypt_reply, api2_encrypt_command, api2_token, v3_encrypt_param, v3_token
from simulator import MinerSpec, SimFleet
from simulator.whatsminer_crypto import aes_key, encrypt_b64, md5crypt_body

NET = "127.86.2"
M31S, M20S, M60S = f"{NET}.10", f"{NET}.11", f"{NET}.12"
CLIENT = f"{NET}.200"  # every request leaves from here, so the per-IP token table is predictable
FOREMAN_REQUEST = (b'{"enc":1,"data":"3HjZpFnhS5g7OS3RRLzgaMipdasSiL3vVkn9nuJfQANZx8ucVffVFrwa0QxM8GxeZnz4wRGOwv9EX'
                   b'SwX+shB4w=="}')


@pytest.fixture(scope="module")
def sim():
    specs = [MinerSpec("whatsminer", M31S, model="M31S"), MinerSpec("whatsminer", M20S, model="M20S"),
             MinerSpec("whatsminer", M60S, model="M60S", restart_seconds=0.2)]
    with SimFleet(specs, allow_any_client=True, seed=2) as fleet:
        yield fleet


def _connect(ip: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(3)
    sock.bind((CLIENT, 0))
    sock.connect((ip, port))
    return sock


def api2(sim, ip: str, request: bytes | dict) -> bytes:
    data = request if isinstance(request, bytes) else json.dumps(request).encode()
    with _connect(ip, 4028 + sim.port_offset) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def api2_json(sim, ip: str, request: bytes | dict) -> dict:
    raw = api2(sim, ip, request)
    assert raw.endswith(b"\x00") and raw.count(b"\x00") == 1  # cgminer framing: one NUL, then close
    return json.loads(raw[:-1])


def frame(payload: dict | bytes) -> bytes:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return struct.pack("<I", len(body)) + body


def read_frame(sock: socket.socket) -> dict:
    head = sock.recv(4, socket.MSG_WAITALL)
    (length,) = struct.unpack("<I", head)
    return json.loads(sock.recv(length, socket.MSG_WAITALL))


def api3(sim, ip: str, *payloads: dict | bytes) -> list[dict]:
    with _connect(ip, 4433 + sim.port_offset) as sock:
        out = []
        for payload in payloads:
            sock.sendall(frame(payload))
            out.append(read_frame(sock))
    return out


# --- API 2 -------------------------------------------------------------------------------------
def test_cgminer_shaped_reads(sim):
    summary = api2_json(sim, M31S, {"command": "summary"})
    assert summary["STATUS"][0]["Description"] == "btminer" and summary["STATUS"][0]["Code"] == 11
    block = summary["SUMMARY"][0]
    assert block["Firmware Version"] == "'20201202.22.REL'"  # quoted, as recorded
    assert isinstance(block["Power"], int) and block["Power Mode"] == "Normal" and block["Factory GHS"] == 75697
    assert block["MHS 1m"] == pytest.approx(sim.miner(M31S).hashrate_ghs() * 1000, rel=0.05)  # MH/s
    assert [p["POOL"] for p in api2_json(sim, M31S, {"command": "pools"})["POOLS"]] == [1, 2, 3]
    assert [p["POOL"] for p in api2_json(sim, M20S, {"cmd": "pools"})["POOLS"]] == [0, 1, 2]
    assert api2_json(sim, M20S, {"command": "summary"})["STATUS"][0]["Description"] == "cgminer 4.9.2"
    devs = api2_json(sim, M31S, {"command": "edevs"})["DEVS"]
    assert [d["ASC"] for d in devs] == [0, 1, 2] and {d["Effective Chips"] for d in devs} == {105}
    details = api2_json(sim, M31S, {"command": "devdetails"})["DEVDETAILS"]
    assert details[0]["Driver"] == "bitmicro" and details[0]["Model"] == "M31SV10"


def test_flat_replies(sim):
    version = api2_json(sim, M31S, {"command": "version"})  # recorded: invalid cmd, "whatsminer v1.x"
    assert (version["STATUS"], version["Code"], version["Msg"]) == ("E", 14, "invalid cmd")
    assert api2_json(sim, M31S, {"cmd": "status"})["Msg"] == {"btmineroff": "false",
                                                             "Firmware Version": "'20201202.22.REL'"}
    get_version = api2_json(sim, M31S, {"command": "get_version"})
    assert get_version["Code"] == 131 and get_version["Msg"]["api_ver"] == "whatsminer v1.3"
    token = api2_json(sim, M31S, {"cmd": "get_token"})
    assert token["Code"] == 134 and token["Msg"]["salt"] == "BQ5hoXV9" and len(token["Msg"]["time"]) == 4


def test_joins(sim):
    joined = api2_json(sim, M31S, {"command": "summary+pools"})
    assert set(joined) == {"summary", "pools", "id"} and joined["summary"][0]["SUMMARY"]
    # Recorded (error.multicommand_with_cmd_key.json): a join under "cmd" is Code 24.
    assert api2_json(sim, M31S, {"cmd": "summary+pools"})["STATUS"][0]["Code"] == 24
    assert api2_json(sim, M31S, {"command": "summary+status"})["Code"] == 14  # status cannot be joined


def test_plaintext_write_is_refused(sim):
    reply = api2_json(sim, M31S, {"cmd": "power_off", "respbefore": "true"})
    assert (reply["Code"], reply["Msg"]) == (45, "can't access write cmd") and sim.miner(M31S).mining


def test_the_recorded_encrypted_request_is_understood(sim):
    # foreman-apps' M31S capture: password "", get_token time 6915 / newsalt a5TtWui2, an encrypted `status`.
    miner = sim.miner(M31S)

    def prepare() -> None:
        miner.password = ""
        miner._tokens[CLIENT] = [("6915", "a5TtWui2", miner.now())]

    sim.call(prepare)
    try:
        reply = api2_json(sim, M31S, FOREMAN_REQUEST)
    finally:
        sim.call(lambda: setattr(miner, "password", "admin"))
    token = api2_token("", "BQ5hoXV9", "6915", "a5TtWui2")
    status = api2_decrypt_reply(token, reply["enc"])
    assert status["Code"] == 131 and status["Msg"]["btmineroff"] == "false"


def _token(sim, ip: str, password: str = "admin"):
    msg = api2_json(sim, ip, {"cmd": "get_token"})["Msg"]
    return api2_token(password, msg["salt"], msg["time"], msg["newsalt"])


def test_token_life_and_per_ip_limit(sim):
    miner = sim.miner(M20S)
    first = _token(sim, M20S)
    reply = api2_json(sim, M20S, api2_encrypt_command(first, {"cmd": "set_low_power"}))
    assert api2_decrypt_reply(first, reply["enc"])["Msg"] == "API command OK" and miner.mode == "low"
    miner.skip(1801)  # the 30-minute token life
    expired = api2_json(sim, M20S, api2_encrypt_command(first, {"cmd": "set_normal_power"}))
    assert (expired["Code"], expired["Msg"]) == (135, "check token error") and miner.mode == "low"
    oldest = _token(sim, M20S)
    for _ in range(32):  # one IP keeps 32 tokens: the oldest falls out
        _token(sim, M20S)
    dropped = api2_json(sim, M20S, api2_encrypt_command(oldest, {"cmd": "set_normal_power"}))
    assert dropped["Code"] == 135 and miner.mode == "low"
    newest = _token(sim, M20S)
    api2_json(sim, M20S, api2_encrypt_command(newest, {"cmd": "set_normal_power"}))
    assert miner.mode == "normal"


def test_wrong_key_and_switch_off(sim):
    miner = sim.miner(M20S)
    wrong = _token(sim, M20S, password="nope")
    assert api2_json(sim, M20S, api2_encrypt_command(wrong, {"cmd": "power_off"}))["Code"] == 23
    garbage = api2_json(sim, M20S, {"enc": 1, "data": "%%%"})
    assert (garbage["Code"], garbage["Msg"]) == (137, "base64 decode error")
    sim.call(lambda: setattr(miner, "write_enabled", False))
    try:
        right = _token(sim, M20S)
        assert api2_json(sim, M20S, api2_encrypt_command(right, {"cmd": "power_off"}))["Code"] == 45
    finally:
        sim.call(lambda: setattr(miner, "write_enabled", True))
    assert miner.mining


def test_old_api_has_no_adjust_power_limit(sim):
    token = _token(sim, M20S)
    reply = api2_json(sim, M20S, api2_encrypt_command(token, {"cmd": "adjust_power_limit", "power_limit": "3000"}))
    assert api2_decrypt_reply(token, reply["enc"])["Code"] == 14 and sim.miner(M20S).power_limit == 3500


def test_server_side_crypto_matches_openssl_vectors():
    assert md5crypt_body("admin", "BQ5hoXV9") == "RxmaDUO33TS7O26yeMHZ81"
    assert md5crypt_body("", "BQ5hoXV9") == "CYfwenQM4xmKGmSJJ/al11"
    assert md5crypt_body("x" * 70, "12345678") == "8TG68lnWZTovjM6h8HQGX1"
    key = aes_key("CYfwenQM4xmKGmSJJ/al11")
    reply = ('{"STATUS":"S","When":1613690091,"Code":131,"Msg":{"btmineroff":"true","Firmware Version":'
             '"\'20210109.22.REL\'"},"Description":"whatsminer v1.3"}')
    # The recorded encrypted reply (foreman-apps M31S sleeping case), byte for byte.
    assert encrypt_b64(key, reply.encode()) == (
        "e+iVEHt3XaqHeCA8EK8LNJYHagIBVlZBKWRLDLZ129gdwfRg5OKIwYRqIf7tATRDtBTFC21dQ1R1MaV8rA3QAirirR/h2mk8tmq9/fd+/kZ"
        "ooJBpUfNkKk3C/AcNe7b/ChH9cP3Z6gHu23+PYM1Uksdwhchdpb4xLhmZjyEzTaqpPcn3RoQepra8PL9bwOjL")


# --- API 3 -------------------------------------------------------------------------------------
def test_api3_reads_on_one_connection(sim):
    with _connect(M60S, 4433 + sim.port_offset) as sock:
        sock.sendall(b"\x00\x00\x00\x00")  # the documented heartbeat is ignored
        sock.sendall(frame({"cmd": "get.device.info", "param": "miner"}))
        miner = read_frame(sock)
        sock.sendall(frame({"cmd": "get.miner.status", "param": "summary+pools"}))
        status = read_frame(sock)
    assert miner["code"] == 0 and miner["desc"] == "get.device.info" and set(miner["msg"]) == {"miner"}
    assert miner["msg"]["miner"]["type"] == "M60S_VK40" and miner["msg"]["miner"]["working"] == "true"
    assert set(status["msg"]) == {"summary", "pools"}
    assert status["msg"]["summary"]["hash-realtime"] == pytest.approx(sim.miner(M60S).hashrate_ghs() / 1000, rel=0.05)
    bad, unknown = api3(sim, M60S, b"{not json", {"cmd": "get.nothing"})
    assert bad["code"] == -3 and unknown["code"] == -2
    # On 4028 the 2025 firmware still answers get_version and refuses the rest.
    assert api2_json(sim, M60S, {"command": "get_version"})["Msg"]["fw_ver"] == "20251209.16.Rel2"
    assert api2_json(sim, M60S, {"command": "summary"})["Code"] == 14


def test_api3_tokens_and_encrypted_pools(sim):
    miner = sim.miner(M60S)
    salt = api3(sim, M60S, {"cmd": "get.device.info", "param": "salt"})[0]["msg"]["salt"]
    ts = int(time.time())
    token, digest = v3_token("set.miner.power_mode", "super", salt, ts)
    ok, = api3(sim, M60S, {"cmd": "set.miner.power_mode", "ts": ts, "token": token, "account": "super",
                           "param": "low"})
    assert ok == {"code": 0, "when": ok["when"], "msg": "ok", "desc": "set.miner.power_mode"} and miner.mode == "low"
    # The token covers cmd + password + salt + ts, not the param (vendor document): reusable for "high".
    again, = api3(sim, M60S, {"cmd": "set.miner.power_mode", "ts": ts, "token": token, "account": "super",
                              "param": "high"})
    assert again["code"] == 0
    wrong, = api3(sim, M60S, {"cmd": "set.miner.power_mode", "ts": ts + 1, "token": token, "account": "super",
                              "param": "normal"})
    assert wrong["code"] == -4 and miner.mode == "high"
    pools = [{"pool": "stratum+tcp://z.example:3333", "worker": "w", "passwd": "p"}]
    token, digest = v3_token("set.miner.pools", "super", salt, ts)
    reply, = api3(sim, M60S, {"cmd": "set.miner.pools", "ts": ts, "token": token, "account": "super",
                              "param": v3_encrypt_param(digest, pools)})
    assert reply["code"] == 0 and [(p.url, p.password) for p in miner.pools] == [("stratum+tcp://z.example:3333", "p")]
    sim.call(lambda: setattr(miner, "mode", "normal"))


def test_api3_faults(sim):
    sim.set_fault(M60S, "malformed")
    try:
        with _connect(M60S, 4433 + sim.port_offset) as sock:
            sock.sendall(frame({"cmd": "get.device.info"}))
            (length,) = struct.unpack("<I", sock.recv(4, socket.MSG_WAITALL))
            with pytest.raises(ValueError):
                json.loads(sock.recv(length, socket.MSG_WAITALL))
        sim.set_fault(M60S, "hang")
        with _connect(M60S, 4433 + sim.port_offset) as sock:
            sock.settimeout(0.3)
            sock.sendall(frame({"cmd": "get.device.info"}))
            with pytest.raises(TimeoutError):
                sock.recv(4)
    finally:
        sim.set_fault(M60S, None)
    assert api3(sim, M60S, {"cmd": "get.device.info", "param": "salt"})[0]["code"] == 0


def test_simulator_imports_nothing_from_the_app():
    root = Path(__file__).resolve().parents[1] / "simulator"
    for name in ("whatsminer.py", "whatsminer_crypto.py"):
        tree = ast.parse((root / name).read_text())
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m.split(".")[0] for m in imported} & {"miners", "services", "web"}, name
