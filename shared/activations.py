"""Activation functions and their derivatives, as tables keyed by name.

Every function works in place on a float array and returns it, so the forward pass allocates one
array per layer and no temporaries. The derivatives are written in terms of the activation's
*output* (not its input): that is what the forward pass keeps, and it is all these functions need.
Adding an activation is one line in each table.
"""

import numpy as np

LEAKY_RELU_SLOPE = 0.01


def identity(z: np.ndarray) -> np.ndarray:
    return z


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0, out=z)


def leaky_relu(z: np.ndarray) -> np.ndarray:
    # max(z, slope*z) is z for z > 0 and slope*z below: no mask array needed.
    return np.maximum(z, z * LEAKY_RELU_SLOPE, out=z)


def sigmoid(z: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(z/2)) is the logistic function without exp overflow for large |z|.
    z *= 0.5
    np.tanh(z, out=z)
    z += 1
    z *= 0.5
    return z


def tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=z)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax. Subtracting the row maximum first keeps exp() finite for any logits."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


ACTIVATIONS = {
    "identity": identity,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
}

# Each derivative multiplies `delta` (the gradient w.r.t. the layer's output) in place by
# f'(z), computed from the layer's output a = f(z).
DERIVATIVES = {
    "identity": lambda a, delta: delta,
    "relu": lambda a, delta: np.multiply(delta, a > 0, out=delta),
    "leaky_relu": lambda a, delta: np.multiply(
        delta, np.where(a > 0, 1, LEAKY_RELU_SLOPE).astype(delta.dtype), out=delta),
    "sigmoid": lambda a, delta: np.multiply(delta, a * (1 - a), out=delta),
    "tanh": lambda a, delta: np.multiply(delta, 1 - a * a, out=delta),
}

HIDDEN_ACTIVATIONS = tuple(DERIVATIVES)
