"""One action over many miners at once: sleep, wake, restart, mode, power percent, a pool set.

Every miner gets its own result, whatever happened to the others: ``done``,
``refused`` (the miner is disabled or unknown, its firmware lacks the capability,
or the driver refused the value before sending anything) or ``failed`` (no
answer, a refused login, an error reply, or a pool read-back that does not
match). Commands go through ``FleetManager.command``, so each miner's command
is audited and re-polled exactly as a single click would be; the call itself
adds one summary event.

The commands run on a small pool of threads started for the call and closed
before it returns (``MAX_WORKERS`` at once): ``FleetManager.command`` waits on
the fleet's own I/O executor, so running it *on* that executor could leave no
thread free for the command itself. At most ``MAX_CALLS`` bulk calls run at
once; one more is refused (``BulkBusy``) instead of queueing threads behind it.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from miners import base
from miners.base import MinerAuthError, MinerError, NotSupported
from miners.values import scrub
from services.fleet import SCRUB_SHORTEST, FleetManager, UnknownMiner
from services.miner_state import MinerRecord
from services.pool_sets import PoolSet
from services.pool_urls import same_pool
from services.power.allocator import miner_input, nominal_power

log = logging.getLogger(__name__)

ACTIONS = ("sleep", "wake", "restart", "mode", "power_percent", "pool_set")
VALUE_ACTIONS = ("mode", "power_percent", "pool_set")
PERCENT_RANGE = (10, 100)
MAX_WORKERS = 8  # commands in flight per call; each also holds one fleet I/O thread while it runs
MAX_CALLS = 2  # bulk calls at once (a third is refused with BulkBusy)
MAX_MINERS = 1000  # miners per call
READBACK_TRIES = 3  # pool read-backs per miner: firmwares that restart their miner process show the old list briefly
READBACK_DELAY_S = 1.0

DONE, REFUSED, FAILED = "done", "refused", "failed"
_CALLS = threading.BoundedSemaphore(MAX_CALLS)


class BulkBusy(RuntimeError):
    """MAX_CALLS bulk calls are running already."""


@dataclass(frozen=True)
class MinerResult:
    """What happened on one miner: outcome done/refused/failed, the reason (error) and a one-line message."""

    ip: str
    outcome: str
    error: str | None
    message: str

    @property
    def ok(self) -> bool:
        """True when the action was done (and, for a pool set, read back as sent)."""
        return self.outcome == DONE

    def to_dict(self) -> dict[str, Any]:
        """``{"ip", "ok", "outcome", "error", "message"}`` for the API."""
        return {"ip": self.ip, "ok": self.ok, "outcome": self.outcome, "error": self.error, "message": self.message}


@dataclass(frozen=True)
class BulkReport:
    """Results in the order the miners were asked for, and the counts."""

    action: str
    results: tuple[MinerResult, ...]

    def count(self, outcome: str) -> int:
        """How many results have this outcome."""
        return sum(1 for r in self.results if r.outcome == outcome)

    def to_dict(self) -> dict[str, Any]:
        """``{"results": [...], "ok": n, "failed": n, "refused": n}``; ``failed`` counts every miner not done."""
        done = self.count(DONE)
        return {"action": self.action, "results": [r.to_dict() for r in self.results], "ok": done,
                "failed": len(self.results) - done, "refused": self.count(REFUSED)}

    def summary(self) -> str:
        """"3 done, 1 refused, 0 failed" for the audit event."""
        return f"{self.count(DONE)} done, {self.count(REFUSED)} refused, {self.count(FAILED)} failed"


def done(ip: str, message: str) -> MinerResult:
    """A done result."""
    return MinerResult(ip, DONE, None, message)


def refused(ip: str, reason: str) -> MinerResult:
    """A refused result: nothing was sent, or the miner/driver refused before changing anything."""
    return MinerResult(ip, REFUSED, reason, f"refused: {reason}")


def failed(ip: str, reason: str) -> MinerResult:
    """A failed result: no answer, an error reply, or a read-back that does not match."""
    return MinerResult(ip, FAILED, reason, f"failed: {reason}")


# --- targets ---------------------------------------------------------------------------
def tagged(fleet: FleetManager, tag: str) -> list[str]:
    """IPs of the miners carrying ``tag`` (MinerRecord.tags), in IP order."""
    return [r.ip for r in fleet.records() if tag in (getattr(r, "tags", None) or ())]


def everyone(fleet: FleetManager) -> list[str]:
    """IPs of every known miner, in IP order (disabled ones included: they are reported refused)."""
    return [r.ip for r in fleet.records()]


def unique(ips: Iterable[str]) -> list[str]:
    """The IPs once each, first occurrence kept."""
    return list(dict.fromkeys(ips))


def targets(fleet: FleetManager, body: Mapping[str, Any]) -> list[str]:
    """The miners a request names: exactly one of ``miners`` (IPv4 list), ``tag`` or ``all: true``.

    ValueError with the reason for anything else (nothing has been sent then).
    """
    given = [key for key in ("miners", "tag", "all") if body.get(key) is not None]
    if len(given) != 1:
        raise ValueError('name the miners: exactly one of {"miners": [ip, ...]}, {"tag": "..."} or {"all": true}')
    if given[0] == "miners":
        items = body["miners"]
        if not isinstance(items, list) or not items:
            raise ValueError("miners must be a non-empty list of IPv4 addresses")
        if len(items) > MAX_MINERS:
            raise ValueError(f"miners: at most {MAX_MINERS} per call, got {len(items)}")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise ValueError(f"miners[{i}] must be a string like 192.168.1.50")
            try:
                out.append(str(ipaddress.IPv4Address(item.strip())))
            except ValueError:
                raise ValueError(f"miners[{i}] is not an IPv4 address: {item[:40]!r}") from None
        return unique(out)
    if given[0] == "tag":
        tag = body["tag"]
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 64 or not tag.isprintable():
            raise ValueError("tag must be a non-empty string of at most 64 printable characters")
        return tagged(fleet, tag.strip())
    if body["all"] is not True:
        raise ValueError("all must be true (or left out)")
    return everyone(fleet)


def power_overrides(record: MinerRecord, entry: Any = None) -> dict[str, float]:
    """nominal_w/min_w/max_w for percent_plan: the miner's own settings first, then its config.yaml entry."""
    out: dict[str, float] = {}
    for key in ("nominal_w", "min_w", "max_w"):
        value = getattr(record, key, None)
        if value is None and entry is not None:
            value = getattr(entry, key, None)
        if value is not None:
            out[key] = float(value)
    return out


