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
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.alerts.config import AlertsConfig
from services.battery.config import BatteryConfig
from services.battery.config import apply_env as _apply_battery_env
from services.mqtt.config import MqttPublisherConfig
from services.mqtt.config import apply_env as _apply_mqtt_env
from services.netinfo import MAX_SUBNETS, subnet_parts
from services.rules import Rule
from services.prices.config import PricesConfig
from services.prices.config import apply_env as _apply_prices_env
from services.profitability.config import ProfitabilityConfig
from services.solo.config import SoloConfig
from services.tags import MAX_TAGS, TAG_RE, TAG_RULE


class ConfigError(Exception):
    """A configuration problem, described in one line that names the key."""


_SITE_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _host_name_ok(host: str) -> bool:
    """A DNS name or an IP address as it appears in a Host header, without port."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return 0 < len(host) <= 253 and all(
        0 < len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum() and label.isascii()
        for label in labels)


@dataclass(frozen=True)
class ServerConfig:
    """The web server."""

    port: int = 5000  # TCP port of the dashboard and API (env PORT)
    host: str = "0.0.0.0"  # address to listen on
    threads: int = 16  # gunicorn threads; each open dashboard tab holds one (WebSocket)
    data_dir: str = "data"  # database, logs, lock and secrets; relative to the config file (env DATA_DIR)
    # Host names the dashboard answers to besides this machine's own addresses, localhost and its
    # hostname(.local): a page on another name (DNS rebinding) gets 400. ["*"] = no check (behind a proxy).
    allowed_hosts: tuple[str, ...] = ()

    def validate(self) -> None:
        _check(1 <= self.port <= 65535, f"port: must be 1-65535, got {self.port}")
        _check(2 <= self.threads <= 256, f"threads: must be 2-256, got {self.threads}")
        for i, host in enumerate(self.allowed_hosts):
            _check(host == "*" or _host_name_ok(host),
                   f"allowed_hosts[{i}]: not a host name or address (no scheme, port or path): {host!r}")


@dataclass(frozen=True)
class NetworkConfig:
    """How miners are found and reached."""

    subnet: str = "auto"  # CIDR to discover, or "auto" = the Pi's own LAN; several: "192.168.1.0/24, 10.0.5.0/24"
    port_offset: int = 0  # added to every miner port (80, 4028); for simulators run without root
    probe_timeout_sec: float = 0.6  # how long discovery waits for TCP connects (absent hosts stay silent)
    discover_on_start: bool = False  # scan the subnet once at start when no miner is known yet
    discover_every_min: int = 0  # periodic discovery, 0 = off

    def validate(self) -> None:
        parts = subnet_parts(self.subnet)
        _check(len(parts) <= MAX_SUBNETS, f"subnet: at most {MAX_SUBNETS} networks, got {len(parts)}")
        for part in parts:
            if part == "auto":
                continue
            try:
                net = ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"subnet: not a CIDR network like 192.168.1.0/24: {part!r}") from None
            _check(net.version == 4 and net.prefixlen >= 16, f"subnet: must be IPv4 and /16 or smaller, got {part}")
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
    rollup_retention_days: float = 35  # 5-minute averages are kept this long
    hourly_retention_days: float = 730  # hourly averages
    daily_retention_days: float = 3650  # daily averages
    # Poll rounds and battery readings are kept in memory and written together every
    # flush_interval_sec (one short transaction instead of one per round): a power cut
    # loses at most this much chart history, never control state, events or commands.
    # 120 s, not 60: each flush rewrites ~5 pages whatever it holds (the last leaf of each
    # table, page 1): bench/history.py measured 95-107 MB/day for 100 miners at 60 s, 78 at 120 s.
    flush_interval_sec: float = 120  # 0 = write every round at once
    checkpoint_interval_sec: float = 600  # the WAL is folded back into the database this often
    # CSV logs of miner and battery readings in DATA_DIR/logs (as the WhatsMiner controller kept),
    # one file per day and kind; a row per miner (and one battery row) every csv_interval_sec.
    # 300 s, not every poll: the database keeps every poll (GET /api/history.csv exports it); a row per
    # miner a minute was a third of what the controller wrote to the SD card (docs/storage.md).
    csv_interval_sec: float = 300  # 0 = no CSV logs
    csv_keep_days: int = 30  # older daily files are deleted
    csv_append_sec: float = 600  # rows wait in memory and are appended together this often (0 = each interval)
    events_retention_days: float = 90  # events older than this are deleted (hourly)
    events_max_rows: int = 100000  # and never more rows than this (the oldest go first)

    def validate(self) -> None:
        _check(self.events_retention_days > 0,
               f"events_retention_days: must be > 0, got {self.events_retention_days}")
        _check(1000 <= self.events_max_rows <= 10_000_000,
               f"events_max_rows: must be 1000-10000000, got {self.events_max_rows}")
        _check(self.raw_retention_days > 0, f"raw_retention_days: must be > 0, got {self.raw_retention_days}")
        _check(self.csv_interval_sec == 0 or self.csv_interval_sec >= 5,
               f"csv_interval_sec: must be 0 (off) or at least 5, got {self.csv_interval_sec}")
        _check(self.csv_keep_days >= 1, f"csv_keep_days: must be at least 1, got {self.csv_keep_days}")
        _check(0 <= self.csv_append_sec <= 3600, f"csv_append_sec: must be 0-3600, got {self.csv_append_sec}")
        _check(self.rollup_retention_days >= self.raw_retention_days,
               f"rollup_retention_days: must be >= raw_retention_days, got {self.rollup_retention_days}")
        _check(self.hourly_retention_days >= self.rollup_retention_days,
               f"hourly_retention_days: must be >= rollup_retention_days, got {self.hourly_retention_days}")
        _check(self.daily_retention_days >= self.hourly_retention_days,
               f"daily_retention_days: must be >= hourly_retention_days, got {self.daily_retention_days}")
        _check(0 <= self.flush_interval_sec <= 600,
               f"flush_interval_sec: must be 0-600 (0 = every round), got {self.flush_interval_sec}")
        _check(60 <= self.checkpoint_interval_sec <= 86400,
               f"checkpoint_interval_sec: must be 60-86400, got {self.checkpoint_interval_sec}")


@dataclass(frozen=True)
class SecurityConfig:
    """Who may change things. Secrets are never logged or returned by the API."""

    api_token: str = ""  # bearer token for scripts (env API_TOKEN); empty = DATA_DIR/api_token
    admin_password: str = ""  # dashboard password (env ADMIN_PASSWORD); empty = DATA_DIR/admin_password.hash
    reads_require_login: bool = False  # true = even GET /api/* needs a login or the token

    def validate(self) -> None:
        _check(not self.api_token or len(self.api_token) >= 16, "api_token: must be at least 16 characters")
        _check(not self.admin_password or len(self.admin_password) >= 8, "admin_password: must be at least 8 characters")


# A miner's location and notes: the same limits for config.yaml and the browser (services/miner_settings.py).
MAX_LOCATION = 64
MAX_NOTES = 1000


@dataclass(frozen=True)
class MinerEntry:
    """A miner listed by hand (found without discovery)."""

    ip: str = ""
    family: str = ""  # empty = detect
    port: int = 0  # 0 = the family's default port (+ network.port_offset)
    name: str = ""
    username: str = ""
    password: str = ""
    # Power control overrides for the allocator (None = the model table, then measured power).
    nominal_w: float | None = None
    min_w: float | None = None
    max_w: float | None = None
    max_temp_c: float | None = None  # None = autocontrol.overheat_c (itself None = the family's limit)
    autocontrol: bool = True  # false = the controller never commands this miner (a fixed load)
    # Shown and filtered on the Miners page; a value set in the browser wins (services/miner_settings.py).
    tags: tuple[str, ...] = ()  # e.g. [shed, solar]: bulk actions and rules can target a tag
    location: str = ""
    notes: str = ""

    def validate(self) -> None:
        try:
            ipaddress.IPv4Address(self.ip)
        except ValueError:
            raise ValueError(f"ip: not an IPv4 address: {self.ip!r}") from None
        _check(0 <= self.port <= 65535, f"port: must be 0-65535, got {self.port}")
        for key in ("nominal_w", "min_w", "max_w"):
            value = getattr(self, key)
            _check(value is None or 0 < value <= 100000, f"{key}: must be above 0 and at most 100000 W, got {value}")
        _check(self.min_w is None or self.max_w is None or self.min_w <= self.max_w,
               f"min_w: must be at most max_w ({self.max_w}), got {self.min_w}")
        _check(self.max_temp_c is None or 30 <= self.max_temp_c <= 130,
               f"max_temp_c: must be 30-130, got {self.max_temp_c}")
        _check(len(self.tags) <= MAX_TAGS, f"tags: at most {MAX_TAGS}, got {len(self.tags)}")
        for i, tag in enumerate(self.tags):
            _check(isinstance(tag, str) and bool(TAG_RE.fullmatch(tag.strip())),
                   f"tags[{i}]: {TAG_RULE}; got {str(tag)[:40]!r}")
        _check(len(self.location) <= MAX_LOCATION, f"location: at most {MAX_LOCATION} characters, got {len(self.location)}")
        _check(len(self.notes) <= MAX_NOTES, f"notes: at most {MAX_NOTES} characters, got {len(self.notes)}")


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
class SurplusConfig:
    """The "surplus" solar policy (evcc-style PV-surplus following); watts are the whole fleet's."""

    enable_threshold_w: float = 0  # surplus beyond the fleet's minimum needed before mining starts
    disable_threshold_w: float = 0  # shortfall tolerated at the minimum before mining stops
    enable_delay_sec: float = 60  # the enable condition must hold this long (evcc default 1 min)
    disable_delay_sec: float = 180  # the disable condition must hold this long (evcc default 3 min)
    # Below the priority SOC PV charges the battery first: battery charging is not surplus. This fixed
    # one applies with priority_ramp off, without PV readings and before the PV day is learned; a
    # battery emergency latches until the SOC is back at it.
    priority_soc: float = 50
    # The priority SOC rises through the PV day (learned from the PV readings; priority_soc until a
    # sunrise or sunset has been seen), from sunrise_priority_soc at sunrise to evening_priority_soc at
    # evening_day_fraction of the day: the morning's PV mines while the afternoon can still fill the
    # battery, and a battery that lags in the afternoon charges first, so it lasts the night (the last
    # fifth of the day gives little PV). Defaults from bench/solar_week's year (docs/power.md).
    priority_ramp: bool = True
    sunrise_priority_soc: float = 0
    evening_priority_soc: float = 100
    evening_day_fraction: float = 0.8
    # More than this below the priority SOC, running miners give way one step per change_interval_sec
    # while the battery is not exporting; between it and the priority SOC they hold their level.
    give_way_soc: float = 10
    # In daylight the battery may carry up to carry_w of a running fleet's draw (never start it): all
    # of it from give_way_soc above the priority SOC (in proportion below) and at buffer_soc or above,
    # none below carry_min_soc (keep it above autocontrol.emergency_soc). The level leads a rising
    # surplus, so the battery keeps room for the noon peak, and rides out passing clouds. 0 = off.
    carry_w: float = 2000
    carry_min_soc: float = 35
    buffer_soc: float = 90  # above it the battery may carry mining at the minimum when PV falls short
    residual_w: float = 100  # power left unused at the grid/battery connection (positive = keep a margin)
    min_percent: float = 10  # the fleet's lowest running setting; below it mining is off
    # Steps, hysteresis and pacing chosen with bench/solar_week over the Greensboro TMY3 year
    # (docs/power.md): 10 % steps unpaced changed the Whatsminer 18 times a summer day; with the
    # ramp and the carry, 25 % steps change it 4.9 times a day (20 %: 5.2) for the same capture.
    step_percent: float = 25  # targets move in these steps, to spare slow miners small changes
    hysteresis_percent: float = 12.5  # hold a level until the surplus falls this far below it
    # A running level changes at most this often (start/stop and safety excepted); lowering is at
    # once below the priority SOC while the battery discharges. Every Whatsminer power limit restarts
    # hashing for 60-90 s.
    change_interval_sec: float = 1800
    probe_soc: float = 98  # at or above it with an idle battery, PV may be curtailed: probe upwards
    probe_idle_w: float = 150  # battery power below this (either way) counts as idle
    probe_interval_sec: float = 300  # one probe step up at most this often

    def validate(self) -> None:
        for key in ("enable_delay_sec", "disable_delay_sec", "enable_threshold_w", "disable_threshold_w", "probe_idle_w"):
            _check(getattr(self, key) >= 0, f"{key}: must be >= 0, got {getattr(self, key)}")
        _check(0 <= self.priority_soc <= 100, f"priority_soc: must be 0-100, got {self.priority_soc}")
        _check(0 <= self.sunrise_priority_soc <= 100,
               f"sunrise_priority_soc: must be 0-100, got {self.sunrise_priority_soc}")
        _check(self.sunrise_priority_soc <= self.evening_priority_soc <= 100,
               f"evening_priority_soc: must be sunrise_priority_soc ({self.sunrise_priority_soc})-100, "
               f"got {self.evening_priority_soc}")
        _check(0 < self.evening_day_fraction <= 1,
               f"evening_day_fraction: must be above 0 and at most 1, got {self.evening_day_fraction}")
        _check(0 <= self.give_way_soc <= 100, f"give_way_soc: must be 0-100, got {self.give_way_soc}")
        _check(self.carry_w >= 0, f"carry_w: must be >= 0, got {self.carry_w}")
        _check(0 <= self.carry_min_soc <= 100, f"carry_min_soc: must be 0-100, got {self.carry_min_soc}")
        _check(self.priority_soc <= self.buffer_soc <= 100,
               f"buffer_soc: must be priority_soc ({self.priority_soc})-100, got {self.buffer_soc}")
        _check(0 < self.min_percent <= 100, f"min_percent: must be above 0 and at most 100, got {self.min_percent}")
        _check(0 < self.step_percent <= 100, f"step_percent: must be above 0 and at most 100, got {self.step_percent}")
        _check(0 <= self.hysteresis_percent < self.step_percent,
               f"hysteresis_percent: must be 0 or more and below step_percent ({self.step_percent}), got {self.hysteresis_percent}")
        _check(0 <= self.change_interval_sec <= 86400, f"change_interval_sec: must be 0-86400, got {self.change_interval_sec}")
        _check(0 <= self.probe_soc <= 100, f"probe_soc: must be 0-100, got {self.probe_soc}")
        _check(self.probe_interval_sec >= 30, f"probe_interval_sec: must be at least 30, got {self.probe_interval_sec}")


