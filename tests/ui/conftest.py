"""Fixtures for the browser tests: headless Debian Chromium (the server is the session one).

Without chromium, chromium-driver or selenium the browser tests are skipped with the reason,
except under CI (`CI` set), where a missing browser is a failure: CI must never skip silently.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"

# Flags for running headless as root on a closed network: without the background-networking
# ones Chromium keeps trying to reach Google services, and those connections are refused.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps",
    "--hide-scrollbars", "--force-color-profile=srgb",
)



def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Browser:
    chromium: str
    chromedriver: str


@pytest.fixture(scope="session")
def browser_binaries() -> Browser:
    """Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("selenium is not installed (pip install -r requirements/dev.txt)")
    # CHROMIUM / CHROMEDRIVER point elsewhere when the browser is not Debian's.
    chromium = _find(os.environ.get("CHROMIUM"), "chromium", "chromium-browser")
    driver = _find(os.environ.get("CHROMEDRIVER"), "chromedriver")
    if not chromium or not driver:
        missing = " and ".join(name for name, path in (("chromium", chromium), ("chromedriver", driver))
                               if not path)
        _unavailable(f"{missing} not found (apt-get install chromium chromium-driver, "
                     "or set CHROMIUM / CHROMEDRIVER)")
    return Browser(chromium, driver)


def _find(override: str | None, *names: str) -> str | None:
    if override:
        return override if os.access(override, os.X_OK) else None
    return next(filter(None, map(shutil.which, names)), None)


def _new_driver(browser: Browser, viewport: dict, user_data_dir: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser.chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    if viewport["touch"]:
        # A phone: its viewport, pixel density and touch screen (pointerType "touch").
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": viewport["width"], "height": viewport["height"],
            "pixelRatio": viewport["pixel_ratio"], "touch": True}})
    else:
        options.add_argument(f"--window-size={viewport['width']},{viewport['height']}")
    driver = webdriver.Chrome(service=Service(browser.chromedriver), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


@pytest.fixture(scope="module")
def open_browser(browser_binaries: Browser) -> Iterator[Callable]:
    """`open_browser(viewport)`: a Chromium with that viewport, one per viewport per module."""
    drivers: dict[str, object] = {}
    dirs: list[str] = []

    def get(viewport: dict):
        if viewport["name"] not in drivers:
            dirs.append(tempfile.mkdtemp(prefix="digitnet-chromium-"))
            drivers[viewport["name"]] = _new_driver(browser_binaries, viewport, dirs[-1])
        return drivers[viewport["name"]]

    try:
        yield get
    finally:
        for driver in drivers.values():
            driver.quit()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go for people to look at: test-artifacts/ui/ (gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
