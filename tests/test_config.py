"""Configuration: defaults, env overrides, and one-line errors naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def load_text(tmp_path, text, environ=None):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path, environ=environ or {})


def test_shipped_config_is_valid_and_equals_defaults(tmp_path):
    cfg = load_config(ROOT / "config.yaml", environ={})
    assert cfg.server.port == 5000
    assert cfg.network.subnet == "auto"
    assert cfg.polling.interval_sec == 15
    assert cfg.server.data_dir == str(ROOT / "data")


def test_empty_file_gives_defaults(tmp_path):
    cfg = load_text(tmp_path, "")
    assert cfg.polling.workers == 32
    assert cfg.miners == ()


def test_env_overrides(tmp_path):
    cfg = load_text(tmp_path, "server:\n  port: 6000\n",
                    {"PORT": "7000", "DATA_DIR": "/tmp/x", "API_TOKEN": "t" * 20, "ADMIN_PASSWORD": "p" * 10})
    assert cfg.server.port == 7000
    assert cfg.server.data_dir == "/tmp/x"
    assert cfg.security.api_token == "t" * 20
    assert cfg.security.admin_password == "p" * 10


@pytest.mark.parametrize("text, message", [
    ("polling:\n  intervall_sec: 5\n", "polling.intervall_sec: unknown key"),
    ("bogus: 1\n", "bogus: unknown key"),
    ("polling:\n  interval_sec: fast\n", "polling.interval_sec: expected a number"),
    ("polling:\n  interval_sec: 0\n", "polling.interval_sec: must be at least 1"),
    ("polling:\n  workers: 2.5\n", "polling.workers: expected a whole number"),
    ("server:\n  port: 70000\n", "server.port: must be 1-65535"),
    ("network:\n  subnet: 192.168.1.0/33\n", "network.subnet: not a CIDR"),
    ("network:\n  discover_on_start: yes please\n", "network.discover_on_start: expected true or false"),
    ("miners:\n  - ip: 192.168.1.300\n", "miners[0].ip: not an IPv4 address"),
    ("miners:\n  - ip: 10.0.0.1\n    colour: red\n", "miners[0].colour: unknown key"),
    ("polling: [1, 2]\n", "polling: expected a mapping"),
    ("server:\n  port: [\n", "line"),
])
def test_bad_values_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_env_value(tmp_path):
    with pytest.raises(ConfigError, match="server.port: environment variable PORT"):
        load_text(tmp_path, "", {"PORT": "abc"})


def test_missing_named_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", environ={})


def _run(args, env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "DATA_DIR", "CONFIG")}
    env.update(env_extra)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_broken_config_stops_gunicorn_with_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("polling:\n  interval_sec: -5\n")
    result = _run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], {"CONFIG": str(bad)})
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["config error: polling.interval_sec: must be at least 1, got -5.0"]


def test_config_check_command(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  threads: lots\n")
    result = _run([sys.executable, "-m", "services.config"], {"CONFIG": str(bad)})
    assert result.returncode == 1
    assert result.stderr.strip() == "config error: server.threads: expected a whole number, got 'lots'"


def test_site_names_this_controller(tmp_path):
    from services.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text("")
    assert load_config(path, environ={}).site == "home"
    path.write_text("site: barn-2\n")
    assert load_config(path, environ={}).site == "barn-2"
    path.write_text("site: 'barn 2/x'\n")
    with pytest.raises(ConfigError, match="^site: 1-40 letters"):
        load_config(path, environ={})
