"""Calibrated confidence: the temperature, the calibration error and the confidence threshold."""

from dataclasses import replace

import numpy as np
import pytest

from shared.bundle import load_bundle, write_bundle
from shared.errors import BundleError
from shared.manifest import Rejection
from shared.model import Model
from shared.repository import save_new_version
from trainer.calibration import (
    accuracy_by_coverage,
    confidence_threshold,
    cross_entropy_at,
    expected_calibration_error,
    fit_temperature,
)
from trainer.job import calibrate
from trainer.losses import log_softmax
from trainer.network import MLP, TrainingConfig


def sampled_labels(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """Labels drawn from softmax(logits / temperature): data for which that temperature is right."""
    p = np.exp(log_softmax(logits / temperature))
    return (p.cumsum(axis=1) > rng.random((len(p), 1))).argmax(axis=1)


def tiny_model(temperature: float = 1.0) -> Model:
    rng = np.random.default_rng(0)
    return Model([rng.normal(size=(4, 5)).astype(np.float32), rng.normal(size=(5, 3)).astype(np.float32)],
                 [np.zeros(5, np.float32), np.zeros(3, np.float32)], ["relu"], 0.0, 1.0, [0, 1, 2],
                 temperature=temperature)


def test_temperature_changes_probabilities_never_the_label() -> None:
    x = np.random.default_rng(1).random((200, 4)).astype(np.float32)
    plain, soft, sharp = tiny_model(1.0), tiny_model(3.0), tiny_model(0.3)
    p, p_soft, p_sharp = plain.predict_proba(x), soft.predict_proba(x), sharp.predict_proba(x)
    assert np.array_equal(p.argmax(axis=1), p_soft.argmax(axis=1))
    assert np.array_equal(p.argmax(axis=1), p_sharp.argmax(axis=1))
    # Softer or sharper for every input whose logits are not all equal (where 1/3 stays 1/3).
    distinct = np.ptp(plain.logits(x), axis=1) > 1e-6
    assert distinct.mean() > 0.5
    assert (p_soft.max(axis=1) < p.max(axis=1))[distinct].all()
    assert (p_sharp.max(axis=1) > p.max(axis=1))[distinct].all()
    np.testing.assert_allclose(p_soft.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fitted_temperature_recovers_the_one_the_data_came_from(true_temperature: float) -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=4.0, size=(20000, 10))
    labels = sampled_labels(logits, true_temperature, rng)
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.05)


def test_expected_calibration_error_by_hand() -> None:
    # Two bins used: 4 answers at 0.9 confidence (3 right) and 2 at 0.6 (both right).
    probabilities = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 2)
    labels = np.array([0, 0, 0, 1, 0, 0])
    expected = (4 * abs(0.75 - 0.9) + 2 * abs(1.0 - 0.6)) / 6
    assert expected_calibration_error(probabilities, labels) == pytest.approx(expected)


def test_calibration_error_is_small_for_calibrated_data_and_large_for_overconfident() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=3.0, size=(20000, 10))
    labels = sampled_labels(logits, 1.0, rng)
    calibrated = np.exp(log_softmax(logits))
    overconfident = np.exp(log_softmax(logits * 4))
    assert expected_calibration_error(calibrated, labels) < 0.02
    assert expected_calibration_error(overconfident, labels) > 0.1


def test_confidence_threshold_keeps_answers_above_it_right() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(scale=6.0, size=(20000, 10))
    labels = sampled_labels(logits, 1.0, rng)
    probabilities = np.exp(log_softmax(logits))
    threshold = confidence_threshold(probabilities, labels, 0.995)
    sure = probabilities.max(axis=1) >= threshold
    assert (probabilities[sure].argmax(axis=1) == labels[sure]).mean() >= 0.995
    assert 0.05 < sure.mean() < 0.95  # it answers some, not all
    lower = probabilities.max(axis=1) >= threshold - 0.05
    assert (probabilities[lower].argmax(axis=1) == labels[lower]).mean() < 0.995  # the lowest such
    coverage, accuracy, _ = accuracy_by_coverage(probabilities, labels)
    assert coverage[-1] == 1 and accuracy[0] == 1.0  # the most confident answer is right here


