"""The bundle format: exact round trip, atomic writes, and a clear refusal of anything broken."""

import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from shared import bundle as bundle_module
from shared import storage
from shared.bundle import build_manifest, load_bundle, write_bundle
from shared.errors import BundleError
from shared.manifest import READABLE_FORMATS
from shared.model import Model
from shared.recipes import RECIPES
from shared.repository import list_versions, save_new_version, version_path
from trainer.job import JobOptions, run_training_job
from trainer.network import TrainingConfig


def small_model(seed: int = 0, sizes=(6, 5, 3)) -> Model:
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(size=b).astype(np.float32) for b in sizes[1:]]
    return Model(weights, biases, ["relu"] * (len(sizes) - 2), 0.0, 255.0, list(range(sizes[-1])))


def rewrite(path: Path, change) -> None:
    """Load a bundle's arrays and manifest, let `change(arrays, manifest)` edit them, save back."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    manifest = json.loads(arrays.pop("manifest").tobytes())
    change(arrays, manifest)
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_round_trip_is_exact(tmp_path: Path) -> None:
    model = small_model()
    manifest = build_manifest(model, "digits", 1, {"metrics": {"test_accuracy": 0.5}})
    manifest = replace(manifest, input=replace(manifest.input, image_shape=(2, 3)))  # no recipe
    saved = write_bundle(version_path(tmp_path, "digits", 1), model, manifest)
    loaded = load_bundle(saved.path)
    assert saved.path == tmp_path / "digits" / "1.npz"
    assert (loaded.name, loaded.version) == ("digits", 1)
    for a, b in zip([*model.weights, *model.biases], [*loaded.model.weights, *loaded.model.biases]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert loaded.model.hidden_activations == ["relu"]
    assert loaded.manifest == saved.manifest
    assert loaded.manifest.metrics == {"test_accuracy": 0.5}
    assert loaded.input.image_shape == (2, 3)
    x = np.random.default_rng(1).integers(0, 256, size=(4, 6))
    np.testing.assert_array_equal(model.predict_proba(x), loaded.model.predict_proba(x))


def test_a_bundle_is_a_plain_npz_readable_without_pickle(tmp_path: Path) -> None:
    path = save_new_version(tmp_path, "m", small_model(), {}).path
    with np.load(path, allow_pickle=False) as npz:
        manifest = json.loads(npz["manifest"].tobytes().decode())
        assert manifest["architecture"]["layer_sizes"] == [6, 5, 3]
        assert npz["weights_0"].shape == (6, 5)


def test_versions_increase_and_never_overwrite(tmp_path: Path) -> None:
    paths = [save_new_version(tmp_path, "m", small_model(seed), {}).path for seed in range(3)]
    assert [p.name for p in paths] == ["1.npz", "2.npz", "3.npz"]
    assert list_versions(tmp_path, "m") == [1, 2, 3]
    with pytest.raises(FileExistsError):
        write_bundle(paths[0], small_model(9), build_manifest(small_model(9), "m", 1, {}))
    assert np.array_equal(load_bundle(paths[0]).model.weights[0], small_model(0).weights[0])  # untouched


def test_other_files_are_not_versions(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    for name in ["0.npz", "x.npz", "1.npz.partial", ".1.abc.partial", "01.npz", "2.npy"]:
        (tmp_path / "m" / name).write_bytes(b"")
    assert list_versions(tmp_path, "m") == []


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".hidden", "x" * 80])
def test_model_names_that_could_be_paths_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(BundleError, match="invalid model name"):
        version_path(tmp_path, name, 1)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_new_version(tmp_path, "m", small_model(), {}).path


def test_truncated_file_is_refused(saved: Path) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="not a readable .npz"):
        load_bundle(saved)


def test_flipped_bit_in_weights_is_refused(saved: Path) -> None:
    # Rewrite without compression so the weights' bytes sit in the file as they are, then flip
    # one bit inside weights_0's data: the zip container stays valid, the checksum does not.
    with zipfile.ZipFile(saved) as z:
        members = {n: z.read(n) for n in z.namelist()}
    weights = bytearray(members["weights_0.npy"])
    weights[-3] ^= 0x10
    members["weights_0.npy"] = bytes(weights)
    with zipfile.ZipFile(saved, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(BundleError, match="weights_0 does not match its SHA-256"):
        load_bundle(saved)


def test_flipped_byte_anywhere_is_refused(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    for offset in range(0, len(data), max(1, len(data) // 40)):
        corrupt = data.copy()
        corrupt[offset] ^= 0xFF
        saved.write_bytes(corrupt)
        try:
            load_bundle(saved)
        except BundleError:
            continue
        # A flip in zip padding or an unused header field may leave the content intact:
        # then it must load to exactly the original model.
        assert np.array_equal(load_bundle(saved).model.weights[0], small_model().weights[0])


def test_wrong_format_version_is_refused(saved: Path) -> None:
    rewrite(saved, lambda arrays, manifest: manifest.update(format_version=99))
    with pytest.raises(BundleError, match="format version 99 is not supported"):
        load_bundle(saved)


@pytest.mark.parametrize("change, message", [
    (lambda a, m: a.pop("biases_1"), "do not match the architecture"),
    (lambda a, m: a.update(extra=np.zeros(2)), "do not match the architecture"),
    (lambda a, m: a.update(weights_0=np.zeros((5, 6), np.float32)), "shape"),
    (lambda a, m: a.update(weights_0=np.zeros((6, 5))), "dtype"),
    (lambda a, m: m["architecture"].update(layer_sizes=[6, 4, 3]), "shape"),
    (lambda a, m: m["architecture"].update(activations=["swish"]), "unknown activation"),
    (lambda a, m: m.update(classes=[0, 1]), "2 classes"),
    (lambda a, m: m.pop("architecture"), "malformed manifest"),
    (lambda a, m: m.update(model_version=7), "file name says version 1"),
])
def test_inconsistent_bundles_are_refused(saved: Path, change, message: str) -> None:
    rewrite(saved, change)
    with pytest.raises(BundleError, match=message):
        load_bundle(saved)


def test_nan_weights_are_refused(saved: Path) -> None:
    def poison(arrays, manifest):
        arrays["weights_1"] = arrays["weights_1"].copy()
        arrays["weights_1"][0, 0] = np.nan
        manifest["arrays"]["weights_1"]["sha256"] = bundle_module.array_sha256(arrays["weights_1"])
    rewrite(saved, poison)
    with pytest.raises(BundleError, match="NaN"):
        load_bundle(saved)


def test_pickled_object_is_refused_not_run(saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    rewrite(saved, lambda arrays, manifest: arrays.update(
        weights_0=np.array([Exploit()], dtype=object)))
    with pytest.raises(BundleError, match="not a readable .npz"):
        load_bundle(saved)
    assert not marker.exists()


def test_missing_file_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot read"):
        load_bundle(tmp_path / "1.npz")


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def crash(fd):
        raise OSError("disk on fire")
    monkeypatch.setattr(storage.os, "fsync", crash)
    with pytest.raises(OSError, match="disk on fire"):
        save_new_version(tmp_path, "m", small_model(), {})
    assert list((tmp_path / "m").iterdir()) == []


WRITER = """
import sys, numpy as np
from shared.repository import save_new_version
from shared.model import Model
rng = np.random.default_rng(0)
big = rng.normal(size=(4000, 6000)).astype(np.float32)  # ~96 MB: the write takes a while
model = Model([big], [np.zeros(6000, np.float32)], [], 0.0, 1.0, list(range(6000)))
print("writing", flush=True)
save_new_version(sys.argv[1], "m", model, {})
print("done", flush=True)
"""


def test_writer_killed_mid_write_leaves_no_loadable_partial(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    partial = None
    for _ in range(2000):  # until the temp file shows up (bounded: ~2 s)
        partial = next((tmp_path / "m").glob("*.partial"), None) if (tmp_path / "m").exists() else None
        if partial:
            break
        os.sched_yield()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    # The kill landed mid-write or after: either way, every version present loads whole.
    versions = list_versions(tmp_path, "m")
    for v in versions:
        assert load_bundle(version_path(tmp_path, "m", v)).model.weights[0].shape == (4000, 6000)
    if partial is not None and not versions:
        assert not (tmp_path / "m" / "1.npz").exists()


def test_saving_removes_temp_files_left_by_a_dead_writer(tmp_path: Path) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    stale, fresh = directory / ".1.abc.partial", directory / ".1.def.partial"
    for partial in (stale, fresh):
        partial.write_bytes(b"half a bundle")
    two_hours_ago = os.path.getmtime(stale) - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    save_new_version(tmp_path, "m", small_model(), {})
    assert not stale.exists()
    assert fresh.exists()  # may belong to a writer still at work
    assert list_versions(tmp_path, "m") == [1]


# --- the input contract ----------------------------------------------------------------------

def test_a_recipe_sets_the_input_contract(tmp_path: Path) -> None:
    bundle = save_new_version(tmp_path, "d", small_model(sizes=(64, 5, 10)), {}, recipe="optdigits")
    loaded = load_bundle(bundle.path)
    assert loaded.input == bundle.input
    assert loaded.input.to_dict() == {
        "shape": [64], "image_shape": [8, 8], "range": [0.0, 16.0],
        "preprocessing": RECIPES["optdigits"].to_dict()}
    assert loaded.input.recipe is RECIPES["optdigits"]


def test_without_a_recipe_the_model_takes_numbers_in_its_scaling_range(tmp_path: Path) -> None:
    loaded = load_bundle(save_new_version(tmp_path, "m", small_model(), {}).path)
    assert (loaded.input.size, loaded.input.image_shape, loaded.input.recipe) == (6, None, None)
    assert loaded.input.value_range == (0.0, 255.0)


def as_format_1(path: Path, image_shape) -> None:
    """Rewrite a bundle's manifest as the format-1 writer wrote it: no range, no preprocessing."""
    def change(arrays, manifest):
        manifest["format_version"] = 1
        manifest["input"] = {"shape": manifest["input"]["shape"], "image_shape": image_shape,
                             "scaling": manifest["input"]["scaling"]}
    rewrite(path, change)


