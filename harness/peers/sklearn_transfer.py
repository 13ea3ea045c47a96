"""digitnet's weights on scikit-learn's `MLPClassifier`, for MLServer's scikit-learn runtime.

scikit-learn's network has no input scaling and no temperature, so both are folded into the
weights: the first layer reads raw pixels (x - min) / span, i.e. W / span and b - min / span * sum(W),
and the last layer's logits are divided by the temperature, i.e. W / T and b / T. Its softmax of
those logits is then digitnet's calibrated probabilities.

Run in MLServer's environment (`python -m harness.peers.sklearn_transfer EXPORT.npz MODEL.joblib`)
so that the pickle is read by the scikit-learn that wrote it. Imports NumPy, scikit-learn and
shared/model.py only.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from harness.peers.export import load_exported
from shared.model import Model

# digitnet's hidden activations by scikit-learn's names; others (leaky_relu) have no counterpart.
SKLEARN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "identity": "identity"}


def mlp_classifier(model: Model) -> MLPClassifier:
    """An MLPClassifier whose predict_proba is `model.predict_proba` (to float32 rounding)."""
    names = set(model.hidden_activations)
    if len(names) > 1 or not names <= SKLEARN_ACTIVATIONS.keys() or model.output_activation != "softmax":
        raise ValueError(f"scikit-learn's MLP has one hidden activation of {sorted(SKLEARN_ACTIVATIONS)} and "
                         f"a softmax output, not {model.hidden_activations} and {model.output_activation}")
    sizes = model.layer_sizes
    mlp = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]),
                        activation=SKLEARN_ACTIVATIONS[model.hidden_activations[0]], max_iter=1)
    # A one-step fit on one blank image per class sets every fitted attribute (classes, the label
    # binarizer, layer count); the weights are then replaced by the model's.
    dtype = model.weights[0].dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(np.zeros((len(model.classes), sizes[0]), dtype=dtype), np.asarray(model.classes))
    mlp.coefs_, mlp.intercepts_ = folded_layers(model)
    return mlp


def folded_layers(model: Model) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The weights and biases with the input scaling and the temperature folded in."""
    weights = [w.astype(np.float64) for w in model.weights]
    biases = [b.astype(np.float64) for b in model.biases]
    span = (model.input_max - model.input_min) or 1.0  # as shared.model.min_max_scale
    biases[0] = biases[0] - model.input_min / span * weights[0].sum(axis=0)
    weights[0] = weights[0] / span
    weights[-1] = weights[-1] / model.temperature
    biases[-1] = biases[-1] / model.temperature
    dtype = model.weights[0].dtype
    return [w.astype(dtype) for w in weights], [b.astype(dtype) for b in biases]


def main(argv: list[str]) -> None:
    """EXPORT.npz (export.py's) -> MODEL.joblib for MLServer's scikit-learn runtime."""
    exported, target = map(Path, argv)
    joblib.dump(mlp_classifier(load_exported(exported)), target)


if __name__ == "__main__":
    main(sys.argv[1:])
