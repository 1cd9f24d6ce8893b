"""Apprise URLs: ${VAR} expansion, masking, validation, and one bounded Apprise object per channel.

Apprise is imported here only, and only when a URL is configured (it loads ~190
plugins: docs/alerts-channels.md has the cost). Three things are enforced on
every channel built here, each because Apprise's defaults do not give it:

- Time: each plugin's connect/read timeouts are capped at ``MAX_TIMEOUT_S``
  (Apprise: 4 s/4 s for HTTP plugins, 15 s for SMTP, 30 s read for apprise://),
  Apprise's own retries are turned off (the notifier retries, without sleeping
  in its thread), and its per-plugin throttle (``request_rate_per_sec``, 5.5 s
  for ntfy, e-mail, Pushover, ...) is handed to the notifier as a pacing
  interval instead of a ``time.sleep`` inside the send.
- Threads: ``service_timeout=0`` and ``async_mode=False`` make Apprise send in
  the caller's thread; otherwise it hands every send to a process-wide
  ThreadPoolExecutor whose threads outlive ``Notifier.close()``.
- Secrets: Apprise logs the whole unpacked URL (password included) at TRACE and
  auth headers (ntfy's ``Bearer`` token) and bot-token URLs at DEBUG; urllib3
  logs the request path (Telegram's bot token) at DEBUG. The ``apprise`` logger
  is set to WARNING and both loggers get a filter that replaces every secret of
  every URL seen here with ``***``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import unquote

from services.alerts.labels import label

log = logging.getLogger(__name__)

# A dead host or a black-holed port costs at most this per connect and per read. Apprise's HTTP
# plugins default to 4 s each and are left alone; its SMTP default (15 s, one timeout for every
# socket operation) and apprise://'s 30 s read are lowered to it.
MAX_TIMEOUT_S = 10.0

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# What a URL is cut into to find its secrets: the pieces that its shown name (labels.label) does not show.
_PIECES = re.compile(r"[/:@?&=#,;+\s]+")
_USERINFO_PASSWORD = re.compile(r"^[A-Za-z0-9+.\-]+://[^/@:?#]*:([^/@?#]+)@")
_MIN_SECRET = 3  # shorter pieces ("to", a port) would blank ordinary words in log lines


class MissingEnvVar(ValueError):
    """A ${VAR} in a URL names an environment variable that is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set")
        self.name = name


@dataclass(frozen=True)
class Channel:
    """One configured URL made ready to send: its own Apprise object, plugin and pacing."""

    apprise: Any  # apprise.Apprise holding only ``plugin``
    plugin: Any  # the apprise NotifyBase instance
    masked: str
    min_interval_s: float  # the plugin's own throttle, applied by the notifier between sends


def expand_env(url: str, environ: Mapping[str, str] | None = None) -> str:
    """``url`` with each ``${VAR}`` replaced from the environment; MissingEnvVar (a ValueError) if unset."""
    env = os.environ if environ is None else environ

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise MissingEnvVar(name)
        return env[name]

    return _ENV.sub(value, url)


def check_urls(urls: Iterable[str], *, key: str = "urls", environ: Mapping[str, str] | None = None) -> None:
    """Raise ValueError("<key>[i]: ...") for the first URL that Apprise cannot use (config validation).

    The message starts with ``urls[i]`` because the config loader puts the section name in front
    (``alerts.urls[1]: ...``); ``environ`` replaces os.environ for ``${VAR}`` (tests).
    """
    for i, url in enumerate(urls):
        if not isinstance(url, str) or not url.strip():
            raise ValueError(f"{key}[{i}]: must be an Apprise URL like ntfy://topic")
        try:
            expanded = expand_env(url.strip(), environ)
        except MissingEnvVar as exc:
            raise ValueError(f"{key}[{i}]: {exc}") from None
        scheme = _scheme(expanded)
        if not scheme:
            raise ValueError(f"{key}[{i}]: not a URL (expected scheme://..., like ntfy://topic)")
        if _instantiate(expanded) is None:
            raise ValueError(f"{key}[{i}]: Apprise cannot use this {scheme}:// URL (unknown scheme, or a field "
                             "missing or malformed; see docs/alerts-channels.md)")


