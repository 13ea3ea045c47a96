"""Reports: the training report (curves per epoch, confusion matrix, calibration, metrics.json)
and the evaluation report of `python -m trainer.evaluate` (confusion matrix, reliability
diagram, accuracy against coverage)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.calibration import ECE_BINS, accuracy_by_coverage, reliability_bins


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = how many of class i were predicted as j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def write_json(path: Path, document: dict) -> None:
    """Write `document` atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(document, indent=1))
    os.replace(tmp, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    return plt


@dataclass
class TrainingReport:
    """What the training report shows."""

    title: str
    history: dict[str, list[float]]  # a list per figure, an entry per epoch
    confusion: np.ndarray            # on the test set
    metrics: dict                    # written to metrics.json, with the history and confusion
    calibration: tuple[np.ndarray, np.ndarray] | None = None  # held-out (probabilities, labels)


def write_report(directory: Path, report: TrainingReport) -> dict[str, Path]:
    """Write report.png (curves, confusion matrix and, given the held-out probabilities and
    labels, accuracy against coverage) and metrics.json into `directory`."""
    history, confusion, metrics = report.history, report.confusion, report.metrics
    calibration = report.calibration
    plt = _pyplot()
    directory.mkdir(parents=True, exist_ok=True)
    panels = 4 if calibration is not None else 3
    fig, axes = plt.subplots(1, panels, figsize=(5.7 * panels, 5))
    ax_loss, ax_acc, ax_cm = axes[:3]
    epochs = np.arange(1, len(history["loss"]) + 1)
    marker = "o" if len(epochs) <= 30 else None  # a line of one or two epochs needs dots
    for split, style in (("", "-"), ("val_", "--"), ("test_", ":")):
        name = split.rstrip("_") or "train"
        if f"{split}loss" in history:
            ax_loss.plot(epochs, history[f"{split}loss"], style, marker=marker, label=name)
            ax_acc.plot(epochs, history[f"{split}accuracy"], style, marker=marker, label=name)
    ax_loss.set(title="Cross-entropy loss", xlabel="epoch", yscale="log")
    ax_acc.set(title="Accuracy", xlabel="epoch")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    _confusion_panel(ax_cm, confusion, "Confusion matrix (test set)")
    if calibration is not None:
        _coverage_panel(axes[3], *calibration, metrics.get("confidence_threshold"),
                        "held-out data")
    fig.suptitle(report.title)
    fig.tight_layout()

    paths = {"plot": directory / "report.png", "metrics": directory / "metrics.json"}
    fig.savefig(paths["plot"], dpi=90)
    plt.close(fig)
    write_json(paths["metrics"], {**metrics, "history": history,
                                  "confusion_matrix": confusion.tolist()})
    return paths


def plot_evaluation(path: Path, summary: dict, probabilities: np.ndarray, labels: np.ndarray,
                    title: str) -> None:
    """Confusion matrix, reliability diagram and accuracy against coverage, side by side."""
    plt = _pyplot()
    fig, (ax_cm, ax_rel, ax_cov) = plt.subplots(1, 3, figsize=(17, 5))
    _confusion_panel(ax_cm, np.asarray(summary["confusion_matrix"]), "Confusion matrix")

    counts, _, accuracy = reliability_bins(probabilities, labels)
    filled = counts > 0
    centres = (np.arange(ECE_BINS) + 0.5) / ECE_BINS
    ax_rel.bar(centres[filled], accuracy[filled], width=1 / ECE_BINS, edgecolor="black",
               alpha=0.7, label="accuracy")
    ax_rel.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax_rel.set(title=f"Reliability (ECE {summary['ece']:.4f})", xlabel="confidence",
               ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    ax_rel.legend()
    _coverage_panel(ax_cov, probabilities, labels, summary.get("confidence_threshold"),
                    "this data set")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _confusion_panel(ax, confusion: np.ndarray, title: str) -> None:
    ax.imshow(np.log1p(confusion), cmap="Blues")
    for (i, j), count in np.ndenumerate(confusion):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                color="white" if i == j else "black")
    ax.set(title=title, xlabel="predicted", ylabel="true",
           xticks=range(len(confusion)), yticks=range(len(confusion)))


def _coverage_panel(ax, probabilities: np.ndarray, labels: np.ndarray,
                    threshold: float | None, where: str) -> None:
    """Accuracy of the answers given when only the most confident share is answered."""
    coverage, accuracy, confidence = accuracy_by_coverage(probabilities, labels)
    ax.plot(coverage, accuracy)
    if threshold is not None:
        at = np.searchsorted(-confidence, -threshold, side="right") - 1
        if at >= 0:
            ax.plot(coverage[at], accuracy[at], "o",
                    label=f"threshold {threshold:.3f}: {coverage[at]:.1%} answered, "
                          f"{accuracy[at]:.2%} right")
            ax.legend(loc="lower left")
    ax.set(title=f"Accuracy against coverage ({where})", xlabel="share of inputs answered",
           ylabel="accuracy of the answers", xlim=(0, 1.01))
    ax.grid(alpha=0.3)
