"""Schedules and rules: trigger -> action with guards, evaluated purely each control tick (docs/rules.md).

model.py (the rule), parse.py (strict YAML/JSON -> Rule), triggers.py (each trigger
against a tick's facts), engine.py (evaluate), state.py (what persists),
book.py (config + API rules, thread-safe, persisted through an injected store).
"""

from __future__ import annotations

from services.rules.book import RuleBook, RuleConflict, UnknownRule
from services.rules.engine import (FleetWish, MinerFacts, MinerWish, RuleCommand, RuleContext, RulesOutcome,
                                   evaluate)
from services.rules.model import Action, Conditions, Rule, Target, TimeWindow
from services.rules.parse import RuleError, parse_rule, parse_rules
from services.rules.state import RulesState

__all__ = ["Action", "Conditions", "FleetWish", "MinerFacts", "MinerWish", "Rule", "RuleBook", "RuleCommand",
           "RuleConflict", "RuleContext", "RuleError", "RulesOutcome", "RulesState", "Target", "TimeWindow",
           "UnknownRule", "evaluate", "known_families", "parse_rule", "parse_rules"]


def known_families() -> frozenset[str]:
    """The miner families a target may name (the driver registry's); imported late, the engine stays light."""
    from miners import FAMILIES

    return frozenset(FAMILIES)
