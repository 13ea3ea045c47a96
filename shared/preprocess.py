"""Images as people send them, brought to the form of MNIST digits.

MNIST digits are white ink (255) on black (0), 28x28, the digit scaled so its longer side is
20 px and placed so its centre of mass sits at the centre of the field. A model trained on MNIST
only reads digits that look like that, so an uploaded photo or drawing goes through the same
steps MNIST itself went through:

1. decode (PNG, JPEG, GIF, BMP, WebP), refusing decompression bombs and images too costly to
   decode before any pixel is decoded;
2. apply the EXIF orientation (phone photos are often stored sideways);
3. shrink to WORKING_SIDE, then grayscale (transparent drawings are flattened onto a background
   that contrasts with the ink);
4. invert when the background is light, so ink is high as in MNIST;
5. subtract the paper's own brightness, estimated at every pixel from the corners, so a photo
   with light falling off across the page has the same zero background everywhere; then
   stretch the contrast up to the ink level, so grey paper and faint pencil look like MNIST's
   black and white;
5b. erase printed lines crossing the image (ruled or squared paper, a form's box), keeping the
   digit's own straight strokes and the strokes crossing the lines (shared/lines.py);
6. crop to the ink's bounding box; thicken strokes drawn thinner than most of MNIST's (a
   stylus or a thin canvas brush draws half MNIST's pen width relative to the digit's size;
   thicker strokes, three quarters of MNIST's among them, are left as they are);
7. scale the longer side to 20 px keeping the aspect ratio (antialiased);
8. paste into 28x28 with the centre of mass at the centre.

The functions are pure (bytes or an image in, an array out) so the trainer's tests can use them.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from shared.limits import PILLOW_FORMATS
from shared.lines import remove_lines

FIELD = 28            # MNIST images are FIELD x FIELD
BOX = 20              # the digit's longer side, as in MNIST
WORKING_SIDE = 512    # larger images are shrunk first: 20 px is the goal, this is plenty
# Memory one image may take to decode (estimated from its header, refused before decoding): a
# 12-megapixel photo in RGB, or one in grey with transparency, fits.
MAX_DECODE_BYTES = 48 * 1024 * 1024
EXIF_ORIENTATION = 0x0112
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
MIN_CONTRAST = 32     # grey levels between background and ink below which there is no ink
INK_PERCENTILE = 0.999  # the ink level: brighter than all but 0.1% of the pixels
INK_THRESHOLD = 0.3   # fraction of the ink level a pixel needs to count toward the bounding box
CORNER = 0.15         # the paper's level is read in corner patches this fraction of each side
EVEN_LIGHT = 8        # corners within this many grey levels: the paper is evenly lit
# Stroke width, measured on the digit scaled to STROKE_BOX px on its longer side. MNIST's test
# digits measure 10.5 / 13.5 / 15.8 / 24.4 px there (5th percentile / 25th / median / 95th):
# strokes thinner than MIN_STROKE are thickened to about MNIST's median.
STROKE_BOX = 128
MIN_STROKE = 14.0
TARGET_STROKE = 16.0


class ImageError(ValueError):
    """The image cannot be turned into a digit; the message says why."""


class UnreadableImage(ImageError):
    """Not an image in a supported format, or a damaged or truncated one."""


class ImageTooLarge(ImageError):
    """More pixels than allowed: refused before decoding, as a decompression bomb would be."""


class NoInk(ImageError):
    """The image is blank (one flat colour): there is no digit to read."""


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode `data` and apply its EXIF orientation. Raises an ImageError subclass."""
    return load_image(open_image(data, max_pixels))


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """The image in `data`, its header read but no pixel decoded. Raises an ImageError subclass.

    Only the header is read before the size checks, so a small file claiming a huge image costs
    nothing: over `max_pixels`, or over MAX_DECODE_BYTES of memory to decode, is ImageTooLarge.
    A JPEG is set to decode at 1/2, 1/4 or 1/8 scale when that still leaves WORKING_SIDE pixels.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=PILLOW_FORMATS)  # Pillow knows many more
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(str(e)) from e
    except (OSError, ValueError, SyntaxError) as e:
        # Pillow signals an unknown format with UnidentifiedImageError (an OSError).
        raise UnreadableImage(f"not a readable image (supported: {', '.join(PILLOW_FORMATS)})") from e
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"image is {width}x{height} = {width * height} pixels, "
                            f"over the limit of {max_pixels}")
    if width < 1 or height < 1:
        raise UnreadableImage(f"image has no pixels ({width}x{height})")
    if image.format == "JPEG":
        # libjpeg decodes at a fraction of the size: far faster and smaller for phone photos.
        image.draft("RGB" if image.mode != "L" else "L", (WORKING_SIDE, WORKING_SIDE))
    if (cost := decode_bytes(image)) > MAX_DECODE_BYTES:
        raise ImageTooLarge(f"image is {width}x{height} {image.format} {image.mode}: decoding it "
                            f"would take {cost >> 20} MiB, over the limit of "
                            f"{MAX_DECODE_BYTES >> 20} MiB")
    return image


def load_image(image: Image.Image) -> Image.Image:
    """Decode the pixels of an opened image and apply its EXIF orientation (phone photos are
    often stored sideways). Animated images yield their first frame."""
    try:
        image.load()
        # In place: without an orientation to apply, exif_transpose would return a whole copy.
        ImageOps.exif_transpose(image, in_place=True)
        return image
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(str(e)) from e
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise UnreadableImage(f"damaged or truncated image: {e}") from e


def decode_bytes(image: Image.Image) -> int:
    """The memory decoding and shrinking an opened image holds at full size, in bytes: the
    decoded pixels, a converted copy when its mode cannot be resampled, the premultiplied copy
    resampling makes of an image with transparency, and libwebp's own buffers."""
    per_pixel = _stored_bytes(image.mode)
    working = _resampled_mode(image)
    if working != image.mode:
        per_pixel += _stored_bytes(working)
    if working in ALPHA_MODES:
        per_pixel += 4
    if image.format == "WEBP":
        per_pixel += 8  # libwebp's RGBA buffer and the bytes Pillow copies it from
    # Only EXIF read with the header: asking a PNG for more would decode it.
    if "exif" in image.info and image.getexif().get(EXIF_ORIENTATION, 1) != 1:
        per_pixel += _stored_bytes(image.mode)  # turning it makes a copy
    return image.width * image.height * per_pixel


