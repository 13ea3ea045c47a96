"""Backpropagation agrees with finite differences, for every activation."""

import numpy as np
import pytest

from shared.activations import HIDDEN_ACTIVATIONS
from trainer.initializers import initial_parameters
from trainer.losses import one_hot
from trainer.network import LayerStack, Regularisation, backprop


def numerical_gradient(loss_of, param: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences, one coordinate at a time (float64, so eps=1e-6 is accurate)."""
    grad = np.zeros_like(param)
    for index in np.ndindex(param.shape):
        saved = param[index]
        param[index] = saved + eps
        plus = loss_of()
        param[index] = saved - eps
        minus = loss_of()
        param[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_backprop_matches_finite_differences(activation: str, weight_decay: float) -> None:
    rng = np.random.default_rng(1)
    sizes = [7, 6, 5, 4]  # two hidden layers, so the chain rule runs through an activation twice
    weights, biases = initial_parameters(sizes, activation, rng, dtype=np.float64)
    for b in biases:  # non-zero biases, so their gradients are exercised too
        b += rng.normal(0, 0.1, size=b.shape)
    x = rng.normal(size=(9, sizes[0]))
    targets = one_hot(rng.integers(0, sizes[-1], size=9), sizes[-1], np.float64)
    layers = LayerStack(weights, biases, [activation] * (len(sizes) - 2))
    penalty = Regularisation(weight_decay=weight_decay)

    def loss_of() -> float:
        return backprop(layers, x.copy(), targets, penalty)[0]

    _, _, grad_w, grad_b = backprop(layers, x.copy(), targets, penalty)
    for analytic, param in [*zip(grad_w, weights), *zip(grad_b, biases)]:
        numeric = numerical_gradient(loss_of, param)
        relative_error = np.linalg.norm(analytic - numeric) / (
            np.linalg.norm(analytic) + np.linalg.norm(numeric))
        assert relative_error < 1e-6, f"{activation}: relative error {relative_error:.2e}"
