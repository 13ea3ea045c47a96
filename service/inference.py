"""What both prediction protocols share: picking the model and version, checking the input against
the bundle's contract, running the model.

`/predict` and the Open Inference Protocol's `/infer` parse different bodies into the same thing,
a batch of raw inputs, and answer from the same probabilities. What a valid input is (how many
numbers, which image shape, which range) comes from the bundle that answers
(`shared.manifest.InputSpec`), never from constants here. The forward pass itself is
`shared.model.Model.predict_proba`: this module only checks what goes in and counts what comes
out.
"""

from __future__ import annotations

import time
from itertools import chain
from typing import NamedTuple

import numpy as np
from flask import current_app, g, request

from service.config import current_settings
from service.errors import RequestRefused, echo
from service.metrics import record_predictions
from service.registry import ModelState, Registry, Snapshot
from shared.bundle import Bundle
from shared.manifest import InputSpec

MAX_DIMENSIONS = 3  # an input is [n, size] or [n, rows, columns]


def registry() -> Registry:
    return current_app.extensions["digitnet.registry"]


def request_body() -> bytes:
    """The request's body, read in one call where its length is known.

    `request.get_data()` reads 64 KiB at a time, and gunicorn, which reads ahead up to the rest
    of the body, copies all it still holds for each of those reads: for a body that arrived
    whole before the worker read it (as a gevent worker often finds it), the copies add up to
    many times the body. werkzeug's stream still enforces MAX_CONTENT_LENGTH (a 413)."""
    length = request.content_length
    if not length:
        return request.get_data()
    parts = []
    while length and (part := request.stream.read(length)):
        parts.append(part)
        length -= len(part)
    return b"".join(parts)


def check_batch_size(count: int, what: str) -> None:
    """413 when `what` holds more images than MAX_BATCH allows in one request."""
    limit = current_settings().max_batch
    if count > limit:
        raise RequestRefused(413, f"{what} holds {count} images, over the limit of {limit} per request "
                                  "(MAX_BATCH)")


def check_deadline() -> None:
    """503 once the request has taken longer than REQUEST_DEADLINE_SECONDS: its thread is
    freed for others rather than held by one costly request."""
    limit = current_settings().deadline_seconds
    if time.perf_counter() - g.start > limit:
        raise RequestRefused(503, f"the request took longer than its deadline of {limit:g} s "
                                  "(REQUEST_DEADLINE_SECONDS): send fewer or smaller images")


def select_model(snapshot: Snapshot, name: str | None = None) -> ModelState:
    """The model a request names (the default model when it names none); 404 when unknown."""
    state = snapshot.models.get(snapshot.default_model if name is None else name)
    if state is None:
        if name is None:
            raise RequestRefused(503, f"no model loaded: no valid bundle of {snapshot.default_model!r} found "
                                      "yet (train one with `make train`)")
        served = ", ".join(snapshot.models) or "none"
        raise RequestRefused(404, f"unknown model {echo(name)} (models served: {served})")
    return state


def select_bundle(snapshot: Snapshot, name: str | None = None, version: str | None = None) -> Bundle:
    """The bundle a request asks for: model `name` (default: the default model), `version` a
    version number or a label (default: the model's default, drawn when its policy splits).

    404 for an unknown model, version or label; 503 when the model has no version loaded.
    Records the model and version on `g` for the request log and metrics.
    """
    state = select_model(snapshot, name)
    bundle = state.default_bundle() if version is None else state.find(version)
    if bundle is None:
        if not state.bundles:
            reasons = "; ".join(f"version {v.version}: {v.reason}" for v in state.versions)
            raise RequestRefused(503, f"no model loaded: model {state.name!r} has no valid version "
                                      f"({reasons or 'none on disk'})")
        raise RequestRefused(404, f"model {state.name!r} has no version or label {echo(version)} "
                                  f"loaded ({_loaded(state)}){_why_not(state, version)}")
    g.model_name, g.model_version = state.name, bundle.version
    return bundle


def _loaded(state: ModelState) -> str:
    labels = ", ".join(f"{label} = {v}" for label, v in sorted(state.labels.items()))
    versions = ", ".join(str(v) for v in sorted(state.bundles, reverse=True))
    return f"versions {versions}" + (f"; labels {labels}" if labels else "")


def _why_not(state: ModelState, version: str) -> str:
    """Why a version on disk is not loaded, when it is one."""
    known = next((v for v in state.versions if str(v.version) == version), None)
    return f": version {version} is {known.reason}" if known else ""


