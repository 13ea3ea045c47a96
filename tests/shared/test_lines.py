"""shared/lines.py: printed lines (ruled and squared paper, a form's box) are erased before the
digit is cropped; the digit's own straight strokes and the strokes crossing the lines are not."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image, ImageDraw

from benchmarks.paper_photos import PAPERS, write_sets
from harness.images import encode
from shared.lines import remove_lines
from shared.preprocess import INK_THRESHOLD, image_to_mnist, normalize_ink, to_grayscale
from trainer.evaluate import read_folder

SIDE = 300
DIGIT_LEVEL = INK_THRESHOLD * 255.0
# Straight strokes, in a 300 x 300 page: (points of each stroke)
ONE = [[(150, 50), (150, 250)]]
FOUR = [[(170, 50), (80, 180), (215, 180)], [(170, 50), (170, 250)]]
SEVEN = [[(80, 55), (215, 55), (130, 250)]]
ZERO = [[(150, 50), (215, 100), (215, 200), (150, 250), (85, 200), (85, 100), (150, 50)]]
BLUE_RULE = (150, 180, 225)


def page(strokes: list, ruled: bool = False, squared: bool = False, box: bool = False,
         tilt: float = 0.0, size: tuple[int, int] = (SIDE, SIDE), pen: int = 12) -> Image.Image:
    """Dark-blue strokes `pen` px wide on white paper; faint blue rules 50 px apart (both ways for
    squared paper) or a dark printed box around the digit; the page turned by `tilt` degrees."""
    paper = Image.new("RGB", size, (250, 248, 240))
    draw = ImageDraw.Draw(paper)
    if ruled or squared:
        for y in range(25, size[1], 50):
            draw.line([(-50, y), (size[0] + 50, y)], fill=BLUE_RULE, width=2)
    if squared:
        for x in range(25, size[0], 50):
            draw.line([(x, -50), (x, size[1] + 50)], fill=BLUE_RULE, width=2)
    if box:
        draw.rectangle([30, 20, size[0] - 30, size[1] - 20], outline=(40, 40, 40), width=5)
    for stroke in strokes:
        draw.line(stroke, fill=(20, 40, 150), width=pen, joint="curve")
    return paper.rotate(tilt, Image.Resampling.BICUBIC, fillcolor=(250, 248, 240)) if tilt else paper


def ink_of(image: Image.Image) -> np.ndarray:
    return normalize_ink(to_grayscale(image))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two MNIST digits, the best over shifts of a pixel (a few pixels more or
    less of ink move the centre of mass, rounded to whole pixels)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return max(float(np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b.ravel())[0, 1])
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


@pytest.mark.parametrize("kind", ["ruled", "squared", "box"])
@pytest.mark.parametrize("tilt", [0.0, 3.0])
def test_printed_lines_are_erased(kind: str, tilt: float):
    lined = ink_of(page(ZERO, **{kind: True}, tilt=tilt))
    cleaned = remove_lines(lined, DIGIT_LEVEL)
    plain = ink_of(page(ZERO, tilt=tilt))
    # Nothing of the lines is left for the crop: the ink's box is the digit's.
    assert bounding_box(cleaned) == pytest.approx(bounding_box(plain), abs=3)
    assert bounding_box(lined) != pytest.approx(bounding_box(plain), abs=3)
    reference = image_to_mnist(page(ZERO, tilt=tilt))
    assert similarity(image_to_mnist(page(ZERO, **{kind: True}, tilt=tilt)), reference) > 0.97


def bounding_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    rows, columns = np.nonzero(ink >= DIGIT_LEVEL)
    return rows.min(), rows.max(), columns.min(), columns.max()


def test_a_stroke_crossing_the_rules_is_kept_whole():
    ink = ink_of(page(ONE, ruled=True))
    cleaned = remove_lines(ink, DIGIT_LEVEL)
    stem = (slice(50, 250), slice(146, 155))  # the middle of the 12 px stroke, top to bottom
    assert np.array_equal(cleaned[stem], ink[stem])
    assert (cleaned[stem] >= DIGIT_LEVEL).all()
    for rule in (75, 125, 175, 225):  # rules crossing the stem: gone beside it
        assert ink[rule, 20:120].max() >= 0.2 * 255 and cleaned[rule, 20:120].max() == 0


@pytest.mark.parametrize("strokes", [ONE, FOUR, SEVEN], ids=["1", "4", "7"])
def test_straight_strokes_of_a_digit_on_plain_paper_are_untouched(strokes):
    for tilt, pen in ((0.0, 12), (3.0, 12), (0.0, 4), (3.0, 4)):  # a thin pen draws like a printer
        ink = ink_of(page(strokes, tilt=tilt, pen=pen))
        assert np.array_equal(remove_lines(ink, DIGIT_LEVEL), ink)


@pytest.mark.parametrize("strokes", [ONE, FOUR, SEVEN], ids=["1", "4", "7"])
def test_tightly_cropped_digits_keep_their_strokes(strokes):
    """Cropped to its ink, a 7's bar spans the whole image, as a ruled line would."""
    for pen in (12, 6, 3):
        image = page(strokes, pen=pen)
        ink = np.asarray(image.convert("L")) < 200
        rows, columns = np.nonzero(ink)
        tight = image.crop((columns.min() - 1, rows.min() - 1, columns.max() + 2, rows.max() + 2))
        ink = ink_of(tight)
        assert np.array_equal(remove_lines(ink, DIGIT_LEVEL), ink)


