"""Outliers: glyphs, scribbles, pairs, made-up characters and turned digits made in MNIST's form,
seeded and vectorised; a batch swaps in its share of them; a network taught with them scores them
below digits."""

from collections.abc import Callable

import numpy as np
import pytest

from harness.images import centre_of_mass, mnist_test_digits
from shared.preprocess import BOX, FIELD
from tests.trainer.support import python_calls
from trainer import outliers
from trainer.network import MLP, TrainingConfig
from trainer.outliers import (
    CHARACTER_STROKES,
    CHARACTERS,
    DEFAULT_KINDS,
    MADE_PER_GLYPH,
    OUTLIER_KINDS,
    TURNS,
    OutlierBank,
    characters,
    make_outliers,
    pairs,
    render_glyphs,
    scribbles,
    to_field,
    turned,
)
from trainer.styles import Ink

LOOK_LIKE_DIGITS = "0OoQ1Il|!2Zz5Ss8B9gq"


def assert_mnist_form(images: np.ndarray) -> None:
    """Each image's ink: longer side about BOX px, centre of mass about the field's middle."""
    assert images.shape[1:] == (FIELD, FIELD)
    ink = Ink.measure(images)
    assert np.all(np.abs(ink.extent - BOX) <= 2.5), ink.extent.min()
    for image in images[:50]:
        row, column = centre_of_mass(image)
        assert abs(row - FIELD / 2) < 2.5 and abs(column - FIELD / 2) < 2.5


def test_glyphs_skip_the_characters_that_look_like_digits_and_come_in_mnist_form() -> None:
    assert not set(LOOK_LIKE_DIGITS) & set(CHARACTERS)
    glyphs = render_glyphs("AK#", ("DejaVuSans.ttf", "DejaVuSerif-Bold.ttf"))
    assert len(glyphs) == 6
    assert_mnist_form(glyphs)
    assert len({g.tobytes() for g in glyphs}) == 6  # every font draws its own


def test_scribbles_pairs_characters_and_turned_digits_are_seeded_in_mnist_form(mnist) -> None:
    digits, labels = mnist_test_digits(mnist, 200)
    digits = digits.astype(np.float32)
    for make in (lambda rng: scribbles(64, rng), lambda rng: pairs(digits, 64, rng),
                 lambda rng: characters(64, rng), lambda rng: turned(digits, labels, 64, rng)):
        first, again = make(np.random.default_rng(3)), make(np.random.default_rng(3))
        assert np.array_equal(first, again)
        assert not np.array_equal(first, make(np.random.default_rng(4)))
        assert_mnist_form(first)


def test_a_pair_is_two_digits_wide() -> None:
    bar = np.zeros((1, FIELD, FIELD), dtype=np.float32)
    bar[0, 4:24, 12:16] = 255.0  # a 1: tall and thin
    pair = pairs(bar, 1, np.random.default_rng(0))[0]
    columns = np.flatnonzero((pair > 128).any(axis=0))
    strokes = np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1)
    assert len(strokes) == 2  # two strokes with paper between them
    rows = np.flatnonzero((pair > 128).any(axis=1))
    assert columns[-1] - columns[0] > rows[-1] - rows[0]  # wider than tall, as BOX is its width


def test_outliers_are_made_for_a_batch_at_once_not_in_a_loop_over_images() -> None:
    digits = np.zeros((4, FIELD, FIELD), dtype=np.float32)
    digits[:, 5:23, 10:18] = 255.0

    labels = np.array([2, 3, 4, 7])

    def make(n: int) -> Callable[[], object]:
        return lambda: (scribbles(n, np.random.default_rng(0)),
                        pairs(digits, n, np.random.default_rng(0)),
                        characters(n, np.random.default_rng(0)),
                        turned(digits, labels, n, np.random.default_rng(0)))

    assert python_calls(make(512)) == python_calls(make(1))


def test_a_characters_strokes_are_of_their_kinds(monkeypatch) -> None:
    """Level or upright strokes run along the rows or the columns; a loop turns all the way round."""
    def only(kind: str) -> dict[str, float]:
        return {k: float(k == kind) for k in outliers.STROKE_KINDS}

    monkeypatch.setattr(outliers, "STROKE_KINDS", only("level or upright"))
    steps = outliers.stroke_steps(50, CHARACTER_STROKES[1], np.random.default_rng(0))
    assert np.all(np.abs(steps).min(axis=-1) < 1e-6 * np.abs(steps).max())
    monkeypatch.setattr(outliers, "STROKE_KINDS", only("loop"))
    steps = outliers.stroke_steps(50, CHARACTER_STROKES[1], np.random.default_rng(0))
    heading = np.unwrap(np.arctan2(steps[..., 0], steps[..., 1]), axis=-1)
    turned_through = np.abs(heading[..., -1] - heading[..., 0])
    assert np.all(turned_through >= np.deg2rad(4 * outliers.STROKE_BEND["loop"][0]) * 0.9)


