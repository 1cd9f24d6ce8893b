"""Time database/migrate.py on an old-layout (version 2) file of a given size.

Builds (once, kept in --data-dir) a version-2 file as the old code left it: raw rounds
every 15 s for --raw-days written round by round in time order, and --rollup-days of
5-minute roll-ups written hour by hour grouped by miner (the old hourly job's order),
the last ones covering the raw days, and a battery reading every 10 s over the raw days
(added to a file built before the battery was part of this bench). Then copies it and
migrates the copy, printing the progress lines, the seconds per step, rows per second
and the file sizes.

    .venv/bin/python bench/migrate_v2.py --miners 200 --raw-days 3 --rollup-days 365 --data-dir /tmp/migbench
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from database import migrate as mig  # noqa: E402

OLD_SCHEMA = ROOT / "tests" / "fixtures" / "schema_v2.sql"
ROUND_S = 15
BATTERY_S = 10  # the old app wrote a reading whenever the source had a new one, every 10 s at most


def build(path: Path, miners: int, raw_days: float, rollup_days: float, end: int) -> None:
    """Write the old layout as the old poller and hourly roll-up did (values from SQLite's random())."""
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    conn.executescript(OLD_SCHEMA.read_text())
    conn.execute("PRAGMA user_version=2")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO miners (id, ip, family, algorithm, credentials, added_ts, last_seen_ts) "
                     "VALUES (?, ?, 'bitaxe', ?, ?, ?, ?)",
                     [(i, f"10.0.{i // 250}.{i % 250 + 1}", "scrypt" if i % 10 == 0 else "sha256d",
                       json.dumps({"username": "root", "password": "x"}), end - rollup_days * 86400, end)
                      for i in range(1, miners + 1)])
    conn.execute("COMMIT")
    value = "(abs(random()) % 1000000) * 1e6 + 1e12, 1000 + abs(random()) % 2000, 40 + abs(random()) % 40"
    rollup_start = int((end - rollup_days * 86400) // 3600 * 3600)
    raw_start = int((end - raw_days * 86400) // ROUND_S * ROUND_S)
    # Roll-ups hour by hour, each hour's rows grouped by miner (INSERT ... GROUP BY miner_id, b).
    hour, t0 = rollup_start, time.monotonic()
    while hour < end - 1800:
        conn.execute("BEGIN")
        for h in range(hour, min(hour + 24 * 3600, end - 1800), 3600):
            conn.execute(
                f"""INSERT INTO samples_5m (miner_id, bucket_ts, hashrate_hs, power_w, temp_c, n)
                    WITH RECURSIVE b(x) AS (SELECT {h} UNION ALL SELECT x + 300 FROM b WHERE x + 300 < {h + 3600})
                    SELECT m.id, b.x, {value}, 20 FROM miners m CROSS JOIN b ORDER BY m.id, b.x""")
        conn.execute("COMMIT")
        hour += 24 * 3600
    print(f"built roll-ups in {time.monotonic() - t0:.0f} s", flush=True)
    # Raw rounds in time order, one round per statement (the old insert_samples order).
    t0 = time.monotonic()
    rounds = list(range(raw_start, end, ROUND_S))
    for i in range(0, len(rounds), 240):
        conn.execute("BEGIN")
        for t in rounds[i:i + 240]:
            conn.execute(f"INSERT INTO samples (miner_id, ts, hashrate_hs, power_w, temp_c, fan_rpm) "
                         f"SELECT id, {t}.0, {value}, 4000 FROM miners ORDER BY id")
        conn.execute("COMMIT")
    print(f"built raw in {time.monotonic() - t0:.0f} s", flush=True)
    conn.close()
    add_battery(tmp, raw_start, end)
    tmp.rename(path)


def add_battery(path: Path, start: float, end: float) -> None:
    """Battery readings every BATTERY_S over [start, end), as the old battery writer left them (once)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if conn.execute("SELECT COUNT(*) FROM battery_samples").fetchone()[0]:
            return
        conn.execute("BEGIN")
        conn.execute(
            f"""INSERT INTO battery_samples (ts, received_ts, soc_pct, pv_w, load_w, battery_w, grid_w, source, time_from)
                WITH RECURSIVE b(x) AS (SELECT {int(start)} UNION ALL SELECT x + {BATTERY_S} FROM b WHERE x + {BATTERY_S} < {int(end)})
                SELECT x + 0.25, x + 0.75, abs(random()) % 100, abs(random()) % 5000, abs(random()) % 5000,
                       abs(random()) % 4000 - 2000, abs(random()) % 3000, 'simulated', 'device' FROM b""")
        conn.execute("COMMIT")
    finally:
        conn.close()


def main() -> int:
    """Build (once) and migrate a copy; print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--miners", type=int, default=200)
    ap.add_argument("--raw-days", type=float, default=3)
    ap.add_argument("--rollup-days", type=float, default=365)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    name = f"v2-{args.miners}m-{args.raw_days:g}r-{args.rollup_days:g}d.db"
    pristine = args.data_dir / name
    if not pristine.exists():
        build(pristine, args.miners, args.raw_days, args.rollup_days, int(time.time() // 86400 * 86400 - 86400))
    conn = sqlite3.connect(pristine)
    raw = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    raw_span = conn.execute("SELECT MIN(ts), MAX(ts) + ? FROM samples", (ROUND_S,)).fetchone()
    rollups = conn.execute("SELECT COUNT(*) FROM samples_5m").fetchone()[0]
    conn.close()
    if raw:
        add_battery(pristine, *raw_span)
    conn = sqlite3.connect(pristine)
    battery = conn.execute("SELECT COUNT(*) FROM battery_samples").fetchone()[0]
    conn.close()
    work = args.data_dir / "migrating.db"
    shutil.copyfile(pristine, work)
    size_before = work.stat().st_size
    marks: dict[str, float] = {}
    t0 = time.monotonic()

    def progress(msg: str) -> None:
        marks[msg.split(":")[0]] = time.monotonic() - t0
        if not args.json:
            print(f"{time.monotonic() - t0:8.1f} s  {msg}", flush=True)

    counts = mig.migrate(work, progress)
    size_after = work.stat().st_size
    conn = sqlite3.connect(work)
    free_mb = conn.execute("PRAGMA freelist_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0] / 1e6
    conn.close()
    rows = raw + rollups + battery
    result = {"miners": args.miners, "raw_rows": raw, "rollup_rows": rollups, "battery_rows": battery, "size_before_mb": round(size_before / 1e6),
              "size_after_mb": round(size_after / 1e6), "free_after_mb": round(free_mb),
              "seconds": counts["seconds"],
              "rows_per_s": round(rows / counts["seconds"]), "step_done_at_s": {k: round(v, 1) for k, v in marks.items()},
              "counts": counts}
    print(json.dumps(result, indent=None if args.json else 2))
    work.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
