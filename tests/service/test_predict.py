"""POST /predict against a real gunicorn: JSON, uploads and raw images, one response shape."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import requests

from harness.images import mnist_test_digits
from tests.service.images import FORMATS, as_person_would_send

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "rgb": "image/png"}


def check_prediction(prediction: dict, top_k: int = 3) -> None:
    probabilities = prediction["probabilities"]
    assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 1e-4
    assert prediction["label"] == int(np.argmax(probabilities))
    ranked = prediction["top_k"]
    assert len(ranked) == top_k and ranked[0]["label"] == prediction["label"]
    assert [r["probability"] for r in ranked] == sorted((r["probability"] for r in ranked), reverse=True)


def test_json_single_image(url, mnist):
    digits, labels = mnist_test_digits(mnist, 1, seed=1)
    response = requests.post(f"{url}/predict", json={"instances": digits.reshape(1, 784).tolist()})
    assert response.status_code == 200
    body = response.json()
    assert body["model_name"] == "mnist" and body["model_version"] == "1"
    assert len(body["predictions"]) == 1
    check_prediction(body["predictions"][0])
    assert body["predictions"][0]["label"] == labels[0]


def test_json_batch_of_28x28_images_in_order(url, mnist, bundle):
    digits, _ = mnist_test_digits(mnist, 64, seed=2)
    response = requests.post(f"{url}/predict", json={"instances": digits.tolist(), "top_k": 5})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    for prediction in predictions:
        check_prediction(prediction, top_k=5)
    expected = bundle.model.predict_proba(digits.reshape(-1, 784))
    np.testing.assert_allclose([p["probabilities"] for p in predictions], expected, atol=1e-6)


def test_float_pixels_are_accepted(url, mnist):
    digits, labels = mnist_test_digits(mnist, 4, seed=4)
    instances = (digits.reshape(4, 784) / 1.0).tolist()
    response = requests.post(f"{url}/predict", json={"instances": instances})
    assert [p["label"] for p in response.json()["predictions"]] == labels.tolist()


@pytest.mark.parametrize("kind", FORMATS)
def test_images_as_people_send_them_are_read(url, mnist, kind):
    """>= 95% of 200 redrawn MNIST test digits right, uploaded 20 to a request as multipart."""
    digits, labels = mnist_test_digits(mnist, 200, seed=5)
    rng = np.random.default_rng(6)
    images = [as_person_would_send(digit, rng, kind) for digit in digits]
    predicted = []
    for start in range(0, len(images), 20):
        files = [("file", (f"digit{i}.{kind}", images[i], CONTENT_TYPES[kind]))
                 for i in range(start, start + 20)]
        response = requests.post(f"{url}/predict", files=files)
        assert response.status_code == 200, response.text
        predicted += [p["label"] for p in response.json()["predictions"]]
    accuracy = np.mean(np.array(predicted) == labels)
    assert accuracy >= 0.95, f"{kind}: {accuracy:.1%} of 200 right"


def test_raw_image_body_and_return_input(url, mnist):
    digits, labels = mnist_test_digits(mnist, 1, seed=7)
    image = as_person_would_send(digits[0], np.random.default_rng(0), "png")
    response = requests.post(f"{url}/predict?return_input=1&top_k=2", data=image,
                             headers={"Content-Type": "image/png"})
    assert response.status_code == 200
    prediction = response.json()["predictions"][0]
    check_prediction(prediction, top_k=2)
    assert prediction["label"] == labels[0]
    seen = np.array(prediction["input"])
    assert seen.shape == (28, 28) and seen.max() == 255 and seen[0, 0] == 0
    # What the model saw is the digit again, centred: it matches the original closely.
    assert np.corrcoef(seen.ravel(), digits[0].ravel())[0, 1] > 0.8


def test_request_id_is_echoed_or_made(url):
    sent = requests.get(f"{url}/v2/health/live", headers={"X-Request-ID": "abc-123"})
    assert sent.headers["X-Request-ID"] == "abc-123"
    made = requests.get(f"{url}/v2/health/live")
    other = requests.get(f"{url}/v2/health/live")
    assert made.headers["X-Request-ID"] and made.headers["X-Request-ID"] != other.headers["X-Request-ID"]
    forged = requests.get(f"{url}/v2/health/live", headers={"X-Request-ID": 'x" injected'})
    assert forged.headers["X-Request-ID"] != 'x" injected'


def test_made_request_ids_differ_across_workers(url):
    """Ids made by both forked workers, each on a connection of its own: 32 hex digits, no two
    alike (each worker's generator is seeded anew after fork)."""
    ids = [requests.get(f"{url}/v2/health/live").headers["X-Request-ID"] for _ in range(60)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", made) for made in ids)
    assert len(set(ids)) == len(ids)


def test_one_json_log_line_per_request(url, server):
    requests.post(f"{url}/predict/digits", json={"instances": [[0] * 64]},
                  headers={"X-Request-ID": "log-line-check"})
    lines = [line for line in server.log().splitlines() if "log-line-check" in line]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["path"] == "/predict/digits" and entry["status"] == 200 and entry["duration_ms"] >= 0
    assert entry["model"] == "digits" and entry["model_version"] == 1