def test_no_threshold_when_nothing_meets_the_target() -> None:
    assert confidence_threshold(np.array([[0.9, 0.1], [0.8, 0.2]]), np.array([1, 1]), 0.995) is None


def test_calibration_makes_an_overconfident_network_honest(digits) -> None:
    """A network trained far past the point of fitting its data says ~100 % for everything;
    its fitted temperature is > 1 and brings its calibration error down, labels unchanged."""
    data = digits
    mlp = MLP(TrainingConfig.plain(hidden=(64,), epochs=150, batch_size=32, learning_rate=3e-3,
                                   validation_fraction=0.3)).fit(data.x_train, data.y_train)
    held_out = mlp.validation_indices
    x_val, y_val = data.x_train[held_out], data.y_train[held_out]
    labels = mlp.predict(data.x_test)
    before = expected_calibration_error(mlp.predict_proba(x_val), y_val)
    result, _, _ = calibrate(mlp.model, x_val, y_val)
    after = expected_calibration_error(mlp.predict_proba(x_val), y_val)
    assert result["temperature"] == mlp.model.temperature > 1
    assert after < before
    assert np.array_equal(mlp.predict(data.x_test), labels)
    # The temperature found is the best one: no other does better on the held-out data.
    logits = mlp.model.logits(x_val)
    best = cross_entropy_at(logits, y_val, result["temperature"])
    assert all(best <= cross_entropy_at(logits, y_val, t) + 1e-9 for t in (0.5, 1.0, 2.0, 5.0))


def test_the_bundle_carries_the_temperature(tmp_path) -> None:
    model = tiny_model(1.7)
    saved = save_new_version(tmp_path, "t", model, {"calibration": {"confidence_threshold": 0.9}})
    loaded = load_bundle(saved.path)
    assert loaded.model.temperature == 1.7
    assert loaded.confidence_threshold == 0.9
    x = np.random.default_rng(5).random((10, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.model.predict_proba(x), model.predict_proba(x))


def test_the_bundle_carries_the_digit_threshold_and_the_reader_checks_it(tmp_path) -> None:
    model = tiny_model()
    model.digit_threshold = 1.25
    saved = save_new_version(tmp_path, "t", model, {"rejection": {"held_out_refused": 0.01}})
    assert saved.manifest.to_dict()["rejection"] == {"held_out_refused": 0.01, "score": "logsumexp",
                                                     "threshold": 1.25}
    loaded = load_bundle(saved.path)
    assert loaded.model.digit_threshold == 1.25
    x = np.random.default_rng(5).random((50, 4)).astype(np.float32)
    logits = loaded.model.logits(x)
    np.testing.assert_array_equal(loaded.model.is_digit(logits),
                                  loaded.model.digit_score(logits) >= 1.25)

    for section, problem in ((Rejection(0.5, score="max_probability"), "not supported"),
                             (Rejection("high"), "finite number"),
                             (Rejection(None), "finite number")):
        manifest = replace(saved.manifest, model_version=2, rejection=section)
        with pytest.raises(BundleError, match=problem):
            write_bundle(tmp_path / "t" / "2.npz", loaded.model, manifest)


def test_a_bundle_without_rejection_takes_every_input_for_a_digit(tmp_path) -> None:
    saved = save_new_version(tmp_path, "t", tiny_model(), {})
    assert "rejection" not in saved.manifest.to_dict()
    model = load_bundle(saved.path).model
    assert model.digit_threshold is None
    logits = model.logits(np.random.default_rng(6).random((20, 4)).astype(np.float32))
    assert model.is_digit(logits).all()
