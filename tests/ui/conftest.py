"""Fixtures for the browser tests: a real gunicorn server and headless Debian Chromium.

Without chromium, chromium-driver or selenium the browser tests are skipped with the reason,
except under CI (`CI` set), where a missing browser is a failure: CI must never skip silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.ui.support import Server

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
SERVER_START_TIMEOUT = 90.0   # seconds; gunicorn + loading a model on a busy 2-core machine

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real service under gunicorn on a free loopback port, serving the test model."""
    port = _free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "server.log"
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "MODEL_DIR": str(model_dir),
           "WEB_CONCURRENCY": "1"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(gunicorn), "-c", "service/gunicorn.conf.py", "service.app:create_app()"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready in {SERVER_START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Server(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
