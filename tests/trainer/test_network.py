"""Training behaviour of the MLP: reproducibility, optimisers, early stopping, real MNIST."""

import numpy as np
import pytest

from trainer.network import MLP, TrainingConfig


def fit(digits, **config) -> MLP:
    return MLP(TrainingConfig.plain(**{"hidden": (32,), "epochs": 5, "batch_size": 32, **config})).fit(
        digits.x_train, digits.y_train, (digits.x_test, digits.y_test))


def test_same_seed_gives_identical_weights(digits) -> None:
    a, b = fit(digits, seed=3), fit(digits, seed=3)
    for wa, wb in zip(a.model.weights + a.model.biases, b.model.weights + b.model.biases):
        assert np.array_equal(wa, wb)
    c = fit(digits, seed=4)
    assert not np.array_equal(a.model.weights[0], c.model.weights[0])


def test_same_seed_same_weights_with_augmentation_and_dropout(digits) -> None:
    """Batches are styled and distorted in a thread ahead of training: still one seed, one
    result."""
    from trainer.augment import AugmentConfig

    config = TrainingConfig.plain(hidden=(32,), epochs=3, batch_size=32, dropout=0.2, ema=0.9,
                                  augment=AugmentConfig(rotation=10, elastic_alpha=1, thickness=0.5,
                                                        styles=0.5))
    first, again = (MLP(config).fit(digits.x_train, digits.y_train, image_shape=(8, 8))
                    for _ in range(2))
    assert np.array_equal(first.model.weights[0], again.model.weights[0])
    assert first.history["loss"] == again.history["loss"]


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
    # A huge learning rate makes validation accuracy jump about and stall quickly.
    mlp = fit(digits, epochs=50, patience=2, learning_rate=0.05, hidden=(16,))
    val = mlp.history["val_accuracy"]
    ran, best = len(val), max(val)
    assert ran < 50
    assert val.index(best) == ran - 3  # stopped 2 epochs after the best
    assert val[-1] < best  # so the last epoch's weights are not the best ones...

    # ...and the model kept is the best epoch's: it scores the best accuracy on the same split.
    held_out = mlp.validation_indices
    assert mlp.evaluate(digits.x_train[held_out], digits.y_train[held_out])[1] == best


def test_dropout_trains_but_prediction_is_deterministic(digits) -> None:
    mlp = fit(digits, dropout=0.5, epochs=15, hidden=(64,), learning_rate=3e-3)
    assert mlp.accuracy(digits.x_test, digits.y_test) > 0.85
    first, again = mlp.predict_proba(digits.x_test), mlp.predict_proba(digits.x_test)
    assert np.array_equal(first, again)  # no unit is dropped at inference
    # Dropout changes what is learned: the same seed without it gives other weights.
    assert not np.array_equal(mlp.model.weights[0], fit(digits, epochs=15, hidden=(64,),
                                                        learning_rate=3e-3).model.weights[0])


def test_dropout_gradient_flows_only_through_kept_units() -> None:
    from trainer.initializers import initial_parameters
    from trainer.losses import one_hot
    from trainer.network import LayerStack, Regularisation, backprop

    rng = np.random.default_rng(0)
    weights, biases = initial_parameters([6, 40, 3], "tanh", rng, np.float64)
    x, targets = rng.normal(size=(1, 6)), one_hot(np.array([1]), 3, np.float64)
    _, _, grad_w, _ = backprop(LayerStack(weights, biases, ["tanh"]), x, targets,
                               Regularisation(dropout=0.5, rng=np.random.default_rng(1)))
    dropped = ~grad_w[1].any(axis=1)  # a dropped hidden unit feeds nothing to the output layer
    assert 5 < dropped.sum() < 35
    assert not grad_w[0][:, dropped].any()  # ... and gets no gradient from it


@pytest.mark.parametrize("schedule", ["cosine", "one_cycle"])
def test_smooth_schedules_shape_the_learning_rate(digits, schedule: str) -> None:
    mlp = fit(digits, schedule=schedule, epochs=10, learning_rate=1e-2)
    rates = mlp.history["learning_rate"]  # the rate in force at the end of each epoch
    assert rates[-1] < 1e-2 * 0.05
    peak = int(np.argmax(rates))
    assert (peak == 0) if schedule == "cosine" else (1 <= peak <= 3)
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1:]))
    assert mlp.accuracy(digits.x_test, digits.y_test) > 0.85


def test_weight_average_is_the_model_kept(digits) -> None:
    plain, averaged = fit(digits, epochs=8), fit(digits, epochs=8, ema=0.99)
    # Same seed, same steps: the raw weights would be equal; the averaged model is not them.
    assert not np.array_equal(plain.model.weights[0], averaged.model.weights[0])
    assert averaged.accuracy(digits.x_test, digits.y_test) > 0.85
    assert averaged.history["val_accuracy"][-1] == averaged.evaluate(
        digits.x_train[averaged.validation_indices],
        digits.y_train[averaged.validation_indices])[1]


def test_augmentation_needs_the_image_shape(digits) -> None:
    from trainer.augment import AugmentConfig

    config = TrainingConfig.plain(hidden=(16,), epochs=1, augment=AugmentConfig(rotation=10))
    with pytest.raises(ValueError, match="images' shape"):
        MLP(config).fit(digits.x_train, digits.y_train)
    trained = MLP(config).fit(digits.x_train, digits.y_train, image_shape=(8, 8))
    assert trained.history["loss"][0] > 0


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
    ({"epochs": 0}, "epochs"), ({"schedule": "step"}, "unknown schedule"),
    ({"dropout": 1.0}, "dropout"), ({"ema": -0.1}, "ema"),
])
def test_bad_configuration_is_refused(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**bad)


@pytest.mark.slow
def test_two_epochs_on_full_mnist_reach_95_percent(mnist) -> None:
    mlp = MLP(TrainingConfig.plain(hidden=(128, 32), epochs=2)).fit(mnist.x_train, mnist.y_train)
    assert mlp.accuracy(mnist.x_test, mnist.y_test) >= 0.95
