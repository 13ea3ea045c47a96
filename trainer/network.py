"""The multilayer perceptron and how it learns: backpropagation and the mini-batch training loop.

The forward pass is `shared.model.forward_layers`, the same code the service runs. Here the
output layer is run as "identity" so the loss can be taken from the logits with log-sum-exp;
softmax(logits) is exactly what the served model's softmax output computes.

What a mini-batch step does, in order: show some of its 1s, 7s and 9s in a handwriting style
MNIST lacks (trainer/styles.py, drawn once before the first epoch), swap some rows for non-digits
(trainer/outliers.py) and distort the batch's images (trainer/augment.py), when the
configuration asks for them (trainer/batches.py makes each batch while the one before trains);
run forward with dropout masks on the hidden layers, backpropagate, let the optimiser update the
parameters at the schedule's learning rate (trainer/schedules.py), and fold the new parameters
into their exponential moving average (when `ema` is on). Validation, early stopping and the
saved model use the averaged parameters: an average over the last few hundred steps sits nearer
the minimum than the last step's noisy position.

    model = MLP(TrainingConfig.plain(hidden=(128, 32))).fit(x_train, y_train)
    model.accuracy(x_test, y_test), model.history["val_accuracy"]
    MLP().fit(x_train, y_train, image_shape=(28, 28))  # the default preset, as `make train`

`MLP.fit` reads as scikit-learn's MLPClassifier does: split, `_initialize` (the parameters and
the model that is saved), the batches' source, then `_fit_stochastic`, an epoch at a time, with
early stopping counting the epochs without improvement.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np

from shared.activations import DERIVATIVES, HIDDEN_ACTIVATIONS
from shared.model import Model, forward_layers
from trainer.augment import REAL_HANDWRITING, AugmentConfig
from trainer.batches import BatchSource, mini_batches
from trainer.initializers import initial_parameters
from trainer.losses import cross_entropy_from_probabilities, one_hot, softmax_cross_entropy
from trainer.optimizers import OPTIMIZERS, SGD, Adam
from trainer.outliers import DEFAULT_KINDS, OutlierBank, check_kinds, make_outliers
from trainer.presets import PLAIN
from trainer.schedules import SCHEDULES
from trainer.styles import StyledCopies


@dataclass
class TrainingConfig:
    """Every choice of a training run. The defaults are the "default" preset, what `make train`
    trains (it augments and shows outliers, so `fit` needs the images' shape); trainer/presets.py
    holds the other presets as their differences from it, and `TrainingConfig.plain(...)` builds
    the textbook network without those extras."""

    hidden: tuple[int, ...] = (512, 256)
    activation: str = "relu"           # see shared/activations.py
    optimizer: str = "adam"            # "adam" or "sgd"
    learning_rate: float = 2e-3        # the base rate the schedule scales
    momentum: float = 0.9              # sgd only
    batch_size: int = 128              # 0 means the whole training set: full-batch descent
    epochs: int = 22
    weight_decay: float = 0.0          # L2 penalty: adds weight_decay * W to each weight gradient
    schedule: str = "one_cycle"        # learning-rate schedule, see trainer/schedules.py
    lr_decay: float = 1.0              # exponential schedule: rate multiplied by this every epoch
    dropout: float = 0.0               # share of hidden units dropped at each training step
    ema: float = 0.999                 # decay of the weights' moving average per step; 0 = off
    augment: AugmentConfig = REAL_HANDWRITING  # AugmentConfig() (all zero): off
    outliers: float = 0.15             # share of each batch swapped for non-digits (trainer/outliers.py)
    outlier_kinds: tuple[str, ...] = DEFAULT_KINDS  # which of trainer/outliers.py's OUTLIER_KINDS
    validation_fraction: float = 0.1   # carved from the training set, never the test set
    patience: int = 0                  # early stopping: epochs without a better val accuracy; 0 = off
    seed: int = 0
    dtype: str = "float32"             # float64 for the gradient check

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):  # as read back from a manifest
            self.augment = AugmentConfig(**self.augment)
        self.hidden = tuple(int(h) for h in self.hidden)
        self.outlier_kinds = tuple(self.outlier_kinds)  # a list, as read back from a manifest
        check_kinds(self.outlier_kinds)
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden layer sizes must be positive, got {self.hidden}")
        if self.activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; "
                             f"choose from {sorted(HIDDEN_ACTIVATIONS)}")
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

    @classmethod
    def plain(cls, **changes) -> TrainingConfig:
        """The textbook network (trainer/presets.py's PLAIN), with `changes`."""
        return cls(**{**PLAIN, **changes})

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden),
                "outlier_kinds": list(self.outlier_kinds)}


