"""Rules from YAML and JSON: the contract's minimal form, the richer form, and errors that name the field."""

from __future__ import annotations

import pytest
import yaml

from services.config import ConfigError, load_config
from services.rules import RuleError, parse_rule, parse_rules
from services.rules.model import RESTART_COOLDOWN_MIN, RESTART_MAX_PER_DAY

MINIMAL = {"name": "stop-when-dear", "when": {"price_above": 30}, "then": {"action": "sleep"}}


def test_the_contract_minimal_form():
    rule = parse_rule(MINIMAL)
    assert rule.name == "stop-when-dear" and rule.enabled and rule.target is None
    assert rule.when.price_above == 30 and rule.then.action == "sleep" and rule.then.percent == 0
    assert rule.to_json() == {**MINIMAL, "enabled": True}
    below = parse_rule({"name": "cheap", "when": {"price_below": 5}, "then": {"action": "wake"}})
    assert below.when.price_below == 5 and below.then.percent == 100
    half = parse_rule({"name": "half", "when": {"price_above": 20}, "then": {"action": "percent", "value": 50}})
    assert half.then.percent == 50


RICH = {
    "name": "bedroom quiet", "enabled": False,
    "when": {"time": {"from": "22:00", "to": "07:00", "days": ["mon", "fri"]}, "price_above": -5,
             "cheapest_hours": 6, "soc_above": 20, "soc_below": 90, "surplus_above_w": 100,
             "surplus_below_w": 5000, "sun": "down", "temp_above_c": 80, "offline_min": 10,
             "hashrate_below_percent": 50},
    "until": {"soc_above": 95},
    "target": {"miners": ["127.0.0.2", "127.0.0.3"]},
    "then": {"action": "percent", "value": 40.5},
    "for_min": 5, "cooldown_min": 30, "max_per_day": 4,
}


def test_the_rich_form_round_trips():
    rule = parse_rule(RICH)
    assert parse_rule(rule.to_json()) == rule
    assert rule.to_json() == RICH
    assert rule.when.time.start == 22 * 60 and rule.when.time.end == 7 * 60 and rule.when.time.days == {0, 4}
    assert rule.when.per_miner and rule.guards() == {"for_min": 5, "cooldown_min": 30, "max_per_day": 4,
                                                     "until": True}


@pytest.mark.parametrize("then", [
    {"action": "watts", "value": 1200}, {"action": "mode", "value": "low"}, {"action": "pool", "value": 2},
    {"action": "restart"}, {"action": "notify", "message": "the S19 is hot"}, {"action": "wake"},
])
def test_each_action_round_trips(then):
    rule = parse_rule({"name": "a", "when": {"sun": "up"}, "then": then})
    assert rule.to_json()["then"] == then and parse_rule(rule.to_json()) == rule


def test_restart_gets_its_default_guard_and_refuses_a_shorter_one():
    rule = parse_rule({"name": "r", "when": {"offline_min": 10}, "then": {"action": "restart"}})
    assert rule.cooldown_min is None and rule.effective_cooldown_min == RESTART_COOLDOWN_MIN == 60
    assert rule.effective_max_per_day == RESTART_MAX_PER_DAY == 3
    assert "cooldown_min" not in rule.to_json()  # the default is not written into the rule
    own = parse_rule({"name": "r", "when": {"offline_min": 10}, "then": {"action": "restart"},
                      "cooldown_min": 120, "max_per_day": 1})
    assert own.effective_cooldown_min == 120 and own.effective_max_per_day == 1
    with pytest.raises(RuleError, match=r"^cooldown_min: a restart rule needs at least 10 minutes"):
        parse_rule({"name": "r", "when": {"offline_min": 10}, "then": {"action": "restart"}, "cooldown_min": 1})
    with pytest.raises(RuleError, match=r"^max_per_day: a restart rule may restart a miner at most 24"):
        parse_rule({"name": "r", "when": {"offline_min": 10}, "then": {"action": "restart"}, "max_per_day": 100})
    # Other actions have no default guard.
    assert parse_rule(MINIMAL).effective_cooldown_min == 0 and parse_rule(MINIMAL).effective_max_per_day is None


