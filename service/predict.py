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
"confidence_threshold", "digit_threshold", "predictions": [{"label", "confidence", "sure", "digit",
"digit_score", "probabilities", "top_k"}, ...]}`, one prediction per image, in order,
`model_version` being the version that answered. `confidence` is the calibrated probability of
the label; below the model's `confidence_threshold` (chosen on held-out data so that answers
above it were 99.5 % right) a client should treat the answer as a guess. `digit` says whether the
model takes the input for a digit at all (its `digit_score` reaches the model's
`digit_threshold`; always true for a model not taught to refuse, whose threshold is null), and
`sure` is true only for a digit at or above the confidence threshold. `?top_k=N` works for every way in;
`?return_input=1` adds the input the model saw (in its image shape) to each prediction.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from flask import Blueprint, request

from service.errors import RequestRefused, echo
from service.inference import (
    check_batch_size,
    check_deadline,
    classify,
    input_batch,
    numeric_array,
    request_body,
)
from service.jsonarrays import parse_with_array
from service.uploads import opened_images, requested_bundle, uploaded_files
from shared.bundle import Bundle
from shared.limits import IMAGE_MEDIA_TYPES
from shared.preprocess import ImageError, NoInk, image_ink, load_image
from shared.segment import MAX_DIGITS, Reading, TooManyDigits, read_unless_single
from shared.sure import predict_is_sure

DEFAULT_TOP_K = 3

bp = Blueprint("predict", __name__)


@bp.post("/predict")
@bp.post("/predict/<name>")
def predict(name: str | None = None):
    # First: an unknown model is a 404 and no model a 503, whatever the body.
    bundle = requested_bundle(name)
    spec = bundle.input
    n_classes = len(bundle.model.classes)
    top_k = _top_k(request.args.get("top_k", DEFAULT_TOP_K), n_classes)  # refused before the body
    return_input = _flag(request.args.get("return_input"))
    mimetype = request.mimetype
    found = None  # what /read finds in each uploaded image (see _as_number)
    if mimetype == "application/json" or mimetype.endswith("+json"):
        body = _json_body()
        raw = _instances(body["instances"])
        batch = input_batch(raw, "instances", spec)
        if "top_k" in body:  # the body's wins over the query's
            top_k = _top_k(body["top_k"], n_classes)
    elif mimetype == "multipart/form-data":
        raw, found = _images(bundle, uploaded_files)
        batch = raw.astype(np.float32)
    elif mimetype in IMAGE_MEDIA_TYPES:
        raw, found = _images(bundle, lambda: [("image", request_body())])
        batch = raw.astype(np.float32)
    else:
        sent = echo(mimetype) if mimetype else "(none)"
        raise RequestRefused(415, f"unsupported media type {sent}: send application/json, "
                                  "multipart/form-data with 'file' fields, or one of "
                                  f"{', '.join(IMAGE_MEDIA_TYPES)}")

    answers = classify(bundle, batch)
    proba, labels = answers.proba, answers.labels
    classes = bundle.model.classes
    ranked = np.argsort(-proba, axis=1, kind="stable")[:, :top_k].tolist()
    predictions = []
    # Rows stay float32 NumPy values: orjson writes them directly, in float32's shortest form.
    for i, order in enumerate(ranked):
        row = proba[i]
        prediction = {
            "label": labels[i],
            "confidence": row[order[0]],
            "digit": bool(answers.is_digit[i]),
            "digit_score": answers.digit_score[i],
            "probabilities": row,
            "top_k": [{"label": classes[j], "probability": row[j]} for j in order],
        }
        number = found[i] if found else None
        prediction["sure"] = number != TOO_MANY and predict_is_sure(
            float(row[order[0]]), number, bundle.confidence_threshold, prediction["digit"])
        count = _count(number)
        if count > 1:
            prediction["digits_found"] = count
            prediction["note"] = (f"{_several(count)} digits found: one label cannot answer for "
                                  "them, POST /read reads them all")
        if return_input:
            prediction["input"] = raw[i].reshape(spec.image_shape or -1).tolist()
        predictions.append(prediction)
    return {"model_name": bundle.name, "model_version": str(bundle.version),
            "confidence_threshold": bundle.confidence_threshold,
            "digit_threshold": bundle.model.digit_threshold, "predictions": predictions}


def _json_body() -> dict:
    body = parse_with_array(request_body(), ("instances",))
    if not isinstance(body, dict) or "instances" not in body:
        raise RequestRefused(400, 'the JSON body must be an object {"instances": [image, ...]}')
    return body


def _instances(instances: object) -> np.ndarray:
    """The JSON body's instances as an array (parse_with_array made them one when it could)."""
    if isinstance(instances, (list, np.ndarray)):  # counted before its contents are looked at
        check_batch_size(len(instances), "instances")
    return instances if isinstance(instances, np.ndarray) else numeric_array(instances, "instances")


def _images(bundle: Bundle, read: Callable[[], list[tuple[str, bytes]]]) -> tuple[np.ndarray, list]:
    """Each image read by `read()` through the model's recipe, as one (n, size) batch, and what
    /read finds in each (_as_number); errors name the image. A model without a recipe takes no
    images: 415 before the body is read.

    Every image's header is read and its size checked before any is decoded, so a request over
    MAX_REQUEST_PIXELS costs nothing; between images the request's deadline is checked.
    """
    recipe = bundle.input.recipe
    if recipe is None:
        raise RequestRefused(415, f"model {bundle.name!r} takes no images (its bundle names no image "
                                  "recipe): send its input as JSON numbers")
    inputs, found = [], []
    for name, image in opened_images(read()):
        check_deadline()
        try:
            image = load_image(image)
            ink = image_ink(image)  # found once, for the digit and for /read's count
            inputs.append(recipe.from_ink(ink))
            found.append(_as_number(bundle, image, ink))
        except ImageError as e:
            raise RequestRefused(400, f"{name}: {e}") from None
    return np.stack(inputs).reshape(len(inputs), bundle.input.size), found


TOO_MANY = "too many"  # more digits than /read reads in one image


def _as_number(bundle: Bundle, image, ink: np.ndarray) -> Reading | str | None:
    """What /read finds in an image /predict reads as one digit (`ink`, its image_ink): None when
    its ink is one piece no cut may part (one digit), TOO_MANY past MAX_DIGITS."""
    try:
        return read_unless_single(image, bundle.model, bundle.input.recipe, ink)
    except TooManyDigits:
        return TOO_MANY
    except NoInk:  # no piece of ink a digit could be made of: nothing to count
        return None


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
        raise RequestRefused(400, f"top_k must be an integer from 1 to {n_classes}, got {echo(value)}")
    return k


def _flag(value: str | None) -> bool:
    """`?return_input=`: 1, true or yes; 0, false or no (any case); absent is false."""
    if value is None or value.lower() in ("0", "false", "no"):
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    raise RequestRefused(400, f"return_input must be true or false (1/0, yes/no), got {echo(value)}")
