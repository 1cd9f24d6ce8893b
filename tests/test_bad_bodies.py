"""Every JSON write route, enumerated from the app, against malformed bodies: a 4xx with a JSON reason, nothing changed.

The cases (tests/bad_bodies.py): nesting 2,000 deep, a 1 MB body, a 401-digit
integer, 1e309, NaN and Infinity, lone surrogates and wrong types in every field
a route reads, non-JSON, an empty body, an array where an object belongs.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from tests import bad_bodies as bb
from tests.conftest import TEST_PASSWORD, TEST_TOKEN

REFUSED = {400, 404, 413, 422}  # a bad value, an unknown miner, too large, nothing detected


@pytest.fixture(autouse=True)
def _real_detect_afterwards(monkeypatch):
    """bad_bodies.build stubs miners.detect.detect (no probing); monkeypatch puts the real one back after each test."""
    import miners.detect

    monkeypatch.setattr(miners.detect, "detect", miners.detect.detect)


@pytest.fixture
def env(tmp_path):
    """(app, client, runtime, scans) with fake miners and no network."""
    app, runtime, scans = bb.build(tmp_path)
    yield app, app.test_client(), runtime, scans
    runtime.shutdown()


def _rules(tmp_path) -> list[tuple[str, str]]:
    app, runtime, _ = bb.build(tmp_path / "rules")
    try:
        return bb.write_rules(app)
    finally:
        runtime.shutdown()


def _state(client, runtime, scans) -> dict:
    state = bb.snapshot(runtime, scans)
    state["logged_in"] = client.get("/api/session").get_json()["logged_in"]
    return state


def _reason(reply) -> str | None:
    body = reply.get_json(silent=True)
    if not isinstance(body, dict):
        return None
    reason = body.get("error", body.get("message"))
    return reason if isinstance(reason, str) and reason else None


def test_every_write_route_is_described(tmp_path):
    """A new write route must say how it is called (SPECS), so the bad bodies reach it."""
    rules = set(_rules(tmp_path))
    assert len(rules) >= 20
    assert rules - set(bb.SPECS) == set(), "add the new route to tests/bad_bodies.py SPECS"
    assert set(bb.SPECS) - rules == set(), "SPECS names a route the app no longer has"
    assert bb.IGNORES_BODY <= rules


def test_each_valid_body_is_accepted_and_changes_something(tmp_path):
    """The mutated bodies below differ from these only in the bad field: so a refusal is the field's."""
    for method, rule in _rules(tmp_path):
        spec = bb.SPECS[(method, rule)]
        if (method, rule) in bb.RAW_BODY:
            continue  # not JSON: its valid requests are in its own tests (bb.RAW_BODY says where)
        for n, valid in enumerate(spec.valid or ({},)):
            app, runtime, scans = bb.build(tmp_path / f"{rule.replace('/', '_')}-{method}-{n}")
            client = app.test_client()
            try:
                before = _state(client, runtime, scans)
                reply = bb.send(client, method, rule, spec, bb.Case("valid", json.dumps(bb.resolve(valid)).encode()))
                # 409: the fake miner lacks that capability (checked after every value)
                assert reply.status_code in (200, 201, 202, 409), (method, rule, reply.status_code, reply.get_json())
                runtime.autocontrol.wait_kicked(10)  # activate commands in the background
                if reply.status_code != 409 and (method, rule) not in bb.IGNORES_BODY:
                    assert _state(client, runtime, scans) != before, (method, rule)
            finally:
                runtime.shutdown()


def test_bad_bodies_get_a_4xx_with_a_reason_and_change_nothing(tmp_path):
    problems: list[str] = []
    sent = 0
    for method, rule in _rules(tmp_path):
        spec = bb.SPECS[(method, rule)]
        app, runtime, scans = bb.build(tmp_path / f"{rule.replace('/', '_')}-{method}")
        client = app.test_client()
        try:
            for case in bb.cases(spec):
                bb.reset_login_limit()
                before = _state(client, runtime, scans)
                reply = bb.send(client, method, rule, spec, case)
                sent += 1
                where = f"{reply.status_code} {method} {rule} [{case.label}]"
                if reply.status_code >= 500:
                    problems.append(f"{where}: server error {reply.get_json(silent=True)}")
                if (method, rule) in bb.IGNORES_BODY:  # the body is not read: JSON, whatever the answer
                    if not isinstance(reply.get_json(silent=True), dict):
                        problems.append(f"{where}: not a JSON answer")
                    continue
                if _reason(reply) is None:
                    problems.append(f"{where}: no JSON reason")
                if reply.status_code not in REFUSED:
                    problems.append(f"{where}: not refused: {reply.get_json(silent=True)}")
                runtime.autocontrol.wait_kicked(10)
                if _state(client, runtime, scans) != before:
                    problems.append(f"{where}: state changed")
        finally:
            runtime.shutdown()
    assert sent > 800
    assert problems == [], "\n".join(problems[:40])


