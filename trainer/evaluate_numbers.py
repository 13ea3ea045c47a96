"""`python -m trainer.evaluate_numbers FOLDER`: how a saved model reads images of whole numbers.

Each image of FOLDER (labels.csv: `file`, `label` the number as written, optional `touching` 1
when neighbouring digits' boxes touch or overlap) goes through exactly what `POST /read` does
(shared/segment.py with the bundle's recipe and forward pass). Printed, and written to the
model's report folder as `numbers-<folder>.json`:

- exact-string accuracy, overall, by length and for touching / apart numbers;
- digit-count accuracy;
- digit accuracy: 1 - (edit distance between the answer and the truth) / digits, over all digits;
- the strings answered sure (confidence >= the model's threshold): their share and accuracy;
- what `/predict` makes of the same images: the share it would still mark sure (never when it
  finds several digits, shared/sure.py).

Images the reader refuses count as wrong and are listed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from shared import environment
from shared.bundle import Bundle
from shared.errors import BundleError
from shared.preprocess import ImageError, decode_image
from shared.segment import read_number, read_unless_single
from shared.sure import predict_is_sure, reading_is_sure
from trainer.evaluate import MAX_IMAGE_PIXELS, chosen_bundle, locate
from trainer.report import write_json


@dataclass(frozen=True)
class Answer:
    file: str
    truth: str
    touching: bool
    text: str | None         # None: refused
    sure: bool = False
    predict_sure: bool = False


def read_labels(folder: Path) -> list[dict]:
    listing = Path(folder) / "labels.csv"
    with open(listing, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise ValueError(f"{listing}: needs the columns 'file' and 'label'")
    return rows


def read_all(bundle: Bundle, folder: Path, progress: bool = True) -> tuple[list[Answer], dict]:
    """Every number of `folder` read as /read and /predict would; the refused ones' reasons."""
    model, recipe = bundle.model, bundle.input.recipe
    if recipe is None:
        raise ValueError(f"model {bundle.name} v{bundle.version} takes no images")
    threshold = bundle.confidence_threshold
    answers, refused = [], {}
    for row in tqdm(read_labels(folder), unit="img", disable=not progress, file=sys.stderr):
        path = locate(Path(folder), row["file"])
        touching = row.get("touching") == "1"
        try:
            image = decode_image(path.read_bytes(), MAX_IMAGE_PIXELS)
            reading = read_number(image, model, recipe)
            single = model.predict_proba(recipe.from_image(image).reshape(1, -1))[0]
            as_predict_sees = read_unless_single(image, model, recipe)
        except ImageError as e:
            refused[row["file"]] = str(e)
            answers.append(Answer(row["file"], row["label"], touching, None))
            continue
        answers.append(Answer(row["file"], row["label"], touching, reading.text,
                              reading_is_sure(reading, threshold),
                              predict_is_sure(float(single.max()), as_predict_sees, threshold)))
    return answers, refused


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def summary(answers: list[Answer]) -> dict:
    def exact(subset: list[Answer]) -> float | None:
        return sum(a.text == a.truth for a in subset) / len(subset) if subset else None

    by_length = defaultdict(list)
    for a in answers:
        by_length[len(a.truth)].append(a)
    sure = [a for a in answers if a.sure]
    digits = sum(len(a.truth) for a in answers)
    errors = sum(min(len(a.truth), edit_distance(a.text or "", a.truth)) for a in answers)
    return {
        "images": len(answers),
        "refused": sum(a.text is None for a in answers),
        "exact": exact(answers),
        "exact_by_length": {str(n): exact(by_length[n]) for n in sorted(by_length)},
        "exact_touching": exact([a for a in answers if a.touching]),
        "exact_apart": exact([a for a in answers if not a.touching]),
        "touching_images": sum(a.touching for a in answers),
        "digit_count": sum(len(a.text or "") == len(a.truth) for a in answers) / len(answers),
        "digit_accuracy": 1.0 - errors / digits,
        "sure_share": len(sure) / len(answers),
        "sure_accuracy": exact(sure),
        "predict_sure_share": sum(a.predict_sure for a in answers) / len(answers),
    }


def print_summary(name: str, bundle: Bundle, s: dict) -> None:
    print(f"{name}: model {bundle.name} v{bundle.version}, {s['images']} numbers "
          f"({s['refused']} refused)")
    print(f"exact string {s['exact']:.4f}   touching {s['exact_touching']:.4f} "
          f"({s['touching_images']} numbers)   apart {s['exact_apart']:.4f}")
    print("by length      " + "  ".join(f"{n}: {v:.3f}" for n, v in s["exact_by_length"].items()))
    print(f"digit count {s['digit_count']:.4f}   digit accuracy {s['digit_accuracy']:.4f}")
    sure = "-" if s["sure_accuracy"] is None else f"{s['sure_accuracy']:.4f}"
    print(f"sure: {s['sure_share']:.1%} of the strings, {sure} of them right")
    print(f"/predict marks {s['predict_sure_share']:.1%} of these images sure")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.evaluate_numbers",
                                     description="Read a folder of images of numbers as POST /read does.")
    parser.add_argument("folder", type=Path, help="labels.csv (file,label[,touching]) and the images")
    parser.add_argument("--model-dir", type=Path, default=environment.model_dir())
    parser.add_argument("--model-name", default=environment.model_name())
    parser.add_argument("--version", type=int, help="default: the newest version")
    parser.add_argument("--no-report", action="store_true", help="print only, write nothing")
    args = parser.parse_args(argv)
    name = args.folder.resolve().name
    try:
        bundle = chosen_bundle(args.model_dir, args.model_name, args.version)
        answers, refused = read_all(bundle, args.folder, progress=sys.stderr.isatty())
    except (BundleError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    result = summary(answers)
    print_summary(name, bundle, result)
    if not args.no_report:
        report = bundle.path.parent / "reports" / str(bundle.version) / f"numbers-{name}.json"
        write_json(report, {"dataset": name, "folder": str(args.folder), "model_name": bundle.name,
                            "model_version": bundle.version, **result, "refused_images": refused,
                            "wrong": {a.file: a.text for a in answers if a.text != a.truth}})
        print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
