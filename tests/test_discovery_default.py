"""GET /api/discover names the subnet a scan without one would cover (the first-run welcome pre-fills it).

No packet leaves: the own LAN comes from a monkeypatched netinfo.own_lan, and the one scan
here is of 127.86.9.0/30 (this helper's range), where nothing listens.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from services import netinfo


@pytest.fixture
def detected(monkeypatch):
    """This host's LAN, as the default route would give it."""
    monkeypatch.setattr(netinfo, "own_lan", lambda: ipaddress.IPv4Network("192.168.77.0/24"))


def test_auto_subnet_is_the_detected_lan(client, runtime, detected):
    assert runtime.config.network.subnet == "auto"  # the default of an unedited config.yaml
    status = client.get("/api/discover").get_json()
    assert status["state"] == "idle"
    assert status["default_subnet"] == "192.168.77.0/24" and status["subnet_detected"] is True
    assert status["subnet"] == "192.168.77.0/24"  # the idle placeholder names it too, as before


def test_configured_subnet_wins_and_is_not_called_detected(client, runtime, detected):
    network = dataclasses.replace(runtime.fleet.config.network, subnet="127.86.9.0/28")
    runtime.fleet.config = dataclasses.replace(runtime.fleet.config, network=network)
    status = client.get("/api/discover").get_json()
    assert status["default_subnet"] == "127.86.9.0/28" and status["subnet_detected"] is False


def test_no_route_and_nothing_configured_gives_none(client, monkeypatch):
    monkeypatch.setattr(netinfo, "own_lan", lambda: None)
    status = client.get("/api/discover").get_json()
    assert status["default_subnet"] is None and status["subnet"] is None and status["subnet_detected"] is True


def test_a_finished_job_keeps_its_own_subnet_beside_the_default(runtime, detected):
    runtime.fleet.config = dataclasses.replace(
        runtime.fleet.config, network=dataclasses.replace(runtime.fleet.config.network, probe_timeout_sec=0.2))
    job = runtime.discovery.start("127.86.9.0/30", wait=True)
    status = runtime.discovery.status()
    assert status["job_id"] == job.job_id and status["state"] == "done"
    assert status["subnet"] == "127.86.9.0/30"  # what was scanned
    assert status["default_subnet"] == "192.168.77.0/24"  # what the next scan without a subnet covers
