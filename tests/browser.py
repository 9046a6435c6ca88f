"""Headless Chromium for the tests: the page's DOM after it loaded, and the rule for when a missing browser is a skip.

A test that needs the browser is skipped only when none is installed and RLREPRO_REQUIRE_BROWSER is unset; CI
(.ci/run) sets it, so there a missing browser fails the test instead of hiding it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from analysis.browser import BrowserNotFound, find_browser, run_headless

REQUIRE_BROWSER = "RLREPRO_REQUIRE_BROWSER"


def require_browser() -> str:
    """The browser's path; skips the test when there is none, or fails it when RLREPRO_REQUIRE_BROWSER is set
    (to any value)."""
    browser = find_browser()
    if browser is None:
        if REQUIRE_BROWSER in os.environ:
            pytest.fail(f"{REQUIRE_BROWSER} is set, so the browser test must run: {BrowserNotFound()}")
        pytest.skip(f"{BrowserNotFound()} (set {REQUIRE_BROWSER}=1 to make this a failure)")
    return browser


def dom_after_load(page: Path) -> str:
    """The page's DOM as serialised after its load event and scripts ran."""
    return run_headless(page, "--dump-dom")
