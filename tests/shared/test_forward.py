"""The shared forward pass's first layer skips the weights of zero inputs, and only then."""

import numpy as np

from shared.model import SPARSE_INPUT_FRACTION, SPARSE_MAX_ROWS, input_product


def test_sparse_inputs_read_only_the_weights_of_non_zero_inputs() -> None:
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((784, 32)).astype(np.float32)
    digit = np.zeros((1, 784), np.float32)
    ink = rng.choice(784, 140, replace=False)
    digit[0, ink] = rng.random(140, np.float32)
    expected = digit @ weights

    background = np.setdiff1d(np.arange(784), ink)
    weights[background] = np.nan  # would poison the plain product: 0 * nan is nan
    product = input_product(digit, weights)
    np.testing.assert_allclose(product, expected, rtol=1e-5, atol=1e-5)


def test_dense_inputs_use_the_plain_product() -> None:
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((784, 32)).astype(np.float32)
    batch = np.zeros((8, 784), np.float32)
    covered = int(784 * SPARSE_INPUT_FRACTION) + 1  # just over the threshold, across the batch
    batch[np.arange(covered) % 8, np.arange(covered)] = 1.0
    weights[covered:] = np.nan  # read only by the plain product
    assert np.isnan(input_product(batch, weights)).all()


def test_large_batches_use_the_plain_product_without_looking() -> None:
    rng = np.random.default_rng(2)
    weights = rng.standard_normal((784, 32)).astype(np.float32)
    batch = np.zeros((SPARSE_MAX_ROWS + 1, 784), np.float32)
    batch[:, :10] = 1.0  # sparse, but too many rows to be worth checking
    weights[10:] = np.nan
    assert np.isnan(input_product(batch, weights)).all()