@pytest.mark.parametrize("sizes, image_shape, recipe", [
    ((784, 5, 10), [28, 28], "mnist"), ((64, 5, 10), [8, 8], "optdigits"), ((6, 5, 3), [2, 3], None),
    ((6, 5, 3), None, None)])
def test_format_1_bundles_load_with_the_recipe_their_image_shape_names(tmp_path, sizes, image_shape,
                                                                       recipe) -> None:
    assert 1 in READABLE_FORMATS
    path = save_new_version(tmp_path, "old", small_model(sizes=sizes), {}).path
    as_format_1(path, image_shape)
    loaded = load_bundle(path)
    assert loaded.input.recipe is (RECIPES[recipe] if recipe else None)
    assert loaded.input.image_shape == (tuple(image_shape) if image_shape else None)
    assert loaded.input.value_range == (RECIPES[recipe].value_range if recipe else (0.0, 255.0))


@pytest.mark.parametrize("change, message", [
    (lambda a, m: m["input"].update(shape=[7]), "does not match the first layer's 6 inputs"),
    (lambda a, m: m["input"].update(image_shape=[3, 3]), "does not lay out 6 inputs"),
    (lambda a, m: m["input"].update(range=[5, 5]), "not a finite interval"),
    (lambda a, m: m["input"].update(preprocessing={"recipe": "fashion"}), "unknown preprocessing recipe"),
    (lambda a, m: m["input"].update(image_shape=[2, 3], preprocessing={"recipe": "mnist"}),
     "recipe 'mnist' makes [28, 28] images"),
    (lambda a, m: m.update(classes=[0, 0, 1]), "distinct integers"),
    (lambda a, m: m.update(classes=["a", "b", "c"]), "distinct integers"),
])
def test_a_contract_the_model_cannot_keep_is_refused(saved: Path, change, message: str) -> None:
    rewrite(saved, change)
    with pytest.raises(BundleError, match=re.escape(message)):
        load_bundle(saved)


