"""Change config.yaml from the Settings page: validated whole, written atomically, the old file kept.

A change set is a mapping of dotted keys (``{"polling.interval_sec": 30}``) from the
catalogue in services/config_keys.py. ``ConfigEditor.apply``:

1. edits the file's YAML with its comments and key order kept (services/yaml_roundtrip.py);
2. writes it to a temporary file in the same directory (fsync) and loads THAT with
   services/config.py's own ``load_config``, so a bad value is refused with the very line
   start-up would print ("polling.interval_sec: must be at least 1, got 0.0");
3. only then copies the previous file to ``config.yaml.<UTC time>.bak`` (the newest
   ``BACKUPS_KEPT`` are kept) and moves the new one over it with ``os.replace`` (one atomic
   rename: a power cut leaves the old file or the new one, never half of one).

A refused change leaves the file byte-identical and creates no file. Values are never logged.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from services.atomic_file import fsync_dir, write_temp
from services.config import Config, ConfigError, load_config
from services.config_keys import ROTATED, KeyInfo, catalogue, env_keys, get_path
from services.yaml_roundtrip import COMMENTS_KEPT, Document, set_plain

# Ten dated copies: a week of daily tinkering can be undone, and a 10 KB file costs 100 KB.
BACKUPS_KEPT = 10
MAX_TEXT = 1024  # a URL, topic or entity id; longer is not a setting
# Lists of strings written whole by their own routes (not PATCH): the alert channels (web/alert_channels_api.py).
LIST_KEYS = frozenset({"alerts.urls"})
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\[\]]*$")


class ConfigEditError(ValueError):
    """A refused change: ``key`` (or None) and the one-line message, as start-up would say it."""

    def __init__(self, message: str, key: str | None = None, *, status: int = 400) -> None:
        super().__init__(message)
        self.key = key
        self.status = status  # 400: the change is wrong; 409: the file or its folder cannot take it


@dataclass(frozen=True)
class EditResult:
    """What a written change did."""

    config: Config  # the new file as start-up reads it
    changed: tuple[str, ...]  # keys whose value changed (secrets included by name only)
    backup: str | None  # the dated copy of the previous file (None: there was no file)


@dataclass(frozen=True)
class Backup:
    """One dated copy of the config file."""

    name: str
    size: int
    created: str  # ISO 8601 UTC, from the name

    def public(self) -> dict[str, Any]:
        """For GET /api/settings/backups."""
        return {"name": self.name, "size": self.size, "created": self.created}


def key_of(message: str) -> str | None:
    """The dotted key a one-line config error names ("polling.interval_sec: must be ..." -> that key)."""
    head = message.split(":", 1)[0].strip()
    return head if _KEY_RE.match(head) else None


class ConfigEditor:
    """The config file the app was started with, edited one validated change set at a time."""

    def __init__(self, path: str | os.PathLike, environ: Mapping[str, str] | None = None, *,
                 keep: int = BACKUPS_KEPT) -> None:
        self.path = Path(path).expanduser().resolve()  # a symlinked config: edit the file it names
        self.environ = os.environ if environ is None else environ
        self.keep = keep
        self.keys: dict[str, KeyInfo] = catalogue()
        self._lock = threading.Lock()  # one read-modify-write at a time
        self._backup_re = re.compile(re.escape(self.path.name) +
                                     r"\.(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)(?:\.(\d+))?\.bak$")

    comments_kept = COMMENTS_KEPT

    # --- reading -------------------------------------------------------------------
    def read_text(self) -> str:
        """The file's text ("" when it does not exist yet: every key at its default)."""
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return ""

    def load(self) -> Config:
        """The file as start-up reads it now (ConfigError when it has a problem)."""
        if not self.path.exists():
            return dataclasses.replace(Config(), source=str(self.path))
        return dataclasses.replace(load_config(self.path, environ=self.environ), source=str(self.path))

    def env_var(self, key: str) -> str | None:
        """The environment variable that overrides ``key`` in this process, if one is set."""
        var = env_keys().get(key)
        return var if var and self.environ.get(var) else None

    def in_file(self) -> set[str]:
        """Editable keys the file spells out (the others take their default)."""
        try:
            doc = Document(self.read_text())
        except (ValueError, yaml.YAMLError):
            return set()
        return {k for k in self.keys if doc.has(k)}

    # --- writing -------------------------------------------------------------------
    def _check_change(self, key: Any, value: Any, rotate: bool) -> None:
        if not isinstance(key, str) or key not in self.keys:
            raise ConfigEditError(f"{str(key)[:80]}: not a setting this page edits (config.yaml has it, docs/settings.md)",
                                  key if isinstance(key, str) else None)
        if key in ROTATED and not rotate:
            raise ConfigEditError(f"{key}: a secret: change it with its own button (POST /api/settings/...)", key)
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise ConfigEditError(f"{key}: expected a single value, got {type(value).__name__}", key)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigEditError(f"{key}: expected a number, got {value!r}", key)
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                raise ConfigEditError(f"{key}: too long ({len(value)} characters; at most {MAX_TEXT})", key)
            if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
                raise ConfigEditError(f"{key}: must not contain control characters", key)
        var = self.env_var(key)
        if var:
            raise ConfigEditError(f"{key}: set by the environment variable {var}, which wins over config.yaml: "
                                  "change it there", key, status=409)

    def _intended(self, info: KeyInfo, value: Any, doc: Document) -> tuple[bool, Any]:
        """(write?, value to write): null resets a key to its default (an optional one to "not set")."""
        if value is not None or info.optional:
            return True, value
        return doc.has(info.key), info.default

    def apply(self, changes: Mapping[str, Any], *, rotate: bool = False) -> EditResult:
        """Validate and write a change set; ConfigEditError (nothing written) names the key.

        ``rotate``: also the secrets of ROTATED (the password/token routes, never a PATCH body).
        """
        if not isinstance(changes, Mapping) or not changes:
            raise ConfigEditError("send at least one setting: {\"polling.interval_sec\": 30}")
        for key, value in changes.items():
            self._check_change(key, value, rotate)
        with self._lock:
            return self._apply_locked(changes)

    def set_list(self, key: str, values: Sequence[str]) -> EditResult:
        """Write the list of strings at ``key`` (one of LIST_KEYS), validated and kept as ``apply`` does.

        Items that stay keep their place and comments; ``changed`` is (key,) when the list changed.
        Values are never put in an error (they may be channel URLs with tokens).
        """
        if key not in LIST_KEYS:
            raise ConfigEditError(f"{key}: not a list this page edits", key)
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise ConfigEditError(f"{key}[{i}]: expected a non-empty string", key)
            if len(value) > MAX_TEXT or any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
                raise ConfigEditError(f"{key}[{i}]: too long, or holds control characters", key)
        with self._lock:
            return self._apply_locked({key: list(values)})

    def _apply_locked(self, changes: Mapping[str, Any]) -> EditResult:
        old_text = self.read_text()
        try:
            doc = Document(old_text)
            expected = yaml.safe_load(old_text) or {}
        except (ValueError, yaml.YAMLError) as exc:
            raise ConfigEditError(f"{self.path}: cannot be edited: {str(exc).splitlines()[0]}", status=409) from None
        try:
            before: Config | None = self.load()
        except ConfigError:
            before = None  # hand-edited into an error since start: the whole-file check below names it
        for key, value in changes.items():
            if key in LIST_KEYS:
                doc.set_list(key, value)
                set_plain(expected, key, list(value))
                continue
            write, value = self._intended(self.keys[key], value, doc)
            if write:
                doc.set(key, value)
                set_plain(expected, key, copy.deepcopy(value))
        new_text = doc.text()
        if yaml.safe_load(new_text) != expected:
            # The writer changed something else (a YAML 1.1/1.2 difference): refuse rather than guess.
            raise ConfigEditError("config.yaml: the edited file would not read back as written; nothing written",
                                  status=409)
        lists = tuple(k for k in changes if k in LIST_KEYS)
        return self._commit(self._validate(new_text), before, lists)

    def _validate(self, new_text: str) -> tuple[Path, Config]:
        """Write the candidate beside the file and load it with start-up's loader; (temp path, config)."""
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o600
        try:
            tmp = write_temp(self.path.parent, f".{self.path.name}.", new_text.encode(), mode)
        except OSError as exc:
            raise ConfigEditError(f"{self.path}: cannot write in {self.path.parent}: {exc.strerror}", status=409) from None
        try:
            # The same folder: a relative data_dir resolves as it does for the real file.
            config = load_config(tmp, environ=self.environ)
        except ConfigError as exc:
            tmp.unlink(missing_ok=True)
            message = str(exc).replace(str(tmp), str(self.path))
            raise ConfigEditError(message, key_of(message)) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, dataclasses.replace(config, source=str(self.path))

    def _commit(self, candidate: tuple[Path, Config], before: Config | None, lists: tuple[str, ...] = ()) -> EditResult:
        tmp, after = candidate
        try:
            backup = self._backup() if self.path.exists() else None
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigEditError(f"{self.path}: not written: {exc.strerror}", status=409) from None
        fsync_dir(self.path.parent)
        self._prune()
        changed = tuple(k for k in self.keys if before is None or get_path(before, k) != get_path(after, k))
        changed += tuple(k for k in lists if before is None or get_path(before, k) != get_path(after, k))
        return EditResult(after, changed, backup)

    # --- backups -------------------------------------------------------------------
    def _backup(self) -> str:
        """Copy the current file to a dated name (mode 0600: it may hold secrets); returns the name."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%S")
        data = self.path.read_bytes()
        # Several saves in one second: .2, .3 ... after the stamp, above any kept (a pruned name is not reused).
        first = max((seq for (when, seq), _ in self._sorted_backups() if when == stamp), default=0)
        for seq in range(first + 1, first + 1000):
            name = f"{self.path.name}.{stamp}{'' if seq == 1 else f'.{seq}'}.bak"
            target = self.path.parent / name
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            return name
        raise OSError(17, "no free backup name")

    def _sorted_backups(self) -> list[tuple[tuple[str, int], Path]]:
        found = []
        for entry in self.path.parent.iterdir():
            match = self._backup_re.match(entry.name)
            if match and entry.is_file():
                found.append(((match.group(1), int(match.group(2) or 1)), entry))
        return sorted(found, key=lambda item: item[0], reverse=True)

    def _prune(self) -> None:
        for _, path in self._sorted_backups()[self.keep:]:
            path.unlink(missing_ok=True)

    def backups(self) -> list[Backup]:
        """The dated copies, newest first."""
        out = []
        for (stamp, _seq), path in self._sorted_backups():
            try:
                size = path.stat().st_size
            except OSError:
                continue
            day, clock = stamp.split("T")
            out.append(Backup(path.name, size, f"{day}T{clock.replace('-', ':')}Z"))
        return out
