"""The model directory fails under a running server: made unreadable, emptied, or removed. The
server keeps serving the versions it has loaded and says so in its log; when the directory
comes back, it picks up from there."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from harness.reliability.checks import not_serving_only
from harness.server import Launch, Server

SETTLE_SECONDS = 1.5  # several watcher polls (0.2 s) in both workers
# Root reads any file whatever its mode: drop the two capabilities that allow it, so a chmod
# means for the server what it would mean for the unprivileged user it runs as in production.
AS_UNPRIVILEGED = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search") \
    if os.geteuid() == 0 else ()


@pytest.fixture
def server(model_dir: Path, tmp_path: Path):
    directory = tmp_path / "models"
    shutil.copytree(model_dir, directory)
    if AS_UNPRIVILEGED and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux): cannot make a directory unreadable")
    with Server(directory, tmp_path / "server.log", launch=Launch(prefix=AS_UNPRIVILEGED)) as running:
        yield running, directory / "mnist"


def test_unreadable_directory_keeps_serving(server, known_digits):
    running, versions = server
    versions.chmod(0)
    try:
        running.wait_for_log('"digitnet.registry"', "Permission denied")
        time.sleep(SETTLE_SECONDS)
        assert not_serving_only(running.url, "1", *known_digits) is None
    finally:
        versions.chmod(0o755)


@pytest.mark.parametrize("how", ["emptied", "removed"])
def test_emptied_or_removed_directory_keeps_serving(server, known_digits, tmp_path, how):
    running, versions = server
    aside = tmp_path / "aside"
    if how == "emptied":
        aside.mkdir()
        for bundle in versions.glob("*.npz"):
            bundle.rename(aside / bundle.name)
    else:
        versions.rename(aside)
    running.wait_for_log('"digitnet.registry"', '"WARNING"', "keeping")
    time.sleep(SETTLE_SECONDS)
    assert not_serving_only(running.url, "1", *known_digits) is None

    # Back again: the same version, still serving, nothing reloaded twice.
    if how == "emptied":
        for bundle in aside.glob("*.npz"):
            bundle.rename(versions / bundle.name)
    else:
        aside.rename(versions)
    time.sleep(SETTLE_SECONDS)
    assert not_serving_only(running.url, "1", *known_digits) is None
