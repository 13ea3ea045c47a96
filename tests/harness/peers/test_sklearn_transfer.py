"""The weights on scikit-learn's MLPClassifier (MLServer's model) answer as digitnet does: the
input scaling and the temperature folded into the weights, labels and probabilities the same."""

import dataclasses

import numpy as np
import pytest

from harness.peers.answers import ATOL, RTOL, expected_answers
from harness.peers.sklearn_transfer import mlp_classifier


@pytest.mark.parametrize("which", ["bundle", "digits_bundle"])
def test_mlp_classifier_answers_as_digitnet(which, request, mnist, digits):
    # MNIST's pixels span 0-255, the 8x8 digits' 0-16: both scalings must fold into the weights.
    model = request.getfixturevalue(which).model
    images = (mnist if which == "bundle" else digits).x_test[:64]
    labels, probabilities = expected_answers(model, images)
    assert model.temperature != 1.0, "a calibrated model, so the temperature's folding is tested"

    mlp = mlp_classifier(model)

    np.testing.assert_allclose(mlp.predict_proba(images.astype(np.float32)), probabilities,
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(mlp.predict(images.astype(np.float32)), labels)


def test_an_activation_scikit_learn_lacks_is_refused(bundle):
    leaky = dataclasses.replace(bundle.model, hidden_activations=["leaky_relu"])

    with pytest.raises(ValueError, match="leaky_relu"):
        mlp_classifier(leaky)
