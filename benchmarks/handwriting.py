"""`make bench-handwriting`: what models make of real handwriting, side by side, as the service
would answer: single digits (pendigits), characters that are not digits (not-digits) and whole
numbers (numbers), read through the service's own preprocessing.

    python -m benchmarks.handwriting [BUNDLE.npz ...] [--sets pendigits,not-digits]

Each bundle is a column (by default the newest version of $MODEL_NAME in $MODEL_DIR); a row per
figure. Two tables: single digits and not-digits (docs/figures/not-digits.md: the MNIST test
accuracy the manifest records, what `make evaluate` and `make evaluate-not-digits` measure), and
whole numbers (docs/figures/numbers.md: what `make evaluate-numbers` measures). The evaluation sets come from
EVAL_DIR, NOT_DIGITS_DIR and NUMBERS_DIR (by default the sets beside the checkout). They are
evaluation sets only: nothing here fits anything to them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from benchmarks.table import print_table
from shared import environment
from shared.bundle import Bundle, load_bundle
from shared.repository import latest_bundle_path
from trainer.evaluate import evaluate, read_folder, read_not_digits
from trainer.evaluate_numbers import read_all, summary

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_dir(variable: str, default: str) -> Path:
    return Path(os.environ.get(variable) or DATA / default)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def column_name(bundle: Bundle) -> str:
    """The bundle, and what it was taught: its preset and share of outliers."""
    training = bundle.manifest.training or {}
    return (f"{bundle.name} v{bundle.version} ({training.get('preset', '?')} preset, "
            f"outliers {training.get('outliers', 0) or 0:g}, seed {training.get('seed', '?')})")


def single_digits(bundle: Bundle, folder: Path) -> dict[str, str]:
    result = evaluate(bundle, read_folder(folder), progress=False)
    s = result.summary(bundle.confidence_threshold)
    return {"pendigits accuracy": percent(s["accuracy"]),
            "pendigits called not a digit": percent(s["not_digit"]),
            "pendigits answered sure": percent(s["coverage_at_threshold"]),
            "pendigits right among the sure": percent(s["accuracy_at_threshold"])}


def not_digits(bundle: Bundle, folder: Path) -> dict[str, str]:
    images, groups = read_not_digits(folder)
    s = evaluate(bundle, images, progress=False).not_digit_summary(bundle.confidence_threshold, groups)
    rows = {"not-digits answered as a sure digit": percent(s["sure_digit"])}
    rows.update({f"  of them {group}": percent(share) for group, share in s["sure_digit_by_group"].items()})
    return rows


def numbers(bundle: Bundle, folder: Path) -> dict[str, str]:
    s = summary(read_all(bundle, folder, progress=False)[0])
    return {"numbers read exactly": percent(s["exact"]),
            "numbers read exactly, digits touching / apart":
                f"{percent(s['exact_touching'])} / {percent(s['exact_apart'])}",
            "numbers with the right count of digits": percent(s["digit_count"]),
            "numbers answered sure": percent(s["sure_share"]),
            "numbers right among the sure": percent(s["sure_accuracy"]),
            "numbers /predict marks sure (should be none)": percent(s["predict_sure_share"])}


# Each evaluation set's measure, and the figure file (table) its rows go to.
MEASURES: dict[str, tuple[Callable[[Bundle, Path], dict[str, str]], str]] = {
    "pendigits": (single_digits, "not-digits"),
    "not-digits": (not_digits, "not-digits"),
    "numbers": (numbers, "numbers"),
}


def figures(bundle: Bundle, folders: dict[str, Path]) -> dict[str, dict[str, str]]:
    """Figure file -> (row -> this bundle's cell), for the evaluation sets in `folders`."""
    metrics = bundle.manifest.metrics or {}
    tables: dict[str, dict[str, str]] = {"not-digits": {
        "MNIST test accuracy (its manifest)": percent(metrics.get("test_accuracy")),
        "MNIST test ECE (its manifest)": percent(metrics.get("test_ece"))}}
    for name, (measure, figure) in MEASURES.items():
        if name not in folders:
            continue
        print(f"{column_name(bundle)}: {name}", flush=True)
        tables.setdefault(figure, {}).update(measure(bundle, folders[name]))
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundles", nargs="*", type=Path,
                        help="bundles to compare (default: the newest of $MODEL_NAME in $MODEL_DIR)")
    parser.add_argument("--sets", default=",".join(MEASURES),
                        help="the evaluation sets to read, comma-separated (default: all; the "
                             "numbers take the longest)")
    args = parser.parse_args()
    sets = args.sets.split(",")
    if unknown := set(sets) - set(MEASURES):
        parser.error(f"unknown sets {sorted(unknown)}; choose from {list(MEASURES)}")
    paths = args.bundles or [latest_bundle_path(environment.model_dir(), environment.model_name())]
    if paths[0] is None:
        raise SystemExit(f"no bundle of {environment.model_name()} in {environment.model_dir()}: "
                         "make train makes one")
    folders = {"pendigits": data_dir("EVAL_DIR", "pendigits"),
               "not-digits": data_dir("NOT_DIGITS_DIR", "not-digits"),
               "numbers": data_dir("NUMBERS_DIR", "numbers")}
    folders = {name: folder for name, folder in folders.items() if name in sets}
    bundles = [load_bundle(path) for path in paths]
    columns = [figures(bundle, folders) for bundle in bundles]
    for figure, rows in columns[0].items():
        print()
        print_table([figure, *map(column_name, bundles)],
                    [[row, *(column[figure][row] for column in columns)] for row in rows],
                    figure=figure)


if __name__ == "__main__":
    main()