@dataclass(frozen=True)
class PriceControlConfig:
    """autocontrol.price (services/control/price_layer.py): mine from the grid while it pays; stop PV mining export beats."""

    # Off by default: with it on, a solar install may mine from the grid (whenever the price is
    # below a miner's break-even), which nobody should get by surprise.
    enabled: bool = False
    margin: float = 1.0  # a miner runs on grid power while price < break-even x margin (0.8 = keep 20 % profit)
    always_below: float | None = None  # at or below this price (source unit, e.g. p/kWh) mine everything: negative prices
    cheapest_hours: float = 0  # > 0: mine everything in the day's N cheapest hours of published prices
    # A miner mining from the grid keeps going until the price is this much above its break-even x
    # margin: hourly prices hovering around it would otherwise switch a Whatsminer (60-90 s lost each
    # time) on and off every hour.
    hysteresis_percent: float = 10
    grid: bool = True  # false: prices only limit PV mining (export pays more), never start grid mining
    export: bool = True  # PV mining gives up the export price: miners that earn less than it stop

    def validate(self) -> None:
        _check(0 < self.margin <= 10, f"margin: must be above 0 and at most 10, got {self.margin}")
        _check(0 <= self.cheapest_hours <= 24, f"cheapest_hours: must be 0-24, got {self.cheapest_hours}")
        _check(0 <= self.hysteresis_percent <= 100, f"hysteresis_percent: must be 0-100, got {self.hysteresis_percent}")


