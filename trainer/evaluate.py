"""`python -m trainer.evaluate FOLDER`: how a saved model reads a folder of labelled image files.

MNIST's test set says how well a model reads MNIST. What matters to users is how it reads the
digits they draw and upload, so this runs any bundle over a folder of real image files through
exactly what the service does to an upload (the preprocessing recipe the bundle names,
`shared/recipes.py`, then the bundle's own forward pass) and prints the accuracy, each digit's
recall, the confusion matrix and the calibration (expected calibration error, and accuracy when
only confident answers are given). It writes the same figures, and a plot, into the model's
report folder beside its training report.

A folder is either
- `labels.csv` with at least the columns `file` and `label` (the file's path relative to the
  folder, or to its `images/` subfolder), as in the pendigits evaluation set; or
- one subfolder per label (`0/`, `1/`, ... holding that digit's images), as torchvision's
  ImageFolder reads them.

Images the preprocessing refuses (no ink, unreadable) are counted as wrong and listed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from tqdm import tqdm

from shared import environment
from shared.bundle import Bundle, load_bundle
from shared.errors import BundleError
from shared.limits import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS  # the service's: images it would take
from shared.model import Model
from shared.preprocess import ImageError
from shared.repository import latest_bundle_path, version_path
from trainer.calibration import expected_calibration_error
from trainer.report import confusion_matrix, plot_evaluation, write_json


@dataclass
class LabelledImages:
    paths: list[Path]
    labels: np.ndarray


@dataclass
class Evaluation:
    """What a model made of a folder: its logits (NaN rows for refused images)."""

    labels: np.ndarray
    logits: np.ndarray
    model: Model
    refused: dict[str, str]  # file -> why the preprocessing refused it

    @property
    def classes(self) -> list[int]:
        return self.model.classes

    @cached_property
    def probabilities(self) -> np.ndarray:
        """Calibrated probabilities, as the service answers them."""
        return self.model.probabilities(self.logits)

    @property
    def answered(self) -> np.ndarray:
        return ~np.isnan(self.logits[:, 0])

    @cached_property
    def is_digit(self) -> np.ndarray:
        """Whether the model takes each image for a digit (False for refused images)."""
        return self.answered & self.model.is_digit(np.nan_to_num(self.logits))

    def sure(self, threshold: float | None) -> np.ndarray:
        """Answers the service marks sure: a digit, at or above the confidence threshold."""
        confidence = np.nan_to_num(self.probabilities).max(axis=1)
        return self.is_digit & (confidence >= (0.0 if threshold is None else threshold))

    @property
    def label_indices(self) -> np.ndarray:
        """Each true label as the index of its output unit."""
        return np.searchsorted(self.classes, self.labels)

    @property
    def predictions(self) -> np.ndarray:
        """Predicted labels; -1 for a refused image, so it counts as wrong."""
        answered = self.answered
        predicted = np.full(len(self.labels), -1)
        predicted[answered] = np.asarray(self.classes)[self.probabilities[answered].argmax(axis=1)]
        return predicted

    def summary(self, threshold: float | None) -> dict:
        predicted, labels, answered = self.predictions, self.labels, self.answered
        indices = self.label_indices
        proba = self.probabilities[answered]
        result = {
            "images": len(labels),
            "refused": len(self.refused),
            "accuracy": float((predicted == labels).mean()),
            "recall": {str(c): float((predicted[labels == c] == c).mean())
                       for c in self.classes if (labels == c).any()},
            "ece": expected_calibration_error(proba, indices[answered]),
            "ece_uncalibrated": expected_calibration_error(
                self.model.probabilities(self.logits, 1.0)[answered], indices[answered]),
            "confusion_matrix": confusion_matrix(indices[answered], proba.argmax(axis=1),
                                                 len(self.classes)).tolist(),
        }
        result["not_digit"] = float(1 - self.is_digit.mean())
        sure = self.sure(threshold)
        result["confidence_threshold"] = threshold
        result["coverage_at_threshold"] = float(sure.mean())
        result["accuracy_at_threshold"] = (float((predicted[sure] == labels[sure]).mean())
                                           if sure.any() else None)
        return result

    def not_digit_summary(self, threshold: float | None, groups: np.ndarray) -> dict:
        """For images that are not digits: the share answered as a sure digit, and taken for a
        digit at all, overall and by group (an alphabet, say)."""
        sure = self.sure(threshold)
        return {"images": len(sure), "sure_digit": float(sure.mean()),
                "taken_for_digit": float(self.is_digit.mean()),
                "sure_digit_by_group": {str(g): float(sure[groups == g].mean())
                                        for g in sorted(set(groups.tolist()))}}


def read_folder(folder: Path) -> LabelledImages:
    """The images of `folder` and their labels, from labels.csv or from one subfolder per label."""
    folder = Path(folder)
    listing = folder / "labels.csv"
    if listing.is_file():
        with open(listing, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"file", "label"} <= set(rows[0]):
            raise ValueError(f"{listing}: needs the columns 'file' and 'label'")
        paths = [locate(folder, row["file"]) for row in rows]
        labels = [int(row["label"]) for row in rows]
    else:
        paths, labels = [], []
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()):
            for path in sorted(sub.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    paths.append(path)
                    labels.append(int(sub.name))
    if not paths:
        raise ValueError(f"{folder}: no labelled images (expected labels.csv, or subfolders "
                         "0/ ... 9/ of images)")
    return LabelledImages(paths, np.asarray(labels))


def locate(folder: Path, name: str) -> Path:
    """The file labels.csv names: in the folder, or in its images/ subfolder."""
    for candidate in (folder / name, folder / "images" / name):
        if candidate.is_file():
            return candidate
    raise ValueError(f"{folder}: labels.csv names {name!r}, which is neither in the folder "
                     "nor in its images/ subfolder")


def evaluate(bundle: Bundle, images: LabelledImages, progress: bool = True) -> Evaluation:
    """Preprocess every image as the service does and run the bundle's model on them."""
    model, recipe = bundle.model, bundle.input.recipe
    if recipe is None:
        raise ValueError(f"model {bundle.name} v{bundle.version} takes no images (its bundle "
                         "names no preprocessing recipe)")
    rows = np.zeros((len(images.paths), bundle.input.size), dtype=np.float32)
    refused, answered = {}, np.ones(len(images.paths), dtype=bool)
    for i, path in enumerate(tqdm(images.paths, desc="images", unit="img", disable=not progress,
                                  file=sys.stderr)):
        try:
            rows[i] = recipe.from_bytes(path.read_bytes(), MAX_IMAGE_PIXELS).ravel()
        except ImageError as e:
            refused[str(path)] = str(e)
            answered[i] = False
    logits = model.logits(rows)
    logits[~answered] = np.nan
    return Evaluation(images.labels, logits, model, refused)


