"""The multilayer perceptron and how it learns: backpropagation and the mini-batch training loop.

The forward pass is `shared.model.forward_layers`, the same code the service runs. Here the
output layer is run as "identity" so the loss can be taken from the logits with log-sum-exp;
softmax(logits) is exactly what the served model's softmax output computes.

    model = MLP(TrainingConfig(hidden=(128, 32))).fit(x_train, y_train)
    model.accuracy(x_test, y_test), model.history["val_accuracy"]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from shared.activations import DERIVATIVES
from shared.model import Model, forward_layers
from trainer.initializers import initial_parameters
from trainer.losses import cross_entropy_from_probabilities, one_hot, softmax_cross_entropy
from trainer.optimizers import OPTIMIZERS


@dataclass
class TrainingConfig:
    hidden: tuple[int, ...] = (256, 128)
    activation: str = "relu"
    optimizer: str = "adam"            # "adam" or "sgd"
    learning_rate: float = 1e-3
    momentum: float = 0.9              # sgd only
    batch_size: int = 128              # 0 means the whole training set: full-batch descent
    epochs: int = 20
    weight_decay: float = 0.0          # L2 penalty: adds weight_decay * W to each weight gradient
    lr_decay: float = 1.0              # learning rate multiplied by this after every epoch
    validation_fraction: float = 0.1   # carved from the training set, never the test set
    patience: int = 0                  # early stopping: epochs without a better val accuracy; 0 = off
    seed: int = 0
    dtype: str = "float32"             # float64 for the gradient check

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden layer sizes must be positive, got {self.hidden}")
        if self.activation not in DERIVATIVES:
            raise ValueError(f"unknown activation {self.activation!r}; "
                             f"choose from {sorted(DERIVATIVES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from {sorted(OPTIMIZERS)}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError("validation_fraction must be in [0, 1)")
        if self.epochs < 1 or self.batch_size < 0 or self.learning_rate <= 0:
            raise ValueError("epochs must be >= 1, batch_size >= 0 and learning_rate > 0")

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}


def backprop(weights: list[np.ndarray], biases: list[np.ndarray], hidden_activations: list[str],
             x: np.ndarray, targets: np.ndarray, weight_decay: float = 0.0,
             grads: tuple[list[np.ndarray], list[np.ndarray]] | None = None
             ) -> tuple[float, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Loss, class probabilities and the gradients of the loss w.r.t. every weight and bias.

    `targets` is one-hot. The loss is the mean softmax cross-entropy over the batch plus
    weight_decay/2 * sum(W**2). For softmax with cross-entropy the gradient at the logits is
    simply (probabilities - targets) / n; each layer back then multiplies by W^T and by the
    activation's derivative. `grads` (weight and bias gradient arrays shaped like the
    parameters) receives the gradients in place; without it new arrays are returned.
    """
    n = len(x)
    outputs = forward_layers(weights, biases, [*hidden_activations, "identity"], x)
    loss, probabilities = softmax_cross_entropy(outputs[-1], targets)
    grad_w, grad_b = grads or ([np.empty_like(w) for w in weights],
                               [np.empty_like(b) for b in biases])

    delta = probabilities - targets
    delta /= n
    for layer in reversed(range(len(weights))):
        np.matmul(outputs[layer].T, delta, out=grad_w[layer])
        delta.sum(axis=0, out=grad_b[layer])
        if weight_decay:
            grad_w[layer] += weight_decay * weights[layer]
        if layer > 0:
            delta = delta @ weights[layer].T
            DERIVATIVES[hidden_activations[layer - 1]](outputs[layer], delta)
    if weight_decay:
        loss += 0.5 * weight_decay * sum(float((w * w).sum()) for w in weights)
    return loss, probabilities, grad_w, grad_b