@dataclass(frozen=True)
class AutocontrolConfig:
    """Solar power control (services/power); off by default so a fresh install never switches miners."""

    enabled: bool = False  # a fresh install must not start switching miners on its own
    policy: str = "ratchet"  # "ratchet" (the WhatsMiner controller's, DESIGN 5) or "surplus"
    tick_sec: float = 30  # one decision every N s (evcc: under 30 s invites oscillation)
    min_interval_sec: float = 120  # at most one change per interval; emergencies excepted
    emergency_soc: float = 30  # SOC at or below it: off at once
    full_soc: float = 100  # SOC at or above it: full power and the ratchet's latch resets
    sunset_min_soc: float = 60  # after sunset, above this SOC mining resumes at the ratchet level
    sunset_hour: int = 19  # fixed local sunset, used when latitude/longitude are not set
    sunset_minute: int = 0
    sunrise_hour: int = 7  # fixed local sunrise, same fallback
    sunrise_minute: int = 0
    latitude: float | None = None  # with longitude: sunset/sunrise computed (astral) instead of fixed
    longitude: float | None = None
    # 600 s: ten EG4 portal polls at 60 s, or 30 at the 20 s minimum, so a few failed
    # polls or a slow upload never trip it; at a 1-3 kW drain a 10-15 kWh battery
    # loses about one ratchet step (10 % SOC) in 20-60 min, so 10 min cannot hide a fall.
    stale_after_sec: float = 600
    failsafe: str = "lowest_then_off"  # stale data: "lowest_then_off", "off" or "hold"
    failsafe_lowest_sec: float = 300  # "lowest_then_off": this long at the lowest setting, then off
    # Overheating wins over every wish: a miner whose hottest reading (temp_c) reaches its limit is
    # put to sleep and stays asleep until it has cooled to the limit - overheat_resume_delta_c.
    # None = the family's limit (services/power/overheat.py: 70 C for Bitaxe ASICs, 100 C for the
    # chip temperatures of the big miners), a number = that limit for every miner, 0 = off.
    overheat_c: float | None = None
    overheat_resume_delta_c: float = 10
    # The allocator's timers (AllocatorSettings): the grace after a command (WM60 waits 300 s while a
    # Whatsminer recalibrates) and the minimum on- and off-time of a miner.
    grace_sec: float = 300
    min_on_sec: float = 600
    min_off_sec: float = 600
    surplus: SurplusConfig = field(default_factory=SurplusConfig)
    price: PriceControlConfig = field(default_factory=PriceControlConfig)  # the price layer (docs/control.md)

    def validate(self) -> None:
        _check(self.policy in ("ratchet", "surplus"), f"policy: must be ratchet or surplus, got {self.policy!r}")
        _check(5 <= self.tick_sec <= 3600, f"tick_sec: must be 5-3600, got {self.tick_sec}")
        _check(0 <= self.min_interval_sec <= 86400, f"min_interval_sec: must be 0-86400, got {self.min_interval_sec}")
        _check(0 <= self.emergency_soc < self.sunset_min_soc,
               f"emergency_soc: must be 0 or more and below sunset_min_soc ({self.sunset_min_soc}), got {self.emergency_soc}")
        _check(self.sunset_min_soc <= self.full_soc,
               f"sunset_min_soc: must be at most full_soc ({self.full_soc}), got {self.sunset_min_soc}")
        _check(self.full_soc <= 100, f"full_soc: must be at most 100, got {self.full_soc}")
        for key in ("sunset_hour", "sunrise_hour"):
            _check(0 <= getattr(self, key) <= 23, f"{key}: must be 0-23, got {getattr(self, key)}")
        for key in ("sunset_minute", "sunrise_minute"):
            _check(0 <= getattr(self, key) <= 59, f"{key}: must be 0-59, got {getattr(self, key)}")
        _check((self.latitude is None) == (self.longitude is None), "latitude: latitude and longitude must be set together")
        _check(self.latitude is None or -90 <= self.latitude <= 90, f"latitude: must be -90 to 90, got {self.latitude}")
        _check(self.longitude is None or -180 <= self.longitude <= 180, f"longitude: must be -180 to 180, got {self.longitude}")
        _check(self.stale_after_sec >= 30, f"stale_after_sec: must be at least 30, got {self.stale_after_sec}")
        _check(self.failsafe in ("lowest_then_off", "off", "hold"),
               f"failsafe: must be lowest_then_off, off or hold, got {self.failsafe!r}")
        _check(self.failsafe_lowest_sec >= 0, f"failsafe_lowest_sec: must be >= 0, got {self.failsafe_lowest_sec}")
        _check(self.overheat_c is None or self.overheat_c == 0 or 30 <= self.overheat_c <= 130,
               f"overheat_c: must be 0 (off) or 30-130, got {self.overheat_c}")
        _check(0 < self.overheat_resume_delta_c <= 50,
               f"overheat_resume_delta_c: must be above 0 and at most 50, got {self.overheat_resume_delta_c}")
        for key in ("grace_sec", "min_on_sec", "min_off_sec"):
            _check(0 <= getattr(self, key) <= 86400, f"{key}: must be 0-86400, got {getattr(self, key)}")


