"""Broken bundles appear next to a good one in a running server's model directory: each is refused
with a log line saying why, version 1 keeps answering and the server stays ready.

tests/shared/test_bundle.py checks `load_bundle` refuses these files; here the whole service
does (its watcher, its log, its answers). A trainer killed mid-export leaves nothing it loads.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from pathlib import Path

import pytest

from harness.reliability.bundles import BROKEN_BUNDLES, PICKLE_MARKER_ENV, SPECIAL_FILES, place
from harness.reliability.checks import not_serving_only
from harness.reliability.export import STAGES, export_killed
from harness.reliability.hostile import MEASURING_ENV, MEMORY_LIMIT_MIB
from harness.server import Server

WAIT_SECONDS = 30
SETTLE_SECONDS = 1.5  # several watcher polls (0.2 s) in both workers


def rejection_reason(server: Server, path: Path) -> str:
    line = server.wait_for_log('"bundle rejected', f'"path": "{path}"', timeout=WAIT_SECONDS)
    return json.loads(line)["reason"]


@pytest.fixture(scope="module")
def pickle_marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pickle") / "code-ran"


@pytest.fixture(scope="module")
def version_one_server(model_dir: Path, tmp_path_factory, pickle_marker):
    directory = tmp_path_factory.mktemp("bad-bundles")
    shutil.copytree(model_dir, directory, dirs_exist_ok=True)
    server = Server(directory, directory / "server.log", **{PICKLE_MARKER_ENV: str(pickle_marker)},
                    **MEASURING_ENV)
    yield server, directory
    server.stop()


next_version = itertools.count(2)


@pytest.mark.parametrize("kind", BROKEN_BUNDLES)
def test_broken_bundle_is_refused_and_version_1_keeps_serving(version_one_server, known_digits,
                                                              pickle_marker, kind):
    server, directory = version_one_server
    maker, says = BROKEN_BUNDLES[kind]
    good = (directory / "mnist" / "1.npz").read_bytes()
    version = next(next_version)
    data = maker(good, version)
    held = server.reset_peaks()
    path = place(directory, version, data)
    assert says in rejection_reason(server, path)
    time.sleep(SETTLE_SECONDS)  # both workers have refused it
    assert server.peak_growth_mib(held) <= MEMORY_LIMIT_MIB
    assert not_serving_only(server.url, "1", *known_digits) is None
    assert not pickle_marker.exists(), "a pickle in a bundle was unpickled"


@pytest.mark.parametrize("kind", SPECIAL_FILES)
def test_special_file_is_refused_without_reading_it(version_one_server, known_digits, kind):
    """A link to /dev/zero is not followed (it was a MemoryError), a FIFO not waited on (it
    blocked the watcher for ever): both refused, and the watcher goes on to the next file."""
    server, directory = version_one_server
    maker, says = SPECIAL_FILES[kind]
    path = directory / "mnist" / f"{next(next_version)}.npz"
    held = server.reset_peaks()
    maker(path)
    assert says in rejection_reason(server, path)
    following = place(directory, next(next_version), b"not a zip")
    assert "not a readable .npz" in rejection_reason(server, following)
    assert server.peak_growth_mib(held) <= MEMORY_LIMIT_MIB
    assert not_serving_only(server.url, "1", *known_digits) is None


def test_server_starts_beside_special_files(model_dir: Path, tmp_path: Path, known_digits):
    """At start-up too (the master loads before forking): refused, logged, version 1 served."""
    shutil.copytree(model_dir, tmp_path, dirs_exist_ok=True)
    for version, (maker, _) in enumerate(SPECIAL_FILES.values(), start=2):
        maker(tmp_path / "mnist" / f"{version}.npz")
    with Server(tmp_path, tmp_path / "server.log") as server:
        for version, (_, says) in enumerate(SPECIAL_FILES.values(), start=2):
            assert says in rejection_reason(server, tmp_path / "mnist" / f"{version}.npz")
        assert not_serving_only(server.url, "1", *known_digits) is None


@pytest.mark.parametrize("stage", STAGES)
def test_trainer_killed_mid_export_leaves_nothing_served(version_one_server, known_digits, tmp_path, stage):
    server, directory = version_one_server
    before = sorted(p.name for p in (directory / "mnist").iterdir())
    export_killed(directory, stage, tmp_path)
    left = sorted(p.name for p in (directory / "mnist").iterdir())
    new = set(left) - set(before)
    # Only the hidden temp file may remain, a name the watcher never reads as a version.
    assert all(name.startswith(".") and name.endswith(".partial") for name in new), new
    time.sleep(SETTLE_SECONDS)
    assert not_serving_only(server.url, "1", *known_digits) is None
    assert not any(name in server.log() for name in new), "the watcher read the temp file"
