"""Versions come and go under a running server: no bundle, first bundle, new version, bad bundle.

One server on its own model directory goes through the whole life, in order: it starts with no
bundle (live, not ready), picks up version 1, swaps to version 2 while a client loop runs (no
request fails, answers switch), skips a corrupt version 3 (still ready, still version 2), and
serves any loaded version through the V2 version paths.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from harness.clients import ClientLoop, wait_for, workers_serving
from harness.images import mnist_test_digits
from harness.server import Server
from shared.repository import save_new_version


@pytest.fixture
def empty_server(tmp_path: Path):
    server = Server(tmp_path / "models", tmp_path / "server.log")
    yield server, tmp_path / "models"
    server.stop()


def save_version(model_dir: Path, trained_mlp) -> str:
    return str(save_new_version(model_dir, "mnist", trained_mlp.model,
                                {"metrics": {"test_accuracy": 0.97}}, recipe="mnist").version)


def test_versions_appear_swap_and_fail_safely(empty_server, trained_mlp, mnist):
    server, model_dir = empty_server
    url = server.url
    instances = mnist_test_digits(mnist, 1, seed=31)[0].reshape(1, 784).tolist()

    # No bundle: live but not ready, and predictions say why.
    assert requests.get(f"{url}/v2/health/live").status_code == 200
    ready = requests.get(f"{url}/v2/health/ready")
    assert ready.status_code == 503 and ready.json()["ready"] is False and "bundle" in ready.json()["error"]
    predict = requests.post(f"{url}/predict", json={"instances": instances})
    assert predict.status_code == 503 and "no model loaded" in predict.json()["error"]

    # The first bundle is picked up without a restart.
    save_version(model_dir, trained_mlp)
    wait_for(lambda: workers_serving(url) == ["1", "1"], "both workers serving version 1")

    # A new version while clients keep asking: nothing fails, every worker switches.
    loop = ClientLoop(url, [("/predict", {"instances": instances})])
    loop.start()
    wait_for(lambda: len(loop.versions) > 20, "answers from version 1")
    assert save_version(model_dir, trained_mlp) == "2"
    wait_for(lambda: loop.answered_lately("2"), "50 answers in a row from version 2")
    loop.finish()
    assert loop.failures == []
    switch = loop.versions.index("2")
    assert set(loop.versions[:switch]) == {"1"} and len(loop.versions[:switch]) > 20

    # A corrupt bundle is logged and skipped: version 2 keeps serving, still ready.
    (model_dir / "mnist" / "3.npz").write_bytes(b"PK\x03\x04 not really a zip")
    wait_for(lambda: "3.npz" in server.log(), "the corrupt bundle logged")
    assert requests.get(f"{url}/v2/health/ready").status_code == 200
    assert requests.post(f"{url}/predict", json={"instances": instances}).json()["model_version"] == "2"
    assert [v["version"] for v in requests.get(f"{url}/models/mnist").json()["versions"]] == ["2", "1"]

    # Every loaded version stays addressable.
    body = {"inputs": [{"name": "input", "shape": [1, 784], "datatype": "UINT8", "data": instances[0]}]}
    for version in ("1", "2"):
        answer = requests.post(f"{url}/v2/models/mnist/versions/{version}/infer", json=body)
        assert answer.status_code == 200 and answer.json()["model_version"] == version
    missing = requests.post(f"{url}/v2/models/mnist/versions/3/infer", json=body)
    assert missing.status_code == 404