@dataclass(frozen=True)
class EmsConfig:
    """Grid dispatch by an Energy Management System (docs/EMS.md); off until a token is set."""

    token: str = field(default="", repr=False)  # bearer token of the EMS (env EMS_TOKEN); "" = EMS routes answer 503
    rated_kw: float | None = None  # None = computed: the controllable online miners' maximum power
    silence: str = "hold"  # EMS silence: "hold" the last command until deactivate, or "lease"
    lease_minutes: float = 15  # "lease": a dispatch ends this long after the last EMS call that set or repeated it
    # Opt-in: addresses/CIDRs whose EMS calls need no token (an EMS that cannot send Authorization).
    # Anyone who can use such an address can dispatch the fleet: docs/EMS.md.
    allow_from: tuple[str, ...] = ()

    def validate(self) -> None:
        for i, entry in enumerate(self.allow_from):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"allow_from[{i}]: not an address or CIDR like 192.168.1.50 or 10.0.5.0/28: "
                                 f"{entry!r}") from None
        _check(not self.token or len(self.token) >= 16, "token: must be at least 16 characters")
        _check(self.token == self.token.strip(), "token: must not start or end with spaces")
        _check(self.rated_kw is None or 0 < self.rated_kw <= 100000,
               f"rated_kw: must be above 0 and at most 100000, got {self.rated_kw}")
        _check(self.silence in ("hold", "lease"), f"silence: must be hold or lease, got {self.silence!r}")
        _check(1 <= self.lease_minutes <= 1440, f"lease_minutes: must be 1-1440, got {self.lease_minutes}")


