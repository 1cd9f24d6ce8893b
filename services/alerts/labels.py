"""A name for an alert channel (an Apprise URL) that is safe to show anywhere: status, events, logs.

An Apprise URL carries its service's secret in different places: the bot token is the
"host" of ``tgram://<token>/<chat>``, a Discord webhook's id and token are its host and
path, ntfy's topic (anyone who knows it can read it) is the host of ``ntfy://<topic>``,
``mailto://user:pass@host`` has a password. So a label is the service's name plus, only for
services whose host part really is a server (``json://``, ``ntfy://host/topic``, ``mailto://``,
...), that server's name when it looks like one (a dotted DNS name, an IP address or
``localhost``). Never the user, password, path or query (docs/settings.md). Apprise's own
"privacy" form is not enough: it stars passwords but shows an ntfy topic, a chat id and paths.
"""

from __future__ import annotations

import ipaddress
import re

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
