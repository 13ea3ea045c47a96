"""Fixtures shared by every test: the MNIST data, a small model trained on it once per run, an 8x8
model trained on scikit-learn's digits, and one real gunicorn server serving both (as models
"mnist" and "digits") for the tests that only send it requests."""

import copy
from pathlib import Path

import pytest

from harness.server import Server
from harness.training import DIGITS_CONFIG, FIXTURE_CONFIG
from shared.bundle import Bundle, load_bundle
from shared.repository import latest_bundle_path, save_new_version
from trainer.data import Dataset, load_digits_dataset, load_mnist
from trainer.job import calibrate
from trainer.network import MLP


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    """The real MNIST set: from $MNIST_DIR, else the cache, downloading it when missing."""
    return load_mnist()


@pytest.fixture(scope="session")
def trained_mlp(mnist: Dataset) -> MLP:
    return MLP(FIXTURE_CONFIG).fit(mnist.x_train, mnist.y_train)


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """scikit-learn's 8x8 digits, split as the trainer splits them."""
    return load_digits_dataset()


@pytest.fixture(scope="session")
def digits_mlp(digits: Dataset) -> MLP:
    return MLP(DIGITS_CONFIG).fit(digits.x_train, digits.y_train)


def save_trained(directory: Path, name: str, mlp: MLP, data: Dataset) -> Bundle:
    """Save `mlp` as the next version of `name`, calibrated on its validation split and with its
    test metrics, as the trainer does. A copy is calibrated: the session's `mlp` stays as trained,
    whichever test saves it first."""
    mlp = copy.deepcopy(mlp)
    held_out = mlp.validation_indices
    calibration, rejection, _ = calibrate(mlp.model, data.x_train[held_out],
                                          data.y_train[held_out], mlp.config, data.image_shape)
    test_loss, test_accuracy = mlp.evaluate(data.x_test, data.y_test)
    return save_new_version(directory, name, mlp.model, {
        "training": mlp.config.to_dict(),
        "metrics": {"test_accuracy": test_accuracy, "test_loss": test_loss},
        "calibration": calibration,
        "rejection": rejection,
    }, recipe=data.recipe)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, trained_mlp: MLP, mnist: Dataset, digits_mlp: MLP,
              digits: Dataset) -> Path:
    """A model directory holding version 1 of model "mnist" and version 1 of model "digits", as
    the trainer writes them."""
    directory = tmp_path_factory.mktemp("models")
    save_trained(directory, "mnist", trained_mlp, mnist)
    save_trained(directory, "digits", digits_mlp, digits)
    return directory


@pytest.fixture(scope="session")
def bundle(model_dir: Path) -> Bundle:
    return load_bundle(latest_bundle_path(model_dir, "mnist"))


@pytest.fixture(scope="session")
def digits_bundle(model_dir: Path) -> Bundle:
    return load_bundle(latest_bundle_path(model_dir, "digits"))


@pytest.fixture(scope="session")
def server(model_dir: Path, tmp_path_factory) -> Server:
    """gunicorn serving `model_dir` on a free loopback port, as `make serve` runs it. Tests that
    kill, signal or change the model directory start a `Server` of their own."""
    with Server(model_dir, tmp_path_factory.mktemp("gunicorn") / "server.log",
                MAX_IMAGE_PIXELS="4000000") as running:
        yield running


@pytest.fixture(scope="session")
def url(server: Server) -> str:
    return server.url
