"""Malformed request bodies for every JSON write route (shared by tests/test_bad_bodies.py and bench/fuzz_bodies.py).

Routes are enumerated from the app's url_map, so a new write route is covered
as soon as it exists: ``SPECS`` must name its valid bodies (the fields each one
reads are mutated one at a time) or list it in ``IGNORES_BODY``, or the test
fails and says so.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml

from database import queries
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

EMS_TOKEN = "ems-token-0123456789abcdef"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
FAKE_IP, POWER_IP = "10.0.0.1", "10.0.0.2"  # a "fake" (restart, pools) and a "fakepower" (watts, sleep, wake)

# Routes documented to ignore their body: they may answer 2xx to any body, but never 500.
IGNORES_BODY = {
    ("POST", "/logout"),  # ends the session whatever is sent
    ("POST", "/api/deactivate"),  # docs/EMS.md: "the body is ignored"
    ("POST", "/api/ems/release"),  # the dashboard posts {}; nothing is read
}


@dataclass(frozen=True)
class Spec:
    """How to call one write route: the IP for <ip>, its valid bodies (none = takes no body), auth."""

    valid: tuple[dict, ...] = ()
    ip: str = POWER_IP
    auth: str = "token"  # token | ems | none (login)
    empty_ok: bool = False  # an empty body is a valid request (defaults apply)


def _until() -> float:
    return round(time.time() + 3600)


SPECS: dict[tuple[str, str], Spec] = {
    ("POST", "/api/miners"): Spec(({"ip": "10.0.0.9", "family": "fake", "port": 4028,
                                    "username": "root", "password": "pw"},)),
    ("DELETE", "/api/miners/<ip>"): Spec(empty_ok=True),
    ("PATCH", "/api/miners/<ip>"): Spec(({"name": "rig 1", "tags": ["shed", "solar"], "enabled": False,
                                          "notes": "by the door", "location": "shed", "nominal_w": 30, "min_w": 10,
                                          "max_w": 40, "max_temp_c": 80, "autocontrol": False},)),
    ("POST", "/api/miners/<ip>/restart"): Spec(ip=FAKE_IP, empty_ok=True),
    ("POST", "/api/miners/<ip>/reboot"): Spec(ip=FAKE_IP, empty_ok=True),
    ("POST", "/api/miners/<ip>/sleep"): Spec(empty_ok=True),
    ("POST", "/api/miners/<ip>/wake"): Spec(empty_ok=True),
    ("POST", "/api/miners/<ip>/autodownscale"): Spec(({"enabled": True, "step_mhz": 10, "min_mhz": 500,
                                                       "timer": 5, "after": 60, "prec": 10},)),
    ("POST", "/api/miners/<ip>/power"): Spec(({"watts": 20},), ),
    ("POST", "/api/miners/<ip>/mode"): Spec(({"mode": "eco"},)),
    ("POST", "/api/miners/<ip>/frequency"): Spec(({"mhz": 500, "voltage_mv": 1200, "board": 0},)),
    ("POST", "/api/miners/<ip>/fan"): Spec(({"percent": 50},)),
    ("POST", "/api/miners/<ip>/thermal"): Spec(({"target_c": 70},)),  # web/miner_tuning.py
    ("POST", "/api/miners/<ip>/pools"): Spec(({"pools": [{"url": "stratum+tcp://pool.example:3333",
                                                          "user": "worker.1", "password": "x"}]},), ip=FAKE_IP),
    ("PUT", "/api/miners/<ip>/credentials"): Spec(({"username": "root", "password": "secret"},)),
    ("DELETE", "/api/miners/<ip>/credentials"): Spec(empty_ok=True),
    ("POST", "/api/discover"): Spec(({"subnet": "10.0.0.0/30"},), empty_ok=True),
    ("POST", "/api/autocontrol"): Spec(({"enabled": True, "policy": "surplus",
                                         "override": {"percent": 50, "minutes": 30, "miner": FAKE_IP}},
                                        {"override": {"percent": 40, "until": "UNTIL"}},
                                        {"override": {"clear": True, "miner": POWER_IP}})),
    ("POST", "/login"): Spec(({"password": TEST_PASSWORD},), auth="none"),
    ("POST", "/api/activate"): Spec(({"activationPowerInKw": 0.03},), auth="ems"),
    ("POST", "/api/deactivate"): Spec(auth="ems", empty_ok=True),
    ("POST", "/api/ems/release"): Spec(empty_ok=True),
    ("POST", "/logout"): Spec(auth="none", empty_ok=True),
    # Rules (web/rules.py): <name> is RULE_NAME, an API rule build() adds.
    ("POST", "/api/rules"): Spec(({"name": "bb-new", "enabled": True,
                                   "when": {"price_above": 30, "time": {"from": "22:00", "to": "07:00", "days": ["mon"]}},
                                   "until": {"price_below": 25}, "target": {"miners": [POWER_IP]},
                                   "then": {"action": "percent", "value": 40},
                                   "for_min": 5, "cooldown_min": 10, "max_per_day": 3},
                                  {"name": "bb-min", "when": {"price_above": 30}, "then": {"action": "sleep"}})),
    ("PUT", "/api/rules/<name>"): Spec(({"when": {"price_below": 5}, "then": {"action": "notify", "message": "cheap"}},)),
    ("DELETE", "/api/rules/<name>"): Spec(empty_ok=True),
    # Alerts (web/alerts.py): <alert_id> is the problem build() raises; test answers 409 (no alerts.urls).
    ("POST", "/api/alerts/<alert_id>/ack"): Spec(empty_ok=True),
    ("POST", "/api/alerts/ack-all"): Spec(empty_ok=True),
    ("POST", "/api/alerts/mute"): Spec(({"kind": "miner_offline", "minutes": 60},)),
    ("POST", "/api/alerts/test"): Spec(empty_ok=True),
    ("POST", "/api/integrations/mqtt/republish"): Spec(empty_ok=True),  # 409: MQTT is off here
    # Pool library and bulk actions (web/pool_sets.py, web/bulk.py): <int:set_id> is the set build() stores.
    ("POST", "/api/pool-sets"): Spec(({"name": "bb-new", "pools": [{"url": "stratum+tcp://pool.example:3333",
                                                                   "user": "worker.1", "password": "pw"}]},)),
    ("PUT", "/api/pool-sets/<int:set_id>"): Spec(({"name": "bb-renamed", "pools": [
        {"url": "stratum2+tcp://v2.example:3336/9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh",
         "user": "worker.2", "password": "pw2"}]},)),
    ("DELETE", "/api/pool-sets/<int:set_id>"): Spec(empty_ok=True),
    ("POST", "/api/pool-sets/<int:set_id>/apply"): Spec(({"miners": [FAKE_IP]},)),
    ("POST", "/api/miners/bulk"): Spec(({"action": "restart", "miners": [FAKE_IP]},
                                        {"action": "power_percent", "tag": "bb-tag", "value": 50})),
    # Settings (web/settings_api.py): config.yaml and the secret files are in snapshot().
    ("PATCH", "/api/settings"): Spec(({"polling.interval_sec": 3, "network.subnet": "10.0.0.0/29",
                                       "battery.eg4.password": "portal-pw", "autocontrol.overheat_c": None},)),
    ("POST", "/api/settings/password"): Spec(({"current": TEST_PASSWORD, "new": "a-new-password-1"},)),
    ("POST", "/api/settings/api-token"): Spec(empty_ok=True),
    ("POST", "/api/settings/ems-token"): Spec(({"clear": True},), empty_ok=True),
    # Backup and restore (web/backup.py): the archive is a binary body (RAW_BODY); undo here answers 409 (none).
    ("POST", "/api/restore"): Spec(),
    ("POST", "/api/restore/undo"): Spec(empty_ok=True),
    ("POST", "/api/backup/schedule/run"): Spec(empty_ok=True),  # web/backup_schedule_api.py: 409 here (backup.dir empty)
    # Alert channels (web/alert_channels_api.py): <channel_id> is BB_CHANNEL, written to config.yaml after start,
    # so it can be removed, and its test answers 409 (not running: /api/alerts/test stays 409 too).
    ("POST", "/api/settings/alert-channels"): Spec(({"url": "json://127.86.12.9:9/bb-new"},)),
    ("DELETE", "/api/settings/alert-channels/<channel_id>"): Spec(empty_ok=True),
    ("POST", "/api/settings/alert-channels/<channel_id>/test"): Spec(empty_ok=True),
}
# Routes whose body is not JSON: every case below must still be refused with a reason and change nothing,
# but no JSON body is valid for them; their valid requests are in their own tests.
RAW_BODY = {
    ("POST", "/api/restore"): "a .tar.gz backup archive (tests/test_backup.py)",
}
RULE_NAME = "bb-rule"
BB_CHANNEL = "json://127.86.12.9:9/bb"  # never dialled (127.86.12.x: docs/contracts.md)
POOL_SET_ID = 1
ALERT_ID = "a1"

HUGE_INT = "1" + "0" * 400
NESTED_ARRAYS = "[" * 2000 + "]" * 2000
NESTED_OBJECTS = '{"a":' * 2000 + "1" + "}" * 2000
# Values that no field accepts (raw JSON text, spliced in so NaN, 1e309 and lone surrogates survive).
BAD_VALUES = {
    "401-digit integer": HUGE_INT,
    "negative 401-digit integer": "-" + HUGE_INT,
    "1e309": "1e309",
    "-1e309": "-1e309",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "lone surrogate": '"\\ud800"',
    "lone surrogate in text": '"ab\\udfffcd"',
    "nested 2000 deep": NESTED_ARRAYS,
    "array": "[1, 2]",
    "object": '{"x": 1}',
    "wrong type": '"not-a-value-\\u0000"',
    "huge string": json.dumps("x" * 70_000),
}


@dataclass
class Case:
    """One request: a label, raw body bytes and a content type."""

    label: str
    body: bytes
    content_type: str = "application/json"
    extra: dict = field(default_factory=dict)


def _splice(body: Any, path: tuple, raw: str) -> str:
    """``body`` as JSON text with the value at ``path`` replaced by the raw JSON text ``raw``."""
    marker = "\u0001MARK\u0001"
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = marker
    return json.dumps(copy).replace(json.dumps(marker), raw)


def leaf_paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path to a leaf (a non-container) of a JSON value."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
    if items is None:
        yield prefix
        return
    for key, child in items:
        yield from leaf_paths(child, (*prefix, key))


def resolve(body: dict) -> dict:
    """A valid body with its placeholders filled in (an override's until an hour from now)."""
    return json.loads(json.dumps(body).replace('"UNTIL"', str(_until())))


def cases(spec: Spec) -> list[Case]:
    """Every bad body for one route: the generic ones, then each field of each valid body made bad."""
    out = [
        Case("nested arrays 2000 deep", NESTED_ARRAYS.encode()),
        Case("nested objects 2000 deep", NESTED_OBJECTS.encode()),
        Case("1 MB body", b'{"x": "' + b"a" * 1_000_000 + b'"}'),
        Case("not JSON", b"this is not json"),
        Case("truncated JSON", b'{"a": '),
        Case("JSON array", b"[]"),
        Case("JSON array of an object", b"[{}]"),
        Case("JSON number", b"42"),
        Case("JSON string", b'"text"'),
        Case("JSON null", b"null"),
        Case("JSON true", b"true"),
        Case("invalid UTF-8", b'{"a": "\xff\xfe"}'),
        Case("UTF-8 BOM", b"\xef\xbb\xbf{}"),
        Case("lone surrogate key", b'{"\\ud800": 1}'),
        Case("NaN at top", b"NaN"),
        Case("huge integer at top", HUGE_INT.encode()),
        Case("JSON as text/plain", b'{"a": 1}', "text/plain"),
        Case("form body", b"a=1&b=2", "application/x-www-form-urlencoded"),
        Case("unknown field", b'{"no_such_field_xyz": 1}'),
        Case("nested value 2000 deep", ('{"a": ' + NESTED_ARRAYS + "}").encode()),
    ]
    if not spec.empty_ok:
        out.append(Case("empty body", b""))
        out.append(Case("empty object", b"{}"))
    for n, valid in enumerate(spec.valid):
        body = resolve(valid)
        first = next(iter(body))
        out.append(Case(f"body {n} duplicate key {first}",
                        json.dumps(body)[:-1].encode() + f', "{first}": {json.dumps(body[first])}}}'.encode()))
        for path in leaf_paths(body):
            name = ".".join(str(p) for p in path)
            for label, raw in BAD_VALUES.items():
                out.append(Case(f"body {n} {name} = {label}", _splice(body, path, raw).encode()))
    return out


def build(tmp_path):
    """(app, runtime, discovery calls) with fake miners, an EMS token, and no network: detect and scans stubbed."""
    import miners.detect
    from app import create_app
    from database.db import Database
    from services.config import load_config
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from tests.fakes import fake_factory, reset_fakes

    reset_fakes()
    data = {"server": {"data_dir": "data"},
            "polling": {"interval_sec": 2, "timeout_sec": 0.5, "offline_after": 2, "workers": 8},
            "security": {"api_token": TEST_TOKEN, "admin_password": TEST_PASSWORD},
            "battery": {"source": "none"}, "ems": {"token": EMS_TOKEN},
            "network": {"subnet": "10.0.0.0/30"}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, environ={})
    db = Database(config.data_path / "fleet.db")
    runtime = Runtime(config, fleet=FleetManager(config, db, driver_factory=fake_factory), db=db)
    runtime.fleet.add(FAKE_IP, "fake")
    runtime.fleet.add(POWER_IP, "fakepower", credentials={"username": "admin", "password": "old"})
    runtime.fleet.poll_round()
    # A stored per-miner override, so clearing one is a change and a refused body must keep it.
    runtime.autocontrol.command({"override": {"percent": 30, "minutes": 60, "miner": POWER_IP}}, by="test")
    runtime.rules.add({"name": RULE_NAME, "when": {"price_above": 30}, "then": {"action": "sleep"}}, by="test")
    from services.pool_sets import PoolSets

    assert PoolSets(db).create("bb-set", [{"url": "stratum+tcp://pool.example:3333", "user": "w"}]).id == POOL_SET_ID
    runtime.fleet.get(POWER_IP).tags, runtime.fleet.get(POWER_IP).nominal_w = ("bb-tag",), 40.0
    from services.alerts.book import Condition

    [problem] = runtime.alerts.book.observe(time.time(), [Condition("disk_full", "", "95 % used")], set()).raised
    assert problem.id == ALERT_ID
    scans: list[str] = []

    def no_scan(job, hosts):  # never touch the network: record the scan and finish it
        scans.append(job.subnet)
        job.state = "done"

    runtime.discovery._run = no_scan
    miners.detect.detect = lambda *args, **kwargs: None  # POST /api/miners without a family probes nothing
    app = create_app(config=config, runtime=runtime, start_background=False, test_config={"TESTING": True})
    path.write_text(yaml.safe_dump({**data, "alerts": {"urls": [BB_CHANNEL]}}))  # saved, not running
    return app, runtime, scans


def write_rules(app) -> list[tuple[str, str]]:
    """(method, rule) of every write route the app serves, sorted."""
    found = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods or ():
            if method in WRITE_METHODS:
                found.add((method, rule.rule))
    return sorted(found)


def headers_for(spec: Spec) -> dict[str, str]:
    """The credentials a route wants (and a same-origin Origin, which login checks when present)."""
    if spec.auth == "ems":
        return {"Authorization": f"Bearer {EMS_TOKEN}"}
    if spec.auth == "none":
        return {"Origin": "http://localhost"}
    return {"Authorization": f"Bearer {TEST_TOKEN}"}


def send(client, method: str, rule: str, spec: Spec, case: Case):
    """Send one case to one route."""
    path = rule.replace("<ip>", spec.ip).replace("<name>", RULE_NAME).replace("<alert_id>", ALERT_ID)
    path = path.replace("<int:set_id>", str(POOL_SET_ID))
    if "<channel_id>" in path:
        from services.alert_channels import channel_id

        path = path.replace("<channel_id>", channel_id(BB_CHANNEL, client.application.extensions["secrets"].secret_key.encode()))
    return client.open(path, method=method, data=case.body, content_type=case.content_type,
                       headers=headers_for(spec))


def snapshot(runtime, scans: list[str]) -> dict[str, Any]:
    """Everything a write could change: miners and their logins, driver calls, controller and EMS state, scans."""
    from tests.fakes import FakeDriver, FakePowerDriver

    with runtime.db.read() as conn:
        rows = [dict(r) for r in conn.execute("SELECT ip, family, port, credentials, "
                                              f"{', '.join(queries.SETTINGS_COLUMNS)} FROM miners ORDER BY ip")]
    ac = runtime.autocontrol
    return {"miners": rows, "restarts": list(FakeDriver.restarts), "pools": dict(FakeDriver.pools),
            "settings": list(FakePowerDriver.settings), "controller": ac.controller.state.to_json(),
            "ems": (ac.ems.state.mode, ac.ems.state.target_kw), "scans": list(scans),
            "rules": runtime.rules.list(), "alerts": runtime.alerts.book.to_json(),
            "pool_sets": _pool_sets(runtime), "files": _config_files(runtime)}


def _config_files(runtime) -> dict[str, str]:
    """config.yaml (and its dated copies) and the secret files in DATA_DIR: what the settings routes write."""
    from pathlib import Path

    folder = Path(runtime.config.source).parent
    paths = [*folder.glob("config.yaml*"), *(runtime.config.data_path / n for n in ("api_token", "admin_password.hash"))]
    return {str(p): p.read_text() for p in sorted(paths) if p.is_file()}


def _pool_sets(runtime) -> list[dict]:
    """The pool library's rows, passwords included (a refused body must not change one)."""
    with runtime.db.read() as conn:
        return [dict(r) for r in conn.execute("SELECT id, name, pools FROM pool_sets ORDER BY id")]


def reset_login_limit() -> None:
    """Forget failed logins, so the limiter's 429 does not hide what a body does to /login."""
    from web import auth

    failures = getattr(auth, "_FAILED_LOGINS", None)
    if isinstance(failures, dict):
        failures.clear()
