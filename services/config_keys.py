"""Which config.yaml keys the Settings page edits, their type, and whether a change applies live or at a restart.

The catalogue is walked from the Config dataclasses themselves (services/config.py), so a
new field under an editable section is editable with its own type and default at once.
Secrets (a field declared ``repr=False``, plus the dashboard password and the API token) are
write-only: their values never leave the server (docs/settings.md).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

from services.battery.config import ENV_OVERRIDES as _BATTERY_ENV
from services.config import _ENV_OVERRIDES, Config  # the loader's own table: one list of overrides

# Whole sections (or single keys) the page edits. Others (server.*, miners, rules, prices, mqtt,
# alerts) keep their own pages or stay in the file: a wrong server.port cannot be undone from a
# browser that no longer reaches the controller.
EDITABLE = (
    "network.subnet", "network.discover_every_min", "network.discover_on_start", "network.probe_timeout_sec",
    "polling.interval_sec", "polling.timeout_sec", "polling.offline_after",
    "storage.raw_retention_days", "storage.rollup_retention_days", "storage.hourly_retention_days",
    "storage.daily_retention_days", "storage.events_retention_days", "storage.events_max_rows",
    "battery",  # the source and every source's fields (a restart re-creates the source)
    "autocontrol",  # thresholds, policy, surplus and price layers
    "site", "security.reads_require_login",
    "alerts",  # the triggers' basics; alerts.urls (a list, with channel tokens): web/alert_channels_api.py
    "backup",  # scheduled backups to a folder (Settings -> Backup & restore; docs/backup.md)
    "security.admin_password", "security.api_token", "ems.token",  # secrets: their own routes only
)

# Secrets changed only through POST /api/settings/{password,api-token,ems-token}, never by PATCH.
ROTATED = frozenset({"security.admin_password", "security.api_token", "ems.token"})

# Keys whose new value the running controller takes at once (services/config_live.py does it);
# every other editable key needs a restart. Why these and not more:
# - polling.timeout_sec: each driver got its timeout when it was made; polling.workers sizes pools.
# - site: MQTT topics and metric labels are made once at start.
LIVE = frozenset({
    "network.subnet", "network.discover_every_min", "network.discover_on_start", "network.probe_timeout_sec",
    "polling.interval_sec", "polling.offline_after",
    "storage.raw_retention_days", "storage.rollup_retention_days", "storage.hourly_retention_days",
    "storage.daily_retention_days", "storage.events_retention_days", "storage.events_max_rows",
    "security.reads_require_login", "security.admin_password", "security.api_token", "ems.token",
    # autocontrol.*, battery.* and alerts.*: prefix-matched in _is_live. A changed sun key rebuilds
    # the sun clock; a battery change rebuilds the source (BatteryMonitor.reconfigure); the alert
    # service takes new triggers (AlertService.reconfigure), its channels, alerts.urls, having their
    # own routes (services/alert_channels.py).
    # The backup schedule reads the running config at each check (services/backup_schedule.py) and re-plans.
    "backup.dir", "backup.every_hours", "backup.keep", "backup.include_secrets", "backup.allow_same_disk",
})
_NAMED_SECRETS = frozenset({"security.admin_password", "security.api_token"})


@dataclass(frozen=True)
class KeyInfo:
    """One editable leaf key."""

    key: str  # dotted, as in the start-up errors ("polling.interval_sec")
    kind: str  # "boolean", "integer", "number" or "text"
    optional: bool  # null is a value ("not set")
    default: Any
    secret: bool
    live: bool

    def public(self) -> dict[str, Any]:
        """What GET /api/settings says about the key (a secret's default is "" anyway)."""
        return {"type": self.kind, "optional": self.optional, "apply": "live" if self.live else "restart",
                "default": None if self.secret else self.default, "secret": self.secret}


def _kind(hint: Any) -> tuple[str, bool] | None:
    """(kind, optional) of a scalar type hint; None for lists and other shapes the page does not edit."""
    optional = False
    if typing.get_origin(hint) is types.UnionType and type(None) in typing.get_args(hint):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        optional = True
    names = {bool: "boolean", int: "integer", float: "number", str: "text"}
    return (names[hint], optional) if hint in names else None


def _is_live(key: str) -> bool:
    return key.startswith(("autocontrol.", "battery.", "alerts.")) or key in LIVE


def _walk(cls: type, obj: Any, prefix: str) -> typing.Iterator[KeyInfo]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if cls is Config and f.name == "source":
            continue
        key = f"{prefix}{f.name}"
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _walk(hints[f.name], value, key + ".")
            continue
        kind = _kind(hints[f.name])
        if kind is None:
            continue
        secret = not f.repr or key in _NAMED_SECRETS
        yield KeyInfo(key, kind[0], kind[1], value, secret, _is_live(key))


def _editable(key: str) -> bool:
    return any(key == e or key.startswith(e + ".") for e in EDITABLE)


@functools.cache
def catalogue() -> dict[str, KeyInfo]:
    """Every editable leaf key, in the order of the dataclasses (the page's order); do not mutate."""
    return {info.key: info for info in _walk(Config, Config(), "") if _editable(info.key)}


def env_keys() -> dict[str, str]:
    """Dotted key -> the environment variable that overrides it (services/config.py applies them)."""
    keys = {f"{section}.{key}": var for var, (section, key, _kind) in _ENV_OVERRIDES.items()}
    keys.update({f"battery.{sub}.{key}": var for var, (sub, key) in _BATTERY_ENV.items()})
    return keys


def get_path(obj: Any, key: str) -> Any:
    """The value at a dotted key of a Config (or any nest of dataclasses)."""
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def replace_path(obj: Any, key: str, value: Any) -> Any:
    """A copy of the frozen dataclass ``obj`` with the dotted ``key`` set to ``value`` (not validated)."""
    head, _, rest = key.partition(".")
    if not rest:
        return dataclasses.replace(obj, **{head: value})
    return dataclasses.replace(obj, **{head: replace_path(getattr(obj, head), rest, value)})
