"""MinerFactsTracker: what the rules see of each miner (offline since when, the 1-hour average hashrate)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from services.control.facts import AVERAGE_TAU_SEC, MinerFactsTracker


def record(ip: str, hashrate: float | None, last_seen: float = 0.0, temp: float = 60.0):
    status = None if hashrate is None else SimpleNamespace(hashrate_hs=hashrate, temp_c=temp)
    return SimpleNamespace(ip=ip, name=f"m{ip[-1]}", family="bitaxe", status=status, last_seen_ts=last_seen)


def test_offline_since_is_the_last_good_read_and_clears_when_back():
    tracker = MinerFactsTracker()
    facts = tracker.update([record("10.0.0.1", 1e12, last_seen=100.0)], 130.0, fresh=[])
    assert facts["10.0.0.1"].online is False and facts["10.0.0.1"].offline_since == 100.0
    assert facts["10.0.0.1"].temp_c is None  # a stale reading is not a temperature now
    facts = tracker.update([record("10.0.0.1", 1e12, last_seen=160.0)], 160.0, fresh=["10.0.0.1"])
    assert facts["10.0.0.1"].online is True and facts["10.0.0.1"].offline_since is None


def test_the_average_is_judged_before_this_tick_and_follows_an_hour_constant():
    tracker = MinerFactsTracker()
    ip = "10.0.0.1"
    assert tracker.update([record(ip, 100.0)], 0.0, fresh=[ip])[ip].avg_1h_hs is None  # no history yet
    assert tracker.update([record(ip, 100.0)], 30.0, fresh=[ip])[ip].avg_1h_hs == 100.0
    # half the hashrate now (a board lost): judged against the old average, which then moves a little
    facts = tracker.update([record(ip, 50.0)], 60.0, fresh=[ip])[ip]
    assert (facts.hashrate_hs, facts.avg_1h_hs) == (50.0, 100.0)
    later = tracker.update([record(ip, 50.0)], 90.0, fresh=[ip])[ip].avg_1h_hs
    assert later == pytest.approx(100.0 - 50.0 * (1 - math.exp(-30.0 / AVERAGE_TAU_SEC)))
    # asleep (0 H/s) is skipped: the average keeps, and forgotten miners are dropped
    asleep = tracker.update([record(ip, 0.0)], 120.0, fresh=[ip])[ip].avg_1h_hs
    assert asleep == pytest.approx(later - (later - 50.0) * (1 - math.exp(-30.0 / AVERAGE_TAU_SEC)))
    assert tracker.update([record(ip, 0.0)], 3600.0, fresh=[ip])[ip].avg_1h_hs == asleep
    tracker.update([], 150.0)
    assert tracker.update([record(ip, 80.0)], 180.0, fresh=[ip])[ip].avg_1h_hs is None


def test_the_tags_are_the_miners_own_for_rule_targets():
    tracker = MinerFactsTracker()
    tagged = SimpleNamespace(**vars(record("10.0.0.1", 1e12)), tags=("shed", "solar"))
    facts = tracker.update([tagged, record("10.0.0.2", 1e12)], 0.0, fresh=["10.0.0.1", "10.0.0.2"])
    assert facts["10.0.0.1"].tags == ("shed", "solar") and facts["10.0.0.2"].tags == ()
