"""/api/rules through the real app: the contract's minimal form, CRUD, auth, 400/404/409 that change nothing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.conftest import BASE_CONFIG, TEST_PASSWORD, TEST_TOKEN

MINIMAL = {"name": "stop-when-dear", "when": {"price_above": 30}, "then": {"action": "sleep"}}
AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}


@pytest.fixture
def env(tmp_path):
    """(client, runtime) of an app whose config.yaml holds one rule."""
    from app import create_app
    from database.db import Database
    from services.config import load_config
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from tests.fakes import fake_factory, reset_fakes

    reset_fakes()
    path = tmp_path / "config.yaml"
    path.write_text(
        BASE_CONFIG +
        "rules:\n"
        "  - name: quiet nights\n"
        "    when: {time: {from: 22:00, to: 07:00}}\n"
        "    target: {miners: [127.0.0.2]}\n"
        "    then: {action: percent, value: 30}\n")
    config = load_config(path, environ={})
    db = Database(config.data_path / "fleet.db")
    runtime = Runtime(config, fleet=FleetManager(config, db, driver_factory=fake_factory), db=db)
    app = create_app(config=config, runtime=runtime, start_background=False, test_config={"TESTING": True})
    yield app.test_client(), runtime
    runtime.shutdown()


def _listed(client) -> list[dict]:
    reply = client.get("/api/rules")
    assert reply.status_code == 200
    return reply.get_json()["rules"]


def _events(runtime, kind: str) -> list[tuple[str, str]]:
    with runtime.db.read() as conn:
        rows = conn.execute("SELECT actor, message FROM events WHERE kind = ? ORDER BY id", (kind,)).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_the_contract_minimal_form_is_accepted_and_listed(env):
    client, runtime = env
    reply = client.post("/api/rules", json=MINIMAL, headers=AUTH)
    assert reply.status_code == 201, reply.get_json()
    body = reply.get_json()
    assert {k: body[k] for k in MINIMAL} == MINIMAL
    assert body["source"] == "api" and body["enabled"] is True and body["state"] == "armed"
    rules = _listed(client)
    assert [(r["name"], r["source"]) for r in rules] == [("quiet nights", "config"), ("stop-when-dear", "api")]
    assert rules[0]["when"] == {"time": {"from": "22:00", "to": "07:00"}}
    for item in rules:
        assert {"state", "last_fired", "fired_today", "guards"} <= set(item)
    assert _events(runtime, "rules") == [("token", "rule 'stop-when-dear' added: when price > 30 -> sleep")]


def test_the_contract_rule_fires_through_the_book(env):
    """What the control step will see while the rule fires: the fleet at 0 % decided by this rule."""
    from services.rules import RuleContext

    client, runtime = env
    client.post("/api/rules", json=MINIMAL, headers=AUTH)
    noon = datetime(2024, 6, 3, 12, tzinfo=timezone.utc)
    out = runtime.rules.evaluate(RuleContext(now=noon.timestamp(), local=noon, price=31.0, cheapest=None, soc=None,
                                             surplus_w=None, sun_up=None, miners={}))
    assert out.fleet is not None and out.fleet.percent == 0 and out.fleet.rule == "stop-when-dear"
    item = [r for r in _listed(client) if r["name"] == "stop-when-dear"][0]
    assert item["state"] == "firing" and item["fired_today"] == 1 and item["last_fired"] == noon.timestamp()
    assert ("rules", "stop-when-dear: fired: price 31 > 30 -> sleep (fleet)") in _events(runtime, "rule")


def test_put_get_delete(env):
    client, _ = env
    client.post("/api/rules", json=MINIMAL, headers=AUTH)
    reply = client.put("/api/rules/stop-when-dear", headers=AUTH,
                       json={"when": {"price_above": 35}, "until": {"price_below": 28},
                             "then": {"action": "percent", "value": 20}, "cooldown_min": 15})
    assert reply.status_code == 200, reply.get_json()
    got = client.get("/api/rules/stop-when-dear").get_json()
    assert got["until"] == {"price_below": 28} and got["guards"]["cooldown_min"] == 15
    assert client.get("/api/rules/nope").status_code == 404
    # A name with a space travels percent-encoded.
    assert client.get("/api/rules/quiet%20nights").get_json()["source"] == "config"
    reply = client.delete("/api/rules/stop-when-dear", headers=AUTH)
    assert reply.status_code == 200 and reply.get_json() == {"deleted": "stop-when-dear"}
    assert [r["name"] for r in _listed(client)] == ["quiet nights"]
    assert client.delete("/api/rules/stop-when-dear", headers=AUTH).status_code == 404


def test_config_rules_are_read_only_409(env):
    client, _ = env
    for reply in (client.put("/api/rules/quiet%20nights", json=MINIMAL, headers=AUTH),
                  client.delete("/api/rules/quiet%20nights", headers=AUTH)):
        assert reply.status_code == 409 and "defined in config.yaml" in reply.get_json()["error"]
    reply = client.post("/api/rules", json={**MINIMAL, "name": "quiet nights"}, headers=AUTH)
    assert reply.status_code == 409 and "config.yaml" in reply.get_json()["error"]
    assert [r["name"] for r in _listed(client)] == ["quiet nights"]


def test_duplicate_name_is_409_and_changes_nothing(env):
    client, _ = env
    client.post("/api/rules", json=MINIMAL, headers=AUTH)
    before = _listed(client)
    reply = client.post("/api/rules", json={**MINIMAL, "then": {"action": "wake"}}, headers=AUTH)
    assert reply.status_code == 409 and "already exists" in reply.get_json()["error"]
    assert _listed(client) == before


@pytest.mark.parametrize("body, fragment", [
    ({**MINIMAL, "when": {"price_abov": 30}}, "when.price_abov: unknown trigger (known: time, price_above"),
    ({**MINIMAL, "then": {"action": "percent", "value": 101}}, "then.value: must be 0 to 100"),
    ({**MINIMAL, "then": {"action": "restart"}, "cooldown_min": 2}, "cooldown_min: a restart rule needs at least 10"),
    ({**MINIMAL, "target": {"family": "no-such-family"}}, "target.family: unknown family"),
    ({**MINIMAL, "target": {"tag": ""}}, "target.tag: 1-32 characters"),
    ({"when": {"price_above": 30}, "then": {"action": "sleep"}}, "name: missing"),
    ({**MINIMAL, "name": "a/b"}, "name: must not contain '/'"),
    ({**MINIMAL, "extra": 1}, "extra: unknown key"),
])
def test_bad_rules_are_400_naming_the_field_and_change_nothing(env, body, fragment):
    client, runtime = env
    before = _listed(client)
    reply = client.post("/api/rules", json=body, headers=AUTH)
    assert reply.status_code == 400 and reply.get_json()["error"].startswith(fragment), reply.get_json()
    assert _listed(client) == before and _events(runtime, "rules") == []


def test_bad_put_is_400_and_keeps_the_rule(env):
    client, _ = env
    client.post("/api/rules", json=MINIMAL, headers=AUTH)
    before = _listed(client)
    reply = client.put("/api/rules/stop-when-dear", json={"when": {"soc_below": "low"}, "then": {"action": "sleep"}},
                       headers=AUTH)
    assert reply.status_code == 400 and reply.get_json()["error"].startswith("when.soc_below: expected a number")
    assert _listed(client) == before
    assert client.put("/api/rules/nope", json=MINIMAL, headers=AUTH).status_code == 404


@pytest.mark.parametrize("data, content_type", [
    (b"not json", "application/json"), (b"[]", "application/json"), (b'{"name": 1', "application/json"),
    (b'{"name": "x"}', "text/plain"), (b"", "application/json"),
])
def test_malformed_bodies_are_4xx_with_a_reason(env, data, content_type):
    client, _ = env
    before = _listed(client)
    reply = client.post("/api/rules", data=data, content_type=content_type, headers=AUTH)
    assert 400 <= reply.status_code < 500 and reply.get_json()["error"]
    assert _listed(client) == before


def test_writes_need_credentials_and_reads_follow_the_read_setting(env):
    client, _ = env
    assert client.post("/api/rules", json=MINIMAL).status_code == 401
    assert client.post("/api/rules", json=MINIMAL, headers={"Authorization": "Bearer wrong-token-1234567"}
                       ).status_code == 401
    assert client.delete("/api/rules/quiet%20nights").status_code == 401
    assert client.put("/api/rules/quiet%20nights", json=MINIMAL).status_code == 401
    assert client.get("/api/rules").status_code == 200  # reads_require_login is off
    # A logged-in dashboard session from another origin may not write.
    client.post("/login", json={"password": TEST_PASSWORD}, headers={"Origin": "http://localhost"})
    reply = client.post("/api/rules", json=MINIMAL, headers={"Origin": "http://evil.example"})
    assert reply.status_code == 403
    reply = client.post("/api/rules", json=MINIMAL, headers={"Origin": "http://localhost"})
    assert reply.status_code == 201
    assert reply.get_json()["name"] == "stop-when-dear"


def test_rules_survive_an_app_restart(env):
    from services.autocontrol import DbStore
    from services.rules import RuleBook

    client, runtime = env
    client.post("/api/rules", json=MINIMAL, headers=AUTH)
    again = RuleBook(runtime.config.rules, DbStore(runtime.db))
    assert [r.name for r in again.rules()] == ["quiet nights", "stop-when-dear"]
