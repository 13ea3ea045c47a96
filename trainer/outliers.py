"""Images that are not digits, shown while training so the network learns to say so.

A network trained only on digits has no way to say "this is not a digit": a letter, a scribble or
a character of another script comes out as whichever digit it resembles most, often with high
confidence. Outlier exposure (Hendrycks, Mazeika & Dietterich, "Deep Anomaly Detection with
Outlier Exposure", 2019) shows the network such images during training with the uniform
distribution as their target, so that on anything unlike a digit its logits stay low and flat.
The service then reads how digit-like an input is from the logits' log-sum-exp (the negative
free energy of Liu et al., "Energy-based Out-of-distribution Detection", 2020): high for a
digit, low for the rest.

The trainer makes its own outliers, nothing of the evaluation sets:

- **glyphs**: letters, symbols and characters of other scripts from the fonts matplotlib ships
  (DejaVu and STIX), skipping those that look like a digit (O, l, S, Z, B, q ...);
- **scribbles**: random pen paths of a few sharp turns, drawn at MNIST's pen width;
- **pairs**: two training digits side by side, shrunk to fit one digit's field, so a number
  sent to the single-digit path is not read as one digit;
- **characters** (when asked for): made-up characters of two to four pen strokes (straight,
  level or upright, curved, or a loop), each begun on one drawn before or near it, as a
  character of a script the fonts do not have is written;
- **turned** digits (when asked for): training digits mirrored, on their side or upside down,
  where that leaves no digit: the pen and the hand of a digit, the shape of something else.

Fonts' glyphs are far from what people write: the characters and turned digits are drawn at
MNIST's pen width, as a handwritten digit is. Everything is brought to MNIST's form
(longer side 20 px, centre of mass in the middle) and then distorted with the digits of its
batch, so an outlier differs from a digit only in its shape. The glyphs are rendered once per
run; the other kinds are drawn for the whole bank at once, vectorised. Each mini-batch swaps a
share of its rows for outliers (OutlierBank.swap_in).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shared.preprocess import BOX, FIELD, NoInk, center_in_field
from trainer.styles import MARGIN, Ink, draw_polylines, renormalise

# Characters that are not digits and do not look like one, by script. Left out on purpose: the
# shapes of 0 (O o Q D ο σ О о ס Օ), 1 (I l i j | ! ו ן ז լ), 2 (Z z ζ Շ Չ), 3 (З з ε ξ Յ ვ),
# 4 (Ч ч y Y Կ), 5 (S s $ § Ѕ), 6 (b G б ь Ь δ ∂ Ծ ծ), 8 (B ß β &) and 9 (g q Գ Թ Ժ զ գ).
LATIN = "ACEFHJKLMNPRTUVWXacefhkmnprtuvwx"
GREEK = "ΓΔΛΞΠΣΦΨΩαγηλμνπρτφχψω"
CYRILLIC = "ДЖИЙКЛМПФЦШЩЭЮЯвгджиклмнпфцшщэюя"
HEBREW = "אבגדהחטכלמנעפצקרשת"
ARMENIAN = "ԱԲԴԷԸԻԼԽՂՄՈՊՌՍՎՏՐՓՔաբդեէըիխկհղմնոպռսվտրփք"
GEORGIAN = "ლშჩწჭხჯჰ"
SYMBOLS = "←→↔↕↖↗↘↙⇐⇒⇔#%*+=<>?@~^{}[]±×÷≈≠≤≥∞∑∏√∫∆∇∈∉∩∪⊂⊃∀∃¬∧∨★☆♠♣♥♦♪"
CHARACTERS = LATIN + GREEK + CYRILLIC + HEBREW + ARMENIAN + GEORGIAN + SYMBOLS
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
         "DejaVuSerif-Bold.ttf", "DejaVuSansMono.ttf", "STIXGeneral.ttf", "STIXGeneralItalic.ttf")
GLYPH_SIZE = 64        # font size the glyphs are rendered at before being brought to MNIST's form

SCRIBBLE_POINTS = (4, 8)     # corners of a scribble's pen path
SCRIBBLE_TURN = (60.0, 170.0)  # degrees the pen turns at each corner, either way
SCRIBBLE_PEN = (2.0, 3.5)    # pen width in pixels of the 28 x 28 field, as MNIST's strokes
PAIR_OFFSET = (14, 24)       # columns between the two digits of a pair (a digit is about 20 wide)
CHARACTER_STROKES = (2, 4)   # pen strokes of a made-up character
STROKE_POINTS = 6            # each stroke is drawn through this many points
STROKE_STEP = (0.2, 0.35)    # length of a stroke's steps between points, in BOX
# The kinds of a character's strokes, each with its share, and the degrees its heading turns
# from one point to the next (either way): a loop closes in about five steps.
STROKE_KINDS = {"straight": 0.2, "level or upright": 0.3, "curved": 0.35, "loop": 0.15}
STROKE_BEND = {"straight": (0.0, 0.0), "level or upright": (0.0, 0.0), "curved": (10.0, 35.0),
               "loop": (60.0, 75.0)}
STROKE_JITTER = 6.0          # degrees of a hand's wobble at each step of a stroke not level
STROKE_ATTACHED = 0.7        # share of strokes after the first that begin on one drawn before
# Digits turned into shapes that are not digits: each turn, and the digits it may be applied to.
# Left out: what a turn leaves a digit (a 0, 1 or 8 mirrored, a 0 on its side, a 6 upside down,
# which is a 9) or makes look like one (a 5 mirrored is much like a 2; a 2 or 5 upside down, like
# themselves).
TURNS = {"mirrored": (lambda d: d[:, :, ::-1], (2, 3, 4, 6, 7, 9)),
         "quarter left": (lambda d: np.rot90(d, 1, (1, 2)), (1, 2, 3, 4, 5, 6, 7, 8, 9)),
         "quarter right": (lambda d: np.rot90(d, -1, (1, 2)), (1, 2, 3, 4, 5, 6, 7, 8, 9)),
         "upside down": (lambda d: d[:, ::-1, ::-1], (3, 4, 7))}
# The kinds of outliers, in the order they are drawn, and those a training run makes unless told
# otherwise (`--outlier-kinds`). The characters and turned digits are measured but not default:
# they told not-digits from digits better (docs/handwriting.md), without a better table.
OUTLIER_KINDS = ("glyphs", "scribbles", "pairs", "characters", "turned")
DEFAULT_KINDS = ("glyphs", "scribbles", "pairs")
# Outliers of each made kind for every rendered glyph: made-up characters and turned digits vary
# the most.
MADE_PER_GLYPH = {"scribbles": 1, "pairs": 1, "characters": 2, "turned": 2}


def font_folder() -> Path:
    """matplotlib's own fonts: the same files on every machine that can train."""
    import matplotlib
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def render_glyphs(characters: str = CHARACTERS, fonts: tuple[str, ...] = FONTS) -> np.ndarray:
    """Every character in every font that has it, in MNIST's form: (n, 28, 28) float32."""
    from matplotlib.ft2font import FT2Font

    images = []
    for name in fonts:
        path = font_folder() / name
        has = FT2Font(str(path)).get_charmap()
        font = ImageFont.truetype(str(path), GLYPH_SIZE)
        for character in characters:
            if ord(character) in has:
                glyph = render_glyph(character, font)
                if glyph is not None:
                    images.append(glyph)
    return np.asarray(images, dtype=np.float32)


