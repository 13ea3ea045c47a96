"""The multilayer perceptron and how it learns: backpropagation and the mini-batch training loop.

The forward pass is `shared.model.forward_layers`, the same code the service runs. Here the
output layer is run as "identity" so the loss can be taken from the logits with log-sum-exp;
softmax(logits) is exactly what the served model's softmax output computes.

What a mini-batch step does, in order: show some of its 1s, 7s and 9s in a handwriting style
MNIST lacks (trainer/styles.py, drawn once before the first epoch) and distort the batch's images
(trainer/augment.py), when augmentation asks for them; run forward with dropout masks on the
hidden layers, backpropagate, let the optimiser update the parameters at the schedule's learning
rate (trainer/schedules.py), and fold the new parameters into their exponential moving average
(when `ema` is on). Validation, early stopping and the saved model use the averaged parameters:
an average over the last few hundred steps sits nearer the minimum than the last step's noisy
position.

    model = MLP(TrainingConfig(hidden=(128, 32))).fit(x_train, y_train)
    model.accuracy(x_test, y_test), model.history["val_accuracy"]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from shared.activations import DERIVATIVES
from shared.model import Model, forward_layers
from trainer.augment import AugmentConfig, augment_batch
from trainer.initializers import initial_parameters
from trainer.losses import cross_entropy_from_probabilities, one_hot, softmax_cross_entropy
from trainer.optimizers import OPTIMIZERS
from trainer.outliers import OutlierBank, make_outliers
from trainer.schedules import SCHEDULES
from trainer.styles import StyledCopies


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
    schedule: str = "exponential"      # learning-rate schedule, see trainer/schedules.py
    lr_decay: float = 1.0              # exponential schedule: rate multiplied by this every epoch
    dropout: float = 0.0               # share of hidden units dropped at each training step
    ema: float = 0.0                   # decay of the weights' moving average per step; 0 = off
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # all zero: off
    outliers: float = 0.0              # share of each batch swapped for non-digits (trainer/outliers.py)
    validation_fraction: float = 0.1   # carved from the training set, never the test set
    patience: int = 0                  # early stopping: epochs without a better val accuracy; 0 = off
    seed: int = 0
    dtype: str = "float32"             # float64 for the gradient check

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):  # as read back from a manifest
            self.augment = AugmentConfig(**self.augment)
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
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose from {sorted(SCHEDULES)}")
        if not 0 <= self.dropout < 1 or not 0 <= self.ema < 1 or not 0 <= self.outliers < 1:
            raise ValueError("dropout, ema and outliers must be in [0, 1)")

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}


def backprop(weights: list[np.ndarray], biases: list[np.ndarray], hidden_activations: list[str],
             x: np.ndarray, targets: np.ndarray, weight_decay: float = 0.0,
             grads: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
             dropout: float = 0.0, rng: np.random.Generator | None = None,
             ) -> tuple[float, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Loss, class probabilities and the gradients of the loss w.r.t. every weight and bias.

    `targets` is one-hot. The loss is the mean softmax cross-entropy over the batch plus
    weight_decay/2 * sum(W**2). For softmax with cross-entropy the gradient at the logits is
    simply (probabilities - targets) / n; each layer back then multiplies by W^T and by the
    activation's derivative. `grads` (weight and bias gradient arrays shaped like the
    parameters) receives the gradients in place; without it new arrays are returned.

    With `dropout` > 0 (and `rng`), each hidden unit is dropped with that probability and the
    kept ones scaled by 1/(1 - dropout) ("inverted" dropout): the expected output is unchanged,
    so prediction runs the plain network with no rescaling. The gradient flows only through
    the kept units, with the same scale.
    """
    n = len(x)
    masks = dropout_masks(x.dtype, n, weights, dropout, rng) if dropout else None
    outputs = forward_layers(weights, biases, [*hidden_activations, "identity"], x, masks)
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
            activated = outputs[layer]
            if masks:  # back to the unmasked output the derivative is written in terms of
                delta *= masks[layer - 1]
                activated = activated * (1 - dropout)
            DERIVATIVES[hidden_activations[layer - 1]](activated, delta)
    if weight_decay:
        loss += 0.5 * weight_decay * sum(float((w * w).sum()) for w in weights)
    return loss, probabilities, grad_w, grad_b


