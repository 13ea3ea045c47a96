"""What both prediction protocols share: picking the model, checking pixels, running the model.

`/predict` and the Open Inference Protocol's `/infer` parse different bodies into the same thing,
a batch of raw MNIST pixels, and answer from the same probabilities. The forward pass itself is
`shared.model.Model.predict_proba`: this module only checks what goes in and counts what comes
out.
"""

from __future__ import annotations

import re

import numpy as np
from flask import current_app

from service.errors import ApiError
from service.metrics import record_predictions
from service.registry import Registry, Snapshot
from shared.bundle import Bundle
from shared.preprocess import FIELD

N_PIXELS = FIELD * FIELD
EXPECTED_SHAPE = f"{N_PIXELS} numbers or {FIELD} rows of {FIELD}"
VERSION = re.compile(r"^[1-9][0-9]{0,17}$")  # as in bundle file names: no "01", "+1" or "١"


def registry() -> Registry:
    return current_app.extensions["digitnet.registry"]


def check_batch_size(count: int, what: str) -> None:
    """413 when `what` holds more images than MAX_BATCH allows in one request."""
    limit = current_app.config["MAX_BATCH"]
    if count > limit:
        raise ApiError(413, f"{what} holds {count} images, over the limit of {limit} per request "
                            "(MAX_BATCH)")


def select_bundle(snapshot: Snapshot, name: str | None = None, version: str | None = None) -> Bundle:
    """The bundle a request asks for: the default version unless `version` is given.

    404 for an unknown model or version, 503 when nothing is loaded at all.
    """
    if name is not None and name != snapshot.model_name:
        raise ApiError(404, f"unknown model {name!r}: this server serves {snapshot.model_name!r}")
    if not snapshot.bundles:
        raise ApiError(503, f"no model loaded: no valid bundle of {snapshot.model_name!r} found yet "
                            "(train one with `make train`)")
    if version is None:
        return snapshot.default
    bundle = snapshot.bundles.get(int(version)) if VERSION.match(version) else None
    if bundle is None:
        loaded = ", ".join(str(v) for v in snapshot.versions)
        raise ApiError(404, f"model {snapshot.model_name!r} has no version {version!r} "
                            f"(loaded: {loaded})")
    return bundle


def numeric_array(values: object, what: str, integers_only: bool = False) -> np.ndarray:
    """`values` (nested lists from JSON) as a numeric array; 400 if ragged or not numbers.

    Converting without a dtype first lets the array's kind say whether every value was a number:
    a float32 conversion would silently accept "12" or True.
    """
    try:
        array = np.asarray(values)
    except (ValueError, TypeError, OverflowError) as e:
        raise ApiError(400, f"{what} must be a regular array of numbers ({e})") from None
    allowed = "iu" if integers_only else "iuf"
    if array.dtype.kind not in allowed:
        kind = "integers" if integers_only else "numbers"
        raise ApiError(400, f"{what} must hold only {kind}, not {_describe(array)}")
    return array


def _describe(array: np.ndarray) -> str:
    return {"b": "booleans", "U": "strings", "O": "nulls, objects or mixed values",
            "f": "non-integers"}.get(array.dtype.kind, str(array.dtype))


def pixel_batch(array: np.ndarray, what: str) -> np.ndarray:
    """A (n, 784) float32 batch from n images of 784 values or 28x28; checks count and range."""
    if array.ndim == 2 and array.shape[1] == N_PIXELS:
        batch = array
    elif array.ndim == 3 and array.shape[1:] == (FIELD, FIELD):
        batch = array.reshape(len(array), N_PIXELS)
    else:
        raise ApiError(400, f"{what} has shape {list(array.shape)}: each image must be "
                            f"{EXPECTED_SHAPE} (shape [n, {N_PIXELS}] or [n, {FIELD}, {FIELD}])")
    if len(batch) == 0:
        raise ApiError(400, f"{what} holds no images")
    check_batch_size(len(batch), what)
    # Checked before the float32 conversion, which would turn 1e300 into inf.
    if batch.dtype.kind == "f" and not np.isfinite(batch).all():
        raise ApiError(400, f"{what} holds NaN or infinite values")
    low, high = batch.min(), batch.max()
    if low < 0 or high > 255:
        raise ApiError(400, f"{what} holds values outside 0-255 (pixel intensities, ink high): "
                            f"min {low:g}, max {high:g}")
    return batch.astype(np.float32, copy=False)


def classify(bundle: Bundle, batch: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Class probabilities (n, classes) from the shared forward pass, and each row's label.

    The labels are counted in the metrics.
    """
    proba = bundle.model.predict_proba(batch)
    classes = bundle.model.classes
    labels = [classes[i] for i in proba.argmax(axis=1).tolist()]
    record_predictions(bundle.version, labels)
    return proba, labels