def why_unusable(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """None if Apprise can use ``url``, else Apprise's own reason, without the URL or any piece of it.

    For the Settings page's "add a channel": Apprise logs why it refuses a URL (a WARNING such
    as "An invalid Discord Webhook Token (...) was specified.") then an ERROR quoting the URL;
    both are caught here (this thread's records only), every piece of the URL is starred and a
    quoted URL is cut off.
    """
    try:
        expanded = expand_env(url.strip(), environ)
    except MissingEnvVar as exc:
        return str(exc)
    scheme = _scheme(expanded)
    if not scheme:
        return "not a URL (expected scheme://..., like ntfy://topic)"
    catcher = _Catcher(threading.get_ident())
    logger = logging.getLogger("apprise")
    logger.addHandler(catcher)
    try:
        plugin = _instantiate(expanded)
    finally:
        logger.removeHandler(catcher)
    if plugin is not None:
        return None
    if scheme not in _schemes():
        return f"{scheme}:// is not a service Apprise knows (see https://github.com/caronc/apprise/wiki)"
    pieces = sorted(_pieces(expanded) | _pieces(unquote(expanded)) | _pieces(url), key=len, reverse=True)
    lines = []
    for line in catcher.lines:
        line = re.split(r"[A-Za-z][A-Za-z0-9+.\-]*://", line, maxsplit=1)[0].rstrip(" :.")  # a quoted URL: cut
        for piece in pieces:
            line = line.replace(piece, "***")
        if line and line not in lines:
            lines.append(line)
    return "; ".join(lines)[:300] or "a field is missing or malformed"


class _Catcher(logging.Handler):
    """Keeps the messages of the warnings Apprise logs in one thread."""

    def __init__(self, thread: int) -> None:
        super().__init__(logging.WARNING)
        self.thread = thread
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and len(self.lines) < 10:
            try:
                self.lines.append(record.getMessage())
            except Exception:  # a malformed record says nothing useful
                pass


def _schemes() -> set[str]:
    """Every scheme Apprise's plugins take (ntfy, ntfys, tgram, ...)."""
    try:
        from apprise.manager_plugins import NotificationManager  # a singleton in Apprise 1.x and 2.x

        return {str(s).lower() for s in NotificationManager().schemas()}
    except Exception:  # another Apprise layout: every scheme counts as known
        return _AnySchemes()


class _AnySchemes(set):
    def __contains__(self, item: object) -> bool:
        return True


def build(url: str) -> Channel:
    """A channel for ``url`` (already expanded); ValueError if Apprise cannot use it."""
    apprise = _apprise()
    plugin = _instantiate(url)
    if plugin is None:
        raise ValueError(f"Apprise cannot use this {_scheme(url)}:// URL")
    # The notifier paces sends itself; Apprise would time.sleep() this long inside the send.
    min_interval = max(0.0, float(getattr(plugin, "request_rate_per_sec", 0) or 0))
    plugin.request_rate_per_sec = 0
    plugin.retry = 0  # the notifier retries, with its own delays and without sleeping
    for attr in ("socket_connect_timeout", "socket_read_timeout"):
        current = float(getattr(plugin, attr, MAX_TIMEOUT_S) or MAX_TIMEOUT_S)
        setattr(plugin, attr, min(current, MAX_TIMEOUT_S))
    masked = label(url)  # what status, events and logs show; every other piece of the URL is redacted
    _remember_secrets(url, masked)
    holder = apprise.Apprise(asset=plugin.asset)
    holder.add(plugin)
    return Channel(apprise=holder, plugin=plugin, masked=masked, min_interval_s=min_interval)


def redact(text: str) -> str:
    """``text`` with every secret of every URL seen by this module replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


# -- internals -------------------------------------------------------------------------------

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first, replaced as a whole tuple (readers never lock)
_module: Any = None


class _RedactFilter(logging.Filter):
    """Rewrites a record whose text holds a known secret; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        if record.exc_info and not record.exc_text:
            # A traceback can quote a URL (requests' exceptions do): format it now, redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = redact(text)
        if clean != text:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def _apprise() -> Any:
    """The apprise module, imported on first use with its logging made safe."""
    global _module
    if _module is None:
        with _lock:
            if _module is None:
                logging.getLogger("apprise").setLevel(logging.WARNING)
                guard = _RedactFilter()
                for name in ("apprise", "urllib3.connectionpool"):
                    logging.getLogger(name).addFilter(guard)
                import apprise

                with warnings.catch_warnings():
                    # Apprise's e-mail plugin imports imghdr (deprecated since Python 3.11) for PGPy; the
                    # plugins load on first use, so load them here, once, with that one warning silenced.
                    warnings.filterwarnings("ignore", message=".*imghdr", category=DeprecationWarning)
                    apprise.Apprise.instantiate("json://localhost", asset=apprise.AppriseAsset(storage_mode="memory"))
                _module = apprise
    return _module


def _asset() -> Any:
    apprise = _apprise()
    # Send in the calling thread, keep Apprise's per-URL state in memory (no files on the SD card).
    return apprise.AppriseAsset(service_timeout=0, async_mode=False, storage_mode="memory")


def _instantiate(url: str) -> Any:
    """Apprise's plugin for ``url`` or None; its pieces are redacted from logs while it is parsed."""
    apprise = _apprise()
    # Apprise logs the unpacked URL at TRACE while parsing, before its shown name is known:
    # every piece of it is treated as a secret until then.
    parsing = _pieces(url) | _pieces(unquote(url))
    _while_parsing(parsing, add=True)
    try:
        return apprise.Apprise.instantiate(url, asset=_asset())
    except Exception as exc:  # a plugin bug must read as "cannot use", not crash start-up
        log.warning("Apprise failed on a %s:// URL: %s", _scheme(url), type(exc).__name__)
        return None
    finally:
        _while_parsing(parsing, add=False)


_pending: list[set[str]] = []  # the pieces of each URL being parsed right now (any thread)
_known: set[str] = set()  # the secrets of URLs parsed before


def _while_parsing(pieces: set[str], *, add: bool) -> None:
    with _lock:
        if add:
            _pending.append(pieces)
        else:
            _pending.remove(pieces)
        _publish()


def _remember_secrets(url: str, masked: str) -> None:
    """Keep the pieces of ``url`` that its shown name does not show, and its password."""
    shown = _pieces(masked) | _pieces(unquote(masked))
    found = {p for p in _pieces(url) | _pieces(unquote(url)) if p not in shown}
    password = _USERINFO_PASSWORD.match(url)
    if password:
        found |= {password.group(1), unquote(password.group(1))}
    with _lock:
        _known.update(p for p in found if len(p) >= 2)
        _publish()


def _publish() -> None:
    global _secrets
    _secrets = tuple(sorted(_known.union(*_pending), key=len, reverse=True))


def _pieces(text: str) -> set[str]:
    scheme = _scheme(text)
    return {p for p in _PIECES.split(text) if len(p) >= _MIN_SECRET and p != scheme}


def _scheme(url: str) -> str:
    match = re.match(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*)://", url)
    return match.group(1).lower() if match else ""
