"""Daily CSV logs of the miners' and the battery's readings in DATA_DIR/logs, as the WhatsMiner controller kept.

Every ``storage.csv_interval_sec`` the scheduler calls ``CsvLogger.write()``: one row per
known miner goes to ``miners-YYYY-MM-DD.csv`` and one battery row to
``battery-YYYY-MM-DD.csv`` (local date). Rows come from memory (the fleet's records,
the battery source's last reading); nothing here talks to a device.

SD-card friendly: each file is opened, appended to once and closed per interval (no
fsync, nothing held open across days). The header is written once per file; a file
whose first line is not the current header (no header, or columns from another
version) is moved aside to ``<kind>-<date>.<n>.csv`` rather than mixed with new rows.
Unknown values are empty cells, never 0. Errors (disk full, permissions) are logged
once per distinct error and never raised into the scheduler. The charts and the
history API read SQLite, not these files.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

FILE_MODE = 0o640  # not secret, but no business of other local users (the database is 0600)
DIR_MODE = 0o750
KINDS = ("miners", "battery")
# Our own files only: miners-2024-05-01.csv, battery-2024-05-01.csv and moved-aside .1.csv copies.
FILE_PATTERN = re.compile(r"^(miners|battery)-(\d{4}-\d{2}-\d{2})(?:\.\d+)?\.csv$")

MINER_COLUMNS = (
    "time", "epoch", "ip", "name", "family", "model", "algorithm", "online", "status", "state", "mode",
    "power_limit_w", "hashrate_hs", "expected_hashrate_hs", "power_w", "temp_c", "fan_rpm_max", "fan_rpm",
    "frequency_mhz", "uptime_s", "last_seen_epoch", "error",
)
BATTERY_COLUMNS = (
    "time", "epoch", "soc_pct", "pv_w", "load_w", "battery_w", "grid_w", "measured_at", "measured_at_epoch",
    "age_s", "measured_at_from", "source", "connected", "error",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these as formulas


def csv_cell(value: Any) -> str:
    """One CSV cell: None (or NaN) -> empty, bool -> 1/0, floats without exponent or noise digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer():
            return str(int(value))
        return f"{value:.3f}".rstrip("0").rstrip(".")
    text = str(value)
    # Text comes from miners' firmware and users: never let a spreadsheet read it as a formula.
    return "'" + text if text.startswith(_FORMULA_START) else text


def local_time(ts: float, tz: tzinfo | None = None) -> datetime:
    """Epoch seconds as an aware datetime in ``tz`` (None = the system's local zone)."""
    return datetime.fromtimestamp(ts, tz) if tz is not None else datetime.fromtimestamp(ts).astimezone()


def local_iso(ts: float | None, tz: tzinfo | None = None) -> str:
    """Epoch seconds as ISO-8601 local time with its UTC offset, or '' when unknown."""
    if ts is None:
        return ""
    return local_time(ts, tz).isoformat(timespec="seconds")


def miner_row(record: Any, now: float, tz: tzinfo | None = None) -> list[str]:
    """The CSV cells for one services.miner_state.MinerRecord (readings empty unless it is online)."""
    status = record.status if record.online else None  # an offline miner's last reading is not current
    identity = record.status  # model and firmware facts stay true while it is offline
    fans = list(status.fan_rpm) if status is not None and status.fan_rpm else []
    values: list[Any] = [
        local_iso(now, tz), int(now), record.ip, record.name, record.family,
        (identity.model if identity is not None and identity.model else record.model), record.algorithm,
        record.online, record.state_name,
        getattr(status, "state", None), getattr(status, "mode", None), getattr(status, "power_limit_w", None),
        getattr(status, "hashrate_hs", None), getattr(status, "expected_hashrate_hs", None),
        getattr(status, "power_w", None), getattr(status, "temp_c", None),
        max(fans) if fans else None, ";".join(str(f) for f in fans) or None,
        getattr(status, "frequency_mhz", None), getattr(status, "uptime_s", None),
        int(record.last_seen_ts) if record.last_seen_ts else None,
        None if record.online else record.last_error,
    ]
    return [csv_cell(v) for v in values]


