"""`python -m trainer` as a user runs it: real processes, real files, real exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.bundle import load_bundle
from shared.repository import list_versions


def run_trainer(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trainer", *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})


def test_digits_run_writes_versioned_bundles_and_a_report(tmp_path: Path) -> None:
    args = ["--dataset", "digits", "--hidden", "32", "--epochs", "3", "--batch-size", "16",
            "--model-dir", str(tmp_path), "--model-name", "demo"]
    first = run_trainer(*args)
    assert first.returncode == 0, first.stderr
    assert "epoch   3/3" in first.stderr  # one summary line per epoch
    bundle_path = tmp_path / "demo" / "1.npz"
    assert f"bundle: {bundle_path}" in first.stdout

    bundle = load_bundle(bundle_path)
    assert bundle.manifest.architecture.layer_sizes == (64, 32, 10)
    assert bundle.manifest.training["epochs"] == 3
    assert bundle.manifest.data["dataset"] == "digits"
    assert bundle.manifest.input.image_shape == (8, 8)
    assert 0.5 < bundle.manifest.metrics["test_accuracy"] <= 1

    report = tmp_path / "demo" / "reports" / "1"
    assert (report / "report.png").read_bytes().startswith(b"\x89PNG")
    metrics = json.loads((report / "metrics.json").read_text())
    assert len(metrics["history"]["loss"]) == 3
    assert sum(map(sum, metrics["confusion_matrix"])) == bundle.manifest.data["test_size"]

    second = run_trainer(*args, "--no-report")
    assert second.returncode == 0, second.stderr
    assert load_bundle(tmp_path / "demo" / "2.npz").version == 2
    assert not (tmp_path / "demo" / "reports" / "2").exists()


def test_a_model_is_named_after_its_data_unless_named(tmp_path: Path) -> None:
    """`--dataset digits` writes model "digits", never a version of "mnist" (whatever the
    service's MODEL_NAME is); `--model-name` still decides when given."""
    args = ["--dataset", "digits", "--hidden", "16", "--epochs", "1", "--no-report",
            "--model-dir", str(tmp_path)]
    named_by_data = run_trainer(*args, env={"MODEL_NAME": "mnist"})
    assert named_by_data.returncode == 0, named_by_data.stderr
    assert list_versions(tmp_path, "digits") == [1] and list_versions(tmp_path, "mnist") == []
    manifest = load_bundle(tmp_path / "digits" / "1.npz").manifest
    assert manifest.model_name == "digits"
    assert manifest.input.recipe.name == "optdigits"
    assert manifest.input.value_range == (0.0, 16.0)

    named = run_trainer(*args, "--model-name", "eight")
    assert named.returncode == 0, named.stderr
    assert list_versions(tmp_path, "eight") == [1]


@pytest.mark.parametrize("args, message", [
    (["--hidden", "0,3"], "hidden sizes must be positive"),
    (["--hidden", "a"], "expected sizes like 128,32"),
    (["--model-name", "../escape"], "invalid --model-name"),
    (["--activation", "swish"], "invalid choice"),
    (["--epochs", "0"], "epochs must be >= 1"),
    (["--scale", "1.5"], "scale < 1"), (["--thickness", "-1"], ">= 0"),
    (["--dropout", "1"], "dropout"), (["--schedule", "step"], "invalid choice"),
    (["--outlier-kinds", "glyphs,letters"], "outlier kinds"),
])
def test_bad_options_exit_2_with_a_message(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_trainer("--dataset", "digits", "--model-dir", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not any(tmp_path.iterdir())


def test_offline_without_data_exits_1_saying_where_to_put_the_files(tmp_path: Path) -> None:
    result = run_trainer("--model-dir", str(tmp_path / "models"),
                         env={"MNIST_DIR": str(tmp_path / "mnist"),
                              "MNIST_MIRRORS": "http://127.0.0.1:9/"})
    assert result.returncode == 1
    assert "cannot download train-images-idx3-ubyte.gz" in result.stderr
    assert f"in {tmp_path / 'mnist'} or point MNIST_DIR" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "models").exists()


def test_unwritable_model_dir_exits_1(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_trainer("--dataset", "digits", "--epochs", "1", "--model-dir", str(blocker))
    assert result.returncode == 1
    assert "cannot save the model" in result.stderr and "Traceback" not in result.stderr


def test_openml_source_offline_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    dead_proxy = "http://127.0.0.1:9"  # every HTTP(S) request is refused at once: offline
    result = run_trainer("--data-source", "openml", "--model-dir", str(tmp_path),
                         env={"https_proxy": dead_proxy, "http_proxy": dead_proxy,
                              "HTTPS_PROXY": dead_proxy, "HTTP_PROXY": dead_proxy,
                              "SCIKIT_LEARN_DATA": str(tmp_path / "sklearn")})
    assert result.returncode == 1
    assert "cannot fetch mnist_784 from OpenML" in result.stderr
    assert "Traceback" not in result.stderr


def test_augmentation_and_regularisation_options_reach_the_manifest(tmp_path: Path) -> None:
    result = run_trainer("--dataset", "digits", "--hidden", "32", "--epochs", "2",
                         "--rotation", "12", "--shear", "0.2", "--elastic-alpha", "2",
                         "--elastic-sigma", "1.5", "--thickness", "0.5", "--styles", "0.5",
                         "--dropout", "0.1",
                         "--schedule", "cosine", "--ema", "0.9", "--model-dir", str(tmp_path),
                         "--model-name", "aug", "--no-report")
    assert result.returncode == 0, result.stderr
    bundle = load_bundle(tmp_path / "aug" / "1.npz")
    training = bundle.manifest.training
    assert training["augment"] == {"rotation": 12.0, "scale": 0.0, "shear": 0.2, "translate": 0.0,
                                   "elastic_alpha": 2.0, "elastic_sigma": 1.5, "thickness": 0.5,
                                   "fraction": 1.0, "styles": 0.5}
    assert (training["dropout"], training["schedule"], training["ema"]) == (0.1, "cosine", 0.9)
    assert len(training["epoch_seconds"]) == 2
    assert bundle.manifest.calibration.temperature == bundle.model.temperature > 0
    assert "test_ece" in bundle.manifest.metrics


def test_presets_carry_their_augmentation_and_no_augment_turns_it_off() -> None:
    from trainer.cli import build_parser, config_from_args

    default = config_from_args(build_parser().parse_args([]))
    assert default.augment.enabled
    best = config_from_args(build_parser().parse_args(["--preset", "best"]))
    assert best.augment.enabled and best.epochs > default.epochs
    plain = config_from_args(build_parser().parse_args(["--no-augment", "--rotation", "5"]))
    assert plain.augment.rotation == 5 and plain.augment.elastic_alpha == 0  # only what is given
    assert not config_from_args(build_parser().parse_args(["--no-augment"])).augment.enabled
    kinds = build_parser().parse_args(["--outlier-kinds", "glyphs,characters,turned"])
    assert config_from_args(kinds).outlier_kinds == ("glyphs", "characters", "turned")
