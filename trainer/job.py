"""The training job: fit a network on a dataset, save it as the next bundle version, report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from shared.bundle import Bundle, save_new_version
from trainer.data import Dataset
from trainer.network import MLP, TrainingConfig
from trainer.progress import EpochProgress
from trainer.report import confusion_matrix, write_report


@dataclass
class JobResult:
    bundle: Bundle
    report: dict[str, Path]  # "plot" and "metrics" paths; empty when no report was asked for
    metrics: dict[str, float]


def run_training_job(config: TrainingConfig, data: Dataset, model_dir: Path, model_name: str,
                     *, preset: str | None = None, data_source: str = "idx",
                     report: bool = True, progress: EpochProgress | None = None) -> JobResult:
    started = time.perf_counter()
    mlp = MLP(config).fit(data.x_train, data.y_train, data.x_test, data.y_test,
                          on_epoch=progress.on_epoch if progress else None,
                          on_batch=progress.on_batch if progress else None)
    seconds = time.perf_counter() - started

    # Final metrics on whole sets with the final weights (the history's train figures are
    # running averages taken while the weights moved).
    history = mlp.history
    train_loss, train_accuracy = mlp.evaluate(data.x_train, data.y_train)
    test_loss, test_accuracy = mlp.evaluate(data.x_test, data.y_test)
    metrics = {"train_accuracy": train_accuracy, "train_loss": train_loss,
               "test_accuracy": test_accuracy, "test_loss": test_loss}
    if "val_accuracy" in history:
        metrics["val_accuracy"] = max(history["val_accuracy"])
        metrics["val_loss"] = history["val_loss"][history["val_accuracy"].index(
            metrics["val_accuracy"])]

    bundle = save_new_version(model_dir, model_name, mlp.model, {
        "training": {**config.to_dict(), "preset": preset, "epochs_run": len(history["loss"]),
                     "seconds": round(seconds, 2)},
        "metrics": metrics,
        "data": {"dataset": data.name, "source": data_source,
                 "train_size": len(data.y_train), "test_size": len(data.y_test),
                 "files_sha256": data.files},
    }, image_shape=data.image_shape, recipe=data.recipe)

    paths = {}
    if report:
        predictions = mlp.predict(data.x_test)
        confusion = confusion_matrix(data.y_test, predictions, len(mlp.model.classes))
        paths = write_report(
            bundle.path.parent / "reports" / str(bundle.version), history, confusion,
            {"model_name": model_name, "model_version": bundle.version, **metrics,
             "training_seconds": seconds, "config": config.to_dict()},
            title=f"{model_name} v{bundle.version}: hidden {list(config.hidden)}, "
                  f"{config.activation}, {config.optimizer}, test accuracy {test_accuracy:.4f}")
    return JobResult(bundle, paths, metrics)
