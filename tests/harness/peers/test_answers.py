"""The answer check against real servers over HTTP: digitnet's own gunicorn always (its JSON and
binary V2 answers agree with its forward pass, and a model that differs is caught), and the
peers too where their environments exist on this machine (`make bench-peers` makes them)."""

import dataclasses

import pytest

from harness.peers import servers, venvs
from harness.peers.answers import disagreements
from harness.peers.export import export_model
from harness.peers.v2 import V2Endpoint

IMAGES = 8


@pytest.fixture(scope="module")
def digitnet(server) -> V2Endpoint:
    return V2Endpoint("digitnet", server.url, binary=True)


def test_digitnet_agrees_with_its_forward_pass(digitnet, bundle, mnist):
    assert disagreements([digitnet], bundle.model, mnist.x_test[:IMAGES]) == []


def test_other_probabilities_are_caught(digitnet, bundle, mnist):
    hotter = dataclasses.replace(bundle.model, temperature=bundle.model.temperature * 2)

    problems = disagreements([digitnet], hotter, mnist.x_test[:IMAGES])

    assert [p.split(":")[0] for p in problems] == ["digitnet (json)", "digitnet (binary)"]
    assert all("probabilities differ" in p for p in problems)


def test_other_labels_are_caught(digitnet, bundle, mnist):
    renamed = dataclasses.replace(bundle.model, classes=[(c + 1) % 10 for c in bundle.model.classes])

    problems = disagreements([digitnet], renamed, mnist.x_test[:IMAGES])

    assert len(problems) == 2 and all("labels differ at images [0, 1, 2" in p for p in problems)


def test_a_server_that_does_not_answer_is_a_problem(bundle, mnist):
    gone = V2Endpoint("nobody", "http://127.0.0.1:9")  # the discard port: nothing listens

    problems = disagreements([gone], bundle.model, mnist.x_test[:IMAGES])

    assert len(problems) == 1 and problems[0].startswith("nobody (json): no answer")


@pytest.mark.parametrize("peer", ["kserve", "mlserver", "bentoml"])
def test_peer_agrees_with_digitnet(peer, bundle, mnist, tmp_path):
    if not venvs.is_ready(peer):
        pytest.skip(f"no {peer} environment in {venvs.environment(peer)} (make bench-peers makes it)")
    exported = export_model(bundle.model, tmp_path / "exported.npz")
    start = {"kserve": lambda: servers.start_kserve(exported, tmp_path, workers=1),
             "mlserver": lambda: servers.start_mlserver(exported, tmp_path),
             "bentoml": lambda: servers.start_bentoml(exported, tmp_path, workers=1)}[peer]

    with start() as running:
        problems = disagreements([running.endpoint], bundle.model, mnist.x_test[:IMAGES])
        group = running.processes()

        assert running.process.pid in group and running.cpu_seconds() > 0
    assert problems == []
