"""The stock Antminer CGI scripts' formats, rebuilt for the simulator (pure functions, stdlib only).

- get_miner_conf.cgi prints /config/cgminer.conf as the scripts write it:
  ``"key" : value`` one per line, pools first; the X19 build (S19 Dec 2020 fw,
  antminer/get_miner_conf.cgi.s19_sleeping.json) starts the body with two
  empty lines, the 2017 scripts (Foreman L3+/S9 captures) do not.
- The legacy set_miner_conf.cgi is a shell script (bitmain_hacking
  Antminer-D3-201711201715-0M www/pages/cgi-bin/set_miner_conf.cgi): it reads
  stdin, turns '&' into spaces, splits on whitespace, and for each word in
  order replaces '+' with a space and then a fixed list of %XX escapes, and
  assigns it BY POSITION (the field name is stripped, never checked). Then it
  rewrites the whole config file and restarts cgminer.
"""

from __future__ import annotations

import json
from typing import Any

# The escapes the legacy script decodes, in its order (%25 before %26: "%2526" ends up as "&").
_SHELL_UNESCAPES = (("%23", "#"), ("%24", "$"), ("%25", "%"), ("%26", "&"), ("%2C", ","), ("%2B", "+"),
                    ("%3A", ":"), ("%3B", ";"), ("%3C", "<"), ("%3D", "="), ("%3E", ">"), ("%3F", "?"),
                    ("%40", "@"), ("%5B", "["), ("%5D", "]"), ("%5E", "^"), ("%7B", "{"), ("%7C", "|"),
                    ("%7D", "}"), ("%2F", "/"))
# Position -> name in the S17-era script (the D3/L3+ script stops at 13).
LEGACY_POSITIONS = ("pool1url", "pool1user", "pool1pw", "pool2url", "pool2user", "pool2pw", "pool3url",
                    "pool3user", "pool3pw", "nobeeper", "notempoverctrl", "fan_customize_switch",
                    "fan_customize_value", "freq", "voltage", "work_mode")


def render_conf(conf: dict[str, Any], *, leading_blank_lines: bool) -> str:
    """cgminer.conf text the way the stock scripts write it (pools block, then one key per line)."""
    lines = ['{', '"pools" : [']
    pools = conf.get("pools", [])
    for i, pool in enumerate(pools):
        lines += ["{", f'"url" : {json.dumps(pool["url"])},', f'"user" : {json.dumps(pool["user"])},',
                  f'"pass" : {json.dumps(pool["pass"])}', "}," if i < len(pools) - 1 else "}"]
    lines += ["]", ","]
    rest = [(k, v) for k, v in conf.items() if k != "pools"]
    for i, (key, value) in enumerate(rest):
        lines.append(f'"{key}" : {json.dumps(value)}' + ("," if i < len(rest) - 1 else ""))
    lines.append("}")
    text = "\n".join(lines) + "\n"
    return "\n\n" + text if leading_blank_lines else text


def shell_unescape(word: str) -> str:
    """One form word decoded like the legacy script: '+' -> ' ', then its fixed %XX list, nothing else."""
    word = word.replace("+", " ")
    for escape, char in _SHELL_UNESCAPES:
        word = word.replace(escape, char)
    return word


def parse_legacy_form(body: bytes) -> dict[str, str]:
    """The legacy script's reading of a POST body: values by POSITION, names ignored.

    Each word's value is what follows its first '=' (the script strips a literal
    ``_ant_<name>=`` prefix; a word named otherwise keeps its whole text, as there).
    """
    text = body.decode("latin-1").replace("&", " ")
    values: dict[str, str] = {}
    for position, word in enumerate(text.split()):
        if position >= len(LEGACY_POSITIONS):
            break
        name = LEGACY_POSITIONS[position]
        word = shell_unescape(word)
        prefix = f"_ant_{name}="
        values[name] = word[len(prefix):] if word.startswith(prefix) else word
    return values


def legacy_rewrite(old: dict[str, Any], form: dict[str, str], *, keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """The config the legacy script writes: every field from the form, nothing merged from the old file.

    ``keep`` names keys a model's script writes back unchanged (S9: multi-version,
    its api-groups; S17-era: work mode/voltage fall back to the old values when empty).
    """
    conf: dict[str, Any] = {"pools": [{"url": form.get(f"pool{n}url", ""), "user": form.get(f"pool{n}user", ""),
                                       "pass": form.get(f"pool{n}pw", "")} for n in (1, 2, 3)],
                            "api-listen": True, "api-network": True,
                            "api-groups": old.get("api-groups", "A:stats:pools:devs:summary:version"),
                            "api-allow": "A:0/0,W:*"}
    if form.get("nobeeper") == "true":
        conf["bitmain-nobeeper"] = True
    if form.get("notempoverctrl") == "true":
        conf["bitmain-notempoverctrl"] = True
    if form.get("fan_customize_switch") == "true":
        conf["bitmain-fan-ctrl"] = True
        conf["bitmain-fan-pwm"] = form.get("fan_customize_value", "")
    conf["bitmain-use-vil"] = True
    if "bitmain-work-mode" in old:  # S17-era script: empty values fall back to the current file
        conf["bitmain-work-mode"] = form.get("work_mode") or old.get("bitmain-work-mode", "0")
        conf["bitmain-freq"] = form.get("freq") or old.get("bitmain-freq", "")
        conf["bitmain-voltage"] = form.get("voltage") or old.get("bitmain-voltage", "")
    else:
        conf["bitmain-freq"] = form.get("freq", "")
        if "bitmain-voltage" in old:
            conf["bitmain-voltage"] = form.get("voltage") or old["bitmain-voltage"]
    for key in keep:
        if key in old:
            conf[key] = old[key]
    return conf


def legacy_system_info(fields: dict[str, str]) -> str:
    """get_system_info.cgi of the 2017-2019 shell script: one ``"key":"value",`` per line, all strings."""
    items = list(fields.items())
    lines = ["{"] + [f'"{k}":{json.dumps(v)}' + ("," if i < len(items) - 1 else "") for i, (k, v) in enumerate(items)]
    return "\n".join(lines + ["}"]) + "\n"
