"""`python -m trainer.evaluate` on tiny generated folders whose answer is known in advance."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.images import drawn_digit, encode, mnist_test_digits
from shared.bundle import load_bundle
from shared.preprocess import bytes_to_mnist
from trainer.evaluate import read_folder


def evaluate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trainer.evaluate", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def readable(mnist, bundle) -> list[tuple[bytes, int]]:
    """20 MNIST test digits drawn as PNG uploads that the served model reads right."""
    digits, labels = mnist_test_digits(mnist, 60, seed=3)
    found = []
    for digit, label in zip(digits, labels):
        png = encode(drawn_digit(digit))
        if bundle.model.predict(bytes_to_mnist(png, 10**7).reshape(1, -1))[0] == label:
            found.append((png, int(label)))
    assert len(found) >= 20
    return found[:20]


def write_csv_folder(folder: Path, items: list[tuple[bytes, int]]) -> None:
    (folder / "images").mkdir(parents=True)
    with open(folder / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "writer"])
        for i, (data, label) in enumerate(items):
            (folder / "images" / f"d{i}.png").write_bytes(data)
            writer.writerow([f"d{i}.png", label, "w1"])


def test_accuracy_recall_and_confusion_of_a_known_folder(tmp_path, model_dir, bundle, readable) -> None:
    # Ten labelled truly, ten labelled one too high, and one blank page: 10 of 21 are right.
    items = readable[:10] + [(png, (label + 1) % 10) for png, label in readable[10:]]
    items.append((encode(Image.new("L", (60, 60), 255)), 4))
    folder = tmp_path / "mixed"
    write_csv_folder(folder, items)

    result = evaluate(str(folder), "--model-dir", str(model_dir), "--model-name", "mnist")
    assert result.returncode == 0, result.stderr
    assert "accuracy 0.4762" in result.stdout  # 10 / 21
    assert "21 images (1 refused by the preprocessing)" in result.stdout

    report = model_dir / "mnist" / "reports" / str(bundle.version)
    figures = json.loads((report / "evaluation-mixed.json").read_text())
    assert figures["accuracy"] == pytest.approx(10 / 21)
    assert figures["refused"] == 1 and len(figures["refused_images"]) == 1
    confusion = np.array(figures["confusion_matrix"])
    assert confusion.sum() == 20 and np.trace(confusion) == 10
    for _, label in items[10:20]:  # every mislabelled digit sits one column left of its row
        assert confusion[label, (label - 1) % 10] >= 1
    labels = np.array([label for _, label in items])
    right = np.array([True] * 10 + [False] * 11)
    for digit, recall in figures["recall"].items():
        assert recall == pytest.approx(right[labels == int(digit)].mean())
    assert 0 <= figures["ece"] <= 1
    assert (report / "evaluation-mixed.png").read_bytes().startswith(b"\x89PNG")


def test_a_folder_of_label_subfolders_reads_the_same(tmp_path, model_dir, readable) -> None:
    folder = tmp_path / "by-label"
    for i, (png, label) in enumerate(readable):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        (folder / str(label) / f"{i}.png").write_bytes(png)
    images = read_folder(folder)
    assert sorted(images.labels.tolist()) == sorted(label for _, label in readable)
    result = evaluate(str(folder), "--model-dir", str(model_dir), "--no-report")
    assert result.returncode == 0, result.stderr
    assert "accuracy 1.0000" in result.stdout


def test_a_named_version_and_the_errors_a_user_can_make(tmp_path, model_dir, readable) -> None:
    folder = tmp_path / "ok"
    write_csv_folder(folder, readable[:3])
    assert evaluate(str(folder), "--model-dir", str(model_dir), "--version", "1",
                    "--no-report").returncode == 0
    missing_version = evaluate(str(folder), "--model-dir", str(model_dir), "--version", "99")
    assert missing_version.returncode == 1 and "cannot read" in missing_version.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    no_images = evaluate(str(empty), "--model-dir", str(model_dir))
    assert no_images.returncode == 1 and "no labelled images" in no_images.stderr
    (folder / "labels.csv").write_text("file,label\nnot-there.png,3\n")
    dangling = evaluate(str(folder), "--model-dir", str(model_dir))
    assert dangling.returncode == 1 and "not-there.png" in dangling.stderr
    no_model = evaluate(str(folder), "--model-dir", str(tmp_path / "nothing"))
    assert no_model.returncode == 1 and "no bundle" in no_model.stderr


def test_the_bundle_is_not_changed_by_an_evaluation(tmp_path, model_dir, readable) -> None:
    path = model_dir / "mnist" / "1.npz"
    before = path.read_bytes()
    folder = tmp_path / "again"
    write_csv_folder(folder, readable[:5])
    assert evaluate(str(folder), "--model-dir", str(model_dir)).returncode == 0
    assert path.read_bytes() == before
    assert load_bundle(path).version == 1
