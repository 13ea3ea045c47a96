"""Reading a whole number: find every digit in an image and read them left to right.

1. The ink, as the single-digit path sees it: decode, orientation, grayscale, paper level and
   contrast (shared/preprocess.py), printed lines erased (shared/lines.py), then the pixels at
   INK_THRESHOLD of the ink level.
2. Connected pieces of ink (shared/components.py); specks too small to be part of a digit are
   dropped.
3. Fragments of one digit are merged: pieces that share most of their columns (a 5's flag over
   its body, the two strokes of a 4 or a crossed 7, a stroke broken by a light pen) are one
   group. Digits sit side by side, so two digits overlap by a sliver at most.
4. A group as wide as a digit or wider may hold several digits whose strokes touch: its
   candidate cuts are the columns where its ink is thinnest (minima of the column projection).
   Every run of consecutive slices between cuts is a candidate digit, read by the network
   through the model's own recipe: its ink went through the steps a single upload's goes
   through once, for the whole image (step 1), and each candidate then through the rest
   (`Recipe.from_ink`: crop, stroke width, scale, centre); a dynamic programme chooses the
   cuts whose digits the calibrated network reads with the highest joint probability. Each digit
   kept costs the prior odds of a cut (SPLIT_PRIOR), so that a digit is cut only when its
   parts read clearly better than the whole. Candidate digits must be shaped like one: at
   least MIN_HEIGHT of the line tall, at most MAX_DIGIT of it wide.

The work is bounded: at most MAX_DIGITS groups and MAX_CUTS candidate cuts per image (refused
beyond), and a candidate digit spans at most MAX_SPAN slices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

from shared.components import Component, RowRuns, components
from shared.model import Model
from shared.preprocess import (
    INK_THRESHOLD,
    ImageError,
    NoInk,
    decode_image,
    dilate,
    image_ink,
    stroke_width,
)
from shared.recipes import Recipe

MAX_DIGITS = 16       # digits (groups of ink) read in one image at most; more is refused
MAX_CUTS = 48         # candidate cuts in one image at most; more is refused
MAX_SPAN = 6          # slices between cuts that one candidate digit may span
SPECK = 0.02          # pieces with less than this share of the ink are noise, not strokes
MERGE_OVERLAP = 0.5   # pieces sharing this share of the narrower one's columns are one digit
SPLIT_FROM = 0.6      # groups at least this wide (times the line's height) may hold several
MIN_SLICE = 0.12      # a cut leaves at least this much (times the height) on either side
MAX_DIGIT = 1.1       # a candidate digit is at most this wide (times the height)
MIN_HEIGHT = 0.65     # and at least this tall: digits fill most of the line's height
CONNECTED = 0.9      # a cut part holds this share of its ink in one piece: cuts part digits,
                      # they do not leave a digit's tips on their own
NARROW = 0.3          # a candidate narrower than this (times the height) can only be a 1
CUT_DEPTH = 8.0       # a cut crosses at most this many stroke widths of ink
CROSSINGS = 3         # and at most this many strokes: one of each digit it parts, and a loop
SPLIT_PRIOR = 1.0     # prior odds of each cut made in a group (see step 4)
ONE_DIGIT = 0.9       # one piece no wider than this (times its height) is one digit, unread


class TooManyDigits(ImageError):
    """More digits or candidate cuts than one image may hold (MAX_DIGITS, MAX_CUTS)."""


@dataclass(frozen=True)
class Digit:
    label: int
    confidence: float                   # the calibrated probability of `label`
    box: tuple[int, int, int, int]      # x, y, width, height in the uploaded image's pixels
    probabilities: np.ndarray


@dataclass(frozen=True)
class Reading:
    digits: list[Digit]
    segmentation: float = 1.0  # the chosen cuts' share of the probability of all the cuts tried

    @property
    def text(self) -> str:
        return "".join(str(d.label) for d in self.digits)

    @property
    def confidence(self) -> float:
        """The probability that the whole string is right: that every digit is (the product of
        their calibrated probabilities) and that the cuts between them are."""
        return float(np.prod([d.confidence for d in self.digits]) * self.segmentation)


@dataclass
class Ink:
    """An image's ink at working size, its pieces, and the scale back to the upload's pixels."""

    level: np.ndarray                   # normalize_ink's result: ink high, 0-255
    pieces: list[Component]
    stroke: float                       # the strokes' mean width, in working pixels
    scale: tuple[float, float]          # (x, y) upload pixels per working pixel

    @cached_property
    def height(self) -> float:
        """The line's height: the median height of the pieces at least half as tall as the
        tallest (short fragments, such as a 5's flag, do not count)."""
        heights = np.array([p.height for p in self.pieces])
        return float(np.median(heights[heights >= heights.max() / 2]))


def find_ink(image: Image.Image, level: np.ndarray | None = None) -> Ink:
    """The ink of a decoded image and its pieces, specks dropped. Raises NoInk when blank.
    `level`: the image's ink (shared.preprocess.image_ink) when already found."""
    if level is None:
        level = image_ink(image)
    mask = level >= INK_THRESHOLD * 255.0
    pieces = components(mask)
    total = sum(p.area for p in pieces)
    pieces = [p for p in pieces if p.area >= SPECK * total]
    if not pieces:  # ink scattered in specks (noise), or nothing left once the lines are erased
        raise NoInk("no ink found: nothing but specks stands out from the background")
    scale = (image.width / level.shape[1], image.height / level.shape[0])
    return Ink(level, pieces, float(stroke_width(mask)), scale)


def group_fragments(pieces: list[Component]) -> list[list[Component]]:
    """Pieces joined into groups when they share MERGE_OVERLAP of the narrower one's columns
    (transitively), the groups in reading order (by the centre of their columns)."""
    groups = [[p] for p in pieces]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if _shared_columns(groups[i], groups[j]) >= MERGE_OVERLAP:
                    groups[i] += groups.pop(j)
                    merged = True
                    break
            if merged:
                break
    return sorted(groups, key=lambda g: _left(g) + _right(g))


def _left(group: list[Component]) -> int:
    return min(p.left for p in group)


def _right(group: list[Component]) -> int:
    return max(p.right for p in group)


def _shared_columns(a: list[Component], b: list[Component]) -> float:
    overlap = min(_right(a), _right(b)) - max(_left(a), _left(b))
    return overlap / max(1, min(_right(a) - _left(a), _right(b) - _left(b)))


def candidate_cuts(group: list[Component], height: float, stroke: float) -> list[int]:
    """Columns (image coordinates) where a group wider than SPLIT_FROM heights may be cut: the
    local minima of its column projection, smoothed over a stroke, that cross at most CUT_DEPTH
    strokes, at least MIN_SLICE heights from either end and from each other (thinnest first)."""
    left, right = _left(group), _right(group)
    if right - left < SPLIT_FROM * height:
        return []
    columns = np.concatenate([p.columns for p in group]) - left
    profile = np.bincount(columns, minlength=right - left).astype(np.float64)
    window = max(1, int(round(0.05 * height)))
    smooth = np.convolve(profile, np.ones(window) / window, mode="same")
    inner = np.arange(1, len(smooth) - 1)
    minima = inner[(smooth[inner] <= smooth[inner - 1]) & (smooth[inner] <= smooth[inner + 1])]
    gap = MIN_SLICE * height
    minima = minima[(minima >= gap) & (minima <= len(smooth) - gap)
                    & (smooth[minima] <= CUT_DEPTH * stroke)]
    minima = minima[_crossings(group, left + minima) <= CROSSINGS]
    kept: list[int] = []
    for column in minima[np.argsort(smooth[minima], kind="stable")]:
        if all(abs(column - k) >= gap for k in kept):
            kept.append(int(column))
    return sorted(left + k for k in kept)


@dataclass(frozen=True)
class Candidate:
    """A run of slices [first, last) of group `group`: the ink between two of its cuts."""

    group: int
    first: int
    last: int
    rows: np.ndarray
    columns: np.ndarray
    whole: bool = False  # the whole group: always a candidate, so a reading always exists

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of its ink, in working pixels."""
        top, left = int(self.rows.min()), int(self.columns.min())
        return left, top, int(self.columns.max()) + 1 - left, int(self.rows.max()) + 1 - top


def _crossings(group: list[Component], columns: np.ndarray) -> np.ndarray:
    """How many separate strokes (runs of ink down the column) each of `columns` crosses."""
    top = min(p.top for p in group)
    height = max(p.bottom for p in group) - top
    ink = np.zeros((height + 2, len(columns)), dtype=bool)
    for piece in group:
        hit = piece.columns[:, None] == columns[None, :]
        rows, which = np.nonzero(hit)
        ink[piece.rows[rows] - top + 1, which] = True
    return (np.diff(ink.astype(np.int8), axis=0) == 1).sum(axis=0)


def candidates(groups: list[list[Component]], cuts: list[list[int]], height: float) -> list[Candidate]:
    """Every candidate digit: the whole of each group, and runs of at most MAX_SPAN consecutive
    slices of a group at most MAX_DIGIT and at least MIN_HEIGHT heights in size that, with
    others, cover the whole group (no other can be read into a number)."""
    found = []
    for g, (group, group_cuts) in enumerate(zip(groups, cuts)):
        rows = np.concatenate([p.rows for p in group])
        columns = np.concatenate([p.columns for p in group])
        bounds = [_left(group), *group_cuts, _right(group)]
        slices = len(bounds) - 1
        found.append(Candidate(g, 0, slices, rows, columns, whole=True))
        # The pixels sorted by column once: the ink between two cuts is then one stretch of them.
        order = np.argsort(columns, kind="stable")
        rows, columns = rows[order], columns[order]
        at = np.searchsorted(columns, bounds)
        runs = _group_runs(rows, columns)
        # Only parts on a chain of parts from the group's first slice to its last can be chosen
        # (or count among the paths best_path weighs), so only they are read: those no chain
        # leads to are not even looked at, those that lead nowhere are dropped.
        parts, reached = [], {0}
        for first in range(slices):
            if first not in reached:
                continue
            for last in range(first + 1, min(first + MAX_SPAN, slices) + 1):
                if bounds[last] - bounds[first] > MAX_DIGIT * height:
                    break
                inside = slice(at[first], at[last])
                part = Candidate(g, first, last, rows[inside], columns[inside])
                if (first, last) != (0, slices) and _digit_shaped(part, runs, height):
                    parts.append(part)
                    reached.add(last)
        found += _reaching(parts, slices)
    return found


def _reaching(parts: list[Candidate], end: int) -> list[Candidate]:
    """The `parts` from which a chain of parts, each beginning where the one before ends, leads
    to the slice `end`."""
    reaching = {end}
    for part in sorted(parts, key=lambda part: -part.last):  # a part begins before it ends
        if part.last in reaching:
            reaching.add(part.first)
    return [part for part in parts if part.last in reaching]


def _group_runs(rows: np.ndarray, columns: np.ndarray) -> RowRuns:
    """The runs of a group's ink in each row, in image columns (shared.components.RowRuns)."""
    top, left = int(rows.min()), int(columns.min())
    mask = np.zeros((int(rows.max()) + 1 - top, int(columns.max()) + 1 - left), dtype=bool)
    mask[rows - top, columns - left] = True
    return RowRuns.of(mask, left)


def _digit_shaped(part: Candidate, runs: RowRuns, height: float) -> bool:
    """Whether a cut part could be a digit: at least MIN_HEIGHT tall, mostly in one piece.
    `runs`: its group's (_group_runs); the part's are theirs cut to its columns."""
    if len(part.rows) == 0 or np.ptp(part.rows) + 1 < MIN_HEIGHT * height:
        return False
    largest = runs.largest_area_between(int(part.columns.min()), int(part.columns.max()) + 1)
    return largest >= CONNECTED * len(part.rows)


def candidate_ink(level: np.ndarray, candidate: Candidate) -> np.ndarray:
    """A candidate's ink alone (ink high on a zero background), cut out of the image's ink level.
    Its pixels are grown by one so that the stroke's antialiased edge comes with it."""
    x, y, width, height = candidate.box
    mask = np.zeros((height + 2, width + 2), dtype=np.float32)
    mask[candidate.rows - y + 1, candidate.columns - x + 1] = 1.0
    mask = dilate(mask, 1)[1:-1, 1:-1]
    return level[y:y + height, x:x + width] * mask


def read_candidates(level: np.ndarray, found: list[Candidate], model: Model,
                    recipe: Recipe) -> np.ndarray:
    """The calibrated probabilities of every candidate (n, classes), each brought to the model's
    form by the recipe's steps after the ink (`Recipe.from_ink`: the ink was found once, for the
    whole image, by the steps a single upload's goes through); NaN rows for a candidate the
    recipe refuses (no ink left in it)."""
    size = int(np.prod(recipe.image_shape))
    inputs = np.zeros((len(found), size), dtype=np.float32)
    refused = np.zeros(len(found), dtype=bool)
    for i, candidate in enumerate(found):
        try:
            inputs[i] = recipe.from_ink(candidate_ink(level, candidate)).reshape(size)
        except ImageError:
            refused[i] = True
    proba = model.predict_proba(inputs)
    proba[refused] = np.nan
    return proba


def best_path(scores: dict[tuple[int, int], float], slices: int) -> tuple[list[tuple[int, int]], float]:
    """The runs [first, last) that cover slices 0..slices with the highest total score (a
    dynamic programme over the cuts; the whole, when no run of finite score covers them), and
    that path's share of all the paths' exp(score): how clearly the chosen cuts beat the others."""
    best = np.full(slices + 1, -np.inf)
    total = np.full(slices + 1, -np.inf)  # log of the sum over all paths
    best[0] = total[0] = 0.0
    back = np.zeros(slices + 1, dtype=int)
    for (first, last), score in sorted(scores.items(), key=lambda item: item[0][1]):
        total[last] = np.logaddexp(total[last], total[first] + score)
        if best[first] + score > best[last]:
            best[last], back[last] = best[first] + score, first
    if not np.isfinite(best[slices]):
        # No way to cut it into digit-shaped parts: read whole, as a guess (wider than a digit).
        return [(0, slices)], 0.0
    path, last = [], slices
    while last > 0:
        path.append((int(back[last]), last))
        last = back[last]
    return path[::-1], float(np.exp(best[slices] - total[slices]))


def read_number(image: Image.Image, model: Model, recipe: Recipe) -> Reading:
    """Every digit of a decoded image, left to right. Raises an ImageError subclass: NoInk for a
    blank image, TooManyDigits beyond MAX_DIGITS or MAX_CUTS."""
    return read_ink(find_ink(image), model, recipe)


def read_unless_single(image: Image.Image, model: Model, recipe: Recipe,
                       level: np.ndarray | None = None) -> Reading | None:
    """`read_number` of a decoded image, or None when its ink is one piece no wider than
    ONE_DIGIT heights: one digit, found without running the network (a single upload's usual
    case: a single digit is seldom wider than tall, two side by side are). Raises as
    `read_number`. `level` as find_ink's."""
    ink = find_ink(image, level)
    groups = group_fragments(ink.pieces)
    if len(groups) == 1 and _right(groups[0]) - _left(groups[0]) <= ONE_DIGIT * ink.height:
        return None
    return read_ink(ink, model, recipe)


def read_ink(ink: Ink, model: Model, recipe: Recipe) -> Reading:
    """`read_number` of an image's ink."""
    groups = group_fragments(ink.pieces)
    if len(groups) > MAX_DIGITS:
        raise TooManyDigits(f"{len(groups)} separate marks found, over the limit of {MAX_DIGITS} "
                            "digits per image")
    cuts = [candidate_cuts(group, ink.height, ink.stroke) for group in groups]
    if sum(map(len, cuts)) > MAX_CUTS:
        raise TooManyDigits(f"{sum(map(len, cuts))} candidate cuts between touching digits, over "
                            f"the limit of {MAX_CUTS} per image")
    found = candidates(groups, cuts, ink.height)
    proba = read_candidates(ink.level, found, model, recipe)
    scores = _scores(found, proba, model, ink.height)
    digits, segmentation = [], 1.0
    for g, group_cuts in enumerate(cuts):
        chosen = {(c.first, c.last): (i, c) for i, c in enumerate(found) if c.group == g}
        path, share = best_path({key: scores[i] for key, (i, _) in chosen.items()},
                                len(group_cuts) + 1)
        digits += [_digit(ink, *chosen[key], proba, model) for key in path]
        segmentation *= share
    if len(digits) > MAX_DIGITS:
        raise TooManyDigits(f"{len(digits)} digits found, over the limit of {MAX_DIGITS} per image")
    return Reading(digits, segmentation)


def _scores(found: list[Candidate], proba: np.ndarray, model: Model, height: float) -> np.ndarray:
    """Each candidate's log probability as a digit, with the prior odds of the cut that made it:
    -inf for one the recipe refused and for a narrow one that does not read as a 1."""
    best = np.nan_to_num(proba, nan=0.0).max(axis=1)
    labels = np.asarray(model.classes)[np.nan_to_num(proba, nan=0.0).argmax(axis=1)]
    narrow = np.array([c.box[2] < NARROW * height and not c.whole for c in found])
    wide = np.array([c.box[2] > MAX_DIGIT * height for c in found])
    with np.errstate(divide="ignore"):
        scores = np.log(best) + np.log(SPLIT_PRIOR)
    scores[(narrow & (labels != 1)) | wide] = -np.inf
    return scores


def _digit(ink: Ink, index: int, candidate: Candidate, proba: np.ndarray, model: Model) -> Digit:
    x, y, width, height = candidate.box
    sx, sy = ink.scale
    box = (int(x * sx), int(y * sy), max(1, round(width * sx)), max(1, round(height * sy)))
    row = proba[index]
    best = int(np.argmax(row))
    return Digit(model.classes[best], float(row[best]), box, row)


def read_bytes(data: bytes, max_pixels: int, model: Model, recipe: Recipe) -> Reading:
    """`read_number` of encoded image bytes. Raises an ImageError subclass."""
    return read_number(decode_image(data, max_pixels), model, recipe)
