"""The default preset's promises on the full MNIST set: what `make train` and `make serve` give."""

import numpy as np
import pytest

from shared.bundle import load_bundle
from trainer.cli import build_parser, config_from_args
from trainer.job import JobOptions, run_training_job
from trainer.network import TrainingConfig
from trainer.outliers import make_outliers
from trainer.presets import PRESETS


def test_the_default_preset_is_what_training_config_gives() -> None:
    """`make train` and `MLP(TrainingConfig())` train the same network; every other preset is
    written as its differences from it."""
    assert PRESETS["default"] == {}
    assert config_from_args(build_parser().parse_args([])) == TrainingConfig()


@pytest.mark.slow
def test_default_preset_reads_mnist_and_is_calibrated(mnist, tmp_path) -> None:
    config = config_from_args(build_parser().parse_args([]))
    result = run_training_job(config, mnist, tmp_path, "mnist",
                              JobOptions(preset="default", report=False))
    bundle = load_bundle(result.bundle.path)
    metrics = bundle.manifest.metrics
    assert metrics["test_accuracy"] >= 0.985
    assert metrics["test_ece"] <= 0.015
    # It refuses what is not a digit (the made kinds drawn afresh, the glyphs undistorted) and
    # takes the digits.
    model = bundle.model
    assert bundle.manifest.rejection.threshold == model.digit_threshold
    unseen = make_outliers(mnist.x_test[:1000], mnist.y_test[:1000], (28, 28),
                           np.random.default_rng(12345))
    assert model.is_digit(model.logits(unseen)).mean() < 0.2
    assert model.is_digit(model.logits(mnist.x_test)).mean() > 0.98
