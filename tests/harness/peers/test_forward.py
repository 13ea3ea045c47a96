"""The KServe and BentoML peers' prediction, run without either: a model exported for the peers
and read back answers as the bundle's model does."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from harness.peers import forward
from harness.peers.answers import expected_answers
from harness.peers.export import export_model, load_exported


def test_exported_model_predicts_as_the_bundle(bundle, mnist, tmp_path):
    images = mnist.x_test[:32]
    labels, probabilities = expected_answers(bundle.model, images)

    answers = forward.predict(load_exported(export_model(bundle.model, tmp_path / "exported.npz")), images)

    np.testing.assert_array_equal(answers[forward.LABEL], labels)
    np.testing.assert_array_equal(answers[forward.PROBABILITIES], probabilities)
    assert answers[forward.PROBABILITIES].dtype == np.float32
    assert answers[forward.LABEL].dtype == np.int64


def test_forward_does_not_need_the_peers():
    # The project's environment has no kserve or bentoml: the prediction must import without them.
    check = ("import sys, harness.peers.forward; "
             "assert not {'kserve', 'bentoml'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", check], check=True, cwd=Path(__file__).resolve().parents[3])
