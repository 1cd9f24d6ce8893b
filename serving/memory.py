"""glibc malloc tuning for the one long-running worker: at most two arenas.

Why: glibc gives each thread that allocates its own malloc arena, up to eight per
core, and keeps freed memory inside each arena for reuse. The worker runs some
fifty threads (32 poll/command threads, 16 request threads, the scheduler, the
push server), so transient allocations (JSON replies, HTTP bodies, SQLite
sorts) spread over many arenas and the resident size kept creeping up: in
bench/soak.py the worker went 78.8 -> 93.3 MB between minutes 5 and 12.5 with
the default, and 70.1 -> 73.4 MB between minutes 5 and 10 with two arenas, for
the same load (Python's own live objects stayed near 3 MB throughout, measured
with tracemalloc). Two arenas cost nothing measurable here: the threads mostly
wait on sockets. Heroku and the gunicorn community recommend the same setting.

Per-thread caches: glibc's tcache keeps up to 7 freed chunks of each small
size in every thread, counted as in use; with fifty threads that filled for
many minutes (malloc's in-use bytes grew 0.87 MB/min at minute 7 of the soak
with the tcache, 0.27 MB/min without, the rest SQLite's page caches filling
as the database grows). glibc reads that only from ``GLIBC_TUNABLES`` at
start, so ``MALLOC_ENV`` below is set by systemd/minerfleet.service and
start.sh (tests/test_memory_arenas.py checks they agree) and by the tests'
and benches' gunicorn launcher. The arena cap is also set in the worker
(gunicorn's post_fork hook), before its threads start, for a plain
``gunicorn -c gunicorn.conf.py``; ``MALLOC_ARENA_MAX`` in the environment,
when set, wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

ARENAS = 2
# The environment the service starts with (systemd unit, start.sh): two arenas, no per-thread cache.
MALLOC_ENV = {"MALLOC_ARENA_MAX": str(ARENAS), "GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"}
_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads started from now on; False where not glibc or already set."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False  # the operator's own setting, read by glibc at start
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = mallopt(_M_ARENA_MAX, arenas) == 1
    if not done:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return done
