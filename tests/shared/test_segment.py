"""shared/segment.py: finding every digit of a number and reading them in order, on numbers
composed out of MNIST test digits (harness/numbers.py) and read by the session's small model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness.images import mnist_test_digits
from harness.numbers import compose
from shared import segment
from shared.preprocess import NoInk
from shared.segment import TooManyDigits, read_number, read_unless_single


def numbers(mnist, count: int, seed: int, gaps: tuple[float, float], length: int = 4):
    """`count` composed numbers: (image, true text, true boxes)."""
    rng = np.random.default_rng(seed)
    digits, labels = mnist_test_digits(mnist, count * length, seed=seed)
    for k in range(count):
        chosen = slice(k * length, (k + 1) * length)
        image, boxes = compose(digits[chosen], rng, gaps=gaps)
        yield image, "".join(map(str, labels[chosen])), boxes


def overlap(a: tuple, b: tuple) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(width, 0) * max(height, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_digits_apart_are_read_in_order_with_their_boxes(mnist, bundle):
    right = counted = 0
    for image, text, boxes in numbers(mnist, 20, seed=1, gaps=(0.15, 0.45)):
        reading = read_number(image, bundle.model, bundle.input.recipe)
        found = [d.box for d in reading.digits]
        assert [b[0] for b in found] == sorted(b[0] for b in found)  # left to right
        if len(found) == len(text):
            counted += 1
            assert all(overlap(f, b) > 0.6 for f, b in zip(found, boxes))
        right += reading.text == text
        assert reading.confidence == pytest.approx(
            np.prod([d.confidence for d in reading.digits]) * reading.segmentation)
    # The session's small model reads about 97 % of MNIST's digits (0.97 ** 4 = 0.89), and
    # sometimes reads two halves of a wide 0 as two digits more surely than the whole.
    assert counted >= 17 and right >= 14


def test_touching_and_overlapping_digits_are_split(mnist, bundle):
    """Neighbours whose strokes touch or cross are one piece of ink: the cuts part them."""
    right = counted = joined = 0
    for image, text, _ in numbers(mnist, 30, seed=2, gaps=(-0.08, 0.0), length=2):
        ink = segment.find_ink(image)
        joined += len(segment.group_fragments(ink.pieces)) == 1
        reading = read_number(image, bundle.model, bundle.input.recipe)
        counted += len(reading.digits) == 2
        right += reading.text == text
    assert joined >= 10      # many pairs really are one piece of ink
    assert counted >= 26 and right >= 23


def test_fragments_of_one_digit_are_merged(mnist, bundle):
    """A stroke broken by a light pen (a band of paper across the digit) leaves pieces one above
    the other: they are one digit."""
    digits, labels = mnist_test_digits(mnist, 20, seed=3)
    right = pieces = 0
    for digit, label in zip(digits, labels):
        page = np.asarray(Image.fromarray(255 - digit).resize((140, 140), Image.Resampling.BICUBIC)).copy()
        page[66:74] = 255  # broken across the middle
        image = Image.new("L", (240, 200), 255)
        image.paste(Image.fromarray(page), (50, 30))
        pieces += len(segment.find_ink(image).pieces) >= 2
        reading = read_number(image, bundle.model, bundle.input.recipe)
        assert len(reading.digits) == 1
        right += reading.text == str(label)
    assert pieces >= 15  # the band did break most digits
    assert right >= 15


def chained(parts: set[tuple[int, int]], start: int, end: int) -> bool:
    """Whether parts (first, last), each beginning where the one before ends, lead from slice
    `start` to slice `end`."""
    reached, frontier = {start}, [start]
    while frontier:
        here = frontier.pop()
        for first, last in parts:
            if first == here and last not in reached:
                reached.add(last)
                frontier.append(last)
    return end in reached


def test_every_candidate_digit_lies_on_a_chain_across_its_group(mnist):
    """A part no chain of parts from the group's first slice to its last can hold is never in a
    reading: it is not read. Touching pairs have several cuts, so some parts are left out."""
    for image, _, _ in numbers(mnist, 12, seed=6, gaps=(-0.08, 0.05), length=3):
        ink = segment.find_ink(image)
        groups = segment.group_fragments(ink.pieces)
        cuts = [segment.candidate_cuts(group, ink.height, ink.stroke) for group in groups]
        found = segment.candidates(groups, cuts, ink.height)
        for g, group_cuts in enumerate(cuts):
            slices = len(group_cuts) + 1
            assert sum(c.whole for c in found if c.group == g) == 1
            parts = {(c.first, c.last) for c in found if c.group == g and not c.whole}
            for first, last in parts:
                assert chained(parts, 0, first) and chained(parts, last, slices)


def test_a_blank_image_has_no_ink(bundle):
    with pytest.raises(NoInk):
        read_number(Image.new("L", (200, 100), 255), bundle.model, bundle.input.recipe)


def test_more_digits_than_the_limit_are_refused(bundle):
    image = Image.new("L", (40 * (segment.MAX_DIGITS + 1) + 40, 100), 255)
    for k in range(segment.MAX_DIGITS + 1):
        image.paste(0, (40 + 40 * k, 30, 55 + 40 * k, 70))  # a separate mark each
    with pytest.raises(TooManyDigits, match=f"limit of {segment.MAX_DIGITS}"):
        read_number(image, bundle.model, bundle.input.recipe)


def test_more_candidate_cuts_than_the_limit_are_refused(mnist, bundle, monkeypatch):
    image, _, _ = next(numbers(mnist, 1, seed=4, gaps=(-0.08, -0.05), length=6))
    monkeypatch.setattr(segment, "MAX_CUTS", 1)
    with pytest.raises(TooManyDigits, match="candidate cuts"):
        read_number(image, bundle.model, bundle.input.recipe)


def test_boxes_are_in_the_uploaded_images_pixels(mnist, bundle):
    image, _, _ = next(numbers(mnist, 1, seed=5, gaps=(0.2, 0.4)))
    small = read_number(image, bundle.model, bundle.input.recipe)
    # Twice as large: past the working size, so it is shrunk before the search.
    large = read_number(image.resize((image.width * 2, image.height * 2)), bundle.model,
                        bundle.input.recipe)
    for a, b in zip(small.digits, large.digits):
        assert np.allclose(np.array(b.box), 2 * np.array(a.box), atol=4)


def test_each_digit_reads_as_a_single_upload_of_it(mnist, bundle):
    """The digit found alone on the page gets the answer /predict gives that page."""
    digits, _ = mnist_test_digits(mnist, 10, seed=6)
    recipe, model = bundle.input.recipe, bundle.model
    for digit in digits:
        image = Image.fromarray(255 - digit).resize((120, 120), Image.Resampling.BICUBIC)
        reading = read_number(image, model, recipe)
        single = model.predict_proba(recipe.from_image(image).reshape(1, -1).astype(np.float32))[0]
        assert reading.text == str(int(single.argmax()))
        assert abs(reading.digits[0].confidence - single.max()) < 0.05


def test_one_piece_no_cut_may_part_is_counted_without_the_network(mnist, bundle):
    class NoNetwork:
        def predict_proba(self, x):
            raise AssertionError("the network was run")

    image = Image.new("L", (120, 120), 255)
    image.paste(0, (52, 15, 64, 105))  # a 1: one narrow stroke, too narrow for any cut
    assert read_unless_single(image, NoNetwork(), bundle.input.recipe) is None
    number, _, _ = next(numbers(mnist, 1, seed=8, gaps=(0.2, 0.4)))
    quick = read_unless_single(number, bundle.model, bundle.input.recipe)
    full = read_number(number, bundle.model, bundle.input.recipe)
    assert quick.text == full.text and [d.box for d in quick.digits] == [d.box for d in full.digits]
