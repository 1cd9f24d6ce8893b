"""docs/miners.md carries the capability matrix as a table; it must say what the driver classes say."""

from __future__ import annotations

import re
from pathlib import Path

import miners
from miners.base import ALL_CAPABILITIES

DOC = Path(__file__).resolve().parent.parent / "docs" / "miners.md"
START, END = "<!-- capability-matrix:start -->", "<!-- capability-matrix:end -->"
YES, NO = "✓", "–"


def _doc_table() -> tuple[list[str], dict[str, list[str]]]:
    """(header, family -> cells) of the Markdown table between the markers."""
    text = DOC.read_text(encoding="utf-8")
    assert START in text and END in text, f"{DOC.name} lost its {START} ... {END} markers"
    block = text.split(START, 1)[1].split(END, 1)[0]
    rows = [[cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            for line in block.splitlines() if line.strip().startswith("|")]
    assert len(rows) >= 2, "no table between the capability-matrix markers"
    header, body = rows[0], [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
    table: dict[str, list[str]] = {}
    for row in body:
        assert len(row) == len(header), f"row {row[0]!r} has {len(row)} cells, the header {len(header)}"
        family = row[0].strip("`")
        assert family not in table, f"family {family!r} is listed twice"
        table[family] = row[1:]
    return header, table


def _expected() -> tuple[list[str], dict[str, list[str]]]:
    header = ["family", "driver", "port", *ALL_CAPABILITIES, "modes"]
    table = {}
    for family, entry in miners.capability_matrix().items():
        cells = [entry["driver"], str(entry["default_port"])]
        cells += [YES if entry["capabilities"][name] else NO for name in ALL_CAPABILITIES]
        cells.append(", ".join(entry["modes"]) or NO)
        table[family] = cells
    return header, table


def test_capability_table_matches_the_code():
    header, table = _doc_table()
    want_header, want = _expected()
    assert header == want_header, "the table's columns differ from miners.base.ALL_CAPABILITIES"
    assert sorted(table) == sorted(want), "the table's families differ from miners.capability_matrix()"
    for family, cells in want.items():
        for column, got, expected in zip(want_header[1:], table[family], cells):
            assert got == expected, f"docs/miners.md: {family} / {column} says {got!r}, the code says {expected!r}"
