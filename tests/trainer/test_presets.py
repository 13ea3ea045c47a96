"""The default preset's promises on the full MNIST set: what `make train` and `make serve` give."""

import pytest

from shared.bundle import load_bundle
from trainer.cli import build_parser, config_from_args
from trainer.job import run_training_job


@pytest.mark.slow
def test_default_preset_reads_mnist_and_is_calibrated(mnist, tmp_path) -> None:
    config = config_from_args(build_parser().parse_args([]))
    result = run_training_job(config, mnist, tmp_path, "mnist", preset="default", report=False)
    metrics = load_bundle(result.bundle.path).manifest["metrics"]
    assert metrics["test_accuracy"] >= 0.985
    assert metrics["test_ece"] <= 0.015
