"""`POST /predict`: three ways to send digits, one answer.

- JSON `{"instances": [image, ...], "top_k": 3}`, an image being 784 numbers or 28 rows of 28,
  raw pixel intensities 0-255 with ink high, as in MNIST (the model applies its own scaling);
- `multipart/form-data` with one or more `file` fields holding images;
- a raw image body with `Content-Type: image/png` (or jpeg, gif, bmp, webp).

Images go through `shared.preprocess` (the MNIST recipe) first. The answer is
`{"model_name", "model_version", "predictions": [{"label", "probabilities", "top_k"}, ...]}`,
one prediction per image, in order. `?top_k=N` works for every way in; `?return_input=1` adds
the 28x28 array the model saw to each prediction; `?model=NAME` names the model that must answer
(a 404 when the server does not serve it), as the V2 paths do.
"""

from __future__ import annotations

import numpy as np
from flask import Blueprint, current_app, g, request

from service.errors import ApiError
from service.inference import (
    check_batch_size,
    classify,
    numeric_array,
    pixel_batch,
    registry,
    select_bundle,
)
from service.jsonio import parse_json
from shared.preprocess import FIELD, ImageError, ImageTooLarge, bytes_to_mnist

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp")
DEFAULT_TOP_K = 3

bp = Blueprint("predict", __name__)


@bp.post("/predict")
def predict():
    # First: an unknown model is a 404 and no model a 503, whatever the body.
    bundle = select_bundle(registry().snapshot, request.args.get("model"))
    g.model_version = bundle.version
    n_classes = len(bundle.model.classes)
    top_k = _top_k(request.args.get("top_k", DEFAULT_TOP_K), n_classes)  # refused before the body
    mimetype = request.mimetype
    if mimetype == "application/json" or mimetype.endswith("+json"):
        body = _json_body()
        raw = numeric_array(body["instances"], "instances")
        batch = pixel_batch(raw, "instances")
        if "top_k" in body:  # the body's wins over the query's
            top_k = _top_k(body["top_k"], n_classes)
    elif mimetype == "multipart/form-data":
        raw = _images(_uploaded_files())
        batch = raw.astype(np.float32)
    elif mimetype in IMAGE_TYPES:
        raw = _images([("image", request.get_data())])
        batch = raw.astype(np.float32)
    else:
        raise ApiError(415, f"unsupported media type {mimetype or '(none)'!r}: send application/json, "
                            f"multipart/form-data with 'file' fields, or one of {', '.join(IMAGE_TYPES)}")

    proba, labels = classify(bundle, batch)
    classes = bundle.model.classes
    ranked = np.argsort(-proba, axis=1, kind="stable")[:, :top_k].tolist()
    return_input = _flag(request.args.get("return_input"))
    predictions = []
    # Rows stay float32 NumPy values: orjson writes them directly, in float32's shortest form.
    for i, order in enumerate(ranked):
        row = proba[i]
        prediction = {
            "label": labels[i],
            "probabilities": row,
            "top_k": [{"label": classes[j], "probability": row[j]} for j in order],
        }
        if return_input:
            prediction["input"] = raw[i].reshape(FIELD, FIELD).tolist()
        predictions.append(prediction)
    return {"model_name": bundle.name, "model_version": str(bundle.version),
            "predictions": predictions}


def _json_body() -> dict:
    body = parse_json(request.get_data())
    if not isinstance(body, dict) or "instances" not in body:
        raise ApiError(400, 'the JSON body must be an object {"instances": [image, ...]}')
    return body


def _uploaded_files() -> list[tuple[str, bytes]]:
    files = request.files.getlist("file")
    if not files:
        fields = sorted(set(request.files) | set(request.form)) or "none"
        raise ApiError(400, f"multipart body has no 'file' field (fields sent: {fields})")
    check_batch_size(len(files), "the multipart body")
    return [(f"file {i + 1} ({f.filename!r})", f.read()) for i, f in enumerate(files)]


def _images(named: list[tuple[str, bytes]]) -> np.ndarray:
    """Decode and preprocess each image into one (n, 784) uint8 batch; errors name the image."""
    max_pixels = current_app.config["MAX_IMAGE_PIXELS"]
    digits = []
    for name, data in named:
        try:
            digits.append(bytes_to_mnist(data, max_pixels))
        except ImageTooLarge as e:
            raise ApiError(413, f"{name}: {e} (MAX_IMAGE_PIXELS)") from None
        except ImageError as e:
            raise ApiError(400, f"{name}: {e}") from None
    return np.stack(digits).reshape(len(digits), FIELD * FIELD)


def _top_k(value: object, n_classes: int) -> int:
    try:
        k = int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        k = None
    if k is None or not 1 <= k <= n_classes:
        raise ApiError(400, f"top_k must be an integer from 1 to {n_classes}, got {value!r}")
    return k


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")
