"""Shared harness of the integration tests: the real app (real Runtime, drivers, FleetManager) on loopback.

Each ``tests/test_integration_*.py`` keeps its own loopback range and simulated miners; this module
builds the app around them::

    @pytest.fixture
    def live(tmp_path, sim):
        with live_app(tmp_path, f"{NET}.0/24", sim.port_offset) as live:
            yield live.client, live.runtime

``live_app`` writes a config.yaml (network + polling + security, any section overridable by
keyword), loads it, builds a Runtime and a passive app (no scheduler: rounds are run by the
test) and always shuts the Runtime down on the way out.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import yaml

from tests.conftest import TEST_TOKEN

T = TypeVar("T")

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
ADMIN_PASSWORD = "long-enough-pw"
# Config sections every integration test starts from; live_app(**sections) overrides them key by key.
DEFAULT_SECTIONS: dict[str, dict[str, Any]] = {
    "polling": {"interval_sec": 60, "timeout_sec": 1.5, "offline_after": 2, "workers": 16},
    "security": {"api_token": TEST_TOKEN, "admin_password": ADMIN_PASSWORD},
}


@dataclass(frozen=True)
class LiveApp:
    """What live_app() yields: the Flask test client, the real Runtime, the loaded Config and the app."""

    client: Any  # flask.testing.FlaskClient
    runtime: Any  # services.runtime.Runtime
    config: Any  # services.config.Config
    app: Any  # flask.Flask


def config_sections(subnet: str, port_offset: int, **sections: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The config.yaml content: DEFAULT_SECTIONS plus network, each updated key by key from ``sections``.

    A key given as None is left out, so the app's own default applies (e.g. ``polling={"offline_after": None}``).
    """
    merged: dict[str, dict[str, Any]] = {"network": {"subnet": subnet, "port_offset": port_offset}}
    merged.update((name, dict(values)) for name, values in DEFAULT_SECTIONS.items())
    for name, values in sections.items():
        merged.setdefault(name, {}).update(values or {})
    return {name: {k: v for k, v in values.items() if v is not None} for name, values in merged.items()}


@contextmanager
def live_app(directory: str | Path, subnet: str, port_offset: int, **sections: dict[str, Any] | None
             ) -> Iterator[LiveApp]:
    """A real Runtime and passive app for ``subnet`` (CIDR) with config.yaml written into ``directory``.

    ``sections`` update the config by section and key (see config_sections). The Runtime is shut
    down when the block ends, whether the test passed, failed or the app could not be built.
    """
    from app import create_app
    from services.config import load_config
    from services.runtime import Runtime

    path = Path(directory) / "config.yaml"
    path.write_text(yaml.safe_dump(config_sections(subnet, port_offset, **sections), sort_keys=False))
    config = load_config(path, environ={})
    runtime = Runtime(config)
    try:
        app = create_app(config=config, runtime=runtime, start_background=False, test_config={"TESTING": True})
        yield LiveApp(client=app.test_client(), runtime=runtime, config=config, app=app)
    finally:
        runtime.shutdown()


def wait_for(predicate: Callable[[], T], timeout: float = 8.0, step: float = 0.1,
             message: str = "condition not met in time") -> T:
    """Call ``predicate`` every ``step`` seconds until it returns something truthy, and return that.

    Raises AssertionError(message) once ``timeout`` seconds have passed without it.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(message)


def discover(client, subnet: str | None = None, timeout: float = 20.0, step: float = 0.1) -> dict:
    """Start a discovery sweep (of the configured subnet, or ``subnet``) and return the finished job.

    Asserts the sweep was accepted (202); "finished" means no longer running, so the caller checks
    ``job["state"]`` itself.
    """
    reply = client.post("/api/discover", json={} if subnet is None else {"subnet": subnet}, headers=AUTH)
    assert reply.status_code == 202, reply.get_json()

    def finished() -> dict | None:
        job = client.get("/api/discover").get_json()
        return job if job["state"] != "running" else None

    return wait_for(finished, timeout, step, message="discovery did not finish")


def add_miner(client, ip: str, family: str, **extra: Any) -> dict:
    """POST /api/miners (asserting 201) and return the new miner as the API shows it."""
    reply = client.post("/api/miners", json={"ip": ip, "family": family, **extra}, headers=AUTH)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def poll_detail(client, runtime, ip: str) -> dict:
    """Poll one miner now, then return GET /api/miners/<ip>."""
    runtime.fleet.poll_round([runtime.fleet.get(ip)])
    return client.get(f"/api/miners/{ip}").get_json()


def post_action(client, ip: str, action: str, body: dict | None = None):
    """POST /api/miners/<ip>/<action> with the API token (an empty JSON body when ``body`` is None)."""
    return client.post(f"/api/miners/{ip}/{action}", json=body if body is not None else {}, headers=AUTH)
