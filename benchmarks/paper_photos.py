"""`python -m benchmarks.paper_photos`: the pendigits drawings photographed on plain paper, on
ruled or squared paper and inside printed form boxes, as three labelled folders for
`python -m trainer.evaluate` (an evaluation set: never train on it).

Every digit is photographed once per paper with the same camera settings (the same tilt, paper
and ink colours, light, blur, noise and JPEG quality, drawn from one generator seeded by the seed
and the image's index), so the folders differ only by the printed lines:

- plain: the drawing's ink (its coverage read from the render: paper at the median grey, ink
  at the darkest pixel) recoloured blue ballpoint (60 %) or dark grey, on beige paper with a
  margin of paper added around it;
- ruled: faint blue rules (RGB about 160, 180, 225; 2-5 % of their spacing thick) about a
  sixth of the height apart across the page; a third also have a red margin line down the page
  at a random place (it may cross the digit), a third are squared paper (the rules both ways);
- boxed: a printed dark grey rectangle (0.8-2 % of the image's shorter side thick) around the
  digit, 8-25 % of the digit's size away from its ink and at least 0.7 as wide as high (a
  form's box does not shrink around a 1); half are one box of a row (a form's comb), whose
  top and bottom rules run across the image and whose neighbours' sides show.

The lines are printed on the page, multiplied with the paper under the ink, and turned with it
by the photo's tilt. Then the whole page is photographed: light falling off across it in a
random direction, a slight Gaussian blur, sensor noise, JPEG. `--evaluate` then reads the three
folders with a model as `make evaluate` does and prints them side by side.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from shared import environment

PAPERS = ("plain", "ruled", "boxed")
DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared/data/pendigits"
SUPERSAMPLE = 4      # lines are drawn at 4x and box-averaged down: antialiased
TILT = 3.0           # degrees, either way
PAD = 0.06           # paper added around the drawing, share of its shorter side, so a tilt keeps it whole
RULE_SPACING = 1 / 6  # ruled lines: share of the image's height between two
BOX_ASPECT = 0.7     # a form box is at least this wide for its height
FALLOFF = (0.0, 0.35)  # light lost from one side of the page to the other
BLUR = (0.3, 1.0)    # Gaussian radius, px per 300 px of the image's shorter side
NOISE = (2.0, 6.0)   # sensor noise, grey levels (standard deviation)
JPEG_QUALITY = (70, 92)


def ink_coverage(path: Path) -> np.ndarray:
    """How much of each pixel a drawing's ink covers, 0-1, from its paper and ink levels."""
    gray = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    paper, ink = float(np.median(gray)), float(gray.min())
    return np.clip((paper - gray) / max(paper - ink, 1.0), 0.0, 1.0)


def tilted(alpha: np.ndarray, degrees: float) -> np.ndarray:
    image = Image.fromarray(np.rint(alpha * 255).astype(np.uint8))
    return np.asarray(image.rotate(degrees, Image.Resampling.BICUBIC), dtype=np.float32) / 255.0


class Lines:
    """Straight lines drawn antialiased on a (width, height) page turned by `degrees` about its
    centre, as print on a page that is photographed tilted."""

    def __init__(self, size: tuple[int, int], degrees: float):
        self.size = size
        self.canvas = Image.new("L", (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE), 0)
        self.draw = ImageDraw.Draw(self.canvas)
        angle = np.deg2rad(-degrees)  # PIL's rotate turns counter-clockwise on screen
        self.turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def line(self, start: tuple[float, float], end: tuple[float, float], width: float) -> None:
        centre = np.array(self.size, dtype=np.float64) / 2
        points = (np.array([start, end]) - centre) @ self.turn.T + centre
        self.draw.line([tuple(p * SUPERSAMPLE) for p in points], fill=255,
                       width=max(1, round(width * SUPERSAMPLE)))

    def alpha(self) -> np.ndarray:
        return np.asarray(self.canvas.reduce(SUPERSAMPLE), dtype=np.float32) / 255.0


Layer = tuple[np.ndarray, tuple[float, float, float]]  # a print's coverage (0-1) and colour (RGB)


def rule_page(size: tuple[int, int], degrees: float, rng: np.random.Generator) -> list[Layer]:
    """Ruled paper: faint blue rules; a third with a red margin line, a third squared."""
    width, height = size
    spacing = height * RULE_SPACING * rng.uniform(0.85, 1.15)
    thickness = max(1.0, spacing * rng.uniform(0.02, 0.05))
    over = max(width, height)  # rules run past the page, so a tilt never shortens them
    rules, kind = Lines(size, degrees), rng.choice(["ruled", "margin", "squared"])
    for y in np.arange(rng.uniform(0, spacing) - over, height + over, spacing):
        rules.line((-over, y), (width + over, y), thickness)
    if kind == "squared":
        for x in np.arange(rng.uniform(0, spacing) - over, width + over, spacing):
            rules.line((x, -over), (x, height + over), thickness)
    blue = (rng.uniform(140, 175), rng.uniform(165, 200), rng.uniform(215, 240))
    layers = [(rules.alpha(), blue)]
    if kind == "margin":
        margin, x = Lines(size, degrees), rng.uniform(0.1, 0.9) * width
        margin.line((x, -over), (x, height + over), thickness * rng.uniform(1.0, 1.5))
        layers.append((margin.alpha(), (rng.uniform(215, 240), rng.uniform(90, 130), rng.uniform(90, 130))))
    return layers