# --- running ---------------------------------------------------------------------------
def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    # Belt and braces: the drivers scrub their own errors.
    return scrub(text, secrets, shortest=SCRUB_SHORTEST)


def run(fleet: FleetManager, ips: list[str], job: Callable[[MinerRecord], MinerResult], *,
        secrets: tuple[str, ...] = ()) -> list[MinerResult]:
    """``job`` on every enabled, known miner in parallel (at most MAX_WORKERS at once); results in ``ips`` order.

    Unknown and disabled miners are refused without a command. A job that raises is that
    miner's failure, never the call's. Raises BulkBusy when MAX_CALLS calls are running.
    """
    if not _CALLS.acquire(blocking=False):
        raise BulkBusy(f"{MAX_CALLS} bulk actions are running already; try again when they end")
    try:
        results: dict[str, MinerResult] = {}
        todo: list[MinerRecord] = []
        for ip in ips:
            try:
                record = fleet.get(ip)
            except UnknownMiner:
                results[ip] = refused(ip, f"no miner with IP {ip}")
                continue
            if getattr(record, "enabled", True) is False:
                results[ip] = refused(ip, "the miner is disabled (enable it to command it)")
                continue
            todo.append(record)
        if todo:
            with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(todo)), thread_name_prefix="bulk") as pool:
                futures = {record.ip: pool.submit(_guarded, job, record) for record in todo}
                for ip, future in futures.items():
                    results[ip] = future.result()  # _guarded never raises
        return [_scrubbed(results[ip], secrets) for ip in ips]
    finally:
        _CALLS.release()


def _scrubbed(result: MinerResult, secrets: tuple[str, ...]) -> MinerResult:
    if not secrets:
        return result
    return MinerResult(result.ip, result.outcome, _scrub(result.error, secrets) if result.error else None,
                       _scrub(result.message, secrets))


def _guarded(job: Callable[[MinerRecord], MinerResult], record: MinerRecord) -> MinerResult:
    try:
        return job(record)
    except Exception as exc:  # noqa: BLE001 - one miner's bug is its own failure, never the whole call's
        log.exception("bulk: %s failed unexpectedly", record.ip)
        return failed(record.ip, f"internal error ({type(exc).__name__})")


