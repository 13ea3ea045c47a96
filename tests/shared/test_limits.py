"""shared/limits.py: each limit and the accepted image formats written once, and the copies that
cannot import them (the API's document) equal to them. The deployment's copies of the body limit
are checked in tests/deploy."""

from __future__ import annotations

import yaml

from service.openapi import DOCUMENT
from shared.limits import IMAGE_FORMATS, IMAGE_MEDIA_TYPES


def test_each_format_has_its_own_decoder_and_media_type():
    pillow, media = {f.pillow for f in IMAGE_FORMATS}, {f.media_type for f in IMAGE_FORMATS}
    assert len(pillow) == len(media) == len(IMAGE_FORMATS)


def test_the_api_document_lists_the_image_media_types():
    """Every operation taking image uploads lists exactly these media types, raw and in multipart."""
    document = yaml.safe_load(DOCUMENT.read_text())
    taking_images = 0
    for item in document["paths"].values():
        for operation in (o for o in item.values() if isinstance(o, dict)):
            content = operation.get("requestBody", {}).get("content", {})
            raw = [media for media in content if media.startswith("image/")]
            if not raw:
                continue
            taking_images += 1
            assert tuple(raw) == IMAGE_MEDIA_TYPES
            listed = content["multipart/form-data"]["encoding"]["file"]["contentType"]
            assert tuple(t.strip() for t in listed.split(",")) == IMAGE_MEDIA_TYPES
    assert taking_images >= 2  # /predict and /read
