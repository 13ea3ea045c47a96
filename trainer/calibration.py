"""Calibrated confidence: a softmax temperature fitted after training, and how to measure it.

A network trained to drive its cross-entropy down ends up over-confident: it says 99.9 % for
answers that are right 98 % of the time. Temperature scaling (Guo et al., "On Calibration of
Modern Neural Networks", 2017) divides the logits by one number T fitted on held-out data, by
minimising the cross-entropy there. T > 1 softens the probabilities; the order of the logits, and
so the predicted label, never changes.

Measured by the expected calibration error (ECE): predictions are put in 15 equal-width bins of
confidence, and ECE is the average gap between each bin's confidence and its accuracy, weighted
by the bin's size. A threshold on confidence then lets a client act on the answers that are
almost surely right and ask again for the rest; `confidence_threshold` picks it on held-out data.
"""

from __future__ import annotations

import numpy as np

from trainer.losses import log_softmax

ECE_BINS = 15
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0
GOLDEN = (np.sqrt(5) - 1) / 2


def cross_entropy_at(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean cross-entropy of softmax(logits / temperature) against integer labels."""
    log_p = log_softmax(logits.astype(np.float64) / temperature)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, iterations: int = 60) -> float:
    """The temperature that minimises the cross-entropy of (logits, labels).

    The loss is convex in 1/T (a log-sum-exp of linear functions minus a linear one), so a golden
    section search over 1/T finds the minimum without gradients or a tolerance to tune.
    """
    low, high = 1 / MAX_TEMPERATURE, 1 / MIN_TEMPERATURE
    for _ in range(iterations):
        a, b = high - GOLDEN * (high - low), low + GOLDEN * (high - low)
        if cross_entropy_at(logits, labels, 1 / a) < cross_entropy_at(logits, labels, 1 / b):
            high = b
        else:
            low = a
    return float(2 / (low + high))


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of `bins` equal-width bins of confidence: how many predictions fall in it, their
    mean confidence and their accuracy (0 for an empty bin)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    filled = np.maximum(counts, 1)
    return (counts, np.bincount(which, confidence, bins) / filled,
            np.bincount(which, correct, bins) / filled)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """Size-weighted mean |accuracy - confidence| over equal-width bins of confidence."""
    counts, confidence, accuracy = reliability_bins(probabilities, labels, bins)
    return float((counts * np.abs(accuracy - confidence)).sum() / len(labels))


def accuracy_by_coverage(probabilities: np.ndarray, labels: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Answering only the most confident predictions: for k = 1..n, the share answered (k/n),
    the accuracy of those k, and the confidence of the k-th (the threshold that answers them)."""
    confidence = probabilities.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    correct = (probabilities.argmax(axis=1) == labels)[order]
    answered = np.arange(1, len(labels) + 1)
    return answered / len(labels), np.cumsum(correct) / answered, confidence[order]


def confidence_threshold(probabilities: np.ndarray, labels: np.ndarray,
                         target_accuracy: float) -> float | None:
    """The lowest confidence at which the predictions at or above it are `target_accuracy` right.

    None when even the single most confident prediction misses the target (too few data).
    """
    coverage, accuracy, confidence = accuracy_by_coverage(probabilities, labels)
    meets = np.flatnonzero(accuracy >= target_accuracy)
    return float(confidence[meets[-1]]) if len(meets) else None