def box_page(size: tuple[int, int], degrees: float, digit: np.ndarray,
             rng: np.random.Generator) -> list[Layer]:
    """A printed box around the digit (`digit`: its ink coverage); half are one box of a row."""
    width, height = size
    rows, cols = np.flatnonzero(digit.max(axis=1) > 0.3), np.flatnonzero(digit.max(axis=0) > 0.3)
    side = max(rows[-1] - rows[0], cols[-1] - cols[0])
    thickness = max(1.5, min(size) * rng.uniform(0.008, 0.02))
    margin = side * rng.uniform(0.08, 0.25, size=4) + thickness
    x0, y0, x1, y1 = cols[0] - margin[0], rows[0] - margin[1], cols[-1] + margin[2], rows[-1] + margin[3]
    narrow = BOX_ASPECT * (y1 - y0) - (x1 - x0)  # a form's box is as wide for a 1 as for a 0
    x0, x1 = x0 - max(narrow, 0) / 2, x1 + max(narrow, 0) / 2
    x0, y0, x1, y1 = max(x0, 1.0), max(y0, 1.0), min(x1, width - 2.0), min(y1, height - 2.0)
    box = Lines(size, degrees)
    if rng.random() < 0.5:
        for x in (x0, x1):
            box.line((x, y0), (x, y1), thickness)
        for y in (y0, y1):
            box.line((x0, y), (x1, y), thickness)
    else:  # one box of a row: the row's rules run across the image, the neighbours' sides show
        over = max(width, height)
        for y in (y0, y1):
            box.line((-over, y), (width + over, y), thickness)
        for x in np.arange(x0 - 3 * (x1 - x0), x1 + 3 * (x1 - x0) + 1, x1 - x0):
            box.line((x, y0), (x, y1), thickness)
    grey = rng.uniform(20, 90)
    return [(box.alpha(), (grey, grey, grey))]


def photograph(coverage: np.ndarray, paper: str, seed: int, index: int) -> bytes:
    """The drawing (ink coverage 0-1) on `paper`, photographed by a phone: JPEG bytes."""
    camera = np.random.default_rng([seed, index])  # the same draws for every paper
    short = min(coverage.shape)
    page = np.pad(coverage, max(2, round(PAD * short)))
    size = (page.shape[1], page.shape[0])
    degrees = camera.uniform(-TILT, TILT)
    beige = camera.uniform(225, 245) - np.array([0.0, camera.uniform(4, 14), camera.uniform(15, 40)])
    pen = (np.array([camera.uniform(10, 40), camera.uniform(30, 60), camera.uniform(110, 170)])
           if camera.random() < 0.6 else np.full(3, camera.uniform(20, 60)))
    shot = Shot.draw(camera, short)

    printed = np.random.default_rng([seed, index, PAPERS.index(paper)])
    layers = {"plain": lambda: [], "ruled": lambda: rule_page(size, degrees, printed),
              "boxed": lambda: box_page(size, degrees, page, printed)}[paper]()
    layers.append((tilted(page, degrees), tuple(pen)))  # the ink lies on top of the print
    reflectance = np.broadcast_to(beige.astype(np.float32), (*page.shape, 3)).copy()
    for alpha, colour in layers:
        reflectance *= 1.0 - alpha[..., None] * (1.0 - np.asarray(colour, dtype=np.float32) / 255.0)
    return camera_sees(reflectance, shot, camera)


@dataclass(frozen=True)
class Shot:
    """How the phone takes the picture: light falling off across the page by `light` = (share
    lost, direction), a Gaussian blur of `blur` pixels, sensor noise, a JPEG `quality`."""

    light: tuple[float, float]
    blur: float
    noise: float
    quality: int

    @classmethod
    def draw(cls, rng: np.random.Generator, short: int) -> Shot:
        """A random shot of a page whose shorter side is `short` pixels."""
        light = (rng.uniform(*FALLOFF), rng.uniform(0, 2 * np.pi))
        blur, noise = rng.uniform(*BLUR) * short / 300, rng.uniform(*NOISE)
        quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
        return cls(light, blur, noise, quality)


def camera_sees(page: np.ndarray, shot: Shot, rng: np.random.Generator) -> bytes:
    """`page` (H, W, 3 reflectance 0-255) as `shot` sees it: lit unevenly, blurred, with sensor
    noise drawn from `rng`, as JPEG bytes."""
    height, width = page.shape[:2]
    falloff, angle = shot.light
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    lit = page * (1.0 - falloff * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6))[..., None]
    blurred = Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8), "RGB").filter(
        ImageFilter.GaussianBlur(shot.blur))
    seen = np.asarray(blurred, dtype=np.float32) + rng.normal(0.0, shot.noise,
                                                              lit.shape).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(seen, 0, 255).astype(np.uint8), "RGB").save(buffer, "JPEG", quality=shot.quality)
    return buffer.getvalue()


