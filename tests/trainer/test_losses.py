"""Softmax and cross-entropy stay finite and correct for extreme logits."""

import numpy as np

from shared.activations import softmax
from trainer.losses import cross_entropy_from_probabilities, log_softmax, one_hot, softmax_cross_entropy
from trainer.network import LayerStack, backprop


def test_huge_logits_give_finite_loss_and_gradients() -> None:
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=np.float32)
    targets = one_hot(np.array([1, 0]), 3)  # both confidently wrong
    loss, probabilities = softmax_cross_entropy(logits.copy(), targets)
    assert np.isfinite(loss)
    assert loss > 1e3  # confidently wrong costs ~2e4 per sample, not inf
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-6)


def test_log_softmax_matches_the_naive_formula_on_moderate_logits() -> None:
    logits = np.random.default_rng(0).normal(size=(5, 10))
    naive = np.log(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(log_softmax(logits), naive, rtol=1e-12)


def test_softmax_of_huge_logits_is_finite() -> None:
    probabilities = softmax(np.array([[1e4, -1e4, 1e4 - 1]], dtype=np.float32))
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities, [[1 / (1 + np.exp(-1)), 0, 1 / (1 + np.e)]],
                               rtol=1e-5)


def test_backprop_through_huge_inputs_stays_finite() -> None:
    weights = [np.full((2, 3), 1e3, dtype=np.float32), np.eye(3, dtype=np.float32) * 10]
    biases = [np.zeros(3, np.float32), np.zeros(3, np.float32)]
    x = np.array([[1.0, 1.0]], dtype=np.float32)  # hidden pre-activations 2e3, logits 2e4
    loss, _, grad_w, grad_b = backprop(LayerStack(weights, biases, ["relu"]), x,
                                        one_hot(np.array([2]), 3))
    assert np.isfinite(loss)
    assert all(np.isfinite(g).all() for g in [*grad_w, *grad_b])


def test_cross_entropy_from_probabilities_floors_zero() -> None:
    probabilities = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    loss = cross_entropy_from_probabilities(probabilities, np.array([1, 0]))
    assert np.isfinite(loss) and loss > 40  # -log(float32 tiny) / 2 ≈ 43.7


def test_one_hot() -> None:
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
