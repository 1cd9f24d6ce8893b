"""Load config.yaml into typed, frozen settings; defaults live here, in code.

Flask's ``app.config.from_file`` would silently drop every lowercase key, so
the YAML is read here instead and validated strictly: an unknown key, a wrong
type or an impossible value raises ``ConfigError`` whose message is one line
naming the key ("polling.interval_sec: must be at least 1, got 0").
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """A configuration problem, described in one line that names the key."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class ServerConfig:
    """The web server."""

    port: int = 5000  # TCP port of the dashboard and API (env PORT)
    host: str = "0.0.0.0"  # address to listen on
    threads: int = 16  # gunicorn threads; each open dashboard tab holds one (WebSocket)
    data_dir: str = "data"  # database, logs, lock and secrets; relative to the config file (env DATA_DIR)

    def validate(self) -> None:
        _check(1 <= self.port <= 65535, f"port: must be 1-65535, got {self.port}")
        _check(2 <= self.threads <= 256, f"threads: must be 2-256, got {self.threads}")


@dataclass(frozen=True)
class NetworkConfig:
    """How miners are found and reached."""

    subnet: str = "auto"  # CIDR to discover, or "auto" = the Pi's own LAN
    port_offset: int = 0  # added to every miner port (80, 4028); for simulators run without root
    probe_timeout_sec: float = 0.6  # how long discovery waits for TCP connects (absent hosts stay silent)
    discover_on_start: bool = False  # scan the subnet once at start when no miner is known yet
    discover_every_min: int = 0  # periodic discovery, 0 = off

    def validate(self) -> None:
        if self.subnet != "auto":
            try:
                net = ipaddress.ip_network(self.subnet, strict=False)
            except ValueError:
                raise ValueError(f"subnet: not a CIDR network like 192.168.1.0/24: {self.subnet!r}") from None
            _check(net.version == 4 and net.prefixlen >= 16, f"subnet: must be IPv4 and /16 or smaller, got {self.subnet}")
        _check(0 <= self.port_offset <= 60000, f"port_offset: must be 0-60000, got {self.port_offset}")
        _check(0.05 <= self.probe_timeout_sec <= 10, f"probe_timeout_sec: must be 0.05-10, got {self.probe_timeout_sec}")
        _check(self.discover_every_min >= 0, f"discover_every_min: must be >= 0, got {self.discover_every_min}")


@dataclass(frozen=True)
class PollingConfig:
    """How often and how patiently miners are read."""

    interval_sec: float = 15  # one poll round every N seconds
    timeout_sec: float = 5  # per-miner deadline; a hung miner costs at most this
    offline_after: int = 3  # failed polls in a row before a miner is shown offline
    workers: int = 32  # threads doing network I/O (polls, probes, commands)

    def validate(self) -> None:
        _check(self.interval_sec >= 1, f"interval_sec: must be at least 1, got {self.interval_sec}")
        _check(0.2 <= self.timeout_sec <= 60, f"timeout_sec: must be 0.2-60, got {self.timeout_sec}")
        _check(self.timeout_sec < self.interval_sec, f"timeout_sec: must be below interval_sec ({self.interval_sec}), got {self.timeout_sec}")
        _check(1 <= self.offline_after <= 100, f"offline_after: must be 1-100, got {self.offline_after}")
        _check(1 <= self.workers <= 512, f"workers: must be 1-512, got {self.workers}")


@dataclass(frozen=True)
class StorageConfig:
    """History kept in SQLite."""

    raw_retention_days: float = 3  # every poll sample is kept this long
    rollup_retention_days: float = 365  # 5-minute averages are kept this long

    def validate(self) -> None:
        _check(self.raw_retention_days > 0, f"raw_retention_days: must be > 0, got {self.raw_retention_days}")
        _check(self.rollup_retention_days >= self.raw_retention_days,
               f"rollup_retention_days: must be >= raw_retention_days, got {self.rollup_retention_days}")


@dataclass(frozen=True)
class SecurityConfig:
    """Who may change things. Secrets are never logged or returned by the API."""

    api_token: str = ""  # bearer token for scripts (env API_TOKEN); empty = DATA_DIR/api_token
    admin_password: str = ""  # dashboard password (env ADMIN_PASSWORD); empty = DATA_DIR/admin_password.hash
    reads_require_login: bool = False  # true = even GET /api/* needs a login or the token

    def validate(self) -> None:
        _check(not self.api_token or len(self.api_token) >= 16, "api_token: must be at least 16 characters")
        _check(not self.admin_password or len(self.admin_password) >= 8, "admin_password: must be at least 8 characters")


@dataclass(frozen=True)
class MinerEntry:
    """A miner listed by hand (found without discovery)."""

    ip: str = ""
    family: str = ""  # empty = detect
    port: int = 0  # 0 = the family's default port (+ network.port_offset)
    name: str = ""
    username: str = ""
    password: str = ""

    def validate(self) -> None:
        try:
            ipaddress.IPv4Address(self.ip)
        except ValueError:
            raise ValueError(f"ip: not an IPv4 address: {self.ip!r}") from None
        _check(0 <= self.port <= 65535, f"port: must be 0-65535, got {self.port}")


