"""POST /api/autocontrol bodies, validated before anything changes."""

import json

import pytest

from services.config import AutocontrolConfig
from services.power import DictStore, PowerController
from services.power.commands import apply_command

T0 = 1_780_315_200.0


def ctl():
    return PowerController(AutocontrolConfig(), DictStore(), clock=lambda: T0)


def test_enable_policy_and_fleet_override_for_an_hour():
    c = ctl()
    body = apply_command(c, {"enabled": True, "policy": "surplus", "override": {"percent": 40, "minutes": 60}}, by="admin")
    assert body["enabled"] is True and body["policy"] == "surplus"
    assert body["override"]["percent"] == 40 and body["override"]["until"] == T0 + 3600
    assert body["override"]["by"] == "admin"
    json.dumps(body)


def test_miner_override_and_clear():
    c = ctl()
    apply_command(c, {"override": {"percent": 0, "miner": "10.0.0.5", "until": T0 + 60}})
    assert c.state.miner_overrides["10.0.0.5"].percent == 0
    apply_command(c, {"override": {"clear": True, "miner": "10.0.0.5"}})
    assert c.state.miner_overrides == {}
    apply_command(c, {"override": {"percent": 70}})
    assert c.state.override.until is None
    apply_command(c, {"override": {"clear": True}})
    assert c.state.override is None


@pytest.mark.parametrize("body,field", [
    ({}, "body"),
    ([], "body"),
    ({"enabled": "yes"}, "enabled"),
    ({"policy": "max"}, "policy"),
    ({"speed": 1}, "speed"),
    ({"override": 50}, "override"),
    ({"override": {"percent": 120}}, "override.percent"),
    ({"override": {"percent": "50"}}, "override.percent"),
    ({"override": {}}, "override.percent"),
    ({"override": {"percent": 50, "minutes": 0}}, "override.minutes"),
    ({"override": {"percent": 50, "until": T0 - 1}}, "override.until"),
    ({"override": {"percent": 50, "minutes": 5, "until": T0 + 600}}, "override.until"),
    ({"override": {"percent": 50, "miner": 5}}, "override.miner"),
    ({"override": {"percent": 50, "for": 5}}, "override.for"),
])
def test_bad_bodies_name_the_field_and_change_nothing(body, field):
    c = ctl()
    before = c.state.to_json()
    with pytest.raises(ValueError) as err:
        apply_command(c, {**body, "enabled": True} if isinstance(body, dict) and body and field != "enabled" else body)
    assert str(err.value).startswith(field + ":"), str(err.value)
    assert c.state.to_json() == before