@dataclass
class LayerStack:
    """What backpropagation runs through: a weight matrix and a bias vector per layer, and the
    hidden layers' activations (the output layer gives the logits)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activations: list[str]


@dataclass(frozen=True)
class Regularisation:
    """What a training step adds to the plain loss: an L2 penalty on the weights, and dropout of
    hidden units with the generator that draws its masks."""

    weight_decay: float = 0.0
    dropout: float = 0.0
    rng: np.random.Generator | None = None


Gradients = tuple[list[np.ndarray], list[np.ndarray]]  # (weights', biases') shaped as they are


def backprop(layers: LayerStack, x: np.ndarray, targets: np.ndarray,
             regularisation: Regularisation | None = None, grads: Gradients | None = None,
             ) -> tuple[float, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Loss, class probabilities and the gradients of the loss w.r.t. every weight and bias.

    `targets` is one-hot. The loss is the mean softmax cross-entropy over the batch plus
    weight_decay/2 * sum(W**2). For softmax with cross-entropy the gradient at the logits is
    simply (probabilities - targets) / n; each layer back then multiplies by W^T and by the
    activation's derivative. `grads` receives the gradients in place; without it new arrays
    are returned.

    With dropout > 0, each hidden unit is dropped with that probability and the kept ones
    scaled by 1/(1 - dropout) ("inverted" dropout): the expected output is unchanged, so
    prediction runs the plain network with no rescaling. The gradient flows only through the
    kept units, with the same scale.
    """
    reg = regularisation or Regularisation()
    weights, biases, hidden_activations = layers.weights, layers.biases, layers.activations
    n, dropout, weight_decay = len(x), reg.dropout, reg.weight_decay
    masks = dropout_masks(x.dtype, n, weights, dropout, reg.rng) if dropout else None
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


@dataclass
class Parameters:
    """The parameters in one flat buffer (`layers` holds views of it), their gradients likewise,
    and the copy that is evaluated and saved: the parameters' moving average when it is kept,
    else the parameters themselves."""

    flat: np.ndarray
    layers: LayerStack
    grads_flat: np.ndarray
    grads: Gradients
    saved_flat: np.ndarray
    saved: list[np.ndarray]  # weights, then biases
    scratch: np.ndarray | None = None

    @classmethod
    def allocate(cls, initial: LayerStack, averaged: bool) -> Parameters:
        n_layers = len(initial.weights)
        flat, params = flat_views([*initial.weights, *initial.biases])
        grads_flat, grads = flat_views([np.zeros_like(p) for p in params])
        saved_flat, saved = flat_views(params) if averaged else (flat, params)
        return cls(flat, LayerStack(params[:n_layers], params[n_layers:], initial.activations),
                   grads_flat, (grads[:n_layers], grads[n_layers:]), saved_flat, saved,
                   np.empty_like(flat) if averaged else None)

    def update_average(self, decay: float, step: int) -> None:
        """average += (1 - decay) (params - average), with a warm-up so the first steps' random
        weights fade out quickly (as TensorFlow's num_updates does)."""
        weight = 1 - min(decay, (1 + step) / (10 + step))
        np.subtract(self.flat, self.saved_flat, out=self.scratch)
        self.scratch *= weight
        self.saved_flat += self.scratch


@dataclass
class EarlyStopping:
    """scikit-learn's no-improvement count: stop after `patience` epochs without a better
    validation accuracy, and keep the best epoch's parameters."""

    patience: int
    best: float = -1.0
    stale: int = 0
    best_params: np.ndarray | None = None

    def should_stop(self, val_accuracy: float, params: np.ndarray) -> bool:
        if val_accuracy > self.best:
            self.best, self.stale, self.best_params = val_accuracy, 0, params.copy()
            return False
        self.stale += 1
        return self.stale >= self.patience


class TrainingProgress(Protocol):
    """What `fit` reports to as it goes (trainer/progress.py's EpochProgress is one)."""

    def on_batch(self, done: int, total: int) -> None: ...

    def on_epoch(self, epoch: int, row: dict) -> None: ...


