"""`POST /read`: every digit of each uploaded image, read in order as a whole number.

It takes what `/predict` takes for images: `multipart/form-data` with one or more `file` fields,
or one raw image body (`Content-Type: image/png`, ...); the model is `/read/<model>` or
`?model=`, the version `?version=`. Each image is searched for digits by shared/segment.py (the
same code the evaluation runs), each digit read through the model's own recipe and forward pass.
The answer is `{"model_name", "model_version", "confidence_threshold", "readings": [{"text",
"confidence", "sure", "digits": [{"label", "confidence", "box": {"x", "y", "width", "height"}}]}]}`,
one reading per image in order; `confidence` is the probability that the whole string is right,
`sure` whether it reaches the model's threshold (shared/sure.py). A blank or unreadable image is
a 400, as on `/predict`; more digits or candidate cuts than shared/segment.py's MAX_DIGITS and
MAX_CUTS a 413.
"""

from __future__ import annotations

from flask import Blueprint, request
from PIL import Image

from service.errors import RequestRefused, echo
from service.inference import check_deadline, request_body
from service.metrics import record_predictions
from service.uploads import opened_images, requested_bundle, uploaded_files
from shared.bundle import Bundle
from shared.limits import IMAGE_MEDIA_TYPES
from shared.preprocess import ImageError, load_image
from shared.segment import Reading, TooManyDigits, read_number
from shared.sure import reading_is_sure

bp = Blueprint("read", __name__)


@bp.post("/read")
@bp.post("/read/<name>")
def read(name: str | None = None):
    bundle = requested_bundle(name)
    if bundle.input.recipe is None:
        raise RequestRefused(415, f"model {bundle.name!r} takes no images (its bundle names no image "
                                  "recipe): /read needs one")
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        uploads = uploaded_files()
    elif mimetype in IMAGE_MEDIA_TYPES:
        uploads = [("image", request_body())]
    else:
        sent = echo(mimetype) if mimetype else "(none)"
        raise RequestRefused(415, f"unsupported media type {sent}: send multipart/form-data with 'file' "
                                  f"fields, or one of {', '.join(IMAGE_MEDIA_TYPES)}")
    readings = []
    for what, image in opened_images(uploads):
        check_deadline()
        readings.append(_reading(bundle, what, image))
    record_predictions(bundle.name, bundle.version,
                       [d.label for reading in readings for d in reading.digits])
    threshold = bundle.confidence_threshold
    return {"model_name": bundle.name, "model_version": str(bundle.version),
            "confidence_threshold": threshold,
            "readings": [_answer(reading, threshold) for reading in readings]}


def _reading(bundle: Bundle, what: str, image: Image.Image) -> Reading:
    """An opened upload read, or the 4xx that names it (as /predict answers)."""
    try:
        return read_number(load_image(image), bundle.model, bundle.input.recipe)
    except TooManyDigits as e:
        raise RequestRefused(413, f"{what}: {e}") from None
    except ImageError as e:
        raise RequestRefused(400, f"{what}: {e}") from None


def _answer(reading: Reading, threshold: float | None) -> dict:
    return {"text": reading.text, "confidence": reading.confidence,
            "sure": reading_is_sure(reading, threshold),
            "digits": [{"label": d.label, "confidence": d.confidence,
                        "box": dict(zip(("x", "y", "width", "height"), d.box))}
                       for d in reading.digits]}
