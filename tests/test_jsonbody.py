"""services/jsonbody.py (the bounded JSON decoder) and the typed getters of web/body.py."""

from __future__ import annotations

import sys
import time

import pytest

from services.jsonbody import MAX_BYTES, MAX_DEPTH, MAX_INT_DIGITS, BadJson, decode
from web.body import BadRequest, number, text, whole


@pytest.mark.parametrize("raw, value", [
    (b'{"a": 1, "b": [1.5, -2e3, true, null], "c": "x"}', {"a": 1, "b": [1.5, -2000.0, True, None], "c": "x"}),
    (b'{"s": "[[[[{{{{ \\" ]]]"}', {"s": '[[[[{{{{ " ]]]'}),  # brackets in strings are not nesting
    (b'{"e": "\\ud83d\\ude00"}', {"e": "\U0001F600"}),  # a surrogate pair is one character
    (b"1" * MAX_INT_DIGITS, int("1" * MAX_INT_DIGITS)),
    (b"-" + b"9" * MAX_INT_DIGITS, -int("9" * MAX_INT_DIGITS)),
    (b"1e308", 1e308),
    (("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode(), eval("[" * MAX_DEPTH + "]" * MAX_DEPTH)),
    (b'  {"a": {}}  ', {"a": {}}),
])
def test_good_bodies_decode(raw, value):
    assert decode(raw) == value


@pytest.mark.parametrize("raw, kind, fragment", [
    (b"[" * 2000 + b"]" * 2000, "depth", "nested too deeply"),
    (b'{"a":' * 2000 + b"1" + b"}" * 2000, "depth", "nested too deeply"),
    (("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode(), "depth", f"more than {MAX_DEPTH}"),
    (b"[" * 100_000, "size", "too large"),
    (b'{"x": "' + b"a" * MAX_BYTES + b'"}', "size", "too large"),
    (b"1" + b"0" * 400, "number", "at most 30 digits"),
    (b"-1" + b"0" * 400, "number", "at most 30 digits"),
    (b"1" * (MAX_INT_DIGITS + 1), "number", "too large"),
    (b"1e309", "number", "not finite"),
    (b"-1e309", "number", "not finite"),
    (b'{"a": NaN}', "number", "NaN is not a number"),
    (b'{"a": Infinity}', "number", "Infinity is not a number"),
    (b'{"a": -Infinity}', "number", "-Infinity is not a number"),
    (b'{"password": "\\ud800"}', "text", "password: holds a lone UTF-16 surrogate"),
    (b'{"pools": [{"user": "a\\udfffb"}]}', "text", "pools[0].user"),
    (b'{"\\ud800": 1}', "text", "a key in the body"),
    (b'"\\udc00"', "text", "the body"),
    (b'{"a": "\xff"}', "text", "not UTF-8"),
    (b'{"a": 1, "a": 2}', "duplicate", "given twice"),
    (b'{"a": 1', "syntax", "not valid JSON"),
    (b'{"a": 1} x', "syntax", "Extra data"),
    (b"", "syntax", "not valid JSON"),
    (b"\xef\xbb\xbf{}", "syntax", "not valid JSON"),
])
def test_bad_bodies_are_refused_with_a_reason(raw, kind, fragment):
    with pytest.raises(BadJson) as caught:
        decode(raw)
    assert caught.value.kind == kind and fragment in str(caught.value), str(caught.value)
    assert len(str(caught.value)) < 200  # a reason, never the body back


def test_depth_check_is_not_recursive_and_fast():
    """Deeper than the interpreter's recursion limit, in a loop: refused quickly, no RecursionError."""
    deep = b"[" * (sys.getrecursionlimit() * 20)
    start = time.perf_counter()
    with pytest.raises(BadJson, match="nested too deeply"):
        decode(deep, max_bytes=len(deep))
    big = b'{"x": "' + b"[" * 60_000 + b'"}'  # brackets inside a string: one level
    assert decode(big)["x"] == "[" * 60_000
    assert time.perf_counter() - start < 2.0


def test_caps_are_parameters():
    with pytest.raises(BadJson, match="at most 8"):
        decode(b"[1, 2, 3]", max_bytes=8)
    with pytest.raises(BadJson, match="more than 2"):
        decode(b"[[[1]]]", max_depth=2)
    assert decode(b"[[1]]", max_depth=2) == [[1]]


@pytest.mark.parametrize("value, ok", [(50, 50), (50.0, 50), (0, 0), (100, 100)])
def test_whole_accepts(value, ok):
    assert whole(value, "percent", 0, 100) == ok


@pytest.mark.parametrize("value", [True, None, "50", [50], 50.5, 101, -1, float("nan"), float("inf"), 10 ** 400])
def test_whole_refuses(value):
    with pytest.raises(BadRequest, match="percent"):
        whole(value, "percent", 0, 100)


@pytest.mark.parametrize("value", [True, "1", float("nan"), float("inf"), -float("inf"), 10 ** 400, 2.5])
def test_number_refuses(value):
    with pytest.raises(BadRequest, match="kw"):
        number(value, "kw", 0, 2)


def test_number_accepts_a_finite_value_in_range():
    assert number(1, "kw", 0, 2) == 1.0 and number(0.5, "kw", 0, 2) == 0.5


@pytest.mark.parametrize("value, fragment", [
    ("\ud800", "surrogate"), ("a\x00b", "control"), ("line\nbreak", "control"), ("\x7f", "control"),
    ("x" * 300, "too long"), ("", "empty"), (5, "must be a string"), (None, "must be a string"),
])
def test_text_refuses(value, fragment):
    with pytest.raises(BadRequest) as caught:
        text(value, "user")
    assert caught.value.status == 400 and "user" in str(caught.value) and fragment in str(caught.value)


def test_text_accepts_unicode_and_empty_when_allowed():
    assert text("wörker.1 😀", "user") == "wörker.1 😀"
    assert text("", "password", empty=True) == ""
