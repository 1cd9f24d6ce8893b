"""Scheduled-backup bench: what one run writes to the data disk (the Pi's SD card) and to the backup folder.

One real run of services/backup_schedule.py's BackupSchedule on a copy of an aged database
(``--db``, e.g. the file bench/history.py builds: ``/tmp/histbench/v3-200m-3r-365d.db``, 200
miners and a year). The backup folder is on a tmpfs (``--folder``, default under /dev/shm), whose
writes never reach a block device, so the process's /proc/self/io ``write_bytes`` over the run
is what the run wrote to the data disk, and ``wchar`` minus that is what went to the folder.

Two ways, both the product's own code:

- ``on the stick``: the schedule as it runs (build_archive(work=<folder>/.minerfleet-work),
  then a rename);
- ``via the data dir``: the same run with the archive built in DATA_DIR/backup-work and copied
  in (the copy path write_archive keeps for an archive made elsewhere; how every run went before).

    .venv/bin/python bench/backup_writes.py --db /tmp/histbench/v3-200m-3r-365d.db
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services import backup  # noqa: E402
from services.backup_schedule import BackupSchedule  # noqa: E402
from services.config import load_config  # noqa: E402


def _io() -> dict[str, int]:
    with open("/proc/self/io") as fh:
        return {k: int(v) for k, v in (line.split(": ") for line in fh)}


def _mb(n: float) -> float:
    return round(n / 2**20, 1)


def one_run(config: Any, folder: Path, *, on_stick: bool) -> dict[str, Any]:
    """One scheduled run; the data disk's and the folder's writes over it (MB) and its time."""
    events: list[tuple] = []

    def via_data_dir(cfg: Any, *, include_secrets: bool, now: float | None = None, work: Path | None = None):
        return backup.build_archive(cfg, include_secrets=include_secrets, now=now)  # work ignored: DATA_DIR

    schedule = BackupSchedule(lambda: config, event=lambda *a, **k: events.append(a),
                              build=backup.build_archive if on_stick else via_data_dir)
    os.sync()
    before, started = _io(), time.monotonic()
    result = schedule.run()
    seconds = time.monotonic() - started
    after = _io()
    if not result.get("ok"):
        raise SystemExit(f"the run failed: {result}")
    disk = after["write_bytes"] - before["write_bytes"]
    return {"way": "on the stick" if on_stick else "via the data dir", "seconds": round(seconds, 2),
            "archive_mb": _mb(result["size"]), "data_disk_mb": _mb(disk),
            "folder_mb": _mb(after["wchar"] - before["wchar"] - disk)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="an aged fleet.db (bench/history.py builds one)")
    parser.add_argument("--folder", type=Path, default=Path("/dev/shm/minerfleet-bench-backup"),
                        help="the backup folder, on a tmpfs (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.db.is_file():
        parser.error(f"--db {args.db}: no such file")
    if "tmpfs" not in _fs_type(args.folder.parent):
        parser.error(f"--folder {args.folder}: must be on a tmpfs (its writes must not count as the data disk's)")
    work = Path(tempfile.mkdtemp(prefix="backup-bench-", dir="/var/tmp"))
    args.folder.mkdir(parents=True, exist_ok=True)
    try:
        data = work / "data"
        data.mkdir()
        shutil.copyfile(args.db, data / "fleet.db")
        path = work / "config.yaml"
        path.write_text(f"server:\n  data_dir: {data}\nsite: bench\nbackup:\n  dir: {args.folder}\n  keep: 2\n")
        config = load_config(path, environ={})
        db_mb = _mb((data / "fleet.db").stat().st_size)
        rows = [one_run(config, args.folder, on_stick=way) for way in (False, True)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(args.folder, ignore_errors=True)
    print(f"database {db_mb} MB ({args.db.name}); folder on a tmpfs: {args.folder}")
    print(f"{'way':<18} {'seconds':>8} {'archive MB':>11} {'data disk MB':>13} {'folder MB':>10}")
    for r in rows:
        print(f"{r['way']:<18} {r['seconds']:>8} {r['archive_mb']:>11} {r['data_disk_mb']:>13} {r['folder_mb']:>10}")
    if args.json:
        args.json.write_text(json.dumps({"db_mb": db_mb, "runs": rows}, indent=2))
    return 0


def _fs_type(path: Path) -> str:
    """The file system type /proc/mounts gives for the mount holding ``path``."""
    best, kind = "", ""
    with open("/proc/mounts") as fh:
        for line in fh:
            _dev, mount, fstype = line.split()[:3]
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    return kind


if __name__ == "__main__":
    raise SystemExit(main())
