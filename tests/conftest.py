"""Shared fixtures: a config in a temp dir, a passive app with fake drivers, its client."""

from __future__ import annotations

import dataclasses

import pytest

from tests.fakes import fake_factory, reset_fakes

TEST_TOKEN = "test-token-0123456789abcdef"
TEST_PASSWORD = "correct horse battery"
# The tests' config.yaml: data in the config's folder, fast polling, a known token and password.
BASE_CONFIG = ("server:\n  data_dir: data\n"
               "polling:\n  interval_sec: 2\n  timeout_sec: 0.5\n  offline_after: 2\n  workers: 8\n"
               f"security:\n  api_token: {TEST_TOKEN}\n  admin_password: {TEST_PASSWORD}\n")


@pytest.fixture
def config(tmp_path):
    """A valid Config with its data dir in tmp_path and fast polling."""
    from services.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text(BASE_CONFIG)
    return load_config(path, environ={})


@pytest.fixture
def runtime(config):
    """A Runtime whose fleet uses fake drivers; background jobs not started."""
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from database.db import Database

    reset_fakes()
    db = Database(config.data_path / "fleet.db")
    fleet = FleetManager(config, db, driver_factory=fake_factory)
    rt = Runtime(config, fleet=fleet, db=db)
    yield rt
    from tests.fakes import FakeDriver

    FakeDriver.release.set()
    rt.shutdown()


@pytest.fixture
def app(config, runtime):
    """A passive app (no scheduler) around the fake runtime."""
    from app import create_app

    return create_app(config=config, runtime=runtime, start_background=False, test_config={"TESTING": True})


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def auth():
    """Headers carrying the API token."""
    return {"Authorization": f"Bearer {TEST_TOKEN}"}


def replace_config(config, **sections):
    """A copy of config with some sections replaced by keyword."""
    return dataclasses.replace(config, **sections)
