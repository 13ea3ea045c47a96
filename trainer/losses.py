"""Softmax cross-entropy, computed stably.

The loss is computed from the logits with log-sum-exp, never as log(softmax(z)): softmax can
round to exactly 0 for a wrong class with a huge negative logit, and log(0) is -inf. With
log-sum-exp, logits of +-1e4 still give a finite loss and finite gradients.
"""

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


def softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against one-hot `targets`, and the probabilities."""
    log_probabilities = log_softmax(logits)
    loss = -float((targets * log_probabilities).sum()) / len(logits)
    return loss, np.exp(log_probabilities, out=log_probabilities)


def cross_entropy_from_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy from probabilities already computed (integer labels), with a floor so a
    confident mistake costs a large finite loss instead of infinity."""
    picked = probabilities[np.arange(len(labels)), labels]
    floor = np.finfo(probabilities.dtype).tiny
    return float(-np.log(np.maximum(picked, floor)).mean())


def one_hot(labels: np.ndarray, n_classes: int, dtype=np.float32) -> np.ndarray:
    encoded = np.zeros((len(labels), n_classes), dtype=dtype)
    encoded[np.arange(len(labels)), labels] = 1
    return encoded
