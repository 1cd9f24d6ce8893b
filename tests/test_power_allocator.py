"""PowerAllocator: a mixed fleet through targets, minimums, offline miners, deltas, timers and clamping."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from miners.base import MODE, POWER_PERCENT, POWER_WATTS, RESTART, SLEEP, WAKE
from services.power.allocator import (
    AllocatorSettings,
    MinerHistory,
    MinerInput,
    MinerSetting,
    PowerAllocator,
    nominal_power,
    record_commands,
)
from services.power.model_power import lookup_model, mode_fractions, mode_watts

NOW = 1_000_000.0
WM, S19, CG = "10.0.0.10", "10.0.0.11", "10.0.0.30"
AXES = [f"10.0.0.{20 + i}" for i in range(4)]

WHATSMINER = MinerInput(WM, "whatsminer", "WhatsMiner M30S+_VE40", True,
                        frozenset({RESTART, SLEEP, WAKE, POWER_WATTS, POWER_PERCENT}), (), 3400.0, 100e12)  # 34 J/TH
# Worn S19: 3250 W for 80 TH/s = 40.6 J/TH, the least efficient miner of the fleet.
ANTMINER = MinerInput(S19, "antminer", "Antminer S19", True, frozenset({RESTART, SLEEP, WAKE, MODE}),
                      ("sleep", "low", "normal"), 3250.0, 80e12)
BITAXES = [MinerInput(ip, "bitaxe", "BM1366", True, frozenset({RESTART, SLEEP, WAKE, MODE}),
                      ("eco", "standard", "turbo"), 12.0, 0.5e12) for ip in AXES]  # 24 J/TH
CGMINER = MinerInput(CG, "cgminer", None, True, frozenset({RESTART}), (), None, 1e9)
FLEET = [WHATSMINER, ANTMINER, *BITAXES, CGMINER]
RATED = 3400 + 3250 + 4 * 12 + 5  # cgminer USB stick: 5 W from the table


def plan_for(fleet=FLEET, history=None, settings=None, **target):
    return PowerAllocator(settings).allocate(fleet, history or {}, NOW, **target)


def actions(plan) -> dict[str, list[tuple[str, object]]]:
    result: dict[str, list[tuple[str, object]]] = {}
    for s in plan.settings:
        result.setdefault(s.ip, []).append((s.action, s.value))
    return result


def axes(*items):
    return {ip: list(items) for ip in AXES}


@pytest.mark.parametrize("percent, expected_actions, expected_w", [
    # 0 %: everything that can sleep sleeps; the cgminer stick cannot and keeps its 5 W.
    (0, {WM: [("sleep", None)], S19: [("sleep", None)], **axes(("sleep", None))}, 5.0),
    # 10 % = 670 W: the sum of minimums (1020 + 2437.5 + 4 x 8.4 W) is far above it, the S19
    # (least efficient) goes first, then the Whatsminer (its 1020 W minimum still does not fit).
    (10, {WM: [("sleep", None)], S19: [("sleep", None)], **axes(("set_mode", "standard"))}, 53.0),
    # 50 % = 3351.5 W: the S19 goes off; the Whatsminer takes what the Bitaxes' eco mode leaves,
    # in whole watts rounded down (3312.9 -> 3312).
    (50, {WM: [("set_power_watts", 3312)], S19: [("sleep", None)], **axes(("set_mode", "eco"))}, 3350.6),
    (100, {WM: [("set_power_watts", 3400)], S19: [("set_mode", "normal")], **axes(("set_mode", "standard"))},
     float(RATED)),
])
def test_mixed_fleet_targets(percent, expected_actions, expected_w):
    plan = plan_for(target_percent=percent)
    assert plan.rated_w == RATED
    assert plan.target_w == pytest.approx(RATED * percent / 100, abs=0.1)
    assert actions(plan) == expected_actions
    assert plan.expected_w == pytest.approx(expected_w, abs=0.1)
    assert plan.expected_w <= plan.target_w + 5.0 + 0.1  # never above target beyond the unswitchable stick
    cg = plan.explanation(CG)
    assert "cannot be throttled or switched" in cg and "always-on" in cg
    assert CG not in actions(plan)


def test_settings_sorted_and_deterministic():
    shuffled = list(FLEET)
    random.Random(4).shuffle(shuffled)
    first, second = plan_for(target_percent=50), plan_for(fleet=shuffled, target_percent=50)
    assert first == second
    keys = [tuple(int(x) for x in s.ip.split(".")) for s in first.settings]
    assert keys == sorted(keys)
    assert [m.ip for m in first.miners] == [WM, S19, *AXES, CG]


@pytest.mark.parametrize("s19_hashrate, switched_off", [
    (80e12, S19),  # S19 at 40.6 J/TH is the least efficient: it goes off
    (110e12, WM),  # S19 at 29.5 J/TH beats the Whatsminer's 34 J/TH: the Whatsminer goes off
])
def test_below_sum_of_minimums_least_efficient_off_first(s19_hashrate, switched_off):
    fleet = [WHATSMINER, replace(ANTMINER, hashrate_hs=s19_hashrate), *BITAXES, CGMINER]
    plan = plan_for(fleet=fleet, target_w=3000)  # minimums: 1020 + 2437.5 + 33.6 W > 3000 W
    assert actions(plan)[switched_off] == [("sleep", None)]
    assert "least efficient" in plan.explanation(switched_off)
    kept = WM if switched_off == S19 else S19
    assert ("sleep", None) not in actions(plan).get(kept, [])
    assert plan.expected_w <= 3000


def test_discrete_miners_step_up_into_slack_nobody_else_can_take():
    # S19 stays at "low" (normal would not fit); the Bitaxes then take standard with the slack.
    fleet = [replace(WHATSMINER, online=False), ANTMINER, *BITAXES]
    plan = plan_for(fleet=fleet, target_w=2500)
    assert actions(plan)[S19] == [("set_mode", "low")]
    assert all(actions(plan)[ip] == [("set_mode", "standard")] for ip in AXES)
    assert plan.expected_w == pytest.approx(2437.5 + 48)


def test_offline_miners_skipped_and_counted_as_zero():
    fleet = [replace(WHATSMINER, online=False), ANTMINER, *BITAXES, CGMINER]
    plan = plan_for(fleet=fleet, target_percent=100)
    assert WM not in actions(plan)
    assert "offline" in plan.explanation(WM)
    assert plan.rated_w == RATED - 3400
    assert next(m for m in plan.miners if m.ip == WM).expected_w == 0.0
    assert plan.expected_w == pytest.approx(RATED - 3400)


def test_only_deltas_are_emitted():
    first = plan_for(target_percent=50)
    history = record_commands({}, first.settings, NOW - 3600)  # executed an hour ago: outside every timer
    again = plan_for(history=history, target_percent=50)
    assert again.settings == ()
    assert "unchanged (3312)" in again.explanation(WM)
    # A small move of the target stays inside the Whatsminer's deadband (2 % of 3400 W = 68 W).
    assert plan_for(history=history, target_w=3351.5 + 40).settings == ()
    lower = plan_for(history=history, target_w=3351.5 - 40)
    assert lower.settings == ()
    assert next(m for m in lower.miners if m.ip == WM).expected_w == 3312  # counted at the setpoint it keeps
    # A real change sends only the Whatsminer's new limit.
    moved = plan_for(history=history, target_w=3351.5 - 500)
    assert actions(moved) == {WM: [("set_power_watts", 2812)]}


def test_wake_then_level_when_switching_on():
    history = {S19: MinerHistory(on=False, level_action="set_mode", level_value="low",
                                 last_command_ts=NOW - 3600, last_switch_ts=NOW - 3600)}
    plan = plan_for(fleet=[replace(ANTMINER, power_w=None, hashrate_hs=0.0)], history=history, target_percent=100)
    assert [(s.action, s.value) for s in plan.settings] == [("wake", None), ("set_mode", "normal")]


def test_minimum_on_time_refuses_to_switch_off():
    history = {S19: MinerHistory(on=True, last_command_ts=NOW - 400, last_switch_ts=NOW - 400)}
    plan = plan_for(history=history, target_percent=0)
    assert ("sleep", None) not in actions(plan).get(S19, [])
    assert actions(plan)[S19] == [("set_mode", "low")]  # kept on, at its lowest setting
    assert "minimum on-time: on for 6:40 of 10:00" in plan.explanation(S19)
    assert actions(plan)[WM] == [("sleep", None)]
    # Once the on-time has passed, it may go off.
    later = {S19: replace(history[S19], last_command_ts=NOW - 700, last_switch_ts=NOW - 700)}
    assert actions(plan_for(history=later, target_percent=0))[S19] == [("sleep", None)]


def test_minimum_off_time_refuses_to_switch_on():
    history = {WM: MinerHistory(on=False, last_command_ts=NOW - 400, last_switch_ts=NOW - 400)}
    fleet = [replace(WHATSMINER, power_w=None, hashrate_hs=0.0), ANTMINER, *BITAXES, CGMINER]
    plan = plan_for(fleet=fleet, history=history, target_percent=100)
    assert WM not in actions(plan)
    assert "minimum off-time: off for 6:40 of 10:00" in plan.explanation(WM)
    assert actions(plan)[S19] == [("set_mode", "normal")]
    later = {WM: replace(history[WM], last_command_ts=NOW - 700, last_switch_ts=NOW - 700)}
    assert actions(plan_for(fleet=fleet, history=later, target_percent=100))[WM] == [
        ("wake", None), ("set_power_watts", 3400)]


def test_grace_window_freezes_a_recently_commanded_miner():
    # Commanded to 2000 W a minute ago; its reading looks "off" (recalibrating), which is expected.
    history = {WM: MinerHistory(on=True, level_action="set_power_watts", level_value=2000, last_command_ts=NOW - 60,
                                last_switch_ts=NOW - 7200)}
    fleet = [replace(WHATSMINER, power_w=0.0, hashrate_hs=0.0), ANTMINER, *BITAXES, CGMINER]
    plan = plan_for(fleet=fleet, history=history, target_percent=100)
    assert WM not in actions(plan)
    assert "grace window: commanded 1:00 ago (grace 5:00)" in plan.explanation(WM)
    # It is counted at its commanded 2000 W, not at the 0 W it reads.
    assert next(m for m in plan.miners if m.ip == WM).expected_w == 2000.0
    # Outside the window it is commanded again.
    late = {WM: replace(history[WM], last_command_ts=NOW - 301)}
    assert actions(plan_for(fleet=fleet, history=late, target_percent=100))[WM] == [("set_power_watts", 3400)]


def test_grace_window_from_settings():
    history = {WM: MinerHistory(on=True, level_action="set_power_watts", level_value=2000, last_command_ts=NOW - 60)}
    plan = plan_for(fleet=[WHATSMINER], history=history, settings=AllocatorSettings(grace_sec=30), target_percent=100)
    assert actions(plan) == {WM: [("set_power_watts", 3400)]}


@pytest.mark.parametrize("overrides, caps, target_w, expected", [
    ({}, None, 10_000, [("set_power_watts", 3400)]),  # clamped to max (nominal)
    ({"max_w": 3000}, None, 10_000, [("set_power_watts", 3000)]),  # max override
    ({}, None, 2000, [("set_power_watts", 2000)]),
    ({}, None, 500, [("sleep", None)]),  # below its 1020 W minimum: off
    # No sleep: cannot go off, so clamped up to its minimum (30 % of nominal, or the override).
    ({}, frozenset({POWER_WATTS}), 500, [("set_power_watts", 1020)]),
    ({"min_w": 1500}, frozenset({POWER_WATTS}), 500, [("set_power_watts", 1500)]),
    ({"nominal_w": 3600}, None, 10_000, [("set_power_watts", 3600)]),  # nominal override
])
def test_clamping_to_min_and_max(overrides, caps, target_w, expected):
    miner = replace(WHATSMINER, **overrides, **({"capabilities": caps} if caps else {}))
    plan = plan_for(fleet=[miner], target_w=target_w)
    assert [(s.action, s.value) for s in plan.settings] == expected
    if caps:
        assert "kept at its lowest setting" in plan.explanation(WM)


@pytest.mark.parametrize("percent, expected", [(60, 60), (100, 100), (35, 35), (10, 30)])
def test_percent_only_miner(percent, expected):
    miner = replace(WHATSMINER, capabilities=frozenset({POWER_PERCENT}))  # cannot sleep: held at its 30 % minimum
    plan = plan_for(fleet=[miner], target_percent=percent)
    assert [(s.action, s.value) for s in plan.settings] == [("set_power_percent", expected)]


def test_on_off_only_miner_is_a_whole_load():
    miner = MinerInput("10.0.0.40", "avalon", "Avalon Nano 3S", True, frozenset({SLEEP, WAKE}), (), 140.0, 6e12)
    assert [(s.action, s.value) for s in plan_for(fleet=[miner], target_w=100).settings] == [("sleep", None)]
    plan = plan_for(fleet=[miner], target_w=150)
    assert plan.settings == () and plan.expected_w == 140.0  # already on: nothing to send


def test_unknown_power_is_not_commanded():
    miner = MinerInput("10.0.0.50", "braiins", "Mystery 9000", True, frozenset({POWER_WATTS, SLEEP, WAKE}))
    plan = plan_for(fleet=[miner], target_percent=50)
    assert plan.settings == ()
    assert "no nominal power known" in plan.explanation("10.0.0.50")


def test_target_arguments_validated():
    with pytest.raises(ValueError):
        PowerAllocator().allocate(FLEET, {}, NOW)
    with pytest.raises(ValueError):
        PowerAllocator().allocate(FLEET, {}, NOW, target_w=1, target_percent=1)


def test_record_commands_tracks_switches_and_levels():
    done = [MinerSetting(WM, "wake", None, ""), MinerSetting(WM, "set_power_watts", 2000, ""),
            MinerSetting(S19, "sleep", None, "")]
    history = record_commands({S19: MinerHistory(on=False, last_switch_ts=5.0)}, done, NOW)
    assert history[WM] == MinerHistory(on=True, level_action="set_power_watts", level_value=2000,
                                       last_command_ts=NOW, last_switch_ts=NOW)
    # Sleeping a miner already recorded as off is not a new switch.
    assert history[S19].last_switch_ts == 5.0 and history[S19].last_command_ts == NOW
    assert MinerSetting(WM, "set_mode", "eco", "").args == ("eco",)
    assert MinerSetting(WM, "sleep", None, "").args == ()


@pytest.mark.parametrize("family, model, name, nominal", [
    ("antminer", "Antminer S19", "Antminer S19", 3250),
    ("antminer", "Antminer S19 Pro", "Antminer S19 Pro", 3250),
    ("antminer", "Antminer S19j Pro", "Antminer S19j Pro", 3050),
    ("antminer", "Antminer S9", "Antminer S9", 1323),
    ("luxos", "Antminer S19k Pro", "Antminer S19k Pro", 2760),
    ("braiins", "Antminer S19 XP", "Antminer S19 XP", 3010),
    ("vnish", "Antminer L7 (Vnish 1.2.0-rc4)", "Antminer L7", 3425),
    ("antminer", "Antminer L3+", "Antminer L3+", 800),
    ("whatsminer", "WhatsMiner M30S+_VE40", "Whatsminer M30S+", 3400),
    ("whatsminer", "M60S_VK10", "Whatsminer M60S", 3300),
    ("bitaxe", "BM1370", "Bitaxe Gamma", 17),
    ("bitaxe", "NerdQAxe++", "NerdQAxe++", 70),
    ("avalon", "Avalon Nano 3S", "Avalon Nano 3S", 140),
    ("avalon", "Avalon Q", "Avalon Q", 1674),
    ("cgminer", None, "cgminer USB stick", 5),
])
def test_model_table(family, model, name, nominal):
    row = lookup_model(family, model)
    assert row is not None and row.name == name and row.nominal_w == nominal and row.source


def test_model_table_misses_and_mode_fractions():
    assert lookup_model("braiins", "Mystery 9000") is None
    assert mode_fractions("antminer", ("sleep", "low", "normal")) == {"sleep": 0.0, "low": 0.75, "normal": 1.0}
    assert mode_fractions("avalon", ("low", "high")) == {"low": 1.0, "high": 1.1}  # A-series
    assert mode_fractions("vnish", ("quiet", "loud")) == {"quiet": 0.5, "loud": 1.0}  # unknown names: even spread
    assert mode_fractions("vnish", ("1400", "2900W")) == {}
    assert mode_watts("2900W") == 2900 and mode_watts("balanced") is None


def test_modes_named_by_watts():
    miner = MinerInput("10.0.0.60", "vnish", "Antminer S19", True, frozenset({MODE, SLEEP, WAKE}),
                       ("1400", "2200", "3200"), 3200.0, 95e12)
    assert [(s.action, s.value) for s in plan_for(fleet=[miner], target_w=2500).settings] == [("set_mode", "2200")]


def test_watt_steps_are_planned_as_steps():
    # Vnish 1.x L7 (autotune presets 2700/3000/3400 W): a target between two presets gets the one below,
    # never a watt figure under the lowest preset (the driver refuses it: "no Vnish preset at or below").
    l7 = MinerInput("10.0.0.70", "vnish", "Antminer L7", True, frozenset({SLEEP, WAKE, POWER_WATTS, MODE}),
                    ("disabled", "2700", "3000", "3400"), 3400.0, 9.3e9, power_steps_w=(2700.0, 3000.0, 3400.0))
    assert [(s.action, s.value) for s in plan_for(fleet=[l7], target_w=3200).settings] == [("set_power_watts", 3000)]
    assert [(s.action, s.value) for s in plan_for(fleet=[l7], target_w=1600).settings] == [("sleep", None)]
    # Two L7s and a continuous Whatsminer: the stepped miners take whole presets, the Whatsminer the rest.
    l7b = replace(l7, ip="10.0.0.71")
    plan = plan_for(fleet=[WHATSMINER, l7, l7b], target_w=8000)
    stepped = {s.ip: s.value for s in plan.settings if s.ip != WM}
    assert set(stepped) == {l7.ip, l7b.ip} and set(stepped.values()) <= {2700, 3000, 3400}
    assert 8000 - 1 <= plan.expected_w <= 8000
    # A per-miner min_w above a step leaves that step out.
    floored = replace(l7, min_w=2800.0)
    assert [(s.action, s.value) for s in plan_for(fleet=[floored], target_w=2900).settings] == [("sleep", None)]


def test_sleep_forgets_the_level_so_a_wake_sends_it_again():
    # Stock Antminer X19 wakes in "normal" whatever mode it slept from: after a sleep the level is unknown.
    low = {S19: MinerHistory(on=True, level_action="set_mode", level_value="low", last_command_ts=1.0,
                             last_switch_ts=1.0)}
    slept = record_commands(low, [MinerSetting(S19, "sleep", None, "")], NOW)
    assert slept[S19].level_action is None and slept[S19].level_value is None and slept[S19].on is False
    woken = plan_for(fleet=[ANTMINER], history=slept, target_w=2500, immediate=True)
    assert [(s.action, s.value) for s in woken.settings] == [("wake", None), ("set_mode", "low")]


def test_nominal_from_a_reading_only_while_hashing():
    # LuxOS on a model missing from the table, read while curtailed: 16 W is no nominal power.
    mystery = MinerInput("10.0.0.80", "luxos", "Antminer X99", True, frozenset({SLEEP, WAKE, POWER_WATTS}),
                         (), 16.0, 0.0)
    assert nominal_power(mystery)[0] is None
    assert plan_for(fleet=[mystery], target_w=1000).settings == ()
    assert nominal_power(replace(mystery, power_w=3100.0, hashrate_hs=100e12))[0] == 3100.0


def test_miner_input_from_a_fleet_record():
    from types import SimpleNamespace

    from miners.base import MinerStatus
    from services.power.allocator import miner_input

    driver = SimpleNamespace(capabilities=frozenset({SLEEP, WAKE, MODE}), modes=("sleep", "low", "normal"),
                             power_steps_w=())
    record = SimpleNamespace(ip=S19, family="antminer", model="Antminer S19", online=True, last_seen_ts=NOW - 30,
                             driver=driver, status=MinerStatus(power_w=3100.0, hashrate_hs=90e12, model="Antminer S19j Pro"))
    made = miner_input(record, NOW, 120, {"max_w": 3000})
    assert made == MinerInput(S19, "antminer", "Antminer S19j Pro", True, frozenset({SLEEP, WAKE, MODE}),
                              ("sleep", "low", "normal"), 3100.0, 90e12, None, None, 3000)
    assert miner_input(record, NOW + 200, 120).online is False  # stale reading: offline for the allocator
    assert miner_input(replace_ns(record, online=False), NOW, 120).online is False


def replace_ns(ns, **changes):
    from types import SimpleNamespace
    return SimpleNamespace(**{**vars(ns), **changes})


def test_a_miner_that_cannot_sleep_reading_zero_is_still_commanded():
    miner = replace(WHATSMINER, capabilities=frozenset({POWER_WATTS}), power_w=0.0, hashrate_hs=0.0)
    plan = plan_for(fleet=[miner], target_w=2000)
    assert [(s.action, s.value) for s in plan.settings] == [("set_power_watts", 2000)]


def test_plan_to_dict():
    data = plan_for(target_percent=0).to_dict()
    assert data["target_w"] == 0.0 and data["expected_w"] == 5.0
    assert {"ip": WM, "action": "sleep", "value": None} == {k: data["settings"][0][k] for k in ("ip", "action", "value")}
    assert [m["ip"] for m in data["miners"]] == [WM, S19, *AXES, CG]


def test_urgent_stop_overrides_grace_and_minimum_on_time():
    history = {WM: MinerHistory(on=True, level_action="set_power_watts", level_value=2000, last_command_ts=NOW - 60,
                                last_switch_ts=NOW - 60),
               S19: MinerHistory(on=True, last_command_ts=NOW - 400, last_switch_ts=NOW - 400)}
    held = plan_for(history=history, target_percent=0)
    assert WM not in actions(held) and actions(held)[S19] == [("set_mode", "low")]
    plan = plan_for(history=history, target_percent=0, urgent=True)
    assert actions(plan) == {WM: [("sleep", None)], S19: [("sleep", None)], **axes(("sleep", None))}
    assert "urgent stop: grace window overridden" in plan.explanation(WM)
    assert "urgent stop: minimum on-time overridden" in plan.explanation(S19)
    assert plan.expected_w == 5.0


def test_modes_stay_while_a_settling_watt_miner_will_absorb_the_slack():
    # A dispatch 60 s ago set the Whatsminer to 2000 W (grace window) and the Bitaxes to eco. The slack
    # of 20 W would step every Bitaxe up a mode now, and the Whatsminer would give it back once free:
    # the modes stay (one command wave per dispatch, not a second one at the next poll).
    eco = MinerHistory(on=True, level_action="set_mode", level_value="eco", last_command_ts=NOW - 3600,
                       last_switch_ts=NOW - 3600)
    history = {WM: MinerHistory(on=True, level_action="set_power_watts", level_value=2000, last_command_ts=NOW - 60,
                                last_switch_ts=NOW - 3600), **{ip: eco for ip in AXES}}
    plan = plan_for(fleet=[WHATSMINER, *BITAXES], history=history, target_w=2000 + 4 * 8.4 + 20)
    assert plan.settings == ()
    # Without a watt miner to absorb it (none settling either), the slack steps the Bitaxes up.
    free = plan_for(fleet=BITAXES, history={ip: eco for ip in AXES}, target_w=4 * 8.4 + 20)
    assert {s.value for s in free.settings} == {"standard"}


def test_lowest_failsafe_stage():
    off_axe = replace(BITAXES[0], power_w=0.0, hashrate_hs=0.0)
    history = {AXES[0]: MinerHistory(on=False, last_switch_ts=NOW - 3600)}
    plan = plan_for(fleet=[WHATSMINER, ANTMINER, off_axe, *BITAXES[1:], CGMINER], history=history,
                    target_percent=100, lowest=True)
    assert actions(plan) == {WM: [("set_power_watts", 1020)], S19: [("set_mode", "low")],
                             **{ip: [("set_mode", "eco")] for ip in AXES[1:]}}
    assert "fail-safe: stays off" in plan.explanation(AXES[0])


def test_pinned_miner_is_outside_the_budget():
    plan = plan_for(target_w=4000, pinned_percent={S19: 100, AXES[0]: 0})
    got = actions(plan)
    assert got[S19] == [("set_mode", "normal")] and got[AXES[0]] == [("sleep", None)]
    assert "manual override 100 %" in plan.explanation(S19)
    # The rest share 4000 - 3250 - 5 W: the Whatsminer is below its 1020 W minimum and goes off.
    assert got[WM] == [("sleep", None)]
    assert plan.expected_w == pytest.approx(3250 + 5 + 3 * 12)


@pytest.mark.parametrize("seed", range(20))
def test_random_fleets_never_exceed_the_target_when_every_miner_can_sleep(seed):
    rng = random.Random(seed)
    templates = [WHATSMINER, ANTMINER, BITAXES[0],
                 replace(WHATSMINER, capabilities=frozenset({POWER_PERCENT, SLEEP, WAKE})),
                 MinerInput("x", "avalon", "Avalon Q", True, frozenset({MODE, SLEEP, WAKE}), ("low", "medium", "high"),
                            1674.0, 90e12),
                 MinerInput("x", "avalon", "Avalon Nano 3S", True, frozenset({SLEEP, WAKE}), (), 140.0, 6e12)]
    fleet = [replace(rng.choice(templates), ip=f"10.1.0.{i}", hashrate_hs=rng.uniform(0.3, 1.5) * 1e12 * 50)
             for i in range(1, rng.randint(2, 9))]
    allocator = PowerAllocator()
    for percent in (0, 5, 17, 33, 50, 71, 90, 100):
        plan = allocator.allocate(fleet, {}, NOW, target_percent=percent)
        assert plan.expected_w <= plan.target_w + 1e-6
        assert plan == allocator.allocate(list(reversed(fleet)), {}, NOW, target_percent=percent)
    assert allocator.allocate(fleet, {}, NOW, target_percent=100).expected_w == pytest.approx(plan.rated_w)


def test_mode_miners_keep_their_mode_while_a_watts_miner_absorbs_the_change():
    """Sticky modes: a Bitaxe in "standard" is not flipped to "eco" for a few watts the Whatsminer can take."""
    fleet = [WHATSMINER, *BITAXES]
    old = 30 * 60
    history = {WM: MinerHistory(on=True, level_action="set_power_watts", level_value=3000, last_command_ts=NOW - old,
                                last_switch_ts=NOW - old),
               **{ip: MinerHistory(on=True, level_action="set_mode", level_value="standard", last_command_ts=NOW - old,
                                   last_switch_ts=NOW - old) for ip in AXES}}
    # Without history a 60 % share puts every Bitaxe in eco (0.7 x 12 W is the highest mode at or below 7.2 W).
    fresh = plan_for(fleet=fleet, target_percent=60)
    assert all(actions(fresh)[ip] == [("set_mode", "eco")] for ip in AXES)
    plan = plan_for(fleet=fleet, history=history, target_percent=60)
    rated = 3400 + 4 * 12
    assert actions(plan) == {WM: [("set_power_watts", int(0.6 * rated - 4 * 12))]}
    assert all("unchanged (standard)" in plan.explanation(ip) for ip in AXES)
    # When the Whatsminer cannot take the difference (its minimum is above what is left) the modes move.
    low = plan_for(fleet=fleet, history=history, target_w=1060)  # 1020 W minimum + 4 x 8.4 W eco fits, standard not
    assert all(actions(low)[ip] == [("set_mode", "eco")] for ip in AXES)


def test_a_settling_miner_does_not_switch_others_off():
    """The Whatsminer in its grace window overshoots a lower target; the Bitaxes stay on at their lowest mode."""
    fleet = [WHATSMINER, *BITAXES]
    history = {WM: MinerHistory(on=True, level_action="set_power_watts", level_value=3400, last_command_ts=NOW - 60,
                                last_switch_ts=NOW - 3600),
               **{ip: MinerHistory(on=True, level_action="set_mode", level_value="standard",
                                   last_command_ts=NOW - 3600, last_switch_ts=NOW - 3600) for ip in AXES}}
    plan = plan_for(fleet=fleet, history=history, target_w=2500)
    assert WM not in actions(plan)
    assert all(actions(plan)[ip] == [("set_mode", "eco")] for ip in AXES)
    assert f"not switched off while {WM} settles" in plan.explanation(AXES[0])
    # In an emergency nothing waits.
    urgent = plan_for(fleet=fleet, history=history, target_w=0, urgent=True)
    assert all(actions(urgent)[ip] == [("sleep", None)] for ip in [WM, *AXES])


def test_immediate_overrides_every_timer_for_a_new_dispatch():
    """An EMS activation a minute after a deactivation: grace and minimum off-time do not hold the miners off."""
    history = {ip: MinerHistory(on=False, last_command_ts=NOW - 60, last_switch_ts=NOW - 60) for ip in [WM, *AXES]}
    fleet = [replace(WHATSMINER, power_w=0.0, hashrate_hs=0.0), *(replace(b, power_w=0.0, hashrate_hs=0.0) for b in BITAXES)]
    held = plan_for(fleet=fleet, history=history, target_w=2000, urgent=True)
    assert held.settings == ()  # grace window: frozen off
    plan = plan_for(fleet=fleet, history=history, target_w=2000, urgent=True, immediate=True)
    assert actions(plan)[WM] == [("wake", None), ("set_power_watts", 1966)]  # 2000 W - 4 Bitaxes in eco (8.4 W)
    assert "new dispatch: grace window and minimum on/off times overridden" in plan.explanation(WM)