def test_turned_digits_are_never_those_a_turn_leaves_a_digit() -> None:
    """A 0, 1 or 8 mirrored is still one; a 6 upside down is a 9: none of them is turned so."""
    assert not {0, 1, 8} & set(TURNS["mirrored"]) and not {6, 9} & set(TURNS["upside down"])
    assert 0 not in TURNS["quarter left"] + TURNS["quarter right"]
    seven = np.zeros((1, FIELD, FIELD), dtype=np.float32)
    seven[0, 4, 6:22] = 255.0                                      # the bar
    seven[0, 4:24, 20:22] = 255.0                                  # the stem, on the right
    digits = np.concatenate([seven, np.full((1, FIELD, FIELD), 255.0, np.float32)])  # and a "0"
    made = turned(digits, np.array([7, 0]), 400, np.random.default_rng(0))
    # Only the 7 is ever turned, each of the ways once: as many different images as turns.
    assert len({image.tobytes() for image in made}) == len(TURNS)


def test_to_field_brings_any_canvas_to_mnist_form() -> None:
    canvas = np.zeros((2, 60, 90), dtype=np.float32)
    canvas[0, 10:50, 20:30] = 200.0   # tall
    canvas[1, 40:45, 5:85] = 90.0     # wide and faint
    assert_mnist_form(to_field(canvas))


def test_a_batch_swaps_in_its_share_of_outliers() -> None:
    bank = OutlierBank(0.25, np.full((10, 4), 7.0, dtype=np.float32))
    batch, chosen = bank.swap_in(np.zeros((4000, 4), dtype=np.float32), np.random.default_rng(1))
    assert 0.22 < chosen.mean() < 0.28
    assert np.all(batch[chosen] == 7.0) and np.all(batch[~chosen] == 0.0)


def test_a_network_taught_with_outliers_tells_them_from_digits_far_better(mnist) -> None:
    x, y = mnist.x_train[:6000], mnist.y_train[:6000]
    unseen = make_outliers(mnist.x_test[:500], mnist.y_test[:500], (FIELD, FIELD),
                           np.random.default_rng(9))
    digits, labels = mnist.x_test[:2000], mnist.y_test[:2000]

    def below_digits(outliers: float) -> float:
        """The share of unseen outliers scoring below 95 % of the digits, and the accuracy."""
        config = TrainingConfig.plain(hidden=(128,), epochs=4, batch_size=64, outliers=outliers)
        model = MLP(config).fit(x, y, image_shape=(FIELD, FIELD)).model
        floor = np.quantile(model.digit_score(model.logits(digits)), 0.05)
        assert np.mean(model.predict(digits) == labels) > 0.85  # still reads digits
        return float(np.mean(model.digit_score(model.logits(unseen)) < floor))

    taught, untaught = below_digits(0.2), below_digits(0.0)
    assert taught > 0.5 and taught > untaught + 0.2, (taught, untaught)


def test_the_kinds_asked_for_are_made_and_the_default_bank_is_unchanged_by_the_others(mnist) -> None:
    """The default kinds draw what they drew before the characters and turned digits existed,
    in the same order; every kind adds its MADE_PER_GLYPH share; glyphs are always there."""
    x, y = mnist.x_test[:300], mnist.y_test[:300]
    default = make_outliers(x, y, (FIELD, FIELD), np.random.default_rng(4))
    every = make_outliers(x, y, (FIELD, FIELD), np.random.default_rng(4), OUTLIER_KINDS)
    glyphs = len(render_glyphs())
    assert len(default) == glyphs * (1 + sum(MADE_PER_GLYPH[k] for k in DEFAULT_KINDS[1:]))
    assert len(every) == glyphs * (1 + sum(MADE_PER_GLYPH.values()))
    np.testing.assert_array_equal(every[:len(default)], default)
    for kinds in (("glyphs", "letters"), ("scribbles",)):
        with pytest.raises(ValueError, match="outlier kinds"):
            make_outliers(x, y, (FIELD, FIELD), np.random.default_rng(4), kinds)
        with pytest.raises(ValueError, match="outlier kinds"):
            TrainingConfig(outlier_kinds=kinds)
    # Recorded in the manifest's training section as a list, and read back from one.
    config = TrainingConfig(outlier_kinds=OUTLIER_KINDS)
    assert config.to_dict()["outlier_kinds"] == list(OUTLIER_KINDS)
    assert TrainingConfig(**config.to_dict()) == config
