"""Replace a file in one rename that survives a power cut: the one writer of config.yaml and the secret files.

The data goes to a temporary file in the same folder (its mode set before anything is
written, then fsync), ``os.replace`` puts it over the old one, and the folder itself is
fsynced so the rename is on the SD card too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (the directory entry itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(directory: Path, prefix: str, data: bytes, mode: int) -> Path:
    """A new file in ``directory`` holding ``data``, flushed to disk, with ``mode``."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` in one rename (temp file in the same folder, fsync, os.replace)."""
    tmp = write_temp(path.parent, f".{path.name}.", data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
