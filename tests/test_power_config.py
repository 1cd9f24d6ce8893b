"""The autocontrol config section: contract keys, defaults in code, errors naming the key."""

import pytest

from services.config import ConfigError, load_config

CONTRACT_KEYS = ("enabled", "policy", "tick_sec", "min_interval_sec", "emergency_soc", "full_soc", "sunset_min_soc",
                 "sunset_hour", "sunset_minute", "sunrise_hour", "sunrise_minute", "latitude", "longitude",
                 "stale_after_sec")


def load_text(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path, environ={})


def test_defaults(tmp_path):
    a = load_text(tmp_path, "").autocontrol
    assert (a.enabled, a.policy, a.tick_sec, a.min_interval_sec) == (False, "ratchet", 30, 120)
    assert (a.emergency_soc, a.full_soc, a.sunset_min_soc, a.stale_after_sec) == (30, 100, 60, 600)
    assert (a.sunset_hour, a.sunset_minute, a.sunrise_hour, a.sunrise_minute) == (19, 0, 7, 0)
    assert (a.latitude, a.longitude, a.failsafe) == (None, None, "lowest_then_off")


def test_a_file_with_only_the_contract_keys_is_valid(tmp_path):
    text = "autocontrol:\n" + "".join(f"  {k}: {v}\n" for k, v in {
        "enabled": "true", "policy": "surplus", "tick_sec": 30, "min_interval_sec": 120, "emergency_soc": 25,
        "full_soc": 98, "sunset_min_soc": 65, "sunset_hour": 18, "sunset_minute": 30, "sunrise_hour": 6,
        "sunrise_minute": 45, "latitude": 36.07, "longitude": -79.79, "stale_after_sec": 300}.items())
    a = load_text(tmp_path, text).autocontrol
    assert all(hasattr(a, k) for k in CONTRACT_KEYS)
    assert (a.policy, a.full_soc, a.latitude, a.longitude, a.sunset_minute) == ("surplus", 98, 36.07, -79.79, 30)


def test_null_latitude_means_fixed_times(tmp_path):
    a = load_text(tmp_path, "autocontrol:\n  latitude: null\n  longitude: null\n").autocontrol
    assert a.latitude is None and a.longitude is None


@pytest.mark.parametrize("body,key", [
    ("emergency_soc: 60", "autocontrol.emergency_soc"),          # must be below sunset_min_soc
    ("sunset_min_soc: 100\n  full_soc: 90", "autocontrol.sunset_min_soc"),
    ("full_soc: 101\n  sunset_min_soc: 60", "autocontrol.full_soc"),
    ("policy: greedy", "autocontrol.policy"),
    ("latitude: 36.0", "autocontrol.latitude"),                   # needs longitude too
    ("latitude: 91\n  longitude: 0", "autocontrol.latitude"),
    ("latitude: 0\n  longitude: 181", "autocontrol.longitude"),
    ("sunset_hour: 24", "autocontrol.sunset_hour"),
    ("sunrise_minute: 60", "autocontrol.sunrise_minute"),
    ("stale_after_sec: 5", "autocontrol.stale_after_sec"),
    ("tick_sec: 1", "autocontrol.tick_sec"),
    ("failsafe: panic", "autocontrol.failsafe"),
    ("latitude: north\n  longitude: 0", "autocontrol.latitude"),
    ("enabled: 1", "autocontrol.enabled"),
    ("surplus:\n    priority_soc: 95", "autocontrol.surplus.buffer_soc"),
    ("surplus:\n    hysteresis_percent: 25", "autocontrol.surplus.hysteresis_percent"),
    ("surplus:\n    step: 5", "autocontrol.surplus.step"),        # unknown key
    ("surplus:\n    enable_delay_sec: -1", "autocontrol.surplus.enable_delay_sec"),
])
def test_errors_name_the_key(tmp_path, body, key):
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, f"autocontrol:\n  {body}\n")
    assert str(err.value).startswith(key + ":"), str(err.value)
