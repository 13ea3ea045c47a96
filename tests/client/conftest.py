"""Fixtures for the client and command-line tests: image files of digits, as a user has them,
that the session server reads correctly (so a wrong label means the client mixed something up),
and a server whose model has two versions with labels."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import requests

from harness.clients import write_policy
from harness.images import drawn_digit, encode, mnist_test_digits
from harness.server import Server
from shared.repository import save_new_version
from trainer.network import MLP


@pytest.fixture(scope="session")
def digit_files(tmp_path_factory, url, mnist) -> dict[Path, int]:
    """PNG files of drawn MNIST test digits, each with its label, in file-name order."""
    folder = tmp_path_factory.mktemp("digits")
    digits, labels = mnist_test_digits(mnist, 24, seed=31)
    pngs = [encode(drawn_digit(digit)) for digit in digits]
    answer = requests.post(f"{url}/predict", files=[("file", ("d.png", png)) for png in pngs], timeout=60)
    read = [p["label"] for p in answer.json()["predictions"]]
    files = {}
    for i in np.flatnonzero(np.array(read) == labels)[:12]:
        path = folder / f"{i:02d}-digit.png"
        path.write_bytes(pngs[i])
        files[path] = int(labels[i])
    assert len(files) == 12
    return files


@pytest.fixture(scope="session")
def labelled(model_dir: Path, trained_mlp: MLP, tmp_path_factory) -> Server:
    """gunicorn serving "digits" and two versions of "mnist": 1 (the session's, calibrated) labelled
    "stable", and 2 (the same weights saved without calibration, so with no confidence threshold)
    labelled "canary", which answers requests that name no version."""
    directory = tmp_path_factory.mktemp("labelled")
    for name in ("mnist", "digits"):
        (directory / name).mkdir()
        shutil.copy(model_dir / name / "1.npz", directory / name / "1.npz")
    save_new_version(directory, "mnist", trained_mlp.model, {}, recipe="mnist")
    write_policy(directory, {"labels": {"stable": 1, "canary": 2}, "default": "canary"})
    with Server(directory, tmp_path_factory.mktemp("labelled-log") / "server.log") as server:
        yield server
