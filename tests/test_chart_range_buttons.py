"""The pages' chart range buttons come from services/chart_range.py (web/pages.py's context,
templates/panels/_chart.html): the names, the default pressed, and the seconds the JS reads."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from services import chart_range


class RangeGroups(HTMLParser):
    """{group id: {"spans": data-ranges JSON, "buttons": [(data-range, aria-pressed)]}} of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, dict] = {}
        self.select: list[tuple[str, bool]] = []  # the Pools page's <select id="pw-range"> options
        self._open: str | None = None
        self._in_select = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and "data-ranges" in a:
            self._open = a["id"]
            self.groups[a["id"]] = {"spans": json.loads(a["data-ranges"]), "buttons": []}
        elif tag == "button" and self._open and "data-range" in a:
            self.groups[self._open]["buttons"].append((a["data-range"], a["aria-pressed"]))
        elif tag == "select" and a.get("id") == "pw-range":
            self._in_select = True
        elif tag == "option" and self._in_select:
            self.select.append((a["value"], "selected" in a))

    def handle_endtag(self, tag):
        if tag == "div":
            self._open = None
        elif tag == "select":
            self._in_select = False


def groups_of(client, path: str) -> RangeGroups:
    reply = client.get(path)
    assert reply.status_code == 200
    parser = RangeGroups()
    parser.feed(reply.get_data(as_text=True))
    return parser


def expected(names: tuple[str, ...]) -> dict:
    return {"spans": {n: chart_range.RANGES_S.get(n) for n in names},
            "buttons": [(n, "true" if n == chart_range.DEFAULT else "false") for n in names]}


def test_spans_give_seconds_and_none_for_all():
    assert chart_range.spans() == {"1h": 3600, "6h": 21600, "24h": 86400, "3d": 259200, "1w": 604800, "all": None}
    assert chart_range.spans(chart_range.DETAIL_NAMES) == {"1h": 3600, "24h": 86400, "1w": 604800}
    assert set(chart_range.DETAIL_NAMES) <= set(chart_range.NAMES)
    assert chart_range.DEFAULT in chart_range.DETAIL_NAMES


def test_overview_range_buttons_follow_chart_range(client):
    groups = groups_of(client, "/").groups
    assert set(groups) == {"ranges", "power-ranges", "d-ranges", "d-t-ranges"}
    for gid in ("ranges", "power-ranges"):
        assert groups[gid] == expected(chart_range.NAMES), gid
    for gid in ("d-ranges", "d-t-ranges"):
        assert groups[gid] == expected(chart_range.DETAIL_NAMES), gid


def test_miners_page_has_the_detail_dialog_ranges(client):
    groups = groups_of(client, "/miners").groups
    assert set(groups) == {"d-ranges", "d-t-ranges"}
    assert groups["d-ranges"] == expected(chart_range.DETAIL_NAMES)


def test_pools_page_range_select_follows_chart_range(client):
    parser = groups_of(client, "/pools")
    assert parser.select == [(n, n == chart_range.DEFAULT) for n in chart_range.NAMES]


@pytest.mark.parametrize("names", [("1h", "all"), ("6h",)])
def test_a_changed_list_reaches_the_page(client, monkeypatch, names):
    """The templates hold no list of their own: changing chart_range changes the buttons."""
    monkeypatch.setattr(chart_range, "NAMES", names)
    monkeypatch.setattr(chart_range, "DEFAULT", names[0])
    groups = groups_of(client, "/").groups
    assert [b for b, _ in groups["ranges"]["buttons"]] == list(names)
    assert groups["power-ranges"]["buttons"][0] == (names[0], "true")
