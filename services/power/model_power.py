"""Nominal and lowest stable power per miner model, and what each work mode draws.

The allocator needs three numbers per miner (nominal, min, max watts) before a
single reading comes in: a sleeping miner reports no power, and a miner just
woken reports nonsense for a minute or two. Numbers come from this table,
then per-miner overrides (config/UI) replace them; where the table knows nothing
about the model, the highest power measured at full setting (services/power/learned.py),
else the reading now.

Sources, per row (``source``); ``estimate=True`` marks a number we could not
confirm from a manufacturer page or a corpus document:
- Antminer S19 / S19 Pro / S19j Pro: 3250 W / 3250 W / 3050 W, 95 / 110 / 100 TH/s
  (Bitmain's spec sheet figures as listed by miningstore.com "The Definitive Guide to
  Antminer S19 Series"; S19 Pro "3250W±5%" also in zeusmining's S19 Pro evaluation).
- Antminer S19 XP: 3010 W at 140 TH/s (miningstore.com "Is the Antminer S19 XP worth it?
  Part 1": "a hasrate of 140TH and a consumption of 3010 W").
- Antminer S19k Pro: 2760 W at 120 TH/s (Bitmain spec as remembered, 23 J/TH; the LuxOS
  ladder in asic-rs's luxminer test is this unit; not confirmed in the corpus: estimate).
- Antminer L7: 3425 W at 9.5 GH/s scrypt (Bitmain spec as remembered for the 9500M unit;
  not confirmed in the corpus: estimate).
- Antminer S9: 1323 W at 13.5 TH/s (Bitmain spec, from memory: estimate; D-Central's
  asic-power-requirements.json gives 1400 W at the wall for the same unit).
- Antminer L3+: 800 W at 504 MH/s scrypt (Bitmain spec, not confirmed here: estimate).
- Whatsminer M30S+: 3400 W at ~100 TH/s; M60S: 3300 W at ~172 TH/s (MicroBT
  spec figures as given in the project brief; not confirmed in the corpus: estimate).
- Not listed on purpose: Whatsminer M50S. Public miner tables give 3276 W at 126 TH/s, but
  also a 140 TH/s 3500 W bin under the same name (and the model string does not say which);
  a row would cap a 3500 W unit at 3276 W, where the learned nominal (learned.py) measures
  the unit itself. MicroBT publishes no rating over the API ("Power Limit" in `summary` is
  the limit in force).
- Bitaxe Ultra (BM1366): 12 W, ~0.5 TH/s (skot/bitaxe-doc BitaxeUltra: "300-600 GH/s
  while just using up to 15 watts"; 12 W is the stock-setting figure: estimate).
- Bitaxe Supra (BM1368): 13 W, ~0.7 TH/s (bitaxeorg/bitaxeSupra readme: 17.5 J/TH chip
  claim; wattage: estimate).
- Bitaxe Gamma (BM1370): 17 W, ~1.2 TH/s (bitaxeorg/bitaxeGamma readme: "about 1.2 TH/s";
  wattage: estimate). Bitaxe Max (BM1397): 15 W, ~0.4 TH/s (estimate).
- NerdQAxe++ (4x BM1370): 70 W, ~4.8 TH/s (estimate).
- Avalon Nano 3S: 140 W, 6 TH/s; Avalon Nano 3: 140 W, 4 TH/s; Avalon Q: 1674 W,
  90 TH/s; Avalon Mini 3: 800 W, 37.5 TH/s (Canaan product pages as given in the
  brief; not confirmed in the corpus: estimate).
- Generic cgminer USB sticks: 5 W (a few watts: estimate).

Lowest stable power (``min_w``) is a fraction of nominal per family, all
estimates: a watt or percent limit far below a third of nominal makes
Whatsminer/BraiinsOS/Vnish units drop boards or refuse the value, so 0.3;
mode-only families get their lowest mode from ``MODE_FRACTIONS`` instead.
``max_w`` defaults to nominal: the allocator never overclocks unless a per-miner
override raises max_w (then e.g. a Bitaxe's "turbo" becomes reachable).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from miners.base import SCRYPT


@dataclass(frozen=True, slots=True)
class ModelPower:
    """Nominal power of one model, its nominal efficiency, and where the numbers come from."""

    name: str
    nominal_w: float
    hashrate_ths: float | None  # nominal hashrate in TH/s of the model's own algorithm
    source: str
    estimate: bool = False
    algorithm: str = "sha256d"

    @property
    def j_per_th(self) -> float | None:
        """Nominal joules per terahash (of the model's own algorithm), or None."""
        return self.nominal_w / self.hashrate_ths if self.hashrate_ths else None


_MININGSTORE = "miningstore.com S19 series guide (Bitmain spec figures)"
# Most specific patterns first: the first match wins.
MODEL_TABLE: tuple[tuple[re.Pattern[str], ModelPower], ...] = (
    (re.compile(r"\bS19\s*XP\b", re.I), ModelPower("Antminer S19 XP", 3010, 140, "miningstore.com S19 XP article")),
    (re.compile(r"\bS19k\s*Pro\b", re.I), ModelPower("Antminer S19k Pro", 2760, 120, "Bitmain spec", True)),
    (re.compile(r"\bS19j\s*Pro\b", re.I), ModelPower("Antminer S19j Pro", 3050, 100, _MININGSTORE)),
    (re.compile(r"\bS19\s*Pro\b", re.I), ModelPower("Antminer S19 Pro", 3250, 110, _MININGSTORE)),
    (re.compile(r"\bS19\b", re.I), ModelPower("Antminer S19", 3250, 95, _MININGSTORE)),
    (re.compile(r"\bS9[ijk]?\b", re.I), ModelPower("Antminer S9", 1323, 13.5, "Bitmain spec (D-Central: 1400 W)", True)),
    (re.compile(r"\bL7\b", re.I), ModelPower("Antminer L7", 3425, 0.0095, "Bitmain spec", True, SCRYPT)),
    (re.compile(r"\bL3\+", re.I), ModelPower("Antminer L3+", 800, 0.000504, "Bitmain spec", True, SCRYPT)),
    (re.compile(r"\bM30S\+(?!\+)", re.I), ModelPower("Whatsminer M30S+", 3400, 100, "MicroBT spec (brief)", True)),
    (re.compile(r"\bM60S(?=$|[_\s])", re.I), ModelPower("Whatsminer M60S", 3300, 172, "MicroBT spec (brief)", True)),
    (re.compile(r"nerdq?axe\s*\+\+|nerdqaxe\+\+", re.I),
     ModelPower("NerdQAxe++", 70, 4.8, "estimate (4x BM1370)", True)),
    (re.compile(r"\bultra\b|BM1366", re.I), ModelPower("Bitaxe Ultra", 12, 0.5, "skot/bitaxe-doc BitaxeUltra", True)),
    (re.compile(r"\bsupra\b|BM1368", re.I), ModelPower("Bitaxe Supra", 13, 0.7, "bitaxeorg/bitaxeSupra readme", True)),
    (re.compile(r"\bgamma\b|BM1370", re.I), ModelPower("Bitaxe Gamma", 17, 1.2, "bitaxeorg/bitaxeGamma readme", True)),
    (re.compile(r"\bbitaxe\s*max\b|BM1397", re.I), ModelPower("Bitaxe Max", 15, 0.4, "estimate", True)),
    (re.compile(r"\bnano\s*3s\b", re.I), ModelPower("Avalon Nano 3S", 140, 6, "Canaan spec (brief)", True)),
    (re.compile(r"\bnano\s*3\b", re.I), ModelPower("Avalon Nano 3", 140, 4, "Canaan spec (brief)", True)),
    (re.compile(r"\bavalon\s*q\b", re.I), ModelPower("Avalon Q", 1674, 90, "Canaan spec (brief)", True)),
    (re.compile(r"\bmini\s*3\b", re.I), ModelPower("Avalon Mini 3", 800, 37.5, "Canaan spec (brief)", True)),
)

# Used when the model string matches nothing above.
FAMILY_DEFAULTS: dict[str, ModelPower] = {
    "cgminer": ModelPower("cgminer USB stick", 5, None, "estimate: USB sticks draw a few watts", True),
}

# Lowest stable power as a fraction of nominal, for watt/percent-controlled families (estimates).
MIN_FRACTION: dict[str, float] = {"whatsminer": 0.3, "braiins": 0.3, "vnish": 0.3, "luxos": 0.3}
DEFAULT_MIN_FRACTION = 0.3

# Power of each work mode as a fraction of nominal (the family's default mode = 1.0).
# - bitaxe: P ~ f*V^2 from the presets in miners.bitaxe.mode_presets (BM1366
#   400/1150, 485/1200, 575/1250, 625/1300 mV; BM1370 gives 0.70/1/1.30/1.52):
#   eco 0.7, standard 1.0, turbo 1.3, overclock 1.5. Static power ignored: estimate.
# - antminer: "sleep" is off (handled by sleep/wake), "low" ~0.75 (Bitmain gives no
#   figure: estimate), "normal" 1.0.
# - avalon: low/medium/high 0.5/0.75/1.0 (estimate; Nano 3 levels); A-series
#   low(=normal)/high 1.0/1.1 are listed under "avalon_a".
# - vnish legacy (S9 presets 387/650/800 MHz at 8.4/8.9/9.2 V, P ~ f*V^2):
#   low_power 0.53, balanced 1.0, performance 1.32.
MODE_FRACTIONS: dict[str, dict[str, float]] = {
    "bitaxe": {"eco": 0.7, "standard": 1.0, "turbo": 1.3, "overclock": 1.5},
    "antminer": {"sleep": 0.0, "low": 0.75, "normal": 1.0},
    "avalon": {"low": 0.5, "medium": 0.75, "high": 1.0},
    "avalon_a": {"low": 1.0, "high": 1.1},
    "vnish": {"low_power": 0.53, "balanced": 1.0, "performance": 1.32},
}
_WATTS_MODE = re.compile(r"^\s*(\d{2,5})\s*w?\s*$", re.I)  # Vnish/LuxOS presets named by watts, e.g. "2900"


@functools.lru_cache(maxsize=1024)  # called per miner per tick and per allocation: regexes over the whole table
def lookup_model(family: str, model: str | None) -> ModelPower | None:
    """The table row for a model string (first match), else the family default, else None."""
    if model:
        for pattern, row in MODEL_TABLE:
            if pattern.search(model):
                return row
    return FAMILY_DEFAULTS.get(family)


def mode_fractions(family: str, modes: tuple[str, ...]) -> dict[str, float]:
    """Power fraction of nominal for each of ``modes`` (ordered least to most power).

    Known names come from MODE_FRACTIONS; a name of only digits (a preset named
    by its watts) is left out here and handled by ``mode_watts``; any other
    unknown name gets an even spread up to 1.0 by its position (estimate).
    """
    table = MODE_FRACTIONS.get(family, {})
    if family == "avalon" and set(modes) == {"low", "high"}:
        table = MODE_FRACTIONS["avalon_a"]
    named = [m for m in modes if not _WATTS_MODE.match(m)]
    result: dict[str, float] = {}
    powered = [m for m in named if table.get(m, 1.0) > 0]
    for mode in named:
        if mode in table:
            result[mode] = table[mode]
        else:
            result[mode] = (powered.index(mode) + 1) / len(powered) if mode in powered else 0.0
    return result


def mode_watts(mode: str) -> float | None:
    """Watts of a preset named by its power ("2900", "1400W"), else None."""
    match = _WATTS_MODE.match(mode)
    return float(match.group(1)) if match else None
