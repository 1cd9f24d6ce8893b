"""gunicorn.conf.py plus a memory probe in the worker, for ``bench/soak.py --probe FILE``.

Where a worker's resident memory goes cannot be seen from /proc alone. This config
runs the app exactly as gunicorn.conf.py does and, in the worker, starts one thread
that appends a JSON line to $MEMPROBE_OUT every $MEMPROBE_SEC seconds (default 30):
SQLite's own heap (sqlite3_memory_used), glibc's malloc figures (mallinfo2: bytes in
use, free bytes kept, mmapped bytes), pymalloc's arenas, the number of live Python
objects by type for the ten most numerous types, and VmRSS. Bench-only: nothing in
the product imports it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
exec(compile((_ROOT / "gunicorn.conf.py").read_text(), str(_ROOT / "gunicorn.conf.py"), "exec"))  # noqa: S102

_base_post_fork = post_fork  # noqa: F821 - defined by the exec above


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _probe(out: Path, period: float) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = _MallInfo2
    sqlite = ctypes.CDLL("libsqlite3.so.0")
    sqlite.sqlite3_memory_used.restype = ctypes.c_int64
    started = time.monotonic()
    while True:
        info = libc.mallinfo2()
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        types = Counter(type(o).__name__ for o in gc.get_objects())
        row = {"t_min": round((time.monotonic() - started) / 60, 2),
               "rss_mb": int(status["VmRSS"].split()[0]) / 1024,
               "sqlite_mb": sqlite.sqlite3_memory_used() / 2**20,
               "malloc_in_use_mb": info.uordblks / 2**20, "malloc_free_mb": info.fordblks / 2**20,
               "malloc_mmap_mb": info.hblkhd / 2**20, "arena_mb": info.arena / 2**20,
               "pymalloc_blocks": sys.getallocatedblocks(), "gc_objects": sum(types.values()),
               "top_types": types.most_common(10)}
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        time.sleep(period)


def post_fork(server, worker):  # noqa: F811 - extends the one from gunicorn.conf.py
    """The product's post_fork, then the probe thread (if $MEMPROBE_OUT is set)."""
    _base_post_fork(server, worker)
    out = os.environ.get("MEMPROBE_OUT")
    if out:
        threading.Thread(target=_probe, args=(Path(out), float(os.environ.get("MEMPROBE_SEC", "30"))),
                         name="memprobe", daemon=True).start()
