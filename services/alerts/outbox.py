"""Messages waiting to go out: quiet hours, mutes and digests (pure: no I/O, no clock).

Each raised problem, resolution and notice becomes one Item. ``release`` hands
back what may go now as Messages: during quiet hours only critical items go
(the rest wait and go when the quiet hours end; a problem raised and resolved
meanwhile never goes at all); a muted kind's items are dropped; and when
``digest_at`` or more items of the same kind and action go at once (20 miners
behind one switch), they go as one message that lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from services.alerts.kinds import CRITICAL, INFO, KINDS

RAISE, RESOLVE, NOTICE = "raise", "resolve", "notice"
MAX_ITEMS = 1000  # waiting items kept (a night of a flapping site); the oldest non-critical go first
DIGEST_LINES = 25  # a digest lists this many, then "and N more"


@dataclass(frozen=True, slots=True)
class Item:
    """One piece of news: a problem raised or resolved, or a notice."""

    key: str  # the problem's key (kind:subject), or a notice's
    kind: str
    action: str  # RAISE, RESOLVE or NOTICE
    who: str  # "S19 (10.0.0.5)", or "" for the site
    text: str  # what was seen, and since when
    link: str  # the dashboard URL to open

    @property
    def critical(self) -> bool:
        return KINDS[self.kind].severity == CRITICAL


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: what the Notifier sends."""

    title: str
    body: str
    severity: str  # info | warning | critical
    items: tuple[Item, ...]


def _title(item: Item) -> str:
    kind = KINDS[item.kind]
    who = item.who or "Controller"
    if item.action == RESOLVE:
        return (kind.resolved or kind.title + ": resolved").format(who=who)
    return kind.title.format(who=who)


def _single(item: Item) -> Message:
    body = f"{item.text}\n{item.link}" if item.link else item.text
    severity = INFO if item.action == RESOLVE else KINDS[item.kind].severity
    return Message(_title(item), body, severity, (item,))


def _digest(items: list[Item]) -> Message:
    first = items[0]
    kind = KINDS[first.kind]
    n = len(items)
    if first.action == RESOLVE:
        title = f"{n} resolved: {kind.label}"
    else:
        title = kind.many.format(n=n) if kind.many else f"{n} alerts: {kind.label}"
        if kind.digest_hint:
            title += f": {kind.digest_hint}"
    lines = [f"- {_title(i) if not i.who else i.who}: {i.text}" for i in items[:DIGEST_LINES]]
    if n > DIGEST_LINES:
        lines.append(f"and {n - DIGEST_LINES} more")
    link = first.link.split("#", 1)[0] if first.link else ""
    body = "\n".join(lines) + (f"\n{link}" if link else "")
    severity = INFO if first.action == RESOLVE else kind.severity
    return Message(title, body, severity, tuple(items))


class Outbox:
    """Items waiting for their turn, in arrival order."""

    def __init__(self, digest_at: int) -> None:
        self.digest_at = digest_at
        self._items: list[Item] = []
        self.dropped = 0  # items dropped: muted, or over MAX_ITEMS

    def add(self, item: Item) -> None:
        """Queue one item (the oldest non-critical one goes if the box is full)."""
        self._items.append(item)
        if len(self._items) > MAX_ITEMS:
            victim = next((i for i in self._items if not i.critical), self._items[0])
            self._items.remove(victim)
            self.dropped += 1

    def withdraw_raise(self, key: str) -> bool:
        """A problem resolved before its alert went out: drop the waiting alert; True if there was one."""
        for item in self._items:
            if item.key == key and item.action == RAISE:
                self._items.remove(item)
                return True
        return False

    def waiting(self) -> int:
        """Items held back (quiet hours)."""
        return len(self._items)

    def release(self, quiet: bool, muted: Callable[[str], bool]) -> list[Message]:
        """The messages that may go now (in order), leaving the held-back items in the box."""
        going: list[Item] = []
        kept: list[Item] = []
        for item in self._items:
            if muted(item.kind):
                self.dropped += 1
            elif quiet and not item.critical:
                kept.append(item)
            else:
                going.append(item)
        self._items = kept
        groups: dict[tuple[str, str], list[Item]] = {}
        for item in going:
            groups.setdefault((item.kind, item.action), []).append(item)
        messages = []
        for group in groups.values():
            if len(group) >= self.digest_at:
                messages.append(_digest(group))
            else:
                messages.extend(_single(i) for i in group)
        return messages
