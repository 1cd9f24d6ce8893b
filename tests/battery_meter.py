"""A battery meter for ``battery.source: http`` tests: a loopback JSON server whose reading the test sets.

Used by the browser tests (tests/browser/real_site.py) and the live battery-settings test.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class BatteryMeter:
    """A JSON meter for ``battery.source: http``: the test sets the reading or the HTTP status."""

    FIELDS = "    fields: {soc: soc, pv_w: pv, load_w: load, battery_w: battery, grid_w: grid}\n    time_field: time\n"

    def __init__(self, host: str, *, max_age_sec: float = 120) -> None:
        self.max_age_sec = max_age_sec  # battery.max_age_sec: older readings are refused as stale
        self.lock = threading.Lock()
        self.reading: dict[str, Any] = {}
        self.http_status = 200
        self.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with outer.lock:  # measured ``age`` seconds before this read, or when the clock stopped
                    reading = {**outer.reading, "time": outer.frozen_at or time.time() - outer.reading["age"]}
                    status, body = outer.http_status, json.dumps(reading).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/meter"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set(self, soc: float = 54.0, pv_w: float = 1800.0, load_w: float = 600.0, battery_w: float = -1200.0,
            grid_w: float | None = None, age: float = 12.0, http_status: int = 200) -> None:
        """The next reading (battery_w + = discharging), measured ``age`` seconds before each read."""
        with self.lock:
            self.reading = {"soc": soc, "pv": pv_w, "load": load_w, "battery": battery_w, "grid": grid_w,
                            "age": age}
            self.http_status = http_status
            self.frozen_at: float | None = None

    def freeze(self) -> None:
        """The meter's clock stops: every read from now on repeats the time of this moment's reading."""
        with self.lock:
            self.frozen_at = time.time() - self.reading["age"]

    def config(self, poll_sec: float = 1) -> str:
        """The battery section of config.yaml for this meter (SOC steps a test makes pass the guard)."""
        return (f"battery:\n  source: http\n  poll_sec: {poll_sec}\n  max_age_sec: {self.max_age_sec:g}\n"
                "  max_soc_rate_pct_per_min: 100\n"
                f"  http:\n    url: {self.url}\n{self.FIELDS}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