def render_glyph(character: str, font: ImageFont.FreeTypeFont) -> np.ndarray | None:
    """One character, white on black, through the upload path's own crop, stroke and centring."""
    canvas = Image.new("L", (2 * GLYPH_SIZE, 2 * GLYPH_SIZE), 0)
    ImageDraw.Draw(canvas).text((GLYPH_SIZE // 2, GLYPH_SIZE // 4), character, fill=255, font=font)
    try:
        return center_in_field(np.asarray(canvas, dtype=np.float32))
    except NoInk:  # a glyph with no ink (a space the font maps)
        return None


def scribbles(n: int, rng: np.random.Generator) -> np.ndarray:
    """n random pen paths of a few sharp turns, in MNIST's form: (n, 28, 28) float32."""
    fewest, most = SCRIBBLE_POINTS
    heading = rng.uniform(0.0, 2 * np.pi, n)[:, None] + np.cumsum(
        np.deg2rad(rng.uniform(*SCRIBBLE_TURN, (n, most))) * rng.choice([-1, 1], (n, most)),
        axis=1)
    # Every path has `most` steps; those past its own number of corners have no length.
    corners = rng.integers(fewest, most, n, endpoint=True)
    length = rng.uniform(0.3, 1.0, (n, most)) * BOX * (np.arange(most) < corners[:, None])
    steps = np.stack([np.sin(heading), np.cos(heading)], -1) * length[..., None]
    points = np.concatenate([np.zeros((n, 1, 2)), np.cumsum(steps, axis=1)], axis=1)
    points -= points.min(axis=1, keepdims=True)
    points *= (BOX / np.maximum(np.ptp(points, axis=1).max(axis=1), 1.0))[:, None, None]
    points += MARGIN + (FIELD - BOX) / 2
    pen = rng.uniform(*SCRIBBLE_PEN, n)
    side = FIELD + 2 * MARGIN
    return to_field(255.0 * draw_polylines((side, side), points, pen))


def characters(n: int, rng: np.random.Generator) -> np.ndarray:
    """n made-up characters of a few pen strokes each, in MNIST's form: (n, 28, 28) float32.

    What people write that is not a digit is mostly a character of some script: a few strokes,
    straight (often level or upright, as in many scripts), curved or closed in a loop, each begun
    on one drawn before or near it. Drawn at MNIST's pen width, as a handwritten digit is, so the
    network learns the difference of shape, not of the pen."""
    fewest, most = CHARACTER_STROKES
    path = np.concatenate([np.zeros((n, most, 1, 2)), np.cumsum(stroke_steps(n, most, rng), 2)], 2)
    start = rng.uniform(-0.5, 0.5, (n, most, 2)) * BOX
    path[:, 0] += start[:, 0, None]
    for k in range(1, most):  # begin on a point of a stroke drawn before, or where `start` says
        on = path[np.arange(n), rng.integers(k, size=n), rng.integers(STROKE_POINTS, size=n)]
        attach = rng.random(n) < STROKE_ATTACHED
        path[:, k] += np.where(attach[:, None], on, start[:, k])[:, None]
    unused = np.arange(most)[None, :] >= rng.integers(fewest, most, n, endpoint=True)[:, None]
    path = np.where(unused[:, :, None, None], path[:, :1, :1], path)  # a dot on the first stroke
    points = path.reshape(n, -1, 2)
    path = (path - points.min(axis=1)[:, None, None]) * (
        BOX / np.maximum(np.ptp(points, axis=1).max(axis=1), 1.0))[:, None, None, None]
    path += MARGIN + (FIELD - BOX) / 2
    pen = rng.uniform(*SCRIBBLE_PEN, n)
    side = FIELD + 2 * MARGIN
    ink = np.zeros((n, side, side), dtype=np.float32)
    for k in range(most):
        np.maximum(ink, draw_polylines((side, side), path[:, k], pen), out=ink)
    return to_field(255.0 * ink)


def stroke_steps(n: int, most: int, rng: np.random.Generator) -> np.ndarray:
    """(n, most, STROKE_POINTS - 1, 2) steps of `most` strokes for each of n characters, each
    stroke of one kind of STROKE_KINDS: its heading turns by the kind's bend at every step."""
    kind = rng.choice(len(STROKE_KINDS), (n, most, 1), p=list(STROKE_KINDS.values()))
    bends = np.asarray([STROKE_BEND[k] for k in STROKE_KINDS])
    bend = np.deg2rad(rng.uniform(*bends[kind].transpose(3, 0, 1, 2)))
    bend *= rng.choice([-1, 1], bend.shape)
    heading = rng.uniform(0.0, 2 * np.pi, (n, most, 1))
    level = kind == list(STROKE_KINDS).index("level or upright")
    heading = np.where(level, np.round(heading / (np.pi / 2)) * (np.pi / 2), heading)
    jitter = rng.normal(0.0, np.deg2rad(STROKE_JITTER), (n, most, STROKE_POINTS - 1))
    heading = heading + np.cumsum(bend + jitter * ~level, axis=2)
    step = rng.uniform(*STROKE_STEP, (n, most, 1)) * BOX
    return np.stack([np.sin(heading), np.cos(heading)], -1) * step[..., None]


def turned(digits: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator
           ) -> np.ndarray:
    """n of `digits` (m, 28, 28), labelled `labels`, mirrored or turned (TURNS) into a shape
    that is no digit: the same pen, the same hand, only the shape differs, as a letter of
    another script differs from a digit. (n, 28, 28) float32, in MNIST's form."""
    out = np.empty((n, FIELD, FIELD), dtype=np.float32)
    which = rng.integers(len(TURNS), size=n)
    for k, (turn, allowed) in enumerate(TURNS.values()):
        rows = np.flatnonzero(which == k)
        pool = np.flatnonzero(np.isin(labels, allowed))
        out[rows] = turn(digits[pool[rng.integers(len(pool), size=len(rows))]])
    canvas = np.zeros((n, FIELD + 2 * MARGIN, FIELD + 2 * MARGIN), dtype=np.float32)
    canvas[:, MARGIN:-MARGIN, MARGIN:-MARGIN] = out
    return to_field(canvas)


def pairs(digits: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n images of two of `digits` (m, 28, 28) side by side, shrunk into one digit's field."""
    first, second = digits[rng.integers(len(digits), size=(2, n))]
    offset = rng.integers(*PAIR_OFFSET, n, endpoint=True)
    width = FIELD + PAIR_OFFSET[1]
    # Column c of the canvas shows column c - offset of the second digit, where that exists.
    source = np.arange(width)[None, :] - offset[:, None]
    inside = (source >= 0) & (source < FIELD)
    shifted = np.take_along_axis(
        second, np.broadcast_to(np.clip(source, 0, FIELD - 1)[:, None, :], (n, FIELD, width)), 2)
    canvas = np.zeros((n, FIELD + 2 * MARGIN, width), dtype=np.float32)
    canvas[:, MARGIN:MARGIN + FIELD, :FIELD] = first
    np.maximum(canvas[:, MARGIN:MARGIN + FIELD], shifted * inside[:, None, :],
               out=canvas[:, MARGIN:MARGIN + FIELD])
    return to_field(canvas)


def to_field(canvas: np.ndarray) -> np.ndarray:
    """Images of any size (n, rows, columns) brought to MNIST's form in a 28 x 28 field: the
    ink's longer side BOX px, its centre of mass in the middle. Vectorised over the batch."""
    n = len(canvas)
    found = Ink.measure(canvas)
    target = Ink(found.mask, found.top, found.bottom, np.full(n, BOX, np.float32),
                 np.full((n, 2), FIELD / 2 + MARGIN, np.float32), found.pen)
    return renormalise(canvas, target, found, (FIELD, FIELD))


def check_kinds(kinds: tuple[str, ...]) -> None:
    """A ValueError unless `kinds` are of OUTLIER_KINDS and include the glyphs."""
    if set(kinds) - set(OUTLIER_KINDS) or "glyphs" not in kinds:
        raise ValueError(f"outlier kinds must include glyphs and be of {OUTLIER_KINDS}, "
                         f"got {tuple(kinds)}")


def make_outliers(x: np.ndarray, y: np.ndarray, image_shape: tuple[int, int],
                  rng: np.random.Generator, kinds: tuple[str, ...] = DEFAULT_KINDS) -> np.ndarray:
    """The outliers of `kinds` (OUTLIER_KINDS), as rows of raw grey levels (0-255) like MNIST's:
    the glyphs, and for each glyph MADE_PER_GLYPH of each made kind, drawn from the training
    digits `x` (n, features) labelled `y` where the kind needs digits. Drawn in the order of
    OUTLIER_KINDS, so the default kinds give the same bank as before the others existed."""
    check_kinds(kinds)
    glyphs = render_glyphs()
    digits = x.reshape(-1, *image_shape).astype(np.float32)
    makers = {"scribbles": lambda n: scribbles(n, rng), "pairs": lambda n: pairs(digits, n, rng),
              "characters": lambda n: characters(n, rng),
              "turned": lambda n: turned(digits, y, n, rng)}
    made = [glyphs] + [makers[kind](MADE_PER_GLYPH[kind] * len(glyphs))
                       for kind in OUTLIER_KINDS[1:] if kind in kinds]
    return np.concatenate(made).reshape(-1, int(np.prod(image_shape)))


@dataclass
class OutlierBank:
    """Outlier images made once before training; each mini-batch swaps `share` of its rows for
    random ones (their target is then the uniform distribution)."""

    share: float
    images: np.ndarray  # (m, features), scaled as the network's inputs are

    def swap_in(self, batch: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`batch` with a share of its rows replaced by outliers, in place; and which rows."""
        chosen = rng.random(len(batch)) < self.share
        batch[chosen] = self.images[rng.integers(len(self.images), size=int(chosen.sum()))]
        return batch, chosen