@dataclass(frozen=True)
class NMMinerConfig:
    """NMMiner/NMAxe telemetry: they broadcast JSON on UDP 12345 and appear without a scan."""

    listen: bool = False  # listen for their broadcasts (plus network.port_offset)
    bind: str = "0.0.0.0"  # address to listen on
    port: int = 12345  # 0 = any free port (tests)

    def validate(self) -> None:
        try:
            ipaddress.IPv4Address(self.bind)
        except ValueError:
            raise ValueError(f"bind: not an IPv4 address: {self.bind!r}") from None
        _check(0 <= self.port <= 65535, f"port: must be 0-65535, got {self.port}")


@dataclass(frozen=True)
class LoggingConfig:
    """Log output (to stderr; systemd's journal keeps it)."""

    level: str = "INFO"

    def validate(self) -> None:
        _check(self.level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"),
               f"level: must be DEBUG, INFO, WARNING or ERROR, got {self.level!r}")


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    server: ServerConfig = field(default_factory=ServerConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    polling: PollingConfig = field(default_factory=PollingConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    nmminer: NMMinerConfig = field(default_factory=NMMinerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    miners: tuple[MinerEntry, ...] = ()
    source: str = ""  # the file this came from ("" = defaults only)

    @property
    def data_path(self) -> Path:
        """Absolute data directory."""
        return Path(self.server.data_dir).expanduser().resolve()


# --- building typed objects from plain YAML data ----------------------------
def _convert(value: Any, hint: Any, key: str) -> Any:
    """Convert one YAML value to the annotated type, or raise ConfigError naming key."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is tuple:  # tuple[Item, ...]
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        item_type = typing.get_args(hint)[0]
        return tuple(_convert(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. a numeric password
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected text, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported setting type")  # pragma: no cover


def _build(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    values = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in known:
            raise ConfigError(f"{full}: unknown key (known: {', '.join(sorted(known))})")
        values[key] = _convert(value, hints[key], full)
    obj = cls(**values)
    validate = getattr(obj, "validate", None)
    if validate:
        try:
            validate()
        except ValueError as exc:
            raise ConfigError(f"{prefix}.{exc}" if prefix else str(exc)) from None
    return obj


# --- environment overrides ----------------------------------------------------
_ENV_OVERRIDES = {
    "PORT": ("server", "port", int),
    "DATA_DIR": ("server", "data_dir", str),
    "API_TOKEN": ("security", "api_token", str),
    "ADMIN_PASSWORD": ("security", "admin_password", str),
    "SUBNET": ("network", "subnet", str),
    "PORT_OFFSET": ("network", "port_offset", int),
}


def _apply_env(data: dict, environ: typing.Mapping[str, str]) -> None:
    for var, (section, key, kind) in _ENV_OVERRIDES.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{section}.{key}: environment variable {var} must be a whole number, got {raw!r}") from None
        section_data = data.setdefault(section, {}) or {}
        if not isinstance(section_data, dict):
            raise ConfigError(f"{section}: expected a mapping of keys")
        section_data[key] = value
        data[section] = section_data


def default_config_path() -> Path:
    """config.yaml beside app.py, unless CONFIG names another file."""
    return Path(os.environ.get("CONFIG") or Path(__file__).resolve().parent.parent / "config.yaml")


def load_config(path: str | os.PathLike | None = None, environ: typing.Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the configuration; raise ConfigError on any problem."""
    environ = os.environ if environ is None else environ
    cfg_path = Path(path) if path else default_config_path()
    data: Any = {}
    if cfg_path.exists():
        try:
            data = yaml.safe_load(cfg_path.read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ConfigError(f"{cfg_path}:{where}: {problem}") from None
        except OSError as exc:
            raise ConfigError(f"{cfg_path}: cannot read: {exc.strerror}") from None
    elif path or environ.get("CONFIG"):
        raise ConfigError(f"{cfg_path}: config file not found")
    if not isinstance(data, dict):
        raise ConfigError(f"{cfg_path}: expected a mapping of sections at the top, got {type(data).__name__}")
    _apply_env(data, environ)
    config = _build(Config, data, "")
    # A relative data_dir is relative to the config file, so the service finds
    # the same data whatever its working directory is.
    data_dir = Path(config.server.data_dir).expanduser()
    if not data_dir.is_absolute():
        data_dir = cfg_path.resolve().parent / data_dir
    server = dataclasses.replace(config.server, data_dir=str(data_dir))
    return dataclasses.replace(config, server=server, source=str(cfg_path))


def main(argv: list[str] | None = None) -> int:
    """``python -m services.config [path]``: check a config file, print one line, exit 0 or 1."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    try:
        config = load_config(args[0] if args else None)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 1
    print(f"config ok: {config.source or 'defaults'} (port {config.server.port}, data {config.server.data_dir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
