"""Augmentation: exact at identity, the distortions it claims, seeded, vectorised, legible."""

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from harness.images import centre_of_mass, mnist_test_digits
from tests.trainer.support import python_calls
from trainer.augment import (
    AffineMaps,
    AugmentConfig,
    affine_positions,
    augment_batch,
    bilinear_sample,
    change_thickness,
    sample_positions,
)
from trainer.network import MLP, TrainingConfig
from trainer.presets import PRESETS

STRONG = AugmentConfig(rotation=15, scale=0.15, shear=0.3, translate=2, elastic_alpha=16,
                       elastic_sigma=5, thickness=1.0)


def bar(vertical: bool, n: int = 1) -> np.ndarray:
    """A 4-pixel-wide bar centred in a 28x28 field (centre 13.5, 13.5), vertical or horizontal."""
    image = np.zeros((28, 28), dtype=np.float32)
    if vertical:
        image[4:24, 12:16] = 1.0
    else:
        image[12:16, 4:24] = 1.0
    return np.repeat(image[None], n, axis=0)


def affine(n: int = 1, angle: float = 0.0, scale_y: float = 1.0, scale_x: float = 1.0,
           shear: float = 0.0, shift: tuple[float, float] = (0.0, 0.0)):
    def full(value: float) -> np.ndarray:
        return np.full(n, value, dtype=np.float64)

    return affine_positions(28, 28, AffineMaps(
        full(angle), full(scale_y), full(scale_x), full(shear),
        np.tile(np.asarray(shift, dtype=np.float64)[:, None], (1, n))))


def test_the_identity_map_returns_the_input_exactly() -> None:
    images = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    rows, cols = affine(5)
    grid_rows, grid_cols = np.mgrid[0:28, 0:28]
    assert np.array_equal(rows[0], grid_rows) and np.array_equal(cols[0], grid_cols)
    assert np.array_equal(bilinear_sample(images, rows, cols), images)
    assert np.array_equal(change_thickness(images, np.zeros(5)), images)
    zero_amounts = augment_batch(images, AugmentConfig(), np.random.default_rng(0))
    assert np.array_equal(zero_amounts, images)


def test_a_quarter_turn_makes_a_vertical_bar_horizontal() -> None:
    turned = bilinear_sample(bar(vertical=True), *affine(angle=np.pi / 2))
    np.testing.assert_allclose(turned, bar(vertical=False), atol=1e-5)


def test_translation_moves_the_centre_of_mass_by_the_shift() -> None:
    moved = bilinear_sample(bar(vertical=True), *affine(shift=(2.0, -3.0)))
    for image, dy, dx in ((bar(vertical=True)[0], 0, 0), (moved[0], 2, -3)):
        assert centre_of_mass(image) == pytest.approx((13.5 + dy, 13.5 + dx), abs=1e-4)


def test_scale_per_axis_changes_the_aspect_ratio() -> None:
    wide = bilinear_sample(bar(vertical=True), *affine(scale_y=0.5, scale_x=1.0))[0]
    rows_with_ink = np.flatnonzero(wide.sum(axis=1) > 0.5)
    assert 9 <= len(rows_with_ink) <= 11  # 20 rows tall, halved; width unchanged
    assert (wide.sum(axis=0) > 0.5).sum() == 4


def test_shear_slants_a_vertical_bar() -> None:
    slanted = bilinear_sample(bar(vertical=True), *affine(shear=0.5))[0]
    ys, xs = np.indices((28, 28))
    top, bottom = slanted[:10], slanted[18:]
    top_x = (xs[:10] * top).sum() / top.sum()
    bottom_x = (xs[18:] * bottom).sum() / bottom.sum()
    assert bottom_x - top_x > 3  # x grows with y: the bar leans


def test_thickness_adds_or_removes_ink() -> None:
    digits = bar(vertical=True, n=3)
    changed = change_thickness(digits, np.array([1.0, -1.0, 0.5]))
    ink = digits.sum(axis=(1, 2))
    assert changed[0].sum() > ink[0] * 1.2   # one pixel wider: 5 columns instead of 4
    assert changed[1].sum() < ink[1] * 0.8
    assert ink[2] < changed[2].sum() < changed[0].sum()


def test_elastic_distortion_moves_pixels_smoothly() -> None:
    rows, cols = sample_positions((4, 28, 28), AugmentConfig(elastic_alpha=8, elastic_sigma=4),
                                  np.random.default_rng(0))
    displacement = rows - np.mgrid[0:28, 0:28][0]
    assert 0.1 < np.abs(displacement).mean() < 4
    # Smooth: neighbouring pixels move almost alike, far less than the field varies overall.
    assert np.abs(np.diff(displacement, axis=2)).mean() < 0.25 * displacement.std()


def test_same_seed_same_distortions() -> None:
    images = mnist_like_batch(16)
    first = augment_batch(images, STRONG, np.random.default_rng(7))
    again = augment_batch(images, STRONG, np.random.default_rng(7))
    other = augment_batch(images, STRONG, np.random.default_rng(8))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.dtype == np.float32 and first.shape == images.shape


def test_augmentation_is_vectorised_not_a_loop_over_images() -> None:
    """The Python work is the same for 1 image and 512: no per-image loop anywhere in it."""
    def distort(n: int) -> Callable[[], object]:
        images = mnist_like_batch(n)
        return lambda: augment_batch(images, STRONG, np.random.default_rng(0))

    assert python_calls(distort(512)) == python_calls(distort(1))


def mnist_like_batch(n: int) -> np.ndarray:
    return np.tile(bar(vertical=True), (n, 1, 1)) * np.linspace(0.5, 1, n, dtype=np.float32)[:, None, None]


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["default", "best"])
def test_distorted_digits_stay_legible(preset: str, mnist, trained_mlp) -> None:
    """The labels survive the distortions: a network that saw them in training reads distorted
    test digits about as well as plain ones, and one that never saw them still reads most."""
    digits, labels = mnist_test_digits(mnist, 1000, seed=1)
    config = replace(TrainingConfig(**PRESETS[preset]).augment, fraction=1.0)
    distorted = augment_batch(digits.astype(np.float32), config, np.random.default_rng(0))
    assert not np.array_equal(distorted, digits)
    flat = distorted.reshape(len(digits), -1)

    learned = MLP(TrainingConfig.plain(hidden=(128,), epochs=4, batch_size=64, augment=config)).fit(
        mnist.x_train, mnist.y_train, image_shape=(28, 28))
    plain = learned.accuracy(digits.reshape(len(digits), -1), labels)
    assert learned.accuracy(flat, labels) >= max(0.9, plain - 0.04), plain
    # A plain MLP is not shift-invariant: the shifts cost it most, yet it reads most digits.
    assert trained_mlp.accuracy(flat, labels) >= 0.7
