"""Saying "not a digit": a network taught with outliers, served by a real gunicorn, refuses letters
drawn with a pen and still reads drawn digits; a bundle without a rejection section answers as
before; the V2 protocol carries the same outputs."""

from __future__ import annotations

import pytest
import requests
from PIL import Image, ImageDraw

from harness.images import drawn_digit, encode, mnist_test_digits
from harness.server import Server
from harness.training import FIXTURE_CONFIG
from tests.conftest import save_trained
from trainer.network import MLP

# Capital letters as pen strokes (x, y in a 100 x 100 box): drawn, not typed, so no font the
# trainer renders its glyphs from draws them.
LETTERS = {
    "A": [[(15, 95), (50, 5), (85, 95)], [(30, 60), (70, 60)]],
    "H": [[(20, 5), (20, 95)], [(80, 5), (80, 95)], [(20, 50), (80, 50)]],
    "W": [[(5, 10), (25, 90), (50, 35), (75, 90), (95, 10)]],
    "K": [[(20, 5), (20, 95)], [(80, 5), (22, 55)], [(40, 42), (85, 95)]],
}


def drawn_letter(strokes: list[list[tuple[int, int]]], pen: int = 9) -> Image.Image:
    """Dark strokes on white paper, as the drawing page sends them."""
    paper = Image.new("L", (260, 240), 255)
    draw = ImageDraw.Draw(paper)
    for stroke in strokes:
        points = [(60 + 1.4 * x, 50 + 1.4 * y) for x, y in stroke]
        draw.line(points, fill=0, width=pen, joint="curve")
    return paper


@pytest.fixture(scope="module")
def refusing_server(mnist, tmp_path_factory):
    """gunicorn serving a small network taught with outliers."""
    config = FIXTURE_CONFIG.__class__(**{**FIXTURE_CONFIG.to_dict(), "outliers": 0.2})
    mlp = MLP(config).fit(mnist.x_train, mnist.y_train, image_shape=(28, 28))
    directory = tmp_path_factory.mktemp("refusing")
    bundle = save_trained(directory, "mnist", mlp, mnist)
    assert bundle.manifest.rejection.score == "logsumexp"
    with Server(directory, directory / "server.log", workers=1) as running:
        yield running


def predict_images(url: str, images: list[Image.Image]) -> dict:
    files = [("file", (f"{i}.png", encode(image), "image/png")) for i, image in enumerate(images)]
    response = requests.post(f"{url}/predict", files=files, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_drawn_letters_score_below_every_drawn_digit_and_are_never_sure(
        refusing_server: Server, mnist) -> None:
    digits, labels = mnist_test_digits(mnist, 12, seed=4)
    body = predict_images(refusing_server.url, [drawn_letter(s) for s in LETTERS.values()]
                          + [drawn_digit(d) for d in digits])
    assert body["digit_threshold"] is not None
    answers = body["predictions"]
    letters, read = answers[:len(LETTERS)], answers[len(LETTERS):]
    assert max(a["digit_score"] for a in letters) < min(a["digit_score"] for a in read)
    assert not any(a["sure"] for a in letters)
    for answer in answers:
        assert answer["digit"] is (answer["digit_score"] >= body["digit_threshold"])
        if answer["sure"]:  # (an image of several digits is not sure either: see /read)
            assert answer["digit"] and answer["confidence"] >= body["confidence_threshold"]
    assert sum(a["digit"] for a in read) >= 11
    assert sum(a["label"] == label for a, label in zip(read, labels)) >= 10


def test_v2_carries_the_digit_outputs(refusing_server: Server, mnist) -> None:
    digits, _ = mnist_test_digits(mnist, 3, seed=5)
    response = requests.post(f"{refusing_server.url}/v2/models/mnist/infer", timeout=30, json={
        "inputs": [{"name": "input", "datatype": "UINT8", "shape": [3, 784],
                    "data": digits.ravel().tolist()}],
        "outputs": [{"name": "digit"}, {"name": "digit_score"}]})
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["digit"]["datatype"] == "BOOL" and outputs["digit"]["shape"] == [3]
    assert all(isinstance(v, bool) for v in outputs["digit"]["data"])
    assert outputs["digit_score"]["datatype"] == "FP32" and len(outputs["digit_score"]["data"]) == 3


def test_a_bundle_without_rejection_takes_everything_for_a_digit(url: str) -> None:
    """The session's model was trained without outliers: its answers are as they always were."""
    answer = requests.post(f"{url}/predict", files=[
        ("file", ("a.png", encode(drawn_letter(LETTERS["A"])), "image/png"))], timeout=30).json()
    assert answer["digit_threshold"] is None
    prediction = answer["predictions"][0]
    assert prediction["digit"] is True
    assert prediction["sure"] == (prediction["confidence"] >= answer["confidence_threshold"])