def numeric_array(values: object, what: str, integers_only: bool = False) -> np.ndarray:
    """`values` (nested lists from JSON) as a numeric array; 400 if ragged or not numbers.

    The structure is checked as Python objects first (`regular_shape`): NumPy only ever sees a
    regular array of numbers, never strings it would pad to the longest or objects it would
    keep. Big integers still make an object array, refused by its kind.
    """
    shape = regular_shape(values, what)
    array = np.asarray(values)
    allowed = "iu" if integers_only else "iuf"
    if array.dtype.kind not in allowed or list(array.shape) != shape:
        kind = "integers" if integers_only else "numbers"
        raise RequestRefused(400, f"{what} must hold only {kind}, not {_describe(array)}")
    return array


def regular_shape(values: object, what: str) -> list[int]:
    """The shape of `values`, nested lists of at most MAX_DIMENSIONS levels, every list at one
    level of the same length and numbers (not booleans) at the bottom; else a 400."""
    if type(values) is not list:
        raise RequestRefused(400, f"{what} must be a list of numbers, not {_kind(type(values))}")
    shape, level = [], [values]
    while True:
        if len(shape) == MAX_DIMENSIONS:
            raise RequestRefused(400, f"{what} has more than {MAX_DIMENSIONS} dimensions")
        lengths = {len(item) for item in level}
        if len(lengths) > 1:
            raise RequestRefused(400, f"{what} must be a regular array of numbers (lists of "
                                      f"{sorted(lengths)[:2]} items at one depth)")
        shape.append(lengths.pop())
        # The kinds of the next level in one pass, without building it: at the bottom level
        # (a batch's 200,000 pixels) building the list is most of the check's cost.
        kinds = set(map(type, chain.from_iterable(level)))
        if kinds != {list}:
            break
        level = list(chain.from_iterable(level))
    if odd := kinds - {int, float}:
        if list in odd:
            raise RequestRefused(400, f"{what} must be a regular array of numbers (lists beside numbers)")
        raise RequestRefused(400, f"{what} must hold only numbers, not {_kind(next(iter(odd)))}")
    return shape


def _kind(kind: type) -> str:
    return {bool: "booleans", str: "strings", dict: "objects"}.get(kind, "nulls")


def _describe(array: np.ndarray) -> str:
    return {"b": "booleans", "U": "strings", "O": "nulls, objects, big integers or mixed values",
            "f": "non-integers"}.get(array.dtype.kind, str(array.dtype))


def input_batch(array: np.ndarray, what: str, spec: InputSpec) -> np.ndarray:
    """An (n, size) float32 batch from n examples of `spec.size` numbers, or of its image shape
    (rows, columns); checks the count, and the values against the model's input range."""
    if array.ndim == 2 and array.shape[1] == spec.size:
        batch = array
    elif spec.image_shape and array.ndim == 3 and array.shape[1:] == spec.image_shape:
        batch = array.reshape(len(array), spec.size)
    else:
        raise RequestRefused(400, f"{what} has shape {list(array.shape)}: {expected_shape(spec)}")
    if len(batch) == 0:
        raise RequestRefused(400, f"{what} holds no images")
    check_batch_size(len(batch), what)
    # Checked before the float32 conversion, which would turn 1e300 into inf.
    if batch.dtype.kind == "f" and not np.isfinite(batch).all():
        raise RequestRefused(400, f"{what} holds NaN or infinite values")
    low, high = batch.min(), batch.max()
    bottom, top = spec.value_range
    if low < bottom or high > top:
        raise RequestRefused(400, f"{what} holds values outside {bottom:g}-{top:g} (this model's input "
                                  f"range, ink high): min {low:g}, max {high:g}")
    return batch.astype(np.float32, copy=False)


def expected_shape(spec: InputSpec) -> str:
    """What the model takes, in words: "each image must be 784 numbers or 28 rows of 28 (...)"."""
    if spec.image_shape is None:
        return f"each example must be {spec.size} numbers (shape [n, {spec.size}])"
    rows, columns = spec.image_shape
    return (f"each image must be {spec.size} numbers or {rows} rows of {columns} "
            f"(shape [n, {spec.size}] or [n, {rows}, {columns}])")


class Answers(NamedTuple):
    """What the model makes of a batch, one entry per row."""

    proba: np.ndarray        # (n, classes) calibrated class probabilities
    labels: list[int]        # the most probable class
    digit_score: np.ndarray  # (n,) how much the model takes the input for a digit
    is_digit: np.ndarray     # (n,) bool: the score reaches the model's digit threshold


def classify(bundle: Bundle, batch: np.ndarray) -> Answers:
    """The shared forward pass on a batch: probabilities, labels and whether each is a digit.

    The labels are counted in the metrics.
    """
    model = bundle.model
    logits = model.logits(batch)
    proba = model.probabilities(logits)
    labels = [model.classes[i] for i in proba.argmax(axis=1).tolist()]
    record_predictions(bundle.name, bundle.version, labels)
    return Answers(proba, labels, model.digit_score(logits), model.is_digit(logits))
