"""An EMS client written only from docs/EMS.md drives the demo (./start.sh --demo: simulator + gunicorn).

The client below uses nothing but what docs/EMS.md documents: the bearer token,
GET /api/status, POST /api/activate and /api/deactivate, the documented replies and
messages, and the event log (GET /api/events) and detail view (GET /api/ems) it
names. Loopback 127.80.8.0/24.

Tolerances, sized to the demo (polling.interval_sec 5, a re-poll 1 s after each
command, autocontrol.tick_sec 10): activePowerInKw is measured, so it follows the
miners one poll later, and the power of a miner that reports none (stock Antminer)
is an estimate; the allocator plans at or below the target (bench/ems_dispatch
settles 0.5 % under it), so "reached" means within 10 % of the target within 45 s
(the whole test takes ~15 s here). After a
deactivate the measured power falls below 10 % of the withdrawn target within
30 s (an Avalon's soft-off is scheduled 5 s ahead; the rest stop within a poll).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.gunicorn_proc import stop_group

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
EMS_TOKEN = "demo-ems-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmsClient:
    """The whole client, from docs/EMS.md: Authorization: Bearer <token>, JSON bodies, kW."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}

    def status(self) -> dict:
        reply = requests.get(f"{self.base}/api/status", headers=self.headers, timeout=5)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def activate(self, kw) -> requests.Response:
        return requests.post(f"{self.base}/api/activate", json={"activationPowerInKw": kw}, headers=self.headers,
                             timeout=5)

    def deactivate(self) -> requests.Response:
        return requests.post(f"{self.base}/api/deactivate", headers=self.headers, timeout=5)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    port = free_port()
    data = tmp_path_factory.mktemp("ems-demo")
    env = {k: v for k, v in os.environ.items() if k not in ("CONFIG", "DATA_DIR", "API_TOKEN", "ADMIN_PASSWORD")}
    env.update(PORT=str(port), DEMO_DIR=str(data), DEMO_NET="127.80.8", EMS_TOKEN=EMS_TOKEN)
    log = open(data / "out.log", "w")
    proc = subprocess.Popen(["./start.sh", "--demo"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        yield {"base": base, "log": data / "out.log"}
    finally:
        stop_group(proc)
        log.close()


def wait_until(predicate, timeout: float, step: float = 0.5):
    """predicate() until truthy (returned) or timeout (returns the last value)."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except requests.RequestException:
            value = None
        if value:
            return value
        time.sleep(step)
    return value


def test_an_ems_client_from_the_docs_drives_the_demo(demo):
    base = demo["base"]
    ems = EmsClient(base, EMS_TOKEN)

    # Ready: the demo found and polled its miners, and the fleet is available for dispatch.
    def ready():
        status = ems.status()
        return status if status["isAvailableForDispatch"] and status["ratedPowerInKw"] > 1 else None

    status = wait_until(ready, 60)
    assert status, demo["log"].read_text()[-3000:]
    # The token is in the demo's owner-only secrets file, never in its output.
    secrets = (demo["log"].parent / "credentials.txt").read_text()
    assert f"ems_token: {EMS_TOKEN}" in secrets and EMS_TOKEN not in demo["log"].read_text()
    # Discovery may still be adding miners: take the rated power once it has held for a poll.
    time.sleep(6)
    status = ems.status()
    assert set(status) == {"isAvailableForDispatch", "runningStatus", "ratedPowerInKw", "activePowerInKw"}
    assert status["runningStatus"] == 1
    rated, before = status["ratedPowerInKw"], status["activePowerInKw"]
    # A target far from where the demo's solar policy has the fleet, so reaching it proves the dispatch.
    target = round(rated * (0.3 if before > 0.5 * rated else 0.7), 3)

    # Wrong token: 401, accepted false, nothing changed.
    wrong = EmsClient(base, "not-the-ems-token-at-all")
    reply = wrong.activate(target)
    assert reply.status_code == 401 and reply.json()["accepted"] is False
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="ems"'
    assert requests.get(f"{base}/api/status", timeout=5).status_code == 401  # no token at all
    assert ems.status()["runningStatus"] == 1

    # A bad activate (a string): 400, accepted false, the reason, nothing changed.
    reply = ems.activate(str(target))
    assert reply.status_code == 400
    assert reply.json()["accepted"] is False
    assert reply.json()["message"].startswith("activationPowerInKw: must be a JSON number")
    assert ems.status()["runningStatus"] == 1

    # Activate below rated: accepted at once (acknowledgement, not delivery).
    t0 = time.monotonic()
    reply = ems.activate(target)
    assert time.monotonic() - t0 < 2.0
    assert reply.status_code == 200, reply.text
    assert reply.json()["accepted"] is True and reply.json()["message"].startswith("activated:")
    assert ems.status()["runningStatus"] == 2

    def reached_target():
        active = ems.status()["activePowerInKw"]
        gap = abs(active - target)
        return active if gap <= 0.1 * target else None

    reached = wait_until(reached_target, 45)
    assert reached, f"activePowerInKw did not reach {target} kW (was {before}, now {ems.status()})"
    time.sleep(6)  # one more poll: it stays there
    assert reached_target(), f"activePowerInKw left {target} kW: {ems.status()}"

    # The same activate again: accepted, nothing changed, nothing sent.
    since = requests.get(f"{base}/api/ems", timeout=5).json()["since"]
    reply = ems.activate(target)
    assert reply.status_code == 200 and reply.json()["accepted"] is True
    assert "nothing changed, nothing sent" in reply.json()["message"]
    detail = requests.get(f"{base}/api/ems", timeout=5).json()
    assert detail["since"] == since and detail["state"] == "active" and detail["target_kw"] == target
    assert detail["calls"][0]["call"] == "POST /api/activate"
    assert "nothing sent" in detail["calls"][0]["message"]
    events = requests.get(f"{base}/api/events?limit=50", timeout=5).json()
    ems_events = [e for e in events if e["kind"] == "ems" and e["actor"] == "ems"]
    assert "already active" in ems_events[0]["message"]
    assert EMS_TOKEN not in str(events) and EMS_TOKEN not in str(detail)

    # Deactivate: accepted, runningStatus 1, the fleet's measured power falls.
    reply = ems.deactivate()
    assert reply.status_code == 200 and reply.json()["accepted"] is True
    assert ems.status()["runningStatus"] == 1
    low = wait_until(lambda: (s := ems.status())["activePowerInKw"] <= 0.1 * target and s, 30)
    assert low, f"activePowerInKw did not fall after deactivate: {ems.status()}"
    assert low["runningStatus"] == 1