@pytest.mark.parametrize("change, message", [
    ({"when": {"price_abov": 30}}, "when.price_abov: unknown trigger (known: time, price_above"),
    ({"when": {}}, "when: needs at least one trigger"),
    ({"when": {"price_above": "30"}}, "when.price_above: expected a number, got text"),
    ({"when": {"price_above": True}}, "when.price_above: expected a number, got true/false"),
    ({"when": {"price_above": float("nan")}}, "when.price_above: must be a finite number"),
    ({"when": {"price_above": 10 ** 400}}, "when.price_above: must be -1e+06 to 1e+06, got a huge number"),
    ({"when": {"soc_below": 101}}, "when.soc_below: must be 0 to 100, got 101"),
    ({"when": {"soc_above": 60, "soc_below": 40}}, "when.soc_below: must be above soc_above (60)"),
    ({"when": {"sun": "sideways"}}, "when.sun: expected \"up\" or \"down\""),
    ({"when": {"time": {"from": "22:00"}}}, "when.time: give both from and to"),
    ({"when": {"time": {"from": "25:00", "to": "07:00"}}}, "when.time.from: expected a time \"HH:MM\""),
    ({"when": {"time": {"from": "07:00", "to": "07:00"}}}, "when.time.to: must differ from from"),
    ({"when": {"time": {"days": ["mon", "funday"]}}}, "when.time.days[1]: expected one of mon, tue"),
    ({"when": {"time": {"days": ["mon", "mon"]}}}, "when.time.days[1]: mon is listed twice"),
    ({"when": {"time": {}}}, "when.time: give from and to, days, or both"),
    ({"when": {"time": {"from": 1320, "to": "07:00"}}}, "when.time.from: expected a time \"HH:MM\""),
    ({"when": {"hashrate_below_percent": 0}}, "when.hashrate_below_percent: must be 1 to 100"),
    ({"then": {"action": "explode"}}, "then.action: expected one of sleep, wake, percent"),
    ({"then": {"action": "percent"}}, "then.value: percent needs a value"),
    ({"then": {"action": "percent", "value": 120}}, "then.value: must be 0 to 100, got 120"),
    ({"then": {"action": "sleep", "value": 3}}, "then.value: sleep takes nothing but the action"),
    ({"then": {"action": "pool", "value": 3}}, "then.value: must be 0 to 2, got 3"),
    ({"then": {"action": "pool", "value": 1.5}}, "then.value: must be a whole number"),
    ({"then": {"action": "notify", "value": "hi"}}, "then.value: unknown key (known: action, message)"),
    ({"then": {"action": "notify", "message": "a\nb"}}, "then.message: only printable characters"),
    ({"then": "sleep"}, "then: expected an object like"),
    ({"target": {"miners": ["127.0.0.1", "not-an-ip"]}}, "target.miners[1]: not an IPv4 address"),
    ({"target": {"miners": []}}, "target.miners: expected a non-empty list"),
    ({"target": {"tag": "bed/room"}}, "target.tag: 1-32 characters of letters, digits, space, _ . - (a miner's tag"),
    ({"target": {"tag": 3}}, "target.tag: 1-32 characters"),
    ({"target": {"family": "whatsminer", "miners": ["127.0.0.1"]}}, "target: give exactly one of miners, family or tag"),
    ({"target": {"family": "Bad Family"}}, "target.family: expected a miner family"),
    ({"until": {"price_below": 35}}, "until.price_below: must be at most when.price_above (30)"),
    ({"until": {"temp_above_c": 35}}, "until.temp_above_c: a miner trigger in until needs one in when too"),
    ({"for_min": -1}, "for_min: must be 0 to 1440"),
    ({"max_per_day": 0}, "max_per_day: must be 1 to 1000"),
    ({"enabled": "yes"}, "enabled: expected true or false, got text"),
    ({"colour": "red"}, "colour: unknown key (known: name, enabled, when"),
    ({"name": ""}, "name: must not be empty"),
    ({"name": "x" * 65}, "name: at most 64 characters"),
    ({"name": "a/b"}, "name: must not contain '/'"),
    ({"name": " padded"}, "name: must not start or end with spaces"),
    ({"name": "bell\x07"}, "name: only printable characters"),
    ({"name": "\ud800"}, "name: only printable characters"),
    ({"name": 5}, "name: expected text, got a number"),
])
def test_errors_name_the_field(change, message):
    with pytest.raises(RuleError) as caught:
        parse_rule({**MINIMAL, **change})
    assert str(caught.value).startswith(message), str(caught.value)


