"""FleetManager: the known miners, polling them in parallel, commands, fleet totals.

One ThreadPoolExecutor does all network I/O (polls, discovery probes,
commands). A poll round submits one task per miner and waits at most the
per-miner timeout plus a small margin: a miner that accepts the connection
and never answers cannot hold up the others, and it is not polled again while
its old call is still stuck. Log lines and events are written on state
changes only (online -> offline, recovered), as Home Assistant's coordinator
does, so a dead miner does not fill the journal.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable

import miners
from database import queries
from database.db import Database
from miners import base
from miners.base import CHIPS, Credentials, MinerAuthError, MinerDriver, MinerError, MinerStatus, NotSupported
from miners.values import scrub
from services import miner_settings
from services.config import Config, MinerEntry
from services.history import REMOVED_KEY, History
from services.miner_state import MinerRecord, ip_sort_key
from services.plausibility import Screen
from services.pools import prestart

log = logging.getLogger(__name__)

_ROUND_MARGIN_S = 0.5  # on top of the per-miner timeout, for thread hand-over
_REPOLL_DELAY_S = 1.0  # a command's effect shows after this, not one poll interval later


# Driver method -> the capability that allows it (the other actions are named like their capability).
ACTION_CAPABILITY = {"set_power_watts": base.POWER_WATTS, "set_power_percent": base.POWER_PERCENT,
                     "set_mode": base.MODE, "set_frequency": base.FREQUENCY, "set_fan": base.FAN,
                     "set_pools": base.POOLS, "set_autodownscale": base.AUTODOWNSCALE}


class UnknownMiner(KeyError):
    """No miner with that IP is known."""


class MinerDisabled(NotSupported):
    """The miner is disabled in its settings: nothing is sent to it (the API answers 409)."""


def describe_action(action: str, args: tuple) -> str:
    """A log-safe one-line description of a command: values, never a pool password."""
    if action == "set_pools" and args:
        pools = args[0]
        return f"set_pools({len(pools)}: {', '.join(p.url for p in pools)})"
    shown = ", ".join("auto" if a is None else str(a) for a in args if a is not None or action == "set_fan")
    return f"{action}({shown})" if shown else action


# The second line of scrubbing (the drivers are the first): passwords under 4 characters ("x", "123")
# are pool placeholders, and masking them would garble IPs and numbers in every message.
SCRUB_SHORTEST = 4


def command_secrets(driver: MinerDriver, action: str, args: tuple) -> tuple[str, ...]:
    """What a command's error text must never show: the miner's web password and any pool password sent.

    A factory login (Antminer stock root/root, the driver's default_credentials) is public and the
    drivers name its user in their refusals ("refused user root"): masking it would hide the user
    name, not a secret.
    """
    creds = driver.credentials
    factory = driver.default_credentials
    public = creds.password == creds.username or (
        factory is not None and (creds.username, creds.password) == (factory.username, factory.password))
    secrets = [] if public else [creds.password]
    if action == "set_pools" and args:
        secrets += [getattr(pool, "password", "") for pool in args[0]]
    return tuple(s for s in secrets if isinstance(s, str) and s)


def scrubbed_error(exc: Exception, secrets: tuple[str, ...]) -> Exception:
    """exc itself when its text holds no secret, else the same kind of error with them masked."""
    text = str(exc)
    safe = scrub(text, secrets, shortest=SCRUB_SHORTEST)
    if safe == text:
        return exc
    try:
        return type(exc)(safe)
    except TypeError:  # a subclass with another constructor (cgminer's API error): its base kind
        return MinerError(safe) if isinstance(exc, MinerError) else ValueError(safe)


class FleetManager:
    """Owns the miners, the executor and the poll rounds; knows nothing of Flask."""

    def __init__(self, config: Config, db: Database, *,
                 driver_factory: Callable[..., MinerDriver] | None = None, history: History | None = None) -> None:
        self.config = config
        self.db = db
        # A round that started before a bucket closed may end up to a poll timeout later.
        self.history = history or History(db, config.storage, settle_s=config.polling.timeout_sec + 5)
        self._make_driver = driver_factory or miners.make_driver
        self.executor = ThreadPoolExecutor(max_workers=config.polling.workers, thread_name_prefix="fleet-io")
        self._records: dict[str, MinerRecord] = {}
        self._lock = threading.RLock()
        self._listeners: list[Callable[[dict], None]] = []
        self.last_round: dict[str, Any] = {}
        self.failed_polls: dict[str, int] = {}  # failed polls per family since start (GET /metrics)
        self._closed = threading.Event()
        self._screen = Screen()  # values outside physics -> None + a note, before storing or control
        self._repoller = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-repoll")
        self._repoll_lock = threading.Lock()
        self._repoll_ips: set[str] = set()
        self._repoll_queued = False
        self._load_from_db()

    # --- records ----------------------------------------------------------------
    def _driver_for(self, ip: str, family: str, port: int | None, credentials: dict | None) -> MinerDriver:
        creds = Credentials(**credentials) if credentials else None
        return self._make_driver(family, ip, port=port or None, port_offset=self.config.network.port_offset,
                                 timeout=self.config.polling.timeout_sec, credentials=creds)

    def _record_from_row(self, row: Any) -> MinerRecord:
        credentials = json.loads(row["credentials"]) if row["credentials"] else None
        record = MinerRecord(
            id=row["id"], ip=row["ip"], family=row["family"], port=row["port"],
            driver=self._driver_for(row["ip"], row["family"], row["port"], credentials),
            model=row["model"], name=row["name"], algorithm=row["algorithm"],
            credentials_set=bool(credentials), last_seen_ts=row["last_seen_ts"],
        )
        miner_settings.apply(record, miner_settings.stored(row), self.config_entry(row["ip"]))
        return record

    def config_entry(self, ip: str) -> MinerEntry | None:
        """The miner's ``miners:`` entry in config.yaml (MinerEntry), or None."""
        return next((m for m in self.config.miners if m.ip == ip), None)

    def _load_from_db(self) -> None:
        with self.db.read() as conn:
            rows = queries.list_miners(conn)
        for row in rows:
            try:
                self._records[row["ip"]] = self._record_from_row(row)
            except ValueError as exc:  # a family whose driver was removed
                log.warning("miner %s: %s; skipped", row["ip"], exc)

    def records(self) -> list[MinerRecord]:
        """Known miners in numeric IP order."""
        with self._lock:
            return sorted(self._records.values(), key=lambda r: ip_sort_key(r.ip))

    def get(self, ip: str) -> MinerRecord:
        """One miner by IP (raises UnknownMiner)."""
        with self._lock:
            try:
                return self._records[ip]
            except KeyError:
                raise UnknownMiner(ip) from None

    def add(self, ip: str, family: str, *, port: int | None = None, model: str | None = None,
            algorithm: str | None = None, source: str = "manual", name: str | None = None,
            credentials: dict | None = None) -> MinerRecord:
        """Store a miner (or update a known one) and start polling it; family must be known."""
        driver = self._driver_for(ip, family, port, credentials)  # ValueError on an unknown family
        algorithm = algorithm or getattr(driver, "algorithm", None) or "sha256d"
        with self._lock:
            with self.db.write() as conn:
                queries.upsert_miner(conn, ip=ip, family=family, port=port, model=model,
                                     algorithm=algorithm, source=source, name=name, credentials=credentials)
                row = queries.get_miner(conn, ip)
            old = self._records.get(ip)
            record = self._record_from_row(row)
            if old is not None and old.family == record.family:
                record.status, record.online, record.last_error = old.status, old.online, old.last_error
            self._records[ip] = record
        if old is None:
            self.event("miner_added", f"{family} miner added ({source})", miner_ip=ip)
        return record

    def set_credentials(self, ip: str, credentials: dict | None, actor: str = "system") -> MinerRecord:
        """Store (or clear, with None) a miner's login and rebuild its driver with it."""
        with self._lock:
            old = self.get(ip)
            with self.db.write() as conn:
                queries.set_credentials(conn, ip, credentials)
                row = queries.get_miner(conn, ip)
            record = self._record_from_row(row)
            record.status, record.online, record.last_error = old.status, old.online, old.last_error
            record.failures, record.unauthorized = old.failures, old.unauthorized
            self._records[ip] = record
        old.driver.close()
        self.event("credentials", "miner credentials " + ("changed" if credentials else "cleared: factory default"),
                   miner_ip=ip, actor=actor)
        return record

    def update_settings(self, ip: str, changes: dict[str, Any], actor: str = "system") -> MinerRecord:
        """Store a miner's settings (name, tags, enabled, notes, location, power limits); one audit event.

        None clears a value back to the config.yaml entry's (then the model table's).
        Raises UnknownMiner, or ValueError("key: message") with nothing changed.
        Disabling stops its polls and commands at once; enabling polls it within a second.
        """
        with self._lock:
            record = self.get(ip)
            entry = self.config_entry(ip)
            with self.db.write() as conn:
                before = miner_settings.stored(queries.get_miner(conn, ip))
                values = miner_settings.validate(changes, before, entry)
                queries.update_settings(conn, ip, values)
            was_enabled = record.enabled
            miner_settings.apply(record, {**before, **values}, entry)
            if was_enabled and not record.enabled:
                # Not "offline": not polled. Its last reading stays for the detail view; history is kept.
                record.online, record.failures, record.unauthorized, record.last_error = None, 0, False, None
        text = miner_settings.describe(before, values)
        if text:
            self.event("miner_settings", text, miner_ip=ip, actor=actor)
        if record.enabled and not was_enabled:
            self._schedule_repoll(ip)
        self.notify(self.snapshot_message())
        return record

    def remove(self, ip: str, actor: str = "system") -> None:
        """Forget a miner and its history."""
        with self._lock:
            record = self._records.pop(ip, None)
            if record is None:
                raise UnknownMiner(ip)
            with self.db.write() as conn:
                queries.delete_miner(conn, ip)
                # Its history has no index by miner: the hourly maintenance deletes it (ids are never reused).
                removed = queries.get_state(conn, REMOVED_KEY) or []
                queries.set_state(conn, REMOVED_KEY, [*removed, record.id])
        record.driver.close()
        self.event("miner_removed", f"{record.family} miner removed", miner_ip=ip, actor=actor)

    def start_threads(self) -> None:
        """Start every I/O thread now (the served app: its thread count is flat from the start)."""
        prestart(self.executor, self.config.polling.workers)

    # --- events and listeners ------------------------------------------------------
    def event(self, kind: str, message: str, *, miner_ip: str | None = None, actor: str = "system",
              severity: str | None = None) -> None:
        """Record an event in the database and the log (severity None = by its kind)."""
        with self.db.write() as conn:
            queries.add_event(conn, kind, message, miner_ip=miner_ip, actor=actor, severity=severity)
        log.info("%s%s: %s", f"{miner_ip} " if miner_ip else "", kind, message)

    def subscribe(self, callback: Callable[[dict], None]) -> None:
        """Call ``callback(message)`` after every poll round (the WebSocket hub uses this)."""
        self._listeners.append(callback)

    def notify(self, message: dict) -> None:
        """Hand a message to every listener; a failing listener never breaks polling."""
        for callback in list(self._listeners):
            try:
                callback(message)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the poller
                log.exception("listener failed")

    # --- polling -------------------------------------------------------------------
    def _read(self, record: MinerRecord) -> MinerStatus | Exception:
        try:
            return record.driver.read()
        except MinerError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a driver bug is one miner's failure, not the fleet's
            log.exception("%s: driver %s crashed", record.ip, type(record.driver).__name__)
            return MinerError(f"driver error: {type(exc).__name__}")

    def poll_round(self, records: list[MinerRecord] | None = None) -> dict[str, Any]:
        """Poll miners in parallel, wait at most timeout + margin, buffer a full round for history, notify."""
        started = time.monotonic()
        now = time.time()
        # A disabled miner is never sent a request (its settings), in full rounds and re-polls alike.
        targets = [r for r in (self.records() if records is None else records) if r.enabled]
        futures: dict[Future, MinerRecord] = {}
        skipped = 0
        timeout = self.config.polling.timeout_sec
        for record in targets:
            running = record.inflight
            if running is not None and not running.done():
                if started - record.inflight_since >= timeout:
                    # Past its own deadline and still running: hung. Do not pile up threads on it.
                    skipped += 1
                    self._apply_failure(record, MinerError("still waiting for the previous poll"))
                else:
                    # Another round (e.g. the re-poll after a command) is reading it right now:
                    # wait for that same read instead of sending a second one or calling it a failure.
                    futures[running] = record
                continue
            future = self.executor.submit(self._read, record)
            record.inflight, record.inflight_since = future, started
            futures[future] = record
        done, not_done = wait(futures, timeout=self.config.polling.timeout_sec + _ROUND_MARGIN_S)
        rows: list[tuple] = []
        for future, record in futures.items():
            if record.applied is future:
                continue  # a read shared with a concurrent round that already applied it
            record.applied = future
            if not record.enabled:
                continue  # disabled while this read ran: its answer is not news (and not history)
            if future in not_done:
                self._apply_failure(record, MinerError(f"no answer within {self.config.polling.timeout_sec:g} s"))
                continue
            result = future.result()
            if isinstance(result, Exception):
                self._apply_failure(record, result)
            else:
                self._apply_success(record, result, now, rows)
        if records is None:
            # Full rounds only: a partial round (a new miner, the re-poll after a command) would add a
            # fleet total of just those miners, a dip in the fleet chart. Their next full round is stored.
            self.history.add_round(now, rows)  # buffered: written with the next flush (services/history.py)
        summary = {"ts": now, "polled": len(futures), "ok": len(rows), "timed_out": len(not_done),
                   "skipped": skipped, "duration_s": round(time.monotonic() - started, 3)}
        if records is None:  # a partial round (new miners) says nothing about the fleet's freshness
            self.last_round = summary
        self.notify(self.snapshot_message())
        return summary

    def _apply_success(self, record: MinerRecord, status: MinerStatus, now: float,
                       rows: list) -> None:
        status = self._screen.apply(record.ip, record.family, status)
        if record.online is False or record.unauthorized:
            self.event("miner_online", "back online" if record.online is False else "answering again",
                       miner_ip=record.ip)
        elif record.online is None:
            log.info("%s: online (%s %s)", record.ip, record.family, status.model or "")
        record.status, record.online, record.failures = status, True, 0
        record.unauthorized, record.last_error, record.last_seen_ts = False, None, now
        if (status.model and status.model != record.model) or status.algorithm != record.algorithm:
            record.model, record.algorithm = status.model or record.model, status.algorithm
            with self.db.write() as conn:
                queries.update_identity(conn, record.id, record.model, record.algorithm)
        fan = max(status.fan_rpm) if status.fan_rpm else None
        rows.append((record.id, record.algorithm, status.hashrate_hs, status.power_w, status.temp_c, fan))

    def _apply_failure(self, record: MinerRecord, error: Exception) -> None:
        record.failures += 1
        with self._lock:  # rounds can overlap (the re-poll after a command): no lost count
            self.failed_polls[record.family] = self.failed_polls.get(record.family, 0) + 1
        message = str(error) or type(error).__name__
        first_error = record.last_error is None
        record.last_error = message
        if isinstance(error, MinerAuthError):
            if not record.unauthorized:
                self.event("miner_unauthorized", message, miner_ip=record.ip)
            record.unauthorized, record.online = True, False
            return
        if record.online is not False and record.failures >= self.config.polling.offline_after:
            self.event("miner_offline", f"offline after {record.failures} failed polls: {message}",
                       miner_ip=record.ip)
            record.online = False
        elif first_error:
            log.info("%s: poll failed (%s); offline after %d in a row", record.ip, message,
                     self.config.polling.offline_after)

    # --- commands ------------------------------------------------------------------
    def command(self, ip: str, action: str, *args: Any, actor: str = "system", capability: str | None = None,
                **kwargs: Any) -> str:
        """Run one control action on a miner through the executor; logs an event with the outcome.

        Raises UnknownMiner, NotSupported (capability missing), ValueError (values
        the driver refused before sending) or MinerError.
        """
        record = self.get(ip)
        needed = capability or ACTION_CAPABILITY.get(action, action)
        what = describe_action(action, args + tuple(f"{k}={v}" for k, v in kwargs.items()))
        if not record.enabled:
            reason = "the miner is disabled in its settings; enable it first"
            self.event("command", f"{what} refused: {reason}", miner_ip=ip, actor=actor)
            raise MinerDisabled(reason)
        if needed not in record.driver.capabilities:
            reason = f"{record.family} miners cannot {action.replace('set_', 'set ').replace('_', ' ')}"
            if needed in type(record.driver).capabilities:  # the family can, this firmware version cannot
                reason += " on this firmware version"
            self.event("command", f"{what} refused: {reason}", miner_ip=ip, actor=actor)
            raise NotSupported(reason)
        future = self.executor.submit(getattr(record.driver, action), *args, **kwargs)
        try:
            # A driver may answer with a note, e.g. which preset it chose for a watt target.
            note = future.result(timeout=self.config.polling.timeout_sec * 3 + 1)
        except (MinerError, ValueError) as exc:
            # The drivers scrub what firmware echoes back; this catches any text that slipped through.
            safe = scrubbed_error(exc, command_secrets(record.driver, action, args))
            self.event("command", f"{what} failed: {safe}", miner_ip=ip, actor=actor)
            if safe is exc:
                raise
            raise safe from None
        except TimeoutError:
            self.event("command", f"{what} failed: no answer", miner_ip=ip, actor=actor)
            raise MinerError(f"{action}: the miner did not answer in time") from None
        note = note if isinstance(note, str) and note else None
        record.last_command_ts = time.time()
        self.event("command", f"{what} ok" + (f": {note}" if note else ""), miner_ip=ip, actor=actor)
        self._schedule_repoll(ip)
        return f"{what} sent to {ip}" + (f": {note}" if note else "")

    def _schedule_repoll(self, ip: str) -> None:
        """Show a command's effect soon rather than one poll interval later.

        One thread re-polls every miner commanded in the last second together (it was a
        threading.Timer per command: a thread, and its database connection, each time).
        """
        with self._repoll_lock:
            self._repoll_ips.add(ip)
            if self._repoll_queued:
                return
            self._repoll_queued = True
        try:
            self._repoller.submit(self._repoll)
        except RuntimeError:  # shut down meanwhile: the next start polls it anyway
            pass

    def _repoll(self) -> None:
        if self._closed.wait(_REPOLL_DELAY_S):
            return
        with self._repoll_lock:
            ips, self._repoll_ips, self._repoll_queued = self._repoll_ips, set(), False
        records = []
        for ip in sorted(ips, key=ip_sort_key):
            try:
                records.append(self.get(ip))
            except UnknownMiner:  # removed meanwhile
                continue
        try:
            if records:
                self.poll_round(records)
        except Exception as exc:  # noqa: BLE001 - shutting down: the next round reads them
            log.debug("re-poll after commands skipped: %s", exc)

    def read_chips(self, ip: str) -> list:
        """Per-chip data of one miner (NotSupported where the firmware has none)."""
        record = self.get(ip)
        if not record.enabled:
            raise MinerDisabled("the miner is disabled in its settings; enable it first")
        if CHIPS not in record.driver.capabilities:
            raise NotSupported(f"{record.family} firmware does not report per-chip data")
        return self.executor.submit(record.driver.read_chips).result(timeout=self.config.polling.timeout_sec * 2 + 1)

    # --- views ---------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Fleet totals over the online miners (a disabled miner counts as neither online nor offline)."""
        records = self.records()
        disabled = sum(1 for r in records if not r.enabled)
        online = [r for r in records if r.online and r.status and r.enabled]
        hashrate: dict[str, float] = {}
        power_w, powered, temps = 0.0, 0, []
        eff_power, eff_hash = 0.0, 0.0
        for r in online:
            s = r.status
            hashrate[r.algorithm] = hashrate.get(r.algorithm, 0.0) + (s.hashrate_hs or 0.0)
            if s.power_w is not None:
                power_w += s.power_w
                powered += 1
                if r.algorithm == "sha256d" and s.hashrate_hs:
                    eff_power += s.power_w
                    eff_hash += s.hashrate_hs
            if s.temp_c is not None:
                temps.append(s.temp_c)
        return {
            "miners_total": len(records),
            "online": len(online),
            "offline": len(records) - len(online) - disabled,
            "disabled": disabled,
            "power_w": round(power_w, 1) if powered else None,
            "power_reported_by": powered,
            "hashrate_hs": hashrate,
            "avg_temp_c": round(sum(temps) / len(temps), 1) if temps else None,
            "efficiency_j_th": round(eff_power / (eff_hash / 1e12), 2) if eff_hash else None,
            "updated_ts": self.last_round.get("ts"),
        }

    def miners_list(self) -> list[dict[str, Any]]:
        """Every miner as the list API shows it."""
        return [r.to_dict() for r in self.records()]

    def snapshot_message(self) -> dict[str, Any]:
        """The WebSocket snapshot: miners and totals."""
        return {"type": "snapshot", "miners": self.miners_list(), "stats": self.stats()}

    def shutdown(self, wait_s: float = 10.0) -> None:
        """Drop queued work, wait up to ``wait_s`` for calls in flight (commands), close drivers."""
        self._closed.set()
        self._repoller.shutdown(wait=False, cancel_futures=True)  # its wait ends on _closed
        # Every network call has its own deadline, so in-flight calls end; the
        # bound only guards against a driver bug holding systemd's stop.
        waiter = threading.Thread(target=self.executor.shutdown, kwargs={"wait": True, "cancel_futures": True},
                                  name="fleet-shutdown", daemon=True)
        waiter.start()
        waiter.join(wait_s)
        if waiter.is_alive():
            log.warning("shutdown: network calls still running after %g s; leaving them", wait_s)
        for record in self.records():
            record.driver.close()
