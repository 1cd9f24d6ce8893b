"""Hand a saved config change to the running controller: the live keys at once, the rest at the next start.

``effective(running, saved)`` is the running configuration with every live key
(services/config_keys.py) taken from the saved file: restart keys keep the value the
process started with, so nothing half-applies. ``apply_live`` then moves the runtime onto it:
the poll, discovery and control jobs are rescheduled, retention and the control thresholds
are swapped in, a changed battery source is rebuilt (services/battery_monitor.py) and its job
added, removed or re-timed, the alert triggers and quiet hours are handed to the alert service,
the sun clock is rebuilt from new coordinates or times, and ``autocontrol.enabled``/``policy`` go through the controller's own
command (the same as the dashboard's switch). The web layer swaps its own copy (Flask's
``CONTROLLER``: the read guard and the EMS token check read it).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Iterable

from services.config import Config
from services.config_keys import KeyInfo, catalogue, get_path, replace_path
from services.control.state import allocator_settings
from services.power.controller import sun_clock

log = logging.getLogger(__name__)

_RETENTION = ("raw_retention_days", "rollup_retention_days", "hourly_retention_days", "daily_retention_days")


def effective(running: Config, saved: Config, keys: dict[str, KeyInfo] | None = None) -> Config:
    """``running`` with every live key set from ``saved``."""
    cfg = running
    for key, info in (keys or catalogue()).items():
        if info.live:
            value = get_path(saved, key)
            if get_path(cfg, key) != value:
                cfg = replace_path(cfg, key, value)
    return cfg


def pending_restart(running: Config, saved: Config, keys: dict[str, KeyInfo] | None = None) -> list[str]:
    """Restart keys whose saved value differs from the one this process runs with."""
    return [k for k, info in (keys or catalogue()).items()
            if not info.live and get_path(running, k) != get_path(saved, k)]


def _reschedule(scheduler: Any, job: str, seconds: float) -> None:
    if scheduler is not None and scheduler.get_job(job) is not None:
        scheduler.reschedule_job(job, trigger="interval", seconds=seconds)


def _scan(runtime: Any) -> None:
    """One periodic scan; a scan already running (or no subnet) is logged and tried next time."""
    try:
        runtime.discovery.start()
    except Exception as exc:  # noqa: BLE001 - as Runtime's own periodic discovery
        log.warning("discovery not started: %s", exc)


def _discovery_job(runtime: Any, minutes: int) -> None:
    """Periodic discovery on, off or at a new interval (the job exists only while it is on)."""
    scheduler = runtime.scheduler
    if scheduler is None:
        return
    if not minutes:
        if scheduler.get_job("discover") is not None:
            scheduler.remove_job("discover")
        return
    if scheduler.get_job("discover") is None:
        scheduler.add_job(_scan, "interval", args=(runtime,), seconds=minutes * 60, id="discover", name="discover")
    else:
        _reschedule(scheduler, "discover", minutes * 60)


def _sun_keys(cfg: Config) -> tuple:
    a = cfg.autocontrol
    return (a.latitude, a.longitude, a.sunrise_hour, a.sunrise_minute, a.sunset_hour, a.sunset_minute)


def apply_live(runtime: Any, new: Config, changed: Iterable[str], *, actor: str) -> list[str]:
    """Move ``runtime`` onto the effective config ``new``; returns the changed keys that took effect now."""
    changed = set(changed)
    old: Config = runtime.config
    runtime.config = new
    runtime.fleet.config = new  # polling.offline_after, discovery's subnet and probe timeout
    runtime.autocontrol.config = new  # overheat_c, the miners' age limit (3 x interval)
    history = runtime.history
    history.storage = dataclasses.replace(history.storage, **{k: getattr(new.storage, k) for k in _RETENTION})
    if new.polling.interval_sec != old.polling.interval_sec:
        _reschedule(runtime.scheduler, "poll", new.polling.interval_sec)
    if new.network.discover_every_min != old.network.discover_every_min:
        _discovery_job(runtime, new.network.discover_every_min)
    if new.alerts != old.alerts or new.polling != old.polling:
        runtime.alerts.reconfigure(new)  # triggers, quiet hours, switches; its channels stay as set
        runtime.difficulty.alerts_difficulty = new.alerts.network_difficulty  # solo's offline fallback
    if new.battery != old.battery:
        rebuilt = runtime.battery.reconfigure(new)  # a new source (closing the old one), or only a new poll_sec
        runtime.battery_job(poll_now=rebuilt)
    if new.autocontrol.tick_sec != old.autocontrol.tick_sec:
        _reschedule(runtime.scheduler, "autocontrol", new.autocontrol.tick_sec)
    control = runtime.autocontrol
    control.controller.cfg = new.autocontrol  # thresholds, fail-safe, surplus and price layers: read every tick
    if _sun_keys(new) != _sun_keys(old):  # night from the next tick on (a new clock: its cached days go)
        control.controller.sun = sun_clock(new.autocontrol, control.controller.sun.tz)
    control.allocator.settings = allocator_settings(new.autocontrol)
    control.ems.cfg = new.ems  # ems.token: "configured" (503 without one) is asked on every EMS call
    # The controller's saved state (the dashboard's switch) wins over config at start, so a saved
    # enabled/policy is also set there: what the page saved is what runs.
    command = {k.split(".")[1]: get_path(new, k) for k in ("autocontrol.enabled", "autocontrol.policy") if k in changed}
    if command:
        control.command(command, actor)
    live = sorted(k for k in changed if catalogue()[k].live) if changed else []
    if live:
        log.info("settings applied live: %s", ", ".join(live))  # names only: values may be secrets
    return live
