"""RuleBook: config + API rules in order, persistence in the state store, writes only on change, thread safety."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from services.power.state import DictStore
from services.rules import RuleBook, RuleConflict, RuleContext, RuleError, UnknownRule, parse_rules
from services.rules.book import API_KEY, STATE_KEY

TZ = timezone.utc
NOON = datetime(2024, 6, 3, 12, tzinfo=TZ)
CONFIG_RULES = parse_rules([{"name": "stop-when-dear", "when": {"price_above": 30}, "then": {"action": "sleep"}}])


class CountingStore(DictStore):
    """A DictStore that counts writes per key (the SD card's view)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: dict[str, int] = {}

    def set(self, key, value):
        self.writes[key] = self.writes.get(key, 0) + 1
        super().set(key, value)


def ctx(local=NOON, price=None):
    return RuleContext(now=local.timestamp(), local=local, price=price, cheapest=None, soc=None, surplus_w=None,
                       sun_up=None, miners={})


@pytest.fixture
def events():
    return []


@pytest.fixture
def book(events):
    return RuleBook(CONFIG_RULES, CountingStore(), event=lambda kind, message, actor="system": events.append(
        (kind, message, actor)))


def test_config_rules_come_first_and_api_rules_follow_in_order(book, events):
    book.add({"name": "cheap", "when": {"price_below": 5}, "then": {"action": "wake"}}, by="token")
    book.add({"name": "half", "when": {"price_above": 20}, "then": {"action": "percent", "value": 50}}, by="session")
    assert [r.name for r in book.rules()] == ["stop-when-dear", "cheap", "half"]
    listed = book.list()
    assert [(r["name"], r["source"], r["state"]) for r in listed] == [
        ("stop-when-dear", "config", "armed"), ("cheap", "api", "armed"), ("half", "api", "armed")]
    assert listed[0]["guards"] == {"for_min": 0, "cooldown_min": 0, "max_per_day": None, "until": False}
    assert events == [("rules", "rule 'cheap' added: when price < 5 -> wake", "token"),
                      ("rules", "rule 'half' added: when price > 20 -> percent 50", "session")]


def test_config_rules_cannot_be_changed_and_names_are_unique(book):
    body = {"name": "stop-when-dear", "when": {"price_above": 99}, "then": {"action": "sleep"}}
    with pytest.raises(RuleConflict, match="already defined in config.yaml"):
        book.add(body, by="token")
    with pytest.raises(RuleConflict, match="defined in config.yaml"):
        book.replace("stop-when-dear", body, by="token")
    with pytest.raises(RuleConflict, match="defined in config.yaml"):
        book.delete("stop-when-dear", by="token")
    book.add({**body, "name": "mine"}, by="token")
    with pytest.raises(RuleConflict, match="already exists"):
        book.add({**body, "name": "mine"}, by="token")
    with pytest.raises(RuleConflict, match="already defined in config.yaml"):
        book.replace("mine", {**body, "name": "stop-when-dear"}, by="token")  # no rename onto a config rule
    with pytest.raises(UnknownRule):
        book.delete("nope", by="token")
    with pytest.raises(RuleError, match="^when.price_above: must be"):
        book.replace("mine", {"when": {"price_above": 1e9}, "then": {"action": "sleep"}}, by="token")
    assert book.get("mine")["when"] == {"price_above": 99}


def test_api_rules_persist_and_come_back(book):
    store = book._store
    book.add({"name": "cheap", "when": {"price_below": 5}, "then": {"action": "wake"}}, by="token")
    book.replace("cheap", {"name": "very cheap", "when": {"price_below": 0}, "then": {"action": "wake"}}, by="token")
    assert store.get(API_KEY) == [{"name": "very cheap", "enabled": True, "when": {"price_below": 0},
                                   "then": {"action": "wake"}}]
    again = RuleBook(CONFIG_RULES, store)
    assert [r.name for r in again.rules()] == ["stop-when-dear", "very cheap"]
    again.delete("very cheap", by="token")
    assert store.get(API_KEY) == []


def test_a_stored_rule_that_no_longer_parses_is_listed_as_invalid_not_dropped():
    store = DictStore()
    store.set(API_KEY, [{"name": "old", "when": {"price_abov": 3}, "then": {"action": "sleep"}},
                        {"name": "stop-when-dear", "when": {"price_above": 1}, "then": {"action": "sleep"}},
                        {"name": "good", "when": {"price_above": 3}, "then": {"action": "sleep"}}])
    book = RuleBook(CONFIG_RULES, store)
    assert [r.name for r in book.rules()] == ["stop-when-dear", "good"]
    listed = {r["name"]: r for r in book.list() if r["source"] == "api"}
    assert listed["old"]["state"] == "invalid" and listed["old"]["error"].startswith("when.price_abov: unknown")
    book.evaluate(ctx(price=40))
    assert book.states()["old"] == "invalid"
    book.replace("old", {"when": {"price_above": 3}, "then": {"action": "sleep"}}, by="token")  # fixable
    assert [r.name for r in book.rules()] == ["stop-when-dear", "old", "good"]


def test_evaluate_writes_the_state_only_when_it_changes(book, events):
    store = book._store
    out = book.evaluate(ctx(price=40))
    assert out.fleet.rule == "stop-when-dear" and store.writes[STATE_KEY] == 1
    assert ("rule", "stop-when-dear: fired: price 40 > 30 -> sleep (fleet)", "rules") in events
    for minute in range(1, 30):
        book.evaluate(ctx(NOON + timedelta(minutes=minute), price=40 + minute % 3))
    assert store.writes[STATE_KEY] == 1  # still firing: nothing to write, tick after tick
    item = book.get("stop-when-dear")
    assert item["state"] == "firing" and item["last_fired"] == NOON.timestamp() and item["fired_today"] == 1
    book.evaluate(ctx(NOON + timedelta(minutes=31), price=20))
    assert store.writes[STATE_KEY] == 2 and book.get("stop-when-dear")["state"] == "armed"
    # A restart picks up where it was.
    again = RuleBook(CONFIG_RULES, store)
    assert again.get("stop-when-dear")["fired_today"] == 1


def test_for_min_progress_alone_is_not_written(events):
    store = CountingStore()
    rules = parse_rules([{"name": "slow", "when": {"price_above": 30}, "then": {"action": "sleep"}, "for_min": 60}])
    book = RuleBook(rules, store)
    book.evaluate(ctx(price=29))
    assert store.writes[STATE_KEY] == 1  # a new rule: its signature
    for minute in range(1, 21):  # the price flaps around 30: waiting, armed, waiting...
        book.evaluate(ctx(NOON + timedelta(minutes=minute), price=31 if minute % 2 else 29))
    assert store.writes[STATE_KEY] == 1


def test_a_renamed_rule_keeps_its_guard_history(book):
    book.add({"name": "r", "when": {"price_above": 50}, "then": {"action": "sleep"}, "max_per_day": 1}, by="t")
    book.evaluate(ctx(price=60))
    book.replace("r", {"name": "r2", "when": {"price_above": 50}, "then": {"action": "sleep"}, "max_per_day": 1},
                 by="t")
    book.evaluate(ctx(NOON + timedelta(minutes=1), price=20))
    out = book.evaluate(ctx(NOON + timedelta(minutes=2), price=60))
    assert out.states["r2"] == "cooling down"  # today's one firing was used before the rename


def test_edits_while_the_control_thread_evaluates(book):
    """Many API writes while another thread evaluates: no exception, and the book ends consistent."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def control():
        minute = 0
        while not stop.is_set():
            try:
                book.evaluate(ctx(NOON + timedelta(minutes=minute), price=25 + minute % 10))
            except BaseException as exc:  # noqa: BLE001 - collected for the assert
                errors.append(exc)
                return
            minute += 1

    thread = threading.Thread(target=control)
    thread.start()
    try:
        for i in range(150):
            book.add({"name": f"r{i}", "when": {"price_above": 26 + i % 5}, "then": {"action": "sleep"}}, by="t")
            if i % 3 == 0:
                book.delete(f"r{i}", by="t")
    finally:
        stop.set()
        thread.join(10)
    assert errors == []
    names = [r.name for r in book.rules()]
    assert names[0] == "stop-when-dear" and len(names) == 1 + 100 and len(set(names)) == len(names)
    out = book.evaluate(ctx(NOON + timedelta(days=1), price=40))
    assert set(out.states) == set(names)
