"""Data augmentation: random, label-preserving distortions of a batch of digit images.

MNIST's digits are centred, size-normalised and written by a few hundred people; real uploads are
slanted, stretched, thin or thick in ways the training set barely shows. Each mini-batch is
distorted afresh every epoch, so the network sees a new variant of every digit each time:

- an **affine map** about the image centre: rotation, scale per axis (so the aspect ratio
  changes), shear and translation;
- an **elastic distortion** (Simard, Steinkraus & Platt, 2003): a random displacement field,
  smoothed with a Gaussian of width `elastic_sigma` and scaled to `elastic_alpha` pixels, bends
  strokes the way a hand's wobble does;
- a **stroke thickness** change: each image is blended towards its grey-level dilation (thicker)
  or erosion (thinner) by a random amount.

`fraction` distorts only that share of each batch and leaves the rest as it is, so the network
keeps seeing clean digits too. `styles` is the share of 1s, 7s and 9s shown, each epoch, in a
handwriting style MNIST lacks (a stroke drawn onto the digit: trainer/styles.py); the training
loop swaps those in before the distortions here.

The affine map and the elastic field make one displacement per output pixel, so each image is
resampled once (bilinear, zero outside the field). Everything is vectorised over the batch: a
batch of 128 digits costs a few NumPy calls, not 128 Python loops. With every amount at zero the
output is exactly the input. The random numbers come from the generator passed in, so the same
seed gives the same distortions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """How strongly to distort. Every range is symmetric and sampled uniformly per image."""

    rotation: float = 0.0        # degrees: rotate by up to +-rotation
    scale: float = 0.0           # each axis scaled by a factor in [1 - scale, 1 + scale]
    shear: float = 0.0           # horizontal shear factor up to +-shear (slant)
    translate: float = 0.0       # pixels, along each axis
    elastic_alpha: float = 0.0   # pixels: the largest typical displacement of the elastic field
    elastic_sigma: float = 4.0   # pixels: smoothness of the elastic field
    thickness: float = 0.0       # up to this fraction of the way to a dilated or eroded stroke
    fraction: float = 1.0        # share of the images distorted; the others stay as they are
    styles: float = 0.0          # share of digits with a style (trainer/styles.py) shown in it

    def __post_init__(self) -> None:
        if min(self.rotation, self.scale, self.shear, self.translate, self.elastic_alpha,
               self.thickness) < 0:
            raise ValueError("augmentation amounts must be >= 0")
        if not self.scale < 1 or not self.thickness <= 1 or self.elastic_sigma <= 0:
            raise ValueError("augmentation needs scale < 1, thickness <= 1 and elastic_sigma > 0")
        if not 0 <= self.fraction <= 1 or not 0 <= self.styles <= 1:
            raise ValueError("augmentation fraction and styles must be in [0, 1]")

    @property
    def enabled(self) -> bool:
        return self.fraction > 0 and any((self.rotation, self.scale, self.shear, self.translate,
                                          self.elastic_alpha, self.thickness))


# The augmentation chosen for real handwriting (the default preset's; see the README, "Reading
# real handwriting"): mild affine maps, a smooth elastic field and stroke thickness changes.
# Stronger distortions (rotations of 15 degrees, shear 0.3, Simard's elastic alpha 34) read MNIST
# as well but real strokes worse: they teach that a bent 1 is a 7. The styles MNIST lacks
# (trainer/styles.py) are shown for 60 % of the 1s, 7s and 9s each epoch: more costs MNIST's own
# 7s and 9s. The amounts are in pixels of MNIST's 28x28 digits.
REAL_HANDWRITING = AugmentConfig(rotation=10.0, scale=0.1, shear=0.15, translate=1.0,
                                 elastic_alpha=16.0, elastic_sigma=5.0, thickness=1.0, styles=0.6)


def augment_batch(images: np.ndarray, config: AugmentConfig,
                  rng: np.random.Generator) -> np.ndarray:
    """Distorted copies of `images` (n, height, width), float, ink high on a zero background."""
    out = images.astype(np.float32)
    if config.fraction < 1:
        chosen = rng.random(len(images)) < config.fraction
        out[chosen] = augment_batch(out[chosen], replace(config, fraction=1.0), rng)
        return out
    n, height, width = images.shape
    if config.thickness:
        out = change_thickness(out, rng.uniform(-config.thickness, config.thickness, n))
    if config.rotation or config.scale or config.shear or config.translate or config.elastic_alpha:
        rows, cols = sample_positions((n, height, width), config, rng)
        out = bilinear_sample(out, rows, cols)
    return out


def sample_positions(shape: tuple[int, int, int], config: AugmentConfig,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For every output pixel of every image of a batch of `shape` (n, height, width), the
    (row, column) of the input it is read from: a random affine map per image, plus the elastic
    field when it is on."""
    n, height, width = shape
    rows, cols = affine_positions(height, width, AffineMaps.sample(n, config, rng))
    if config.elastic_alpha:
        field_rows, field_cols = elastic_fields(shape, config.elastic_alpha,
                                                config.elastic_sigma, rng)
        rows += field_rows
        cols += field_cols
    return rows, cols


@dataclass(frozen=True)
class AffineMaps:
    """One affine map per image: each axis scaled, slanted (x += shear * y), rotated
    counter-clockwise by `angle` (radians) and shifted by `shift` (rows, columns), in that
    order. Each field holds one value per image; `shift` is (2, n)."""

    angle: np.ndarray
    scale_y: np.ndarray
    scale_x: np.ndarray
    shear: np.ndarray
    shift: np.ndarray

    @classmethod
    def sample(cls, n: int, config: AugmentConfig, rng: np.random.Generator) -> AffineMaps:
        """`n` maps drawn uniformly within `config`'s ranges."""
        angle = np.deg2rad(rng.uniform(-config.rotation, config.rotation, n))
        scale_y = rng.uniform(1 - config.scale, 1 + config.scale, n)
        scale_x = rng.uniform(1 - config.scale, 1 + config.scale, n)
        shear = rng.uniform(-config.shear, config.shear, n)
        shift = rng.uniform(-config.translate, config.translate, (2, n))
        return cls(angle, scale_y, scale_x, shear, shift)


