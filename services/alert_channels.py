"""The alert channels (``alerts.urls``) as the Settings page sees them: a safe label and an opaque id per URL.

An Apprise URL carries its service's secret in different places: the bot token is the
"host" of ``tgram://<token>/<chat>``, a Discord webhook's id and token are its host and
path, ntfy's topic (anyone who knows it can read it) is the host of ``ntfy://<topic>``,
``mailto://user:pass@host`` has a password. So a label is the service's name plus, only for
services whose host part really is a server (``json://``, ``ntfy://host/topic``, ``mailto://``,
...), that server's name when it looks like one (a dotted DNS name, an IP address or
``localhost``). Never the user, password, path or query (docs/settings.md).

An id is an HMAC of the URL with a key of this install (the session-signing key), so it is
stable across restarts and edits of the other channels and tells nothing about the URL.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import unquote

ENV_VAR = "ALERT_URLS"  # services/config.py _apply_alerts_env: when set, it replaces alerts.urls
MAX_CHANNELS = 20  # a handful is normal; each one is a queue in the notifier
MAX_URL = 1024  # services/config_edit.MAX_TEXT

# Apprise schemes -> the name people know the service by (unknown schemes show as "<scheme>://").
SERVICES = {
    "tgram": "Telegram", "ntfy": "ntfy", "ntfys": "ntfy", "mailto": "E-mail", "mailtos": "E-mail",
    "discord": "Discord", "json": "JSON webhook", "jsons": "JSON webhook", "form": "Form webhook",
    "forms": "Form webhook", "xml": "XML webhook", "xmls": "XML webhook", "pover": "Pushover",
    "gotify": "Gotify", "gotifys": "Gotify", "hassio": "Home Assistant", "hassios": "Home Assistant",
    "matrix": "Matrix", "matrixs": "Matrix", "slack": "Slack", "msteams": "Microsoft Teams",
    "signal": "Signal", "signals": "Signal", "pbul": "Pushbullet", "mqtt": "MQTT", "mqtts": "MQTT",
    "apprise": "Apprise API", "apprises": "Apprise API", "mmost": "Mattermost", "mmosts": "Mattermost",
    "rocket": "Rocket.Chat", "rockets": "Rocket.Chat", "whatsapp": "WhatsApp", "twilio": "Twilio",
    "pushover": "Pushover", "bark": "Bark", "barks": "Bark", "ncloud": "Nextcloud", "nclouds": "Nextcloud",
    "nctalk": "Nextcloud Talk", "nctalks": "Nextcloud Talk", "zulip": "Zulip", "line": "LINE",
}
# Schemes whose URL host is the server's name (Apprise's wiki: "{schema}://{host}/..."). In the others
# (tgram, discord, pover, slack, msteams, ...) the host position holds a token or an id.
HOST_SCHEMES = frozenset({
    "json", "jsons", "form", "forms", "xml", "xmls", "ntfy", "ntfys", "mailto", "mailtos", "gotify", "gotifys",
    "hassio", "hassios", "matrix", "matrixs", "mqtt", "mqtts", "apprise", "apprises", "mmost", "mmosts",
    "rocket", "rockets", "ncloud", "nclouds", "nctalk", "nctalks", "signal", "signals", "bark", "barks",
})
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*)://")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
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


def scheme_of(url: str) -> str:
    """The URL's scheme in lower case ("" when it has none)."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else ""


def _shown_host(host: str) -> bool:
    """True for a server name that cannot be a token: an IP address, localhost or a dotted DNS name."""
    if host.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
        return True
    except ValueError:
        pass
    labels = host.split(".")
    # A DNS name with a top-level label that has a letter (a base64 token piece with a dot would need
    # every piece to be a valid DNS label as well).
    return (len(labels) >= 2 and len(host) <= 253 and all(_LABEL.match(part) for part in labels)
            and any(ch.isalpha() for ch in labels[-1]) and not labels[-1].isdigit())


def server_of(url: str) -> str | None:
    """``host[:port]`` of a URL whose scheme puts a server there, when it plainly is one; else None."""
    scheme = scheme_of(url)
    if scheme not in HOST_SCHEMES:
        return None
    rest = url.strip()[len(scheme) + 3:]
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, remainder = rest[:cut], rest[cut:]
    if "@" not in authority and "@" in remainder:
        # A user and password holding an unescaped "/", "?" or "#": where the host starts is not plain.
        return None
    hostport = authority.rsplit("@", 1)[-1]
    if "${" in hostport:
        return None  # from the environment: not shown as typed, not guessed
    if hostport.startswith("["):
        host, _, port = hostport[1:].partition("]")
        host, port = f"[{host}]", port.removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return None
    if not host or not _shown_host(host):
        return None
    return f"{host.lower()}:{port}" if port else host.lower()


def label(url: str) -> str:
    """A description safe to show: the service's name, and the server's name where it is one."""
    scheme = scheme_of(url)
    service = SERVICES.get(scheme, f"{scheme}://" if scheme else "not a URL")
    server = server_of(url)
    return f"{service} · {server}" if server else service


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