def _stored_bytes(mode: str) -> int:
    """Bytes per pixel Pillow stores for `mode` (RGB included: it is kept as 4)."""
    return 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4


def _resampled_mode(image: Image.Image) -> str:
    """The mode `image` is shrunk in: its own, except palette and 1-bit images, which Pillow
    resamples by nearest neighbour (strokes would break up), so they become grey or RGBA first."""
    if image.mode in ("1", "P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        return "RGBA" if has_alpha else "L"
    return image.mode


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Luminance as a uint8 array, at most WORKING_SIDE on the longer side.

    The image is shrunk first, in its own mode, and every other step works on the small copy:
    a large upload never becomes more than one full-size copy, and never a float array.
    """
    if (mode := _resampled_mode(image)) != image.mode:
        image = image.convert(mode)
    image = _shrink(image)
    if image.mode in ALPHA_MODES:
        image = _flatten_transparency(image.convert("RGBA"))
    elif image.mode.startswith(("I", "F")):
        # 16 and 32-bit grey hold values above 255: scale them, do not clip them.
        values = np.asarray(image, dtype=np.float32)
        top = max(float(values.max()), 1.0)
        image = Image.fromarray((values * (255.0 / top)).astype(np.uint8))
    return np.asarray(image.convert("L"))


def _shrink(image: Image.Image) -> Image.Image:
    """`image` with its longer side at most WORKING_SIDE (box filter: every pixel counts)."""
    if max(image.size) <= WORKING_SIDE:
        return image
    scale = WORKING_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def _flatten_transparency(rgba: Image.Image) -> Image.Image:
    """Put a transparent drawing on a background that contrasts with its visible strokes.

    A canvas export is typically dark strokes on a fully transparent background whose hidden
    colour is arbitrary (often black): flattening onto white or black blindly can erase the ink.
    """
    pixels = np.asarray(rgba, dtype=np.float32)
    alpha = pixels[..., 3] / 255.0
    visible = alpha > 0.5
    if visible.all() or not visible.any():
        return rgba.convert("RGB")
    ink_luminance = pixels[..., :3][visible].mean()
    background = (0, 0, 0) if ink_luminance > 127 else (255, 255, 255)
    canvas = Image.new("RGB", rgba.size, background)
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    return canvas


def normalize_ink(gray: np.ndarray) -> np.ndarray:
    """Ink high on a zero background, the ink level at 255. Raises NoInk for a blank image.

    The corners of a photo or drawing are paper, whatever its colour: they tell whether the
    paper is light (then the image is inverted) and how bright it is across the page.
    """
    corners = corner_levels(gray)
    if np.median(corners) > 127:
        gray, corners = 255 - gray, 255 - corners
    ink = gray.astype(np.float32)
    ink -= paper_level(corners, gray.shape)
    np.maximum(ink, 0, out=ink)
    # The ink level is a high percentile rather than the maximum, so a few hot pixels of sensor
    # noise do not set it; a histogram finds it without sorting the image.
    cumulative = np.bincount(ink.astype(np.uint8).ravel(), minlength=256).cumsum()
    level = float(np.searchsorted(cumulative, INK_PERCENTILE * ink.size))
    if level < MIN_CONTRAST:
        raise NoInk("no ink found: the image is blank or has too little contrast to hold a digit")
    ink *= 255.0 / level
    return np.minimum(ink, 255.0, out=ink)


def corner_levels(gray: np.ndarray) -> np.ndarray:
    """The median grey level of each corner patch, as [[top left, top right], [bottom...]]."""
    height, width = gray.shape
    rows, cols = max(1, round(height * CORNER)), max(1, round(width * CORNER))
    return np.array([[np.median(gray[:rows, :cols]), np.median(gray[:rows, -cols:])],
                     [np.median(gray[-rows:, :cols]), np.median(gray[-rows:, -cols:])]],
                    dtype=np.float32)


def paper_level(corners: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The paper's brightness at every pixel of an image of `shape`, from its corner levels.

    Light falling off across a page is close to a plane: the level between the corners is
    interpolated bilinearly. Evenly lit paper gets one level, a (1, 1) array that broadcasts.
    """
    if np.ptp(corners) <= EVEN_LIGHT:
        return np.full((1, 1), np.median(corners), dtype=np.float32)
    height, width = shape
    across = np.linspace(0.0, 1.0, width, dtype=np.float32)
    down = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    top = corners[0, 0] + (corners[0, 1] - corners[0, 0]) * across
    bottom = corners[1, 0] + (corners[1, 1] - corners[1, 0]) * across
    return top + (bottom - top) * down


def center_in_field(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink, bring strokes to MNIST's width, scale the longer side to BOX px, and
    centre the mass in a FIELD x FIELD array."""
    digit = to_box(_normalize_stroke(crop_to_ink(ink)), BOX)
    top = digit.max()
    if top > 0:  # thin strokes grey out when shrunk; MNIST's ink reaches full intensity
        digit *= 255.0 / top

    # The centre of mass from the row and column sums: two short dot products, not two images.
    total = float(digit.sum(dtype=np.float64))
    center_y = float(digit.sum(axis=1, dtype=np.float64) @ np.arange(digit.shape[0])) / total
    center_x = float(digit.sum(axis=0, dtype=np.float64) @ np.arange(digit.shape[1])) / total
    # MNIST's centres of mass sit at (14, 14) in pixel indices; clamped so the digit stays whole.
    top_row = int(np.clip(round(FIELD / 2 - center_y), 0, FIELD - digit.shape[0]))
    left_col = int(np.clip(round(FIELD / 2 - center_x), 0, FIELD - digit.shape[1]))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top_row:top_row + digit.shape[0], left_col:left_col + digit.shape[1]] = digit
    return np.rint(field).astype(np.uint8)


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The ink's bounding box: pixels at INK_THRESHOLD of the ink level or above. Raises NoInk."""
    mask = ink >= INK_THRESHOLD * 255.0
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise NoInk("no ink found: no pixel stands out from the background")
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def to_box(image: np.ndarray, side: int,
            resample: Image.Resampling = Image.Resampling.LANCZOS) -> np.ndarray:
    """`image` resized so its longer side is `side` px, keeping the aspect ratio (antialiased)."""
    height, width = image.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).resize(size, resample)
    return np.asarray(resized, dtype=np.float32)


def _normalize_stroke(crop: np.ndarray) -> np.ndarray:
    """The cropped digit at STROKE_BOX px, its strokes thickened if thinner than MIN_STROKE.

    Bilinear is enough for this intermediate size (it is measured and dilated, not shown), and
    three times cheaper than the final Lanczos.
    """
    digit = to_box(crop, STROKE_BOX, Image.Resampling.BILINEAR)
    width = stroke_width(digit >= 128)
    radius = int(round((TARGET_STROKE - width) / 2))
    if width >= MIN_STROKE or radius < 1:
        return digit
    return dilate(_pad(digit, radius), radius)


def _pad(image: np.ndarray, margin: int) -> np.ndarray:
    """`image` in a border of `margin` zeros (np.pad's generality costs more than the copy)."""
    padded = np.zeros((image.shape[0] + 2 * margin, image.shape[1] + 2 * margin), image.dtype)
    padded[margin:margin + image.shape[0], margin:margin + image.shape[1]] = image
    return padded


def stroke_width(ink: np.ndarray) -> float | np.ndarray:
    """Mean width of the strokes of a binary image, or of each of a batch (..., rows, columns):
    twice the area over the boundary's length.

    A stroke of width w and length L covers w*L pixels and has 2L of edge: 2 * area / edge = w.
    The edge is counted as the ink pixels with a blank 4-neighbour.
    """
    rows, columns = ink.shape[-2:]
    padded = np.zeros((*ink.shape[:-2], rows + 2, columns + 2), dtype=bool)
    padded[..., 1:-1, 1:-1] = ink
    inner = (padded[..., 1:-1, 1:-1] & padded[..., :-2, 1:-1] & padded[..., 2:, 1:-1]
             & padded[..., 1:-1, :-2] & padded[..., 1:-1, 2:])
    edge = (ink & ~inner).sum(axis=(-2, -1))
    return 2.0 * ink.sum(axis=(-2, -1)) / np.maximum(edge, 1)


def dilate(image: np.ndarray, radius: int) -> np.ndarray:
    """Grey-level dilation by a (2 radius + 1) square: a max filter, rows then columns."""
    height, width = image.shape
    padded = _pad(image, radius)
    rows = np.maximum.reduce([padded[:, i:i + width] for i in range(2 * radius + 1)])
    return np.maximum.reduce([rows[i:i + height] for i in range(2 * radius + 1)])


def image_ink(image: Image.Image) -> np.ndarray:
    """A decoded image's ink: grayscale, ink high on a zero background, the printed lines of ruled
    paper or a form's box erased (shared/lines.py). Every recipe and /read start from it, so an
    upload's ink is found once for both (shared.recipes.Recipe.from_ink)."""
    return remove_lines(normalize_ink(to_grayscale(image)), INK_THRESHOLD * 255.0)


def image_to_mnist(image: Image.Image) -> np.ndarray:
    """A decoded image as a (28, 28) uint8 MNIST digit: white ink on black, centred."""
    return center_in_field(image_ink(image))


def bytes_to_mnist(data: bytes, max_pixels: int) -> np.ndarray:
    """Encoded image bytes as a (28, 28) uint8 MNIST digit. Raises an ImageError subclass."""
    return image_to_mnist(decode_image(data, max_pixels))
