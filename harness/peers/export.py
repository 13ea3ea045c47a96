"""A model as plain arrays in one `.npz`, for the peer servers' environments.

A peer's environment has NumPy but not digitnet's bundle reader and its checks; it gets the
verified bundle's model written out as plain arrays (weights, biases, scaling, temperature,
classes, activations) and rebuilds `shared.model.Model` from them, so it runs digitnet's own
forward pass. This module imports nothing beyond NumPy and shared/model.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.model import Model


def export_model(model: Model, path: Path) -> Path:
    """Write `model`'s arrays and settings to `path` (.npz, no pickles)."""
    layers = {f"weights_{i}": w for i, w in enumerate(model.weights)}
    layers |= {f"biases_{i}": b for i, b in enumerate(model.biases)}
    np.savez(path, **layers,
             hidden_activations=np.array(model.hidden_activations),
             output_activation=np.array(model.output_activation),
             scaling=np.array([model.input_min, model.input_max, model.temperature]),
             classes=np.array(model.classes))
    return path


def load_exported(path: Path) -> Model:
    """The Model `export_model` wrote to `path`."""
    with np.load(path, allow_pickle=False) as arrays:
        layers = len(arrays["hidden_activations"]) + 1
        input_min, input_max, temperature = arrays["scaling"].tolist()
        return Model(weights=[arrays[f"weights_{i}"] for i in range(layers)],
                     biases=[arrays[f"biases_{i}"] for i in range(layers)],
                     hidden_activations=[str(a) for a in arrays["hidden_activations"]],
                     input_min=input_min, input_max=input_max,
                     classes=[int(c) for c in arrays["classes"]],
                     output_activation=str(arrays["output_activation"]),
                     temperature=temperature)
