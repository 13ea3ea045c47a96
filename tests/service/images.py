"""MNIST test digits redrawn as a person would send them: black ink on white paper, 100-300 px,
off-centre on a larger canvas, saved as PNG, JPEG or RGB PNG by Pillow."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

FORMATS = ("png", "jpeg", "rgb")


def as_person_would_send(digit: np.ndarray, rng: np.random.Generator, kind: str) -> bytes:
    """`digit` (28, 28) uint8 MNIST, white on black, as encoded image bytes of kind `kind`."""
    side = int(rng.integers(100, 301))
    ink = Image.fromarray(255 - digit).resize((side, side), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (side + int(rng.integers(20, 300)), side + int(rng.integers(20, 300))), 255)
    canvas.paste(ink, (int(rng.integers(0, canvas.width - side + 1)),
                       int(rng.integers(0, canvas.height - side + 1))))
    buffer = io.BytesIO()
    if kind == "png":
        canvas.save(buffer, "PNG")
    elif kind == "jpeg":
        canvas.save(buffer, "JPEG", quality=85)
    elif kind == "rgb":  # blue ballpoint on slightly warm paper
        rgb = Image.merge("RGB", [canvas.point(lambda v: v * 0.95 + 10),
                                  canvas.point(lambda v: v * 0.9 + 15),
                                  canvas.point(lambda v: v * 0.6 + 90)])
        rgb.save(buffer, "PNG")
    else:
        raise ValueError(kind)
    return buffer.getvalue()


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()
