"""Per-miner settings columns: a file made before them gains them; records and to_dict show them."""

from __future__ import annotations

import sqlite3

from database import migrate as mig
from database import queries
from database.db import Database

_NEW = [name for name, _ in mig.MINER_COLUMNS]


def _file_without_settings(path) -> None:
    """A layout-3 file as the app wrote it before the settings columns, with a config and a manual miner."""
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE miners")
    conn.execute("""CREATE TABLE miners (id INTEGER PRIMARY KEY AUTOINCREMENT, ip TEXT NOT NULL UNIQUE,
                    port INTEGER, family TEXT NOT NULL, model TEXT, name TEXT,
                    algorithm TEXT NOT NULL DEFAULT 'sha256d', credentials TEXT,
                    source TEXT NOT NULL DEFAULT 'manual', added_ts REAL NOT NULL, last_seen_ts REAL)""")
    conn.execute("INSERT INTO miners (ip, family, name, source, added_ts) VALUES ('10.0.0.1', 'fake', 'from yaml', "
                 "'config', 1)")
    conn.execute("INSERT INTO miners (ip, family, name, source, added_ts) VALUES ('10.0.0.2', 'fake', 'typed in', "
                 "'manual', 1)")
    conn.commit()
    conn.close()


def test_an_older_file_gains_the_columns_once_and_config_names_stop_being_copies(tmp_path):
    path = tmp_path / "fleet.db"
    _file_without_settings(path)
    db = Database(path)
    try:
        with db.read() as conn:
            rows = {r["ip"]: r for r in queries.list_miners(conn)}
        assert set(_NEW) <= set(rows["10.0.0.1"].keys())
        assert rows["10.0.0.1"]["enabled"] == 1 and rows["10.0.0.1"]["tags"] is None
        # The YAML's name was copied in at every start; it applies from config.yaml from now on.
        assert rows["10.0.0.1"]["name"] is None
        assert rows["10.0.0.2"]["name"] == "typed in"
        with db.write() as conn:
            queries.update_settings(conn, "10.0.0.1", {"name": "mine", "tags": ("a", "b"), "enabled": False})
    finally:
        db.close()
    db = Database(path)  # re-opened: nothing added or cleared twice
    try:
        with db.read() as conn:
            row = queries.get_miner(conn, "10.0.0.1")
        assert (row["name"], row["tags"], row["enabled"]) == ("mine", '["a", "b"]', 0)
    finally:
        db.close()


def test_update_settings_refuses_a_column_that_is_not_a_setting(tmp_path):
    db = Database(tmp_path / "fleet.db")
    try:
        with db.write() as conn:
            queries.upsert_miner(conn, ip="10.0.0.1", family="fake", port=None, model=None, algorithm="sha256d",
                                 source="manual")
            try:
                queries.update_settings(conn, "10.0.0.1", {"credentials": "x"})
            except ValueError as exc:
                assert "credentials" in str(exc)
            else:
                raise AssertionError("credentials written through update_settings")
    finally:
        db.close()


def test_the_miner_list_shows_the_settings_and_never_credentials(runtime):
    fleet = runtime.fleet
    fleet.add("10.0.0.1", "fake", credentials={"username": "root", "password": "s3cret-pw"})
    with runtime.db.write() as conn:
        queries.update_settings(conn, "10.0.0.1", {"tags": ("rack 1",), "notes": "by the door", "max_w": 900.0,
                                                   "enabled": False})
    fleet._records.clear()
    fleet._load_from_db()
    data = fleet.miners_list()[0]
    assert data["tags"] == ["rack 1"] and data["notes"] == "by the door" and data["max_w"] == 900.0
    assert data["enabled"] is False and data["status"] == "disabled" and data["online"] is False
    assert data["set_here"] == ["max_w", "notes", "tags"]  # the config.yaml-settable fields stored here
    assert "s3cret-pw" not in repr(fleet.get("10.0.0.1").to_dict(detail=True))
