"""Several models served side by side, each by its own bundle's contract, against the session
gunicorn (models "mnist", 28x28, and "digits", scikit-learn's 8x8 digits)."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from harness.images import mnist_test_digits
from tests.service.images import as_person_would_send

MNIST_SHAPE = "784 numbers or 28 rows of 28 (shape [n, 784] or [n, 28, 28])"
DIGITS_SHAPE = "64 numbers or 8 rows of 8 (shape [n, 64] or [n, 8, 8])"


@pytest.mark.parametrize("name", ["mnist", "digits"])
def test_each_models_metadata_is_its_bundles(url, request, name):
    bundle = request.getfixturevalue("bundle" if name == "mnist" else "digits_bundle")
    for path in (f"/v2/models/{name}", f"/v2/models/{name}/versions/1"):
        body = requests.get(url + path).json()
        assert body["name"] == name and body["versions"] == ["1"]
        assert body["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, bundle.input.size]}]
        assert body["outputs"][0] == {"name": "probabilities", "datatype": "FP32",
                                      "shape": [-1, len(bundle.model.classes)]}
    described = requests.get(f"{url}/models/{name}").json()
    assert described["input"] == bundle.input.to_dict()
    assert described["classes"] == bundle.model.classes
    assert described["default_version"] == "1" and described["policy"]["version_policy"] == {"latest": 2}
    [version] = described["versions"]
    assert version["version"] == "1" and version["default"] is True
    assert version["metrics"] == bundle.manifest.metrics
    assert version["layer_sizes"] == bundle.model.layer_sizes


def test_models_lists_every_model_and_the_default(url):
    body = requests.get(f"{url}/models").json()
    assert body["default_model"] == "mnist"
    assert [m["model_name"] for m in body["models"]] == ["digits", "mnist"]
    assert {m["model_name"]: m["input"]["image_shape"] for m in body["models"]} == {
        "digits": [8, 8], "mnist": [28, 28]}


def test_json_digits_are_read_by_the_digits_model(url, digits, digits_bundle):
    x, y = digits.x_test[:100], digits.y_test[:100]
    for path, instances in (("/predict/digits", x.tolist()),
                            ("/predict?model=digits", x.reshape(-1, 8, 8).tolist())):
        response = requests.post(url + path, json={"instances": instances})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_name"] == "digits" and body["model_version"] == "1"
        probabilities = np.array([p["probabilities"] for p in body["predictions"]])
        np.testing.assert_allclose(probabilities, digits_bundle.model.predict_proba(x), atol=1e-6)
        assert np.mean([p["label"] for p in body["predictions"]] == y) >= 0.95


def test_v2_infer_on_the_digits_model(url, digits, digits_bundle):
    x = digits.x_test[:4]
    body = {"id": "d-1", "inputs": [{"name": "input", "shape": [4, 8, 8], "datatype": "UINT8",
                                     "data": x.ravel().tolist()}]}
    response = requests.post(f"{url}/v2/models/digits/infer", json=body)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["probabilities"]["shape"] == [4, 10]
    assert outputs["label"]["data"] == digits_bundle.model.predict(x).tolist()


def test_uploads_go_through_each_models_own_recipe(url, mnist, digits_bundle):
    """The same 200 redrawn MNIST digits, uploaded to each model: the MNIST model reads >= 95%;
    the 8x8 model, trained on 1,437 digits of another style, reads them through the optdigits
    recipe (its answers are exactly its forward pass on that recipe's output) well above chance."""
    images, labels = mnist_test_digits(mnist, 200, seed=5)
    rng = np.random.default_rng(6)
    uploads = [as_person_would_send(image, rng, "png") for image in images]
    accuracy = {}
    for name in ("mnist", "digits"):
        predicted = []
        for start in range(0, 200, 20):
            files = [("file", (f"{i}.png", uploads[i], "image/png")) for i in range(start, start + 20)]
            response = requests.post(f"{url}/predict/{name}?return_input=1", files=files)
            assert response.status_code == 200, response.text
            predictions = response.json()["predictions"]
            predicted += [p["label"] for p in predictions]
            if name == "digits":
                seen = np.array([p["input"] for p in predictions])
                assert seen.shape == (20, 8, 8) and seen.max() <= 16
                np.testing.assert_allclose([p["probabilities"] for p in predictions],
                                           digits_bundle.model.predict_proba(seen.reshape(20, 64)),
                                           atol=1e-6)
        accuracy[name] = np.mean(np.array(predicted) == labels)
    print(f"200 redrawn MNIST test digits uploaded: {accuracy}")
    assert accuracy["mnist"] >= 0.95 and accuracy["digits"] >= 0.5, accuracy


@pytest.mark.parametrize("path, instances, message", [
    ("/predict/digits", [[0] * 784], f"instances has shape [1, 784]: each image must be {DIGITS_SHAPE}"),
    ("/predict/digits", np.zeros((1, 28, 28), int).tolist(), DIGITS_SHAPE),
    ("/predict", [[0] * 64], f"instances has shape [1, 64]: each image must be {MNIST_SHAPE}"),
    ("/predict/digits", [[17] * 64], "values outside 0-16"),
    ("/predict/mnist", [[256] * 784], "values outside 0-255"),
])
def test_wrong_input_is_a_400_naming_the_models_expected_input(url, path, instances, message):
    response = requests.post(url + path, json={"instances": instances})
    assert response.status_code == 400 and message in response.json()["error"], response.text


@pytest.mark.parametrize("name, shape, message", [
    ("digits", [1, 784], "[n, 64] or [n, 8, 8]"),
    ("mnist", [1, 64], "[n, 784] or [n, 28, 28]"),
    ("digits", [1, 28, 28], "[n, 64] or [n, 8, 8]"),
])
def test_v2_wrong_shape_is_a_400_naming_the_expected_shape(url, name, shape, message):
    size = int(np.prod(shape))
    body = {"inputs": [{"name": "input", "shape": shape, "datatype": "UINT8", "data": [0] * size}]}
    response = requests.post(f"{url}/v2/models/{name}/infer", json=body)
    assert response.status_code == 400 and message in response.json()["error"]


@pytest.mark.parametrize("path, status, message", [
    ("/predict/fashion", 404, "unknown model 'fashion' (models served: digits, mnist)"),
    ("/predict?model=fashion", 404, "unknown model 'fashion'"),
    ("/predict/digits?model=mnist", 400, "two models named"),
    ("/predict?version=2", 404, "has no version or label '2' loaded (versions 1)"),
    ("/predict?version=stable", 404, "has no version or label 'stable'"),
    ("/predict/digits?version=01", 404, "has no version or label '01'"),
])
def test_unknown_models_versions_and_labels(url, path, status, message):
    response = requests.post(url + path, json={"instances": [[0] * 784]})
    assert response.status_code == status and message in response.json()["error"], response.text


def test_the_version_that_answered_is_in_every_answer(url):
    for path in ("/predict?version=1", "/predict/mnist?version=1"):
        assert requests.post(url + path, json={"instances": [[0] * 784]}).json()["model_version"] == "1"


def test_repository_index_lists_every_model_and_version(url):
    everything = requests.post(f"{url}/v2/repository/index")
    assert everything.status_code == 200
    assert everything.json() == [{"name": "digits", "version": "1", "state": "READY", "reason": ""},
                                 {"name": "mnist", "version": "1", "state": "READY", "reason": ""}]
    assert requests.post(f"{url}/v2/repository/index", json={"ready": True}).json() == everything.json()


@pytest.mark.parametrize("body", [[1], {"ready": "yes"}, "null"])
def test_repository_index_refuses_a_bad_body(url, body):
    response = requests.post(f"{url}/v2/repository/index", json=body)
    assert response.status_code == 400 and "JSON object" in response.json()["error"]
