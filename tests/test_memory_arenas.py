"""serving/memory.py: the worker's glibc malloc arenas are capped (counted with glibc's own malloc_info)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A child process: optionally cap, then 8 threads allocate at once; prints how many arenas glibc made.
_CHILD = textwrap.dedent("""
    import ctypes, ctypes.util, sys, tempfile, threading
    sys.path.insert(0, sys.argv[1])
    from serving.memory import limit_malloc_arenas
    capped = limit_malloc_arenas() if sys.argv[2] == "cap" else False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
    libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.fclose.argtypes = (ctypes.c_void_p,)
    barrier = threading.Barrier(8)
    def work():
        barrier.wait()  # all at once, so glibc sees contention and hands out arenas
        blocks = [libc.malloc(4096) for _ in range(2000)]
        barrier.wait()
        for block in blocks:
            libc.free(block)
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    with tempfile.NamedTemporaryFile(suffix=".xml") as out:
        fp = libc.fopen(out.name.encode(), b"w")
        libc.malloc_info(0, fp)
        libc.fclose(fp)
        arenas = open(out.name).read().count("<heap nr=")
    print(capped, arenas)
""")


def _arenas(mode: str) -> tuple[str, int]:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_ARENA_MAX from the caller's environment
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), mode], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    capped, arenas = out.stdout.split()
    return capped, int(arenas)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and malloc_info")
def test_worker_threads_share_at_most_two_arenas():
    capped, arenas = _arenas("cap")
    assert capped == "True"
    assert 1 <= arenas <= 2, arenas
    # The same threads without the cap make more: the test can tell the difference.
    _, uncapped = _arenas("none")
    assert uncapped > 2, uncapped


def test_an_operators_setting_wins(monkeypatch):
    from serving.memory import limit_malloc_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False



def test_systemd_and_start_sh_start_the_service_with_the_same_malloc_settings():
    """The unit and start.sh set MALLOC_ENV (glibc reads GLIBC_TUNABLES only at start, so no code can)."""
    from serving.memory import MALLOC_ENV

    unit = (ROOT / "systemd/minerfleet.service").read_text()
    start = (ROOT / "start.sh").read_text()
    for name, value in MALLOC_ENV.items():
        assert f"Environment={name}={value}\n" in unit, name
        assert f'export {name}="${{{name}:-{value}}}"' in start, name


def test_start_sh_exports_them_to_gunicorn(tmp_path):
    """Run start.sh's own lines in bash and read the environment it hands on."""
    from serving.memory import MALLOC_ENV

    lines = [line for line in (ROOT / "start.sh").read_text().splitlines()
             if any(line.startswith(f"export {name}=") for name in MALLOC_ENV)]
    script = "\n".join(lines) + "\nenv\n"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                         timeout=10).stdout
    for name, value in MALLOC_ENV.items():
        assert f"{name}={value}" in out.splitlines()
