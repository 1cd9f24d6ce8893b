"""gunicorn settings: ONE worker process with threads (see README, "Why one worker").

The fleet state and the pollers live in the worker's memory; a second worker
would start a second set of pollers (the lock file in services/runtime.py
turns it read-only, but it would still be wasted). No --preload (threads
started in the master would not survive the fork), no --reload, no
max_requests (a recycled worker would drop every live WebSocket).
"""

import sys

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
worker_class = "gthread"
threads = _config.server.threads  # each open dashboard tab holds one thread (WebSocket)
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


def worker_exit(server, worker):
    """SIGTERM: stop the scheduler, wait for commands in flight, close the database."""
    app = getattr(worker, "wsgi", None)
    runtime = getattr(app, "extensions", {}).get("runtime") if app else None
    if runtime is not None:
        runtime.shutdown()
