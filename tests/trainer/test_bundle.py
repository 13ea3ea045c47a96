"""The bundle format: exact round trip, atomic writes, and a clear refusal of anything broken."""

import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from shared import bundle as bundle_module
from shared.bundle import (
    BundleError,
    list_versions,
    load_bundle,
    save_new_version,
    version_path,
    write_bundle,
)
from shared.model import Model


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
    saved = save_new_version(tmp_path, "digits", model, {"metrics": {"test_accuracy": 0.5}},
                             image_shape=(2, 3))
    loaded = load_bundle(saved.path)
    assert saved.path == tmp_path / "digits" / "1.npz"
    assert (loaded.name, loaded.version) == ("digits", 1)
    for a, b in zip([*model.weights, *model.biases], [*loaded.model.weights, *loaded.model.biases]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert loaded.model.hidden_activations == ["relu"]
    assert loaded.manifest["metrics"] == {"test_accuracy": 0.5}
    assert loaded.manifest["input"]["image_shape"] == [2, 3]
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
        write_bundle(paths[0], small_model(), {"x": 1})
    assert load_bundle(paths[0]).version == 1  # untouched


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
    monkeypatch.setattr(bundle_module.os, "fsync", crash)
    with pytest.raises(OSError, match="disk on fire"):
        save_new_version(tmp_path, "m", small_model(), {})
    assert list((tmp_path / "m").iterdir()) == []


WRITER = """
import sys, numpy as np
from shared.bundle import save_new_version
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
