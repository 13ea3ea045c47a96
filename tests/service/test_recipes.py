"""shared/recipes.py: each recipe turns an upload into its data set's form, of the shape and range
it declares. The optdigits recipe is checked against the data set itself: a scikit-learn digit
printed large on paper, photographed as a PNG, comes back as (nearly) the same 8x8 counts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from harness.images import drawn_digit, encode, mnist_test_digits
from shared.preprocess import NoInk, bytes_to_mnist
from shared.recipes import OPTDIGITS, OPTDIGITS_INK, RECIPES, fit_bitmap, thicken

MAX_PIXELS = 10_000_000


def printed(counts: np.ndarray, side: int = 240) -> bytes:
    """An 8x8 optdigits image (counts 0-16) as a person would print and scan it: dark on white,
    `side` px, smoothly enlarged, off-centre on a larger page."""
    grey = (255 - counts.reshape(8, 8).astype(np.float32) * (255 / 16)).astype(np.uint8)
    digit = Image.fromarray(grey).resize((side, side), Image.Resampling.BICUBIC)
    page = Image.new("L", (side + 90, side + 50), 255)
    page.paste(digit, (60, 20))
    return encode(page)


def test_every_recipe_makes_what_it_declares(mnist):
    image = encode(drawn_digit(mnist_test_digits(mnist, 1, seed=3)[0][0]))
    for recipe in RECIPES.values():
        made = recipe.from_bytes(image, MAX_PIXELS)
        assert made.shape == recipe.image_shape and made.dtype == np.uint8
        low, high = recipe.value_range
        assert low <= made.min() and made.max() <= high and made.max() > low


def test_the_mnist_recipe_is_the_mnist_preprocessing(mnist):
    image = encode(drawn_digit(mnist_test_digits(mnist, 1, seed=4)[0][0]))
    assert np.array_equal(RECIPES["mnist"].from_bytes(image, MAX_PIXELS), bytes_to_mnist(image, MAX_PIXELS))


def test_an_optdigits_digit_printed_and_uploaded_comes_back_as_itself(digits, digits_mlp):
    """200 test digits of the data set, printed at 240 px: the recipe gives back counts that
    correlate with the originals (median >= 0.9), and the model reads them nearly as well."""
    originals, labels = digits.x_test[:200], digits.y_test[:200]
    uploaded = np.stack([OPTDIGITS.from_bytes(printed(x), MAX_PIXELS) for x in originals]).reshape(200, 64)
    correlation = [np.corrcoef(a, b)[0, 1] for a, b in zip(uploaded, originals)]
    assert np.median(correlation) >= 0.9
    read_back = (digits_mlp.predict(uploaded) == labels).mean()
    assert read_back >= 0.9 and read_back >= (digits_mlp.predict(originals) == labels).mean() - 0.06


def test_strokes_are_thickened_to_the_data_sets_ink_density():
    """A 1 drawn with a thin pen and with a marker give the same counts: what is counted is the
    digit's shape, at the ink density of the data set."""
    made = []
    for width in (3, 12):
        page = Image.new("L", (300, 300), 255)
        ImageDraw.Draw(page).line([(120, 60), (165, 30), (160, 270)], fill=0, width=width)
        made.append(OPTDIGITS.from_bytes(encode(page), MAX_PIXELS).astype(float))
    thin, thick = made
    assert np.corrcoef(thin.ravel(), thick.ravel())[0, 1] > 0.9
    for counts in made:
        assert counts.sum() / 1024 == pytest.approx(OPTDIGITS_INK, abs=0.08)


def test_fitting_keeps_the_aspect_ratio_and_centres_the_box():
    tall = np.zeros((100, 20), dtype=np.float32)
    tall[:] = 255
    bitmap = fit_bitmap(tall, 32)
    rows, cols = np.flatnonzero(bitmap.any(axis=1)), np.flatnonzero(bitmap.any(axis=0))
    assert (rows[0], rows[-1]) == (0, 31)
    assert len(cols) in (6, 7) and abs((cols[0] + cols[-1]) / 2 - 15.5) <= 0.5


def test_thickening_stops_at_the_density_and_never_thins():
    dot = np.zeros((32, 32), dtype=bool)
    dot[16, 16] = True
    grown = thicken(dot, 0.02)
    assert grown[16, 16] and abs(grown.mean() - 0.02) < 0.01
    full = np.ones((32, 32), dtype=bool)
    assert thicken(full, 0.3).all()


def test_a_blank_upload_has_no_digit():
    with pytest.raises(NoInk):
        OPTDIGITS.from_bytes(encode(Image.new("L", (100, 100), 255)), MAX_PIXELS)