def flat_views(arrays: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One contiguous buffer holding copies of `arrays`, and views of it shaped like them.

    The optimiser then updates every parameter with a dozen NumPy calls over one array instead
    of a dozen per layer: on a small network the per-call overhead was a third of an epoch.
    """
    flat = np.concatenate([a.ravel() for a in arrays])
    views, offset = [], 0
    for a in arrays:
        views.append(flat[offset:offset + a.size].reshape(a.shape))
        offset += a.size
    return flat, views


EpochCallback = Callable[[int, dict], None]


@dataclass
class MLP:
    """A multilayer perceptron classifier with softmax output, trained by mini-batch backprop."""

    config: TrainingConfig = field(default_factory=TrainingConfig)
    model: Model | None = None
    history: dict[str, list[float]] = field(default_factory=dict)

    def fit(self, x: np.ndarray, y: np.ndarray, x_test: np.ndarray | None = None,
            y_test: np.ndarray | None = None, on_epoch: EpochCallback | None = None,
            on_batch: Callable[[int, int], None] | None = None) -> MLP:
        """Train on raw inputs `x` (n, features) and integer labels `y`.

        A validation split is carved from (x, y); the test set, when given, is only ever
        evaluated, to fill the history. `on_epoch(epoch, row)` is called after each epoch with
        that epoch's history row; `on_batch(done, total)` after each mini-batch.
        """
        cfg = self.config
        dtype = np.dtype(cfg.dtype).type
        rng = np.random.default_rng(cfg.seed)
        classes = np.unique(y)
        labels = np.searchsorted(classes, y)

        order = rng.permutation(len(x))
        n_val = int(round(len(x) * cfg.validation_fraction))
        val_idx, train_idx = order[:n_val], order[n_val:]

        # Min-max scaling learned from the training part only, stored with the weights.
        x_train_raw = x[train_idx]
        input_min, input_max = float(x_train_raw.min()), float(x_train_raw.max())
        layer_sizes = [x.shape[1], *cfg.hidden, len(classes)]
        n_layers = len(layer_sizes) - 1
        weights, biases = initial_parameters(layer_sizes, cfg.activation, rng, dtype)
        params_flat, params = flat_views([*weights, *biases])
        weights, biases = params[:n_layers], params[n_layers:]
        grads_flat, grads = flat_views([np.zeros_like(p) for p in params])
        self.model = Model(weights, biases, [cfg.activation] * len(cfg.hidden),
                           input_min, input_max, [int(c) for c in classes])
        x_train = self.model.scale(x_train_raw)
        y_train = labels[train_idx]
        targets = one_hot(y_train, len(classes), dtype)

        optimizer_cls = OPTIMIZERS[cfg.optimizer]
        kwargs = {"momentum": cfg.momentum} if cfg.optimizer == "sgd" else {}
        optimizer = optimizer_cls([params_flat], cfg.learning_rate, **kwargs)

        n_train = len(x_train)
        batch_size = cfg.batch_size or n_train
        n_batches = -(-n_train // batch_size)
        self.history = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy",
                                        "test_loss", "test_accuracy", "seconds",
                                        "learning_rate")}
        best_val, best_params, stale = -1.0, None, 0
        for epoch in range(1, cfg.epochs + 1):
            started = time.perf_counter()
            shuffled = rng.permutation(n_train)
            loss_sum, correct = 0.0, 0
            for b in range(n_batches):
                idx = shuffled[b * batch_size:(b + 1) * batch_size]
                loss, proba, _, _ = backprop(
                    weights, biases, self.model.hidden_activations, x_train[idx], targets[idx],
                    cfg.weight_decay, (grads[:n_layers], grads[n_layers:]))
                optimizer.step([grads_flat])
                loss_sum += loss * len(idx)
                correct += int((proba.argmax(axis=1) == y_train[idx]).sum())
                if on_batch:
                    on_batch(b + 1, n_batches)

            row = {"loss": loss_sum / n_train, "accuracy": correct / n_train,
                   "learning_rate": optimizer.learning_rate}
            if n_val:
                row["val_loss"], row["val_accuracy"] = self.evaluate(x[val_idx], y[val_idx])
            if x_test is not None and y_test is not None:
                row["test_loss"], row["test_accuracy"] = self.evaluate(x_test, y_test)
            row["seconds"] = time.perf_counter() - started
            for key, value in row.items():
                self.history[key].append(value)
            if on_epoch:
                on_epoch(epoch, row)
            optimizer.learning_rate *= cfg.lr_decay

            if n_val and cfg.patience:
                if row["val_accuracy"] > best_val:
                    best_val, stale = row["val_accuracy"], 0
                    best_params = params_flat.copy()
                else:
                    stale += 1
                    if stale >= cfg.patience:
                        break
        if best_params is not None:  # early stopping keeps the best epoch's weights
            params_flat[...] = best_params
        self.history = {k: v for k, v in self.history.items() if v}
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self._fitted().predict_proba(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._fitted().predict(x)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == y).mean())

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) on raw inputs and integer labels."""
        model = self._fitted()
        proba = model.predict_proba(x)
        labels = np.searchsorted(model.classes, y)
        return (cross_entropy_from_probabilities(proba, labels),
                float((proba.argmax(axis=1) == labels).mean()))

    def _fitted(self) -> Model:
        if self.model is None:
            raise RuntimeError("the network is not trained yet: call fit() first")
        return self.model
