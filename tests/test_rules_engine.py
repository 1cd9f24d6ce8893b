"""The pure evaluator: each trigger, each guard, time windows, precedence, unknown inputs, state round trip."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from services.rules import MinerFacts, RuleContext, RulesState, evaluate, parse_rule

TZ = timezone(timedelta(hours=1))
MONDAY = datetime(2024, 6, 3, 12, 0, tzinfo=TZ)  # a Monday, noon local
A, B = "127.0.0.2", "127.0.0.3"


def miner(ip=A, **kw) -> MinerFacts:
    base = dict(ip=ip, name=f"m{ip[-1]}", family="whatsminer", tags=(), online=True, offline_since=None,
                temp_c=60.0, hashrate_hs=100e12, avg_1h_hs=100e12)
    return MinerFacts(**{**base, **kw})


def ctx(local=MONDAY, *, price=None, cheapest=None, soc=None, surplus_w=None, sun_up=None, miners=None):
    miners = miners if miners is not None else [miner(A), miner(B)]
    return RuleContext(now=local.timestamp(), local=local, price=price, cheapest=cheapest, soc=soc,
                       surplus_w=surplus_w, sun_up=sun_up, miners={m.ip: m for m in miners})


def rule(name="r", when=None, then=None, **kw):
    return parse_rule({"name": name, "when": when or {"price_above": 30}, "then": then or {"action": "sleep"}, **kw})


def run(rules, context, state=None):
    state = state if state is not None else RulesState()
    return evaluate(rules if isinstance(rules, list) else [rules], context, state), state


def test_the_contract_rule_sleeps_the_fleet_while_dear_and_says_so_once():
    stop = rule("stop-when-dear")
    out, state = run(stop, ctx(price=32.5))
    assert out.fleet is not None and out.fleet.percent == 0 and out.fleet.rule == "stop-when-dear"
    assert "price 32.5 > 30" in out.fleet.reason
    assert out.events == (("stop-when-dear", "fired: price 32.5 > 30 -> sleep (fleet)"),)
    assert out.states == {"stop-when-dear": "firing"}
    later = MONDAY + timedelta(minutes=1)
    out, _ = run(stop, ctx(later, price=31), state)
    assert out.fleet.percent == 0 and out.events == ()  # still firing: no event per tick
    out, _ = run(stop, ctx(later + timedelta(minutes=1), price=29), state)
    assert out.fleet is None and out.states == {"stop-when-dear": "armed"}
    assert out.events == (("stop-when-dear", "released: price 29 not above 30"),)


@pytest.mark.parametrize("then, percent", [({"action": "sleep"}, 0), ({"action": "wake"}, 100),
                                           ({"action": "percent", "value": 40}, 40)])
def test_held_actions_give_the_fleet_a_percent(then, percent):
    out, _ = run(rule(then=then, when={"price_below": 5}), ctx(price=-2))
    assert out.fleet.percent == percent and out.miners == {} and out.commands == ()


@pytest.mark.parametrize("when, good, bad", [
    ({"price_above": 30}, {"price": 30.01}, {"price": 30}),
    ({"price_below": 10}, {"price": 9.9}, {"price": 10}),
    ({"soc_above": 50}, {"soc": 51}, {"soc": 50}),
    ({"soc_below": 50}, {"soc": 49}, {"soc": 50}),
    ({"surplus_above_w": 1000}, {"surplus_w": 1500}, {"surplus_w": 900}),
    ({"surplus_below_w": 0}, {"surplus_w": -200}, {"surplus_w": 0}),
    ({"sun": "up"}, {"sun_up": True}, {"sun_up": False}),
    ({"sun": "down"}, {"sun_up": False}, {"sun_up": True}),
    ({"cheapest_hours": 6}, {"cheapest": lambda n: n == 6}, {"cheapest": lambda n: False}),
])
def test_each_fleet_trigger(when, good, bad):
    r = rule(when=when)
    assert run(r, ctx(**good))[0].fleet is not None
    assert run(r, ctx(**bad))[0].fleet is None


@pytest.mark.parametrize("when, unknown", [
    ({"price_above": 30}, {}), ({"price_below": 30}, {}), ({"soc_below": 50}, {}), ({"soc_above": 50}, {}),
    ({"surplus_above_w": 10}, {}), ({"sun": "down"}, {}), ({"cheapest_hours": 3}, {}),
    ({"cheapest_hours": 3}, {"cheapest": lambda n: None}),
])
def test_an_unknown_input_is_not_met(when, unknown):
    out, _ = run(rule(when=when), ctx(**unknown))
    assert out.fleet is None and out.events == () and out.states == {"r": "armed"}


def test_a_firing_rule_is_released_when_its_input_becomes_unknown_even_with_until():
    r = rule(when={"price_above": 30}, until={"price_below": 25})
    out, state = run(r, ctx(price=35))
    assert out.fleet is not None
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=5), price=None), state)
    assert out.fleet is None and out.events == (("r", "released: price unknown"),)


def test_miner_triggers_act_on_that_miner_only():
    hot = rule("hot", when={"temp_above_c": 85})
    out, state = run(hot, ctx(miners=[miner(A, temp_c=90), miner(B, temp_c=70)]))
    assert out.fleet is None and set(out.miners) == {A}
    assert out.miners[A].percent == 0 and "temperature 90 °C > 85 °C" in out.miners[A].reason
    assert out.events == (("hot", f"fired for {A} (m2): temperature 90 °C > 85 °C -> sleep"),)
    # Offline: temperature unknown -> released.
    out, _ = run(hot, ctx(MONDAY + timedelta(minutes=1), miners=[miner(A, temp_c=None, online=False),
                                                                  miner(B, temp_c=70)]), state)
    assert out.miners == {} and out.events == (("hot", f"released for {A} (m2): temperature unknown"),)


def test_offline_for_n_minutes():
    r = rule("gone", when={"offline_min": 10}, then={"action": "notify", "message": "miner offline"})
    since = MONDAY.timestamp() - 9 * 60
    out, state = run(r, ctx(miners=[miner(A, online=False, offline_since=since, temp_c=None)]))
    assert out.events == () and out.states == {"gone": "armed"}
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=2), miners=[miner(A, online=False, offline_since=since)]),
                 state)
    assert out.events == (("gone", f"notify for {A} (m2): miner offline (offline 11 min (10))"),)
    assert out.states == {"gone": "firing"} and out.commands == ()
    # Offline but since unknown: not met; online: not met.
    assert run(r, ctx(miners=[miner(A, online=False)]))[0].states == {"gone": "armed"}


def test_hashrate_below_its_own_hour_average_restarts_that_miner_once():
    r = rule("slow", when={"hashrate_below_percent": 50}, then={"action": "restart"})
    fine = miner(A, hashrate_hs=60e12, avg_1h_hs=100e12)
    slow = miner(B, hashrate_hs=40e12, avg_1h_hs=100e12)
    out, state = run(r, ctx(miners=[fine, slow]))
    assert [(c.ip, c.action, c.value) for c in out.commands] == [(B, "restart", None)]
    assert "hashrate 40% of its 1-hour average" in out.commands[0].reason
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=1), miners=[fine, slow]), state)
    assert out.commands == () and out.states == {"slow": "firing"}  # one restart per firing, not per tick
    # No average yet (just added): unknown, not met.
    assert run(r, ctx(miners=[miner(A, hashrate_hs=1.0, avg_1h_hs=None)]))[0].commands == ()


def test_restart_default_guard_cooldown_60_min_and_3_a_day():
    """A miner that keeps dropping out is restarted at most once an hour and 3 times a day, unconfigured."""
    r = rule("reboot", when={"offline_min": 5}, then={"action": "restart"})
    state = RulesState()
    restarts, refusals = [], []
    t = MONDAY.replace(hour=0, minute=0)
    for minute in range(0, 24 * 60 - 1, 1):
        now = t + timedelta(minutes=minute)
        # The miner is offline 10 minutes out of every 15, all day: the condition comes back every 15 min.
        offline = minute % 15 < 10
        facts = miner(A, online=not offline, offline_since=(t + timedelta(minutes=minute - minute % 15)).timestamp()
                      if offline else None)
        out, _ = run(r, ctx(now, miners=[facts]), state)
        restarts += [now for c in out.commands]
        refusals += [text for _, text in out.events if text.startswith("refused")]
    assert len(restarts) == 3
    assert all(b - a >= timedelta(minutes=60) for a, b in zip(restarts, restarts[1:]))
    assert refusals and "cooldown_min 60" in refusals[0]
    assert any("max_per_day 3 reached today" in text for text in refusals)
    # The next day counts afresh.
    nxt = t + timedelta(days=1, minutes=6)
    facts = miner(A, online=False, offline_since=(t + timedelta(days=1)).timestamp())
    out, _ = run(r, ctx(nxt, miners=[facts]), state)
    assert len(out.commands) == 1


def test_cooldown_limits_how_often_a_rule_fires():
    r = rule(when={"price_above": 30}, cooldown_min=30)
    out, state = run(r, ctx(price=35))
    assert out.fleet is not None
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=5), price=20), state)
    assert out.fleet is None and out.states == {"r": "cooling down"}
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=10), price=40), state)
    assert out.fleet is None and out.states == {"r": "cooling down"}
    assert out.events == (("r", "refused by guard: price 40 > 30, but cooldown_min 30 (last fired 10 min ago)"),)
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=20), price=40), state)
    assert out.events == ()  # the refusal is said once
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=30), price=40), state)
    assert out.fleet is not None and out.events[0][1].startswith("fired")


def test_max_per_day_counts_firings_of_the_local_day():
    r = rule(when={"price_above": 30}, max_per_day=2)
    state = RulesState()
    fired = 0
    for i in range(8):  # dear, cheap, dear, cheap...
        out, _ = run(r, ctx(MONDAY + timedelta(minutes=i), price=40 if i % 2 == 0 else 20), state)
        fired += sum(text.startswith("fired") for _, text in out.events)
    assert fired == 2 and out.states == {"r": "cooling down"}
    # Local midnight resets the count (the local day, not UTC's).
    out, _ = run(r, ctx(MONDAY.replace(hour=23, minute=59) + timedelta(minutes=2), price=40), state)
    assert out.fleet is not None


def test_for_min_waits_while_the_condition_holds_and_restarts_when_it_breaks():
    r = rule(when={"soc_below": 40}, for_min=10)
    out, state = run(r, ctx(soc=35))
    assert out.fleet is None and out.states == {"r": "waiting"}
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=6), soc=35), state)
    assert out.states == {"r": "waiting"}
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=7), soc=45), state)  # broke: the count restarts
    assert out.states == {"r": "armed"}
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=8), soc=35), state)
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=17), soc=35), state)
    assert out.states == {"r": "waiting"}
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=18), soc=35), state)
    assert out.fleet is not None and out.states == {"r": "firing"}


def test_until_pairs_a_release_so_the_rule_does_not_flap():
    r = rule(when={"price_above": 30}, until={"price_below": 25})
    prices = [31, 29, 27, 30.5, 26, 24, 29, 31]
    firing = []
    state = RulesState()
    for i, price in enumerate(prices):
        out, _ = run(r, ctx(MONDAY + timedelta(minutes=i), price=price), state)
        firing.append(out.fleet is not None)
    assert firing == [True, True, True, True, True, False, False, True]
    plain = rule(when={"price_above": 30})
    state = RulesState()
    flapping = [run(plain, ctx(MONDAY + timedelta(minutes=i), price=p), state)[0].fleet is not None
                for i, p in enumerate(prices)]
    assert flapping == [True, False, False, True, False, False, False, True]


def test_time_window_across_midnight_belongs_to_the_day_it_starts():
    r = rule(when={"time": {"from": "22:00", "to": "07:00", "days": ["mon"]}})
    at = lambda day, hh, mm=0: datetime(2024, 6, 3 + day, hh, mm, tzinfo=TZ)  # day 0 = Monday
    assert run(r, ctx(at(0, 22)))[0].fleet is not None  # Monday 22:00 (from is inclusive)
    assert run(r, ctx(at(0, 21, 59)))[0].fleet is None
    assert run(r, ctx(at(1, 3)))[0].fleet is not None  # Tuesday 03:00 is Monday night
    assert run(r, ctx(at(1, 6, 59)))[0].fleet is not None
    assert run(r, ctx(at(1, 7)))[0].fleet is None  # to is exclusive
    assert run(r, ctx(at(1, 22)))[0].fleet is None  # Tuesday evening is not listed
    assert run(r, ctx(at(0, 3)))[0].fleet is None  # Monday 03:00 is Sunday night


def test_time_window_within_a_day_and_whole_days():
    office = rule(when={"time": {"from": "09:00", "to": "17:30", "days": ["mon", "tue", "wed", "thu", "fri"]}})
    weekend = rule(when={"time": {"days": ["sat", "sun"]}})
    saturday = datetime(2024, 6, 8, 10, tzinfo=TZ)
    assert run(office, ctx(MONDAY))[0].fleet is not None
    assert run(office, ctx(MONDAY.replace(hour=17, minute=30)))[0].fleet is None
    assert run(office, ctx(saturday))[0].fleet is None
    assert run(weekend, ctx(saturday))[0].fleet is not None
    assert run(weekend, ctx(MONDAY))[0].fleet is None
    every_night = rule(when={"time": {"from": "23:00", "to": "01:00"}})
    assert run(every_night, ctx(MONDAY.replace(hour=0, minute=30)))[0].fleet is not None


def test_all_triggers_must_hold():
    r = rule(when={"soc_below": 50, "sun": "down"})
    assert run(r, ctx(soc=40, sun_up=False))[0].fleet is not None
    assert run(r, ctx(soc=40, sun_up=True))[0].fleet is None
    assert run(r, ctx(soc=60, sun_up=False))[0].fleet is None
    assert run(r, ctx(soc=40))[0].fleet is None  # sun unknown


def test_list_order_is_priority_for_the_fleet():
    first = rule("dear", when={"price_above": 30})
    second = rule("cheap-window", when={"time": {"from": "10:00", "to": "14:00"}}, then={"action": "wake"})
    out, _ = run([first, second], ctx(price=40))
    assert out.fleet.rule == "dear" and out.fleet.percent == 0
    assert out.states == {"dear": "firing", "cheap-window": "firing (overridden by dear)"}
    out, _ = run([second, first], ctx(price=40))
    assert out.fleet.rule == "cheap-window" and out.states["dear"] == "firing (overridden by cheap-window)"


def test_a_miner_rule_above_a_fleet_rule_exempts_that_miner_below_it_does_not():
    bedroom = rule("bedroom", when={"time": {"from": "10:00", "to": "14:00"}}, target={"miners": [A]},
                   then={"action": "percent", "value": 30})
    dear = rule("dear", when={"price_above": 30})
    out, _ = run([bedroom, dear], ctx(price=40))
    assert out.miners[A].percent == 30 and out.fleet.rule == "dear"
    assert out.states == {"bedroom": "firing", "dear": "firing"}
    out, _ = run([dear, bedroom], ctx(price=40))
    assert out.miners == {} and out.fleet.rule == "dear"
    assert out.states["bedroom"] == "firing (overridden by dear)"


def test_targets_miners_and_family():
    listed = rule("listed", target={"miners": [B, "127.0.0.99"]})
    out, _ = run(listed, ctx(price=40))
    assert set(out.miners) == {B} and out.fleet is None  # an unknown IP is skipped
    family = rule("fam", target={"family": "bitaxe"})
    out, _ = run(family, ctx(price=40, miners=[miner(A), miner(B, family="bitaxe")]))
    assert set(out.miners) == {B}
    tagged = rule("shed", target={"tag": "shed"})
    assert tagged.target.to_json() == {"tag": "shed"}
    out, _ = run(tagged, ctx(price=40, miners=[miner(A, tags=("house",)), miner(B, tags=("solar", "shed"))]))
    assert set(out.miners) == {B}
    out, _ = run(rule("none", target={"tag": "garage"}), ctx(price=40))
    assert out.miners == {} and out.fleet is None  # a tag no miner carries: the rule acts on none


def test_commands_go_to_the_target_once_when_the_rule_fires():
    r = rule("night-mode", when={"time": {"from": "10:00", "to": "14:00"}}, target={"family": "whatsminer"},
             then={"action": "mode", "value": "low"})
    out, state = run(r, ctx())
    assert [(c.ip, c.action, c.value) for c in out.commands] == [(A, "mode", "low"), (B, "mode", "low")]
    assert out.fleet is None and out.miners == {}
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=1)), state)
    assert out.commands == ()
    pool = rule("backup-pool", then={"action": "pool", "value": 1}, target={"miners": [A]})
    assert [(c.ip, c.value) for c in run(pool, ctx(price=40))[0].commands] == [(A, 1)]
    watts = rule("cap", then={"action": "watts", "value": 1500}, target={"miners": [B]})
    assert [(c.ip, c.action, c.value) for c in run(watts, ctx(price=40))[0].commands] == [(B, "watts", 1500)]


def test_two_rules_restarting_the_same_miner_in_one_tick_send_one_restart():
    one = rule("one", when={"offline_min": 1}, then={"action": "restart"})
    two = rule("two", when={"offline_min": 2}, then={"action": "restart"})
    gone = miner(A, online=False, offline_since=MONDAY.timestamp() - 600)
    out, _ = run([one, two], ctx(miners=[gone]))
    assert [(c.ip, c.rule) for c in out.commands] == [(A, "one")]


def test_disabled_rules_do_nothing_and_release_what_they_held():
    r = rule(when={"price_above": 30})
    out, state = run(r, ctx(price=40))
    off = replace(r, enabled=False)
    out, _ = run(off, ctx(MONDAY + timedelta(minutes=1), price=40), state)
    assert out.fleet is None and out.states == {"r": "disabled"}
    assert out.events == (("r", "released: the rule was disabled"),)
    out, _ = run(off, ctx(MONDAY + timedelta(minutes=2), price=40), state)
    assert out.events == ()


def test_an_edited_rule_starts_afresh_but_keeps_its_guard_history():
    r = rule(when={"price_above": 30}, max_per_day=1)
    out, state = run(r, ctx(price=40))
    edited = rule(when={"price_above": 35}, max_per_day=1)
    out, _ = run(edited, ctx(MONDAY + timedelta(minutes=1), price=40), state)
    assert out.events[0] == ("r", "released: the rule was changed")
    assert out.fleet is None and out.states == {"r": "cooling down"}  # today's one firing is used up


def test_deleted_rules_and_gone_miners_leave_no_state():
    hot = rule("hot", when={"temp_above_c": 80})
    _, state = run(hot, ctx(miners=[miner(A, temp_c=90), miner(B, temp_c=90)]))
    out, _ = run(hot, ctx(MONDAY + timedelta(minutes=1), miners=[miner(A, temp_c=90)]), state)
    assert set(state.rules["hot"].subjects) == {A}
    assert out.events == (("hot", f"released for {B}: no longer a target or no longer known"),)
    run([], ctx(), state)
    assert state.rules == {}


def test_state_round_trips_through_json_and_survives_a_restart():
    r = rule(when={"price_above": 30}, until={"price_below": 25}, cooldown_min=15, max_per_day=5)
    hot = rule("hot", when={"temp_above_c": 80}, for_min=3)
    rules = [r, hot]
    facts = [miner(A, temp_c=90), miner(B, temp_c=50)]
    _, state = run(rules, ctx(price=40, miners=facts))
    saved = json.loads(json.dumps(state.to_json()))
    again = RulesState.from_json(saved)
    assert again.to_json() == state.to_json()
    later = ctx(MONDAY + timedelta(minutes=4), price=28, miners=facts)
    assert run(rules, later, again)[0] == run(rules, later, state)[0]
    assert run(rules, later, again)[0].fleet is not None  # held by until across the "restart"


@pytest.mark.parametrize("junk", [None, [], "x", {"version": 99}, {"version": 1, "rules": {"r": "x"}},
                                  {"version": 1, "rules": {"r": {"subjects": {"*": {"firing": "yes",
                                                                                     "last_fired": "soon"}}}}}])
def test_a_malformed_saved_state_starts_afresh(junk):
    state = RulesState.from_json(junk)
    out, _ = run(rule(), ctx(price=40), state)
    assert out.fleet is not None


def test_the_clock_going_back_does_not_block_a_cooldown_forever():
    r = rule(when={"price_above": 30}, cooldown_min=10)
    _, state = run(r, ctx(MONDAY + timedelta(days=300), price=40))
    run(r, ctx(MONDAY + timedelta(days=300, minutes=1), price=20), state)
    out, _ = run(r, ctx(MONDAY, price=40), state)  # NTP put the clock back 300 days
    assert out.states == {"r": "cooling down"}
    out, _ = run(r, ctx(MONDAY + timedelta(minutes=10), price=40), state)
    assert out.fleet is not None


def test_fired_events_name_the_target():
    listed = rule("few", target={"miners": [A, B, "127.0.0.4", "127.0.0.5"]})
    assert run(listed, ctx(price=40))[0].events == (
        ("few", f"fired: price 40 > 30 -> sleep ({A}, {B}, 127.0.0.4 and 1 more)"),)
    family = rule("fam", target={"family": "whatsminer"}, then={"action": "mode", "value": "low"})
    assert run(family, ctx(price=40))[0].events == (("fam", "fired: price 40 > 30 -> mode low (family whatsminer)"),)
