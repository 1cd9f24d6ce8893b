"""gunicorn settings: ONE worker process with threads (see README, "Why one worker").

The fleet state and the pollers live in the worker's memory; a second worker
would start a second set of pollers (the lock file in services/runtime.py
turns it read-only, but it would still be wasted). No --preload (threads
started in the master would not survive the fork), no --reload, no
max_requests (a recycled worker would drop every live WebSocket).
"""

import signal
import sys
import time

from services.config import ConfigError, load_config

try:
    _config = load_config()
except ConfigError as _exc:
    # One clear line and exit code 1, before gunicorn prints anything of its own.
    print(f"config error: {_exc}", file=sys.stderr)
    sys.exit(1)

wsgi_app = "app:create_app()"
bind = f"{_config.server.host}:{_config.server.port}"
workers = 1
# gthread with request heads (and small bodies) read in the event loop, so a slow or half-sent request
# never holds a thread (serving/worker.py). Open dashboards hold no thread at all: /ws hands each
# socket to the push server's single thread (services/push.py).
worker_class = "serving.worker.HeaderFirstWorker"
threads = _config.server.threads  # requests being served at once; idle and arriving connections use none
# Connections held at once (arriving, kept alive or being served; WebSockets are not counted, they have
# their own cap, services/push.MAX_CLIENTS = 200). With the app's own descriptors this stays under the
# usual soft limit of 1024 open files even without the unit's LimitNOFILE.
worker_connections = 500
timeout = 60  # gthread: the worker heartbeat, not a per-request limit
graceful_timeout = 20  # systemd's TimeoutStopSec (30 s) is longer, so shutdown is never cut short
keepalive = 5
accesslog = None  # the journal gets our own log lines; per-request lines would wear the SD card
errorlog = "-"
loglevel = _config.logging.level.lower()
proc_name = "minerfleet"
# gunicorn >= 25.1 opens a control socket at ~/.gunicorn/gunicorn.ctl by default: one path shared by
# every gunicorn of the user, a way to change the worker count at run time (this app must run exactly
# one worker), and a write into a home directory the systemd unit keeps read-only. Off.
control_socket_disable = True


def on_starting(server):
    """In the master, before any worker: convert an old-layout database (database/migrate.py).

    Here and not in the worker: converting a year of history takes minutes on a Pi, longer
    than the worker's heartbeat timeout, and the worker would be killed and started again.
    A conversion that stops half-way resumes at the next start; the app never opens a
    half-converted file (database/db.py refuses it).
    """
    import sqlite3

    from database import migrate

    path = _config.data_path / "fleet.db"
    if not path.exists():
        return
    conn = sqlite3.connect(path, timeout=10)
    try:
        needed = migrate.needs_migration(conn)
    finally:
        conn.close()
    if needed:
        server.log.warning("converting %s to history layout %d (resumable; progress follows)",
                           path, migrate.LAYOUT_VERSION)
        result = migrate.migrate(path, progress=server.log.warning)
        server.log.warning("conversion done in %.0f s", result["seconds"])


def post_fork(server, worker):
    """In the new worker, before any of its threads: at most two malloc arenas (serving/memory.py says why)."""
    import os

    from serving.memory import limit_malloc_arenas
    from services.runtime import set_lock_handover

    limit_malloc_arenas()
    # A worker that started read-only (another process held fleet.lock) ends itself once the lock is
    # free, and the master starts a fresh worker that takes it and polls with the state as last saved.
    set_lock_handover(lambda: os.kill(os.getpid(), signal.SIGTERM))


def worker_exit(server, worker):
    """SIGTERM: stop the scheduler, wait for commands in flight, close the database."""
    app = getattr(worker, "wsgi", None)
    runtime = getattr(app, "extensions", {}).get("runtime") if app else None
    if runtime is not None:
        runtime.shutdown()


def on_reload(server):
    """SIGHUP: stop the old worker before gunicorn forks the new one.

    gunicorn's own order is new worker first, then SIGTERM to the old one; here the
    old worker still holds DATA_DIR/fleet.lock while the new one starts, so the new
    one would serve read-only (no polling, no control, EMS 503) until the next
    restart, with the state it read before the old worker's last writes. Stopping
    the old worker first hands the lock over and the new worker reads the state
    last saved. Requests wait in the listen backlog meanwhile.
    """
    _stop_workers(server, signal.SIGTERM, server.cfg.graceful_timeout + 5)
    if server.WORKERS:  # past the graceful timeout: the kernel releases the lock of a killed process
        _stop_workers(server, signal.SIGKILL, 5)


def _stop_workers(server, sig, seconds):
    """Signal every worker and reap them until none is left or ``seconds`` have passed."""
    for pid in list(server.WORKERS):
        server.kill_worker(pid, sig)
    deadline = time.monotonic() + seconds
    while server.WORKERS and time.monotonic() < deadline:
        server.reap_workers()
        time.sleep(0.05)
