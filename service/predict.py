"""`POST /predict`: three ways to send digits, one answer, from any model served.

- JSON `{"instances": [image, ...], "top_k": 3}`, an image being the model's input as numbers:
  flat, or rows of its image shape (784 numbers or 28 rows of 28 for MNIST models, 64 or 8 rows
  of 8 for the 8x8 digits model), raw values in the model's range with ink high (the model
  applies its own scaling);
- `multipart/form-data` with one or more `file` fields holding images;
- a raw image body with `Content-Type: image/png` (or jpeg, gif, bmp, webp).

The model is `/predict/<model>` or `?model=`, else MODEL_NAME; `?version=` picks a version
number or a label, else the model's default answers. Images go through the recipe the model's
bundle names (shared/recipes.py) first. The answer is `{"model_name", "model_version",
"confidence_threshold", "predictions": [{"label", "confidence", "probabilities", "top_k"}, ...]}`,
one prediction per image, in order, `model_version` being the version that answered.
`confidence` is the calibrated probability of the label; below the model's
`confidence_threshold` (chosen on held-out data so that answers above it were 99.5 % right) a
client should treat the answer as a guess. `?top_k=N` works for every way in;
`?return_input=1` adds the input the model saw (in its image shape) to each prediction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from flask import Blueprint, current_app, request

from service.errors import ApiError
from service.inference import (
    check_batch_size,
    classify,
    input_batch,
    numeric_array,
    registry,
    select_bundle,
)
from service.jsonio import parse_json
from shared.bundle import Bundle
from shared.preprocess import ImageError, ImageTooLarge, decode_image
from shared.segment import MAX_DIGITS, Reading, TooManyDigits, read_unless_single
from shared.sure import predict_is_sure

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp")
DEFAULT_TOP_K = 3

bp = Blueprint("predict", __name__)


@bp.post("/predict")
@bp.post("/predict/<name>")
def predict(name: str | None = None):
    # First: an unknown model is a 404 and no model a 503, whatever the body.
    bundle = select_bundle(registry().snapshot, _named_once(name, request.args.get("model")),
                           request.args.get("version"))
    spec = bundle.input
    n_classes = len(bundle.model.classes)
    top_k = _top_k(request.args.get("top_k", DEFAULT_TOP_K), n_classes)  # refused before the body
    mimetype = request.mimetype
    found = None  # what /read finds in each uploaded image (see _as_number)
    if mimetype == "application/json" or mimetype.endswith("+json"):
        body = _json_body()
        raw = numeric_array(body["instances"], "instances")
        batch = input_batch(raw, "instances", spec)
        if "top_k" in body:  # the body's wins over the query's
            top_k = _top_k(body["top_k"], n_classes)
    elif mimetype == "multipart/form-data":
        raw, found = _images(bundle, _uploaded_files)
        batch = raw.astype(np.float32)
    elif mimetype in IMAGE_TYPES:
        raw, found = _images(bundle, lambda: [("image", request.get_data())])
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
            "confidence": row[order[0]],
            "probabilities": row,
            "top_k": [{"label": classes[j], "probability": row[j]} for j in order],
        }
        number = found[i] if found else None
        prediction["sure"] = number != TOO_MANY and predict_is_sure(
            float(row[order[0]]), number, bundle.confidence_threshold)
        count = _count(number)
        if count > 1:
            prediction["digits_found"] = count
            prediction["note"] = (f"{_several(count)} digits found: one label cannot answer for "
                                  "them, POST /read reads them all")
        if return_input:
            prediction["input"] = raw[i].reshape(spec.image_shape or -1).tolist()
        predictions.append(prediction)
    return {"model_name": bundle.name, "model_version": str(bundle.version),
            "confidence_threshold": bundle.confidence_threshold, "predictions": predictions}


def _json_body() -> dict:
    body = parse_json(request.get_data())
    if not isinstance(body, dict) or "instances" not in body:
        raise ApiError(400, 'the JSON body must be an object {"instances": [image, ...]}')
    return body


def _uploaded_files() -> list[tuple[str, bytes]]:
    files = request.files.getlist("file")
    if not files:
        fields = sorted(set(request.files) | set(request.form), key=str) or "none"  # a part may have no name
        raise ApiError(400, f"multipart body has no 'file' field (fields sent: {fields})")
    check_batch_size(len(files), "the multipart body")
    return [(f"file {i + 1} ({f.filename!r})", f.read()) for i, f in enumerate(files)]


def _named_once(in_path: str | None, in_query: str | None) -> str | None:
    if in_path is not None and in_query is not None and in_path != in_query:
        raise ApiError(400, f"two models named: {in_path!r} in the path, {in_query!r} in ?model=")
    return in_path if in_path is not None else in_query


def _images(bundle: Bundle, read: Callable[[], list[tuple[str, bytes]]]) -> tuple[np.ndarray, list]:
    """Each image read by `read()` through the model's recipe, as one (n, size) batch, and what
    /read finds in each (_as_number); errors name the image. A model without a recipe takes no images: 415
    before the body is read."""
    recipe = bundle.input.recipe
    if recipe is None:
        raise ApiError(415, f"model {bundle.name!r} takes no images (its bundle names no image "
                            "recipe): send its input as JSON numbers")
    max_pixels = current_app.config["MAX_IMAGE_PIXELS"]
    inputs, found = [], []
    for name, data in read():
        try:
            image = decode_image(data, max_pixels)
            inputs.append(recipe.from_image(image))
            found.append(_as_number(bundle, image))
        except ImageTooLarge as e:
            raise ApiError(413, f"{name}: {e} (MAX_IMAGE_PIXELS)") from None
        except ImageError as e:
            raise ApiError(400, f"{name}: {e}") from None
    return np.stack(inputs).reshape(len(inputs), bundle.input.size), found


TOO_MANY = "too many"  # more digits than /read reads in one image


def _as_number(bundle: Bundle, image) -> Reading | str | None:
    """What /read finds in an image /predict reads as one digit: None when its ink is one piece
    no cut may part (one digit), TOO_MANY past MAX_DIGITS."""
    try:
        return read_unless_single(image, bundle.model, bundle.input.recipe)
    except TooManyDigits:
        return TOO_MANY


def _count(found: Reading | str | None) -> int:
    if found is None:
        return 1
    return MAX_DIGITS + 1 if found == TOO_MANY else len(found.digits)


def _several(count: int) -> str:
    return f"more than {MAX_DIGITS}" if count > MAX_DIGITS else str(count)


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