def print_summary(name: str, bundle: Bundle, summary: dict) -> None:
    print(f"{name}: model {bundle.name} v{bundle.version}, {summary['images']} images "
          f"({summary['refused']} refused by the preprocessing)")
    print(f"accuracy {summary['accuracy']:.4f}   expected calibration error "
          f"{summary['ece']:.4f} (15 bins; {summary['ece_uncalibrated']:.4f} without the "
          "temperature)")
    threshold = summary["confidence_threshold"]
    print(f"not a digit, said the model, of {summary['not_digit']:.1%}; sure answers (a digit at "
          f"confidence >= {threshold or 0:.3f}): {summary['coverage_at_threshold']:.1%} of the "
          f"images, {summary['accuracy_at_threshold'] or 0:.4f} of them right")
    print("recall   " + "  ".join(f"{c}: {r:.3f}" for c, r in summary["recall"].items()))
    print("confusion matrix (rows: true label, columns: predicted)")
    classes = list(summary["recall"])
    print("      " + "".join(f"{c:>6}" for c in classes))
    for c, row in zip(classes, summary["confusion_matrix"]):
        print(f"{c:>6}" + "".join(f"{v:>6}" for v in row))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.evaluate",
        description="Evaluate a saved model on a folder of labelled image files, through the "
                    "service's own preprocessing.")
    parser.add_argument("folder", type=Path, help="labels.csv (file,label) or subfolders 0/..9/")
    parser.add_argument("--model-dir", type=Path, default=environment.model_dir())
    parser.add_argument("--model-name", default=environment.model_name())
    parser.add_argument("--version", type=int, help="default: the newest version")
    parser.add_argument("--name", help="the data set's name in the report (default: the folder's)")
    parser.add_argument("--no-report", action="store_true", help="print only, write nothing")
    parser.add_argument("--not-digits", action="store_true",
                        help="the folder holds no digits (labels.csv with a 'file' column, grouped "
                             "by its 'alphabet' column if any): report how many are answered as "
                             "a sure digit")
    return parser


