"""Broken bundles, each made from a good one the way real damage or a hostile file would look.

Every maker takes the good bundle's file and the version to claim, and returns the bytes of a
bundle that `load_bundle` must refuse, with a fragment of the reason it must give.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shared.bundle import MANIFEST_KEY, array_sha256

PICKLE_MARKER_ENV = "DIGITNET_PICKLE_MARKER"
INFLATED_BYTES = 256 * 1024 * 1024
ZEROS = bytes(1024 * 1024)


class RunsCodeWhenUnpickled:
    """Unpickling this creates the file named by $DIGITNET_PICKLE_MARKER: proof that code ran."""

    def __reduce__(self):
        return (os.system, (f'touch "${PICKLE_MARKER_ENV}"',))


def read_npz(data: bytes) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return arrays, json.loads(arrays.pop(MANIFEST_KEY).tobytes())


def write_npz(arrays: dict[str, np.ndarray], manifest: dict | None) -> bytes:
    buffer = io.BytesIO()
    extra = {} if manifest is None else {
        MANIFEST_KEY: np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)}
    np.savez(buffer, **arrays, **extra)
    return buffer.getvalue()


def _edited(good: bytes, version: int, edit: Callable[[dict, dict], None]) -> bytes:
    arrays, manifest = read_npz(good)
    manifest["model_version"] = version
    edit(arrays, manifest)
    return write_npz(arrays, manifest)


def truncated(good: bytes, version: int) -> bytes:
    return _edited(good, version, lambda a, m: None)[: len(good) // 2]


def flipped_byte(good: bytes, version: int) -> bytes:
    """One bit of a weight flipped inside the file, as a bad disk or copy would."""
    data = bytearray(_edited(good, version, lambda a, m: None))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("weights_0.npy")
    # Inside weights_0's data: past the local file header and the .npy header (< 200 bytes).
    data[info.header_offset + 400] ^= 0x01
    return bytes(data)


def _restamp(arrays: dict, manifest: dict, key: str) -> None:
    """Record the array's real checksum, so only the check under test can catch it."""
    manifest["arrays"][key]["sha256"] = array_sha256(arrays[key])


def nan_weights(good: bytes, version: int) -> bytes:
    def edit(arrays, manifest):
        arrays["weights_0"] = arrays["weights_0"].copy()
        arrays["weights_0"][3, 5] = np.nan
        _restamp(arrays, manifest, "weights_0")
    return _edited(good, version, edit)


def wrong_format_version(good: bytes, version: int) -> bytes:
    return _edited(good, version, lambda a, m: m.update(format_version=99))


def missing_array(good: bytes, version: int) -> bytes:
    return _edited(good, version, lambda a, m: a.pop("biases_0"))


def extra_array(good: bytes, version: int) -> bytes:
    return _edited(good, version, lambda a, m: a.update(backdoor=np.zeros(3, np.float32)))


def manifest_lies_about_shapes(good: bytes, version: int) -> bytes:
    """The manifest claims a smaller hidden layer than the arrays have (checksums kept true)."""
    def edit(arrays, manifest):
        sizes = manifest["architecture"]["layer_sizes"]
        sizes[1] //= 2
        manifest["arrays"]["weights_0"]["shape"] = [sizes[0], sizes[1]]
    return _edited(good, version, edit)


def arrays_lie_about_shapes(good: bytes, version: int) -> bytes:
    """Arrays cut to half the hidden layer, manifest checksums recomputed to match them."""
    def edit(arrays, manifest):
        half = arrays["weights_0"].shape[1] // 2
        arrays["weights_0"] = np.ascontiguousarray(arrays["weights_0"][:, :half])
        _restamp(arrays, manifest, "weights_0")
    return _edited(good, version, edit)


def pickled_object(good: bytes, version: int) -> bytes:
    """An object array that would run a command when unpickled, among the real arrays."""
    arrays, manifest = read_npz(good)
    manifest["model_version"] = version
    arrays["payload"] = np.array([RunsCodeWhenUnpickled()], dtype=object)
    return write_npz(arrays, manifest)


def pickled_manifest(good: bytes, version: int) -> bytes:
    """The manifest itself replaced by a pickle."""
    arrays, _ = read_npz(good)
    arrays[MANIFEST_KEY] = np.array([RunsCodeWhenUnpickled()], dtype=object)
    return write_npz(arrays, None)


def wrong_version_in_manifest(good: bytes, version: int) -> bytes:
    """A copy of another version's file: the name and the manifest disagree."""
    return _edited(good, version + 1000, lambda a, m: None)


def deflated(good: bytes, version: int) -> bytes:
    """A small file whose weights_0 inflates to INFLATED_BYTES: read whole, a zip bomb."""
    arrays, manifest = read_npz(_edited(good, version, lambda a, m: None))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, array in {**arrays, MANIFEST_KEY: np.frombuffer(json.dumps(manifest).encode(), np.uint8)
                           }.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array)
                if key == "weights_0":
                    for _ in range(INFLATED_BYTES // len(ZEROS)):
                        member.write(ZEROS)
    return buffer.getvalue()


def not_a_zip(good: bytes, version: int) -> bytes:
    return b"\x93NUMPY" + os.urandom(2000)


# name -> (maker, a fragment of the reason the service must log)
BROKEN_BUNDLES: dict[str, tuple[Callable[[bytes, int], bytes], str]] = {
    "truncated file": (truncated, "not a readable .npz"),
    "flipped byte": (flipped_byte, "weights_0"),
    "wrong format version": (wrong_format_version, "format version 99 is not supported"),
    # Refused by its name, before its header is read: nothing of it is unpickled.
    "pickled object inside": (pickled_object, "do not match the architecture"),
    "pickled manifest": (pickled_manifest, "allow_pickle=False"),
    "missing array": (missing_array, "do not match the architecture"),
    "extra array": (extra_array, "do not match the architecture"),
    "NaN weights": (nan_weights, "NaN or infinite"),
    "manifest lies about shapes": (manifest_lies_about_shapes, "shape"),
    "arrays cut short": (arrays_lie_about_shapes, "shape"),
    "manifest names another version": (wrong_version_in_manifest, "manifest says"),
    "not a zip at all": (not_a_zip, "not a readable .npz"),
    "deflated to inflate to 256 MiB": (deflated, "is compressed"),
}


def symlink_to_dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def fifo(path: Path) -> None:
    os.mkfifo(path)


# Files no copy tool makes, made in place: name -> (maker, a fragment of the reason).
SPECIAL_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "symbolic link to /dev/zero": (symlink_to_dev_zero, "is a symbolic link"),
    "FIFO": (fifo, "not a regular file"),
}


def place(model_dir: Path, version: int, data: bytes) -> Path:
    """Put a file in the model directory the way a copy tool finishing its job would: rename."""
    directory = Path(model_dir) / "mnist"
    tmp = directory / f".incoming-{version}"
    tmp.write_bytes(data)
    path = directory / f"{version}.npz"
    os.replace(tmp, path)
    return path
