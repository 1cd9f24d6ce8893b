"""Lenient JSON for cgminer-style replies: every known firmware malformation, repaired in one place."""

from __future__ import annotations

import json
import re
from typing import Any

# Bare non-finite number tokens (`"MHS av":nan`) right after ':', '[' or ','; a quoted
# "nan" is a different token ('"nan"') and never matches because of the lookbehind.
_BARE_NONFINITE = re.compile(r"(?<=[:\[,])(\s*)-?(?:nan|inf)\b", re.IGNORECASE)
_QUOTED_NONFINITE = re.compile(r'"-?(?:inf|nan)"', re.IGNORECASE)
_ERROR_CODE_OPEN = '"error_code":["'


def loads_lenient(text: str) -> Any:
    """Parse a miner's JSON reply, repairing known firmware malformations only when strict parsing fails.

    Raises ``ValueError`` when the text is still not JSON, or nests too deep to parse
    (a lying miner's "[[[[..."; json raises RecursionError there). Every repair is
    linear in the text's length, so a reply at the client's size cap costs
    milliseconds, not minutes.
    """
    try:
        return json.loads(text)  # healthy replies cost exactly one strict parse
    except ValueError:
        pass
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
    try:
        return json.loads(_repaired(text))
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def _repaired(text: str) -> str:
    """``text`` with every known firmware malformation repaired (each step linear in the length)."""
    data = text
    # cgminer (api.c send_result) sends strlen+1 bytes: one trailing NUL. The socket
    # client strips it already; kept here so text from other paths parses too.
    if data.endswith("\x00"):
        data = data[:-1]
    data = data.strip()  # so the "does it end with }" rule below is not fooled by a trailing CR/space
    # Whatsminer btminer: a trailing comma before a closing brace (",}").
    data = data.replace(",}", "}")
    # Whatsminer btminer, and an S9 fork whose `Type` holds a raw newline (Foreman
    # "Antminer S9 (bad temps)"): newlines are dropped, as pyasic does.
    data = data.replace("\n", "")
    # bmminer/cgminer `stats` on Antminer L3+/D3/S9 (cgminer 4.9-4.11, Vnish 3.8.6,
    # Hiveon): the version block and the device block are not comma-separated ("}{").
    data = data.replace("}{", "},{")
    # bmminer: a list opening with a stray comma ("[,{").
    data = data.replace("[,{", "[{")
    # btminer build of 2023-01-06: a comma missing before "temp0" ('""temp0').
    data = data.replace('""temp0', '","temp0')
    # Avalon (cgminer 4.11.1): quoted "inf"/"nan" numbers. pyasic turns them into 0;
    # we use null, because an unknown hashrate is not a zero hashrate.
    data = _QUOTED_NONFINITE.sub("null", data)
    # Avalon A10xx (cgminer 4.11.1, Foreman "Avalon 10XX" capture): a BARE nan token
    # ("MHS av":nan) that pyasic does not repair; null for the same reason.
    data = _BARE_NONFINITE.sub(r"\1null", data)
    # Whatsminer M20S fw 20200917.22.REL: "Firmware Version":"\'20200917.22.REL\'" uses
    # the escape \' that JSON does not have; a plain quote is what was meant.
    data = data.replace("\\'", "'")
    # Avalon: replies that are only a `,"id":1}` fragment of an object.
    if data.startswith(","):
        data = "{" + data[1:]
    # Whatsminer btminer overflowing its buffer with hundreds of error codes: the text
    # is cut off; drop the last partial field and close the object (pyasic's rule).
    if not data.endswith("}"):
        data = ",".join(data.split(",")[:-1]) + "}"
    # Whatsminer API 2.0.4: "error_code" is a list written like a dict (["a":"b"]). Found
    # with two str.find calls: the regex '"error_code":\[".+"\]' it replaces backtracked
    # to the end of the text from every "error_code" (quadratic: 70 s on 1 MB of them).
    start = data.find(_ERROR_CODE_OPEN)
    if start >= 0 and data.find('"]', start + len(_ERROR_CODE_OPEN) + 1) >= 0:
        data = data.replace("[", "{").replace("]", "}")
    return data
