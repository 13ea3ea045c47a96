"""`python -m trainer.evaluate_numbers` on a tiny folder of composed numbers whose answers are
known in advance: the reader's own answers, a wrong label and a blank image."""

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from harness.images import encode, mnist_test_digits
from harness.numbers import compose, touching
from shared.segment import read_number
from trainer import evaluate_numbers
from trainer.evaluate_numbers import edit_distance


@pytest.mark.parametrize("a, b, distance", [("2026", "2026", 0), ("2026", "226", 1),
                                            ("2026", "20026", 1), ("2026", "2126", 1),
                                            ("", "123", 3), ("12", "21", 2)])
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b) == distance == edit_distance(b, a)


def test_the_report_counts_what_the_reader_answers(mnist, bundle, model_dir, tmp_path, capsys):
    rng = np.random.default_rng(71)
    digits, labels = mnist_test_digits(mnist, 16, seed=71)
    folder = tmp_path / "numbers"
    (folder / "images").mkdir(parents=True)
    rows, expected, start = [], [], 0
    for k, length in enumerate((2, 3, 4, 3, 4)):
        image, boxes = compose(digits[start:start + length], rng)
        start += length
        truth = "".join(map(str, labels[start - length:start]))
        label = truth if k != 4 else "0" * length  # the last one's label is wrong on purpose
        (folder / "images" / f"n{k}.png").write_bytes(encode(image))
        rows.append([f"n{k}.png", label, int(touching(boxes))])
        expected.append(read_number(image, bundle.model, bundle.input.recipe).text == label)
    (folder / "images" / "blank.png").write_bytes(encode(Image.new("L", (90, 60), 255)))
    rows.append(["blank.png", "12", 0])
    with open(folder / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([["file", "label", "touching"], *rows])

    models = tmp_path / "models"
    shutil.copytree(model_dir, models)
    assert evaluate_numbers.main([str(folder), "--model-dir", str(models)]) == 0
    report = json.loads((models / "mnist" / "reports" / "1" / "numbers-numbers.json").read_text())
    assert report["images"] == 6 and report["refused"] == 1
    assert report["exact"] == pytest.approx(sum(expected) / 6)
    assert "blank.png" in report["refused_images"] and "n4.png" in report["wrong"]
    assert set(report["exact_by_length"]) == {"2", "3", "4"}
    assert 0 <= report["digit_accuracy"] <= 1 and 0 <= report["sure_share"] <= 1
    assert "exact string" in capsys.readouterr().out
