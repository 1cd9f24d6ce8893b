"""One Debian Chromium for every browser test of the session (see harness.py)."""

from __future__ import annotations

import time

import pytest


def _wait_for_function(self, expression: str, *, arg=None, timeout: float | None = None, polling=None):
    """Page.wait_for_function without eval() in the page.

    Playwright's own runs the predicate through globalThis.eval inside the page, which the
    dashboard's Content-Security-Policy (script-src 'self', no 'unsafe-eval': web/guard.py)
    refuses; page.evaluate goes through the DevTools protocol, which the page's CSP does not govern.
    """
    deadline = time.monotonic() + (30000 if timeout is None else timeout) / 1000
    while True:
        value = self.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"wait_for_function timed out: {expression[:200]}")
        time.sleep(0.05 if polling in (None, "raf") else polling / 1000)


@pytest.fixture(scope="session")
def browser():
    """A Playwright Chromium browser (/usr/bin/chromium); the importing module was skipped if it is missing."""
    from harness import CHROMIUM, CHROMIUM_ARGS, sync_api

    sync_api.Page.wait_for_function = _wait_for_function  # the pages run under the real CSP
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
