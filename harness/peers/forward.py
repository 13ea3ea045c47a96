"""The KServe and BentoML peers' prediction, kept apart from both so the project's tests run it.

It is digitnet's own forward pass (`shared.model.Model.predict_proba`) on the V2 request's input,
answering the two outputs every server in the peer benchmark gives: each image's probabilities
and its label. The peers' models (kserve_server.py, bentoml_service.py) only move tensors in and
out of this function.
"""

from __future__ import annotations

import numpy as np

from shared.model import Model

INPUT_NAME = "input"  # digitnet's V2 names, so one request body fits both servers
PROBABILITIES = "probabilities"
LABEL = "label"


def predict(model: Model, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """Probabilities (n, classes) float32 and labels (n,) int64 for raw pixels (n, features)."""
    probabilities = model.predict_proba(np.asarray(pixels, dtype=np.float32))
    labels = np.asarray(model.classes, dtype=np.int64)[probabilities.argmax(axis=1)]
    return {PROBABILITIES: probabilities, LABEL: labels}
