"""The mini-batches of an epoch: gathered, styled, mixed with outliers and distorted, one ahead.

Each batch is made in a worker thread while the network trains on the one before: NumPy releases
the GIL in its loops, so on two cores the next batch's augmentation overlaps this one's training.
The random draws of the batches come from their own generator, used in batch order, so the same
seed gives the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from trainer.augment import AugmentConfig, augment_batch
from trainer.outliers import OutlierBank
from trainer.styles import StyledCopies


class MiniBatch(NamedTuple):
    indices: np.ndarray     # rows of the training data
    inputs: np.ndarray      # (n, features), as the network reads them
    is_outlier: np.ndarray  # (n,) bool: rows swapped for a non-digit, whatever `indices` says


@dataclass
class BatchSource:
    """The scaled training rows and what is done to every batch of them on its way in."""

    x: np.ndarray
    batch_size: int
    augment: AugmentConfig
    image_shape: tuple[int, int] | None  # how a row is laid out as an image (for augmentation)
    rng: np.random.Generator
    styled: StyledCopies | None = None
    outliers: OutlierBank | None = None

    def batch(self, idx: np.ndarray) -> MiniBatch:
        inputs = self.x[idx]
        if self.styled is not None:
            inputs = self.styled.swap_in(inputs, idx, self.rng)
        is_outlier = np.zeros(len(idx), dtype=bool)
        if self.outliers is not None:
            inputs, is_outlier = self.outliers.swap_in(inputs, self.rng)
        if self.augment.enabled:
            inputs = augment_batch(inputs.reshape(len(idx), *self.image_shape), self.augment,
                                   self.rng)
        return MiniBatch(idx, inputs.reshape(len(idx), -1), is_outlier)


def mini_batches(source: BatchSource, order: np.ndarray,
                 pool: ThreadPoolExecutor) -> Iterator[MiniBatch]:
    """The batches of `order` (row indices), each made in `pool` while the caller trains on the
    one before."""
    size = source.batch_size
    n_batches = -(-len(order) // size)
    upcoming = pool.submit(source.batch, order[:size])
    for b in range(n_batches):
        current = upcoming.result()
        if b + 1 < n_batches:
            upcoming = pool.submit(source.batch, order[(b + 1) * size:(b + 2) * size])
        yield current
