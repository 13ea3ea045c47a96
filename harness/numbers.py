"""Numbers composed out of MNIST test digits, as a person would write them on paper: the digits
side by side on a jittered baseline, with gaps from clearly apart to overlapping (the strokes of
neighbours may touch or cross), dark ink on white paper. For tests and for choosing the
segmenter's settings; never from the numbers/ evaluation set."""

from __future__ import annotations

import numpy as np
from PIL import Image

from shared.preprocess import crop_to_ink

GAPS = (-0.08, 0.45)  # the gap between neighbours, times the digits' height


def compose(digits: np.ndarray, rng: np.random.Generator, height: int = 80,
            gaps: tuple[float, float] = GAPS) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """MNIST digits (n, 28, 28) written left to right as one image (dark ink on white paper),
    and each digit's box (x, y, width, height) in it."""
    scale = height / 20.0  # MNIST's digits are 20 px on their longer side
    crops = [np.asarray(Image.fromarray(crop_to_ink(d.astype(np.float32)).astype(np.uint8)).resize(
        (max(1, round(crop_to_ink(d.astype(np.float32)).shape[1] * scale)),
         max(1, round(crop_to_ink(d.astype(np.float32)).shape[0] * scale))), Image.Resampling.BICUBIC))
        for d in digits]
    margin = height // 2
    width = sum(c.shape[1] for c in crops) + int(gaps[1] * height) * len(crops) + 2 * margin
    canvas = np.zeros((2 * height + 2 * margin, width), dtype=np.float32)
    boxes, x = [], margin
    for i, crop in enumerate(crops):
        if i:
            x += int(round(rng.uniform(*gaps) * height))
        y = margin + height - crop.shape[0] + int(round(rng.normal(0, 0.04) * height))
        region = canvas[y:y + crop.shape[0], x:x + crop.shape[1]]
        np.maximum(region, crop, out=region)
        boxes.append((x, y, crop.shape[1], crop.shape[0]))
        x += crop.shape[1]
    right = x + margin
    return Image.fromarray((255 - canvas[:, :right]).astype(np.uint8)), boxes


def touching(boxes: list[tuple[int, int, int, int]], height: int = 80) -> bool:
    """Whether two neighbours' boxes touch or overlap, as numbers/'s `touching` column says."""
    return any(b[0] < a[0] + a[2] + 0.02 * height for a, b in zip(boxes, boxes[1:]))
