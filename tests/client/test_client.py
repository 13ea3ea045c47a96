"""The Python client against a real gunicorn, as a user calls it: every kind of input, batches cut
to the service's limits, typed errors with the service's message and request id, retries."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest
from PIL import Image

from client import (
    BadRequest,
    Client,
    ConnectionFailed,
    Health,
    NotFound,
    PayloadTooLarge,
    Retries,
    ServiceUnavailable,
    Unauthorized,
)
from harness.images import drawn_digit, encode, mnist_test_digits
from harness.server import Launch, Server, free_port

TOKEN = "client-test-token"


@pytest.fixture(scope="module")
def client(url):
    with Client(url) as connected:
        yield connected


def test_every_kind_of_input_in_one_call_answers_in_order(client, digit_files, mnist, bundle, tmp_path):
    (first, first_label), (second, second_label), (third, third_label) = list(digit_files.items())[:3]
    arrays, array_labels = mnist_test_digits(mnist, 3, seed=32)
    expected_arrays = bundle.model.predict(arrays.reshape(3, 784).astype(np.float32)).tolist()
    jpeg = encode(Image.open(second).convert("RGB"), "JPEG", quality=95)
    inputs = [first, jpeg, Image.open(third), arrays[0], arrays[1].ravel(), str(first), arrays[2] / 1.0]
    predictions = client.predict(inputs)
    assert [p.label for p in predictions] == [first_label, second_label, third_label, *expected_arrays[:2],
                                              first_label, expected_arrays[2]]
    assert [p.source for p in predictions] == [str(first), "image 2", "image 3", "array 4", "array 5",
                                               str(first), "array 7"]
    for p in predictions:
        assert p.model_name == "mnist" and p.model_version == "1" and len(p.probabilities) == 10
        assert p.top_k[0] == (p.label, p.confidence) and len(p.top_k) == 3
        assert abs(sum(p.probabilities) - 1) < 1e-4
        assert p.confidence_threshold == pytest.approx(bundle.confidence_threshold)
        assert p.sure == (p.confidence >= p.confidence_threshold)


def test_a_numpy_batch_is_the_first_axis_and_top_k_and_model_are_passed(client, mnist, bundle):
    digits, _ = mnist_test_digits(mnist, 20, seed=33)
    expected = bundle.model.predict_proba(digits.reshape(20, 784).astype(np.float32))
    for batch in (digits, digits.reshape(20, 784)):
        predictions = client.predict(batch, top_k=5, model="mnist")
        assert [p.label for p in predictions] == expected.argmax(axis=1).tolist()
        np.testing.assert_allclose([p.probabilities for p in predictions], expected, atol=1e-6)
        assert all(len(p.top_k) == 5 for p in predictions)
    assert client.predict([]) == []


def test_large_inputs_are_split_into_max_batch_requests(model_dir, tmp_path, mnist, bundle):
    digits, _ = mnist_test_digits(mnist, 40, seed=34)
    with Server(model_dir, tmp_path / "server.log", MAX_BATCH="16") as server, Client(server.url) as client:
        assert client.limits().max_batch == 16  # learned from the service's /openapi.json
        predictions = client.predict(digits)
        sent = server.requests_logged("POST", "/predict")
        assert [line["status"] for line in sent] == [200, 200, 200]  # 16 + 16 + 8
    assert [p.label for p in predictions] == bundle.model.predict(digits.reshape(40, 784)).tolist()


def test_max_batch_can_be_given(server, digit_files):
    before = len(server.requests_logged("POST", "/predict"))
    with Client(server.url, max_batch=5) as client:
        predictions = client.predict(list(digit_files))
    assert len(server.requests_logged("POST", "/predict")) - before == 3  # 5 + 5 + 2 files
    assert [p.label for p in predictions] == list(digit_files.values())


def test_uploads_are_split_to_fit_max_content_length(model_dir, tmp_path, mnist):
    digits, labels = mnist_test_digits(mnist, 6, seed=35)
    # Uncompressed BMPs of 360 KB: two fit in a 1 MB body, three do not.
    bmps = [encode(drawn_digit(d, side=400, canvas=(600, 600), at=(100, 100)), "BMP") for d in digits]
    with Server(model_dir, tmp_path / "server.log", MAX_CONTENT_LENGTH="1000000") as server, \
            Client(server.url) as client:
        predictions = client.predict(bmps)
        statuses = [line["status"] for line in server.requests_logged("POST", "/predict")]
    assert statuses == [200, 200, 200]
    assert sum(p.label == label for p, label in zip(predictions, labels)) >= 5


def test_a_refused_input_is_reported_alone_and_the_others_are_predicted(client, server, digit_files):
    paths = list(digit_files)[:4]
    inputs = [paths[0], b"not an image", paths[1], tmp_path_missing := "/nonexistent/seven.png", paths[2]]
    outcomes = list(client.predict_each(inputs))
    assert [o.source for o in outcomes] == [str(paths[0]), "image 2", str(paths[1]), tmp_path_missing,
                                            str(paths[2])]
    assert [o.prediction.label for o in outcomes if o.prediction] == [digit_files[p] for p in paths[:3]]
    bad = outcomes[1].error
    assert isinstance(bad, BadRequest) and bad.status == 400 and "not a readable image" in bad.message
    assert bad.source == "image 2"
    logged = [line for line in server.log().splitlines() if bad.request_id in line]
    assert logged and '"status": 400' in logged[0]
    assert "cannot read" in str(outcomes[3].error)
    with pytest.raises(BadRequest, match="not a readable image") as raised:
        client.predict(inputs[:3])
    assert raised.value.source == "image 2"


def test_errors_name_the_problem_and_carry_the_request_id(client, server, digit_files):
    with pytest.raises(NotFound) as unknown:
        client.predict(list(digit_files)[:2], model="fashion")
    assert unknown.value.status == 404 and "unknown model 'fashion'" in unknown.value.message
    assert any(unknown.value.request_id in line for line in server.log().splitlines())
    before = len(server.requests_logged("POST", "/predict"))
    with pytest.raises(BadRequest, match="top_k must be an integer from 1 to 10"):
        list(client.predict_each(list(digit_files), top_k=11))  # the request's fault, not the files'
    assert len(server.requests_logged("POST", "/predict")) - before == 3  # the batch, then two alone
    with pytest.raises(ValueError, match="positive integer"):
        client.predict(list(digit_files), top_k=0)
    with pytest.raises(BadRequest, match="outside 0-255"):
        client.predict(np.full((1, 784), 300))
    with pytest.raises(TypeError, match="input 2 is a dict"):
        client.predict([np.zeros(784), {"pixels": 1}])


def test_an_image_over_the_services_pixel_limit_is_413(client):
    huge = Image.new("L", (2100, 2000), 255)  # the session server allows 4,000,000 pixels
    huge.paste(0, (900, 800, 1200, 1300))
    with pytest.raises(PayloadTooLarge, match="MAX_IMAGE_PIXELS"):
        client.predict(huge)


def test_health_and_models(client, bundle):
    assert client.health() == Health(live=True, ready=True, error=None)
    models = client.models()
    assert models["default_model"] == "mnist"
    assert [model["model_name"] for model in models["models"]] == ["digits", "mnist"]
    mnist = client.model("mnist")
    assert mnist in models["models"] and mnist["input"] == bundle.input.to_dict()
    assert mnist["default_version"] == "1" and mnist["versions"][0]["layer_sizes"] == [784, 128, 10]
    with pytest.raises(NotFound, match="unknown model 'fashion'"):
        client.model("fashion")


def test_a_version_by_number_or_label_and_another_model(labelled, digit_files, digits, digits_bundle):
    path, label = next(iter(digit_files.items()))
    with Client(labelled.url) as client:
        answers = {version: client.predict(path, version=version)[0]
                   for version in ("stable", "canary", 1, "2", None)}
        assert {version: p.model_version for version, p in answers.items()} == {
            "stable": "1", "canary": "2", 1: "1", "2": "2", None: "2"}
        assert {p.label for p in answers.values()} == {label}
        assert answers["stable"].confidence_threshold is not None
        assert answers["canary"].confidence_threshold is None and answers["canary"].sure
        with pytest.raises(NotFound, match="no version or label 'beta'"):
            client.predict(path, version="beta")
        x = digits.x_test[:20]
        for batch in (x, x.reshape(20, 8, 8)):  # the 8x8 model's own input, counts 0-16
            read = client.predict(batch, model="digits")
            assert [p.label for p in read] == digits_bundle.model.predict(x).tolist()
            assert {(p.model_name, p.model_version) for p in read} == {("digits", "1")}
        with pytest.raises(BadRequest, match="64 numbers or 8 rows of 8"):
            client.predict(np.zeros((1, 784)), model="digits")
        mnist = client.model("mnist")
        assert mnist["labels"] == {"canary": "2", "stable": "1"} and mnist["default_version"] == "2"
        assert [(v["version"], v["labels"]) for v in mnist["versions"]] == [("2", ["canary"]),
                                                                             ("1", ["stable"])]


def test_token(model_dir, tmp_path, digit_files):
    with Server(model_dir, tmp_path / "server.log", API_TOKEN=TOKEN) as server:
        path = next(iter(digit_files))
        with Client(server.url) as anonymous:
            assert anonymous.health().ready  # the probes are public
            with pytest.raises(Unauthorized, match="missing API token"):
                anonymous.predict(path)
        with Client(server.url, token="wrong") as wrong, pytest.raises(Unauthorized, match="invalid"):
            wrong.models()
        with Client(server.url, token=TOKEN) as allowed:
            assert allowed.predict(path)[0].label == digit_files[path]


def test_unreachable_service(tmp_path):
    with Client(f"http://127.0.0.1:{free_port()}", retries=Retries(1, backoff=0.01)) as client:
        with pytest.raises(ConnectionFailed, match="refused"):
            client.health()


def test_connection_errors_are_retried_until_the_service_is_up(model_dir, tmp_path, digit_files):
    port = free_port()
    path, label = next(iter(digit_files.items()))
    result: dict = {}

    def predict() -> None:  # retried after 0, 1, 2, 4, 8, 16, 32 s: a minute for the server to start
        with Client(f"http://127.0.0.1:{port}", retries=Retries(7, backoff=0.5)) as client:
            try:
                result["prediction"] = client.predict(path)[0]
            except Exception as e:  # reported by the assertion below
                result["error"] = e

    caller = threading.Thread(target=predict)
    caller.start()
    time.sleep(0.3)  # the client's first tries find nothing listening
    with Server(model_dir, tmp_path / "server.log", launch=Launch(port=port)):
        caller.join(timeout=90)
    assert "error" not in result, result
    assert result["prediction"].label == label


def test_503_is_retried_until_a_model_is_loaded(model_dir, tmp_path, digit_files):
    empty = tmp_path / "models"
    empty.mkdir()
    path, label = next(iter(digit_files.items()))
    with Server(empty, tmp_path / "server.log") as server:
        with Client(server.url, retries=Retries(2, backoff=0.05)) as impatient:
            health = impatient.health()
            assert health.live and not health.ready and "no valid bundle" in health.error
            with pytest.raises(ServiceUnavailable, match="no model loaded") as refused:
                impatient.predict(path)
            assert refused.value.status == 503 and refused.value.request_id
            assert [line["status"] for line in server.requests_logged("POST", "/predict")] == [503] * 3
            assert len(server.requests_logged("GET", "/v2/health/ready")) == 1  # probes are not retried

        def train_arrives() -> None:
            time.sleep(1.0)
            shutil.copytree(model_dir / "mnist", empty / "mnist")

        threading.Thread(target=train_arrives).start()
        with Client(server.url, retries=Retries(8, backoff=0.25)) as patient:
            assert patient.predict(path)[0].label == label  # 503s until the watcher loads version 1


def test_pillow_images_of_any_mode_are_sent_as_png(client, digit_files):
    path, label = next(iter(digit_files.items()))
    grey = Image.open(path)
    for image in (grey.convert("RGB"), grey.convert("RGBA"), grey.convert("1"), grey.convert("P")):
        assert client.predict(image)[0].label == label, image.mode
    unencodable = Image.frombytes("F", (2, 2), np.zeros(4, np.float32).tobytes())
    outcome = next(client.predict_each(unencodable))
    assert outcome.error is not None and "cannot encode" in str(outcome.error)
