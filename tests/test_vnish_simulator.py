"""The Vnish simulators on the wire (plain sockets and requests, no drivers): shapes, auth, state changes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from requests.auth import HTTPDigestAuth

from simulator import MinerSpec, SimFleet

ROOT = Path(__file__).resolve().parents[1]
NET = "127.85.1"
S19_126, S19_134, S9 = f"{NET}.10", f"{NET}.11", f"{NET}.12"


@pytest.fixture(scope="module")
def sim():
    fleet = SimFleet([MinerSpec("vnish", S19_126, model="S19", firmware_version="1.2.6"),
                      MinerSpec("vnish", S19_134, model="S19", firmware_version="1.3.4"),
                      MinerSpec("vnish_legacy", S9, model="S9", firmware_version="3.8.6")],
                     allow_any_client=True, seed=5)
    fleet.start()
    yield fleet
    fleet.stop()


def api(sim, ip: str) -> str:
    return f"http://{ip}:{80 + sim.port_offset}/api/v1"


def web(sim, ip: str) -> str:
    return f"http://{ip}:{80 + sim.port_offset}"


def cg(sim, ip: str, command: str) -> bytes:
    with socket.create_connection((ip, 4028 + sim.port_offset), timeout=2) as sock:
        sock.sendall(json.dumps({"command": command}).encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def unlock(sim, ip: str, pw: str = "admin") -> requests.Response:
    return requests.post(f"{api(sim, ip)}/unlock", json={"pw": pw}, timeout=2)


def test_simulators_import_nothing_of_the_app():
    code = ("import sys, simulator.vnish, simulator.vnish_legacy; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('miners', 'services', 'web', 'database')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr


# --- Vnish 1.x ----------------------------------------------------------------------------------------
def test_rest_open_paths_and_page(sim):
    info = requests.get(f"{api(sim, S19_126)}/info", timeout=2).json()
    assert info["fw_name"] == "Vnish" and info["fw_version"] == "1.2.6" and info["hr_measure"] == "GH/s"
    summary = requests.get(f"{api(sim, S19_126)}/summary", timeout=2).json()["miner"]
    assert summary["miner_type"] == "Antminer S19 (Vnish 1.2.6)" and "throttled" not in summary["miner_status"]
    assert sum(c["hashrate_rt"] for c in summary["chains"]) == pytest.approx(summary["hr_realtime"], rel=0.01)
    assert summary["pools"][-1]["pool_type"] == "DevFee"
    assert "AnthillOS" in requests.get(web(sim, S19_126) + "/", timeout=2).text
    assert requests.get(f"{api(sim, S19_126)}/chains", timeout=2).status_code == 200
    assert requests.get(f"{api(sim, S19_126)}/boards", timeout=2).status_code == 404  # /boards is 1.3.x
    assert requests.get(f"{api(sim, S19_134)}/boards", timeout=2).status_code == 200
    assert requests.get(f"{api(sim, S19_134)}/chains", timeout=2).status_code == 404
    assert "throttled" in requests.get(f"{api(sim, S19_134)}/summary", timeout=2).json()["miner"]["miner_status"]


def test_rest_tokens_expire_and_wrong_passwords_lock_out(sim):
    miner = sim.miner(S19_126)
    token = unlock(sim, S19_126).json()["token"]
    ok = requests.get(f"{api(sim, S19_126)}/settings", headers={"Authorization": f"Bearer {token}"}, timeout=2)
    assert ok.status_code == 200 and len(ok.json()["miner"]["pools"]) == 3
    assert requests.get(f"{api(sim, S19_126)}/settings", timeout=2).status_code == 401
    sim.call(miner.expire_tokens)
    stale = requests.post(f"{api(sim, S19_126)}/mining/restart", headers={"Authorization": f"Bearer {token}"},
                          timeout=2)
    assert stale.status_code == 401
    wrong = [unlock(sim, S19_126, "nope") for _ in range(5)]
    assert [r.status_code for r in wrong] == [403, 403, 403, 403, 429]
    assert wrong[0].json() == {"unlock_timeout": 0} and wrong[-1].json()["unlock_timeout"] > 0
    assert unlock(sim, S19_126).status_code == 429  # even the right password, until the lockout ends
    sim.call(lambda: setattr(miner, "locked_until", 0.0))
    assert unlock(sim, S19_126).status_code == 200


def test_rest_writes_change_the_summary(sim):
    token = unlock(sim, S19_134).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    base = api(sim, S19_134)
    assert requests.post(f"{base}/settings", json={"miner": {"pools": [{"url": "a:1", "user": "u", "pass": "p"}]}},
                         headers=headers, timeout=2).status_code == 400  # MinerConfigRaw.pools is a 3-tuple
    reply = requests.post(f"{base}/settings", json={"miner": {"overclock": {"preset": "1500"}}}, headers=headers,
                          timeout=2)
    assert reply.json() == {"restart_required": False, "reboot_required": False}
    miner = requests.get(f"{base}/summary", timeout=2).json()["miner"]
    assert 1450 < miner["power_consumption"] < 1550 and 60000 < miner["hr_realtime"] < 66000
    assert requests.post(f"{base}/mining/throttle", json={"percent": 50}, headers=headers, timeout=2).ok
    assert requests.get(f"{base}/summary", timeout=2).json()["miner"]["miner_status"]["throttled"] == 50
    assert requests.post(f"{base}/mining/throttle", json={"percent": 5}, headers=headers, timeout=2).status_code == 400
    assert requests.post(f"{base}/mining/stop", headers=headers, timeout=2).text == ""
    again = requests.post(f"{base}/mining/stop", headers=headers, timeout=2)
    assert again.status_code == 500 and "failed-to-activate-pause-mode" in again.json()["err"]
    assert requests.get(f"{base}/summary", timeout=2).json()["miner"]["miner_status"]["miner_state"] == "stopped"
    assert requests.post(f"{base}/mining/start", headers=headers, timeout=2).ok
    old = api(sim, S19_126)
    token_old = unlock(sim, S19_126).json()["token"]
    assert requests.post(f"{old}/mining/throttle", json={"percent": 50}, timeout=2,
                         headers={"Authorization": f"Bearer {token_old}"}).status_code == 404  # not in 1.2.x


def test_rest_cgminer_api_carries_the_vnish_type(sim):
    reply = json.loads(cg(sim, S19_126, "version").rstrip(b"\x00"))
    assert reply["VERSION"][0]["Type"] == "Antminer S19 (Vnish 1.2.6)"


def test_detection_of_the_rest_sim_by_web_page_alone(sim):
    from miners import detect

    found = detect.fingerprint(S19_126, {80 + sim.port_offset}, port_offset=sim.port_offset)
    assert found is not None and found.family == "vnish" and found.protocol == "http"
    by_api = detect.fingerprint(S9, {4028 + sim.port_offset}, port_offset=sim.port_offset)
    assert by_api.family == "vnish" and by_api.model == "Antminer S9"


# --- Vnish 3.x ---------------------------------------------------------------------------------------
def test_legacy_api_shapes_follow_the_capture(sim):
    raw = cg(sim, S9, "stats")
    assert raw.endswith(b"\x00") and b'"Type":"Antminer S9 (vnish 3.8.6)"}{"STATS":0' in raw
    with pytest.raises(ValueError):
        json.loads(raw.rstrip(b"\x00"))
    stats = json.loads(raw.rstrip(b"\x00").replace(b"}{", b"},{"))["STATS"][1]
    assert stats["chain_acn6"] == 63 and stats["chain_vol6"] == 880 and stats["build_version"] == "3.8.6"
    assert stats["chain_consumption6"] > 400 and stats["fan5"] > 0 and stats["fan1"] == 0
    pools = json.loads(cg(sim, S9, "pools").rstrip(b"\x00"))["POOLS"]
    assert pools[-1]["URL"] == "DevFee" and pools[-1]["Priority"] == 993 and pools[0]["Boost"] == "Normal"
    denied = json.loads(cg(sim, S9, "addpool").rstrip(b"\x00"))
    assert denied["STATUS"][0]["Code"] == 45


def test_legacy_web_needs_digest_and_serves_the_cgi(sim):
    base = web(sim, S9) + "/cgi-bin"
    plain = requests.get(f"{base}/get_miner_conf.cgi", timeout=2)
    assert plain.status_code == 401 and 'realm="antMiner Configuration"' in plain.headers["WWW-Authenticate"]
    assert requests.get(f"{base}/get_miner_conf.cgi", auth=HTTPDigestAuth("root", "bad"), timeout=2).status_code == 401
    auth = HTTPDigestAuth("root", "root")
    conf_text = requests.get(f"{base}/get_miner_conf.cgi", auth=auth, timeout=2).text
    assert conf_text.startswith("\n{") and json.loads(conf_text)["bitmain-freq"] == "650"
    chips = requests.get(f"{base}/chip_hr.json", auth=auth, timeout=2).json()["chiphr"]
    assert len(chips) == 3 and len(chips[0]) == 63 and chips[0]["Asic00"].isdigit()
    info = requests.get(f"{base}/get_system_info.cgi", auth=auth, timeout=2).json()
    assert info["minertype"] == "Antminer S9 (vnish 3.8.6)"


def test_legacy_short_form_shifts_fields_like_the_positional_cgi(sim):
    miner = sim.miner(S9)
    saved = dict(miner.conf)
    auth = HTTPDigestAuth("root", "root")
    base = web(sim, S9) + "/cgi-bin"
    try:
        # Two pool fields left out: every later value lands one field early, and a bare token is kept as text.
        body = "_ant_pool1url=stratum%2Btcp%3A%2F%2Fx%3A1&_ant_pool1user=u&_ant_nobeeper&_ant_freq=600"
        reply = requests.post(f"{base}/set_miner_conf_custom.cgi", data=body, auth=auth, timeout=2,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert reply.text == "ok"  # the CGI does not check anything
        assert miner.conf["pools"][0]["pass"] == "_ant_nobeeper" and miner.conf["pools"][1]["url"] == "600"
        assert miner.conf["bitmain-freq"] == "650"
    finally:
        sim.call(lambda: (setattr(miner, "conf", saved), miner.restart_mining()))


def test_legacy_sleep_and_stop(sim):
    miner = sim.miner(S9)
    auth = HTTPDigestAuth("root", "root")
    base = web(sim, S9) + "/cgi-bin"
    assert requests.post(f"{base}/do_sleep_mode.cgi", data={"mode": "1"}, auth=auth, timeout=2).text == "ok"
    summary = json.loads(cg(sim, S9, "summary").rstrip(b"\x00"))["SUMMARY"][0]
    assert miner.sleeping and float(summary["GHS 5s"]) == 0.0
    assert requests.post(f"{base}/do_sleep_mode.cgi", data={"mode": "0"}, auth=auth, timeout=2).ok
    assert float(json.loads(cg(sim, S9, "summary").rstrip(b"\x00"))["SUMMARY"][0]["GHS 5s"]) > 0
    assert requests.get(f"{base}/stop_bmminer.cgi", auth=auth, timeout=2).ok
    with pytest.raises(OSError):
        cg(sim, S9, "summary")  # nothing behind 4028 until bmminer is started again
    assert requests.get(f"{base}/reboot_cgminer.cgi", auth=auth, timeout=2).ok
    assert b"SUMMARY" in cg(sim, S9, "summary")


def test_rest_cgminer_api_follows_the_recorded_replies(sim):
    """stats/summary/pools on 4028 carry the key sets of the real 1.2.0-rc1 replies; stats names the model."""
    fixtures = ROOT / "tests" / "fixtures" / "vnish"

    def recorded(name: str) -> dict:
        return json.loads((fixtures / f"cgminer_{name}.s19xp_vnish_1.2.0-rc1.json").read_text())

    stats = json.loads(cg(sim, S19_126, "stats").rstrip(b"\x00"))
    real = recorded("stats")
    assert stats["STATUS"][0]["Code"] == real["STATUS"][0]["Code"] == 70
    assert list(stats["STATS"][0]) == list(real["STATS"][0])
    assert stats["STATS"][0]["Type"] == "Antminer S19 (Vnish 1.2.6)"
    assert list(stats["STATS"][1]) == list(real["STATS"][1])  # both have 3 chains and 4 fans
    assert stats["STATS"][1]["build_version"] == "1.2.6" and stats["STATS"][1]["chain_acn1"] == 76
    assert isinstance(stats["STATS"][1]["GHS 5s"], str) and float(stats["STATS"][1]["GHS 5s"]) > 90000  # GH/s
    summary = json.loads(cg(sim, S19_126, "summary").rstrip(b"\x00"))["SUMMARY"][0]
    assert list(summary) == list(recorded("summary")["SUMMARY"][0]) and isinstance(summary["GHS 5s"], str)
    pools = json.loads(cg(sim, S19_126, "pools").rstrip(b"\x00"))["POOLS"]
    real_pools = recorded("pools")["POOLS"]
    assert [list(p) for p in pools] == [list(real_pools[0])] * len(pools)
    assert pools[-1]["URL"] == pools[-1]["User"] == "DevFee" and pools[-1]["Type"] == 1 == real_pools[-1]["Type"]