def affine_positions(height: int, width: int, maps: AffineMaps) -> tuple[np.ndarray, np.ndarray]:
    """Where each output pixel reads its input, for one affine map per image about the centre.

    The inverse A^-1 of a map gives the input position of every output position p:
    A^-1 (p - c - shift) + c, that is A^-1 p plus a constant per image, so one batched matrix
    product places every pixel of every image.
    """
    angle, shear, shift = maps.angle, maps.shear, maps.shift
    n = len(angle)
    cos, sin = np.cos(angle), np.sin(angle)
    # In (row, column) coordinates with rows pointing down, a counter-clockwise turn on screen.
    rotate = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    slant = np.zeros((n, 2, 2))
    slant[:, 0, 0], slant[:, 1, 0], slant[:, 1, 1] = 1.0, shear, 1.0
    stretch = np.zeros((n, 2, 2))
    stretch[:, 0, 0], stretch[:, 1, 1] = maps.scale_y, maps.scale_x
    inverse = np.linalg.inv(rotate @ slant @ stretch)

    center = np.array([(height - 1) / 2, (width - 1) / 2])
    offset = center - np.einsum("nij,nj->ni", inverse, center + shift.T)
    ys, xs = np.mgrid[0:height, 0:width]
    grid = np.stack([ys.ravel(), xs.ravel()]).astype(np.float32)
    positions = inverse.astype(np.float32) @ grid  # (n, 2, height * width)
    positions += offset.astype(np.float32)[:, :, None]
    return positions[:, 0].reshape(n, height, width), positions[:, 1].reshape(n, height, width)


def elastic_fields(shape: tuple[int, int, int], alpha: float, sigma: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Simard's displacement fields (rows, then columns) for a batch of `shape` (n, height,
    width): uniform noise in [-1, 1], Gaussian-smoothed, times alpha.

    The smoothing is separable: every image's noise is multiplied by a Gaussian matrix on each
    side (G_rows @ noise @ G_cols^T). Stacked, the whole batch is two large matrix products.
    """
    n, height, width = shape
    noise = rng.random((2 * n * height, width), dtype=np.float32)
    noise *= 2
    noise -= 1
    smooth_cols = noise @ gaussian_matrix(width, sigma).astype(np.float32).T
    side_by_side = smooth_cols.reshape(2 * n, height, width).transpose(1, 0, 2).reshape(height, -1)
    smooth = gaussian_matrix(height, sigma).astype(np.float32) @ side_by_side
    smooth *= alpha
    fields = smooth.reshape(height, 2, n, width).transpose(1, 2, 0, 3)
    return fields[0], fields[1]


def gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """The matrix that convolves a length-`size` signal with a normalised Gaussian (zero outside)."""
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    radius = int(np.ceil(4 * sigma))
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2) * (np.abs(offsets) <= radius)
    return kernel / np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).sum()


def bilinear_sample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """images[i] read at fractional positions (rows[i], cols[i]); zero outside the image. The
    result has the positions' shape, which need not be the images'.

    `rows` and `cols` are used as scratch space (they are the caller's temporaries).
    """
    n, height, width = images.shape
    stride = width + 2
    # A one-pixel zero border: positions up to one pixel outside blend towards zero, and every
    # position further out is clamped onto the border, so one gather serves every case.
    padded = np.zeros((n, height + 2, stride), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = images
    r, c = rows.reshape(n, -1), cols.reshape(n, -1)
    r += 1
    c += 1
    np.clip(r, 0, height + 1 - 1e-3, out=r)  # so that the pixel below/right is still inside
    np.clip(c, 0, width + 1 - 1e-3, out=c)
    top_left = r.astype(np.int32)
    left = c.astype(np.int32)
    r -= top_left  # now the fractions
    c -= left
    top_left *= stride
    top_left += left
    top_left += (np.arange(n, dtype=np.int32) * ((height + 2) * stride))[:, None]
    flat = padded.ravel()
    top, top_right = flat.take(top_left), flat.take(top_left + 1)
    top_left += stride
    bottom, bottom_right = flat.take(top_left), flat.take(top_left + 1)
    top_right -= top  # lerp in place: a + (b - a) * t
    top_right *= c
    top += top_right
    bottom_right -= bottom
    bottom_right *= c
    bottom += bottom_right
    bottom -= top
    bottom *= r
    top += bottom
    return top.reshape(rows.shape)


def change_thickness(images: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Blend each image towards its dilation (amount > 0) or erosion (amount < 0).

    Dilation and erosion are grey-level max and min over a 2x2 neighbourhood (the pixel, its
    right, lower and lower-right neighbours): one pixel thicker or thinner, which on a 28x28 digit
    spans MNIST's own range of pen widths.
    """
    n, height, width = images.shape
    out = images.copy()
    for grow, reduce in ((amount > 0, np.maximum), (amount < 0, np.minimum)):
        chosen = images[grow]
        padded = np.zeros((len(chosen), height + 1, width + 1), dtype=np.float32)
        padded[:, :height, :width] = chosen
        target = reduce(reduce(padded[:, :height, :width], padded[:, 1:, :width]),
                        reduce(padded[:, :height, 1:], padded[:, 1:, 1:]))
        target -= chosen
        target *= np.abs(amount[grow]).astype(np.float32)[:, None, None]
        out[grow] += target
    return out
