"""The service's limits and the image formats it takes, each written once.

The service's settings take their defaults from here (service/config.py), the client splits its
batches by them when a service states none, and the trainer's evaluation decodes images under the
same pixel limit. What cannot import Python (compose, the proxy, the Kubernetes manifests) states
its own copy, and tests/deploy checks every copy against these constants.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_CONTENT_LENGTH = 16 * 1024 * 1024  # largest request body in bytes (16 MiB)
MAX_BATCH = 256                         # most images in one request
# Most pixels in one uploaded image: a 12-megapixel phone photo (4032x3024 or 4080x3072) fits.
MAX_IMAGE_PIXELS = 12_600_000
# Most pixels decoded for one request, all its images together (a JPEG counts at the reduced size
# it is decoded at).
MAX_REQUEST_PIXELS = 16_000_000
REQUEST_DEADLINE_SECONDS = 10.0         # a request still decoding images after this long is a 503


class ImageFormat(NamedTuple):
    name: str                    # as people write it
    pillow: str                  # Pillow's name of the format (`Image.format`)
    media_type: str              # the Content-Type of a raw body in this format
    suffixes: tuple[str, ...]    # file names the command line takes for it


# The formats whose decoders we trust; Pillow knows many more.
IMAGE_FORMATS = (
    ImageFormat("PNG", "PNG", "image/png", (".png",)),
    ImageFormat("JPEG", "JPEG", "image/jpeg", (".jpg", ".jpeg")),
    ImageFormat("GIF", "GIF", "image/gif", (".gif",)),
    ImageFormat("BMP", "BMP", "image/bmp", (".bmp",)),
    ImageFormat("WebP", "WEBP", "image/webp", (".webp",)),
)
PILLOW_FORMATS = tuple(f.pillow for f in IMAGE_FORMATS)
IMAGE_MEDIA_TYPES = tuple(f.media_type for f in IMAGE_FORMATS)
IMAGE_SUFFIXES = frozenset(suffix for f in IMAGE_FORMATS for suffix in f.suffixes)
IMAGE_FORMAT_NAMES = ", ".join(f.name for f in IMAGE_FORMATS)  # "PNG, JPEG, GIF, BMP, WebP"
