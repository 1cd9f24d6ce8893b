"""The app as start.sh runs it (``gunicorn -c gunicorn.conf.py``, in its own session), for tests and benches.

One place for starting it with a config file, finding its worker and stopping the
whole process group, so a test, the soak and the benches stop it the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import IO

from serving.memory import MALLOC_ENV

ROOT = Path(__file__).resolve().parent.parent
# Overrides a developer's shell may hold that would beat the config file written for the run.
CLEARED_ENV = ("DATA_DIR", "API_TOKEN", "ADMIN_PASSWORD", "EMS_TOKEN", "PORT", "SUBNET", "PORT_OFFSET")


def start_gunicorn(config: Path, log: IO, *, conf: str = "gunicorn.conf.py", root: Path = ROOT,
                   **env: str) -> subprocess.Popen:
    """gunicorn with CONFIG=config (plus ``env``), output to ``log``, in a new session (see stop_group).

    ``root``: the checkout to run (bench/history.py runs an older one for a before figure), with this .venv.
    """
    environ = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    for name, value in MALLOC_ENV.items():  # what systemd and start.sh start it with
        environ.setdefault(name, value)
    environ.update(env, CONFIG=str(config))
    return subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-c", conf], cwd=root, env=environ,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_group(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM to the process group (master and worker shut down cleanly), SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def workers(master: int) -> list[int]:
    """The pids of gunicorn's workers: the master's children ([] once it is gone)."""
    pids: list[int] = []
    for task in Path(f"/proc/{master}/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return pids