@pytest.mark.parametrize("strokes", [ONE, FOUR, SEVEN], ids=["1", "4", "7"])
@pytest.mark.parametrize("kind", ["ruled", "box"])
def test_straight_strokes_survive_the_lines_around_them(strokes, kind):
    lined = image_to_mnist(page(strokes, **{kind: True}, tilt=2.0))
    assert similarity(lined, image_to_mnist(page(strokes, tilt=2.0))) > 0.95


def test_never_erases_everything():
    """A page of nothing but rules: one of them is taken for the digit and kept, so the crop
    still has ink (whether it is a digit at all is not this step's question)."""
    ink = ink_of(page([], ruled=True))
    left = remove_lines(ink, DIGIT_LEVEL) >= DIGIT_LEVEL
    rows = np.flatnonzero(left.any(axis=1))
    assert left.sum() >= 0.05 * (ink >= DIGIT_LEVEL).sum()
    assert rows.max() - rows.min() <= 5 and left.any(axis=0).all()  # one whole rule


def test_check_set_generator_photographs_each_digit_on_three_papers(tmp_path):
    source = tmp_path / "drawings"
    (source / "images").mkdir(parents=True)
    with open(source / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "index"])
        for index, (label, strokes) in enumerate([(1, ONE), (4, FOUR), (7, SEVEN)]):
            (source / "images" / f"d{index}.png").write_bytes(encode(page(strokes).convert("L")))
            writer.writerow([f"d{index}.png", label, index])
    folders = write_sets(source, tmp_path / "paper", count=2, seed=3)
    assert set(folders) == set(PAPERS)
    photos = {}
    for paper, folder in folders.items():
        images = read_folder(folder)
        assert len(images.paths) == 2 and set(images.labels) <= {1, 4, 7}
        photos[paper] = [Image.open(path) for path in images.paths]
        assert all(photo.format == "JPEG" and photo.mode == "RGB" for photo in photos[paper])
    # The same digit, the same camera: only the printed lines differ.
    for plain, ruled, boxed in zip(photos["plain"], photos["ruled"], photos["boxed"]):
        assert plain.size == ruled.size == boxed.size
        assert not np.array_equal(np.asarray(plain), np.asarray(ruled))
    again = write_sets(source, tmp_path / "again", count=2, seed=3)
    for paper in PAPERS:
        first, second = sorted(folders[paper].glob("images/*")), sorted(again[paper].glob("images/*"))
        assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert "never train" in (tmp_path / "paper" / "README.md").read_text().lower()
