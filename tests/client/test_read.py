"""Reading whole numbers with the Python client and with `digitnet read`, against a real gunicorn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from client import BadRequest, Client, Reading
from harness.images import encode, mnist_test_digits
from harness.numbers import compose
from harness.server import free_port
from tests.client.test_cli import digitnet


@pytest.fixture(scope="module")
def number_files(tmp_path_factory, url, mnist) -> dict[Path, str]:
    """PNG files of numbers of 2-4 MNIST digits written apart, each with its text, that the session
    server reads right (so a wrong text means the client mixed something up)."""
    folder = tmp_path_factory.mktemp("numbers")
    rng = np.random.default_rng(51)
    digits, labels = mnist_test_digits(mnist, 40, seed=51)
    files, start = {}, 0
    for k in range(12):
        length = 2 + k % 3
        image, _ = compose(digits[start:start + length], rng, gaps=(0.25, 0.45))
        text = "".join(map(str, labels[start:start + length]))
        start += length
        png = encode(image)
        answer = requests.post(f"{url}/read", data=png, headers={"Content-Type": "image/png"}, timeout=60)
        if answer.json()["readings"][0]["text"] == text:
            path = folder / f"{k:02d}-number.png"
            path.write_bytes(png)
            files[path] = text
    assert len(files) >= 6
    return files


def test_read_answers_every_kind_of_image_in_order(url, number_files, bundle):
    paths = list(number_files)
    with Client(url) as client:
        readings = client.read([str(paths[0]), paths[1], paths[2].read_bytes(), Image.open(paths[3])])
    assert [r.text for r in readings] == [number_files[p] for p in paths[:4]]
    assert all(isinstance(r, Reading) for r in readings)
    assert readings[0].source == str(paths[0])
    for reading in readings:
        assert [d.label for d in reading.digits] == [int(c) for c in reading.text]
        assert all(len(d.box) == 4 and d.box[2] > 0 for d in reading.digits)
        assert reading.sure is (reading.confidence >= bundle.confidence_threshold)
        assert reading.model_name == "mnist" and reading.model_version == "1"


def test_a_blank_image_is_its_own_error_and_the_others_are_read(url, number_files, tmp_path):
    blank = tmp_path / "blank.png"
    blank.write_bytes(encode(Image.new("L", (120, 80), 255)))
    paths = [*list(number_files)[:2], blank]
    with Client(url) as client:
        outcomes = list(client.read_each(paths))
        with pytest.raises(ValueError, match="pixel arrays"):
            client.read(np.zeros((1, 28, 28)))
    assert [o.prediction.text for o in outcomes[:2]] == [number_files[p] for p in paths[:2]]
    assert isinstance(outcomes[2].error, BadRequest) and "no ink" in str(outcomes[2].error)


def test_predict_of_a_number_is_not_sure_and_says_how_many_digits(url, number_files):
    path, text = next(iter(number_files.items()))
    with Client(url) as client:
        prediction, = client.predict([path])
    assert prediction.sure is False and prediction.digits_found == len(text)


def test_digitnet_read_prints_a_table_and_json_lines(url, number_files):
    folder = next(iter(number_files)).parent
    done = digitnet("read", str(folder), "--url", url)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["file", "text", "confidence", "digits"]
    assert [row.split()[:2] for row in rows] == [[str(p), t] for p, t in number_files.items()]
    done = digitnet("read", *map(str, number_files), "--url", url, "--json")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["text"] for line in lines] == list(number_files.values())
    assert all(len(line["digits"]) == len(line["text"]) for line in lines)


def test_digitnet_read_exit_codes_are_predicts(url, number_files, tmp_path):
    blank = tmp_path / "blank.png"
    blank.write_bytes(encode(Image.new("L", (120, 80), 255)))
    done = digitnet("read", str(next(iter(number_files))), str(blank), "--url", url)
    assert done.returncode == 1 and "1 of 2 inputs" in done.stderr
    done = digitnet("read", str(blank), "--url", f"http://127.0.0.1:{free_port()}", "--retries", "0")
    assert done.returncode == 3
    done = digitnet("read", str(blank), "--url", url, "--model", "nope")
    assert done.returncode == 4