def command(fleet: FleetManager, record: MinerRecord, action: str, *args: Any, actor: str) -> MinerResult:
    """One FleetManager.command as a result: NotSupported/ValueError refused, MinerError failed."""
    ip = record.ip
    try:
        message = fleet.command(ip, action, *args, actor=actor)
    except UnknownMiner:
        return refused(ip, f"no miner with IP {ip} (removed meanwhile)")
    except NotSupported as exc:
        return refused(ip, str(exc))
    except ValueError as exc:  # the driver refused the value before sending anything
        return refused(ip, str(exc))
    except MinerAuthError as exc:
        return failed(ip, f"the miner refused the login: {exc}")
    except MinerError as exc:
        return failed(ip, str(exc) or type(exc).__name__)
    return done(ip, message)


# --- the actions -----------------------------------------------------------------------
def percent_plan(record: MinerRecord, percent: int, overrides: Mapping[str, float] | None = None
                 ) -> tuple[str, int, str] | str:
    """(driver action, value, note) for ``percent`` of the miner's nominal power, or the refusal reason.

    Watts where the firmware takes a watt target: nominal (override, else the allocator's
    model table, else ``overrides["learned_w"]``, the highest draw the controller saw at full
    setting, else a full-power reading) times the percent, inside the per-miner
    min_w/max_w and the firmware's published range (BOS+). A firmware that takes only a
    percent gets the percent itself (its own nominal). No nominal known: refused.
    """
    caps = record.driver.capabilities
    if base.POWER_WATTS in caps:
        given = dict(overrides or {})
        learned = given.pop("learned_w", None)  # the controller's learned nominal (services/power/learned.py)
        miner = miner_input(record, time.time(), math.inf, given, learned_w=learned)
        nominal, why = nominal_power(miner)
        if nominal is None:
            if base.POWER_PERCENT in caps:
                return "set_power_percent", percent, "percent of the firmware's own nominal"
            return why
        watts = nominal * percent / 100.0
        low, high = (miner.min_w or 0.0), (miner.max_w or math.inf)
        if miner.power_range_w is not None:
            low, high = max(low, miner.power_range_w[0]), min(high, miner.power_range_w[1])
        bounded = min(max(watts, low), high) if low <= high else watts
        note = f"{percent} % of {nominal:g} W"
        if round(bounded) != round(watts):
            note += f" = {watts:.0f} W, held to the miner's {low:g}-{high:g} W"
        return "set_power_watts", int(round(bounded)), note
    if base.POWER_PERCENT in caps:
        return "set_power_percent", percent, "percent of the firmware's own nominal"
    return f"{record.family} miners cannot set a power target"


def action_job(fleet: FleetManager, action: str, value: Any, *, actor: str,
               overrides: Callable[[MinerRecord], Mapping[str, float]] | None = None
               ) -> Callable[[MinerRecord], MinerResult]:
    """The per-miner job of sleep, wake, restart, mode (value: a mode name) or power_percent (value: 10-100)."""
    if action in ("sleep", "wake", "restart"):
        return lambda record: command(fleet, record, action, actor=actor)
    if action == "mode":
        def set_mode(record: MinerRecord) -> MinerResult:
            modes = tuple(record.driver.modes)
            # No modes listed yet (Vnish 1.x reads its presets only after a login): the driver checks.
            if base.MODE in record.driver.capabilities and modes and value not in modes:
                return refused(record.ip, f"this miner has no mode {value!r} (it has {', '.join(modes)})")
            return command(fleet, record, "set_mode", value, actor=actor)
        return set_mode
    if action == "power_percent":
        def set_percent(record: MinerRecord) -> MinerResult:
            plan = percent_plan(record, int(value), overrides(record) if overrides else None)
            if isinstance(plan, str):
                return refused(record.ip, plan)
            driver_action, amount, note = plan
            result = command(fleet, record, driver_action, amount, actor=actor)
            return done(record.ip, f"{result.message} ({note})") if result.ok else result
        return set_percent
    raise ValueError(f"unknown action {action!r}")


