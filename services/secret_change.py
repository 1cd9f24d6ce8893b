"""New dashboard password, API token and EMS token from the Settings page, stored where start-up reads them.

The password and the API token go to their files in DATA_DIR (services/credentials.py reads
them: ``admin_password.hash``, ``api_token``; mode 0600, written atomically); the EMS token
lives in config.yaml (``ems.token``, written by services/config_edit.py). Nothing here logs
or returns a stored secret; a new token is returned once, to be shown once.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from services.atomic_file import atomic_write
from services.credentials import PASSWORD_FILE, TOKEN_FILE, hash_password

MIN_PASSWORD = 8  # as security.admin_password (services/config.py)
MAX_PASSWORD = 256


def check_new_password(password: str) -> None:
    """ValueError naming the rule a new dashboard password breaks."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"new: must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"new: must be at most {MAX_PASSWORD} characters")
    if password != password.strip():
        raise ValueError("new: must not start or end with spaces")


def store_password(data_dir: Path, password: str) -> str:
    """Hash ``password`` into DATA_DIR/admin_password.hash; returns the stored hash text."""
    check_new_password(password)
    stored = hash_password(password)
    data_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(data_dir / PASSWORD_FILE, (stored + "\n").encode(), 0o600)
    return stored


def new_token() -> str:
    """A fresh bearer token (32 URL-safe characters: 192 bits)."""
    return secrets.token_urlsafe(24)


def store_api_token(data_dir: Path, token: str) -> None:
    """Write the API token to DATA_DIR/api_token (mode 0600)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(data_dir / TOKEN_FILE, (token + "\n").encode(), 0o600)
