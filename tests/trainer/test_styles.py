"""Styles: each stroke where that style is written, the digit kept at MNIST's size and centre,
only the digits with a style touched, seeded and vectorised."""

from collections.abc import Callable

import numpy as np
import pytest

from harness.images import mnist_test_digits
from tests.trainer.support import python_calls
from trainer.styles import (
    STYLES,
    Ink,
    StyledCopies,
    crossbar,
    curl,
    draw_polylines,
    draw_style,
    flag,
)


def stem(n: int = 1) -> np.ndarray:
    """A plain 1: a 3-pixel-wide vertical stroke from row 4 to row 23, columns 12-14."""
    image = np.zeros((28, 28), dtype=np.float32)
    image[4:24, 12:15] = 1.0
    return np.repeat(image[None], n, axis=0)


def test_a_polyline_is_drawn_pen_wide_with_round_ends_and_soft_edges() -> None:
    line = draw_polylines((28, 28), np.array([[[10.0, 5.0], [10.0, 20.0]]]), np.array([3.0]))[0]
    # ink = pen / 2 + 0.5 - distance, between 0 and 1
    assert line[10, 12] == line[11, 12] == line[9, 12] == 1.0
    assert line[12, 12] == 0.0 and line[20, 12] == 0.0
    assert line[10, 21] == 1.0 and line[10, 23] == 0.0  # a round cap, 1.5 px past the end
    assert np.isclose(line[11, 21], 2.0 - np.sqrt(2.0))  # soft: 0.59 at 1.41 px from the end


def test_the_flag_rises_from_the_lower_left_to_the_top_of_the_stem() -> None:
    ink = Ink.measure(stem(200))
    points, erase_below = flag(ink, np.random.default_rng(0))
    assert erase_below is None  # added to the digit, nothing taken away
    start, end = points[:, 0], points[:, -1]
    assert np.allclose(end[:, 1], 13.0) and np.all(end[:, 0] < 6)  # the top of the stem
    assert np.all(start[:, 1] < 12) and np.all(start[:, 0] > end[:, 0])  # left of it, lower
    assert np.all(start[:, 0] < 4 + 0.6 * 19)  # a flag, not a second stem


def test_the_bar_crosses_the_stem_of_the_7_about_halfway_down() -> None:
    ink = Ink.measure(stem(200))
    left, right = crossbar(ink, np.random.default_rng(0)).points.transpose(1, 0, 2)
    assert np.all(left[:, 1] < 12) and np.all(right[:, 1] > 14)  # across the stem
    middle = (left[:, 0] + right[:, 0]) / 2
    assert np.all((middle > 4 + 0.4 * 19) & (middle < 4 + 0.7 * 19))


def test_the_curl_bends_the_stem_of_the_9_to_the_left_from_part_way_down() -> None:
    ink = Ink.measure(stem(200))
    points, erase_below = curl(ink, np.random.default_rng(0))
    bend = points[:, 0]
    assert np.allclose(bend[:, 1], 13.0) and np.array_equal(bend[:, 0], erase_below)
    assert np.all((erase_below >= 4 + 0.55 * 19 - 1) & (erase_below <= 4 + 0.75 * 19 + 1))
    assert np.all(points[:, 1, 0] > bend[:, 0])                # first down,
    assert np.all(points[:, -1, 1] < bend[:, 1] - 1)           # then to the left,
    assert np.all(points[:, :, 1] <= bend[:, None, 1] + 1e-4)  # never to the right,
    reach = points[:, :, 0].max(axis=1) - bend[:, 0]           # as low as the stem went
    assert np.all((reach > 0.7 * (23 - bend[:, 0])) & (reach < 1.3 * (23 - bend[:, 0])))


@pytest.mark.parametrize("digit", sorted(STYLES))
def test_a_styled_digit_keeps_its_size_and_centre_of_mass(digit: int, mnist) -> None:
    """MNIST put every digit's longer side at 20 px and its centre of mass at the centre: a
    styled digit is put back the same way, and every one of them has changed."""
    images, labels = mnist_test_digits(mnist, 2000, seed=2)
    originals = images[labels == digit][:100].astype(np.float32) / 255
    styled = draw_style(originals, STYLES[digit], np.random.default_rng(0))

    after, before = Ink.measure(styled), Ink.measure(originals)
    assert np.abs(after.center - before.center).max() < 0.6
    assert np.median(np.abs(after.extent - before.extent)) <= 1
    assert np.all(np.abs(styled - originals).sum(axis=(1, 2)) > 3.0)  # a stroke's worth of ink


def test_styled_copies_replace_only_digits_that_have_a_style_and_are_seeded(mnist) -> None:
    images, labels = mnist_test_digits(mnist, 300, seed=3)
    x = images.reshape(len(images), -1).astype(np.float32) / 255
    copies = StyledCopies.draw(x, labels, (28, 28), 1.0, np.random.default_rng(5))
    again = StyledCopies.draw(x, labels, (28, 28), 1.0, np.random.default_rng(5))
    assert np.array_equal(copies.images, again.images)
    has_style = np.isin(labels, list(STYLES))
    assert np.array_equal(copies.row >= 0, has_style) and len(copies.images) == has_style.sum()

    idx = np.arange(len(x))
    swapped = copies.swap_in(x[idx], idx, np.random.default_rng(0))
    assert np.array_equal(swapped[~has_style], x[~has_style])
    assert np.array_equal(swapped[has_style], copies.images[copies.row[has_style]])
    copies.share = 0.0
    assert np.array_equal(copies.swap_in(x[idx], idx, np.random.default_rng(0)), x)


def test_styles_are_drawn_for_a_batch_at_once_not_in_a_loop_over_images() -> None:
    def draw_all(n: int) -> Callable[[], object]:
        images = stem(n)
        return lambda: [draw_style(images, style, np.random.default_rng(0))
                        for style in STYLES.values()]

    assert python_calls(draw_all(512)) == python_calls(draw_all(1))
