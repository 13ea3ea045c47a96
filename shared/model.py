"""The model: weights, biases, activations and input scaling, and the forward pass through them.

This is the one forward pass of the project. The trainer calls `forward_layers` and keeps every
layer's output for backpropagation; the service calls `Model.predict_proba` on raw pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.activations import ACTIVATIONS

# The first layer skips zero inputs in batches of at most SPARSE_MAX_ROWS rows when at most this
# fraction of the inputs are non-zero anywhere in the batch (see input_product). Larger MNIST
# batches always cover more than half the pixels: checking them would only cost time.
SPARSE_MAX_ROWS = 16
SPARSE_INPUT_FRACTION = 0.5


def forward_layers(weights: list[np.ndarray], biases: list[np.ndarray],
                   activations: list[str], x: np.ndarray,
                   hidden_masks: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Return the output of every layer, the input first and the class probabilities last.

    `activations` names one function per layer (hidden layers, then the output layer).
    The computation runs in the dtype of the weights: float32 in production, float64 for the
    gradient check. `hidden_masks` is for training only (dropout): each hidden layer's output is
    multiplied by its mask. Prediction never passes masks.
    """
    outputs = [x]
    for layer, (w, b, name) in enumerate(zip(weights, biases, activations)):
        z = input_product(x, w) if layer == 0 else outputs[-1] @ w
        z += b
        a = ACTIVATIONS[name](z)
        if hidden_masks is not None and layer < len(hidden_masks):
            a *= hidden_masks[layer]
        outputs.append(a)
    return outputs


def input_product(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """`x @ w` for the first layer, reading only the rows of `w` that meet a non-zero input.

    A handwritten digit is mostly background: an MNIST image has about 140 non-zero pixels of
    784. For one image, or a few, the product needs only those rows of the weights, a fifth of
    their bytes; a prediction is dominated by reading weights, not by arithmetic. A batch of many
    images covers most pixels between them, and then the plain product is faster.
    """
    if len(x) > SPARSE_MAX_ROWS:
        return x @ w
    used = np.flatnonzero(x.any(axis=0))
    if len(used) > SPARSE_INPUT_FRACTION * x.shape[1]:
        return x @ w
    return x[:, used] @ w[used]


def min_max_scale(x: np.ndarray, minimum: float, maximum: float,
                  dtype: np.dtype = np.float32) -> np.ndarray:
    """Map raw inputs to [0, 1] with the range learned from the training data."""
    span = (maximum - minimum) or 1.0  # a constant input must not divide by zero
    factor = dtype(1.0 / span)
    if minimum == 0:  # MNIST's grey levels: one pass over the batch, the same numbers
        return np.multiply(x, factor, dtype=dtype)
    scaled = np.subtract(x, minimum, dtype=dtype)
    scaled *= factor
    return scaled


@dataclass
class Model:
    """A trained multilayer perceptron, ready to predict. Knows nothing of training or HTTP."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    hidden_activations: list[str]
    input_min: float
    input_max: float
    classes: list[int]
    output_activation: str = "softmax"
    # Calibration: the logits are divided by this before the softmax. Fitted on held-out data
    # after training (trainer/calibration.py), so that a probability of 0.9 is right 90 % of
    # the time. It changes how sure the model says it is, never which label it picks.
    temperature: float = 1.0
    # Inputs whose digit_score is below this are not taken for digits. Set by the trainer for a
    # network taught with outliers (trainer/outliers.py); None: every input is taken for a digit.
    digit_threshold: float | None = None

    @property
    def layer_sizes(self) -> list[int]:
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    def scale(self, x: np.ndarray) -> np.ndarray:
        return min_max_scale(x, self.input_min, self.input_max, self.weights[0].dtype.type)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The output layer's inputs for raw inputs of shape (n, n_features), before any softmax."""
        hidden_then_identity = [*self.hidden_activations, "identity"]
        return forward_layers(self.weights, self.biases, hidden_then_identity, self.scale(x))[-1]

    def probabilities(self, logits: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """The output layer on `logits` (left as they are) divided by `temperature`: the model's
        own when None, as the service answers; 1.0 gives the uncalibrated probabilities."""
        scale = 1.0 / (self.temperature if temperature is None else temperature)
        return ACTIVATIONS[self.output_activation](logits * logits.dtype.type(scale))

    def digit_score(self, logits: np.ndarray) -> np.ndarray:
        """How much the network takes each input for a digit: the log-sum-exp of its logits (the
        negative free energy of Liu et al. 2020). A network taught with outliers keeps its logits
        low and flat on anything unlike a digit, so the score is high for digits, low for the rest.
        """
        top = logits.max(axis=1)
        return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))

    def is_digit(self, logits: np.ndarray) -> np.ndarray:
        """Whether each input is taken for a digit (always, for a model without a threshold)."""
        if self.digit_threshold is None:
            return np.ones(len(logits), dtype=bool)
        return self.digit_score(logits) >= self.digit_threshold

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities for raw inputs (n, n_features): one row per input."""
        return self.probabilities(self.logits(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes)[self.predict_proba(x).argmax(axis=1)]
