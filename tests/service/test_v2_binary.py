"""The V2 binary tensor data extension, spoken by Triton's own HTTP client (tritonclient) with
binary data on and off, and framed by hand for the refusals a client library never sends."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from harness.images import mnist_test_digits

HEADER = "Inference-Header-Content-Length"
NUMPY_TYPES = {"UINT8": np.uint8, "FP32": np.float32}
OUTPUTS = ("probabilities", "label", "confidence", "digit", "digit_score")


@pytest.fixture(scope="module")
def client(server):
    connection = triton.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=60)
    yield connection
    connection.close()


def digits_input(digits: np.ndarray, datatype: str, binary: bool, shape: tuple[int, ...] | None = None):
    """`digits` as the input tensor, (n, 784) unless `shape` says otherwise."""
    array = digits.reshape(shape or (len(digits), 784)).astype(NUMPY_TYPES[datatype])
    tensor = triton.InferInput("input", list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def test_the_server_announces_the_extension(client):
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mnist")
    metadata = client.get_model_metadata("mnist")
    assert metadata["inputs"][0]["name"] == "input"


@pytest.mark.parametrize("datatype", ["UINT8", "FP32"])
@pytest.mark.parametrize("binary_in", [True, False], ids=["bytes-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["bytes-out", "json-out"])
def test_infer_with_binary_data_on_and_off(client, mnist, bundle, datatype, binary_in, binary_out):
    digits, _ = mnist_test_digits(mnist, 32, seed=21)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary_out) for name in OUTPUTS]
    result = client.infer("mnist", [digits_input(digits, datatype, binary_in)], outputs=outputs,
                          request_id="batch-7")
    expected = bundle.model.predict_proba(digits.reshape(32, 784).astype(np.float32))
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (32, 10)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    labels = result.as_numpy("label")
    assert labels.dtype == np.int64 and labels.tolist() == expected.argmax(axis=1).tolist()
    confidence = result.as_numpy("confidence")
    assert confidence.dtype == np.float32
    np.testing.assert_allclose(confidence, expected.max(axis=1), atol=1e-6)
    response = result.get_response()
    assert response["id"] == "batch-7" and response["model_version"] == "1"
    sizes = [o.get("parameters", {}).get("binary_data_size") for o in response["outputs"]]
    # float32 probabilities, int64 labels, float32 confidences, one byte per BOOL, float32 scores
    assert sizes == ([32 * 10 * 4, 32 * 8, 32 * 4, 32, 32 * 4] if binary_out else [None] * 5)


def test_no_outputs_named_means_all_of_them_as_bytes(client, mnist, bundle):
    """tritonclient then sets the request's `binary_data_output`."""
    digits, _ = mnist_test_digits(mnist, 256, seed=22)
    result = client.infer("mnist", [digits_input(digits, "UINT8", True, shape=(256, 28, 28))],
                          model_version="1")
    assert [o["name"] for o in result.get_response()["outputs"]] == list(OUTPUTS)
    expected = bundle.model.predict_proba(digits.reshape(256, 784).astype(np.float32))
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-6)
    assert result.as_numpy("label").tolist() == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose(result.as_numpy("confidence"), expected.max(axis=1), atol=1e-6)
    # The session's model was not taught to refuse: every input is a digit, as bytes of BOOL.
    assert result.as_numpy("digit").dtype == np.bool_ and result.as_numpy("digit").all()
    assert result.as_numpy("digit_score").shape == (256,)


def test_each_model_takes_its_own_input_as_bytes(client, digits, digits_bundle):
    """The 8x8 digits model beside MNIST: its counts 0-16 as UINT8 bytes, [n, 8, 8]."""
    x = digits.x_test[:64]
    result = client.infer("digits", [digits_input(x, "UINT8", True, shape=(64, 8, 8))])
    assert result.get_response()["model_name"] == "digits"
    expected = digits_bundle.model.predict_proba(x.astype(np.float32))
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-6)
    assert result.as_numpy("label").tolist() == expected.argmax(axis=1).tolist()
    with pytest.raises(InferenceServerException, match="outside 0-16"):
        client.infer("digits", [digits_input(np.full((1, 64), 17), "UINT8", True, shape=(1, 64))])
    with pytest.raises(InferenceServerException, match=r"64 numbers or 8 rows of 8"):
        client.infer("digits", [digits_input(np.zeros((1, 784)), "UINT8", True)])


def test_mixed_outputs_keep_the_requested_order(client, mnist):
    digits, _ = mnist_test_digits(mnist, 3, seed=23)
    outputs = [triton.InferRequestedOutput("label", binary_data=False),
               triton.InferRequestedOutput("probabilities", binary_data=True)]
    result = client.infer("mnist", [digits_input(digits, "UINT8", True)], outputs=outputs)
    described = result.get_response()["outputs"]
    assert [o["name"] for o in described] == ["label", "probabilities"]
    assert described[0]["data"] == result.as_numpy("probabilities").argmax(axis=1).tolist()


