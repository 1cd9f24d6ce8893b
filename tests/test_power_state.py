"""What survives a restart (latch, emergency, overrides, last change, timers) and the precedence of overrides."""

import json

import pytest

from services.config import AutocontrolConfig
from services.power import STATE_KEY, BatterySample, ControllerState, DictStore, Override, PowerController

T0 = 1_780_315_200.0  # 2026-06-01 12:00 UTC: day with the fixed sun times


def cfg(**kw) -> AutocontrolConfig:
    base = dict(enabled=True)
    base.update(kw)
    return AutocontrolConfig(**base)


def tick(ctl, t, soc, **kw):
    return ctl.tick(BatterySample(soc, measured_at=T0 + t), T0 + t, **kw)


class CountingStore(DictStore):
    def __init__(self):
        super().__init__()
        self.writes = 0

    def set(self, key, value):
        self.writes += 1
        super().set(key, json.loads(json.dumps(value)))  # what SQLite would give back


def test_state_json_round_trip():
    st = ControllerState(enabled=True, policy="surplus", cap_percent=40, emergency=True, applied_percent=10,
                         last_change_at=T0, stale_since=T0 + 1, enable_since=T0 + 2, disable_since=None,
                         last_probe_at=T0 + 3, override=Override(70, T0 + 3600, T0, "admin"),
                         miner_overrides={"10.0.0.5": Override(0, None, T0, "api")})
    data = json.loads(json.dumps(st.to_json()))
    assert ControllerState.from_json(data) == st


@pytest.mark.parametrize("data", [None, {}, {"unknown": 1, "cap_percent": 50}, "garbage"])
def test_from_json_tolerates_old_or_odd_data(data):
    st = ControllerState.from_json(data)
    assert isinstance(st, ControllerState)


def test_restart_continues_the_latch():
    store = CountingStore()
    first = PowerController(cfg(min_interval_sec=0), store)
    assert tick(first, 0, 54).target_percent == 60
    assert tick(first, 60, 80).target_percent == 60  # latched
    assert store.get(STATE_KEY)["cap_percent"] == 60
    second = PowerController(cfg(min_interval_sec=0), store)  # the app restarts
    d = tick(second, 120, 80)
    assert (d.target_percent, d.cap_percent) == (60, 60) and "latched at 60%" in d.reason
    assert tick(second, 180, 100).target_percent == 100


def test_restart_keeps_the_emergency_and_the_interval():
    store = DictStore()
    first = PowerController(cfg(min_interval_sec=120), store)
    tick(first, 0, 25)
    second = PowerController(cfg(min_interval_sec=120), store)
    d = tick(second, 60, 50)
    assert d.emergency and d.target_percent == 0
    third = PowerController(cfg(min_interval_sec=120), store)
    d = tick(third, 100, 100)  # full: the latch resets, but raising power waits for the interval
    assert not d.emergency and d.cap_percent == 100
    assert d.target_percent == 0 and d.timers[0].text == "raising to 100% in 0:20"
    assert tick(third, 120, 100).target_percent == 100


def test_restart_keeps_the_interval_timer():
    store = DictStore()
    first = PowerController(cfg(min_interval_sec=120), store)
    tick(first, 0, 54)
    second = PowerController(cfg(min_interval_sec=120), store)
    d = tick(second, 30, 45)
    assert d.target_percent == 60 and d.timers[0].text == "lowering to 50% in 1:30"


def test_saved_enabled_and_policy_win_over_config():
    store = DictStore()
    first = PowerController(cfg(enabled=False), store)
    first.set_enabled(True)
    first.set_policy("surplus")
    second = PowerController(cfg(enabled=False, policy="ratchet"), store)
    assert (second.state.enabled, second.state.policy) == (True, "surplus")
    with pytest.raises(ValueError):
        second.set_policy("random")


def test_store_is_written_only_on_change():
    store = CountingStore()
    ctl = PowerController(cfg(min_interval_sec=0), store)
    tick(ctl, 0, 54)
    writes = store.writes
    for t in range(30, 300, 30):
        tick(ctl, t, 55)
    assert store.writes == writes


def test_override_precedence_and_expiry():
    ctl = PowerController(cfg(min_interval_sec=120), DictStore())
    tick(ctl, 0, 54)
    ctl.set_override(80, until=T0 + 600, by="admin", now=T0 + 5)
    d = tick(ctl, 10, 54)
    assert (d.target_percent, d.source) == (80, "override") and "manual override 80%" in d.reason
    d = tick(ctl, 20, 54, ems_percent=30)
    assert (d.target_percent, d.source) == (80, "override")
    # a restart keeps the override and its expiry
    ctl2 = PowerController(cfg(min_interval_sec=120), ctl.store)
    assert tick(ctl2, 300, 54).target_percent == 80
    d = tick(ctl2, 600, 54)  # expired: back to the policy
    assert d.source == "policy" and "override 80% expired" in d.reason and ctl2.state.override is None
    assert d.target_percent == 60


def test_safety_beats_override_and_ems_beats_policy():
    ctl = PowerController(cfg(min_interval_sec=120), DictStore())
    tick(ctl, 0, 54)
    d = tick(ctl, 10, 54, ems_percent=30)
    assert (d.target_percent, d.source) == (30, "ems")
    ctl.set_override(100, now=T0 + 15)
    d = tick(ctl, 20, 25)
    assert (d.target_percent, d.source) == (0, "safety") and d.emergency
    d = tick(ctl, 30, 54, overheating=True)
    assert (d.target_percent, d.source) == (0, "safety")


def test_override_validation_and_miner_overrides():
    ctl = PowerController(cfg(), DictStore())
    with pytest.raises(ValueError):
        ctl.set_override(120, now=T0)
    with pytest.raises(ValueError):
        ctl.set_override(50, until=T0 - 1, now=T0)
    ctl.set_override(0, miner="10.0.0.5", until=T0 + 60, now=T0)
    assert "10.0.0.5" in ctl.status()["miner_overrides"]
    tick(ctl, 61, 54)
    assert ctl.state.miner_overrides == {}
    ctl.set_override(50, now=T0 + 70)
    ctl.clear_override()
    assert ctl.state.override is None


def test_switching_on_applies_the_next_decision_at_once():
    ctl = PowerController(cfg(enabled=False, min_interval_sec=120), DictStore())
    tick(ctl, 0, 54)
    ctl.set_enabled(True)
    d = tick(ctl, 10, 45)  # within the interval, but nothing was applied while off
    assert d.enabled and d.target_percent == 50


def test_status_has_the_same_keys_before_and_after_the_first_tick():
    ctl = PowerController(cfg(), DictStore())
    before = ctl.status()
    tick(ctl, 0, 54)
    after = ctl.status()
    assert set(before) == set(after)
    assert before["target_percent"] is None and after["target_percent"] == 60
