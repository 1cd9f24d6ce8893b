"""One Debian Chromium for every browser test of the session (see harness.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def browser():
    """A Playwright Chromium browser (/usr/bin/chromium); the importing module was skipped if it is missing."""
    from harness import CHROMIUM, CHROMIUM_ARGS, sync_api

    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
