"""Stable names: this installation's id, the MQTT client id, a miner's id in topics and unique_ids."""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

INSTALL_ID_FILE = "install_id"
_ID_RE = re.compile(r"^[0-9a-f]{8}$")


def install_id(data_dir: Path) -> str:
    """8 hex digits kept in DATA_DIR/install_id: the same across restarts, different per installation."""
    path = Path(data_dir) / INSTALL_ID_FILE
    try:
        text = path.read_text().strip()
        if _ID_RE.match(text):
            return text
    except OSError:
        pass
    value = secrets.token_hex(4)
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value + "\n")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only data dir: still publishable, the id just changes per start
        log.warning("%s not written (%s): the MQTT client id changes at every start", path, exc.strerror)
    return value


def client_id(configured: str, site: str, data_dir: Path) -> str:
    """The configured client id, else minerfleet-<site>-<install id> (a broker drops an older duplicate)."""
    return configured or f"minerfleet-{site}-{install_id(data_dir)}"


def miner_id(ip: str) -> str:
    """A miner's id in topics, unique_ids and HA object ids: its IPv4 address with "_" for "." (192_168_1_50).

    The app knows a miner by its address (a miner moved to another address is a new miner there too), so
    the id is as stable as the miner's record, readable, and only [0-9_] (what HA's discovery topics allow).
    """
    return ip.replace(".", "_")


def ip_of(miner: str) -> str | None:
    """The IPv4 address of a miner id, or None when it is not one."""
    parts = miner.split("_")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        return None
    return ".".join(str(int(p)) for p in parts)
