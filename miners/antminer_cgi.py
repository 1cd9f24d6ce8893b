"""Stock Antminer web CGI payloads (pure): get_miner_conf / get_system_info / summary parsing, write bodies.

Two generations of Bitmain's lighttpd CGI scripts (reference section 4):

- **JSON CGI** (X19 and newer, firmware from 2020): ``set_miner_conf.cgi`` takes a
  JSON object. The read key ``bitmain-work-mode`` differs from the write key
  ``miner-mode`` (0 normal, 1 sleep, 3 low power), which must be an *integer*
  (S19 XP field notes, github:Ariyajav/MinerWatch docs/windows.md: the firmware
  answers ``{"stats":"success","code":"M000","msg":"OK!"}`` to a write it then
  ignores, so every write is read back).
- **Legacy shell CGI** (S9/T9/L3+/D3, 2017-2019; S17/T17 2019): an urlencoded
  form parsed *by position* by a shell script, which decodes only a fixed list
  of %XX escapes (bitmain_hacking ``Antminer-D3-201711201715-0M/.../set_miner_conf.cgi``;
  the S17-era script adds positions 14 ``_ant_voltage`` and 15 ``_ant_work_mode``).

Which generation a miner runs is read from its config: ``bitmain-pwth`` exists
only on the JSON CGI firmware (Foreman ``AntminerUtils.isNewGen``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from .base import MinerProtocolError, PoolConfig

MODERN = "json"  # X19+ JSON set_miner_conf.cgi with miner-mode
LEGACY_WORK_MODE = "legacy-work-mode"  # S17-era positional form with _ant_work_mode (sleep = 254)
LEGACY = "legacy"  # S9/T9/L3+/D3 positional form: pools, fan, frequency only

# miner-mode / bitmain-work-mode values on the JSON CGI firmware (pyasic config/mining MiningMode*).
MODE_VALUES = {"normal": 0, "sleep": 1, "low": 3}
# _ant_work_mode on the S17-era legacy form: 0xfe = sleep (S17 miner page JS; Foreman StockPowerModeAction).
LEGACY_SLEEP = 254
POOL_SLOTS = 3  # the stock config always holds exactly three pools

# Unreserved characters quote_plus leaves alone, plus the escapes the legacy shell
# script turns back into characters. '%25' is left out on purpose: the script
# decodes %25 before %26.., so a literal '%' followed by hex digits is decoded twice.
_LEGACY_DECODED = {"%23", "%24", "%26", "%2C", "%2B", "%3A", "%3B", "%3C", "%3D", "%3E", "%3F", "%40",
                   "%5B", "%5D", "%5E", "%7B", "%7C", "%7D", "%2F"}
LEGACY_ALLOWED = "letters, digits, space and . - _ ~ # $ & , + : ; < = > ? @ [ ] ^ { | } /"


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """What get_system_info.cgi adds to the cgminer API."""

    model: str | None = None
    mac: str | None = None
    hostname: str | None = None
    firmware_build: str | None = None  # system_filesystem_version: the image build date / name


# --- reads ---------------------------------------------------------------------------------
def parse_miner_conf(text: str) -> dict[str, Any]:
    """get_miner_conf.cgi -> dict. S19 (Dec 2020 fw) starts the body with blank lines and writes
    ``"key" : value``; some builds leave ``"bitmain-fan-ctrl" : ,`` empty (Foreman AntminerUtils.getConf)."""
    body = text.strip().replace(": ,", ": false,")
    try:
        conf = json.loads(body)
    except ValueError:
        raise MinerProtocolError(f"get_miner_conf.cgi is not JSON: {body[:60]!r}") from None
    if not isinstance(conf, dict):
        raise MinerProtocolError("get_miner_conf.cgi did not return an object")
    return conf


def generation(conf: Mapping[str, Any]) -> str:
    """MODERN, LEGACY_WORK_MODE or LEGACY, from the keys a config carries."""
    if "bitmain-pwth" in conf:
        return MODERN
    if "bitmain-work-mode" in conf:
        return LEGACY_WORK_MODE
    return LEGACY


_YEAR = re.compile(r"\b(20\d\d)\b")


def guess_generation(firmware_version: str | None) -> str | None:
    """Generation from the firmware build date (API CompileTime) when the config cannot be read.

    Stock firmware built from 2020 on (S19 Dec 2020 and later) has the JSON CGI;
    2017-2019 builds (S9, T9, L3+, D3, S17) have the positional form. None if no year.
    """
    match = _YEAR.search(firmware_version or "")
    if not match:
        return None
    return MODERN if int(match.group(1)) >= 2020 else LEGACY


def work_mode(conf: Mapping[str, Any]) -> int | None:
    """bitmain-work-mode as an int ("" or missing -> None)."""
    value = conf.get("bitmain-work-mode")
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def is_sleeping(conf: Mapping[str, Any]) -> bool:
    """True when the config says the hash boards are asleep (1 on the JSON CGI, 254 on S17-era legacy)."""
    mode = work_mode(conf)
    return mode == (MODE_VALUES["sleep"] if generation(conf) == MODERN else LEGACY_SLEEP)


def conf_pools(conf: Mapping[str, Any]) -> list[dict[str, str]]:
    """The config's pools as exactly three {url, user, pass} dicts (missing slots empty)."""
    pools = [p for p in conf.get("pools") or [] if isinstance(p, dict)][:POOL_SLOTS]
    out = [{"url": str(p.get("url") or ""), "user": str(p.get("user") or ""), "pass": str(p.get("pass") or "")}
           for p in pools]
    while len(out) < POOL_SLOTS:
        out.append({"url": "", "user": "", "pass": ""})
    return out


