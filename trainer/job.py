"""The training job: fit a network on a dataset, calibrate its confidence on the validation split,
save it as the next bundle version, report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.bundle import Bundle
from shared.model import Model
from shared.repository import save_new_version
from trainer.augment import augment_batch
from trainer.calibration import confidence_threshold, expected_calibration_error, fit_temperature
from trainer.data import Dataset
from trainer.losses import cross_entropy_from_probabilities
from trainer.network import MLP, TrainingConfig
from trainer.progress import EpochProgress
from trainer.report import TrainingReport, confusion_matrix, write_report
from trainer.styles import StyledCopies

# Answers at or above the confidence threshold should be this often right, on held-out data.
THRESHOLD_TARGET_ACCURACY = 0.995
# A model taught with outliers refuses this share of the held-out digits as not digits.
DIGITS_REFUSED = 0.01


@dataclass
class JobOptions:
    preset: str | None = None  # the preset's name, recorded in the manifest
    data_source: str = "idx"   # where the data came from, recorded in the manifest
    report: bool = True        # write report.png and metrics.json beside the bundle
    progress: EpochProgress | None = None


@dataclass
class JobResult:
    bundle: Bundle
    report: dict[str, Path]  # "plot" and "metrics" paths; empty when no report was asked for
    metrics: dict[str, float]


def run_training_job(config: TrainingConfig, data: Dataset, model_dir: Path, model_name: str,
                     options: JobOptions | None = None) -> JobResult:
    """Fit, calibrate on the validation split, measure, save the next version, report."""
    options = options or JobOptions()
    preset, data_source = options.preset, options.data_source
    started = time.perf_counter()
    mlp = MLP(config).fit(data.x_train, data.y_train, (data.x_test, data.y_test),
                          image_shape=data.image_shape, progress=options.progress)
    held_out = data.x_train[mlp.validation_indices], data.y_train[mlp.validation_indices]
    calibration, rejection, held_out_proba = (
        calibrate(mlp.model, *held_out, config, data.image_shape) if len(held_out[1])
        else ({}, {}, None))
    seconds = time.perf_counter() - started
    metrics, test_labels, test_predicted = final_metrics(mlp, data)
    history, model = mlp.history, mlp.model

    bundle = save_new_version(model_dir, model_name, model, {
        "training": {**config.to_dict(), "preset": preset, "epochs_run": len(history["loss"]),
                     "seconds": round(seconds, 2),
                     "epoch_seconds": [round(s, 3) for s in history["seconds"]]},
        "metrics": metrics,
        "calibration": calibration,
        "rejection": rejection,
        "data": {"dataset": data.name, "source": data_source,
                 "train_size": len(data.y_train), "test_size": len(data.y_test),
                 "files_sha256": data.files},
    }, recipe=data.recipe)

    paths = {}
    if options.report:
        paths = write_report(bundle.path.parent / "reports" / str(bundle.version), TrainingReport(
            title=f"{model_name} v{bundle.version}: hidden {list(config.hidden)}, "
                  f"{config.activation}, {config.optimizer}, "
                  f"test accuracy {metrics['test_accuracy']:.4f}",
            history=history,
            confusion=confusion_matrix(test_labels, test_predicted, len(model.classes)),
            metrics={"model_name": model_name, "model_version": bundle.version, **metrics,
                     "training_seconds": seconds, "config": config.to_dict(),
                     "calibration": calibration,
                     "confidence_threshold": calibration.get("confidence_threshold")},
            calibration=(held_out_proba, np.searchsorted(model.classes, held_out[1]))
            if held_out_proba is not None else None))
    return JobResult(bundle, paths, metrics)


def final_metrics(mlp: MLP, data: Dataset) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """The metrics on whole sets with the final weights (the history's train figures are
    running averages taken while the weights moved), and the test labels and predictions as
    class indices. The test set goes through the network once: its logits give the
    probabilities with and without the temperature."""
    model, history = mlp.model, mlp.history
    train_loss, train_accuracy = mlp.evaluate(data.x_train, data.y_train)
    test_labels = np.searchsorted(model.classes, data.y_test)
    test_logits = model.logits(data.x_test)
    test_proba = model.probabilities(test_logits)
    test_predicted = test_proba.argmax(axis=1)
    metrics = {"train_accuracy": train_accuracy, "train_loss": train_loss,
               "test_accuracy": float((test_predicted == test_labels).mean()),
               "test_loss": cross_entropy_from_probabilities(test_proba, test_labels),
               "test_ece": expected_calibration_error(test_proba, test_labels),
               "test_ece_uncalibrated": expected_calibration_error(
                   model.probabilities(test_logits, 1.0), test_labels)}
    if "val_accuracy" in history:
        metrics["val_accuracy"] = max(history["val_accuracy"])
        metrics["val_loss"] = history["val_loss"][history["val_accuracy"].index(
            metrics["val_accuracy"])]
    return metrics, test_labels, test_predicted


def calibrate(model: Model, x_held_out: np.ndarray, y_held_out: np.ndarray,
              config: TrainingConfig | None = None, image_shape: tuple[int, int] | None = None
              ) -> tuple[dict, dict, np.ndarray]:
    """Fit the softmax temperature on held-out data (it becomes the model's); for a network taught
    with outliers, the digit score below which an input is not taken for a digit (it becomes the
    model's too); and the confidence above which answers are THRESHOLD_TARGET_ACCURACY right.

    Real handwriting is further from MNIST than MNIST's own held-out digits, so both thresholds
    are chosen on the held-out digits distorted and styled as the training batches are (by
    `config`, laid out as `image_shape`; without a config, as they are). Returns
    the manifest's calibration and rejection sections and the held-out probabilities at the
    fitted temperature."""
    labels = np.searchsorted(model.classes, y_held_out)
    logits = model.logits(x_held_out)
    model.temperature = fit_temperature(logits, labels)
    proba = model.probabilities(logits)
    distorted = (model.logits(as_in_training(x_held_out, y_held_out, config, image_shape))
                 if config else logits)
    rejection = {}
    if config and config.outliers:
        model.digit_threshold = float(np.quantile(model.digit_score(distorted), DIGITS_REFUSED))
        rejection = {"method": "outlier exposure (trainer/outliers.py): non-digits trained "
                               "towards the uniform distribution",
                     "held_out_refused": DIGITS_REFUSED}
    taken = model.is_digit(distorted)
    return {
        "method": "temperature scaling, fitted on the validation split",
        "temperature": model.temperature,
        "held_out_images": len(labels),
        "held_out_ece": expected_calibration_error(proba, labels),
        "held_out_ece_uncalibrated": expected_calibration_error(model.probabilities(logits, 1.0),
                                                                labels),
        "confidence_threshold": confidence_threshold(
            model.probabilities(distorted[taken]), labels[taken], THRESHOLD_TARGET_ACCURACY),
        "threshold_target_accuracy": THRESHOLD_TARGET_ACCURACY,
        "threshold_data": "the validation split, distorted and styled as the training batches",
    }, rejection, proba


def as_in_training(x: np.ndarray, y: np.ndarray, config: TrainingConfig,
                   image_shape: tuple[int, int] | None) -> np.ndarray:
    """`x` (raw rows, labels `y`) styled and distorted as the training batches are (unchanged
    when training distorts nothing). Seeded by the configuration's seed."""
    augment = config.augment
    if image_shape is None or not (augment.enabled or augment.styles):
        return x
    rng = np.random.default_rng([config.seed, 2])
    images = x.astype(np.float32)
    if augment.styles:
        styled = StyledCopies.draw(images, y, image_shape, augment.styles, rng)
        images = styled.swap_in(images, np.arange(len(images)), rng)
    if augment.enabled:
        images = augment_batch(images.reshape(-1, *image_shape), augment, rng)
    return images.reshape(len(x), -1)
