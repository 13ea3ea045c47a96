"""MNIST test digits redrawn as a person would send them: black ink on white paper, 100-300 px,
off-centre on a larger canvas, saved as PNG, JPEG or RGB PNG by Pillow."""

from __future__ import annotations

import numpy as np
from PIL import Image

from harness.images import drawn_digit, encode

FORMATS = ("png", "jpeg", "rgb")


def as_person_would_send(digit: np.ndarray, rng: np.random.Generator, kind: str) -> bytes:
    """`digit` (28, 28) uint8 MNIST, white on black, as encoded image bytes of kind `kind`."""
    side = int(rng.integers(100, 301))
    width, height = side + int(rng.integers(20, 300)), side + int(rng.integers(20, 300))
    at = (int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1)))
    paper = drawn_digit(digit, side, (width, height), at)
    if kind == "png":
        return encode(paper)
    if kind == "jpeg":
        return encode(paper, "JPEG", quality=85)
    if kind == "rgb":  # blue ballpoint on slightly warm paper
        return encode(Image.merge("RGB", [paper.point(lambda v: v * 0.95 + 10),
                                          paper.point(lambda v: v * 0.9 + 15),
                                          paper.point(lambda v: v * 0.6 + 90)]))
    raise ValueError(kind)
