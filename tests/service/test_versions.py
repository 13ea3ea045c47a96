"""A running gunicorn while its model repository changes: a new model trained beside it, labels
moved under a client loop, a broken policy file, canary traffic, and memory while versions churn.

Each test has a server of its own on a model directory of its own.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from harness.clients import DEADLINE_SECONDS, ClientLoop, wait_for, workers_serving, write_policy
from harness.images import mnist_test_digits
from harness.server import Server, rss_mib
from shared.model import Model
from shared.repository import list_versions, save_new_version
from tests.service.images import as_person_would_send

SETTLE_SECONDS = 1.5  # several watcher polls (0.2 s) in both workers


@pytest.fixture
def mnist_only(model_dir: Path, tmp_path: Path) -> Path:
    """A model directory holding only version 1 of model "mnist"."""
    directory = tmp_path / "models"
    (directory / "mnist").mkdir(parents=True)
    shutil.copy(model_dir / "mnist" / "1.npz", directory / "mnist" / "1.npz")
    return directory


def digit_calls(mnist) -> tuple[dict, dict]:
    """A one-digit /predict body and the same digit as a V2 infer body."""
    digit = mnist_test_digits(mnist, 1, seed=41)[0].reshape(1, 784)
    tensor = {"name": "input", "shape": [1, 784], "datatype": "UINT8", "data": digit[0].tolist()}
    return {"instances": digit.tolist()}, {"inputs": [tensor]}


def test_digits_trained_beside_a_running_mnist_service_is_served_beside_it(mnist_only, tmp_path, mnist,
                                                                           digits):
    """The README's `python -m trainer --dataset digits`, run while the service serves MNIST,
    adds a model "digits": both are then served, each by its own bundle's contract."""
    with Server(mnist_only, tmp_path / "server.log") as server:
        url = server.url
        trained = subprocess.run([sys.executable, "-m", "trainer", "--dataset", "digits"],
                                 capture_output=True, text=True, timeout=600,
                                 env={**os.environ, "MODEL_DIR": str(mnist_only), "MODEL_NAME": "mnist"})
        assert trained.returncode == 0, trained.stderr
        assert list_versions(mnist_only, "mnist") == [1] and list_versions(mnist_only, "digits") == [1]
        wait_for(lambda: workers_serving(url, "digits") == ["1", "1"], "both workers serving digits")

        shapes = {name: requests.get(f"{url}/v2/models/{name}").json()["inputs"][0]["shape"]
                  for name in ("mnist", "digits")}
        assert shapes == {"mnist": [-1, 784], "digits": [-1, 64]}
        zeros = {"instances": [[0] * 784]}
        mnist_answer = requests.post(f"{url}/predict", json=zeros)
        assert mnist_answer.status_code == 200 and mnist_answer.json()["model_version"] == "1"
        refused = requests.post(f"{url}/predict/digits", json=zeros)
        assert refused.status_code == 400 and "64 numbers or 8 rows of 8" in refused.json()["error"]

        x, y = digits.x_test[:256], digits.y_test[:256]
        answers = requests.post(f"{url}/predict/digits", json={"instances": x.tolist()}).json()
        assert np.mean([p["label"] for p in answers["predictions"]] == y) >= 0.9

        images, labels = mnist_test_digits(mnist, 20, seed=42)
        rng = np.random.default_rng(43)
        files = [("file", (f"{i}.png", as_person_would_send(image, rng, "png"), "image/png"))
                 for i, image in enumerate(images)]
        for name, seen in (("mnist", (28, 28)), ("digits", (8, 8))):
            response = requests.post(f"{url}/predict/{name}?return_input=1", files=files)
            assert response.status_code == 200, response.text
            assert {np.shape(p["input"]) for p in response.json()["predictions"]} == {seen}
        read = [p["label"] for p in requests.post(f"{url}/predict", files=files).json()["predictions"]]
        assert np.mean(np.array(read) == labels) >= 0.9
        index = requests.post(f"{url}/v2/repository/index").json()
        assert [(e["name"], e["version"], e["state"]) for e in index] == [
            ("digits", "1", "READY"), ("mnist", "1", "READY")]


