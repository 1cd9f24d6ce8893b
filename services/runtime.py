"""The running controller: database, fleet, discovery, hub and scheduler, started and stopped together.

Only one process may poll: ``start()`` takes an exclusive, non-blocking
``flock`` on DATA_DIR/fleet.lock. A second process (someone raised gunicorn's
workers, or ran the app twice) gets no lock and serves read-only, without
pollers, instead of doubling every request to the miners.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Callable

from database import queries
from database.db import Database
from services.config import Config
from services.alerts.service import TICK_SEC as ALERTS_TICK_SEC
from services.alerts.service import AlertService
from services.autocontrol import AutoControl, DbStore
from services.backup_schedule import TICK_SEC as BACKUP_TICK_SEC
from services.backup_schedule import BackupSchedule
from services.battery_monitor import BatteryMonitor
from services.csv_log import CsvLogger
from services.discovery import Discovery
from services.energy_cost import CostBook, PriceLog
from services.ems import EmsService
from services.failure_log import FailureLog
from services.fleet import FleetManager
from services.history import REMOVED_KEY
from services.hub import Hub
from services.metrics import Metrics
from services.nmminer_listener import NMMinerListener, start_from_config as start_nmminer_listener
from services.prices import PriceService
from services.prices.service import TICK_SEC as PRICES_TICK_SEC
from services.profitability import ProfitabilityService
from services.rules import RuleBook, known_families
from services.scheduler import add_interval_job, build_scheduler, run_soon
from services.shares import ShareLog
from services.solo.best import BestLog
from services.solo.difficulty import DifficultySource

log = logging.getLogger(__name__)

LOCK_RETRY_S = 10.0  # a read-only process tries the poller lock this often (one flock call)
_lock_handover: Callable[[], None] | None = None


def set_lock_handover(callback: Callable[[], None] | None) -> None:
    """What a read-only process does once the poller lock is free (gunicorn.conf.py: end the worker)."""
    global _lock_handover
    _lock_handover = callback


_HOUR_S = 3600
COST_WARMUP_DELAY_S = 90  # after start-up's first poll rounds and reads


class Runtime:
    """Everything the web layer talks to, with one start and one shutdown."""

    def __init__(self, config: Config, *, fleet: FleetManager | None = None, db: Database | None = None) -> None:
        self.config = config
        self.data_dir = config.data_path
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = db or Database(self.data_dir / "fleet.db", migrate=True)
        self.fleet = fleet or FleetManager(config, self.db)
        self.history = self.fleet.history  # poll rounds and battery readings, buffered (services/history.py)
        self.hub = Hub()
        self.fleet.subscribe(self.hub.publish)
        self.discovery = Discovery(self.fleet)
        self.battery = BatteryMonitor(config, self.history, fleet_power_w=lambda: self.fleet.stats()["power_w"],
                                      event=self.fleet.event)
        self.prices = PriceService(config.prices, self.data_dir)  # slots from DATA_DIR/prices.json until the first fetch
        self.profitability = ProfitabilityService(config.profitability)  # hashprice and break-even (no I/O here)
        # Pools & wallets (docs/wallets.md): share counters per miner and pool, written with the history
        # flush; the network difficulty of the solo odds (configured, or fetched only when solo.fetch_url is set).
        self.shares = ShareLog(self.db, config.storage)
        self.history.companions.append(self.shares)
        self.fleet.subscribe(lambda _message: self.shares.observe(self.fleet.records()))
        self.best = BestLog(self.db)  # each miner's best share across restarts (services/solo/best.py)
        self.history.companions.append(self.best)
        self.fleet.subscribe(lambda _message: self.best.observe(self.fleet.records()))
        self.difficulty = DifficultySource(config.solo, alerts_difficulty=config.alerts.network_difficulty,
                                           profitability=self.profitability.hashprice)
        # Energy and cost per miner (GET /api/energy/cost): the slots that applied are kept in the database.
        self.price_log = PriceLog(self.db)
        self.costs = CostBook(self.history, self.price_log, self.prices.zone,
                              interval_s=lambda: self.config.polling.interval_sec, held=self.prices.slots,
                              default_main=self.prices.default_main)
        # Schedules and rules: config.yaml's plus the API's, state in the database (services/rules/book.py).
        self.rules = RuleBook(config.rules, DbStore(self.db), event=self.fleet.event, families=known_families())
        # The control loop: its step (services/control) reads the battery, prices, hashprice and rules.
        self.autocontrol = AutoControl(config, self.db, self.fleet, lambda: self.battery.source.last_reading,
                                       prices=self.prices, profitability=self.profitability, rules=self.rules)
        self.ems = EmsService(self.autocontrol)  # the EMS routes' view of the control loop
        self.history.companions.append(self.autocontrol.nominals)  # learned nominal power, written when it rose
        self.failures = FailureLog(self.db.write)  # refused unauthenticated calls: one row per source and minute
        # Problems -> error window, events and messages (services/alerts); checks only in the polling process.
        self.alerts = AlertService(config, self, publish=self.hub.publish)
        self.metrics = Metrics(self)  # GET /metrics: this runtime's own Prometheus registry (services/metrics)
        # Scheduled backups to a folder (docs/backup.md): a check every minute; a run is a one-off job (start()).
        self.backup_schedule = BackupSchedule(lambda: self.config, event=self.fleet.event)
        self.scheduler = None
        self.read_only = False
        self._lock_file: IO[str] | None = None
        self._stopped = threading.Event()
        self.nmminer_listener: NMMinerListener | None = None  # UDP telemetry, only with nmminer.listen
        self.csv_log: CsvLogger | None = None  # DATA_DIR/logs, only in the process that polls
        self.mqtt: Any = None  # services/mqtt MqttPublisher: only with mqtt.enabled, in the process that polls
        # Read-only: called once the lock is free (gunicorn.conf.py: end this worker, a fresh one polls).
        # None (tests, flask run): stay read-only until restarted.
        self.on_lock_taken: Callable[[], None] | None = _lock_handover

    # --- single-poller guard ----------------------------------------------------
    def _take_lock(self) -> bool:
        path = self.data_dir / "fleet.lock"
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle
        return True

    def _wait_for_lock(self) -> None:
        """Read-only: take the lock once its holder is gone, then hand over to on_lock_taken.

        This process's fleet, controller and EMS state were loaded when it started and
        the other process has changed them since, so it does not start polling with
        them: under gunicorn on_lock_taken ends this worker and the master starts a
        fresh one, which takes the lock and loads the state as last saved.
        """
        while not self._stopped.wait(LOCK_RETRY_S):
            if self._take_lock():
                log.warning("%s is free now: restarting this worker to poll with the saved state",
                            self.data_dir / "fleet.lock")
                assert self.on_lock_taken is not None
                self.on_lock_taken()
                return

    # --- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Take the lock, add configured miners, start the periodic jobs."""
        if not self._take_lock():
            self.read_only = True
            log.warning("another process holds %s: serving read-only, no polling "
                        "(run exactly one gunicorn worker; see README)", self.data_dir / "fleet.lock")
            if self.on_lock_taken is not None:
                threading.Thread(target=self._wait_for_lock, name="lock-retry", daemon=True).start()
            return
        self._add_configured_miners()
        # Decided before the NMMiner listener starts: a broadcast arriving in the next milliseconds adds a
        # miner, and the scan of an empty fleet must not be skipped because of it.
        scan_first = self.config.network.discover_on_start and not self.fleet.records()
        cfg = self.config
        self.nmminer_listener = start_nmminer_listener(cfg, self.fleet)
        jobs = [
            ("poll", self.fleet.poll_round, cfg.polling.interval_sec, True),
            ("maintenance", self.maintenance, _HOUR_S, False),
            ("failure_counts", self.failures.flush, 60, False),
            ("wal_checkpoint", self.history.checkpoint, cfg.storage.checkpoint_interval_sec, False),
            ("autocontrol", self.autocontrol.tick, cfg.autocontrol.tick_sec, False),
            ("alerts", self.alerts.tick, ALERTS_TICK_SEC, False),
            ("backup_schedule", self.backup_schedule.tick, BACKUP_TICK_SEC, False),  # off while backup.dir is empty
        ]
        if self.battery.configured:  # battery.source none: no battery, nothing to read (Settings may add it: battery_job)
            jobs.insert(2, ("battery", self.battery.poll, cfg.battery.poll_sec, True))
        if cfg.storage.flush_interval_sec > 0:
            jobs.append(("history_flush", self.history.flush, cfg.storage.flush_interval_sec, False))
        if cfg.storage.csv_interval_sec > 0:
            # Rows from memory (records, the source's last reading): the log never polls a device.
            self.csv_log = CsvLogger(self.data_dir / "logs", keep_days=cfg.storage.csv_keep_days,
                                     append_every_s=cfg.storage.csv_append_sec,
                                     miners=self.fleet.records,
                                     battery=lambda: self.battery.source if self.battery.configured else None)
            jobs.append(("csv_log", self.csv_log.write, cfg.storage.csv_interval_sec, False))
        if self.prices.configured:
            # Runs every 30 s; fetches when refresh_min (or the backoff after a failure) has passed.
            jobs.append(("prices", self._prices_tick, PRICES_TICK_SEC, True))
        if cfg.network.discover_every_min:
            jobs.append(("discover", self._periodic_discovery, cfg.network.discover_every_min * 60, False))
        if cfg.profitability.source == "mempool":
            # Every minute it checks whether a refresh is due (refresh_min, or the backoff after a failure).
            jobs.append(("profitability", self.profitability.maybe_refresh, 60, True))
        if cfg.solo.fetch_url:  # off by default: the LAN may have no internet; fetches at most fetch_every_min
            jobs.append(("network_difficulty", self.difficulty.maybe_refresh, 60, True))
        if cfg.mqtt.enabled:
            self.start_mqtt()
        self.fleet.start_threads()
        self.autocontrol.start_threads()
        # One-off: cost warm-up, EMS re-apply, a backup run; plus the battery job Settings may add later.
        self.scheduler = build_scheduler(jobs, one_off=4)
        # A new job id each time and no misfire limit: a run skipped as "already running" (the executor counts
        # a finished run a moment after it returns) or as too late would leave the schedule "running".
        self.backup_schedule.launch = lambda job: self.scheduler.add_job(job, "date", name="backup_run",
                                                                          misfire_grace_time=None)
        self.backup_schedule.start()
        # The cost table's closed days, once start-up's reads are done (then hourly with maintenance).
        self.scheduler.add_job(self.warm_costs, "date", id="cost_warmup",
                               run_date=datetime.now(timezone.utc) + timedelta(seconds=COST_WARMUP_DELAY_S))
        if self.autocontrol.ems.engaged:
            # A dispatch saved before the restart is re-applied once the first poll round has read the fleet.
            first_round_done = datetime.now(timezone.utc) + timedelta(seconds=cfg.polling.timeout_sec + 1)
            self.scheduler.add_job(self.autocontrol.kick, "date", run_date=first_round_done, id="ems_reapply")
        self.scheduler.start()
        self.alerts.started()  # a restart after a crash is told (the last run's mark is still set)
        if scan_first:
            self._periodic_discovery()
        log.info("controller started: %d miners known, polling every %g s",
                 len(self.fleet.records()), cfg.polling.interval_sec)

    def battery_job(self, poll_now: bool) -> None:
        """The battery job as ``battery.*`` now says (after a Settings change): added, removed or re-timed.

        ``poll_now``: the source was rebuilt, so it is read at once (the controller holds its
        stale-data fail-safe until the new source's first reading).
        """
        scheduler = self.scheduler
        if scheduler is None:
            return
        job = scheduler.get_job("battery")
        if not self.battery.configured:
            if job is not None:
                scheduler.remove_job("battery")
            return
        seconds = self.config.battery.poll_sec
        if job is None:
            add_interval_job(scheduler, "battery", self.battery.poll, seconds, run_now=True)
            return
        if job.trigger.interval.total_seconds() != seconds:
            scheduler.reschedule_job("battery", trigger="interval", seconds=seconds)
        if poll_now:
            run_soon(scheduler, "battery")

    def start_mqtt(self) -> None:
        """Publish to the MQTT broker (docs/mqtt.md): its own threads, told of every poll round."""
        from services.mqtt.publisher import MqttPublisher  # paho is imported only when MQTT is on

        self.mqtt = MqttPublisher(self.config, self)
        self.fleet.subscribe(self.mqtt.on_round)
        self.mqtt.start()

    def _add_configured_miners(self) -> None:
        """Miners listed in config.yaml; ones without a family are detected in the background."""
        for entry in self.config.miners:
            creds = {"username": entry.username, "password": entry.password} if entry.password else None
            if entry.family:
                try:
                    # No name: the YAML's applies unless one was given in the browser (services/miner_settings.py).
                    self.fleet.add(entry.ip, entry.family, port=entry.port or None, source="config",
                                   credentials=creds)
                except ValueError as exc:
                    log.error("config miner %s: %s", entry.ip, exc)
            else:
                self.fleet.executor.submit(self._detect_and_add, entry.ip, creds)

    def _detect_and_add(self, ip: str, creds: dict | None) -> None:
        from miners import detect

        found = detect.detect(ip, port_offset=self.config.network.port_offset,
                              timeout=self.config.polling.timeout_sec)
        if found is None:
            log.warning("config miner %s: no miner answered; give its family in config.yaml", ip)
            return
        self.fleet.add(ip, found.family, model=found.model, source="config", credentials=creds)

    def _periodic_discovery(self) -> None:
        try:
            self.discovery.start()
        except Exception as exc:  # noqa: BLE001 - busy or no subnet: logged, tried again next time
            log.warning("discovery not started: %s", exc)

    def _prices_tick(self) -> None:
        """The prices job: fetch when due, then log the slots whose time has come (their cost later needs them)."""
        import time

        self.prices.tick()
        self.price_log.record(self.prices.slots(), self.config.prices.source, time.time())

    def maintenance(self) -> dict[str, Any]:
        """Hourly: drop history past each tier's retention, removed miners' history and old events.

        (Roll-ups are written as their buckets close, by the history flush.)
        """
        import time

        storage = self.config.storage
        now = time.time()
        with self.db.read() as conn:
            removed = queries.get_state(conn, REMOVED_KEY) or []
        history = self.history.purge(now, removed)
        self.price_log.purge(now - storage.hourly_retention_days * 86400)  # the cost of an hour needs its price
        with self.db.write() as conn:
            if removed:  # only the ids purged above: a miner removed meanwhile stays listed
                left = [i for i in (queries.get_state(conn, REMOVED_KEY) or []) if i not in removed]
                queries.set_state(conn, REMOVED_KEY, left)
            events = queries.purge_events(conn, now, storage.events_retention_days, storage.events_max_rows)
        if any(history.values()) or events:
            log.info("retention: %d raw rows, %d roll-ups, %d rows of removed miners and %d events deleted",
                     history["raw"], history["rollups"], history["removed"], events)
        self.warm_costs()
        return {"raw_deleted": history["raw"], "rollups_deleted": history["rollups"],
                "removed_deleted": history["removed"], "events_deleted": events}

    def warm_costs(self) -> None:
        """Compute the closed days of the cost table (GET /api/energy/cost) so no page load waits for them.

        Two months of hourly power sums take about a second on x86 and several on a Pi; done here
        (after start, then hourly with maintenance), a request only adds today.
        """
        import time

        try:
            self.costs.report(time.time())
        except Exception:  # noqa: BLE001 - the request computes what is missing anyway
            log.exception("energy cost: closed days not computed ahead")

    def shutdown(self) -> None:
        """Stop the scheduler, wait for work in flight, close the database; safe to call twice."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.backup_schedule.close()  # a copy to the folder stops at its next MB (shutdown waits for the run)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)  # lets a running poll round finish and write its samples
        self.hub.close()  # every WebSocket gets a "going away" close; the push thread ends
        if self.mqtt is not None:
            self.mqtt.close()  # "offline", then its threads and socket; before the controller and fleet it commands
        if self.nmminer_listener is not None:
            self.nmminer_listener.stop()  # before the fleet closes: it adds miners
        self.autocontrol.close()  # commands in flight finish before the fleet's executor goes
        self.fleet.shutdown()
        self.battery.close()
        self.prices.close()  # its HTTP session (the scheduler that refreshed it has stopped)
        self.profitability.close()  # its HTTP session (the scheduler that refreshed it has stopped)
        self.difficulty.close()  # its HTTP session, if it ever fetched
        try:
            self.history.flush(final=True)  # the buffered rounds and readings, before the database closes
        except Exception:  # noqa: BLE001 - a failing disk must not stop the shutdown
            log.exception("history not written at shutdown")
        if self.csv_log is not None:
            self.csv_log.flush()  # rows waiting for their append (never raises)
        self.failures.flush()  # the counts of the last minute, before the database closes
        self.alerts.stopped()  # a clean stop (no "restarted after a crash" next time); ends the notifier's thread
        self.db.close()
        if self._lock_file is not None:
            self._lock_file.close()
        log.info("controller stopped")

    def lock_path(self) -> Path:
        """Where the single-poller lock lives."""
        return self.data_dir / "fleet.lock"