def test_override_of_an_unknown_miner_is_404_naming_it(env):
    _, client, runtime, _ = env
    before = runtime.autocontrol.controller.state.to_json()
    reply = client.post("/api/autocontrol", json={"override": {"percent": 50, "minutes": 10, "miner": "10.9.9.9"}},
                        headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    assert reply.status_code == 404 and "10.9.9.9" in reply.get_json()["error"]
    assert runtime.autocontrol.controller.state.to_json() == before


@pytest.mark.parametrize("override, fragment", [
    ('{"percent": 50, "until": 1e309}', "not finite"),
    ('{"percent": 50, "until": UNTIL_FAR}', "366 days"),
    ('{"percent": 50, "minutes": HUGE}', "too large"),
    ('{"percent": HUGE}', "too large"),
    ('{"percent": 50, "until": -HUGE}', "too large"),
    ('{"percent": 50, "minutes": 1e308}', "at most 10080"),
])
def test_override_numbers_are_bounded(env, override, fragment):
    _, client, runtime, _ = env
    body = ('{"override": ' + override + "}").replace("UNTIL_FAR", str(int(time.time()) + 400 * 86400))
    body = body.replace("HUGE", bb.HUGE_INT)
    before = runtime.autocontrol.controller.state.to_json()
    reply = client.post("/api/autocontrol", data=body, content_type="application/json",
                        headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    assert reply.status_code == 400 and fragment in reply.get_json()["error"], reply.get_json()
    assert runtime.autocontrol.controller.state.to_json() == before


def test_the_service_bounds_the_override_itself(env):
    """AutoControl.command is called with Python values too: no OverflowError, no endless or unknown override."""
    from services.fleet import UnknownMiner

    _, _, runtime, _ = env
    ac = runtime.autocontrol
    before = ac.controller.state.to_json()
    for override in ({"percent": 10 ** 400}, {"percent": 50, "minutes": 10 ** 400}, {"percent": 50, "until": 10 ** 400},
                     {"percent": 50, "until": float("inf")}, {"percent": float("nan")},
                     {"percent": 50, "until": time.time() + 367 * 86400}):
        with pytest.raises(ValueError):
            ac.command({"override": override}, by="test")
    with pytest.raises(UnknownMiner):
        ac.command({"override": {"percent": 50, "miner": "10.9.9.9"}}, by="test")
    with pytest.raises(ValueError):
        ac.command({"override": {"percent": 50, "miner": "\ud800"}}, by="test")
    assert ac.controller.state.to_json() == before
    ac.command({"override": {"percent": 50, "minutes": 5, "miner": bb.FAKE_IP}}, by="test")
    assert bb.FAKE_IP in ac.controller.state.miner_overrides


def test_discover_empty_subnet_is_400_and_absent_is_the_configured_one(env):
    _, client, _, scans = env
    auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
    for subnet in ("", "   "):
        reply = client.post("/api/discover", json={"subnet": subnet}, headers=auth)
        assert reply.status_code == 400 and "subnet" in reply.get_json()["error"]
    assert scans == []
    assert client.post("/api/discover", json={}, headers=auth).status_code == 202
    assert scans == ["10.0.0.0/30"]  # the configured network.subnet


def test_a_lone_surrogate_password_is_400_and_not_a_failed_login(env):
    _, client, _, _ = env
    bb.reset_login_limit()
    for _ in range(8):  # more than the limiter's 5: none of them counts as a guess
        reply = client.post("/login", data='{"password": "\\ud800"}', content_type="application/json")
        assert reply.status_code == 400 and "password" in reply.get_json()["error"]
    assert client.post("/login", json={"password": TEST_PASSWORD}).status_code == 200


def test_an_unexpected_error_is_json_and_one_log_line_without_the_secret(env, caplog):
    app, client, _, _ = env

    def broken():
        raise RuntimeError("leaked-secret-value in the message")

    app.add_url_rule("/api/test-broken", "test_broken", broken, methods=["POST"])
    with caplog.at_level(logging.INFO):
        reply = client.post("/api/test-broken", data='{"password": "body-secret"}', content_type="application/json",
                            headers={"Authorization": "Bearer header-secret"})
    assert reply.status_code == 500 and reply.get_json() == {"error": "internal error"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    line = errors[0].getMessage()
    assert "RuntimeError" in line and "/api/test-broken" in line and errors[0].exc_info is None
    logged = caplog.text
    for secret in ("leaked-secret-value", "body-secret", "header-secret"):
        assert secret not in logged and secret not in reply.get_data(as_text=True)


def test_werkzeug_errors_on_the_api_are_json(env):
    _, client, _, _ = env
    auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
    wrong_method = client.put("/api/discover", headers=auth)
    assert wrong_method.status_code == 405 and _reason(wrong_method)
    assert "POST" in wrong_method.headers["Allow"]
    missing = client.get("/api/no-such-route")
    assert missing.status_code == 404 and _reason(missing)
    # werkzeug's own form parser (login takes a form too) is held to MAX_CONTENT_LENGTH: a JSON 413.
    big = client.post("/login", data={"password": "x" * 70_000})
    assert big.status_code == 413 and _reason(big)