def read_not_digits(folder: Path) -> tuple[LabelledImages, np.ndarray]:
    """The images listed in `folder`/labels.csv, and each one's group (its alphabet, or "all")."""
    with open(Path(folder) / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "file" not in rows[0]:
        raise ValueError(f"{folder}/labels.csv: needs a 'file' column")
    paths = [locate(Path(folder), row["file"]) for row in rows]
    groups = np.asarray([row.get("alphabet", "all") for row in rows])
    return LabelledImages(paths, np.full(len(paths), -1)), groups


def report_not_digits(name: str, bundle: Bundle, folder: Path, write: bool) -> None:
    images, groups = read_not_digits(folder)
    result = evaluate(bundle, images, progress=sys.stderr.isatty())
    summary = result.not_digit_summary(bundle.confidence_threshold, groups)
    print(f"{name}: model {bundle.name} v{bundle.version}, {summary['images']} images that are "
          f"not digits: {summary['sure_digit']:.1%} answered as a sure digit, "
          f"{summary['taken_for_digit']:.1%} taken for a digit at all")
    for group, share in summary["sure_digit_by_group"].items():
        print(f"  {group}: {share:.1%} sure digit")
    if write:
        path = bundle.path.parent / "reports" / str(bundle.version) / f"evaluation-{name}.json"
        write_json(path, {"dataset": name, "folder": str(folder), "model_name": bundle.name,
                          "model_version": bundle.version, **summary})
        print(f"report: {path}")


def chosen_bundle(model_dir: Path, name: str, version: int | None) -> Bundle:
    """Version `version` of model `name` (its newest when None). Raises BundleError."""
    path = (version_path(model_dir, name, version) if version
            else latest_bundle_path(model_dir, name))
    if path is None:
        raise BundleError(f"no bundle of model {name!r} in {model_dir}")
    return load_bundle(path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = args.name or args.folder.resolve().name
    try:
        bundle = chosen_bundle(args.model_dir, args.model_name, args.version)
        if args.not_digits:
            report_not_digits(name, bundle, args.folder, not args.no_report)
            return 0
        result = evaluate(bundle, read_folder(args.folder), progress=sys.stderr.isatty())
    except (BundleError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    summary = result.summary(bundle.confidence_threshold)
    print_summary(name, bundle, summary)
    if not args.no_report:
        directory = bundle.path.parent / "reports" / str(bundle.version)
        answered, indices = result.answered, result.label_indices
        write_json(directory / f"evaluation-{name}.json",
                   {"dataset": name, "folder": str(args.folder), "model_name": bundle.name,
                    "model_version": bundle.version, **summary,
                    "refused_images": result.refused})
        plot_evaluation(directory / f"evaluation-{name}.png", summary,
                        result.probabilities[answered], indices[answered],
                        title=f"{bundle.name} v{bundle.version} on {name}: accuracy "
                              f"{summary['accuracy']:.4f}")
        print(f"report: {directory / f'evaluation-{name}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