def new_pools(pools: list[PoolConfig]) -> list[dict[str, str]]:
    """Pools to write, padded to three with empty strings (the stock page always posts three)."""
    out = [{"url": p.url.strip(), "user": p.user, "pass": p.password} for p in pools[:POOL_SLOTS]]
    while len(out) < POOL_SLOTS:
        out.append({"url": "", "user": "", "pass": ""})
    return out


def parse_system_info(info: Any) -> SystemInfo:
    """get_system_info.cgi -> model (minertype), MAC, hostname, firmware build."""
    if not isinstance(info, dict):
        raise MinerProtocolError("get_system_info.cgi did not return an object")

    def text(key: str) -> str | None:
        value = info.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    mac = text("macaddr")
    return SystemInfo(model=text("minertype"), mac=mac.upper() if mac else None, hostname=text("hostname"),
                      firmware_build=text("system_filesystem_version"))


def summary_errors(summary: Any) -> list[str]:
    """summary.cgi (JSON CGI firmware): SUMMARY[0].status[] items whose status is not "s" (pyasic)."""
    if not isinstance(summary, dict):
        return []
    blocks = summary.get("SUMMARY")
    items = blocks[0].get("status") if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict) else None
    errors = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        state = str(item.get("status") or "")
        if state and state != "s":  # "" is "not checked" (fans on a hydro S23 capture)
            detail = str(item.get("msg") or "").strip()
            errors.append(f"{item.get('type', 'status')}: {detail or 'error'} (code {item.get('code')})")
    return errors


# --- writes --------------------------------------------------------------------------------
def modern_body(conf: Mapping[str, Any], *, pools: list[dict[str, str]] | None = None,
                miner_mode: int | None = None) -> dict[str, Any]:
    """The JSON set_miner_conf.cgi body, every value taken from the current config unless replaced.

    The same five keys the stock page, pyasic (as_am_modern), Foreman and tether's
    S19 XP/S21 worker post; miner-mode is an int (S19 XP ignores a string).
    """
    mode = miner_mode if miner_mode is not None else (work_mode(conf) or 0)
    return {
        "bitmain-fan-ctrl": _truthy(conf.get("bitmain-fan-ctrl")),
        "bitmain-fan-pwm": str(conf.get("bitmain-fan-pwm") or "100"),
        "miner-mode": int(mode),
        "freq-level": str(conf.get("bitmain-freq-level") or "100"),
        "pools": pools if pools is not None else conf_pools(conf),
    }


def legacy_fields(conf: Mapping[str, Any], *, pools: list[dict[str, str]] | None = None,
                  work_mode_value: int | None = None) -> list[tuple[str, str]]:
    """The positional set_miner_conf.cgi form, in the exact order the shell script reads it.

    Positions 0-13: three pools, nobeeper, notempoverctrl, fan switch, fan value, freq
    (D3/L3+/S9 scripts). 14 ``_ant_voltage`` when the config has a voltage or a work
    mode, 15 ``_ant_work_mode`` when it has a work mode (S17-era script). Values the
    form does not change come from the current config (read-modify-write).
    """
    slots = pools if pools is not None else conf_pools(conf)
    fields: list[tuple[str, str]] = []
    for n, pool in enumerate(slots[:POOL_SLOTS], start=1):
        fields += [(f"_ant_pool{n}url", pool["url"]), (f"_ant_pool{n}user", pool["user"]),
                   (f"_ant_pool{n}pw", pool["pass"])]
    fields += [
        ("_ant_nobeeper", _flag(conf.get("bitmain-nobeeper"))),
        ("_ant_notempoverctrl", _flag(conf.get("bitmain-notempoverctrl"))),
        ("_ant_fan_customize_switch", _flag(conf.get("bitmain-fan-ctrl"))),
        ("_ant_fan_customize_value", _text(conf.get("bitmain-fan-pwm"))),
        ("_ant_freq", _text(conf.get("bitmain-freq"))),
    ]
    has_mode = "bitmain-work-mode" in conf
    if has_mode or "bitmain-voltage" in conf:
        fields.append(("_ant_voltage", _text(conf.get("bitmain-voltage"))))
    if has_mode:
        mode = work_mode_value if work_mode_value is not None else work_mode(conf)
        fields.append(("_ant_work_mode", "" if mode is None else str(mode)))
    return fields


def encode_legacy_form(fields: list[tuple[str, str]], secrets: frozenset[str] = frozenset()) -> bytes:
    """urlencode the form in order; ValueError if a value has a character the shell script cannot decode.

    The message names the field, never a secret's value (pool passwords are in ``secrets``).
    """
    parts = []
    for key, value in fields:
        encoded = quote_plus(value, safe="")
        bad = {esc.upper() for esc in re.findall(r"%[0-9A-Fa-f]{2}", encoded)} - _LEGACY_DECODED
        if bad:
            what = "pool password" if value in secrets else key.lstrip("_").replace("_ant_", "")
            raise ValueError(f"the {what} has a character the legacy Antminer web form (2017-2019 "
                             f"set_miner_conf.cgi) cannot carry; use only {LEGACY_ALLOWED}")
        parts.append(f"{key}={encoded}")
    return "&".join(parts).encode("ascii")


def reply_ok(text: str) -> bool:
    """set_miner_conf.cgi success: JSON ``stats: success`` (JSON CGI) or the text ``ok`` (legacy script)."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "stats" in data:
        return str(data.get("stats")).lower() == "success"
    return "ok" in text.lower()


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _flag(value: Any) -> str:
    return "true" if _truthy(value) else "false"


def _text(value: Any) -> str:
    return "" if value is None or value is False else str(value)
