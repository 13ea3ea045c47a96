"""POST /read against a real gunicorn: numbers composed of MNIST test digits, encoded by Pillow,
uploaded as multipart files or a raw body; /predict's answer for the same images."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from harness.images import drawn_digit, encode, mnist_test_digits
from harness.numbers import compose
from shared.segment import MAX_DIGITS, read_number


@pytest.fixture(scope="module")
def number_images(mnist):
    """Six numbers of 2-5 digits written apart, as PNG bytes, with their text and image."""
    rng = np.random.default_rng(41)
    digits, labels = mnist_test_digits(mnist, 21, seed=41)
    found, start = [], 0
    for length in (2, 3, 4, 5, 4, 3):
        image, _ = compose(digits[start:start + length], rng, gaps=(0.2, 0.45))
        found.append((encode(image), "".join(map(str, labels[start:start + length])), image))
        start += length
    return found


def test_each_image_is_read_as_the_shared_reader_reads_it(url, bundle, number_images):
    files = [("file", (f"n{i}.png", png, "image/png")) for i, (png, _, _) in enumerate(number_images)]
    response = requests.post(f"{url}/read", files=files, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "mnist" and body["model_version"] == "1"
    assert body["confidence_threshold"] == pytest.approx(bundle.confidence_threshold)
    assert len(body["readings"]) == len(number_images)
    right = 0
    for answer, (_, text, image) in zip(body["readings"], number_images):
        expected = read_number(image, bundle.model, bundle.input.recipe)
        assert answer["text"] == expected.text == "".join(str(d["label"]) for d in answer["digits"])
        assert answer["confidence"] == pytest.approx(expected.confidence, rel=1e-5)
        assert answer["sure"] == (answer["confidence"] >= body["confidence_threshold"])
        for digit, own in zip(answer["digits"], expected.digits):
            box = digit["box"]
            assert (box["x"], box["y"], box["width"], box["height"]) == own.box
            assert 0 <= box["x"] and box["x"] + box["width"] <= image.width
            assert 0 <= box["y"] and box["y"] + box["height"] <= image.height
        xs = [d["box"]["x"] for d in answer["digits"]]
        assert xs == sorted(xs)
        right += answer["text"] == text
    assert right >= 4


def test_a_raw_image_body_and_a_named_model(url, number_images):
    png, text, _ = number_images[1]
    raw = requests.post(f"{url}/read", data=png, headers={"Content-Type": "image/png"}, timeout=60)
    named = requests.post(f"{url}/read/mnist", data=png, headers={"Content-Type": "image/png"},
                          timeout=60)
    assert raw.status_code == named.status_code == 200
    assert raw.json()["readings"] == named.json()["readings"]
    # The 8x8 model reads numbers through its own recipe.
    digits = requests.post(f"{url}/read/digits", data=png, headers={"Content-Type": "image/png"},
                           timeout=60)
    assert digits.status_code == 200 and digits.json()["model_name"] == "digits"
    assert len(digits.json()["readings"][0]["digits"]) == len(text)


def test_blank_and_unreadable_images_get_predicts_answer(url):
    blank = encode(drawn_digit(np.zeros((28, 28), dtype=np.uint8)))
    for data in (blank, b"not an image at all"):
        answers = [requests.post(f"{url}/{path}", data=data, headers={"Content-Type": "image/png"},
                                 timeout=30) for path in ("read", "predict")]
        assert [a.status_code for a in answers] == [400, 400]
        assert answers[0].json()["error"] == answers[1].json()["error"]


def test_more_digits_than_the_limit_is_a_413(url):
    from PIL import Image
    image = Image.new("L", (40 * MAX_DIGITS + 120, 100), 255)
    for k in range(MAX_DIGITS + 1):
        image.paste(0, (40 + 40 * k, 30, 55 + 40 * k, 70))
    response = requests.post(f"{url}/read", data=encode(image),
                             headers={"Content-Type": "image/png"}, timeout=30)
    assert response.status_code == 413
    assert f"limit of {MAX_DIGITS}" in response.json()["error"]


def test_json_is_not_what_read_takes(url):
    response = requests.post(f"{url}/read", json={"instances": [[0] * 784]}, timeout=30)
    assert response.status_code == 415 and "multipart/form-data" in response.json()["error"]


def test_predict_never_answers_several_digits_as_sure(url, number_images, mnist):
    files = [("file", (f"n{i}.png", png, "image/png")) for i, (png, _, _) in enumerate(number_images)]
    predictions = requests.post(f"{url}/predict", files=files, timeout=60).json()["predictions"]
    readings = requests.post(f"{url}/read", files=files, timeout=60).json()["readings"]
    for prediction, reading in zip(predictions, readings):
        assert prediction["sure"] is False
        assert prediction["digits_found"] == len(reading["digits"]) > 1
        assert "/read" in prediction["note"]
    # A single digit keeps its answer, sure only when confident enough, with no note.
    digits, _ = mnist_test_digits(mnist, 8, seed=42)
    singles = requests.post(f"{url}/predict", timeout=60, files=[
        ("file", (f"d{i}.png", encode(drawn_digit(d)), "image/png")) for i, d in enumerate(digits)])
    body = singles.json()
    for prediction in body["predictions"]:
        assert "digits_found" not in prediction and "note" not in prediction
        assert not prediction["sure"] or prediction["confidence"] >= body["confidence_threshold"]
    assert any(p["sure"] for p in body["predictions"])