def battery_row(reading: Any, status: Any, now: float, tz: tzinfo | None = None) -> list[str]:
    """The CSV cells for the battery: its last reading (or empty cells) and the source's status."""
    measured = reading.measured_at if reading is not None else None
    values: list[Any] = [
        local_iso(now, tz), int(now),
        getattr(reading, "soc_pct", None), getattr(reading, "pv_w", None), getattr(reading, "load_w", None),
        getattr(reading, "battery_w", None), getattr(reading, "grid_w", None),
        local_iso(measured, tz), measured,
        round(now - measured, 1) if measured is not None else None,
        getattr(reading, "measured_at_from", None),
        getattr(status, "source", None) or getattr(reading, "source", None),
        getattr(status, "connected", None), getattr(status, "last_error", None) or None,
    ]
    return [csv_cell(v) for v in values]


@dataclass
class _FileState:
    """What this process knows about one day file: checked (header in place, ends on a newline)."""

    path: Path
    ready: bool = False


class CsvLogger:
    """Appends the miners' and the battery's readings to daily CSV files; never raises from write()."""

    def __init__(self, directory: Path | str, *, keep_days: int,
                 miners: Callable[[], Iterable[Any]] | None = None,
                 battery: Callable[[], Any] | None = None,
                 clock: Callable[[], float] = time.time, tz: tzinfo | None = None,
                 append_every_s: float = 0.0) -> None:
        """append_every_s: rows wait in memory and go to the files together this often (0 = every write)."""
        self.directory = Path(directory)
        self.append_every_s = float(append_every_s)
        # Rows waiting for their append, already rendered as CSV text: (day, text, rows). Text, not lists
        # of cells: 10 minutes of 500 miners is ~1 MB this way, several times that as Python lists.
        self._pending: dict[str, list[tuple[date, str, int]]] = {kind: [] for kind in KINDS}
        self._pending_since: float | None = None
        self.keep_days = int(keep_days)
        self._miners = miners  # -> MinerRecords (fleet.records)
        self._battery = battery  # -> a battery source: .last_reading and .status()
        self._clock = clock
        self._tz = tz
        self._files: dict[str, _FileState] = {}
        self._purged_on: date | None = None
        self._errors: dict[str, set[str]] = {}  # per step: distinct errors logged, until the step works again
        self._lock = threading.Lock()

    # --- the scheduled job ---------------------------------------------------------
    def write(self) -> dict[str, int]:
        """One interval: a row per miner and one battery row; returns rows appended to the files per kind."""
        written = {kind: 0 for kind in KINDS}
        with self._lock:
            now = self._clock()
            day = local_time(now, self._tz).date()
            try:
                self.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            except Exception as exc:  # noqa: BLE001 - logged once; the next interval tries again
                self._failed("logs directory", exc)
                return written
            self._recovered("logs directory")
            if self._purged_on != day:
                try:
                    self.purge(day)
                    self._purged_on = day
                    self._recovered("old log removal")
                except Exception as exc:  # noqa: BLE001 - writing today's rows matters more
                    self._failed("old log removal", exc)
            if self._miners is not None:
                self._queue_guarded("miners", day, self._miner_rows(now))
            if self._battery is not None:
                self._queue_guarded("battery", day, self._battery_rows(now))
            if self._pending_since is None:
                self._pending_since = now
            if now - self._pending_since >= self.append_every_s:
                written = self._append_pending()
        return written

    def flush(self) -> dict[str, int]:
        """Append every row still waiting (at shutdown); returns rows appended per kind."""
        with self._lock:
            return self._append_pending()

    def _append_pending(self) -> dict[str, int]:
        """One append per kind and day for everything queued since the last one."""
        self._pending_since = None
        written = {kind: 0 for kind in KINDS}
        for kind, queued in self._pending.items():
            self._pending[kind] = []
            by_day: dict[date, list[str]] = {}
            counts: dict[date, int] = {}
            for day, text, count in queued:
                by_day.setdefault(day, []).append(text)
                counts[day] = counts.get(day, 0) + count
            for day, texts in by_day.items():
                if self._append_guarded(kind, day, "".join(texts)):
                    written[kind] += counts[day]
        return written

    def _miner_rows(self, now: float) -> Callable[[], list[list[str]]]:
        # A disabled miner is not polled: a row every interval would repeat its last reading as if current.
        return lambda: [miner_row(record, now, self._tz) for record in self._miners() if record.enabled]

    def _battery_rows(self, now: float) -> Callable[[], list[list[str]]]:
        def rows() -> list[list[str]]:
            source = self._battery()
            if source is None:
                return []
            return [battery_row(source.last_reading, source.status(), now, self._tz)]

        return rows

    def _queue_guarded(self, kind: str, day: date, rows: Callable[[], list[list[str]]]) -> None:
        try:
            built = rows()
        except Exception as exc:  # noqa: BLE001 - a bad record must not stop polling or control
            self._failed(f"{kind} log", exc)  # "works again" is said by the next append that succeeds
            return
        if built:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(built)
            self._pending[kind].append((day, buffer.getvalue(), len(built)))

    # --- files ---------------------------------------------------------------------
    def path_for(self, kind: str, day: date) -> Path:
        """DATA_DIR/logs/<kind>-YYYY-MM-DD.csv."""
        return self.directory / f"{kind}-{day.isoformat()}.csv"

    def _append_guarded(self, kind: str, day: date, body: str) -> bool:
        try:
            self.append(kind, day, body)
        except Exception as exc:  # noqa: BLE001 - a full disk must not stop polling or control
            # The rows are dropped (logged once per distinct error): a full disk must not fill memory.
            self._failed(f"{kind} log", exc)
            self._files.pop(kind, None)  # re-check the file (a partial line?) before the next append
            return False
        self._recovered(f"{kind} log")
        return True

    def append(self, kind: str, day: date, body: str) -> None:
        """Append CSV text (whole rows) to the day's file in one open/write/close, the header first in a new file."""
        header = MINER_COLUMNS if kind == "miners" else BATTERY_COLUMNS
        path = self.path_for(kind, day)
        state = self._files.get(kind)
        if state is None or state.path != path:
            state = self._files[kind] = _FileState(path)  # a new day: the old file is never touched again
        buffer = io.StringIO()
        if not state.ready:
            prefix, need_header = self._prepare(path, header)
            buffer.write(prefix)
            if need_header:
                csv.writer(buffer, lineterminator="\n").writerow(header)
        buffer.write(body)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            data = buffer.getvalue().encode("utf-8")
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        state.ready = True

    def _prepare(self, path: Path, header: tuple[str, ...]) -> tuple[str, bool]:
        """First touch of a file in this process: ('' or a newline to finish a cut line, header needed?)."""
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return "", True
        if size == 0:
            return "", True
        with open(path, "rb") as handle:
            first = handle.readline().decode("utf-8", "replace").rstrip("\r\n")
            handle.seek(-1, os.SEEK_END)
            ends_clean = handle.read(1) == b"\n"
        if first == ",".join(header):
            return ("" if ends_clean else "\n"), False  # a restart mid-day: no second header
        aside = self._aside_name(path)
        os.replace(path, aside)
        log.warning("CSV log %s had no header or other columns: moved to %s, a new file is started",
                    path.name, aside.name)
        return "", True

    @staticmethod
    def _aside_name(path: Path) -> Path:
        n = 1
        while (candidate := path.with_name(f"{path.stem}.{n}.csv")).exists():
            n += 1
        return candidate

    def purge(self, today: date | None = None) -> list[str]:
        """Delete our own day files dated more than keep_days before today; returns the names removed."""
        today = today or local_time(self._clock(), self._tz).date()
        cutoff = today - timedelta(days=self.keep_days)
        removed = []
        for entry in os.scandir(self.directory):
            match = FILE_PATTERN.match(entry.name)
            if not match or not entry.is_file(follow_symlinks=False):
                continue
            try:
                day = date.fromisoformat(match.group(2))
            except ValueError:
                continue
            if day < cutoff:
                os.unlink(entry.path)
                removed.append(entry.name)
        if removed:
            log.info("CSV logs: %d files older than %d days removed", len(removed), self.keep_days)
        return sorted(removed)

    def _failed(self, what: str, exc: Exception) -> None:
        # strerror, not str(exc): the file name changes daily, the cause ("No space left") does not.
        reason = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
        seen = self._errors.setdefault(what, set())
        if reason in seen:
            return
        seen.add(reason)
        log.error("CSV logs in %s: %s failed (%s); tried again every interval, logged once",
                  self.directory, what, reason)

    def _recovered(self, what: str) -> None:
        if self._errors.pop(what, None):
            log.info("CSV logs: %s works again", what)
