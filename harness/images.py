"""Digit images for tests and benchmarks: MNIST test digits, digits drawn and photographed as a
person would send them, encoded by Pillow (alone or as a multipart upload), and a digit's centre
of mass."""

import io

import numpy as np
from PIL import Image

from trainer.data import Dataset


def mnist_test_digits(mnist: Dataset, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` MNIST test images (count, 28, 28) uint8 and their labels, chosen at random."""
    idx = np.random.default_rng(seed).choice(len(mnist.y_test), size=count, replace=False)
    return mnist.x_test[idx].reshape(-1, 28, 28), mnist.y_test[idx]


def drawn_digit(digit: np.ndarray, side: int = 180, canvas: tuple[int, int] = (260, 240),
                at: tuple[int, int] = (50, 30)) -> Image.Image:
    """An MNIST digit (28, 28, white on black) as a person draws it: dark ink on white paper,
    scaled to `side` px and pasted at `at` on a white `canvas` (width, height)."""
    paper = Image.new("L", canvas, 255)
    paper.paste(Image.fromarray(255 - digit).resize((side, side), Image.Resampling.BICUBIC), at)
    return paper


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def multipart_file(data: bytes, boundary: str, content_type: str = "image/png") -> tuple[bytes, str]:
    """A multipart/form-data body with one `file` field, and its Content-Type header."""
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"digit.png\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def photographed(image: Image.Image, falloff: float, rng: np.random.Generator,
                 noise: float = 6.0) -> Image.Image:
    """A drawing on white paper as a phone photo sees it: light falling off by `falloff` (0-1)
    across the page in a random direction, grey paper and ink, sensor noise."""
    white = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    ys, xs = np.indices(white.shape)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs / white.shape[1] + np.sin(angle) * ys / white.shape[0]
    light = 1.0 - falloff * (ramp - ramp.min()) / (np.ptp(ramp) or 1.0)
    paper, ink = 235.0 * light, 40.0 * light
    seen = ink + (paper - ink) * white + rng.normal(0.0, noise, white.shape)
    return Image.fromarray(np.clip(seen, 0, 255).astype(np.uint8))


def centre_of_mass(digit: np.ndarray) -> tuple[float, float]:
    """(row, column) of a grey-level image's centre of mass."""
    ys, xs = np.indices(digit.shape)
    total = digit.astype(np.float64).sum()
    return (ys * digit).sum() / total, (xs * digit).sum() / total
