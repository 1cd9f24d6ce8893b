"""Price units: "p/kWh", "ct/kWh", "¢/kWh", "EUR/kWh", "EUR/MWh", ... and their factor to main currency per kWh.

Every source keeps its own unit for display (a UK user reads pence, a German user
cents), and every slot also carries ``price_main``: the same price in the main
currency unit per kWh, so profitability maths never mixes pence and pounds.
"""

from __future__ import annotations

import re

# Minor currency units (1/100 of the main unit) as users and APIs write them.
_MINOR = {"p", "pence", "ct", "c", "cent", "cents", "¢", "öre", "ore", "øre", "rp"}
_MAIN_SYMBOLS = {"€", "£", "$", "kr"}
_ENERGY = {"wh": 1000.0, "kwh": 1.0, "mwh": 0.001}  # how many of the unit make one kWh
_UNIT_RE = re.compile(r"^\s*([^/\s]+)\s*/\s*([A-Za-z]+)\s*$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


class UnitError(ValueError):
    """A price unit that is not "<money>/<kWh|MWh|Wh>"."""


def _split(unit: str) -> tuple[str, str]:
    match = _UNIT_RE.match(unit)
    if not match:
        raise UnitError(f"not a price unit like p/kWh, ct/kWh, EUR/kWh or EUR/MWh: {unit!r}")
    money, energy = match.group(1), match.group(2).lower()
    if energy not in _ENERGY:
        raise UnitError(f"energy must be kWh, MWh or Wh: {unit!r}")
    if money.lower() not in _MINOR and money not in _MAIN_SYMBOLS and not _CURRENCY_RE.match(money.upper()):
        raise UnitError(f"money must be a currency code (EUR, GBP, USD...), a symbol or a minor unit (p, ct, ¢): {unit!r}")
    return money, energy


def main_factor(unit: str) -> float:
    """Multiply a price in ``unit`` by this to get main currency units per kWh ("p/kWh" -> 0.01)."""
    money, energy = _split(unit)
    money_factor = 0.01 if money.lower() in _MINOR else 1.0
    return money_factor * _ENERGY[energy]


def per_kwh(unit: str) -> tuple[str, float]:
    """The per-kWh unit to show for ``unit`` and the factor to get there ("EUR/MWh" -> ("EUR/kWh", 0.001))."""
    money, energy = _split(unit)
    return f"{money}/kWh", _ENERGY[energy]


def check_currency(code: str) -> None:
    """Raise UnitError unless ``code`` is a three-letter ISO 4217-style code."""
    if not _CURRENCY_RE.match(code):
        raise UnitError(f"must be a three-letter currency code like EUR, GBP or USD, got {code!r}")