def test_moving_a_label_under_a_client_loop_loses_no_request(mnist_only, tmp_path, trained_mlp, mnist):
    """stable: 1 -> 2 -> 1 (a rollout, then a rollback) while clients keep asking by default, by
    label and through V2. Under policy latest 1, version 1 is unloaded after the first move and
    loaded again for the rollback: every request is answered, each by the version the label
    named at that moment."""
    save_new_version(mnist_only, "mnist", trained_mlp.model, {}, recipe="mnist")
    write_policy(mnist_only, {"version_policy": {"latest": 1}, "labels": {"stable": 1}, "default": "stable"})
    body, infer = digit_calls(mnist)
    with Server(mnist_only, tmp_path / "server.log") as server:
        url = server.url
        wait_for(lambda: workers_serving(url) == ["1", "1"], "both workers serving stable = 1")
        loop = ClientLoop(url, [("/predict", body), ("/predict?version=stable", body),
                                ("/v2/models/mnist/versions/stable/infer", infer)])
        loop.start()
        try:
            wait_for(lambda: len(loop.versions) > 60, "answers from version 1")
            write_policy(mnist_only, {"version_policy": {"latest": 1}, "labels": {"stable": 2},
                                      "default": "stable"})
            wait_for(lambda: loop.answered_lately("2", 60), "60 answers in a row from version 2")
            unloaded = requests.post(f"{url}/v2/repository/index").json()
            assert {"name": "mnist", "version": "1", "state": "UNAVAILABLE",
                    "reason": "unloaded: outside the version policy (latest 1)"} in unloaded
            write_policy(mnist_only, {"version_policy": {"latest": 1}, "labels": {"stable": 1},
                                      "default": "stable"})
            wait_for(lambda: loop.answered_lately("1", 60), "60 answers in a row from version 1 again")
        finally:
            loop.finish()
    assert loop.failures == []
    # While the two workers each apply the move, answers from both versions may interleave.
    runs = [(version, len(list(run))) for version, run in itertools.groupby(loop.versions)]
    assert runs[0][0] == "1" and runs[0][1] > 60
    assert any(version == "2" and length >= 60 for version, length in runs)
    assert runs[-1][0] == "1" and runs[-1][1] >= 60


@pytest.mark.parametrize("bad", [
    "{\"labels\": {\"stable\": 2}",                                    # cut short: not JSON
    json.dumps({"labels": {"stable": 9}, "default": "stable"}),         # a version not there
    json.dumps({"lables": {"stable": 2}, "default": "stable"}),         # a typo
    json.dumps({"version_policy": {"latest": 0}}),
])
def test_a_broken_policy_file_changes_nothing(mnist_only, tmp_path, trained_mlp, mnist, bad):
    save_new_version(mnist_only, "mnist", trained_mlp.model, {}, recipe="mnist")
    write_policy(mnist_only, {"labels": {"stable": 1}, "default": "stable"})
    body, _ = digit_calls(mnist)
    with Server(mnist_only, tmp_path / "server.log") as server:
        url = server.url
        wait_for(lambda: workers_serving(url) == ["1", "1"], "both workers serving stable = 1")
        before = requests.get(f"{url}/models/mnist").json()
        loop = ClientLoop(url, [("/predict", body)])
        loop.start()
        try:
            write_policy(mnist_only, bad)
            server.wait_for_log('"ERROR"', "policy.json refused", timeout=DEADLINE_SECONDS)
            time.sleep(SETTLE_SECONDS)
        finally:
            loop.finish()
        assert requests.get(f"{url}/models/mnist").json() == before
        assert loop.failures == [] and set(loop.versions) == {"1"} and len(loop.versions) > 10
        assert workers_serving(url) == ["1", "1"]


