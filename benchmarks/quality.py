"""`make bench-quality`: how well the default preset reads MNIST and real handwriting, and what
its augmentation costs and buys, against the same network trained without it in the same run.

1. The default preset (`make train`) trained end to end (`trainer.job`, as `python -m trainer`
   runs it), the same without the handwriting styles (`trainer/styles.py`) and the same with
   augmentation off altogether (the baseline): MNIST test accuracy, accuracy on
   the real-handwriting evaluation set (`EVAL_DIR`, default ../shared/data/pendigits, read
   through the service's own preprocessing), calibration error before and after the
   temperature, seconds per epoch and wall time.
2. Per-digit recall on the evaluation set, for all three.
3. The `best` preset's figures, from the manifest (and evaluation report) of the newest bundle
   in $MODEL_DIR/$MODEL_NAME trained with it, when there is one (`make train-best`).
"""

from __future__ import annotations

import trainer.blas  # noqa: F401  (before NumPy: the trainer's one BLAS thread)

# isort: split
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.table import print_table
from shared import environment
from shared.bundle import Bundle, load_bundle
from shared.repository import list_versions, version_path
from trainer.augment import AugmentConfig
from trainer.data import load_mnist
from trainer.evaluate import LabelledImages, evaluate, read_folder
from trainer.job import JobOptions, run_training_job
from trainer.network import TrainingConfig

EVAL_DIR = Path(os.environ.get("EVAL_DIR") or Path(__file__).resolve().parents[2] / "shared/data/pendigits")
TARGETS = {"mnist": 0.985, "pendigits": 0.97, "ece": 0.015, "wall": 90.0}


def train_and_measure(config: TrainingConfig, data, images: LabelledImages, name: str) -> dict:
    with tempfile.TemporaryDirectory() as model_dir:
        started = time.perf_counter()
        result = run_training_job(config, data, Path(model_dir), "bench",
                                  JobOptions(preset=name, report=False))
        wall = time.perf_counter() - started
        bundle = load_bundle(result.bundle.path)
    summary = evaluate(bundle, images, progress=False).summary(bundle.confidence_threshold)
    return {"bundle": bundle, "wall": wall, "summary": summary,
            "epoch": statistics.median(bundle.manifest.training["epoch_seconds"])}


def newest_best_bundle(model_dir: Path, name: str) -> Bundle | None:
    for version in reversed(list_versions(model_dir, name)):
        bundle = load_bundle(version_path(model_dir, name, version))
        if (bundle.manifest.training or {}).get("preset") == "best":
            return bundle
    return None


def main() -> None:
    if not (EVAL_DIR / "labels.csv").is_file():
        sys.exit(f"no evaluation set at {EVAL_DIR}: set EVAL_DIR to a folder of labelled images")
    data = load_mnist()
    images = read_folder(EVAL_DIR)
    config = TrainingConfig()  # the default preset
    unstyled = replace(config, augment=replace(config.augment, styles=0.0))
    plain = replace(config, augment=AugmentConfig())
    print(f"default preset: {config.to_dict()}\nevaluation set: {EVAL_DIR} "
          f"({len(images.labels)} images)\n", flush=True)

    runs = {"default": train_and_measure(config, data, images, "default"),
            "unstyled": train_and_measure(unstyled, data, images, "default, no styles"),
            "plain": train_and_measure(plain, data, images, "default, no augmentation")}

    def figures(run: dict) -> list[float]:
        metrics, summary = run["bundle"].manifest.metrics, run["summary"]
        return [metrics["test_accuracy"], summary["accuracy"], metrics["test_ece_uncalibrated"],
                metrics["test_ece"], summary["ece_uncalibrated"], summary["ece"],
                run["bundle"].model.temperature, run["epoch"], run["wall"]]

    rows = ["MNIST test accuracy", f"{EVAL_DIR.name} accuracy (real handwriting)",
            "MNIST test ECE, uncalibrated", "MNIST test ECE, calibrated",
            f"{EVAL_DIR.name} ECE, uncalibrated", f"{EVAL_DIR.name} ECE, calibrated",
            "temperature fitted", "seconds per epoch (median)",
            "wall time, data to saved bundle (s)"]
    targets = [f">= {TARGETS['mnist']}", f">= {TARGETS['pendigits']}", "-",
               f"<= {TARGETS['ece']}", "-", "-", "-", "-", f"<= {TARGETS['wall']:.0f}"]
    ours, unstyled_figures, base = (figures(runs[key]) for key in ("default", "unstyled", "plain"))
    met = [ours[0] >= TARGETS["mnist"], ours[1] >= TARGETS["pendigits"], None,
           ours[3] <= TARGETS["ece"], None, None, None, None, ours[8] <= TARGETS["wall"]]
    print_table(["default preset", "as it is", "without styles", "no augmentation (baseline)",
                 "ratio", "target", "met"],
                [[r, f"{a:.4f}", f"{u:.4f}", f"{b:.4f}", f"{a / b:.2f}x" if b else "-", t,
                  "-" if m is None else ("yes" if m else "NO")]
                 for r, a, u, b, t, m in zip(rows, ours, unstyled_figures, base, targets, met)],
                figure="quality")

    print()
    print_table([f"{EVAL_DIR.name} recall", *runs["default"]["summary"]["recall"]],
                [[name, *(f"{r:.3f}" for r in runs[key]["summary"]["recall"].values())]
                 for key, name in (("default", "as it is"), ("unstyled", "without styles"),
                                   ("plain", "no augmentation"))], figure="quality")

    print()
    print_best_preset(environment.model_dir(), environment.model_name())


def print_best_preset(model_dir: Path, name: str) -> None:
    """The figures of the newest bundle trained with the best preset, from its manifest."""
    best = newest_best_bundle(model_dir, name)
    if best is None:
        print(f"best preset: no bundle trained with --preset best in {model_dir / name} "
              "(make train-best makes one)")
        return
    training, metrics = best.manifest.training, best.manifest.metrics
    report = best.path.parent / "reports" / str(best.version) / f"evaluation-{EVAL_DIR.name}.json"
    evaluation = json.loads(report.read_text()) if report.is_file() else {}
    print_table([f"best preset ({name} v{best.version}, from its manifest)", "value"],
                [["MNIST test accuracy", f"{metrics['test_accuracy']:.4f}"],
                 [f"{EVAL_DIR.name} accuracy", f"{evaluation['accuracy']:.4f}" if evaluation
                  else f"not evaluated (make evaluate MODEL_VERSION={best.version})"],
                 ["MNIST test ECE, calibrated", f"{metrics['test_ece']:.4f}"],
                 ["epochs run", str(training["epochs_run"])],
                 ["training time (s)", f"{training['seconds']:.0f}"],
                 ["seconds per epoch (median)", f"{statistics.median(training['epoch_seconds']):.2f}"]],
                figure="quality")


if __name__ == "__main__":
    main()
