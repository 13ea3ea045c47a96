"""Handwriting styles MNIST lacks, drawn onto its digits while training.

MNIST's digits were written by American Census Bureau employees and high-school students. Other
people, and anyone writing fast with a stylus or a finger, make strokes it barely holds:

- the continental **1**, begun with a long up-stroke from the lower left (a flag);
- the **7** with a bar across its stem, which the writers of that 1 add so the two differ;
- the **9** whose stem bends round to the left part way down, in a curl.

A network that never saw them reads that 1 as a 7 and the curled 9 as a 3 (the README's "Reading
real handwriting" has the figures). Distortions bend and stretch strokes but cannot add one, so
these styles are drawn onto MNIST's own digits of the style's class. Each stroke is anchored on
the digit's own ink (the top of the 1, the middle of the 7's stem, the 9's stem part way down,
below which the stem is erased) and is as wide as the digit's pen; then the digit is scaled and
moved back to its former size and centre of mass, where MNIST's normalisation had placed it.

Each style is one function that returns its Stroke for a whole batch of digits of its class:
adding a style is one function and one entry in STYLES. Everything is vectorised over the batch,
and the random numbers come from the generator passed in. Training draws a styled copy of every
such digit once (StyledCopies) and swaps a share of them in at each mini-batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from shared.preprocess import stroke_width
from trainer.augment import bilinear_sample

MARGIN = 6            # pixels of room around the field for strokes that reach past its edge
INK = 0.5             # share of a digit's brightest level that counts as ink when measuring it
FLAG_ANGLE = (25.0, 55.0)     # degrees below the horizontal of the 1's flag
FLAG_LENGTH = (0.25, 0.6)     # the flag's length, in digit heights
BAR_HEIGHT = (0.45, 0.65)     # where the 7's bar crosses the stem, in heights from the top
BAR_HALF_LENGTH = (0.2, 0.35)  # half the bar, in digit heights
BAR_TILT = 8.0                # degrees, either way
CURL_BEND = (0.55, 0.75)      # where the 9's stem bends, in heights from the top
CURL_REACH = (0.8, 1.2)       # how low the curl reaches, as a share of the stem it replaces
CURL_SWEEP = (90.0, 200.0)    # degrees of arc the curl turns through
CURL_POINTS = 7               # the curl is drawn as this many points joined by straight segments


class Stroke(NamedTuple):
    """What a style does to n digits: a polyline drawn on each, and optionally the rows below
    which each digit's own ink is erased first (a stroke that replaces part of the digit)."""

    points: np.ndarray                     # (n, k, 2): (row, column) of each point
    erase_below: np.ndarray | None = None  # (n,) rows


