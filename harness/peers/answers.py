"""The answer check: every server in the peer benchmark answers the same images with the labels
and probabilities of digitnet's own forward pass, or the benchmark prints no figures.

`disagreements(endpoints, model, images)` asks each server (over V2 JSON, and V2 binary where it
has the extension) for the images' labels and probabilities and returns what differs from
`model.predict_proba`, one line per problem; empty when all agree. A few images are enough.
"""

from __future__ import annotations

import numpy as np
import requests

from harness.peers.v2 import V2Endpoint, decode_v2_response, v2_binary_request, v2_json_request
from shared.model import Model

# float32 forward passes that differ in the order of their sums (scikit-learn's folded scaling,
# a different BLAS call) agree to about 1e-6; a wrong weight or a wrong scaling is far off.
RTOL = 1e-4
ATOL = 1e-5
TIMEOUT_SECONDS = 30


def expected_answers(model: Model, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """digitnet's labels and calibrated probabilities for raw pixels (n, features)."""
    probabilities = model.predict_proba(np.asarray(images, dtype=np.float32))
    return np.asarray(model.classes)[probabilities.argmax(axis=1)], probabilities


def disagreements(endpoints: list[V2Endpoint], model: Model, images: np.ndarray) -> list[str]:
    """What each server answers differently from `model` for `images`; [] when all agree."""
    labels, probabilities = expected_answers(model, images)
    problems = []
    for endpoint in endpoints:
        for transport in ("json", "binary") if endpoint.binary else ("json",):
            try:
                got_labels, got_probabilities = ask(endpoint, images, transport)
            except (requests.RequestException, ValueError, KeyError) as e:
                problems.append(f"{endpoint.server} ({transport}): no answer: {e}")
                continue
            problems += compare(f"{endpoint.server} ({transport})", labels, probabilities,
                                got_labels, got_probabilities)
    return problems


def ask(endpoint: V2Endpoint, images: np.ndarray, transport: str) -> tuple[np.ndarray, np.ndarray]:
    """One V2 inference of `images` asking for labels and probabilities: what the server said."""
    outputs = [endpoint.label, endpoint.probabilities]
    make = v2_binary_request if transport == "binary" else v2_json_request
    body, headers = make(endpoint, images, outputs)
    response = requests.post(endpoint.infer_url, data=body, headers=headers, timeout=TIMEOUT_SECONDS)
    response.raise_for_status()
    tensors = decode_v2_response(response.content, response.headers)
    n = len(images)
    return (tensors[endpoint.label].reshape(n),
            tensors[endpoint.probabilities].reshape(n, -1))


def compare(who: str, labels: np.ndarray, probabilities: np.ndarray, got_labels: np.ndarray,
            got_probabilities: np.ndarray) -> list[str]:
    """The differences between expected and received answers, as lines naming `who`."""
    if got_probabilities.shape != probabilities.shape:
        return [f"{who}: probabilities of shape {got_probabilities.shape}, not {probabilities.shape}"]
    problems = []
    wrong = np.flatnonzero(got_labels.astype(np.int64) != labels)
    if len(wrong):
        problems.append(f"{who}: labels differ at images {wrong.tolist()}: "
                        f"{got_labels[wrong].tolist()} instead of {labels[wrong].tolist()}")
    if not np.allclose(got_probabilities, probabilities, rtol=RTOL, atol=ATOL):
        worst = float(np.abs(got_probabilities - probabilities).max())
        problems.append(f"{who}: probabilities differ by up to {worst:.2e}")
    return problems