def test_errors_reach_the_client_with_the_servers_message(client):
    wrong = triton.InferInput("input", [1, 783], "UINT8")
    wrong.set_data_from_numpy(np.zeros((1, 783), dtype=np.uint8), binary_data=True)
    with pytest.raises(InferenceServerException, match="784"):
        client.infer("mnist", [wrong])
    with pytest.raises(InferenceServerException, match="unknown model 'fashion'"):
        client.infer("fashion", [digits_input(np.zeros((1, 784)), "UINT8", True)])
    with pytest.raises(InferenceServerException, match="classification extension"):
        client.infer("mnist", [digits_input(np.zeros((1, 784)), "UINT8", True)],
                     outputs=[triton.InferRequestedOutput("label", class_count=3)])


# ---- framed by hand -------------------------------------------------------------------------

def framed(header: dict, tail: bytes, length: int | str | None = None) -> tuple[bytes, dict]:
    head = json.dumps(header).encode()
    return head + tail, {HEADER: str(len(head) if length is None else length),
                         "Content-Type": "application/octet-stream"}


def uint8_input(size: int | None, shape=(1, 784), **extra) -> dict:
    tensor = {"name": "input", "shape": list(shape), "datatype": "UINT8", **extra}
    if size is not None:
        tensor["parameters"] = {"binary_data_size": size}
    return {"inputs": [tensor]}


def test_the_binary_answer_is_framed_as_the_extension_says(url, mnist, bundle):
    digits, _ = mnist_test_digits(mnist, 2, seed=24)
    pixels = digits.astype(np.uint8).tobytes()
    body, headers = framed({**uint8_input(len(pixels), shape=(2, 784)),
                            "parameters": {"binary_data_output": True}}, pixels)
    response = requests.post(f"{url}/v2/models/mnist/infer", data=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/octet-stream"
    length = int(response.headers[HEADER])
    header = json.loads(response.content[:length])
    tail = response.content[length:]
    assert [o["parameters"]["binary_data_size"] for o in header["outputs"]] == [80, 16, 8, 2, 8]
    assert len(tail) == 114 and not any("data" in output for output in header["outputs"])
    x = digits.reshape(2, 784).astype(np.float32)
    expected = bundle.model.predict_proba(x)
    np.testing.assert_allclose(np.frombuffer(tail[:80], "<f4").reshape(2, 10), expected, atol=1e-6)
    assert np.frombuffer(tail[80:96], "<i8").tolist() == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose(np.frombuffer(tail[96:104], "<f4"), expected.max(axis=1), atol=1e-6)
    assert tail[104:106] == b"\x01\x01"  # both digits, one byte each
    np.testing.assert_allclose(np.frombuffer(tail[106:], "<f4"),
                               bundle.model.digit_score(bundle.model.logits(x)), rtol=1e-5)


PIXELS = bytes(784)


@pytest.mark.parametrize("header,tail,length,message", [
    (uint8_input(784), PIXELS, "abc", f"{HEADER} must be"),
    (uint8_input(784), PIXELS, "-5", f"{HEADER} must be"),
    (uint8_input(784), PIXELS, "0", f"{HEADER} must be"),
    (uint8_input(784), PIXELS, 10**6, f"{HEADER} must be"),
    (uint8_input(784), PIXELS, "+10", f"{HEADER} must be"),
    (uint8_input(784), PIXELS, "1e1", f"{HEADER} must be"),
    (uint8_input(784), PIXELS[:500], None, "500 bytes follow"),
    (uint8_input(784), PIXELS + b"\x00", None, "785 bytes follow"),
    (uint8_input(1568, shape=(2, 784)), PIXELS * 2 + b"", None, None),  # the well-framed control
    (uint8_input(783, shape=(1, 783)), PIXELS[:783], None, "784"),
    (uint8_input(784, shape=(1, 784), data=[0] * 784), PIXELS, None, 'both "data"'),
    (uint8_input(-1), PIXELS, None, "non-negative integer"),
    (uint8_input(None), PIXELS, None, "no input declares"),
    ({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32",
                  "parameters": {"binary_data_size": 784}}]}, PIXELS, None, "needs 3136 bytes"),
    ({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32",
                  "parameters": {"binary_data_size": 3136}}]},
     np.full(784, np.nan, "<f4").tobytes(), None, "NaN"),
    ({"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32",
                  "parameters": {"binary_data_size": 3136}}]},
     np.full(784, 300, "<f4").tobytes(), None, "outside 0-255"),
    ({**uint8_input(784), "parameters": {"binary_data_output": "yes"}}, PIXELS, None, "true or false"),
    ({**uint8_input(784), "parameters": [1]}, PIXELS, None, "must be an object"),
    ({**uint8_input(784), "outputs": [{"name": "label", "parameters": {"binary_data": 1}}]}, PIXELS, None,
     "true or false"),
])
def test_badly_framed_requests_are_400(url, header, tail, length, message):
    body, headers = framed(header, tail, length)
    response = requests.post(f"{url}/v2/models/mnist/infer", data=body, headers=headers, timeout=30)
    if message is None:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_compressed_bodies_are_refused_by_name(url):
    body, headers = framed(uint8_input(784), PIXELS)
    response = requests.post(f"{url}/v2/models/mnist/infer", data=body,
                             headers={**headers, "Content-Encoding": "gzip"}, timeout=30)
    assert response.status_code == 415 and "gzip" in response.json()["error"]
