"""The admin password and the API token: where they come from, how they are checked.

Order: environment (ADMIN_PASSWORD, API_TOKEN) > config.yaml > files in
DATA_DIR written once (mode 0600) by ``python -m services.credentials ensure``,
which install.sh and start.sh call and which prints new values exactly once.
Only a salted PBKDF2 hash of a generated password is stored. Secrets are
compared in constant time and never logged.

A running server re-reads the hash file when it changes, so
``install.sh --reset-password`` takes effect at once, and the new password
changes ``Secrets.session_stamp()``, which ends every dashboard session
(services/sessions.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from services.atomic_file import atomic_write
from services.config import Config, ConfigError, load_config

PASSWORD_FILE = "admin_password.hash"
TOKEN_FILE = "api_token"
SECRET_KEY_FILE = "secret_key"
_ITERATIONS = 120_000  # about 0.3 s on a Raspberry Pi 4: fine for a login, slow for guessing


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A storable 'pbkdf2_sha256$iterations$salt$hash' string."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    return "$".join(["pbkdf2_sha256", str(_ITERATIONS), base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()])


def check_password_hash(stored: str, password: str) -> bool:
    """True if ``password`` matches a hash made by hash_password."""
    try:
        scheme, iterations, salt, digest = stored.strip().split("$")
        if scheme != "pbkdf2_sha256":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected, actual)


def _write_secret(path: Path, text: str) -> None:
    """Create a file readable only by its owner, atomically and durably (services/atomic_file.py)."""
    atomic_write(path, (text + "\n").encode(), 0o600)


class HashFile:
    """The password hash file, read again whenever it is replaced (a reset while the server runs)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._text = ""

    def read(self) -> str:
        """The current hash ("" when the file is missing); one stat per call, a read only on change."""
        try:
            st = self.path.stat()
        except OSError:
            return ""
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if key != self._seen:
                try:
                    self._text = self.path.read_text().strip()
                except OSError:
                    return ""
                self._seen = key
            return self._text


@dataclass(frozen=True)
class Secrets:
    """What the web layer needs to authenticate callers."""

    password: str  # plain, from env/config; "" when only a hash file exists
    password_hash: str  # as read at start; hash_file (when set) is the current one
    api_token: str
    secret_key: str  # signs the session cookie
    hash_file: HashFile | None = field(default=None, compare=False, repr=False)

    def current_hash(self) -> str:
        """The stored password hash now (re-read after a reset)."""
        return self.hash_file.read() if self.hash_file is not None else self.password_hash

    def check_password(self, candidate: str) -> bool:
        """Constant-time check of a login password."""
        if not candidate:
            return False
        if self.password:
            return hmac.compare_digest(self.password.encode(), candidate.encode())
        stored = self.current_hash()
        return bool(stored) and check_password_hash(stored, candidate)

    def session_stamp(self) -> str:
        """A fingerprint of the current password: sessions opened under another one are no longer valid."""
        material = ("plain:" + self.password) if self.password else ("hash:" + self.current_hash())
        return hmac.new(self.secret_key.encode(), material.encode(), hashlib.sha256).hexdigest()[:32]

    def check_token(self, candidate: str) -> bool:
        """Constant-time check of a bearer token."""
        return bool(self.api_token and candidate) and hmac.compare_digest(self.api_token.encode(), candidate.encode())


def ensure(data_dir: Path, config: Config) -> dict[str, str]:
    """Create the missing secret files; returns the NEW plain values (to show once)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    created: dict[str, str] = {}
    if not config.security.admin_password and not (data_dir / PASSWORD_FILE).exists():
        password = secrets.token_urlsafe(9)
        _write_secret(data_dir / PASSWORD_FILE, hash_password(password))
        created["admin_password"] = password
    if not config.security.api_token and not (data_dir / TOKEN_FILE).exists():
        token = secrets.token_urlsafe(24)
        _write_secret(data_dir / TOKEN_FILE, token)
        created["api_token"] = token
    if not (data_dir / SECRET_KEY_FILE).exists():
        _write_secret(data_dir / SECRET_KEY_FILE, secrets.token_hex(32))
    return created


def load_secrets(config: Config) -> Secrets:
    """Read the secrets (creating missing files first, silently)."""
    data_dir = config.data_path
    ensure(data_dir, config)

    def read(name: str) -> str:
        path = data_dir / name
        return path.read_text().strip() if path.exists() else ""

    plain = config.security.admin_password
    return Secrets(
        password=plain,
        password_hash="" if plain else read(PASSWORD_FILE),
        api_token=config.security.api_token or read(TOKEN_FILE),
        secret_key=read(SECRET_KEY_FILE),
        hash_file=None if plain else HashFile(data_dir / PASSWORD_FILE),
    )


def reset_password(data_dir: Path) -> str:
    """Generate and store a new admin password; returns it (to show once).

    Every dashboard session ends with it: sessions carry a stamp of the password they were
    opened under (Secrets.session_stamp), and a running server re-reads the hash file at the
    next request. The database is not touched here: run as root (sudo ./install.sh
    --reset-password), SQLite could leave root-owned -wal/-shm files the service cannot write.
    """
    password = secrets.token_urlsafe(9)
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_secret(data_dir / PASSWORD_FILE, hash_password(password))
    return password


def main(argv: list[str] | None = None) -> int:
    """``python -m services.credentials ensure|reset-password``: create secrets, print new ones once."""
    args = sys.argv[1:] if argv is None else argv
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 1
    data_dir = config.data_path
    if args[:1] == ["reset-password"]:
        print(f"New dashboard password: {reset_password(data_dir)} (every dashboard session is logged out)")
        return 0
    if args[:1] not in (["ensure"], []):
        print("usage: python -m services.credentials [ensure|reset-password]", file=sys.stderr)
        return 2
    created = ensure(data_dir, config)
    if "admin_password" in created:
        print(f"Dashboard password (shown once; reset with ./install.sh --reset-password): {created['admin_password']}")
    if "api_token" in created:
        print(f"API token for scripts (shown once; stored in {data_dir / TOKEN_FILE}): {created['api_token']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
