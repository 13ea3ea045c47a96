"""The service with its forward pass replaced by a constant answer, for `make bench-serve`.

Everything else is the real service: routes, parsing, checks, metrics, logging and answers.
How close this comes to the trivial endpoint is the most a faster model could give /predict.
"""

import numpy as np

from service import app
from shared.model import Model


def constant_proba(model: Model, x: np.ndarray) -> np.ndarray:
    """Every class equally likely, without reading a weight."""
    return np.full((len(x), len(model.classes)), 1 / len(model.classes), dtype=np.float32)


def create_app():
    Model.predict_proba = constant_proba
    return app.create_app()
