"""Recipes: how a photo or drawing becomes a model's input, one recipe per kind of training data.

A network reads digits only in the form its training data had, so an upload has to be brought to
that form by the steps that made the data. Two forms exist here:

- "mnist": MNIST's 28x28 grey levels 0-255, ink high, the digit's longer side 20 px, its centre
  of mass at the centre of the field (the steps are shared/preprocess.py's);
- "optdigits": scikit-learn's 8x8 digits (UCI "optdigits", `--dataset digits`). NIST's programs
  normalised each digit to a 32x32 black-and-white bitmap, then the ink pixels of every 4x4 block
  were counted: 8x8 counts from 0 to 16. An upload gets the same: its ink cut out and fitted into
  32x32 (longer side 32, centred), made black and white, its strokes thickened to the data set's
  ink density (below), and the blocks counted.

The trainer names the recipe of its data in the bundle's manifest (`input.preprocessing.recipe`);
the service looks the name up here. A recipe states what it produces (image shape, value range),
and bundle verification refuses a manifest whose input disagrees with its recipe's, so the
service can never feed a model images of another shape or scale. Adding a recipe is one entry in
RECIPES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from shared.preprocess import (
    BOX,
    FIELD,
    center_in_field,
    crop_to_ink,
    decode_image,
    image_ink,
    to_box,
)

OPTDIGITS_BITMAP = 32   # side of the black-and-white bitmap whose blocks are counted
OPTDIGITS_BLOCK = 4     # 4x4 blocks: a 32x32 bitmap gives 8x8 counts of 0-16
# The share of the bitmap that is ink, averaged over scikit-learn's 1,797 digits: 0.305, and
# 0.30-0.32 for every class alike. The data set's strokes are thick (a tenth of the digit's
# height); a thin pen line on a canvas is thickened until the upload is as dark as the data.
OPTDIGITS_INK = 0.305
OPTDIGITS_MAX_THICKENING = 8  # pixels added to each side of a stroke, at most


@dataclass(frozen=True)
class Recipe:
    """One way of turning a decoded image into model input, and what it produces."""

    name: str
    image_shape: tuple[int, int]        # (rows, columns) of the result
    value_range: tuple[float, float]    # its values' range, ink high
    description: str                    # the steps in words, written into manifests
    # The steps after an image's ink is found (shared.preprocess.image_ink): for one digit, or
    # for each part of ink found once for a whole image (shared/segment.py).
    from_ink: Callable[[np.ndarray], np.ndarray]

    def from_image(self, image: Image.Image) -> np.ndarray:
        """A decoded image as an `image_shape` array. Raises an ImageError subclass."""
        return self.from_ink(image_ink(image))

    def from_bytes(self, data: bytes, max_pixels: int) -> np.ndarray:
        """Encoded image bytes as an `image_shape` array. Raises an ImageError subclass."""
        return self.from_image(decode_image(data, max_pixels))

    def to_dict(self) -> dict[str, str]:
        """The manifest's `input.preprocessing` section."""
        return {"recipe": self.name, "description": self.description}


def ink_to_optdigits(ink: np.ndarray) -> np.ndarray:
    """Ink (high, 0-255, on a zero background) as optdigits' (8, 8) counts."""
    bitmap = fit_bitmap(crop_to_ink(ink), OPTDIGITS_BITMAP)
    bitmap = thicken(bitmap, OPTDIGITS_INK)
    blocks = OPTDIGITS_BITMAP // OPTDIGITS_BLOCK
    counts = bitmap.reshape(blocks, OPTDIGITS_BLOCK, blocks, OPTDIGITS_BLOCK).sum(axis=(1, 3))
    return counts.astype(np.uint8)


def fit_bitmap(crop: np.ndarray, side: int) -> np.ndarray:
    """Ink cropped to its box, scaled so its longer side is `side` (antialiased), made black
    and white at half its ink level, and centred in a `side` x `side` boolean bitmap."""
    digit = to_box(crop, side)
    # Thin strokes grey out when shrunk: half of the brightest pixel left, not of 255.
    ink = digit >= 0.5 * max(int(digit.max()), 1)
    bitmap = np.zeros((side, side), dtype=bool)
    top, left = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
    bitmap[top:top + ink.shape[0], left:left + ink.shape[1]] = ink
    return bitmap


def thicken(bitmap: np.ndarray, ink_share: float) -> np.ndarray:
    """Grow the strokes a pixel at a time (to the 4 neighbours) while that brings the share of
    ink pixels closer to `ink_share`; never thins."""
    for _ in range(OPTDIGITS_MAX_THICKENING):
        grown = bitmap.copy()
        grown[1:] |= bitmap[:-1]
        grown[:-1] |= bitmap[1:]
        grown[:, 1:] |= bitmap[:, :-1]
        grown[:, :-1] |= bitmap[:, 1:]
        if abs(grown.mean() - ink_share) >= abs(bitmap.mean() - ink_share):
            break
        bitmap = grown
    return bitmap


MNIST = Recipe(
    name="mnist",
    image_shape=(FIELD, FIELD),
    value_range=(0.0, 255.0),
    description=(f"MNIST's form: grayscale, ink high (inverted on light paper, the paper's "
                 f"brightness subtracted), cropped to the ink, longer side scaled to {BOX} px, "
                 f"pasted into {FIELD}x{FIELD} with its centre of mass in the middle; grey levels "
                 "0-255"),
    from_ink=center_in_field,
)
OPTDIGITS = Recipe(
    name="optdigits",
    image_shape=(OPTDIGITS_BITMAP // OPTDIGITS_BLOCK,) * 2,
    value_range=(0.0, float(OPTDIGITS_BLOCK ** 2)),
    description=(f"UCI optdigits' form (scikit-learn's 8x8 digits): grayscale, ink high, cropped "
                 f"to the ink, longer side scaled to {OPTDIGITS_BITMAP} px and centred in a "
                 f"{OPTDIGITS_BITMAP}x{OPTDIGITS_BITMAP} black-and-white bitmap, strokes thickened "
                 f"until {OPTDIGITS_INK:.1%} of it is ink (the data set's average), ink pixels "
                 f"counted in each {OPTDIGITS_BLOCK}x{OPTDIGITS_BLOCK} block: counts 0-"
                 f"{OPTDIGITS_BLOCK ** 2}"),
    from_ink=ink_to_optdigits,
)
RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in (MNIST, OPTDIGITS)}
