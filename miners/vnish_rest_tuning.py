"""Vnish 1.x ("AnthillOS") tuning: the limits of ``GET /model``, the overclock and cooling of ``/settings`` (pure).

Wire facts, from the device-exported OpenAPI of Vnish 1.3.4 (asic-rs fork
pos-ei-don/asic-rs ``meta/vnish/v1.3.4/api-doc.json``) and the 1.2.6 examples of
the third-party "VNish API Documentation" (code-search file id 1215510239, the
source of tests/fixtures/vnish/api_v1_model.s19_vnish_1.2.6.json):

- ``GET /model`` (no auth) ``MinerModelInfo``: ``overclock`` {``min_freq``,
  ``max_freq``, ``default_freq``, ``warn_freq``, ``min_voltage``, ``max_voltage``,
  ``default_voltage``, ``max_voltage_stock_psu``}, ``cooling`` {``min_target_temp``,
  ``max_target_temp``}, ``chain.num_chains``. The S19 1.2.6 example: 50..1000 MHz,
  1200..1535 (1500 on the stock PSU), target 20..90 C.
- Voltage units: ``/model`` and ``overclock.globals.volt`` count 10 mV (the same
  S19: default_voltage 1380, ``/perf-summary`` globals volt 1380, while the preset's
  ``tune_settings.volt`` is 13800 and ``/summary`` chain ``voltage`` 14000, in mV).
  Here everything leaves and enters in mV.
- ``/settings`` ``miner.overclock`` (``OverclockSettingsRaw``): ``preset``,
  ``globals`` {``freq``, ``volt``}, ``chains`` [{``freq``, ``chips``, ``disabled``}]
  where a chain ``freq`` of 0 means "use globals". Voltage exists only globally: there
  is no per-chain voltage in the schema. ``CurrentPreset.globals`` is "passed when
  preset is disabled": manual values are in effect with the preset "disabled".
- ``miner.cooling.mode`` {``name``: "auto" | "manual" | "immers", ``param``}: in
  "auto" the param is the target temperature (pyasic ``config/temperature.py``
  ``TemperatureConfig.from_vnish`` and ``config/fans.py`` ``FanModeNormal.as_vnish``).
  ``miner.misc.restart_temp`` (50..120 in the 1.3.4 schema) is the firmware's
  overheat restart, pyasic's "danger" temperature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import MinerProtocolError
from .tuning import FIRMWARE, BoardTuning, Range, Tuning

VOLT_UNIT_MV = 10  # /model voltages and overclock.globals.volt count 10 mV (see the module docstring)
MANUAL_PRESET = "disabled"  # the autotune preset under which globals/chains frequencies are in effect


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def model_limits(model: Any, *, modded_psu: bool = False) -> dict[str, Any]:
    """From ``GET /model``: frequency/voltage/thermal Ranges (mV), warn_freq and the chain count; absent ones None."""
    model = model if isinstance(model, Mapping) else {}
    oc = model.get("overclock") if isinstance(model.get("overclock"), Mapping) else {}
    cooling = model.get("cooling") if isinstance(model.get("cooling"), Mapping) else {}
    chain = model.get("chain") if isinstance(model.get("chain"), Mapping) else {}
    low_f, high_f = _positive(oc.get("min_freq")), _positive(oc.get("max_freq"))
    low_v, high_v = _positive(oc.get("min_voltage")), _positive(oc.get("max_voltage"))
    stock_psu = _positive(oc.get("max_voltage_stock_psu"))
    if high_v is not None and stock_psu is not None and not modded_psu:
        high_v = min(high_v, stock_psu)  # the firmware allows max_voltage only with overclock.modded_psu
    low_t, high_t = _number(cooling.get("min_target_temp")), _number(cooling.get("max_target_temp"))
    chains = chain.get("num_chains")
    return {
        "frequency": Range(low_f, high_f, FIRMWARE) if low_f and high_f and low_f <= high_f else None,
        "voltage": (Range(low_v * VOLT_UNIT_MV, high_v * VOLT_UNIT_MV, FIRMWARE)
                    if low_v and high_v and low_v <= high_v else None),
        "thermal": Range(low_t, high_t, FIRMWARE) if low_t is not None and high_t and low_t <= high_t else None,
        "warn_mhz": _positive(oc.get("warn_freq")),
        "chains": chains if isinstance(chains, int) and not isinstance(chains, bool) and chains > 0 else None,
    }


def miner_settings(settings: Any) -> Mapping[str, Any]:
    """``settings["miner"]``, or MinerProtocolError."""
    miner = settings.get("miner") if isinstance(settings, Mapping) else None
    if not isinstance(miner, Mapping):
        raise MinerProtocolError("Vnish /api/v1/settings has no \"miner\" object")
    return miner


def _section(miner: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = miner.get(name)
    return value if isinstance(value, Mapping) else {}


def parse_tuning(settings: Any, model: Any, boards_seen: int | None = None) -> Tuning:
    """``GET /settings`` + ``GET /model`` -> Tuning in MHz, mV and C (boards: the model's chain count)."""
    miner = miner_settings(settings)
    overclock, cooling, misc = _section(miner, "overclock"), _section(miner, "cooling"), _section(miner, "misc")
    limits = model_limits(model, modded_psu=overclock.get("modded_psu") is True)
    glob = overclock.get("globals") if isinstance(overclock.get("globals"), Mapping) else {}
    volt = _positive(glob.get("volt"))
    tuning = Tuning(frequency_mhz=_positive(glob.get("freq")), voltage_mv=volt * VOLT_UNIT_MV if volt else None,
                    per_board_frequency=True, per_board_voltage=False,
                    frequency_range=limits["frequency"], voltage_range=limits["voltage"],
                    frequency_warn_mhz=limits["warn_mhz"], thermal_range=limits["thermal"],
                    thermal_limit_c=_positive(misc.get("restart_temp")))
    preset = overclock.get("preset")
    tuning.preset = preset if isinstance(preset, str) else None
    chains = [c if isinstance(c, Mapping) else {} for c in overclock.get("chains") or []]
    count = limits["chains"] or boards_seen or len(chains)
    for index in range(count):
        freq = _positive(chains[index].get("freq")) if index < len(chains) else None
        tuning.boards.append(BoardTuning(index=index, frequency_mhz=freq, voltage_mv=None,
                                         follows_global=freq is None))
    if tuning.preset and tuning.preset != MANUAL_PRESET:
        tuning.notes.append(f"autotune preset {tuning.preset!r} is in effect; setting a frequency switches it to "
                            f"{MANUAL_PRESET!r} (manual values)")
    mode = cooling.get("mode") if isinstance(cooling.get("mode"), Mapping) else {}
    if mode.get("name") == "auto":
        tuning.thermal_target_c = _number(mode.get("param"))
    elif mode.get("name"):
        tuning.notes.append(f"fan mode {mode.get('name')!r}: Vnish holds a target temperature only in auto mode")
    if limits["frequency"] is None:
        tuning.notes.append("this Vnish build reports no overclock limits (/api/v1/model)")
    return tuning


def overclock_change(overclock: Mapping[str, Any], mhz: int, voltage_mv: int | None, board: int | None,
                     chains: int) -> dict[str, Any]:
    """The new ``miner.overclock``: the preset "disabled", the global or one chain's frequency, the global voltage.

    A global frequency puts every chain back on the global value (freq 0), as the
    Vnish 3.x driver does; a chain's other keys (``chips``, ``disabled``) are kept.
    """
    new = dict(overclock)
    new["preset"] = MANUAL_PRESET
    glob = dict(overclock.get("globals") or {}) if isinstance(overclock.get("globals"), Mapping) else {}
    current = [dict(c) if isinstance(c, Mapping) else {} for c in overclock.get("chains") or []]
    current += [{"freq": 0} for _ in range(max(0, chains - len(current)))]
    if board is None:
        glob["freq"] = int(mhz)
        for chain in current:
            chain["freq"] = 0
    else:
        current[board]["freq"] = int(mhz)
    if voltage_mv is not None:
        glob["volt"] = int(round(voltage_mv / VOLT_UNIT_MV))
    new["globals"] = glob
    new["chains"] = current
    return new


__all__ = ["MANUAL_PRESET", "VOLT_UNIT_MV", "miner_settings", "model_limits", "overclock_change", "parse_tuning"]