@dataclass
class TrainingRun:
    """What the epochs of one `fit` work with."""

    params: Parameters
    optimizer: SGD | Adam
    source: BatchSource     # the scaled training rows and how each batch is made
    targets: np.ndarray     # one-hot labels of the training rows, made once
    labels: np.ndarray      # their class indices
    regularisation: Regularisation
    rng: np.random.Generator  # shuffles the rows each epoch and draws the dropout masks
    progress: TrainingProgress | None = None


HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
                "seconds", "learning_rate")


def make_optimizer(config: TrainingConfig, params: np.ndarray) -> SGD | Adam:
    kwargs = {"momentum": config.momentum} if config.optimizer == "sgd" else {}
    return OPTIMIZERS[config.optimizer]([params], config.learning_rate, **kwargs)


def check_image_shape(config: TrainingConfig, n_features: int,
                      image_shape: tuple[int, int] | None) -> None:
    """Augmentation, styles and outliers work on images: they need each row's (rows, columns)."""
    needs_images = config.augment.enabled or config.augment.styles or config.outliers
    if needs_images and (image_shape is None or np.prod(image_shape) != n_features):
        raise ValueError(f"augmentation needs the images' shape; got {image_shape} for "
                         f"{n_features} features (fit(..., image_shape=(rows, columns)), or "
                         f"TrainingConfig.plain(...) to train on the rows as they are)")


