"""GET/POST /api/rules and GET/PUT/DELETE /api/rules/<name>: schedules and rules (docs/rules.md)."""

from __future__ import annotations

from flask import current_app, jsonify

from services.rules import RuleConflict, RuleError, UnknownRule
from web import access
from web.auth import caller, error, write_required
from web.body import json_object, no_body

bp = access.blueprint("rules", __name__, url_prefix="/api/rules")


def _book():
    return current_app.extensions["runtime"].rules


def _by() -> str:
    return caller() or "anonymous"


@bp.get("")
def list_rules():
    """{"rules": [rule + source, state, last_fired, fired_today, guards]} in priority order."""
    return jsonify({"rules": _book().list()})


@bp.get("/<name>")
def get_rule(name: str):
    """One rule as listed."""
    try:
        return jsonify(_book().get(name))
    except UnknownRule as exc:
        return error(str(exc), 404)


@bp.post("")
@write_required
def add_rule():
    """A new rule at the end of the list: 201 + the rule; 400 naming the field; 409 for a taken name."""
    body = json_object()  # bounded JSON; every field is checked by services/rules/parse.py
    try:
        return jsonify(_book().add(body, by=_by())), 201
    except RuleError as exc:
        return error(str(exc), 400)
    except RuleConflict as exc:
        return error(str(exc), 409)


@bp.put("/<name>")
@write_required
def replace_rule(name: str):
    """Replace a rule added through the API (a "name" in the body renames it); config rules are 409."""
    body = json_object()
    try:
        return jsonify(_book().replace(name, body, by=_by()))
    except UnknownRule as exc:
        return error(str(exc), 404)
    except RuleError as exc:
        return error(str(exc), 400)
    except RuleConflict as exc:
        return error(str(exc), 409)


@bp.delete("/<name>")
@write_required
def delete_rule(name: str):
    """Delete a rule added through the API; config rules are 409."""
    no_body()
    try:
        _book().delete(name, by=_by())
    except UnknownRule as exc:
        return error(str(exc), 404)
    except RuleConflict as exc:
        return error(str(exc), 409)
    return jsonify({"deleted": name})
