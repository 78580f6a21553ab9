"""Debian's chromium driven by Playwright, kept off the network: the one place the tests (tests/conftest.py,
the offline proof) and tools/screenshots.py start it from.

Playwright's own downloaded browsers are never used; the flags stop chromium's background traffic
(sync, component updates, QUIC probes ...) so that every request a page makes is the page's own.
"""

from __future__ import annotations

import shutil

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]


def executable() -> str:
    """The path of Debian's chromium."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("chromium is not installed (.ci/run installs Debian's package)")
    return path


def launch(playwright, **options):
    """Debian's chromium, started by `playwright` (a sync_playwright() context) with CHROMIUM_ARGS."""
    return playwright.chromium.launch(executable_path=executable(), args=CHROMIUM_ARGS, **options)
