"""The control core (services/control): one step for the app and the benches, precedence layers, the price band."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from services.config import AutocontrolConfig, PriceControlConfig
from services.control import ControlState, MinerTemp, PriceInput, StepInputs, break_evens, price_limits, step
from services.power import BatterySample, DictStore
from services.power.allocator import MinerInput
from services.rules import FleetWish
from services.profitability import Hashprice

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_750_000_000.0  # 2025-06-15, daytime at the default fixed sunrise/sunset in most zones
CAPS = frozenset({"power_watts", "sleep", "wake"})


def miner(ip: str, watts: float, hashrate_ths: float, *, on: bool = True, caps=CAPS) -> MinerInput:
    """A miner at full power (``watts``, ``hashrate_ths``) that can throttle and sleep."""
    return MinerInput(ip=ip, family="whatsminer", model="test", online=True, capabilities=caps,
                      power_w=watts if on else 0.0, hashrate_hs=hashrate_ths * 1e12 if on else 0.0,
                      nominal_w=watts, min_w=watts * 0.5, max_w=watts)


def state_for(*, enabled: bool = True, policy: str = "surplus", price: PriceControlConfig | None = None,
              **overrides) -> ControlState:
    cfg = AutocontrolConfig(enabled=enabled, policy=policy, price=price or PriceControlConfig(), **overrides)
    return ControlState.create(cfg, DictStore(), clock=lambda: NOW)


FLEET = (miner("10.0.0.1", 3000, 100), miner("10.0.0.2", 3000, 60), miner("10.0.0.3", 1000, 40))
# 0.009 per TH/s per hour: break-even = 0.009 x TH/s / kW = 0.30, 0.18 and 0.36 per kWh
HASHPRICE = Hashprice(per_th_day=0.216, per_th_hour=0.009, currency="GBP", source="test")


def inputs(reading=None, *, price=None, has_battery=False, **kw) -> StepInputs:
    return StepInputs(reading=reading, miners=kw.pop("miners", FLEET), controlled=frozenset(m.ip for m in FLEET),
                      has_battery=has_battery, price=price, hashprice=kw.pop("hashprice", HASHPRICE), **kw)


def grid_price(main: float, export: float | None = None, **kw) -> PriceInput:
    return PriceInput(price=main * 100, price_main=main, export_main=export, unit="p/kWh", **kw)


# --- the step is the one loop -------------------------------------------------------------
def _calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for node in ast.walk(tree) if isinstance(node, ast.Call)}


@pytest.mark.parametrize("path", ["services/autocontrol.py", "bench/solar_week.py", "bench/price_year.py"])
def test_app_loop_and_benches_call_the_step_and_keep_no_copy_of_it(path):
    """Each caller goes through services.control.step (price_year through solar_week.run_policy, which
    calls it); none ticks the controller or allocates by itself."""
    file = ROOT / path
    source = file.read_text()
    calls = _calls(file)
    if path == "bench/price_year.py":
        assert "from solar_week import" in source and "run_policy" in source
    else:
        assert "services.control import" in source
        assert "step" in calls or "control_step" in calls
    assert not {"allocate", "PowerController", "PowerAllocator", "price_limits"} & calls, f"{path} rebuilds the loop"
    assert ".tick(" not in source.replace("self.tick(", "").replace("control.tick(", "")


# --- precedence ------------------------------------------------------------------------------
def test_without_a_layer_the_policy_decides_and_says_so():
    result = step(inputs(), state_for(), NOW)
    assert (result.decision.layer, result.decision.rule, result.decision.target_percent) == ("policy", None, 0.0)
    assert "no battery" in result.decision.reason


def test_price_floor_starts_grid_mining_with_the_paying_miners_only():
    """At 0.25/kWh two miners pay (break-even 0.30 and 0.36), the 0.18 one is pinned off."""
    result = step(inputs(price=grid_price(0.25)), state_for(price=PriceControlConfig(enabled=True)), NOW)
    d = result.decision
    assert d.layer == "price" and d.rule is None
    assert d.target_percent == pytest.approx(4000 / 7000 * 100, abs=0.1)
    assert "below the break-even of 2 of 3 miners" in d.reason
    assert result.pins == {"10.0.0.2": (0.0, "price")}
    planned = {m.ip: m.on for m in result.plan.miners}
    assert planned == {"10.0.0.1": True, "10.0.0.2": False, "10.0.0.3": True}


def test_least_efficient_stop_first_as_the_price_rises():
    running = []
    for p in (0.10, 0.20, 0.32, 0.40):
        result = step(inputs(price=grid_price(p)), state_for(price=PriceControlConfig(enabled=True)), NOW)
        running.append(sorted(m.ip for m in result.plan.miners if m.on))
    assert running == [["10.0.0.1", "10.0.0.2", "10.0.0.3"], ["10.0.0.1", "10.0.0.3"], ["10.0.0.3"], []]


def test_margin_and_always_below_and_cheapest_hours():
    cfg = PriceControlConfig(enabled=True, margin=0.5)  # keep half the revenue: 0.25 pays for nobody
    assert step(inputs(price=grid_price(0.25)), state_for(price=cfg), NOW).decision.target_percent == 0
    negative = PriceControlConfig(enabled=True, always_below=0)
    d = step(inputs(price=grid_price(-0.02)), state_for(price=negative), NOW).decision
    assert (d.layer, d.target_percent) == ("price", 100) and "always_below" in d.reason
    cheap = PriceControlConfig(enabled=True, cheapest_hours=4)
    seen = []
    price = grid_price(0.50, cheapest=lambda hours: seen.append(hours) or True)
    d = step(inputs(price=price), state_for(price=cheap), NOW).decision
    assert (d.layer, d.target_percent, seen) == ("price", 100, [4]) and "4 cheapest hours" in d.reason


def test_unknown_break_even_never_starts_grid_mining_and_stale_prices_say_so():
    result = step(inputs(price=grid_price(0.01, stale=True, reason="no slot covers now"), hashprice=None),
                  state_for(price=PriceControlConfig(enabled=True)), NOW)
    assert result.decision.layer == "policy" and result.decision.target_percent == 0
    d = step(inputs(price=grid_price(0.01, stale=True, reason="no slot covers now")),
             state_for(price=PriceControlConfig(enabled=True)), NOW).decision
    assert d.layer == "price" and "prices stale" in d.reason and "no slot covers now" in d.reason


def test_export_ceiling_stops_pv_mining_that_earns_less_than_the_export():
    """Full battery, big surplus: the policy wants 100 %; export pays 0.20, the 0.18 miner earns less."""
    state = state_for(policy="ratchet", price=PriceControlConfig(enabled=True, grid=False))
    full = BatterySample(soc_pct=100, pv_w=9000, load_w=500, battery_w=0, grid_w=0, measured_at=NOW)
    result = step(inputs(full, has_battery=True, price=grid_price(0.40, export=0.20)), state, NOW)
    d = result.decision
    assert d.layer == "price" and d.target_percent == pytest.approx(4000 / 7000 * 100, abs=0.1)
    assert "export pays" in d.reason and result.pins == {"10.0.0.2": (0.0, "price")}


def test_rules_outrank_price_and_policy_but_not_override_or_safety():
    state = state_for(policy="ratchet", price=PriceControlConfig(enabled=True, always_below=100))
    wish = FleetWish(0.0, "stop-when-dear", "price_above 30")
    reading = BatterySample(soc_pct=80, measured_at=NOW)
    d = state.controller.tick(reading, NOW, rated_w=7000, rule=wish,
                              price=price_limits(state.controller.cfg.price, grid_price(0.1), FLEET,
                                                 frozenset(m.ip for m in FLEET), set(),
                                                 break_evens(FLEET, HASHPRICE)).band)
    assert (d.layer, d.rule, d.target_percent) == ("rules", "stop-when-dear", 0.0)
    assert d.reason.startswith("rule stop-when-dear: ")
    state.controller.set_override(70, now=NOW)
    assert state.controller.tick(reading, NOW + 1, rated_w=7000, rule=wish).layer == "override"
    low = BatterySample(soc_pct=10, measured_at=NOW + 2)
    state.controller.clear_override()
    d = state.controller.tick(low, NOW + 2, rated_w=7000, rule=FleetWish(100.0, "wake", "x"))
    assert (d.layer, d.target_percent, d.rule) == ("safety", 0.0, None)


def test_ems_outranks_rules_and_safety_outranks_ems():
    state = state_for()
    d = state.controller.tick(None, NOW, rated_w=7000, battery=False, ems_w=3500, rule=FleetWish(0.0, "r", "x"))
    assert (d.layer, d.target_w) == ("ems", 3500)
    d = state.controller.tick(None, NOW + 1, rated_w=7000, battery=False, ems_w=3500, overheating=True)
    assert (d.layer, d.target_percent) == ("safety", 0.0)


def test_overheat_is_stopped_above_a_price_floor_and_reported_once():
    state = state_for(price=PriceControlConfig(enabled=True))
    hot = (MinerTemp("10.0.0.1", 105.0, 100.0, "test 10.0.0.1"),)
    result = step(inputs(price=grid_price(0.05), temps=hot), state, NOW)
    assert result.hot == {"10.0.0.1"} and result.overheat_changed and len(result.overheat_changes) == 1
    assert {m.ip: m.on for m in result.plan.miners}["10.0.0.1"] is False
    again = step(inputs(price=grid_price(0.05), temps=hot), state, NOW + 30)
    assert again.overheat_changes == () and not again.overheat_changed


def test_nothing_is_planned_while_autocontrol_is_off_without_an_ems():
    result = step(inputs(price=grid_price(0.05)), state_for(enabled=False, price=PriceControlConfig(enabled=True)), NOW)
    assert result.plan is None and not result.commanding and result.decision.layer == "price"


def test_price_config_validation_names_the_key():
    from services.config import ConfigError, _build, Config

    with pytest.raises(ConfigError, match=r"^autocontrol.price.margin: must be above 0"):
        _build(Config, {"autocontrol": {"price": {"margin": 0}}}, "")
    with pytest.raises(ConfigError, match=r"^autocontrol.price.cheapest_hours: must be 0-24"):
        _build(Config, {"autocontrol": {"price": {"cheapest_hours": 25}}}, "")
    assert dataclasses.asdict(PriceControlConfig())["enabled"] is False


# --- rules through the step ------------------------------------------------------------------
def _rules(*raw):
    from services.rules import RulesState, evaluate, parse_rules

    rules = parse_rules(list(raw), key="rules")
    state = RulesState()
    return lambda ctx: evaluate(rules, ctx, state)


def test_a_fleet_rule_decides_above_the_price_layer_and_names_itself():
    rules = _rules({"name": "stop-when-dear", "when": {"price_above": 30}, "then": {"action": "sleep"}})
    result = step(inputs(price=grid_price(0.35), rules=rules), state_for(price=PriceControlConfig(enabled=True)), NOW)
    d = result.decision
    assert (d.layer, d.rule, d.target_percent) == ("rules", "stop-when-dear", 0.0)
    assert result.rules.states["stop-when-dear"] == "firing"
    cheap = step(inputs(price=grid_price(0.10), rules=rules), state_for(price=PriceControlConfig(enabled=True)), NOW + 60)
    assert (cheap.decision.layer, cheap.decision.rule) == ("price", None)


def test_a_miner_rule_pins_its_miner_and_a_restart_skips_overheated_miners():
    facts = {m.ip: _facts(m.ip, temp=105.0 if m.ip == "10.0.0.1" else 60.0) for m in FLEET}
    rules = _rules({"name": "slow", "when": {"price_above": 1}, "target": {"miners": ["10.0.0.3"]},
                    "then": {"action": "percent", "value": 50}},
                   {"name": "kick", "when": {"temp_above_c": 50}, "then": {"action": "restart"}})
    hot = (MinerTemp("10.0.0.1", 105.0, 100.0, "test 10.0.0.1"),)
    result = step(inputs(price=grid_price(0.05), rules=rules, facts=facts, temps=hot),
                  state_for(price=PriceControlConfig(enabled=True)), NOW)
    assert result.pins["10.0.0.3"] == (50, "rule slow")
    assert sorted(c.ip for c in result.commands) == ["10.0.0.2", "10.0.0.3"]  # not the overheated one


def _facts(ip: str, temp: float):
    from services.rules import MinerFacts

    return MinerFacts(ip=ip, name=ip, family="whatsminer", tags=(), online=True, offline_since=None, temp_c=temp,
                      hashrate_hs=1e14, avg_1h_hs=1e14)


def test_an_asleep_miner_keeps_the_break_even_it_had_while_hashing():
    """Not in the model table: asleep (0 H/s, 0 W) its break-even comes from when it last hashed."""
    state = state_for(price=PriceControlConfig(enabled=True))
    unknown = MinerInput(ip="10.0.0.9", family="whatsminer", model="Mystery 9000", online=True, capabilities=CAPS,
                         power_w=3000.0, hashrate_hs=100e12)
    asleep = dataclasses.replace(unknown, power_w=0.0, hashrate_hs=0.0)
    assert break_evens([asleep], HASHPRICE, {}) == {"10.0.0.9": None}
    assert break_evens([unknown], HASHPRICE, state.hashing) == {"10.0.0.9": pytest.approx(0.30)}
    assert break_evens([asleep], HASHPRICE, state.hashing) == {"10.0.0.9": pytest.approx(0.30)}


@pytest.mark.parametrize("soc, battery_w, grid_w, grid_mining", [
    (45, 800, 0, False),  # the battery feeds the house: grid mining would come from it
    (45, 50, 0, False),  # idle at dawn with PV balancing the house: a miner would come from the battery
    (45, -900, -100, False),  # PV charging it: a 3 kW miner would turn that into a discharge
    (45, 0, 600, True),  # idle and importing: the inverter holds its reserve, the grid feeds the miners
    (60, 800, 0, True),  # above priority_soc: the floor's margin is wide
])
def test_grid_mining_waits_while_it_would_empty_the_battery(soc, battery_w, grid_w, grid_mining):
    """Below priority_soc (50) grid mining runs only while the inverter holds the battery."""
    reading = BatterySample(soc_pct=soc, pv_w=0, load_w=600, battery_w=battery_w, grid_w=grid_w, measured_at=NOW)
    state = state_for(policy="surplus", price=PriceControlConfig(enabled=True))
    result = step(inputs(reading, has_battery=True, price=grid_price(0.05)), state, NOW)
    assert (result.decision.layer == "price") is grid_mining
    assert (result.price.hold is None) is grid_mining
    if not grid_mining:
        assert "grid mining waits: SOC 45% below priority 50%" in result.price.hold


def test_a_miner_mining_from_the_grid_stops_only_hysteresis_above_its_break_even():
    """10.0.0.1 breaks even at 0.30: it starts below 0.30, keeps going at 0.32 (within 10 %),
    stops at 0.34; a miner that was not running does not start at 0.32."""
    state = state_for(price=PriceControlConfig(enabled=True, hysteresis_percent=10))
    on = lambda result: sorted(m.ip for m in result.plan.miners if m.on)  # noqa: E731
    assert on(step(inputs(price=grid_price(0.29)), state, NOW)) == ["10.0.0.1", "10.0.0.3"]
    assert on(step(inputs(price=grid_price(0.32)), state, NOW + 3600)) == ["10.0.0.1", "10.0.0.3"]
    assert on(step(inputs(price=grid_price(0.34)), state, NOW + 7200)) == ["10.0.0.3"]
    fresh = state_for(price=PriceControlConfig(enabled=True, hysteresis_percent=10))
    assert on(step(inputs(price=grid_price(0.32)), fresh, NOW)) == ["10.0.0.3"]