@dataclass(frozen=True)
class BackupConfig:
    """Scheduled backups to a folder (docs/backup.md): a USB stick or NAS mount, so a dead SD card loses little."""

    dir: str = ""  # absolute path of the folder; "" = off (a missing folder at start is not fatal: mounted later)
    every_hours: int = 24  # one archive this often
    keep: int = 7  # this site's newest N archives in the folder are kept, older ones deleted (only ours)
    include_secrets: bool = False  # true: the archives hold the tokens and logins (written 0600; keep it private)
    # A folder on the data folder's own disk (an unmounted mount point on the SD card) is refused unless set.
    allow_same_disk: bool = False

    def validate(self) -> None:
        _check(self.dir == "" or os.path.isabs(self.dir),
               f"dir: must be an absolute path like /mnt/usb/minerfleet (or empty = off), got {self.dir!r}")
        _check(self.dir == self.dir.strip() and "\x00" not in self.dir,
               f"dir: no spaces at the ends and no NUL character, got {self.dir!r}")
        _check(1 <= self.every_hours <= 168, f"every_hours: must be 1-168, got {self.every_hours}")
        _check(1 <= self.keep <= 100, f"keep: must be 1-100, got {self.keep}")


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
    autocontrol: AutocontrolConfig = field(default_factory=AutocontrolConfig)
    battery: BatteryConfig = field(default_factory=BatteryConfig)
    ems: EmsConfig = field(default_factory=EmsConfig)
    prices: PricesConfig = field(default_factory=PricesConfig)  # electricity prices (docs/prices.md)
    profitability: ProfitabilityConfig = field(default_factory=ProfitabilityConfig)  # docs/profitability.md
    alerts: AlertsConfig = field(default_factory=AlertsConfig)  # notifications and triggers (docs/alerts.md)
    mqtt: MqttPublisherConfig = field(default_factory=MqttPublisherConfig)  # publish to a broker (docs/mqtt.md)
    solo: SoloConfig = field(default_factory=SoloConfig)  # network difficulty and solo pools (docs/wallets.md)
    backup: BackupConfig = field(default_factory=BackupConfig)  # scheduled backups to a folder (docs/backup.md)
    miners: tuple[MinerEntry, ...] = ()
    rules: tuple[Rule, ...] = ()  # schedules and rules (services/rules, docs/rules.md); parsed by _rules()
    # This controller's name among several (docs/scale-out.md): MQTT topics and metric labels carry it.
    site: str = "home"
    source: str = ""  # the file this came from ("" = defaults only)

    def validate(self) -> None:
        _check(bool(_SITE_RE.match(self.site)),
               f"site: 1-40 letters, digits, '-' or '_' (it goes into MQTT topics and metric labels), got {self.site!r}")
        # The EMS token is a credential of its own: the EMS must not be able to use the dashboard's API.
        _check(not self.ems.token or self.ems.token != self.security.api_token,
               "ems.token: must differ from security.api_token")

    @property
    def data_path(self) -> Path:
        """Absolute data directory."""
        return Path(self.server.data_dir).expanduser().resolve()


