"""Versions come and go under a running server: no bundle, first bundle, new version, bad bundle.

One server on its own model directory goes through the whole life, in order: it starts with no
bundle (live, not ready), picks up version 1, swaps to version 2 while a client loop runs (no
request fails, answers switch), skips a corrupt version 3 (still ready, still version 2), and
serves any loaded version through the V2 version paths.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
import requests

from shared.bundle import save_new_version
from tests.helpers import mnist_test_digits
from tests.server import Server

DEADLINE_SECONDS = 30


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {DEADLINE_SECONDS}s: {what}")


class ClientLoop(threading.Thread):
    """Keeps predicting on several keep-alive connections (so both workers serve) until stopped."""

    def __init__(self, url: str, instances: list, connections: int = 4) -> None:
        super().__init__(daemon=True)
        self.url, self.instances, self.connections = url, instances, connections
        self.stop = threading.Event()
        self.versions: list[str] = []   # model_version of every answer, in order
        self.failures: list[str] = []

    def run(self) -> None:
        sessions = [requests.Session() for _ in range(self.connections)]
        deadline = time.monotonic() + 2 * DEADLINE_SECONDS
        while not self.stop.is_set() and time.monotonic() < deadline:
            for session in sessions:
                try:
                    response = session.post(f"{self.url}/predict", json={"instances": self.instances},
                                            timeout=10)
                    if response.status_code == 200:
                        self.versions.append(response.json()["model_version"])
                    else:
                        self.failures.append(f"{response.status_code} {response.text}")
                except requests.RequestException as e:
                    self.failures.append(repr(e))


@pytest.fixture
def empty_server(tmp_path: Path):
    server = Server(tmp_path / "models", tmp_path / "server.log")
    yield server, tmp_path / "models"
    server.stop()


def workers_serving(url: str) -> list[str]:
    """The version each live worker serves by default, from its `digitnet_model_version` series:
    each worker polls the directory on its own, so one can be ready before the other."""
    text = requests.get(f"{url}/metrics").text
    return sorted(str(int(float(v))) for v in re.findall(r"^digitnet_model_version\{.*\} (\S+)$", text, re.M))


def save_version(model_dir: Path, trained_mlp) -> str:
    return str(save_new_version(model_dir, "mnist", trained_mlp.model,
                                {"metrics": {"test_accuracy": 0.97}}).version)


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
    loop = ClientLoop(url, instances)
    loop.start()
    wait_for(lambda: len(loop.versions) > 20, "answers from version 1")
    assert save_version(model_dir, trained_mlp) == "2"
    wait_for(lambda: loop.versions[-50:].count("2") == 50 and len(loop.versions) > 50,
             "50 answers in a row from version 2")
    loop.stop.set()
    loop.join(timeout=DEADLINE_SECONDS)
    assert loop.failures == []
    switch = loop.versions.index("2")
    assert set(loop.versions[:switch]) == {"1"} and len(loop.versions[:switch]) > 20

    # A corrupt bundle is logged and skipped: version 2 keeps serving, still ready.
    (model_dir / "mnist" / "3.npz").write_bytes(b"PK\x03\x04 not really a zip")
    wait_for(lambda: "3.npz" in server.log(), "the corrupt bundle logged")
    assert requests.get(f"{url}/v2/health/ready").status_code == 200
    assert requests.post(f"{url}/predict", json={"instances": instances}).json()["model_version"] == "2"
    assert [v["version"] for v in requests.get(f"{url}/models").json()["versions"]] == ["2", "1"]

    # Every loaded version stays addressable.
    body = {"inputs": [{"name": "input", "shape": [1, 784], "datatype": "UINT8", "data": instances[0]}]}
    for version in ("1", "2"):
        answer = requests.post(f"{url}/v2/models/mnist/versions/{version}/infer", json=body)
        assert answer.status_code == 200 and answer.json()["model_version"] == version
    missing = requests.post(f"{url}/v2/models/mnist/versions/3/infer", json=body)
    assert missing.status_code == 404
