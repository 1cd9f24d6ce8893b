"""The alert channels (``alerts.urls``) as the Settings page sees them: a safe label and an opaque id per URL.

The label is services/alerts/labels.py's (the same name the alerts status and events use).

An id is an HMAC of the URL with a key of this install (the session-signing key), so it is
stable across restarts and edits of the other channels and tells nothing about the URL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import unquote

from services.alerts.labels import label, scheme_of

ENV_VAR = "ALERT_URLS"  # services/config.py _apply_alerts_env: when set, it replaces alerts.urls
MAX_CHANNELS = 20  # a handful is normal; each one is a queue in the notifier
MAX_URL = 1024  # services/config_edit.MAX_TEXT

_PIECES = re.compile(r"[/:@?&=#,;+\s]+")
_MIN_PIECE = 3  # shorter pieces ("to", "1") would blank ordinary words of an error text


class ChannelError(ValueError):
    """A refused channel change: the one-line reason (never the URL) and the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ChannelView:
    """One channel as the API shows it."""

    id: str
    scheme: str
    label: str
    from_env: bool

    def public(self) -> dict[str, Any]:
        """GET /api/settings/alert-channels' item."""
        return {"id": self.id, "scheme": self.scheme, "label": self.label, "from_env": self.from_env}


def channel_id(url: str, key: bytes, nth: int = 0) -> str:
    """An opaque id: HMAC-SHA256 of the URL (and which copy of it, for a list that repeats one) under ``key``."""
    material = f"alert-channel\0{nth}\0{url.strip()}".encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()[:16]


def views(urls: Sequence[str], key: bytes, *, from_env: bool) -> list[ChannelView]:
    """Every channel's id, scheme and label, in the configured order."""
    seen: dict[str, int] = {}
    out = []
    for url in urls:
        nth = seen.get(url.strip(), 0)
        seen[url.strip()] = nth + 1
        out.append(ChannelView(channel_id(url, key, nth), scheme_of(url), label(url), from_env))
    return out


def index_of(urls: Sequence[str], key: bytes, wanted: str) -> int | None:
    """The position of the channel with id ``wanted`` (compared in constant time), or None."""
    found = None
    for i, view in enumerate(views(urls, key, from_env=False)):
        if hmac.compare_digest(view.id, wanted):
            found = i
    return found


def from_environment(environ: Mapping[str, str]) -> bool:
    """True when ALERT_URLS sets the channels (it wins over config.yaml, so the page cannot change them)."""
    return bool(environ.get(ENV_VAR, "").split())


def check_new(url: Any, current: Sequence[str]) -> str:
    """The URL to add, stripped; ChannelError (400) if it is not text, too long, a repeat, or over the limit."""
    if not isinstance(url, str) or not url.strip():
        raise ChannelError("url: an Apprise URL like ntfy://ntfy.sh/my-topic is needed")
    url = url.strip()
    if len(url) > MAX_URL:
        raise ChannelError(f"url: too long ({len(url)} characters; at most {MAX_URL})")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch.isspace() for ch in url):
        # ALERT_URLS splits on spaces, and YAML would need quoting tricks: a URL has none (%20).
        raise ChannelError("url: must not contain spaces or control characters (write a space as %20)")
    if not scheme_of(url):
        raise ChannelError("url: not a URL (expected scheme://..., like ntfy://ntfy.sh/my-topic)")
    if url in (u.strip() for u in current):
        raise ChannelError("url: this channel is already configured", 409)
    if len(current) >= MAX_CHANNELS:
        raise ChannelError(f"at most {MAX_CHANNELS} channels", 409)
    return url


def scrub(text: str | None, url: str) -> str | None:
    """``text`` with the URL and every piece of it that its label does not show replaced by ``***``."""
    if not text:
        return text
    shown = set(_PIECES.split(label(url).lower())) | {scheme_of(url)}
    pieces = {p for p in _PIECES.split(url) + _PIECES.split(unquote(url))
              if len(p) >= _MIN_PIECE and p.lower() not in shown}
    text = text.replace(url, "***")
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text