# --- building typed objects from plain YAML data ----------------------------
def _convert(value: Any, hint: Any, key: str) -> Any:
    """Convert one YAML value to the annotated type, or raise ConfigError naming key."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is types.UnionType and type(None) in args:  # optional setting: null = not set
        return None if value is None else _convert(value, next(a for a in args if a is not type(None)), key)
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
    # Config.source records the file read; battery.source is a real setting.
    known = {f.name for f in dataclasses.fields(cls) if not (cls is Config and f.name == "source")}
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
    "EMS_TOKEN": ("ems", "token", str),
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


def _apply_alerts_env(data: dict, environ: typing.Mapping[str, str]) -> None:
    """ALERT_URLS (space-separated Apprise URLs) replaces alerts.urls: channels with tokens kept out of the file."""
    raw = environ.get("ALERT_URLS", "").split()
    if not raw:
        return
    section = data.setdefault("alerts", {}) or {}
    if not isinstance(section, dict):
        raise ConfigError("alerts: expected a mapping of keys")
    section["urls"] = raw
    data["alerts"] = section


def _rules(raw: Any) -> tuple[Rule, ...]:
    """``rules:``: free-form when/then mappings the generic builder cannot read; services/rules parses them."""
    from services.rules import RuleError, known_families, parse_rules

    try:
        return parse_rules(raw, key="rules", families=known_families())
    except RuleError as exc:
        raise ConfigError(str(exc)) from None


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
    _apply_battery_env(data, environ)  # EG4_USERNAME, EG4_PASSWORD, EG4_SERIAL, HA_TOKEN, MQTT_PASSWORD
    _apply_prices_env(data, environ)  # TIBBER_TOKEN
    _apply_alerts_env(data, environ)  # ALERT_URLS
    _apply_mqtt_env(data, environ)  # MQTT_PUBLISH_PASSWORD
    rules = _rules(data.pop("rules", None))
    config = _build(Config, data, "")
    # A relative data_dir is relative to the config file, so the service finds
    # the same data whatever its working directory is.
    data_dir = Path(config.server.data_dir).expanduser()
    if not data_dir.is_absolute():
        data_dir = cfg_path.resolve().parent / data_dir
    server = dataclasses.replace(config.server, data_dir=str(data_dir))
    return dataclasses.replace(config, server=server, source=str(cfg_path), rules=rules)


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