@dataclass
class MLP:
    """A multilayer perceptron classifier with softmax output, trained by mini-batch backprop."""

    config: TrainingConfig = field(default_factory=TrainingConfig)
    model: Model | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    validation_indices: np.ndarray | None = None  # rows of the training data held out

    def fit(self, x: np.ndarray, y: np.ndarray,
            test: tuple[np.ndarray, np.ndarray] | None = None, *,
            image_shape: tuple[int, int] | None = None,
            progress: TrainingProgress | None = None) -> MLP:
        """Train on raw inputs `x` (n, features) and integer labels `y`.

        A validation split is carved from (x, y) (its indices are kept in
        `validation_indices`); the `test` set (inputs, labels), when given, is only ever
        evaluated, to fill the history. `progress` hears of every mini-batch and every epoch's
        history row. Augmentation and outliers need `image_shape` (rows, columns): how each row
        of `x` is laid out as an image.
        """
        cfg = self.config
        check_image_shape(cfg, x.shape[1], image_shape)
        rng = np.random.default_rng(cfg.seed)
        classes = np.unique(y)
        labels = np.searchsorted(classes, y)  # class indices 0..k-1, encoded once
        val_idx, train_idx = self._split(len(x), rng)
        params = self._initialize(x[train_idx], classes, rng)
        run = TrainingRun(
            params=params, optimizer=make_optimizer(cfg, params.flat),
            source=self._batch_source(x[train_idx], y[train_idx], image_shape),
            targets=one_hot(labels[train_idx], len(classes), np.dtype(cfg.dtype).type),
            labels=labels[train_idx],
            regularisation=Regularisation(cfg.weight_decay, cfg.dropout, rng),
            rng=rng, progress=progress)
        held_out = {"val": (x[val_idx], labels[val_idx])} if len(val_idx) else {}
        if test is not None:
            held_out["test"] = (test[0], np.searchsorted(classes, test[1]))
        self._fit_stochastic(run, held_out)
        return self

    def _split(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(validation, training) row indices: a random `validation_fraction` held out."""
        order = rng.permutation(n)
        n_val = int(round(n * self.config.validation_fraction))
        self.validation_indices = order[:n_val]
        return order[:n_val], order[n_val:]

    def _initialize(self, x_train: np.ndarray, classes: np.ndarray,
                    rng: np.random.Generator) -> Parameters:
        """The initial parameters, and the model that is evaluated and saved: it shares their
        buffers (or their average's) and scales inputs by the training rows' min and max."""
        cfg = self.config
        layer_sizes = [x_train.shape[1], *cfg.hidden, len(classes)]
        weights, biases = initial_parameters(layer_sizes, cfg.activation, rng,
                                             np.dtype(cfg.dtype).type)
        hidden_activations = [cfg.activation] * len(cfg.hidden)
        params = Parameters.allocate(LayerStack(weights, biases, hidden_activations),
                                     averaged=bool(cfg.ema))
        n_layers = len(weights)
        self.model = Model(params.saved[:n_layers], params.saved[n_layers:], hidden_activations,
                           float(x_train.min()), float(x_train.max()), [int(c) for c in classes])
        return params

    def _batch_source(self, x_train: np.ndarray, y_train: np.ndarray,
                      image_shape: tuple[int, int] | None) -> BatchSource:
        """The scaled training rows, with the styled copies and outliers drawn once, up front."""
        cfg, model = self.config, self.model
        rng = np.random.default_rng([cfg.seed, 1])  # the batches' own generator
        scaled = model.scale(x_train)
        styled = (StyledCopies.draw(scaled, y_train, image_shape, cfg.augment.styles, rng)
                  if cfg.augment.styles else None)
        outliers = (OutlierBank(cfg.outliers, model.scale(
            make_outliers(x_train, y_train, image_shape, rng, cfg.outlier_kinds)))
            if cfg.outliers else None)
        return BatchSource(scaled, cfg.batch_size or len(scaled), cfg.augment, image_shape, rng,
                           styled, outliers)

    def _fit_stochastic(self, run: TrainingRun,
                        held_out: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """The epochs: train, score the held-out sets, record, stop early if asked to."""
        cfg = self.config
        self.history = {key: [] for key in HISTORY_KEYS}
        stopping = EarlyStopping(cfg.patience) if cfg.patience and "val" in held_out else None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches") as pool:
            for epoch in range(1, cfg.epochs + 1):
                started = time.perf_counter()
                row = self._train_epoch(run, epoch, pool)
                for split, (inputs, labels) in held_out.items():
                    row[f"{split}_loss"], row[f"{split}_accuracy"] = self._score(inputs, labels)
                row["seconds"] = time.perf_counter() - started
                for key, value in row.items():
                    self.history[key].append(value)
                if run.progress:
                    run.progress.on_epoch(epoch, row)
                if stopping and stopping.should_stop(row["val_accuracy"], run.params.saved_flat):
                    break
        if stopping and stopping.best_params is not None:  # keep the best epoch's weights
            run.params.saved_flat[...] = stopping.best_params
        self.history = {key: values for key, values in self.history.items() if values}

    def _train_epoch(self, run: TrainingRun, epoch: int, pool: ThreadPoolExecutor) -> dict:
        """One pass over the shuffled training rows; the epoch's running loss and accuracy."""
        cfg, params = self.config, run.params
        n_train = len(run.labels)
        n_batches = -(-n_train // run.source.batch_size)
        order = run.rng.permutation(n_train)
        loss_sum, correct = 0.0, 0
        for b, (idx, inputs, is_outlier) in enumerate(mini_batches(run.source, order, pool)):
            run.optimizer.learning_rate = cfg.learning_rate * SCHEDULES[cfg.schedule](
                epoch - 1 + b / n_batches, cfg.epochs, cfg.lr_decay)
            targets = run.targets[idx]
            targets[is_outlier] = 1.0 / targets.shape[1]  # outlier exposure: uniform
            loss, proba, _, _ = backprop(params.layers, inputs, targets, run.regularisation,
                                         params.grads)
            run.optimizer.step([params.grads_flat])
            if cfg.ema:
                params.update_average(cfg.ema, step=(epoch - 1) * n_batches + b + 1)
            loss_sum += loss * len(idx)
            correct += int((proba.argmax(axis=1) == run.labels[idx])[~is_outlier].sum())
            if run.progress:
                run.progress.on_batch(b + 1, n_batches)
        return {"loss": loss_sum / n_train, "accuracy": correct / n_train,
                "learning_rate": run.optimizer.learning_rate}

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self._fitted().predict_proba(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._fitted().predict(x)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == y).mean())

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) on raw inputs and integer labels."""
        return self._score(x, np.searchsorted(self._fitted().classes, y))

    def _score(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) on raw inputs and class indices."""
        proba = self._fitted().predict_proba(x)
        return (cross_entropy_from_probabilities(proba, labels),
                float((proba.argmax(axis=1) == labels).mean()))

    def _fitted(self) -> Model:
        if self.model is None:
            raise RuntimeError("the network is not trained yet: call fit() first")
        return self.model
