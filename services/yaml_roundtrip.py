"""Edit a YAML document and write it back with its comments and key order (ruamel.yaml round trip).

ruamel.yaml (pure Python, py3-none-any; requirements.txt) keeps the user's comments, blank
lines, key order and quoting. Without it the document is re-dumped by PyYAML: key order kept,
comments lost (``COMMENTS_KEPT`` says which). ruamel writes YAML 1.2 while the loader
(services/config.py, PyYAML) reads YAML 1.1, where a plain ``on``, ``no`` or ``12:30`` is not
text: every string written here is double-quoted, and config_edit checks that PyYAML reads back
exactly the intended data before anything is written.
"""

from __future__ import annotations

import io
from typing import Any

import yaml

try:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString
except ImportError:  # pragma: no cover - requirements.txt installs it; the fallback only loses comments
    YAML = None

COMMENTS_KEPT = YAML is not None


def _ruamel() -> Any:
    rt = YAML()  # round-trip mode: comments, order, quotes and flow style survive
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap the user's long lines

    # ruamel writes an empty value for None ("latitude:"); the shipped config.yaml says "null".
    def null(representer: Any, _data: None) -> Any:
        return representer.represent_scalar("tag:yaml.org,2002:null", "null")

    rt.representer.add_representer(type(None), null)
    return rt


class Document:
    """One YAML mapping document being edited: ``set`` leaves by dotted path, then ``text()``."""

    def __init__(self, text: str) -> None:
        self._rt = _ruamel() if COMMENTS_KEPT else None
        loaded = self._rt.load(text) if self._rt is not None else yaml.safe_load(text)
        if loaded is None:
            loaded = CommentedMap() if self._rt is not None else {}
        if not isinstance(loaded, dict):
            raise ValueError(f"expected a mapping of sections at the top, got {type(loaded).__name__}")
        self.tree = loaded

    def has(self, key: str) -> bool:
        """True if the document spells out the dotted key."""
        node: Any = self.tree
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def set(self, key: str, value: Any) -> None:
        """Set a leaf, making the mappings on the way (an empty ``section:`` becomes one)."""
        parts = key.split(".")
        node = self.tree
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = CommentedMap() if self._rt is not None else {}
                node[part] = child
            node = child
        if isinstance(value, str) and self._rt is not None:
            value = DoubleQuotedScalarString(value)  # YAML 1.1 readers: never a bool, number or time
        node[parts[-1]] = value

    def set_list(self, key: str, values: list[str]) -> None:
        """Set a list of strings at a dotted key; items that stay keep their node and comments, new ones go last."""
        node = self.tree
        for part in key.split(".")[:-1]:
            node = node.get(part) if isinstance(node.get(part), dict) else None
            if node is None:
                break
        last = key.split(".")[-1]
        current = node.get(last) if node is not None else None
        if self._rt is None or not isinstance(current, list):
            self.set(key, CommentedSeq([DoubleQuotedScalarString(v) for v in values]) if self._rt else list(values))
            return
        wanted = list(values)
        i = 0
        while i < len(current):  # keep the items still wanted, in order; delete the others (their comments go)
            if wanted and current[i] == wanted[0]:
                wanted.pop(0)
                i += 1
            else:
                del current[i]
        for value in wanted:
            current.append(DoubleQuotedScalarString(value))

    def text(self) -> str:
        """The document as YAML text."""
        if self._rt is None:
            return yaml.safe_dump(self.tree, sort_keys=False, default_flow_style=False, allow_unicode=True)
        out = io.StringIO()
        self._rt.dump(self.tree, out)
        return out.getvalue()


def set_plain(data: dict, key: str, value: Any) -> None:
    """The same edit on plain data (what PyYAML must read back from ``Document.text()``)."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
