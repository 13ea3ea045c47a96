"""Fixtures for the reliability tests: digits the fixture model reads correctly, and one shared
gunicorn server for the tests that only send requests (fuzzing, hostile images, security headers).
Tests that kill, signal or change the model directory start their own server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.server import Server


@pytest.fixture(scope="session")
def known_digits(mnist, trained_mlp) -> tuple[np.ndarray, np.ndarray]:
    """16 MNIST test digits (16, 28, 28) uint8 that the fixture model reads correctly, and labels."""
    images = mnist.x_test[:400]
    correct = np.flatnonzero(trained_mlp.model.predict_proba(images.astype(np.float32)).argmax(axis=1)
                             == mnist.y_test[:400])
    chosen = correct[:16]
    return images[chosen].reshape(-1, 28, 28), mnist.y_test[chosen]


@pytest.fixture(scope="session")
def shared_server(model_dir: Path, tmp_path_factory) -> Server:
    server = Server(model_dir, tmp_path_factory.mktemp("reliability") / "server.log",
                    MAX_IMAGE_PIXELS="4000000")
    yield server
    server.stop()