def choose(labels: list[dict], count: int | None, seed: int) -> list[dict]:
    """`count` rows of the source's labels.csv at random (all of them for None), in file order."""
    if count is None or count >= len(labels):
        return labels
    picked = np.random.default_rng([seed, 2**31 - 1]).choice(len(labels), size=count, replace=False)
    return [labels[i] for i in sorted(picked)]


def write_sets(source: Path, out: Path, count: int | None = None, seed: int = 0) -> dict[str, Path]:
    """Photograph `count` of the digits in `source` (images/ + labels.csv) on each paper into
    out/<paper>/ (images/ + labels.csv); returns the folders."""
    with open(source / "labels.csv", newline="") as f:
        rows = choose(list(csv.DictReader(f)), count, seed)
    folders = {paper: out / paper for paper in PAPERS}
    for folder in folders.values():
        (folder / "images").mkdir(parents=True, exist_ok=True)
        for old in (folder / "images").glob("*.jpg"):  # a rerun replaces the set
            old.unlink()
    for number, row in enumerate(rows):
        coverage = ink_coverage(source / "images" / row["file"])
        index = int(row.get("index", number))
        for paper, folder in folders.items():
            name = Path(row["file"]).stem + ".jpg"
            (folder / "images" / name).write_bytes(photograph(coverage, paper, seed, index))
    for folder in folders.values():
        with open(folder / "labels.csv", "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["file", "label"])
            writer.writerows((Path(row["file"]).stem + ".jpg", row["label"]) for row in rows)
    (out / "README.md").write_text(readme(source, count, seed, len(rows)))
    return folders


def readme(source: Path, count: int | None, seed: int, images: int) -> str:
    command = (f"python -m benchmarks.paper_photos --source {source}"
               + (f" --count {count}" if count else "") + f" --seed {seed}")
    return (f"# Pendigits photographed on paper: plain, ruled, boxed\n\n"
            f"**Evaluation set: never train on it.** {images} digits of `{source}` in each of "
            f"`plain/`, `ruled/` and `boxed/` (`images/*.jpg` + `labels.csv`, file,label).\n\n"
            f"Made by `{command}` (digitnet's benchmarks/paper_photos.py):\n\n"
            + __doc__.split("\n\n", 1)[1].split("`--evaluate`")[0].strip() + "\n\n"
            f"Settings: tilt within ±{TILT}°, {PAD:.0%} of paper added around the drawing, rules "
            f"{RULE_SPACING:.3f} of the height apart (±15 %), light lost across the page "
            f"{FALLOFF[0]:.0%}-{FALLOFF[1]:.0%}, Gaussian blur {BLUR[0]}-{BLUR[1]} px per 300 px, "
            f"noise σ {NOISE[0]}-{NOISE[1]} grey levels, JPEG quality {JPEG_QUALITY[0]}-"
            f"{JPEG_QUALITY[1]}. Beige paper; ink blue (60 %) or dark grey.\n")


def evaluate_sets(folders: dict[str, Path], model_dir: Path, model_name: str) -> None:
    """Read each folder with the newest model of `model_name`, as `make evaluate` does, and
    print the papers side by side (each against plain paper)."""
    from benchmarks.table import print_table
    from shared.bundle import load_bundle
    from shared.repository import latest_bundle_path
    from trainer.evaluate import evaluate, read_folder

    path = latest_bundle_path(model_dir, model_name)
    if path is None:
        raise SystemExit(f"no bundle of model {model_name!r} in {model_dir}")
    bundle = load_bundle(path)
    accuracy = {paper: evaluate(bundle, read_folder(folder), progress=False).summary(None)["accuracy"]
                for paper, folder in folders.items()}
    print(f"model {bundle.name} v{bundle.version}")
    print_table(["paper", "accuracy", "against plain"],
                [(paper, f"{value:.2%}", f"{100 * (value - accuracy['plain']):+.1f} points")
                 for paper, value in accuracy.items()], figure="paper")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paper_photos",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="a folder of drawings: images/ and labels.csv (default: pendigits)")
    parser.add_argument("--out", type=Path, default=Path("data/paper"))
    parser.add_argument("--count", type=int, help="this many digits at random (default: all)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--evaluate", action="store_true",
                        help="then read the three folders with the newest model and print them")
    parser.add_argument("--model-dir", type=Path, default=environment.model_dir())
    parser.add_argument("--model-name", default=environment.model_name())
    args = parser.parse_args(argv)
    if args.count is not None and args.count < 1:
        parser.error("--count must be at least 1")
    if not (args.source / "labels.csv").is_file():
        parser.error(f"{args.source}: no labels.csv")
    folders = write_sets(args.source, args.out, args.count, args.seed)
    print(f"wrote {', '.join(str(f) for f in folders.values())}", file=sys.stderr)
    if args.evaluate:
        evaluate_sets(folders, args.model_dir, args.model_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
