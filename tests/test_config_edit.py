"""services/config_edit.py: a change set validated whole by start-up's loader, written atomically after a
dated copy of the old file; a refused change leaves the file byte-identical and no file behind; the
shipped config.yaml keeps its comments and key order (ruamel.yaml round trip)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from services.config import load_config
from services.atomic_file import atomic_write
from services.config_edit import BACKUPS_KEPT, ConfigEditError, ConfigEditor
from services.config_keys import catalogue
from services.config_live import effective, pending_restart
from services.yaml_roundtrip import COMMENTS_KEPT

ROOT = Path(__file__).resolve().parents[1]
COMMENTED = ("# my fleet\n"
             "polling:\n"
             "  interval_sec: 15      # one round\n"
             "  timeout_sec: 5\n"
             "\n"
             "# the LAN\n"
             "network:\n"
             "  subnet: auto          # or a CIDR\n"
             "security:\n"
             "  api_token: \"abcdefghijklmnop-secret\"\n")


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def cfg_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(COMMENTED)
    os.chmod(path, 0o640)
    return path


def test_change_is_written_with_comments_order_and_a_dated_backup(cfg_file):
    editor = ConfigEditor(cfg_file, environ={})
    result = editor.apply({"polling.interval_sec": 30, "network.subnet": "192.168.1.0/24"})
    text = cfg_file.read_text()
    assert result.changed == ("network.subnet", "polling.interval_sec")
    assert result.config.polling.interval_sec == 30 and result.config.network.subnet == "192.168.1.0/24"
    assert load_config(cfg_file, environ={}).polling.interval_sec == 30  # what the next start reads
    assert COMMENTS_KEPT, "ruamel.yaml is in requirements.txt"
    for comment in ("# my fleet", "# one round", "# the LAN", "# or a CIDR"):
        assert comment in text
    assert text.index("polling:") < text.index("network:") < text.index("security:")  # order kept
    assert 'subnet: "192.168.1.0/24"' in text  # strings quoted: YAML 1.1 readers never see a bool or a time
    # The backup is the old file byte for byte, mode 0600 (it may hold secrets); the new file keeps its mode.
    backup = cfg_file.parent / result.backup
    assert backup.name.startswith("config.yaml.") and backup.name.endswith(".bak")
    assert backup.read_text() == COMMENTED and (backup.stat().st_mode & 0o777) == 0o600
    assert (cfg_file.stat().st_mode & 0o777) == 0o640
    assert _files(cfg_file.parent) == sorted(["config.yaml", backup.name])  # no temp file left


@pytest.mark.parametrize("changes, key, message", [
    ({"polling.interval_sec": 0}, "polling.interval_sec", "polling.interval_sec: must be at least 1, got 0.0"),
    ({"polling.interval_sec": "30"}, "polling.interval_sec", "polling.interval_sec: expected a number, got '30'"),
    ({"network.subnet": "192.168.1.0/33"}, "network.subnet", "network.subnet: not a CIDR network"),
    ({"polling.timeout_sec": 20}, "polling.timeout_sec", "must be below interval_sec"),
    ({"battery.source": "eg4"}, "battery.eg4.username", "battery.eg4.username: required when source is eg4"),
    # A good key with a bad one: the whole change set is refused.
    ({"polling.offline_after": 5, "storage.raw_retention_days": 0}, "storage.raw_retention_days", "must be > 0"),
    ({"server.port": 80}, "server.port", "not a setting this page edits"),
    ({"ems.token": "x" * 20}, "ems.token", "a secret"),
    ({"polling.interval_sec": [1]}, "polling.interval_sec", "expected a single value"),
    ({"site": "a\nb"}, "site", "control characters"),
    ({"alerts.quiet_hours": "25:00-07:00"}, "alerts.quiet_hours", "alerts.quiet_hours: "),
])
def test_a_bad_value_writes_nothing(cfg_file, changes, key, message):
    before = cfg_file.read_bytes()
    editor = ConfigEditor(cfg_file, environ={})
    with pytest.raises(ConfigEditError) as err:
        editor.apply(changes)
    assert err.value.key == key and message in str(err.value)
    assert "\n" not in str(err.value)  # one line, as at start-up
    assert cfg_file.read_bytes() == before
    assert _files(cfg_file.parent) == ["config.yaml"]  # no backup, no temp file


def test_the_same_message_as_start_up(cfg_file, capsys):
    """The refusal is the line `python -m services.config` prints for the same file."""
    from services.config import main

    editor = ConfigEditor(cfg_file, environ={})
    with pytest.raises(ConfigEditError) as err:
        editor.apply({"storage.rollup_retention_days": 1, "storage.raw_retention_days": 2})
    bad = cfg_file.parent / "by-hand.yaml"
    bad.write_text(COMMENTED + "storage:\n  raw_retention_days: 2\n  rollup_retention_days: 1\n")
    assert main([str(bad)]) == 1
    assert capsys.readouterr().err.strip() == f"config error: {err.value}"


def test_environment_overrides_are_refused_by_name(cfg_file):
    editor = ConfigEditor(cfg_file, environ={"SUBNET": "10.0.0.0/24"})
    with pytest.raises(ConfigEditError) as err:
        editor.apply({"network.subnet": "192.168.1.0/24"})
    assert err.value.status == 409 and "SUBNET" in str(err.value) and err.value.key == "network.subnet"
    assert cfg_file.read_text() == COMMENTED


def test_null_resets_to_the_default_and_optional_keys_to_unset(cfg_file):
    editor = ConfigEditor(cfg_file, environ={})
    editor.apply({"polling.interval_sec": 40, "autocontrol.latitude": 36.07, "autocontrol.longitude": -79.79})
    result = editor.apply({"polling.interval_sec": None, "autocontrol.latitude": None, "autocontrol.longitude": None})
    assert result.config.polling.interval_sec == 15 and result.config.autocontrol.latitude is None
    assert "latitude: null" in cfg_file.read_text()


def test_backups_are_dated_kept_to_the_limit_and_listed_newest_first(cfg_file):
    editor = ConfigEditor(cfg_file, environ={}, keep=3)
    for interval in (20, 21, 22, 23, 24):
        editor.apply({"polling.interval_sec": interval})
    listed = editor.backups()
    assert len(listed) == 3 and BACKUPS_KEPT == 10
    # Newest first: the last copy holds 23 (the value before the last change), the oldest kept 21.
    assert "interval_sec: 23" in (cfg_file.parent / listed[0].name).read_text()
    assert "interval_sec: 21" in (cfg_file.parent / listed[-1].name).read_text()
    assert all(b.created.endswith("Z") and "T" in b.created for b in listed)
    assert len([n for n in _files(cfg_file.parent) if n.endswith(".bak")]) == 3


def test_a_missing_file_is_created_without_a_backup(tmp_path):
    path = tmp_path / "config.yaml"
    result = ConfigEditor(path, environ={}).apply({"site": "barn-2"})
    assert result.backup is None and load_config(path, environ={}).site == "barn-2"
    assert (path.stat().st_mode & 0o777) == 0o600


def test_a_crash_before_the_rename_leaves_the_old_file(cfg_file, monkeypatch):
    """os.replace is the only step that touches the file: if it fails, the old one stands and no temp is left."""
    editor = ConfigEditor(cfg_file, environ={})

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ConfigEditError) as err:
        editor.apply({"polling.interval_sec": 30})
    monkeypatch.undo()
    assert err.value.status == 409 and "No space left" in str(err.value)
    assert cfg_file.read_text() == COMMENTED
    assert not [n for n in _files(cfg_file.parent) if n.endswith(".tmp")]


def test_atomic_write_replaces_in_one_rename(tmp_path):
    target = tmp_path / "secret"
    target.write_text("old")
    atomic_write(target, b"new\n", 0o600)
    assert target.read_text() == "new\n" and (target.stat().st_mode & 0o777) == 0o600
    assert _files(tmp_path) == ["secret"]


def test_the_shipped_config_round_trips_byte_for_byte(tmp_path):
    """The repository's config.yaml (comments, flow mappings, nulls): an edit changes only its line."""
    path = tmp_path / "config.yaml"
    shutil.copy(ROOT / "config.yaml", path)
    original = path.read_text().splitlines()
    ConfigEditor(path, environ={}).apply({"polling.interval_sec": 20})
    edited = path.read_text().splitlines()
    assert len(edited) == len(original)
    diff = [(a, b) for a, b in zip(original, edited) if a != b]
    assert len(diff) == 1 and "interval_sec: 20" in diff[0][1] and "# one poll round" in diff[0][1]
    assert yaml.safe_load(path.read_text())["battery"]["http"]["fields"] == \
        yaml.safe_load((ROOT / "config.yaml").read_text())["battery"]["http"]["fields"]


def test_live_and_restart_keys(cfg_file):
    running = load_config(cfg_file, environ={})
    saved = ConfigEditor(cfg_file, environ={}).apply(
        {"polling.interval_sec": 30, "polling.timeout_sec": 3, "site": "shed", "autocontrol.emergency_soc": 25}).config
    now = effective(running, saved)
    assert now.polling.interval_sec == 30 and now.autocontrol.emergency_soc == 25  # live
    assert now.polling.timeout_sec == 5 and now.site == "home"  # restart: as started
    assert pending_restart(now, saved) == ["polling.timeout_sec", "site"]
    keys = catalogue()
    assert keys["polling.interval_sec"].live and keys["battery.source"].live and not keys["polling.timeout_sec"].live
    assert keys["alerts.quiet_hours"].live and keys["alerts.quiet_hours"].optional
    assert "alerts.urls" not in keys  # a list with channel tokens: the file only
    assert keys["battery.eg4.password"].secret and keys["ems.token"].secret and not keys["site"].secret