def test_missing_parts_and_non_objects():
    for missing, message in (("name", "name: missing"), ("when", "when: missing"), ("then", "then: missing")):
        body = {k: v for k, v in MINIMAL.items() if k != missing}
        with pytest.raises(RuleError, match=f"^{message}"):
            parse_rule(body)
    with pytest.raises(RuleError, match="^rule: expected an object"):
        parse_rule(["not", "a", "rule"])


def test_family_is_checked_against_the_known_families():
    rule = parse_rule({**MINIMAL, "target": {"family": "bitaxe"}}, families={"bitaxe", "whatsminer"})
    assert rule.target.family == "bitaxe"
    with pytest.raises(RuleError, match=r"^target.family: unknown family 'bitaxes' \(known: bitaxe, whatsminer\)"):
        parse_rule({**MINIMAL, "target": {"family": "bitaxes"}}, families={"bitaxe", "whatsminer"})


def test_a_list_of_rules_names_the_index_and_refuses_duplicates():
    assert parse_rules(None) == ()
    with pytest.raises(RuleError, match=r"^rules\[1\]\.when\.price_abov: unknown trigger \(known: "):
        parse_rules([MINIMAL, {**MINIMAL, "name": "b", "when": {"price_abov": 30}}])
    with pytest.raises(RuleError, match=r"^rules\[1\]\.name: 'stop-when-dear' is already the name of rules\[0\]"):
        parse_rules([MINIMAL, MINIMAL])
    with pytest.raises(RuleError, match="^rules: expected a list of rules, got an object"):
        parse_rules({"name": "x"})


def test_yaml_reads_unquoted_times_as_numbers_and_the_config_accepts_them():
    text = """
- name: quiet
  when: {time: {from: 22:30, to: 07:00, days: [mon, tue]}}
  then: {action: percent, value: 30}
"""
    raw = yaml.safe_load(text)
    assert raw[0]["when"]["time"]["from"] == 1350  # YAML 1.1: 22:30 is base 60
    rule = parse_rules(raw)[0]
    assert (rule.when.time.start, rule.when.time.end) == (22 * 60 + 30, 7 * 60)
    assert rule.to_json()["when"]["time"] == {"from": "22:30", "to": "07:00", "days": ["mon", "tue"]}


def _write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_config_yaml_rules_are_parsed(tmp_path):
    config = load_config(_write(tmp_path, """
rules:
  - name: stop-when-dear
    when: {price_above: 30}
    then: {action: sleep}
  - name: hot S19
    when: {temp_above_c: 85}
    target: {family: whatsminer}
    then: {action: sleep}
"""), environ={})
    assert [r.name for r in config.rules] == ["stop-when-dear", "hot S19"]
    assert config.rules[1].target.family == "whatsminer"
    assert load_config(_write(tmp_path, "server:\n  port: 5001\n"), environ={}).rules == ()


@pytest.mark.parametrize("text, message", [
    ("rules:\n  - {name: a, when: {price_abov: 30}, then: {action: sleep}}\n",
     "rules[0].when.price_abov: unknown trigger (known: "),
    ("rules:\n  - {name: a, when: {price_above: 30}, then: {action: sleep}}\n"
     "  - {name: b, when: {price_above: 30}, then: {action: sleep}, target: {family: nosuch}}\n",
     "rules[1].target.family: unknown family 'nosuch'"),
    ("rules: {name: a}\n", "rules: expected a list of rules"),
])
def test_config_errors_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text), environ={})
    assert str(caught.value).startswith(message), str(caught.value)


def test_every_yaml_example_in_the_docs_parses():
    """docs/rules.md's examples are real rules (the user copies them into config.yaml)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "rules.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) >= 6
    names = []
    for block in blocks:
        data = yaml.safe_load(block)
        items = data["rules"] if isinstance(data, dict) else data
        names += [r.name for r in parse_rules(items, families={"whatsminer", "bitaxe"})]
    assert "restart the slow ones" in names and "cheapest 6 hours" in names
