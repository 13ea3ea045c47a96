"""Weight initialisation matched to the activation, so signals neither vanish nor explode.

He (Kaiming) for the ReLU family keeps the variance of activations through layers that zero half
their inputs; Glorot (Xavier) does the same for the symmetric tanh and sigmoid. Biases start at 0.
"""

import numpy as np


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def glorot_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


INITIALIZER_FOR_ACTIVATION = {
    "relu": he_normal,
    "leaky_relu": he_normal,
    "tanh": glorot_uniform,
    "sigmoid": glorot_uniform,
    "identity": glorot_uniform,
}


def initial_parameters(layer_sizes: list[int], activation: str, rng: np.random.Generator,
                       dtype=np.float32) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights and biases for every layer. The output layer (softmax) uses Glorot."""
    weights, biases = [], []
    for i, (fan_in, fan_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        is_output = i == len(layer_sizes) - 2
        init = glorot_uniform if is_output else INITIALIZER_FOR_ACTIVATION[activation]
        weights.append(init(fan_in, fan_out, rng).astype(dtype))
        biases.append(np.zeros(fan_out, dtype=dtype))
    return weights, biases