def test_a_weighted_default_sends_canary_traffic(mnist_only, tmp_path, trained_mlp, mnist):
    save_new_version(mnist_only, "mnist", trained_mlp.model, {}, recipe="mnist")
    body, _ = digit_calls(mnist)
    with Server(mnist_only, tmp_path / "server.log") as server:
        url = server.url
        wait_for(lambda: workers_serving(url) == ["2", "2"], "both workers serving version 2")
        write_policy(mnist_only, {"labels": {"stable": 1, "canary": 2},
                                  "default": {"stable": 0.75, "canary": 0.25}})
        wait_for(lambda: workers_serving(url) == ["1", "1"], "both workers splitting (mostly stable)")
        session = requests.Session()
        answered = [session.post(f"{url}/predict", json=body).json()["model_version"] for _ in range(400)]
    # 400 draws of 25%: a standard deviation of 2.2 points; 8 points is 3.7 of them.
    assert answered.count("2") / 400 == pytest.approx(0.25, abs=0.08)
    assert set(answered) == {"1", "2"}


def big_model(seed: int) -> Model:
    """784 -> 2048 -> 10, random: 6.4 MB of weights, so that a version kept by mistake shows."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.05, (784, 2048)).astype(np.float32),
               rng.normal(0, 0.05, (2048, 10)).astype(np.float32)]
    return Model(weights, [np.zeros(2048, np.float32), np.zeros(10, np.float32)], ["relu"], 0.0, 255.0,
                 list(range(10)))


@pytest.mark.parametrize("policy", [None, {"version_policy": {"all": True}}], ids=["latest-2", "all"])
def test_memory_stays_flat_while_20_versions_are_written_under_latest_2(tmp_path, policy):
    """Each version is swapped in by both workers before the next is written. Under the default
    policy (latest 2) worker memory stays flat; under "all", the same run keeps every version:
    the memory is the policy's doing."""
    models = tmp_path / "models"
    version_mib = 784 * 2048 * 4 / 2**20

    def write_and_wait(seed: int) -> None:
        version = save_new_version(models, "big", big_model(seed), {}, recipe="mnist").version
        wait_for(lambda: workers_serving(server.url, "big") == [str(version)] * 2,
                 f"both workers serving version {version}")

    for seed in range(2):
        save_new_version(models, "big", big_model(seed), {}, recipe="mnist")
    if policy:
        write_policy(models, policy, "big")
    with Server(models, tmp_path / "server.log", MODEL_NAME="big") as server:
        wait_for(lambda: workers_serving(server.url, "big") == ["2", "2"], "both workers serving version 2")
        for seed in range(2, 5):  # warm up: the allocator reaches its working size
            write_and_wait(seed)
        before = {pid: rss_mib(pid) for pid in server.workers()}
        for seed in range(5, 25):
            write_and_wait(seed)
        after = {pid: rss_mib(pid) for pid in server.workers()}
        index = requests.post(f"{server.url}/v2/repository/index").json()
    assert before.keys() == after.keys(), "a worker was replaced"
    growth = max(after[pid] - before[pid] for pid in before)
    print(f"{'all' if policy else 'latest 2'}: RSS per worker {before} -> {after} MiB, "
          f"+{growth:.1f} MiB at most ({version_mib:.1f} MiB of weights per version)")
    ready = [e["version"] for e in index if e["state"] == "READY"]
    if policy:  # every version kept: the 20 add about 20 versions' weights to each worker
        assert growth > 15 * version_mib and len(ready) == 25
        return
    # Keeping the 20 would add 120 MiB to each worker; latest 2 keeps two of them.
    assert growth < 2 * version_mib, f"RSS per worker {before} -> {after} MiB"
    assert ready == ["25", "24"]
    assert len(index) == 25 and all(e["reason"] == "unloaded: outside the version policy (latest 2)"
                                    for e in index if e["state"] != "READY")
