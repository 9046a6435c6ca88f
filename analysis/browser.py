"""Headless Chromium for our pages: the DOM after the page's load event, or a screenshot of its top. The page tests
(tests/browser.py, tests/test_html_report.py) and `python -m analysis.html --screenshot` use it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chromium-headless-shell")
INSTALL_HINT = "apt-get install -y --no-install-recommends chromium"
SCREENSHOT_SIZE = (1400, 2000)  # pixels: a desktop window, tall enough to show the verdicts and the first section


class BrowserNotFound(RuntimeError):
    def __init__(self) -> None:
        super().__init__(f"no headless browser on PATH (looked for {', '.join(BROWSERS)}); install one, e.g. "
                         f"{INSTALL_HINT}")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def run_headless(page: Path, *options: str, timeout: float = 120) -> str:
    """Open page in headless Chromium with options, after its load event and 5 s of page time; its standard output
    (the DOM, with --dump-dom). Raises BrowserNotFound, or RuntimeError with the browser's last words."""
    browser = find_browser()
    if browser is None:
        raise BrowserNotFound()
    with tempfile.TemporaryDirectory(prefix="rlrepro-chromium-") as profile:  # no shared profile lock between runs
        process = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000", *options, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"{browser} exited with {process.returncode} on {page}:\n{process.stderr[-2000:]}")
    return process.stdout


def screenshot(html: Path, png: Path, size: tuple[int, int] = SCREENSHOT_SIZE) -> Path:
    """A PNG of the page's top, in a window of size (width, height) pixels; png."""
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)  # so that an old file never passes for this screenshot
    run_headless(html, f"--screenshot={png.resolve()}", f"--window-size={size[0]},{size[1]}")
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"the browser wrote no screenshot to {png}")
    return png
