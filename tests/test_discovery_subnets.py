"""network.subnet (and POST /api/discover's subnet) may list several networks: "192.168.1.0/24, 10.0.5.0/24".

Config checks name the bad entry; the default names every network; one scan covers them all with
each address probed once, against simulated miners in two /28s of 127.86.15.0/24 (this file's
range, docs/contracts.md) with nothing in between.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from services import netinfo
from services.config import ConfigError, load_config
from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, discover, live_app

NET_A, NET_B = "127.86.15.0/28", "127.86.15.32/28"
MINER_A, MINER_B, BETWEEN = "127.86.15.5", "127.86.15.40", "127.86.15.20"


@pytest.mark.parametrize("value, line", [
    ("127.86.15.0/28, nope", "network.subnet: not a CIDR network like 192.168.1.0/24: 'nope'"),
    ("127.86.15.0/28, 10.0.0.0/8", "network.subnet: must be IPv4 and /16 or smaller, got 10.0.0.0/8"),
    (", ".join(f"10.0.{i}.0/24" for i in range(17)), "network.subnet: at most 16 networks, got 17"),
])
def test_a_bad_entry_in_a_list_stops_start_up_naming_it(tmp_path, value, line):
    path = tmp_path / "config.yaml"
    path.write_text(f'network:\n  subnet: "{value}"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value) == line


def test_entries_parse_with_auto_and_repeats_left_out(monkeypatch):
    monkeypatch.setattr(netinfo, "own_lan", lambda: ipaddress.IPv4Network("192.168.77.0/24"))
    assert netinfo.subnet_parts("") == ["auto"] and netinfo.subnet_parts(" a ; b,, ") == ["a", "b"]
    nets = netinfo.resolve_subnets("auto, 10.0.5.0/24, 192.168.77.0/24")
    assert netinfo.subnets_text(nets) == "192.168.77.0/24, 10.0.5.0/24"


def test_the_default_names_every_network(client, runtime, monkeypatch):
    monkeypatch.setattr(netinfo, "own_lan", lambda: ipaddress.IPv4Network("192.168.77.0/24"))
    network = dataclasses.replace(runtime.fleet.config.network, subnet=f"{NET_A}, auto")
    runtime.fleet.config = dataclasses.replace(runtime.fleet.config, network=network)
    status = client.get("/api/discover").get_json()
    assert status["default_subnet"] == f"{NET_A}, 192.168.77.0/24" and status["subnet_detected"] is True


def test_too_many_addresses_together_are_refused_before_any_probe(client, monkeypatch):
    # The limit lowered to 16 addresses, so the refused networks are this file's own (nothing is sent anyway).
    monkeypatch.setattr("services.discovery.MAX_HOSTS", 16)
    reply = client.post("/api/discover", json={"subnet": f"{NET_A}, {NET_B}"}, headers=AUTH)
    assert reply.status_code == 400
    assert reply.get_json()["error"] == f"{NET_A}, {NET_B} together has 32 addresses; scan at most 16 (a /20) at once"
    assert client.get("/api/discover").get_json()["state"] == "idle"


@pytest.fixture(scope="module")
def sim():
    with SimFleet([MinerSpec("bitaxe", MINER_A), MinerSpec("bitaxe", MINER_B), MinerSpec("bitaxe", BETWEEN)],
                  allow_any_client=True, seed=15) as fleet:
        yield fleet


def test_one_scan_of_two_networks_finds_the_miners_of_both_and_nothing_between(tmp_path, sim):
    with live_app(tmp_path, f"{NET_A}, {NET_B}", sim.port_offset) as live:
        job = discover(live.client, timeout=15.0)
        assert job["state"] == "done" and job["subnet"] == f"{NET_A}, {NET_B}"
        assert job["total"] == 14 + 14  # the hosts of two /28s, each probed once
        found = {m["ip"] for m in job["found"]}
        assert found == {MINER_A, MINER_B}  # 127.86.15.20 answers too, but lies between them
        # The same list typed into the scan form.
        job = discover(live.client, f"{NET_B},{NET_B}, {NET_A}", timeout=15.0)
        assert job["subnet"] == f"{NET_B}, {NET_A}" and job["total"] == 28