@dataclass
class Ink:
    """Where a batch of digits has ink: the measurements the styles anchor their strokes on."""

    mask: np.ndarray     # (n, rows, columns) bool
    top: np.ndarray      # (n,) first row with ink
    bottom: np.ndarray   # (n,) last row with ink
    extent: np.ndarray   # (n,) the longer side of the ink's bounding box, in pixels
    center: np.ndarray   # (n, 2) centre of mass (row, column), the grey levels as weights
    pen: np.ndarray      # (n,) stroke width in pixels

    @classmethod
    def measure(cls, images: np.ndarray) -> Ink:
        mask = images >= INK * images.max(axis=(1, 2), keepdims=True)
        rows, columns = mask.any(axis=2), mask.any(axis=1)
        top, left = rows.argmax(axis=1), columns.argmax(axis=1)
        bottom = rows.shape[1] - 1 - rows[:, ::-1].argmax(axis=1)
        right = columns.shape[1] - 1 - columns[:, ::-1].argmax(axis=1)
        extent = np.maximum(bottom - top, right - left).astype(np.float32) + 1
        row_index, column_index = np.indices(images.shape[1:], dtype=np.float32)
        total = images.sum(axis=(1, 2))
        center = np.stack([(images * row_index).sum(axis=(1, 2)) / total,
                           (images * column_index).sum(axis=(1, 2)) / total], -1)
        return cls(mask, top, bottom, extent, center, stroke_width(mask))

    @property
    def height(self) -> np.ndarray:
        return (self.bottom - self.top).astype(np.float32)

    def column_between(self, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        """The mean column of each digit's ink in rows first..last (inclusive); of all its ink
        where that band has none."""
        rows = np.arange(self.mask.shape[1])[None, :, None]
        band = self.mask & (rows >= first[:, None, None]) & (rows <= last[:, None, None])
        empty = ~band.any(axis=(1, 2))
        band[empty] = self.mask[empty]
        columns = np.arange(self.mask.shape[2], dtype=np.float32)
        return (band * columns).sum(axis=(1, 2)) / band.sum(axis=(1, 2))


def flag(ink: Ink, rng: np.random.Generator) -> Stroke:
    """The continental 1's up-stroke: from the lower left, up to the top of the stem."""
    n = len(ink.top)
    angle = np.deg2rad(rng.uniform(*FLAG_ANGLE, n))
    length = rng.uniform(*FLAG_LENGTH, n) * ink.height
    top_row = ink.top + ink.pen / 2
    top_column = ink.column_between(ink.top, ink.top + 1)
    start = np.stack([top_row + length * np.sin(angle), top_column - length * np.cos(angle)], -1)
    return Stroke(np.stack([start, np.stack([top_row, top_column], -1)], axis=1))


def crossbar(ink: Ink, rng: np.random.Generator) -> Stroke:
    """A short bar across the 7's stem, about halfway down."""
    n = len(ink.top)
    row = np.round(ink.top + rng.uniform(*BAR_HEIGHT, n) * ink.height).astype(int)
    half = rng.uniform(*BAR_HALF_LENGTH, n) * ink.height
    tilt = np.deg2rad(rng.uniform(-BAR_TILT, BAR_TILT, n))
    middle = np.stack([row, ink.column_between(row, row)], -1).astype(np.float32)
    middle[:, 1] += rng.uniform(-0.15, 0.15, n) * half
    reach = np.stack([half * np.sin(tilt), half * np.cos(tilt)], -1)
    return Stroke(np.stack([middle - reach, middle + reach], axis=1))


def curl(ink: Ink, rng: np.random.Generator) -> Stroke:
    """The 9's stem bent round to the left from part way down: the stem below the bend is erased
    and an arc drawn from the bend, reaching about as low as the stem did."""
    n = len(ink.top)
    bend = np.round(ink.top + rng.uniform(*CURL_BEND, n) * ink.height).astype(int)
    radius = np.maximum((ink.bottom - bend) * rng.uniform(*CURL_REACH, n), 1.0)
    sweep = np.deg2rad(rng.uniform(*CURL_SWEEP, n))
    bend_column = ink.column_between(bend - 1, bend)
    # The arc's centre is one radius left of the bend; at angle 0 the pen is at the bend, moving
    # down, and as the angle grows it swings down, left and back up.
    angle = np.linspace(0.0, 1.0, CURL_POINTS)[None, :] * sweep[:, None]
    rows = bend[:, None] + radius[:, None] * np.sin(angle)
    columns = (bend_column - radius)[:, None] + radius[:, None] * np.cos(angle)
    return Stroke(np.stack([rows, columns], -1), erase_below=bend)


# digit -> the stroke that draws its style on n digits of that class
STYLES: dict[int, Callable[[Ink, np.random.Generator], Stroke]] = {
    1: flag,
    7: crossbar,
    9: curl,
}


@dataclass
class StyledCopies:
    """A styled copy of every training digit that has a style, drawn once before training; each
    mini-batch then shows each such digit's copy instead of it with probability `share`, so the
    network meets both forms of the same digit across epochs."""

    share: float
    row: np.ndarray     # (n,) the row in `images` of each training digit's copy; -1: no style
    images: np.ndarray  # (copies, features)

    CHUNK = 1024  # digits drawn at once: bounds the memory of the distance computations

    @classmethod
    def draw(cls, x: np.ndarray, digits: np.ndarray, image_shape: tuple[int, int], share: float,
             rng: np.random.Generator) -> StyledCopies:
        """Copies of the rows of `x` (n, features) whose label in `digits` has a style."""
        row = np.full(len(x), -1)
        images: list[np.ndarray] = []
        for digit, style in STYLES.items():
            rows = np.flatnonzero(digits == digit)
            row[rows] = np.arange(rows.size) + sum(map(len, images))
            for start in range(0, rows.size, cls.CHUNK):
                chunk = x[rows[start:start + cls.CHUNK]].reshape(-1, *image_shape)
                images.append(draw_style(chunk, style, rng).reshape(len(chunk), -1))
        return cls(share, row, np.concatenate(images) if images else x[:0])

    def swap_in(self, batch: np.ndarray, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """`batch` (the rows `idx` of the training data) with copies swapped in, in place."""
        copy = self.row[idx]
        chosen = (copy >= 0) & (rng.random(len(idx)) < self.share)
        batch[chosen] = self.images[copy[chosen]]
        return batch


def draw_style(images: np.ndarray, style: Callable[[Ink, np.random.Generator], Stroke],
               rng: np.random.Generator) -> np.ndarray:
    """Each image with the style's stroke added, back at its former size and centre of mass."""
    n, height, width = images.shape
    canvas = np.zeros((n, height + 2 * MARGIN, width + 2 * MARGIN), dtype=np.float32)
    canvas[:, MARGIN:-MARGIN, MARGIN:-MARGIN] = images
    level = canvas.max(axis=(1, 2))
    before = Ink.measure(canvas)
    stroke = style(before, rng)
    if stroke.erase_below is not None:
        canvas[np.arange(canvas.shape[1])[None, :] > stroke.erase_below[:, None]] = 0.0
    drawn = draw_polylines(canvas.shape[1:], stroke.points, before.pen)
    np.maximum(canvas, drawn * level[:, None, None], out=canvas)
    return renormalise(canvas, before, Ink.measure(canvas))


def draw_polylines(shape: tuple[int, int], points: np.ndarray, pen: np.ndarray) -> np.ndarray:
    """(n, rows, columns) images of one polyline each (points (n, k, 2)), `pen` pixels wide with
    round ends, antialiased over one pixel: ink 1 within pen/2 of the line, fading to 0."""
    rows, columns = np.indices(shape, dtype=np.float32).reshape(2, 1, -1)
    points = points.astype(np.float32)
    squared = np.full((len(points), rows.size), np.inf, dtype=np.float32)
    for k in range(points.shape[1] - 1):
        (start_row, start_col), (end_row, end_col) = points[:, k, :, None].transpose(1, 0, 2), \
            points[:, k + 1, :, None].transpose(1, 0, 2)
        along_row, along_col = end_row - start_row, end_col - start_col
        off_row, off_col = rows - start_row, columns - start_col
        # The nearest point of the segment: the projection onto it, clamped to its ends.
        t = (off_row * along_row + off_col * along_col) / np.maximum(
            along_row * along_row + along_col * along_col, 1e-6)
        np.clip(t, 0.0, 1.0, out=t)
        off_row -= t * along_row
        off_col -= t * along_col
        np.minimum(squared, off_row * off_row + off_col * off_col, out=squared)
    ink = pen[:, None].astype(np.float32) / 2 + 0.5 - np.sqrt(squared)
    return np.clip(ink, 0.0, 1.0, out=ink).reshape(len(points), *shape)


def renormalise(canvas: np.ndarray, before: Ink, after: Ink,
                field: tuple[int, int] | None = None) -> np.ndarray:
    """The field inside the styled canvas's margin, scaled so the digit's longer side is as long
    as before the stroke was drawn, and moved so its centre of mass is where it was (MNIST put
    each digit's there). `field` (rows, columns) is the output's size: by default the canvas's
    less its margin."""
    scale = (before.extent / after.extent)[:, None, None]
    height, width = field or (canvas.shape[1] - 2 * MARGIN, canvas.shape[2] - 2 * MARGIN)
    rows, columns = np.indices((height, width), dtype=np.float32) + MARGIN
    # Output pixel p reads the styled canvas at after.center + (p - before.center) / scale.
    read_rows = after.center[:, 0, None, None] + (rows - before.center[:, 0, None, None]) / scale
    read_columns = (after.center[:, 1, None, None]
                    + (columns - before.center[:, 1, None, None]) / scale)
    return bilinear_sample(canvas, read_rows, read_columns)
