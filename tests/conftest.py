"""Fixtures shared by every test: the MNIST data, a small model trained on it once per run, and
one real gunicorn server serving that model for the tests that only send it requests."""

from pathlib import Path

import pytest

from shared.bundle import Bundle, save_new_version
from tests.server import Server
from trainer.data import Dataset, load_mnist
from trainer.network import MLP, TrainingConfig

# Small and quick (a few seconds), and good enough to read real digits (~97% on MNIST test).
FIXTURE_CONFIG = TrainingConfig(hidden=(128,), epochs=4, batch_size=64, seed=0)


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    """The real MNIST set: from $MNIST_DIR, else the cache, downloading it when missing."""
    return load_mnist()


@pytest.fixture(scope="session")
def trained_mlp(mnist: Dataset) -> MLP:
    return MLP(FIXTURE_CONFIG).fit(mnist.x_train, mnist.y_train)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, trained_mlp: MLP, mnist: Dataset) -> Path:
    """A model directory holding version 1 of model "mnist", as the trainer writes it."""
    directory = tmp_path_factory.mktemp("models")
    test_loss, test_accuracy = trained_mlp.evaluate(mnist.x_test, mnist.y_test)
    save_new_version(directory, "mnist", trained_mlp.model, {
        "training": FIXTURE_CONFIG.to_dict(),
        "metrics": {"test_accuracy": test_accuracy, "test_loss": test_loss},
    }, image_shape=mnist.image_shape)
    return directory


@pytest.fixture(scope="session")
def bundle(model_dir: Path) -> Bundle:
    from shared.bundle import latest_bundle_path, load_bundle

    return load_bundle(latest_bundle_path(model_dir, "mnist"))



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
