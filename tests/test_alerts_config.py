"""The alerts section of config.yaml: defaults, one-line errors naming the key, ALERT_URLS."""

from __future__ import annotations

import pytest

from services.config import ConfigError, load_config


def _load(tmp_path, text, environ=None):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, environ=environ or {})


def test_defaults(tmp_path):
    cfg = _load(tmp_path, "").alerts
    assert (cfg.urls, cfg.offline_after_min, cfg.quiet_hours) == ((), 5, None)


@pytest.mark.parametrize("text, message", [
    ("alerts:\n  quiet_hours: 22-7\n", "alerts.quiet_hours: not a time range"),
    ("alerts:\n  offline_after_min: -1\n", "alerts.offline_after_min: must be 0-1440"),
    ("alerts:\n  disabled: [fan_broken]\n", "alerts.disabled[0]: unknown alert kind 'fan_broken'"),
    ("alerts:\n  urls: ['nope://x']\n", "alerts.urls[0]:"),
    ("alerts:\n  urls: ['tgram://${NO_SUCH_TOKEN_VAR}/1']\n", "NO_SUCH_TOKEN_VAR"),
    ("alerts:\n  digest_at: 1\n", "alerts.digest_at: must be 2 or more"),
    ("alerts:\n  dashboard_url: pi:5000\n", "alerts.dashboard_url: must start with http"),
    ("alerts:\n  loud: true\n", "alerts.loud: unknown key"),
])
def test_errors_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert message in str(err.value)


def test_alert_urls_from_the_environment(tmp_path):
    cfg = _load(tmp_path, "alerts:\n  urls: ['json://127.84.10.1/']\n",
                {"ALERT_URLS": "json://127.84.10.2/  json://127.84.10.3/"}).alerts
    assert cfg.urls == ("json://127.84.10.2/", "json://127.84.10.3/")
    assert cfg.quiet_minutes() is None
    assert _load(tmp_path, "alerts:\n  quiet_hours: '22:00-07:00'\n").alerts.quiet_minutes() == (1320, 420)
