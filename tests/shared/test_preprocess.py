"""shared/preprocess.py on its own: images of every kind land as centred MNIST digits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness.images import centre_of_mass, drawn_digit, encode, mnist_test_digits, photographed
from shared.preprocess import (
    FIELD,
    ImageTooLarge,
    NoInk,
    UnreadableImage,
    bytes_to_mnist,
    image_to_mnist,
)

MAX_PIXELS = 10_000_000
EXIF_ORIENTATION = 0x0112


def ink_box(digit: np.ndarray, threshold: int = 64) -> tuple[int, int]:
    rows, cols = np.nonzero(digit >= threshold)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def bar_image(size=(300, 200), box=(40, 30, 70, 150), ink=0, paper=255, mode="L") -> Image.Image:
    """A vertical bar (a '1') drawn at `box` = (left, top, right, bottom)."""
    array = np.full((size[1], size[0]), paper, dtype=np.uint8)
    left, top, right, bottom = box
    array[top:bottom, left:right] = ink
    return Image.fromarray(array).convert(mode)


def test_off_centre_dark_on_light_lands_centred_light_on_dark():
    digit = image_to_mnist(bar_image())
    assert digit.shape == (FIELD, FIELD) and digit.dtype == np.uint8
    assert digit[0, 0] == 0 and digit.max() == 255  # inverted: ink high, background zero
    cy, cx = centre_of_mass(digit)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert ink_box(digit)[0] == 20  # longer side scaled to 20 px
    assert ink_box(digit)[1] < 10   # aspect ratio kept: a bar stays a bar


def test_light_on_dark_is_not_inverted():
    assert np.array_equal(image_to_mnist(bar_image(ink=255, paper=0)), image_to_mnist(bar_image()))


def test_colour_and_grey_paper_give_the_same_digit():
    grey = image_to_mnist(bar_image(ink=60, paper=200))
    ink = np.asarray(bar_image()) == 0
    colour = Image.fromarray(np.where(ink[..., None], [20, 40, 160], [250, 240, 220]).astype(np.uint8))
    reference = image_to_mnist(bar_image())
    assert np.abs(grey.astype(int) - reference).max() <= 2
    assert np.abs(image_to_mnist(colour).astype(int) - reference).max() <= 2


def test_exif_rotation_is_applied():
    # A horizontal bar stored with "rotate 90" in its EXIF is seen as the vertical bar it shows.
    stored = bar_image().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 8  # the viewer rotates 90 degrees clockwise
    data = encode(stored.convert("RGB"), "JPEG", exif=exif.tobytes(), quality=95)
    digit = bytes_to_mnist(data, MAX_PIXELS)
    height, width = ink_box(digit)
    assert height == 20 and width < 10


def test_transparent_canvas_drawing_is_read_whatever_the_hidden_colour():
    # Black strokes on a fully transparent black background: flattening onto black would erase them.
    rgba = np.zeros((200, 200, 4), dtype=np.uint8)
    rgba[40:160, 90:110, 3] = 255
    digit = bytes_to_mnist(encode(Image.fromarray(rgba, "RGBA")), MAX_PIXELS)
    assert ink_box(digit)[0] == 20


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_formats_pillow_reads(fmt):
    digit = bytes_to_mnist(encode(bar_image().convert("RGB"), fmt), MAX_PIXELS)
    assert ink_box(digit)[0] == 20


def test_mnist_digits_redrawn_large_come_back_close_to_the_original(mnist):
    # Not every MNIST digit follows MNIST's own recipe exactly, so look at the typical digit.
    digits, _ = mnist_test_digits(mnist, 40, seed=3)
    correlations = []
    for original in digits:
        big = Image.fromarray(255 - original).resize((224, 224), Image.Resampling.BICUBIC)
        page = Image.new("L", (500, 400), 255)
        page.paste(big, (230, 20))
        again = image_to_mnist(page).astype(np.float64)
        correlations.append(np.corrcoef(again.ravel(), original.ravel())[0, 1])
    assert np.median(correlations) > 0.95 and min(correlations) > 0.6


def test_shadow_across_the_page_is_not_ink():
    """A bar under light falling off by 60 % across the page: the darker paper is not ink."""
    rng = np.random.default_rng(4)
    for _ in range(5):
        digit = image_to_mnist(photographed(bar_image(), falloff=0.6, rng=rng))
        assert ink_box(digit)[0] == 20  # the bar alone, scaled to MNIST's 20 px
        assert ink_box(digit)[1] <= 8   # a bar, not a bar plus a shadowed half page


def test_unevenly_lit_photos_are_read(mnist, trained_mlp):
    digits, labels = mnist_test_digits(mnist, 100, seed=9)
    rng = np.random.default_rng(9)
    read = []
    for digit in digits:
        side = int(rng.integers(100, 300))
        page = drawn_digit(digit, side=side, canvas=(side + 120, side + 90),
                           at=(int(rng.integers(0, 120)), int(rng.integers(0, 90))))
        photo = encode(photographed(page, falloff=0.5, rng=rng), "JPEG", quality=85)
        read.append(bytes_to_mnist(photo, MAX_PIXELS).reshape(784))
    accuracy = np.mean(trained_mlp.model.predict(np.stack(read).astype(np.float32)) == labels)
    assert accuracy >= 0.92


def test_blank_page_in_uneven_light_is_no_ink():
    with pytest.raises(NoInk):
        image_to_mnist(photographed(Image.new("L", (300, 200), 255), falloff=0.6,
                                    rng=np.random.default_rng(5)))


@pytest.mark.parametrize("paper", [0, 128, 255])
def test_blank_image_is_no_ink(paper):
    with pytest.raises(NoInk, match="no ink"):
        image_to_mnist(Image.new("L", (100, 100), paper))


def test_faint_smudge_is_no_ink():
    with pytest.raises(NoInk):
        image_to_mnist(bar_image(ink=240, paper=250))


def test_too_many_pixels_refused_before_decoding():
    data = encode(Image.new("1", (3000, 3000), 1))  # tiny file, 9 megapixels
    with pytest.raises(ImageTooLarge, match="3000x3000"):
        bytes_to_mnist(data, max_pixels=1_000_000)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_garbage_is_unreadable(data):
    with pytest.raises(UnreadableImage):
        bytes_to_mnist(data, MAX_PIXELS)


def test_truncated_image_is_unreadable():
    noise = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "PNG")
    with pytest.raises(UnreadableImage, match="truncated|damaged"):
        bytes_to_mnist(data[: len(data) // 2], MAX_PIXELS)


def test_unsupported_format_is_unreadable():
    with pytest.raises(UnreadableImage, match="supported"):
        bytes_to_mnist(encode(bar_image(), "TIFF"), MAX_PIXELS)


def pen_drawing(pen: int, side: int = 300) -> Image.Image:
    """A '4' drawn as three straight strokes with a round pen of `pen` px on white paper."""
    from PIL import ImageDraw

    paper = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(paper)
    s = side / 300
    for stroke in ([(170, 60), (80, 180), (200, 180)], [(170, 60), (170, 250)]):
        draw.line([(x * s, y * s) for x, y in stroke], fill=0, width=pen, joint="curve")
    return paper


@pytest.mark.parametrize("width", [2, 5, 11])
def test_stroke_width_of_a_bar_is_its_width(width: int):
    from shared.preprocess import stroke_width

    ink = np.zeros((128, 128), dtype=bool)
    ink[10:118, 60:60 + width] = True
    assert stroke_width(ink) == pytest.approx(width, rel=0.15)


def test_thin_pen_strokes_are_thickened_to_mnist_width():
    """A digit drawn with a stylus-thin pen reaches MNIST's stroke width; a thick pen's is kept."""
    from shared import preprocess

    thin, thick = image_to_mnist(pen_drawing(pen=3)), image_to_mnist(pen_drawing(pen=24))
    mnist_like = (thick.astype(np.float64).sum(), thin.astype(np.float64).sum())
    assert mnist_like[1] > 0.7 * mnist_like[0]  # without thickening: about a fifth
    ink = np.asarray(pen_drawing(pen=3)) < 128
    digit = preprocess.to_box(preprocess.crop_to_ink(ink.astype(np.float32) * 255),
                               preprocess.STROKE_BOX, Image.Resampling.BILINEAR)
    assert preprocess.stroke_width(digit >= 128) < preprocess.MIN_STROKE  # so it was thin
    thickened = preprocess._normalize_stroke(ink.astype(np.float32)[40:260, 70:210] * 255)
    assert preprocess.stroke_width(thickened >= 128) >= preprocess.MIN_STROKE


def test_only_strokes_thinner_than_mnists_are_thickened(mnist):
    """MNIST's own digits, drawn as uploads: three quarters pass untouched, the thinnest are
    brought to MNIST's median width, never past it."""
    from shared import preprocess

    digits, _ = mnist_test_digits(mnist, 40, seed=5)
    untouched = 0
    for digit in digits:
        ink = 255.0 - np.asarray(drawn_digit(digit), dtype=np.float32)
        crop = preprocess.crop_to_ink(ink)
        before = preprocess.to_box(crop, preprocess.STROKE_BOX, Image.Resampling.BILINEAR)
        after = preprocess._normalize_stroke(crop)
        width = preprocess.stroke_width(before >= 128)
        if width >= preprocess.MIN_STROKE:
            assert np.array_equal(after, before)
            untouched += 1
        else:
            assert width < preprocess.stroke_width(after >= 128) <= preprocess.TARGET_STROKE + 2
    assert untouched >= 24
