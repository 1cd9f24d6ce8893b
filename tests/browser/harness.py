"""What every browser test module shares: Debian's Chromium through Playwright, and apps served on loopback.

Importing this module skips the importing test module when /usr/bin/chromium or
Playwright is missing (never a downloaded browser). The ``browser`` fixture lives
in conftest.py, one Chromium for the whole session.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
expect = sync_api.expect

from tests.served_app import served_app  # noqa: E402

FAILED_LOAD = "Failed to load resource"  # Chromium's console line for an HTTP error answer
ARTIFACTS = ROOT / "test-artifacts"  # screenshots for a human look (git-ignored)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def real_app(config_path: Path, host: str) -> Any:
    """The real app (create_app with its background runtime) from a config file; yields (URL, runtime)."""
    return served_app(config_path, host)


@contextmanager
def page_opener(browser: Any, base: str) -> Iterator[Callable[..., Any]]:
    """Yields open(path="/", wait_live=True, **context options) -> a page (on "/" once /ws is live); fails on page or console errors.

    Set ``open.expected_http_errors`` for "Failed to load resource" lines a test provokes on
    purpose (a scripted 4xx), at most that many; ``open.http_errors`` holds those seen. Set
    ``open.allowed_errors`` (substrings) for other console errors a test provokes (a dropped socket).
    ``open.requests`` lists the requests the pages made to ``base``: (method, path?query, JSON body or None).
    """
    contexts: list[Any] = []
    errors: list[str] = []
    http_errors: list[str] = []
    requests: list[tuple[str, str, Any]] = []

    def _record(request: Any) -> None:
        if not request.url.startswith(base + "/"):
            return
        body = request.post_data
        try:
            body = json.loads(body) if body else None
        except ValueError:
            pass  # a form post (the login page): kept as text
        requests.append((request.method, request.url[len(base):], body))

    def _open(path: str = "/", wait_live: bool = True, **options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        ctx = browser.new_context(**options)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: (http_errors if FAILED_LOAD in msg.text else errors).append(msg.text)
                if msg.type == "error" else None)
        page.on("request", _record)
        page.goto(base + path)
        if path == "/" and wait_live:
            expect(page.locator("#live")).to_have_attribute("data-state", "live")
        return page

    _open.http_errors = http_errors  # type: ignore[attr-defined]
    _open.requests = requests  # type: ignore[attr-defined]
    yield _open
    for ctx in contexts:
        ctx.close()
    allowed = getattr(_open, "allowed_errors", ())
    unexpected = [e for e in errors if not any(part in e for part in allowed)]
    assert unexpected == [], f"errors in the page: {unexpected}"
    assert len(http_errors) <= getattr(_open, "expected_http_errors", 0), http_errors

