"""The cgminer-style TCP API (port 4028): request parsing, reply encoding, one connection's life.

Written from cgminer's ``api.c`` (ckolivas 4.11): one request per connection,
JSON or ``cmd|param`` plain text, reply is ``strlen + 1`` bytes (a trailing
NUL), then the socket is closed. Shared by the generic cgminer and the stock
Antminer (bmminer is a cgminer fork with the same api.c).
"""

from __future__ import annotations

import asyncio
import json
import json.encoder
import time
from dataclasses import dataclass, field
from typing import Callable

from . import faults
from .faults import CLOSE, HANG, RESET
from .formats import Raw



class Segment:
    """Fields encoded once (both wire forms), placed in a Record where they repeat unchanged.

    Replies such as the S9 'stats' list ~190 keys of which most never change
    (empty chain slots); encoding those once keeps a reply cheap to build.
    """

    __slots__ = ("json", "text")

    def __init__(self, fields: list[tuple[str, object]]) -> None:
        if not fields:
            raise ValueError("an empty Segment would leave a stray comma")
        self.json = ",".join(_json_key(k) + _json_value(v) for k, v in fields)
        self.text = ",".join(f"{k}={_text_value(v)}" for k, v in fields)


Record = list  # items: (key, value) pairs or Segments

# Report commands that may be joined with '+' (cgminer API-README "joinable" = yes).
JOINABLE = frozenset({
    "version", "config", "summary", "pools", "devs", "edevs", "stats", "estats", "coin",
    "devdetails", "asccount", "pgacount", "notify", "lcd", "lockstats", "usbstats",
})

_encode_str = json.encoder.encode_basestring  # the C encoder; cgminer writes UTF-8 as is
_JSON_KEYS: dict[str, str] = {}


def _json_key(key: str) -> str:
    cached = _JSON_KEYS.get(key)
    if cached is None:
        cached = _JSON_KEYS[key] = _encode_str(key) + ":"
    return cached


def _json_value(value: object) -> str:
    kind = type(value)
    if kind is Raw:
        return value  # type: ignore[return-value]
    if kind is str:
        return _encode_str(value)
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        return f"{value:.6f}"  # api.c's default "%f" for doubles without an explicit precision
    return _encode_str(str(value))


def _text_escape(value: str) -> str:
    # api.c escape_string(str, false): '|', ',', '=' and '\' get a backslash in text mode.
    if not any(c in value for c in "|,=\\"):
        return value
    return "".join("\\" + c if c in "|,=\\" else c for c in value)


def _text_value(value: object) -> str:
    if isinstance(value, Raw):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6f}"
    return _text_escape(str(value))


@dataclass(slots=True)
class Status:
    """The STATUS block every cgminer reply starts with."""

    letter: str  # S success, I info, W warning, E error, F fatal
    code: int
    msg: str
    description: str
    when: int | None = None  # unix time; None = now


@dataclass(slots=True)
class CgReply:
    """One command's reply: a STATUS plus an optional upper-case data section."""

    status: Status | None
    section: str | None = None
    records: list[Record] = field(default_factory=list)
    # Text mode prefixes "SECTION," for single-record sections (VERSION, SUMMARY,
    # CONFIG) but not for lists whose first key names the item (POOL=, ASC=, STATS=).
    text_prefix: bool = False
    # bmminer/cgminer-4.9 'stats' writes its records with no comma between them: "}{".
    glued: bool = False
    # restart/quit answer a bare status word instead: {"STATUS":"RESTART","id":1}.
    bare: str | None = None
    # Runs after the reply is sent and the socket closed (restart/quit take the miner down).
    after: Callable[[], None] | None = None
    # Further sections after the first, e.g. LUXminer's fans reply: FANS then FANCTRL.
    extra: list[tuple[str, list[Record]]] = field(default_factory=list)


def message(letter: str, code: int, msg: str, description: str) -> CgReply:
    """A reply that is only a STATUS (errors, acknowledgements)."""
    return CgReply(Status(letter, code, msg, description))


def _json_record(record: Record) -> str:
    keys, value = _json_key, _json_value
    return "{" + ",".join([item.json if type(item) is Segment else keys(item[0]) + value(item[1])
                           for item in record]) + "}"


def _text_record(record: Record) -> str:
    return ",".join([item.text if type(item) is Segment else f"{item[0]}={_text_value(item[1])}"
                     for item in record])


def _json_body(reply: CgReply) -> str:
    """The reply without the closing ',"id":1}' (so joins can wrap it)."""
    if reply.bare is not None:
        return '{"STATUS":' + json.dumps(reply.bare)
    st = reply.status
    assert st is not None
    when = st.when if st.when is not None else int(time.time())
    parts = ['{"STATUS":[{"STATUS":"', st.letter, '","When":', str(when), ',"Code":', str(st.code),
             ',"Msg":', _encode_str(st.msg), ',"Description":', _encode_str(st.description), "}]"]
    if reply.section is not None:
        sep = "" if reply.glued else ","
        parts.append("," + json.dumps(reply.section) + ":[")
        parts.append(sep.join(_json_record(r) for r in reply.records))
        parts.append("]")
    for section, records in reply.extra:
        parts.append("," + json.dumps(section) + ":[" + ",".join(_json_record(r) for r in records) + "]")
    return "".join(parts)


def _text_body(reply: CgReply) -> str:
    if reply.bare is not None:
        return reply.bare
    st = reply.status
    assert st is not None
    when = st.when if st.when is not None else int(time.time())
    out = [f"STATUS={st.letter},When={when},Code={st.code},Msg={_text_escape(st.msg)},"
           f"Description={_text_escape(st.description)}|"]
    if reply.section is not None:
        for i, record in enumerate(reply.records):
            fields = _text_record(record)
            prefix = reply.section + "," if reply.text_prefix and i == 0 else ""
            out.append(prefix + fields + "|")
    for _section, records in reply.extra:
        out.extend(_text_record(record) + "|" for record in records)
    return "".join(out)