def run_action(fleet: FleetManager, ips: list[str], action: str, value: Any = None, *, actor: str = "system",
               overrides: Callable[[MinerRecord], Mapping[str, float]] | None = None) -> BulkReport:
    """Run sleep/wake/restart/mode/power_percent on ``ips``; one summary event (plus the fleet's per-command ones)."""
    report = BulkReport(action, tuple(run(fleet, ips, action_job(fleet, action, value, actor=actor,
                                                                  overrides=overrides))))
    shown = f" {value}" + (" %" if action == "power_percent" else "") if value is not None else ""
    fleet.event("bulk", f"{action}{shown} on {len(ips)} miner(s): {report.summary()}", actor=actor)
    return report


# --- pool sets -------------------------------------------------------------------------
def readback_problem(pool_set: PoolSet, shown: list[base.PoolStatus] | None) -> str | None:
    """None if the miner's pools start with the set's URLs and users in order, else what differs."""
    if shown is None:
        return "the miner reported no pools"
    ordered = [p for _, p in sorted(enumerate(shown), key=lambda ip: (ip[1].priority is None,
                                                                       ip[1].priority or 0, ip[0]))]
    ordered = [p for p in ordered if (p.url or "").strip()]
    for i, want in enumerate(pool_set.pools):
        if i >= len(ordered):
            return f"it shows {len(ordered)} pool(s), the set has {len(pool_set.pools)}"
        got = ordered[i]
        if not same_pool(want.url, got.url):
            return f"pool {i + 1} shows {got.url[:120]!r}, not {want.url!r}"
        if (got.user or "").strip() != want.user:
            return f"pool {i + 1} shows user {got.user[:120]!r}, not {want.user!r}"
    return None


def _read_back(fleet: FleetManager, accepted: Mapping[str, float], pool_set: PoolSet) -> dict[str, str | None]:
    """Poll the miners that took the set (one partial round, re-tried for those not matching yet) -> ip: problem.

    ``accepted`` maps each IP to when its command returned: only a read that started
    after that shows the change (a poll round already running shares its older read).
    """
    problems: dict[str, str | None] = {}
    pending = list(accepted)
    for attempt in range(READBACK_TRIES):
        if attempt:
            time.sleep(READBACK_DELAY_S)
        records = []
        for ip in pending:
            try:
                records.append(fleet.get(ip))
            except UnknownMiner:
                problems[ip] = "the miner was removed before its pools could be read back"
        if not records:
            break
        fleet.poll_round(records)
        pending = []
        for record in records:
            if record.last_seen_ts is None or record.last_seen_ts < accepted[record.ip]:
                problems[record.ip] = (f"reading its pools back failed: {record.last_error}" if record.last_error
                                       else "its pools could not be read back yet")
            else:
                problems[record.ip] = readback_problem(pool_set, record.status.pools if record.status else None)
            if problems[record.ip] is not None:
                pending.append(record.ip)
        if not pending:
            break
    return problems


def apply_pool_set(fleet: FleetManager, ips: list[str], pool_set: PoolSet, *, actor: str = "system") -> BulkReport:
    """Send ``pool_set`` to each miner (set_pools), then read each one's pools back and compare.

    A miner that accepted the pools but shows something else is failed with what it shows.
    One summary event names the set and the counts; passwords appear nowhere.
    """
    configs = pool_set.pool_configs()
    accepted: dict[str, float] = {}  # ip -> when the miner took the pools (each key written by its own job)

    def send(record: MinerRecord) -> MinerResult:
        result = command(fleet, record, "set_pools", list(configs), actor=actor)
        if result.ok:
            accepted[record.ip] = time.time()
        return result

    sent = run(fleet, ips, send, secrets=pool_set.secrets())
    problems = _read_back(fleet, accepted, pool_set) if accepted else {}
    results = []
    for result in sent:
        if not result.ok:
            results.append(result)
            continue
        problem = problems.get(result.ip)
        if problem is not None:
            results.append(failed(result.ip, f"the miner accepted the pools, but {problem}"))
            continue
        message = f"pool set {pool_set.name!r} applied to {result.ip} and read back"
        try:
            if fleet.get(result.ip).family == "bitaxe":
                # AxeOS (ESP-Miner, every version we drive) reads its stratum settings at boot only.
                message += "; AxeOS switches to it at its next restart"
        except UnknownMiner:
            pass
        results.append(done(result.ip, message))
    report = BulkReport("pool_set", tuple(_scrubbed(r, pool_set.secrets()) for r in results))
    fleet.event("pool_set", f"pool set {pool_set.name!r} (id {pool_set.id}) applied to {len(ips)} miner(s): "
                f"{report.summary()}", actor=actor)
    return report
