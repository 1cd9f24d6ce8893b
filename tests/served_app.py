"""The real app served on a loopback address for tests that talk HTTP to it (API and browser tests)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from werkzeug.serving import make_server


@contextmanager
def serving(app: Any, host: str, *, before_stop: Callable[[], None] | None = None) -> Iterator[str]:
    """Serve a WSGI app (werkzeug, threaded: it speaks flask-sock's WebSocket) on a free port of host; yields its URL.

    ``before_stop`` runs first on the way out (the real app's runtime: its scheduler must stop
    before the server, so no poll round publishes into a closing server).
    """
    srv = make_server(host, 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{srv.server_port}"
    finally:
        try:
            if before_stop is not None:
                before_stop()
        finally:
            srv.shutdown()
            srv.server_close()
            thread.join(timeout=5)


@contextmanager
def served_app(config_path: Path, host: str, *,
             settings_environ: dict[str, str] | None = None) -> Iterator[tuple[str, Any]]:
    """The real app (create_app with its background runtime) from a config file; yields (URL, runtime).

    The config is loaded without the process environment. ``settings_environ`` is the environment
    the Settings API sees (ALERT_URLS and the other overrides); None leaves the app's default.
    """
    from app import create_app
    from services.config import load_config

    test_config = None if settings_environ is None else {"SETTINGS_ENVIRON": settings_environ}
    app = create_app(config=load_config(config_path, environ=settings_environ or {}), start_background=True,
                     test_config=test_config)
    runtime = app.extensions["runtime"]
    try:
        assert runtime.scheduler is not None and not runtime.read_only, "the background runtime did not start"
        with serving(app, host, before_stop=runtime.shutdown) as base:
            yield base, runtime
    finally:
        runtime.shutdown()
