"""The Open Inference Protocol (KServe V2) endpoints, as a standard client uses them."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from harness.images import mnist_test_digits


def infer_body(digits: np.ndarray, datatype: str = "UINT8", nested: bool = False, **extra) -> dict:
    data = digits.reshape(len(digits), 784)
    return {"inputs": [{"name": "input", "shape": [len(digits), 784], "datatype": datatype,
                        "data": data.tolist() if nested else data.ravel().tolist()}], **extra}


def test_server_health_and_metadata(url):
    assert requests.get(f"{url}/v2/health/live").json() == {"live": True}
    assert requests.get(f"{url}/v2/health/ready").json() == {"ready": True}
    server = requests.get(f"{url}/v2").json()
    assert server["name"] == "digitnet" and "version" in server
    assert server["extensions"] == ["binary_tensor_data"]


@pytest.mark.parametrize("path", ["/v2/models/mnist", "/v2/models/mnist/versions/1"])
def test_model_metadata(url, path):
    body = requests.get(url + path).json()
    assert body["name"] == "mnist" and "1" in body["versions"]
    assert body["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 784]}]
    assert body["outputs"][0] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}


@pytest.mark.parametrize("path", ["/v2/models/mnist/ready", "/v2/models/mnist/versions/1/ready"])
def test_model_ready(url, path):
    response = requests.get(url + path)
    assert response.status_code == 200 and response.json()["ready"] is True


@pytest.mark.parametrize("datatype,nested", [("UINT8", False), ("FP32", True), ("FP32", False)])
@pytest.mark.parametrize("path", ["/v2/models/mnist/infer", "/v2/models/mnist/versions/1/infer"])
def test_infer(url, mnist, bundle, path, datatype, nested):
    digits, labels = mnist_test_digits(mnist, 8, seed=11)
    response = requests.post(url + path, json=infer_body(digits, datatype, nested, id="req-42"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "req-42" and body["model_name"] == "mnist" and body["model_version"] == "1"
    outputs = {o["name"]: o for o in body["outputs"]}
    probabilities = outputs["probabilities"]
    assert probabilities["datatype"] == "FP32" and probabilities["shape"] == [8, 10]
    expected = bundle.model.predict_proba(digits.reshape(8, 784).astype(np.float32))
    np.testing.assert_allclose(np.reshape(probabilities["data"], (8, 10)), expected, atol=1e-6)
    assert outputs["label"]["shape"] == [8]
    assert outputs["label"]["data"] == bundle.model.predict(digits.reshape(8, 784)).tolist()


def test_infer_28x28_shape_and_output_selection(url, mnist):
    digits, _ = mnist_test_digits(mnist, 2, seed=12)
    body = {"inputs": [{"name": "input", "shape": [2, 28, 28], "datatype": "UINT8",
                        "data": digits.ravel().tolist()}], "outputs": [{"name": "label"}]}
    response = requests.post(f"{url}/v2/models/mnist/infer", json=body)
    assert response.status_code == 200
    assert [o["name"] for o in response.json()["outputs"]] == ["label"]
    assert "id" not in response.json()


def bad(tensor_changes: dict) -> dict:
    tensor = {"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [0] * 784}
    return {"inputs": [{**tensor, **tensor_changes}]}


@pytest.mark.parametrize("body,status,message", [
    (bad({"datatype": "BYTES"}), 400, "datatype 'BYTES'"),
    (bad({"datatype": "UINT8", "data": [0.5] * 784}), 400, "integers"),
    (bad({"shape": [2, 784]}), 400, "needs 1568 values"),
    (bad({"shape": [1, 783], "data": [0] * 783}), 400, "784"),
    (bad({"shape": "1x784"}), 400, "shape"),
    (bad({"name": "pixels"}), 400, "unknown input 'pixels'"),
    (bad({"data": [300] * 784}), 400, "0-255"),
    (bad({"data": ["a"] * 784}), 400, "numbers"),
    (bad({"data": [0] * 783 + [True]}), 400, "booleans"),
    (bad({"data": [0] * 783 + [[0]]}), 400, "regular array"),
    ({"inputs": []}, 400, "inputs"),
    ({"something": 1}, 400, "inputs"),
    ({**bad({}), "outputs": [{"name": "logits"}]}, 400, "outputs"),
    ({**bad({}), "id": 5}, 400, "id"),
    ([1, 2], 400, "object"),
])
def test_infer_errors(url, body, status, message):
    response = requests.post(f"{url}/v2/models/mnist/infer", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


@pytest.mark.parametrize("method,path", [
    ("GET", "/v2/models/fashion"),
    ("GET", "/v2/models/fashion/ready"),
    ("POST", "/v2/models/fashion/infer"),
    ("GET", "/v2/models/mnist/versions/9"),
    ("GET", "/v2/models/mnist/versions/latest/ready"),
    ("POST", "/v2/models/mnist/versions/9/infer"),
])
def test_unknown_model_or_version_is_404(url, method, path):
    response = requests.request(method, url + path, json=bad({}))
    assert response.status_code == 404
    assert "fashion" in response.json()["error"] or "no version" in response.json()["error"]
