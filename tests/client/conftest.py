"""Fixtures for the client and command-line tests: image files of digits, as a user has them,
that the session server reads correctly (so a wrong label means the client mixed something up)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import requests

from tests.helpers import drawn_digit, encode, mnist_test_digits


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
