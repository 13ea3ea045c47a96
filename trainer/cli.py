"""`python -m trainer`: train a network and save it as the next model version.

Presets (trainer/presets.py) set every option at once; options given explicitly override the
preset's values.
A model is named after its data (`mnist`, `digits`) unless `--model-name` says otherwise: each
name is a model of its own, with its own input, served beside the others.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields, replace
from pathlib import Path

from shared import environment
from shared.activations import HIDDEN_ACTIVATIONS
from shared.errors import BundleError
from shared.repository import MODEL_NAME
from trainer.augment import AugmentConfig
from trainer.data import DataError, Dataset, load_digits_dataset, load_mnist, load_openml_mnist
from trainer.job import JobOptions, run_training_job
from trainer.network import TrainingConfig
from trainer.optimizers import OPTIMIZERS
from trainer.outliers import DEFAULT_KINDS, OUTLIER_KINDS
from trainer.presets import PRESETS
from trainer.progress import EpochProgress
from trainer.schedules import SCHEDULES


def _hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 128,32, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes


# The augmentation options: CLI flag -> AugmentConfig field.
AUGMENT_OPTIONS = {
    "--rotation": ("rotation", "degrees: rotate by up to +-this"),
    "--scale": ("scale", "scale each axis by a factor in [1-this, 1+this] (aspect ratio changes)"),
    "--shear": ("shear", "slant by a shear factor up to +-this"),
    "--translate": ("translate", "shift by up to +-this many pixels along each axis"),
    "--elastic-alpha": ("elastic_alpha", "elastic distortion: displacement scale in pixels (0 = off)"),
    "--elastic-sigma": ("elastic_sigma", "elastic distortion: smoothness in pixels"),
    "--thickness": ("thickness", "blend up to this far towards thicker or thinner strokes (0-1)"),
    "--styles": ("styles", "share of 1s, 7s and 9s shown each epoch in a style MNIST lacks: "
                           "flagged 1, crossed 7, curled 9 (0-1)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Train the digitnet MLP and save it as the next version of a model bundle.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="a complete configuration; the options below override its values")
    net = parser.add_argument_group("network and optimisation (default: the preset's value)")
    net.add_argument("--hidden", type=_hidden_sizes, help="hidden layer sizes, e.g. 128,32")
    net.add_argument("--activation", choices=sorted(HIDDEN_ACTIVATIONS))
    net.add_argument("--optimizer", choices=sorted(OPTIMIZERS))
    net.add_argument("--learning-rate", type=float)
    net.add_argument("--momentum", type=float, help="SGD momentum")
    net.add_argument("--batch-size", type=int, help="0 = full batch")
    net.add_argument("--epochs", type=int)
    net.add_argument("--weight-decay", type=float, help="L2 penalty coefficient")
    net.add_argument("--schedule", choices=sorted(SCHEDULES), help="learning-rate schedule")
    net.add_argument("--lr-decay", type=float,
                     help="exponential schedule: learning rate factor applied every epoch")
    net.add_argument("--dropout", type=float, help="share of hidden units dropped while training")
    net.add_argument("--ema", type=float,
                     help="keep a moving average of the weights with this decay per step (0 = off)")
    net.add_argument("--validation-fraction", type=float,
                     help="share of the training set held out for validation")
    net.add_argument("--patience", type=int,
                     help="early stopping after this many epochs without better val accuracy")
    net.add_argument("--seed", type=int, default=0, help="seeds initialisation and shuffling")
    net.add_argument("--outliers", type=float,
                     help="share of each batch swapped for images that are not digits, taught to "
                          "give no digit (outlier exposure, MNIST only; 0 = off)")
    net.add_argument("--outlier-kinds", type=lambda text: tuple(text.split(",")),
                     help=f"which outliers, comma-separated, of {','.join(OUTLIER_KINDS)}; "
                          f"the presets make {','.join(DEFAULT_KINDS)}")

    augment = parser.add_argument_group(
        "augmentation: random distortions of every training batch (default: the preset's, "
        "whose amounts are for MNIST's 28x28 digits; other data sets get only these options)")
    for flag, (_, text) in AUGMENT_OPTIONS.items():
        augment.add_argument(flag, type=float, help=text)
    augment.add_argument("--no-augment", action="store_true", help="train on the images as they are")

    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=["mnist", "digits"], default="mnist",
                      help="digits = scikit-learn's bundled 8x8 digits (offline, for demos)")
    data.add_argument("--data-source", choices=["idx", "openml"], default="idx",
                      help="MNIST from the IDX files (downloaded when missing) or OpenML")
    data.add_argument("--data-dir", type=Path,  # unset: trainer/data.py's default_mnist_dir()
                      help="folder of the MNIST IDX files (env MNIST_DIR; default: a cache dir)")

    out = parser.add_argument_group("output")
    out.add_argument("--model-dir", type=Path, default=environment.model_dir(),
                     help="where bundles go (env MODEL_DIR)")
    out.add_argument("--model-name",
                     help="model name: bundles are MODEL_DIR/NAME/VERSION.npz (default: the "
                          "dataset's name, so an 8x8 digits model never lands among MNIST's versions)")
    out.add_argument("--no-report", action="store_true", help="skip the PNG/JSON report")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainingConfig:
    preset = TrainingConfig(**PRESETS[args.preset])
    given = {f.name: getattr(args, f.name) for f in fields(TrainingConfig)
             if f.name != "augment" and getattr(args, f.name, None) is not None}
    # The presets' amounts are in pixels of MNIST's 28x28 digits: other data gets only the
    # augmentation its options ask for.
    on_mnist = args.dataset == "mnist"
    augment = preset.augment if on_mnist and not args.no_augment else AugmentConfig()
    augment = replace(augment, **{name: getattr(args, name) for name, _ in AUGMENT_OPTIONS.values()
                                  if getattr(args, name) is not None})
    if not on_mnist:  # the outliers are drawn in MNIST's 28x28 form
        given["outliers"] = args.outliers or 0.0
    return replace(preset, **given, augment=augment)


def load_dataset(args: argparse.Namespace) -> Dataset:
    if args.dataset == "digits":
        return load_digits_dataset(seed=args.seed)
    if args.data_source == "openml":
        return load_openml_mnist()
    return load_mnist(args.data_dir)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.model_name = args.model_name or args.dataset
    if not MODEL_NAME.match(args.model_name):
        parser.error(f"invalid --model-name {args.model_name!r}: letters, digits, '_', '-', '.'")
    try:
        config = config_from_args(args)
    except ValueError as e:
        parser.error(str(e))

    try:
        data = load_dataset(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{data.name}: {len(data.y_train)} training and {len(data.y_test)} test images; "
          f"network {[data.x_train.shape[1], *config.hidden, len(set(data.y_train.tolist()))]} "
          f"({config.activation}, {config.optimizer}, preset {args.preset})", file=sys.stderr)
    try:
        result = run_training_job(config, data, args.model_dir, args.model_name, JobOptions(
            preset=args.preset, data_source=args.data_source, report=not args.no_report,
            progress=EpochProgress(config.epochs)))
    except (BundleError, OSError) as e:
        print(f"error: cannot save the model: {e}", file=sys.stderr)
        return 1

    print(f"test accuracy {result.metrics['test_accuracy']:.4f}  "
          f"(loss {result.metrics['test_loss']:.4f})")
    print(f"bundle: {result.bundle.path}  (model {args.model_name}, version {result.bundle.version})")
    for kind, path in result.report.items():
        print(f"report {kind}: {path}")
    return 0
