"""Bad input, fuzzed and hand-made: never a 5xx, always a JSON error naming the problem, and the
server keeps answering correct predictions afterwards."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings

from harness.images import drawn_digit, encode
from harness.reliability.checks import problem, wrong_predictions
from harness.reliability.inputs import FuzzRequest, fuzz_requests, hostile_images

FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def session() -> requests.Session:
    with requests.Session() as client:
        yield client


@pytest.fixture(autouse=True)
def still_serving(server, known_digits):
    """After every test: the same server, every worker alive, reading digits correctly."""
    workers = set(server.workers())
    yield
    assert set(server.workers()) == workers, "a worker died"
    for _ in range(4):  # a few times, so that each worker is likely asked
        assert wrong_predictions(server.url, *known_digits) is None


@FUZZ
@given(fuzz_requests())
def test_fuzzed_requests_get_an_answer_never_a_5xx(server, session, request_: FuzzRequest):
    response = request_.send(session, server.url)
    assert problem(response) is None, request_


@pytest.mark.parametrize("model", ["mnist", "digits"])
def test_hostile_images(server, session, known_digits, model):
    """Each model reads uploads through its own recipe: the same answers for the same faults.
    The digits the MNIST model must read correctly are checked with it."""
    digits, labels = known_digits
    failures = []
    for case in hostile_images(digits[0], int(labels[0])):
        label = case.label if model == "mnist" else None
        for how in ("raw", "multipart"):
            if how == "raw":
                response = session.post(f"{server.url}/predict/{model}", data=case.data,
                                        headers={"Content-Type": "image/png"}, timeout=60)
            else:
                response = session.post(f"{server.url}/predict/{model}",
                                        files={"file": ("x.png", case.data)}, timeout=60)
            got = response.json()
            if problem(response) or response.status_code != case.status:
                failures.append(f"{case.name} ({how}): {response.status_code} {response.text[:200]}")
            elif case.status != 200 and case.says not in got["error"]:
                failures.append(f"{case.name} ({how}): error {got['error']!r} lacks {case.says!r}")
            elif label is not None and got["predictions"][0]["label"] != label:
                failures.append(f"{case.name} ({how}): read as {got['predictions'][0]['label']}, "
                                f"not {label}")
    assert failures == []


@pytest.mark.parametrize("content_type,body,says", [
    ("application/json", b"", "malformed JSON"),
    ("image/png", b"", "not a readable image"),
    ("multipart/form-data; boundary=x", b"", "no 'file' field"),
    ("multipart/form-data", b"--x\r\n", "no 'file' field"),
    (None, b"", "unsupported media type"),
])
def test_empty_bodies(server, session, content_type, body, says):
    headers = {"Content-Type": content_type} if content_type else {}
    response = session.post(f"{server.url}/predict", data=body, headers=headers, timeout=30)
    assert response.status_code == (415 if content_type is None else 400)
    assert problem(response) is None and says in response.json()["error"]


@pytest.mark.parametrize("field", ["image", "files", "File", "upload"])
def test_wrong_multipart_field_names_are_named_back(server, session, field, known_digits):
    png = encode(drawn_digit(known_digits[0][0]))
    response = session.post(f"{server.url}/predict", files={field: ("digit.png", png)}, timeout=30)
    assert response.status_code == 400 and "no 'file' field" in response.json()["error"]
    assert field in response.json()["error"]


def test_multipart_parts_without_a_name_are_named_back(server, session):
    """A part whose Content-Disposition has no name (a 500 until schemathesis sent one)."""
    body = (b"--x\r\nContent-Disposition: form-data\r\n\r\nunnamed\r\n"
            b'--x\r\nContent-Disposition: form-data; name="image"\r\n\r\nnamed\r\n--x--\r\n')
    response = session.post(f"{server.url}/predict", data=body,
                            headers={"Content-Type": "multipart/form-data; boundary=x"}, timeout=30)
    assert response.status_code == 400 and problem(response) is None
    assert "no 'file' field (fields sent: [None, 'image'])" in response.json()["error"]


@pytest.mark.parametrize("content_type", ["application/json", "image/png", "multipart/form-data; boundary=x"])
def test_bodies_over_the_limit_are_413(server, content_type):
    body = np.zeros(17 * 1024 * 1024, dtype=np.uint8).tobytes()
    response = requests.post(f"{server.url}/predict", data=body,
                             headers={"Content-Type": content_type}, timeout=60)
    assert response.status_code == 413 and "MAX_CONTENT_LENGTH" in response.json()["error"]


JSON_DIGIT = b'{"instances": [[' + b"0," * 783 + b"0]]}"
HEAD = b"POST /predict HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
CHUNKED_JSON = HEAD + b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
LENGTH_5000 = HEAD + b"Content-Length: 5000\r\n"
UPLOAD = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nxxx'


@pytest.mark.parametrize("name,raw,status", [
    ("chunk size not hex", CHUNKED_JSON + b"zz\r\n", 400),
    ("chunked body cut short", CHUNKED_JSON + b"%x\r\n" % len(JSON_DIGIT) + JSON_DIGIT[:100], 400),
    ("body shorter than Content-Length",
     LENGTH_5000 + b"Content-Type: application/json\r\n\r\n" + JSON_DIGIT[:100], 400),
    ("multipart cut short",
     LENGTH_5000 + b"Content-Type: multipart/form-data; boundary=b\r\n\r\n" + UPLOAD, 400),
    ("Content-Length and chunked", HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400),
    ("valid chunked JSON", CHUNKED_JSON + b"%x\r\n" % len(JSON_DIGIT) + JSON_DIGIT + b"\r\n0\r\n\r\n", 200),
])
def test_broken_http_framing_is_a_4xx(server, name, raw, status):
    """Bodies whose framing lies (chunks, lengths, multipart boundaries), sent on a raw socket
    that the client then closes for writing, as a crashed or hostile client would."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(raw)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].decode()
    assert status_line.split()[1] == str(status), (name, answer[:500])
