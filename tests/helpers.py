"""Helpers for tests (not fixtures): picking MNIST test digits."""

import numpy as np

from trainer.data import Dataset


def mnist_test_digits(mnist: Dataset, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` MNIST test images (count, 28, 28) uint8 and their labels, chosen at random."""
    idx = np.random.default_rng(seed).choice(len(mnist.y_test), size=count, replace=False)
    return mnist.x_test[idx].reshape(-1, 28, 28), mnist.y_test[idx]
