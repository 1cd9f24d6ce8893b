"""The periodic jobs, on one APScheduler BackgroundScheduler; no job ever overlaps itself."""

from __future__ import annotations

import logging
import time
from typing import Callable

from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from services.pools import started_pool

log = logging.getLogger(__name__)

# APScheduler 3.x defaults are coalesce=True, max_instances=1 already; they are
# set explicitly because a double poll would double every request to the miners.
_JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}


class _StartedThreads(BasePoolExecutor):
    """APScheduler's thread-pool executor on a pool whose threads are all started (services/pools.py)."""

    def __init__(self, workers: int) -> None:
        super().__init__(started_pool(workers, "job"))


def build_scheduler(jobs: list[tuple[str, Callable[[], object], float, bool]],
                    one_off: int = 0) -> BackgroundScheduler:
    """A scheduler with (name, function, interval seconds, run at start) jobs, not yet started.

    No job overlaps itself, so the jobs plus ``one_off`` date jobs never need more
    threads than there are jobs (APScheduler's default pool is 10, started lazily).
    """
    executor = _StartedThreads(len(jobs) + one_off)
    scheduler = BackgroundScheduler(job_defaults=_JOB_DEFAULTS, executors={"default": executor}, timezone="UTC")
    for name, func, seconds, run_now in jobs:
        add_interval_job(scheduler, name, func, seconds, run_now)
    return scheduler


def add_interval_job(scheduler: BackgroundScheduler, name: str, func: Callable[[], object], seconds: float,
                     run_now: bool) -> None:
    """One periodic job (id = name), logged like the rest; ``run_now`` runs it first at once."""
    kwargs = {"next_run_time": _now_utc()} if run_now else {}
    scheduler.add_job(_logged(name, func), "interval", seconds=seconds, id=name, name=name, **kwargs)


def run_soon(scheduler: BackgroundScheduler, name: str) -> None:
    """Bring job ``name``'s next run forward to now (no-op when there is no such job)."""
    job = scheduler.get_job(name)
    if job is not None:
        job.modify(next_run_time=_now_utc())


def _now_utc():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def _logged(name: str, func: Callable[[], object]) -> Callable[[], None]:
    """Wrap a job so an exception is logged with its name and the schedule goes on."""

    def run() -> None:
        started = time.monotonic()
        try:
            func()
        except Exception:  # noqa: BLE001 - the next run may well succeed
            log.exception("job %s failed", name)
        else:
            log.debug("job %s took %.3f s", name, time.monotonic() - started)

    run.__name__ = f"job_{name}"
    return run
