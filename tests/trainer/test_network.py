"""Training behaviour of the MLP: reproducibility, optimisers, early stopping, real MNIST."""

import numpy as np
import pytest

from trainer.data import load_digits_dataset
from trainer.network import MLP, TrainingConfig


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


def fit(digits, **config) -> MLP:
    return MLP(TrainingConfig(**{"hidden": (32,), "epochs": 5, "batch_size": 32, **config})).fit(
        digits.x_train, digits.y_train, digits.x_test, digits.y_test)


def test_same_seed_gives_identical_weights(digits) -> None:
    a, b = fit(digits, seed=3), fit(digits, seed=3)
    for wa, wb in zip(a.model.weights + a.model.biases, b.model.weights + b.model.biases):
        assert np.array_equal(wa, wb)
    c = fit(digits, seed=4)
    assert not np.array_equal(a.model.weights[0], c.model.weights[0])


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("optimizer, lr", [("adam", 3e-3), ("sgd", 0.1)])
def test_every_activation_and_optimizer_learns(digits, activation: str, optimizer: str,
                                               lr: float) -> None:
    mlp = fit(digits, activation=activation, optimizer=optimizer, learning_rate=lr, epochs=15,
              hidden=(32, 16))
    losses = mlp.history["loss"]
    assert losses[-1] < losses[0] * 0.5
    assert mlp.accuracy(digits.x_test, digits.y_test) > 0.85  # chance is 0.10


def test_history_has_a_row_per_epoch_for_every_split(digits) -> None:
    mlp = fit(digits, epochs=4, lr_decay=0.5)
    assert set(mlp.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "test_loss",
                                "test_accuracy", "seconds", "learning_rate"}
    assert all(len(v) == 4 for v in mlp.history.values())
    assert mlp.history["learning_rate"] == pytest.approx([1e-3, 5e-4, 2.5e-4, 1.25e-4])
    assert mlp.history["test_accuracy"][-1] == pytest.approx(
        mlp.accuracy(digits.x_test, digits.y_test))


def test_full_batch_descent_takes_one_step_per_epoch(digits) -> None:
    mlp = fit(digits, optimizer="sgd", momentum=0.0, batch_size=0, learning_rate=0.5, epochs=30,
              validation_fraction=0.0)
    assert "val_loss" not in mlp.history
    assert mlp.history["loss"][-1] < mlp.history["loss"][0]


def test_early_stopping_stops_and_keeps_the_best_epoch(digits) -> None:
    # A huge learning rate makes validation accuracy stall quickly.
    mlp = fit(digits, epochs=50, patience=2, learning_rate=0.05, hidden=(16,))
    ran = len(mlp.history["loss"])
    assert ran < 50
    best = max(mlp.history["val_accuracy"])
    assert mlp.history["val_accuracy"].index(best) == ran - 3  # stopped 2 epochs after the best
    x_val_acc = mlp.history["val_accuracy"][-1]
    assert x_val_acc <= best


def test_model_is_float32_and_scaling_is_learned(digits) -> None:
    mlp = fit(digits)
    assert all(w.dtype == np.float32 for w in mlp.model.weights + mlp.model.biases)
    assert (mlp.model.input_min, mlp.model.input_max) == (0.0, 16.0)  # digits pixels are 0..16
    proba = mlp.predict_proba(digits.x_test)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def test_predict_before_fit_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not trained yet"):
        MLP().predict(np.zeros((1, 784)))


@pytest.mark.parametrize("bad, message", [
    ({"hidden": (0,)}, "positive"), ({"activation": "swish"}, "unknown activation"),
    ({"optimizer": "rmsprop"}, "unknown optimizer"), ({"validation_fraction": 1.0}, "validation"),
    ({"epochs": 0}, "epochs"),
])
def test_bad_configuration_is_refused(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**bad)


@pytest.mark.slow
def test_two_epochs_on_full_mnist_reach_95_percent(mnist) -> None:
    mlp = MLP(TrainingConfig(hidden=(128, 32), epochs=2)).fit(mnist.x_train, mnist.y_train)
    assert mlp.accuracy(mnist.x_test, mnist.y_test) >= 0.95