def encode(reply: CgReply, isjson: bool) -> str:
    """The full reply text (without the NUL terminator)."""
    if isjson:
        return _json_body(reply) + ',"id":1}'
    return _text_body(reply)


def encode_join(parts: list[tuple[str, CgReply]], isjson: bool) -> str:
    """A '+'-joined reply: each command's reply in a one-element list under its name, then "id":1.

    api.c head_join/tail_join; real example avalon/multicommand_pools+summary+stats.a10xx.json.
    Text mode prefixes each part with "CMD=<name>|" instead.
    """
    if isjson:
        inner = ",".join(json.dumps(name) + ":[" + encode(reply, True) + "]" for name, reply in parts)
        return "{" + inner + ',"id":1}'
    return "".join(f"CMD={_text_escape(name)}|" + encode(reply, False) for name, reply in parts)


@dataclass(slots=True)
class Request:
    """One parsed API request."""

    command: str
    parameter: str | None
    isjson: bool


def parse_request(data: bytes) -> Request | CgReply:
    """Parse the request bytes, or return the error reply cgminer would send."""
    text = data.decode("utf-8", "replace")
    if text[:1] != "{":
        # Plain text "cmd" or "cmd|param". cgminer does not trim; we strip a trailing
        # newline so `echo summary | nc` works (a real miner would say Invalid command).
        text = text.rstrip("\r\n")
        cmd, sep, param = text.partition("|")
        return Request(cmd, param if sep else None, False)
    try:
        obj = json.loads(text)
    except ValueError:
        return CgReply(Status("E", 23, "Invalid JSON", ""))
    if not isinstance(obj, dict) or not isinstance(obj.get("command"), str):
        return CgReply(Status("E", 24, "Missing JSON 'command'", ""))
    param = obj.get("parameter")
    if param is not None and not isinstance(param, str):
        param = json.dumps(param) if not isinstance(param, (int, float)) else str(param)
    return Request(obj["command"], param, True)


# --- malformed replies (fault injection) -------------------------------------
# Each variant reproduces a breakage seen from real firmware (reference section 1,
# pyasic _load_api_data repairs): bmminer "}{", btminer ",}" and missing commas,
# bmminer "[,{", Avalon bare nan.

def _glue(text: str) -> str:
    if "},{" in text:
        return text.replace("},{", "}{", 1)
    return text.replace("}],", "}]", 1)  # no list to glue: drop the comma after STATUS instead


def _trailing_comma(text: str) -> str:
    idx = text.rfind("}]")
    return text[:idx] + ",}]" + text[idx + 2:] if idx > 0 else text + ",}"


def _missing_comma(text: str) -> str:
    start = text.find("}],")  # first key of the data section (or of "id")
    idx = text.find(',"', start + 3 if start >= 0 else 0)
    return text[:idx] + text[idx + 1:] if idx > 0 else text


def _bracket_comma(text: str) -> str:
    idx = text.find(":[{", text.find("}],"))
    return text[:idx] + ":[,{" + text[idx + 3:] if idx > 0 else text


def _bare_nan(text: str) -> str:
    for key in ('"MHS av":', '"GHS av":', '"Elapsed":', '"When":'):
        idx = text.find(key)
        if idx >= 0:
            start = idx + len(key)
            end = start
            while end < len(text) and text[end] not in ",}]":
                end += 1
            return text[:start] + "nan" + text[end:]
    return text


MALFORMATIONS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("glued_objects", _glue),
    ("trailing_comma", _trailing_comma),
    ("missing_comma", _missing_comma),
    ("bracket_comma", _bracket_comma),
    ("bare_nan", _bare_nan),
)


def malform(text: str, index: int) -> str:
    """Break a JSON reply the ``index``-th known way (cycling through MALFORMATIONS)."""
    return MALFORMATIONS[index % len(MALFORMATIONS)][1](text)


# --- one connection ------------------------------------------------------------

# dispatch(request_bytes, client_ip) -> reply text, (reply text, run_after_close), HANG, RESET or CLOSE
Dispatch = Callable[[bytes, str], object]


async def serve_cgapi(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, dispatch: Dispatch,
                      *, read_timeout: float = 30.0,
                      shape: Callable[[], faults.Shape | None] | None = None) -> object | None:
    """Serve one API connection: one read (cgminer does one recv), one reply + NUL, close.

    ``shape()`` names a "drip" or "huge" fault for the reply (faults.Shape).
    Returns HANG/RESET when dispatch asked for that (the caller owns the socket
    then), else None after closing.
    """
    try:
        async with asyncio.timeout(read_timeout):
            data = await reader.read(65536)
    except (TimeoutError, ConnectionError):
        writer.close()
        return None
    if not data:
        writer.close()
        return None
    peer = writer.get_extra_info("peername")
    result = dispatch(data, peer[0] if peer else "")
    if result is HANG or result is RESET:
        return result
    if result is CLOSE:
        writer.close()  # FIN without a byte: the client reads an empty reply
        return None
    after = None
    if isinstance(result, tuple):
        result, after = result
    assert isinstance(result, str)
    try:
        # api.c send_result: tosend = len + 1, so the C string's NUL goes out too.
        await faults.send(writer, result.encode("utf-8"), shape() if shape is not None else None, suffix=b"\x00")
    except ConnectionError:
        pass
    writer.close()
    if after is not None:
        after()
    return None
