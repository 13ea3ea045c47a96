"""Uploaded images, as `/predict` and `/read` both take them: multipart `file` fields or one raw
image body, each image's header read and checked against the limits before any is decoded."""

from __future__ import annotations

from collections.abc import Iterable

from flask import request
from PIL import Image

from service.config import current_settings
from service.errors import RequestRefused, echo
from service.inference import check_batch_size, registry, select_bundle
from shared.bundle import Bundle
from shared.preprocess import ImageError, ImageTooLarge, open_image


def requested_bundle(name_in_path: str | None) -> Bundle:
    """The bundle an upload names: its model in the path or in ?model=, its ?version=."""
    name = named_once(name_in_path, request.args.get("model"))
    return select_bundle(registry().snapshot, name, request.args.get("version"))


def named_once(in_path: str | None, in_query: str | None) -> str | None:
    """The model a request names, in its path or in ?model= (400 when it names two)."""
    if in_path is not None and in_query is not None and in_path != in_query:
        raise RequestRefused(400, f"two models named: {echo(in_path)} in the path, "
                                  f"{echo(in_query)} in ?model=")
    return in_path if in_path is not None else in_query


def uploaded_files() -> list[tuple[str, bytes]]:
    """Each multipart `file` field: a name for errors, and its bytes."""
    files = request.files.getlist("file")
    if not files:
        fields = sorted(set(request.files) | set(request.form), key=str) or "none"  # a part may have no name
        raise RequestRefused(400, f"multipart body has no 'file' field (fields sent: {fields})")
    check_batch_size(len(files), "the multipart body")
    return [(f"file {i + 1} ({echo(f.filename)})", f.read()) for i, f in enumerate(files)]


def opened_images(uploads: list[tuple[str, bytes]]) -> list[tuple[str, Image.Image]]:
    """Each upload opened (its header read, nothing decoded), checked against MAX_IMAGE_PIXELS
    and, all together, against MAX_REQUEST_PIXELS: a request over them costs nothing."""
    opened = [(name, _opened(name, data)) for name, data in uploads]
    _check_request_pixels(image for _, image in opened)
    return opened


def _opened(name: str, data: bytes) -> Image.Image:
    """The image in `data`, its header read and checked against the per-image limits."""
    try:
        return open_image(data, current_settings().max_image_pixels)
    except ImageTooLarge as e:
        raise RequestRefused(413, f"{name}: {e} (MAX_IMAGE_PIXELS)") from None
    except ImageError as e:
        raise RequestRefused(400, f"{name}: {e}") from None


def _check_request_pixels(images: Iterable[Image.Image]) -> None:
    """413 when the images together hold more pixels to decode than MAX_REQUEST_PIXELS."""
    limit = current_settings().max_request_pixels
    total = sum(image.width * image.height for image in images)
    if total > limit:
        raise RequestRefused(413, f"the request's images hold {total} pixels to decode, over the limit "
                                  f"of {limit} per request (MAX_REQUEST_PIXELS)")
