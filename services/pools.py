"""Thread pools started whole, so a pool's thread count is its bound from the first minute.

concurrent.futures starts a pool's threads one at a time, when a burst of work finds
none idle, and never stops them; the count therefore creeps up for hours (the soak saw
58 -> 65 threads between minutes 5 and 30) until every pool has met its largest burst.
Starting them all at once costs a few kB of memory per thread and makes "threads flat"
something a soak can check from the start: any growth after that is a real leak.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait


def prestart(executor: ThreadPoolExecutor, workers: int) -> ThreadPoolExecutor:
    """Start ``workers`` threads of ``executor`` now (its max_workers), and return it."""
    gate = threading.Event()
    # Each submit finds no idle thread (all are waiting on the gate) and starts a new one.
    futures = [executor.submit(gate.wait) for _ in range(workers)]
    gate.set()
    wait(futures)
    return executor


def started_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A ThreadPoolExecutor of ``workers`` threads named ``name``, all started."""
    return prestart(ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name), workers)