Batch = tuple[np.ndarray, np.ndarray, np.ndarray]


def mini_batches(x: np.ndarray, order: np.ndarray, batch_size: int, augment: AugmentConfig,
                 image_shape: tuple[int, int] | None, rng: np.random.Generator,
                 pool: ThreadPoolExecutor, styled: StyledCopies | None = None,
                 outliers: OutlierBank | None = None) -> Iterator[Batch]:
    """(indices, inputs, which rows are outliers) of each mini-batch of `order`, with styled
    copies and outliers swapped in and distorted when augmentation is on; the next batch is made
    in `pool` while the caller trains on the current one."""
    def make(b: int) -> Batch:
        idx = order[b * batch_size:(b + 1) * batch_size]
        batch = x[idx]
        if styled is not None:
            batch = styled.swap_in(batch, idx, rng)
        is_outlier = np.zeros(len(idx), dtype=bool)
        if outliers is not None:
            batch, is_outlier = outliers.swap_in(batch, rng)
        if augment.enabled:
            batch = augment_batch(batch.reshape(len(idx), *image_shape), augment, rng)
        return idx, batch.reshape(len(idx), -1), is_outlier

    n_batches = -(-len(order) // batch_size)
    upcoming = pool.submit(make, 0)
    for b in range(n_batches):
        current = upcoming.result()
        if b + 1 < n_batches:
            upcoming = pool.submit(make, b + 1)
        yield current


def dropout_masks(dtype: np.dtype, n: int, weights: list[np.ndarray], rate: float,
                  rng: np.random.Generator) -> list[np.ndarray]:
    """One mask per hidden layer: 0 for a dropped unit, 1/(1 - rate) for a kept one."""
    keep = 1.0 - rate
    masks = []
    for w in weights[:-1]:
        mask = rng.random((n, w.shape[1]), dtype=np.float32) < keep
        masks.append(mask.astype(dtype) * dtype.type(1.0 / keep))
    return masks


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
    validation_indices: np.ndarray | None = None  # rows of the training data held out

    def fit(self, x: np.ndarray, y: np.ndarray, x_test: np.ndarray | None = None,
            y_test: np.ndarray | None = None, on_epoch: EpochCallback | None = None,
            on_batch: Callable[[int, int], None] | None = None,
            image_shape: tuple[int, int] | None = None) -> MLP:
        """Train on raw inputs `x` (n, features) and integer labels `y`.

        A validation split is carved from (x, y) (its indices are kept in
        `validation_indices`); the test set, when given, is only ever evaluated, to fill the
        history. `on_epoch(epoch, row)` is called after each epoch with that epoch's history row;
        `on_batch(done, total)` after each mini-batch. Augmentation needs `image_shape` (rows,
        columns): how each row of `x` is laid out as an image.
        """
        cfg = self.config
        dtype = np.dtype(cfg.dtype).type
        rng = np.random.default_rng(cfg.seed)
        classes = np.unique(y)
        labels = np.searchsorted(classes, y)
        needs_images = cfg.augment.enabled or cfg.augment.styles or cfg.outliers
        if needs_images and (image_shape is None or np.prod(image_shape) != x.shape[1]):
            raise ValueError(f"augmentation needs the images' shape; got {image_shape} for "
                             f"{x.shape[1]} features")

        order = rng.permutation(len(x))
        n_val = int(round(len(x) * cfg.validation_fraction))
        val_idx, train_idx = order[:n_val], order[n_val:]
        self.validation_indices = val_idx

        # Min-max scaling learned from the training part only, stored with the weights.
        x_train_raw = x[train_idx]
        input_min, input_max = float(x_train_raw.min()), float(x_train_raw.max())
        layer_sizes = [x.shape[1], *cfg.hidden, len(classes)]
        n_layers = len(layer_sizes) - 1
        weights, biases = initial_parameters(layer_sizes, cfg.activation, rng, dtype)
        params_flat, params = flat_views([*weights, *biases])
        weights, biases = params[:n_layers], params[n_layers:]
        grads_flat, grads = flat_views([np.zeros_like(p) for p in params])
        hidden_activations = [cfg.activation] * len(cfg.hidden)
        # The model that is evaluated and saved: the moving average of the parameters when
        # `ema` is on, else the parameters themselves.
        saved_flat, saved = (flat_views(params) if cfg.ema else (params_flat, params))
        scratch = np.empty_like(params_flat) if cfg.ema else None
        self.model = Model(saved[:n_layers], saved[n_layers:], hidden_activations,
                           input_min, input_max, [int(c) for c in classes])
        x_train = self.model.scale(x_train_raw)
        y_train = labels[train_idx]
        targets = one_hot(y_train, len(classes), dtype)

        optimizer_cls = OPTIMIZERS[cfg.optimizer]
        kwargs = {"momentum": cfg.momentum} if cfg.optimizer == "sgd" else {}
        optimizer = optimizer_cls([params_flat], cfg.learning_rate, **kwargs)
        schedule = SCHEDULES[cfg.schedule]

        n_train = len(x_train)
        batch_size = cfg.batch_size or n_train
        n_batches = -(-n_train // batch_size)
        self.history = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy",
                                        "test_loss", "test_accuracy", "seconds",
                                        "learning_rate")}
        best_val, best_params, stale = -1.0, None, 0
        # Batches are gathered and distorted one ahead, in a thread: NumPy releases the GIL in
        # its loops, so on two cores the next batch's augmentation overlaps this one's training.
        # The distortions have their own generator, drawn in batch order: same seed, same run.
        augment_rng = np.random.default_rng([cfg.seed, 1])
        styled = (StyledCopies.draw(x_train, y[train_idx], image_shape, cfg.augment.styles,
                                    augment_rng) if cfg.augment.styles else None)
        outliers = (OutlierBank(cfg.outliers, self.model.scale(
            make_outliers(x_train_raw, image_shape, augment_rng))) if cfg.outliers else None)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches")
        for epoch in range(1, cfg.epochs + 1):
            started = time.perf_counter()
            shuffled = rng.permutation(n_train)
            loss_sum, correct = 0.0, 0
            batches = mini_batches(x_train, shuffled, batch_size, cfg.augment, image_shape,
                                   augment_rng, pool, styled, outliers)
            for b, (idx, batch, is_outlier) in enumerate(batches):
                optimizer.learning_rate = cfg.learning_rate * schedule(
                    epoch - 1 + b / n_batches, cfg.epochs, cfg.lr_decay)
                batch_targets = targets[idx]
                batch_targets[is_outlier] = 1.0 / len(classes)  # outlier exposure: uniform
                loss, proba, _, _ = backprop(
                    weights, biases, hidden_activations, batch, batch_targets, cfg.weight_decay,
                    (grads[:n_layers], grads[n_layers:]), cfg.dropout, rng)
                optimizer.step([grads_flat])
                if cfg.ema:
                    # average += (1 - decay) (params - average), with a warm-up so the first
                    # steps' random weights fade out quickly (as TensorFlow's num_updates does).
                    step = (epoch - 1) * n_batches + b + 1
                    weight = 1 - min(cfg.ema, (1 + step) / (10 + step))
                    np.subtract(params_flat, saved_flat, out=scratch)
                    scratch *= weight
                    saved_flat += scratch
                loss_sum += loss * len(idx)
                correct += int((proba.argmax(axis=1) == y_train[idx])[~is_outlier].sum())
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

            if n_val and cfg.patience:
                if row["val_accuracy"] > best_val:
                    best_val, stale = row["val_accuracy"], 0
                    best_params = saved_flat.copy()
                else:
                    stale += 1
                    if stale >= cfg.patience:
                        break
        pool.shutdown()
        if best_params is not None:  # early stopping keeps the best epoch's weights
            saved_flat[...] = best_params
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