# --- the writer runs the reader's checks -------------------------------------------------------

def poisoned(model: Model) -> Model:
    model.weights[1] = model.weights[1].copy()
    model.weights[1][0, 0] = np.nan
    return model


@pytest.mark.parametrize("model, recipe, message", [
    (poisoned(small_model()), None, "weights_1 holds NaN"),
    (small_model(), "fashion", "unknown preprocessing recipe 'fashion'"),
    (small_model(), "mnist", "image_shape [28, 28] does not lay out 6 inputs"),
    (Model(small_model().weights, small_model().biases, ["relu"], 0.0, 255.0, [0, 1]), None, "2 classes"),
    (Model(small_model().weights, small_model().biases, ["swish"], 0.0, 255.0, [0, 1, 2]), None,
     "unknown activation"),
    (Model([w.astype(np.float64) * 1e300 for w in small_model().weights], small_model().biases,
           ["relu"], 0.0, 255.0, [0, 1, 2]), None, "NaN or infinite"),  # beyond float32
])
def test_the_writer_refuses_what_the_reader_would_before_writing(tmp_path: Path, model, recipe,
                                                                 message) -> None:
    with pytest.raises(BundleError, match=re.escape(message)):
        save_new_version(tmp_path, "m", model, {}, recipe=recipe)
    assert not (tmp_path / "m").exists() or list((tmp_path / "m").iterdir()) == []


def test_a_float64_run_saves_a_loadable_float32_bundle(tmp_path: Path, digits) -> None:
    """The gradient check trains in float64; saving such a network stores it as float32."""
    config = TrainingConfig.plain(hidden=(16,), epochs=3, batch_size=32, dtype="float64")
    result = run_training_job(config, digits, tmp_path, "digits", JobOptions(report=False))
    loaded = load_bundle(result.bundle.path)
    assert all(w.dtype == np.float32 for w in [*loaded.model.weights, *loaded.model.biases])
    x = digits.x_test.astype(np.float64)
    assert np.array_equal(loaded.model.predict_proba(x), result.bundle.model.predict_proba(x))
    assert (loaded.model.predict(x) == digits.y_test).mean() == pytest.approx(
        result.metrics["test_accuracy"], abs=0.01)
