"""Bad input gets a clear 4xx JSON error naming the problem, never a 500."""

from __future__ import annotations

import http.client
import json

import numpy as np
import pytest
import requests
from PIL import Image

from harness.images import encode
from service.config import Settings

ZEROS = [0] * 784
JSON = {"Content-Type": "application/json"}


def noise_png(side: int = 200) -> bytes:
    return encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side), dtype=np.uint8)))


@pytest.mark.parametrize("data,status,message", [
    (b'{"instances": [[0, 1', 400, "malformed JSON"),
    (b"\xff\xfe not utf-8", 400, "malformed JSON"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "malformed JSON"),  # too deep for any parser
    (b'[[0, 0]]', 400, '{"instances"'),
    (b'{"images": []}', 400, '{"instances"'),
    (b'{"instances": []}', 400, "shape [0]"),
    (b'{"instances": [[0, 0, 0]]}', 400, "784 numbers or 28 rows of 28"),
    (b'{"instances": [' + b"[0]," * 28 + b"[0]]}", 400, "784 numbers or 28 rows of 28"),
    (b'{"instances": [[0, [1]]]}', 400, "regular array"),
    (b'{"instances": [[' + b"NaN," * 783 + b"0]]}", 400, "NaN or infinite"),
    (b'{"instances": [[' + b"1e999," * 783 + b"0]]}", 400, "NaN or infinite"),
    (b'{"instances": [[' + b"-1," * 783 + b"0]]}", 400, "outside 0-255"),
    (b'{"instances": [[' + b"256," * 783 + b"0]]}", 400, "outside 0-255"),
    (b'{"instances": [[' + b'"7",' * 783 + b"0]]}", 400, "only numbers"),
    (b'{"instances": [[' + b"true," * 783 + b"true]]}", 400, "only numbers"),
    (b'{"instances": [[' + b"null," * 783 + b"0]]}", 400, "only numbers"),
    (b'{"instances": [[' + b"0," * 783 + b'0]], "top_k": 0}', 400, "top_k"),
    (b'{"instances": [[' + b"0," * 783 + b'0]], "top_k": "three"}', 400, "top_k"),
])
def test_bad_json(url, data, status, message):
    response = requests.post(f"{url}/predict", data=data, headers=JSON)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_batch_over_the_maximum_is_413(url):
    response = requests.post(f"{url}/predict", json={"instances": [ZEROS] * 257})
    assert response.status_code == 413 and "MAX_BATCH" in response.json()["error"]


def test_body_over_max_content_length_is_413(url):
    response = requests.post(f"{url}/predict", data=b" " * (17 * 1024 * 1024), headers=JSON)
    assert response.status_code == 413 and "MAX_CONTENT_LENGTH" in response.json()["error"]


def test_body_of_exactly_max_content_length_is_read(url):
    """At the limit is within it (as for the proxy in front): answered, not refused, never a 500."""
    limit = Settings().max_content_length  # the server runs with the default
    response = requests.post(f"{url}/predict", data=b"\0" * limit, headers={"Content-Type": "image/png"})
    assert response.status_code == 400 and "not a readable image" in response.json()["error"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "image/tiff", None])
def test_unsupported_media_type_is_415(url, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(f"{url}/predict", data=b"payload", headers=headers)
    assert response.status_code == 415 and "unsupported media type" in response.json()["error"]


@pytest.mark.parametrize("data,status,message", [
    (b"definitely not a png", 400, "not a readable image"),
    (b"", 400, "not a readable image"),
    (noise_png()[:400], 400, "truncated"),
    (encode(Image.new("L", (300, 300), 255)), 400, "no ink"),
    (encode(Image.new("1", (2500, 2500), 1)), 413, "MAX_IMAGE_PIXELS"),  # 6.25 Mpx > 4 Mpx limit
])
def test_bad_images(url, data, status, message):
    raw = requests.post(f"{url}/predict", data=data, headers={"Content-Type": "image/png"})
    assert raw.status_code == status and message in raw.json()["error"]
    upload = requests.post(f"{url}/predict", files=[("file", ("first.png", noise_png())),
                                                    ("file", ("second.png", data))])
    assert upload.status_code == status and message in upload.json()["error"]
    assert "file 2 ('second.png')" in upload.json()["error"]


def test_multipart_without_file_field_is_400(url):
    response = requests.post(f"{url}/predict", files={"image": ("a.png", noise_png())})
    assert response.status_code == 400 and "no 'file' field" in response.json()["error"]


def test_too_many_files_is_413(url):
    files = [("file", (f"{i}.png", b"x")) for i in range(257)]
    response = requests.post(f"{url}/predict", files=files)
    assert response.status_code == 413 and "MAX_BATCH" in response.json()["error"]


@pytest.mark.parametrize("method,path", [("GET", "/predict"), ("PUT", "/predict"),
                                         ("POST", "/models"), ("DELETE", "/v2/health/live")])
def test_wrong_method_is_405(url, method, path):
    response = requests.request(method, url + path)
    assert response.status_code == 405 and "Method Not Allowed" in response.json()["error"]
    assert response.headers["Allow"]


def test_unknown_path_is_404_json(url):
    response = requests.get(f"{url}/no/such/page")
    assert response.status_code == 404 and "error" in response.json()


@pytest.mark.parametrize("path,content_type,status", [
    ("/predict?top_k=none", "application/json", 400),   # refused on the query, body unread
    ("/predict?top_k=0", "application/json", 400),
    ("/predict", "text/plain", 415),                    # refused on the media type
    ("/v2/models/nothing/infer", "application/json", 404),
])
def test_keep_alive_connection_survives_an_early_refusal_of_a_large_body(server, path, content_type,
                                                                         status):
    """A client whose request is refused before its body is read keeps its connection: gunicorn
    drains at most 64 KiB of an unread body and otherwise closes the connection it has just
    announced as kept alive, so the client's next request would fail. The app reads the rest."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", path, body=b" " * 500_000, headers={"Content-Type": content_type})
        refused = connection.getresponse()
        refused.read()
        assert refused.status == status and not refused.will_close
        connection.request("POST", "/predict", body=json.dumps({"instances": [ZEROS]}),
                           headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["predictions"]
    finally:
        connection.close()


@pytest.mark.parametrize("value,status", [("null", 400), ("maybe", 400), ("", 400), ("0", 200),
                                          ("no", 200), ("TRUE", 200)])
def test_return_input_is_a_boolean(url, value, status):
    """The document says boolean: anything else is refused, not read as false."""
    response = requests.post(f"{url}/predict?return_input={value}", json={"instances": [ZEROS]})
    assert response.status_code == status, response.text
    if status == 400:
        assert "return_input must be true or false" in response.json()["error"]
    else:
        assert ("input" in response.json()["predictions"][0]) == (value == "TRUE")
