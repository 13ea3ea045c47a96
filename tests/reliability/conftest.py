"""Fixtures for the reliability tests: digits the fixture model reads correctly. The tests that
only send requests use the session `server` (tests/conftest.py); tests that kill, signal or
change the model directory start their own."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def known_digits(mnist, trained_mlp) -> tuple[np.ndarray, np.ndarray]:
    """16 MNIST test digits (16, 28, 28) uint8 that the fixture model reads correctly, and labels."""
    images = mnist.x_test[:400]
    correct = np.flatnonzero(trained_mlp.model.predict_proba(images.astype(np.float32)).argmax(axis=1)
                             == mnist.y_test[:400])
    chosen = correct[:16]
    return images[chosen].reshape(-1, 28, 28), mnist.y_test[chosen]

