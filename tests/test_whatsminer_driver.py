"""WhatsminerDriver against small fake servers on 127.86.1.x: API 2 reads, the token/AES write path
(expiry retry, write switch off, wrong password), capability narrowing, API 3 framing and writes."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_miners_fakes import FakeCgminer, fixture_bytes, fixture_json  # noqa: E402

from miners import make_driver, whatsminer_v3  # noqa: E402
from miners.base import (  # noqa: E402
    MODE,
    POOLS,
    POWER_PERCENT,
    POWER_WATTS,
    Credentials,
    MinerAuthError,
    MinerError,
    MinerProtocolError,
    MinerUnreachable,
    PoolConfig,
)
from miners.whatsminer import WhatsminerDriver  # noqa: E402
from simulator.whatsminer_crypto import (  # noqa: E402  (the miner side, written independently)
    aes_key,
    decrypt_json,
    encrypt_b64,
    md5crypt_body,
    v3_digest,
    v3_token_of,
)

_IPS = (f"127.86.1.{n}" for n in itertools.count(10))
SALT = "BQ5hoXV9"


def flat(code: int, msg: Any, letter: str = "S", desc: str = "") -> str:
    return json.dumps({"STATUS": letter, "When": 1, "Code": code, "Msg": msg, "Description": desc})


GET_VERSION_205 = flat(131, {"api_ver": "2.0.5", "fw_ver": "20230412.18.Rel", "platform": "H6OS"})  # no capture
DEVDETAILS = json.dumps({"STATUS": [{"STATUS": "S", "When": 1, "Code": 69, "Msg": "Device Details",
                                     "Description": "btminer"}],
                         "DEVDETAILS": [{"DEVDETAILS": 0, "Name": "SM", "ID": 0, "Driver": "bitmicro",
                                         "Model": "M31SV10"}], "id": 1})  # shape only; no capture
MINER_INFO = flat(131, {"hostname": "WhatsMiner", "mac": "C6:06:12:00:2D:63", "ledstat": "auto"})  # no capture


class FakeBtminer:
    """btminer on 4028: recorded read replies, get_token, and a miner-side check of encrypted writes."""

    def __init__(self, *, password: str = "admin", get_version: str = GET_VERSION_205, mode: str = "ok",
                 extra: dict[str, Any] | None = None) -> None:
        self.ip = next(_IPS)
        self.password = password
        self.mode = mode  # ok | switch_off | expire_first | always_expired | error
        self.tokens: list[tuple[str, str]] = []
        self.token_requests = 0
        self.writes: list[dict[str, Any]] = []
        self.enc_requests = 0
        replies: dict[str, Any] = {
            "get_version": get_version,
            "status": fixture_bytes("whatsminer/status.m31s_v1.4.0.json"),
            "summary": fixture_bytes("whatsminer/summary.m31s.json"),
            "edevs": fixture_bytes("whatsminer/edevs.m31s.json"),
            "pools": fixture_bytes("whatsminer/pools.m31s_numbered_from_1.json"),
            "devdetails": DEVDETAILS,
            "get_miner_info": MINER_INFO,
            "get_token": self._get_token,
            "None": self._encrypted,  # {"enc":1,...} has no "command" key
        }
        replies.update(extra or {})
        self.fake = FakeCgminer(replies, host=self.ip, port=4028)

    def __enter__(self) -> FakeBtminer:
        self.fake.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.fake.__exit__(*exc)

    def driver(self, **kwargs: Any) -> WhatsminerDriver:
        driver = make_driver("whatsminer", self.ip, timeout=2.0, **kwargs)
        assert isinstance(driver, WhatsminerDriver)
        return driver

    def _get_token(self, request: dict[str, Any]) -> str:
        self.token_requests += 1
        token = (f"{1000 + self.token_requests:04d}", f"nEw{self.token_requests:05d}")
        self.tokens.append(token)
        return flat(134, {"time": token[0], "salt": SALT, "newsalt": token[1]}, desc="whatsminer v1.4.0")

    def _encrypted(self, request: dict[str, Any]) -> str:
        self.enc_requests += 1
        if self.mode == "switch_off":
            return flat(45, "can't access write cmd", "E")
        key_md5 = md5crypt_body(self.password, SALT)
        try:
            command = decrypt_json(aes_key(key_md5), request["data"])
        except ValueError:
            return fixture_bytes("whatsminer/error.enc_json_load_err.json").decode()  # recorded
        valid = {md5crypt_body(key_md5 + t, ns) for t, ns in self.tokens}
        expired = self.mode == "always_expired" or (self.mode == "expire_first" and self.enc_requests == 1)
        if expired or command.get("token") not in valid:
            return flat(135, "check token error", "E")
        self.writes.append(command)
        if self.mode == "error":
            reply = flat(132, f"command error: bad pool {command.get('passwd1')}", "E")
        else:
            reply = flat(131, "API command OK")
        return json.dumps({"enc": encrypt_b64(aes_key(key_md5), reply.encode())})


# --- API 2 reads -------------------------------------------------------------------------------
def test_read_api2_recorded_replies_and_units():
    with FakeBtminer() as miner:
        driver = miner.driver()
        status = driver.read()
        assert driver.api == 2 and driver.api_version == (2, 0, 5)
        assert status.hashrate_hs == pytest.approx(77909448.60e6) and status.power_w == 3553
        assert status.model == "Whatsminer M31S V10" and status.firmware_version == "20230412.18.Rel"
        assert status.hostname == "WhatsMiner" and len(status.boards) == 3 and status.state == "mining"
        assert [p.priority for p in status.pools] == [0, 1, 2] and status.pools[0].active
        commands = [r.get("command") for r in miner.fake.requests]
        assert commands[:5] == ["get_version", "status", "summary", "edevs", "pools"]  # one per connection
        assert not any(c in ("get_token", None) for c in commands)  # a read never writes
        driver.read()
        later = [r.get("command") for r in miner.fake.requests][len(commands):]
        assert later == ["status", "summary", "edevs", "pools"]  # identity is read once


def test_sleeping_miner_whose_summary_fails():
    with FakeBtminer(extra={"status": fixture_bytes("whatsminer/status.m31s_sleeping_old_api.json"),
                            "summary": None, "edevs": None, "pools": None}) as miner:
        status = miner.driver().read()
    assert status.state == "sleeping" and status.hashrate_hs == 0.0 and status.errors == []


def test_summary_failure_while_mining_is_an_error():
    with FakeBtminer(extra={"summary": None}) as miner:
        with pytest.raises(MinerProtocolError, match="summary"):
            miner.driver().read()


def test_old_api_has_no_power_limit_capability():
    old = flat(131, {"api_ver": "whatsminer v1.3", "fw_ver": "20210109.22.REL"})
    with FakeBtminer(get_version=old) as miner:
        driver = miner.driver()
        assert POWER_WATTS in driver.capabilities  # the family's maximum until the first read
        driver.read()
        assert POWER_WATTS not in driver.capabilities and {MODE, POWER_PERCENT, POOLS} <= driver.capabilities
        assert POWER_WATTS in WhatsminerDriver.capabilities
        with pytest.raises(MinerError, match="2.0.5"):
            driver.set_power_watts(3000)
        assert miner.token_requests == 0


# --- API 2 writes ------------------------------------------------------------------------------
def test_write_sends_token_and_aes_and_reuses_the_token():
    with FakeBtminer() as miner:
        driver = miner.driver()
        driver.set_mode("low")
        driver.sleep()
        driver.set_power_percent(80)
        driver.set_power_watts(3000)
        driver.set_pools([PoolConfig("stratum+tcp://pool.example:3333", "me.w1", "poolpw")])
        driver.restart()
        driver.wake()
        driver.reboot()
    names = [w.get("cmd") for w in miner.writes]
    assert names == ["set_low_power", "power_off", "set_power_pct", "adjust_power_limit", "update_pools",
                     "restart_btminer", "power_on", "reboot"]
    assert miner.writes[1]["respbefore"] == "true" and miner.writes[2]["percent"] == "80"
    assert miner.writes[3]["power_limit"] == "3000"
    pools = miner.writes[4]
    assert (pools["pool1"], pools["worker1"], pools["passwd1"]) == ("stratum+tcp://pool.example:3333", "me.w1",
                                                                    "poolpw")
    assert pools["pool2"] == pools["pool3"] == ""
    assert miner.token_requests == 1  # cached for 30 minutes (pyasic; API V2.0.5 token keepalive)
    plain = [r for r in miner.fake.requests if "enc" not in r and r.get("command") != "get_token"]
    assert all("poolpw" not in json.dumps(r) for r in plain)  # the pool password only travels encrypted


def test_expired_token_is_renewed_once_and_the_write_goes_through():
    with FakeBtminer(mode="expire_first") as miner:
        miner.driver().set_mode("high")
    assert miner.token_requests == 2 and [w["cmd"] for w in miner.writes] == ["set_high_power"]


def test_token_rejected_twice_is_a_clear_auth_error():
    with FakeBtminer(mode="always_expired") as miner:
        with pytest.raises(MinerAuthError, match="check token error.*nothing was changed"):
            miner.driver().set_mode("high")
    assert miner.token_requests == 2 and miner.enc_requests == 2 and miner.writes == []


def test_write_switch_off_is_a_clear_auth_error():
    with FakeBtminer(mode="switch_off") as miner:
        with pytest.raises(MinerAuthError, match="write switch is off.*WhatsMinerTool"):
            miner.driver().sleep()
    assert miner.writes == []


def test_wrong_password_is_a_clear_auth_error(caplog):
    caplog.set_level(logging.DEBUG)
    with FakeBtminer(password="s3cr3t-admin") as miner:
        with pytest.raises(MinerAuthError, match="admin password is wrong") as err:
            miner.driver(credentials=Credentials("admin", "WrongPass1")).sleep()
    assert miner.writes == [] and "WrongPass1" not in str(err.value) and "WrongPass1" not in caplog.text


def test_right_custom_password_works():
    with FakeBtminer(password="s3cr3t-admin") as miner:
        miner.driver(credentials=Credentials("admin", "s3cr3t-admin")).wake()
    assert [w["cmd"] for w in miner.writes] == ["power_on"]


def test_firmware_error_text_is_scrubbed_of_the_pool_password():
    with FakeBtminer(mode="error") as miner:
        with pytest.raises(MinerError) as err:
            miner.driver().set_pools([PoolConfig("stratum+tcp://pool.example:3333", "me.w1", "hunter22")])
    assert "hunter22" not in str(err.value) and "***" in str(err.value)


def test_bad_values_are_refused_before_anything_is_sent():
    with FakeBtminer() as miner:
        driver = miner.driver()
        for call in (lambda: driver.set_mode("turbo"), lambda: driver.set_power_percent(101),
                     lambda: driver.set_power_watts(0),
                     lambda: driver.set_pools([PoolConfig("http://x", "u")] * 1),
                     lambda: driver.set_pools([PoolConfig("stratum+tcp://a.example:1", "u")] * 4)):
            with pytest.raises(ValueError):
                call()
    assert miner.token_requests == 0


def test_restart_accepts_a_dropped_connection():
    def drop(request: dict[str, Any]) -> bytes:
        return b""  # the miner goes down before answering

    with FakeBtminer() as miner:
        miner.fake.replies["None"] = drop
        miner.driver().restart()


def test_unreachable_miner():
    driver = make_driver("whatsminer", next(_IPS), timeout=0.5)
    with pytest.raises(MinerUnreachable):
        driver.read()


# --- API 3 -------------------------------------------------------------------------------------
class FakeV3:
    """API 3 on 4433: 4-byte LE length + JSON per request; checks set.* tokens like the firmware document."""

    def __init__(self, host: str, *, password: str = "super", salt: str = "uhCiDyVj", mode: str = "ok",
                 port: int = 4433) -> None:
        self.host, self.password, self.salt, self.mode = host, password, salt, mode
        self.requests: list[dict[str, Any]] = []
        self.writes: list[tuple[str, Any]] = []
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock = self.request
                sock.settimeout(2)
                try:
                    while True:
                        head = self._exactly(sock, 4)
                        if head is None:
                            return
                        body = self._exactly(sock, struct.unpack("<I", head)[0])
                        if body is None:
                            return
                        if fake.mode == "trickle":
                            sock.sendall(struct.pack("<I", 500) + b"{")
                            time.sleep(3)
                            return
                        reply = fake.handle(json.loads(body))
                        data = json.dumps(reply).encode()
                        sock.sendall(struct.pack("<I", len(data)) + data)
                except OSError:
                    return

            @staticmethod
            def _exactly(sock: socket.socket, n: int) -> bytes | None:
                data = b""
                while len(data) < n:
                    chunk = sock.recv(n - len(data))
                    if not chunk:
                        return None
                    data += chunk
                return data

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> FakeV3:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        cmd, param = request.get("cmd"), request.get("param")
        if cmd == "get.device.info":
            info = fixture_json("whatsminer/get_device_info.api3.json")
            info["msg"]["salt"] = self.salt
            if param in ("miner", "salt"):
                info["msg"] = {param: info["msg"][param]}
            return info
        if cmd == "get.miner.status":
            if param == "summary":
                return fixture_json("whatsminer/get_miner_status_summary.api3.vendor_doc_example.json")
            if param == "edevs":  # no capture: pyasic's field names
                return {"code": 0, "when": 1, "desc": cmd, "msg": {"edevs": [
                    {"id": i, "slot": i, "hash-average": 33.9, "factory-hash": 33.8, "freq": 788,
                     "effective-chips": 225, "chip-temp-min": 83.2, "chip-temp-avg": 92.9, "chip-temp-max": 100.3}
                    for i in range(3)]}}
            return {"code": 0, "when": 1, "desc": cmd, "msg": {"pools": [
                {"id": 1, "url": "stratum+tcp://a.example:3333", "status": "alive", "account": "u.1",
                 "stratum-active": True}]}}
        if isinstance(cmd, str) and cmd.startswith("set."):
            digest = v3_digest(cmd, self.password, self.salt, request.get("ts"))
            if self.mode == "no_permission" or request.get("account") != "super" or \
                    request.get("token") != v3_token_of(digest):
                return {"code": -4, "when": 1, "msg": "no permission", "desc": cmd}
            if cmd == "set.miner.pools":
                param = decrypt_json(digest, param)
            self.writes.append((cmd, param))
            return {"code": 0, "when": 1, "msg": "ok", "desc": cmd}
        return {"code": -2, "when": 1, "msg": "invalid command", "desc": str(cmd)}


NEW_FW = flat(131, {"miner_type": "M60S_VK40", "fw_ver": "20251209.16.Rel2"})


def test_new_firmware_is_read_over_api3():
    with FakeBtminer(get_version=NEW_FW) as miner, FakeV3(miner.ip) as v3:
        driver = miner.driver()
        status = driver.read()
        assert driver.api == 3 and driver.v3_port == 4433
        assert status.model == "Whatsminer M60S VK40" and status.hashrate_hs == pytest.approx(101.847e12)
        assert status.power_w == 3268 and len(status.boards) == 3 and status.boards[0].chips == 225
        assert [p.url for p in status.pools] == ["stratum+tcp://a.example:3333"]
        assert not any(str(r.get("cmd")).startswith("set.") for r in v3.requests)
        assert [r.get("command") for r in miner.fake.requests] == ["get_version"]


def test_only_api3_listening():
    ip = next(_IPS)
    with FakeV3(ip) as v3:
        driver = make_driver("whatsminer", ip, timeout=2.0)
        assert driver.read().model == "Whatsminer M60S VK40" and driver.api == 3
    assert v3.requests[0] == {"cmd": "get.device.info"}


def test_api3_port_follows_the_port_offset():
    driver = make_driver("whatsminer", "127.86.1.1", port_offset=10000)
    assert driver.port == 14028 and driver.v3_port == 14433


def test_api3_writes_are_signed_and_pools_encrypted():
    with FakeBtminer(get_version=NEW_FW) as miner, FakeV3(miner.ip) as v3:
        driver = miner.driver()
        driver.set_mode("low")
        driver.set_power_watts(3300)
        driver.set_power_percent(90)
        driver.sleep()
        driver.wake()
        driver.restart()
        driver.set_pools([PoolConfig("stratum+tcp://p.example:3333", "me.w", "pw123")])
        driver.reboot()
    assert v3.writes[-1] == ("set.system.reboot", None)
    assert v3.writes[:-1] == [("set.miner.power_mode", "low"), ("set.miner.power_limit", 3300),
                         ("set.miner.power_percent", {"percent": 90, "mode": "fast"}),
                         ("set.miner.service", "stop"), ("set.miner.service", "start"),
                         ("set.miner.service", "restart"),
                         ("set.miner.pools", [{"pool": "stratum+tcp://p.example:3333", "worker": "me.w",
                                               "passwd": "pw123"}])]
    sent = [r for r in v3.requests if r.get("cmd") == "set.miner.pools"][0]
    assert isinstance(sent["param"], str) and "pw123" not in json.dumps(sent)
    assert base64.b64decode(sent["param"])  # base64 of AES blocks


def test_api3_custom_credentials():
    with FakeBtminer(get_version=NEW_FW) as miner, FakeV3(miner.ip, password="n3w-pass") as v3:
        miner.driver(credentials=Credentials("super", "n3w-pass")).sleep()
        assert v3.writes == [("set.miner.service", "stop")]
        with pytest.raises(MinerAuthError, match="account 'super'.*nothing was changed"):
            miner.driver().sleep()  # factory default super/super is wrong here
    assert len(v3.writes) == 1


def test_api3_stale_salt_is_read_again_once():
    with FakeBtminer(get_version=NEW_FW) as miner, FakeV3(miner.ip) as v3:
        driver = miner.driver()
        driver.read()
        v3.salt = "n3wSalt1"  # e.g. changed after a reboot
        driver.set_mode("high")
    assert v3.writes == [("set.miner.power_mode", "high")]
    assert [r.get("param") for r in v3.requests if r.get("cmd") == "get.device.info"][-1] == "salt"


def test_api3_no_permission_is_a_clear_auth_error():
    with FakeBtminer(get_version=NEW_FW) as miner, FakeV3(miner.ip, mode="no_permission") as v3:
        with pytest.raises(MinerAuthError, match="write switch is off"):
            miner.driver().set_mode("high")
    assert v3.writes == []


def test_api3_framing_deadline_and_bad_frames():
    ip = next(_IPS)
    with FakeV3(ip, mode="trickle"):
        started = time.monotonic()
        with pytest.raises(MinerError):
            whatsminer_v3.call(ip, 4433, {"cmd": "get.device.info"}, timeout=0.5)
        assert time.monotonic() - started < 1.5
    assert whatsminer_v3.encode_frame({"cmd": "x"}) == struct.pack("<I", 11) + b'{"cmd":"x"}'
    with pytest.raises(whatsminer_v3.V3PermissionDenied):
        whatsminer_v3.check({"code": -4, "msg": "no permission"}, "set.x")
    with pytest.raises(MinerProtocolError):
        whatsminer_v3.check({"msg": "x"}, "get.x")
    assert issubclass(whatsminer_v3.V3PermissionDenied, MinerAuthError)


def test_driver_repr_and_errors_hold_no_secret():
    driver = make_driver("whatsminer", "127.86.1.2", credentials=Credentials("admin", "Pa55word!"))
    assert "Pa55word!" not in repr(driver) and "Pa55word!" not in repr(driver.credentials)




# --- detection ---------------------------------------------------------------------------------
def test_classify_recorded_invalid_cmd_reply():
    from miners import detect

    assert detect.classify_cgminer(fixture_bytes("whatsminer/error.invalid_cmd.v1.3.json").decode()) == "whatsminer"


def test_api3_only_host_is_found_on_4433_read_only():
    from miners import detect

    ip = next(_IPS)
    assert detect.sweep_ports(10000) == [14028, 14433, 10080]
    with FakeV3(ip) as v3:
        found = detect.detect(ip, timeout=1.0)  # sweeps 4028, 4433 and 80; only 4433 answers
        assert found == detect.Detection("whatsminer", 4433, "Whatsminer M60S VK40", "whatsminer-api3")
    assert v3.requests == [{"cmd": "get.device.info", "param": "miner"}]


def test_api3_port_is_not_probed_when_4028_already_answered():
    from miners import detect

    with FakeBtminer(extra={"version": fixture_bytes("whatsminer/error.invalid_cmd.v1.3.json")}) as miner, \
            FakeV3(miner.ip) as v3:
        found = detect.fingerprint(miner.ip, {4028, 4433})
    assert found is not None and found.family == "whatsminer" and v3.requests == []
    assert [r.get("command") for r in miner.fake.requests] == ["version"]


def test_refused_get_version_without_api3_stays_on_api2():
    with FakeBtminer(extra={"get_version": None}) as miner:  # an old build: Code 14 for get_version
        driver = miner.driver()
        status = driver.read()
    assert driver.api == 2 and driver.api_version is None and status.hashrate_hs == pytest.approx(77909448.60e6)
    assert status.firmware_version == "20201202.22.REL"  # from the summary, quotes removed


def test_refused_identity_commands_are_not_asked_every_poll():
    with FakeBtminer(extra={"devdetails": None, "get_miner_info": b"garbage"}) as miner:
        driver = miner.driver()
        driver.read()
        first = len(miner.fake.requests)
        driver.read()
        later = [r.get("command") for r in miner.fake.requests[first:]]
    assert later == ["status", "summary", "edevs", "pools", "get_miner_info"]  # garbled: asked again; refused: not
