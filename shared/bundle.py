"""The model bundle: one `.npz` file holding a trained model and everything known about it.

Layout on disk, like TF Serving's version directories:

    $MODEL_DIR/<model-name>/<version>.npz        version = 1, 2, 3, ...

Inside the file (a plain NumPy `.npz`, readable with `np.load(path, allow_pickle=False)`):

    weights_0, biases_0, weights_1, biases_1, ...   float32 arrays, one pair per layer
    manifest                                        uint8 array: UTF-8 JSON (see README)

The manifest records the format version, architecture, input scaling, classes, training
configuration, metrics, data checksums and a SHA-256 of every array. Writing is atomic and never
replaces an existing version; loading verifies everything and raises `BundleError` naming the
problem, so a bundle that loads is a bundle that is whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from shared.model import Model

FORMAT_NAME = "digitnet-bundle"
FORMAT_VERSION = 1
MANIFEST_KEY = "manifest"
VERSION_FILE = re.compile(r"^([1-9][0-9]{0,17})\.npz$")  # only integers are versions
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # never a path
STALE_PARTIAL_SECONDS = 3600  # a temp file this old was left by a writer that died


class BundleError(Exception):
    """A bundle could not be written or is not a valid, whole bundle."""


@dataclass(frozen=True)
class Bundle:
    model: Model
    manifest: dict[str, Any]
    path: Path

    @property
    def name(self) -> str:
        return self.manifest["model_name"]

    @property
    def version(self) -> int:
        return self.manifest["model_version"]

    @property
    def confidence_threshold(self) -> float | None:
        """Answers at least this confident were right 99.5 % of the time on held-out data."""
        return (self.manifest.get("calibration") or {}).get("confidence_threshold")


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _array_names(n_layers: int) -> list[str]:
    return [f"{kind}_{i}" for i in range(n_layers) for kind in ("weights", "biases")]


def build_manifest(model: Model, name: str, version: int, extra: dict[str, Any],
                   image_shape: tuple[int, int] | None = None) -> dict[str, Any]:
    """The manifest for `model`; `extra` adds the trainer's sections (training, metrics, data).
    `image_shape` (rows, columns) says how the flat input was laid out as an image."""
    arrays = _model_arrays(model)
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_name": name,
        "model_version": version,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "architecture": {
            "layer_sizes": model.layer_sizes,
            "activations": model.hidden_activations,
            "output": model.output_activation,
        },
        "input": {
            "shape": [model.layer_sizes[0]],
            "image_shape": list(image_shape) if image_shape else None,
            "scaling": {"method": "min-max", "min": model.input_min, "max": model.input_max},
        },
        "classes": model.classes,
        "numpy_version": np.__version__,
        "arrays": {key: {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": array_sha256(a)}
                   for key, a in arrays.items()},
        **extra,
        # The temperature is the model's: the manifest cannot say otherwise.
        "calibration": {**extra.get("calibration", {}), "temperature": model.temperature},
    }


def _model_arrays(model: Model) -> dict[str, np.ndarray]:
    pairs = zip(model.weights, model.biases)
    return {key: a for i, (w, b) in enumerate(pairs)
            for key, a in ((f"weights_{i}", w), (f"biases_{i}", b))}


def write_bundle(path: Path, model: Model, manifest: dict[str, Any], *,
                 overwrite: bool = False) -> Path:
    """Write atomically: a temp file in the same directory, fsync, then link or rename into place.

    A crash at any point leaves either no file at `path` or the whole bundle, never a part. With
    `overwrite=False` an existing file is never replaced (raises FileExistsError), so two trainers
    cannot both claim one version.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest_bytes = np.frombuffer(json.dumps(manifest, indent=1).encode(), dtype=np.uint8)
    # The temp name does not match VERSION_FILE, so a watcher never picks up a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **_model_arrays(model), **{MANIFEST_KEY: manifest_bytes})
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if `path` exists, unlike rename
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_versions(model_dir: Path, name: str) -> list[int]:
    """Versions present for model `name`, ascending. Files not named `<integer>.npz` are ignored."""
    directory = Path(model_dir) / name
    if not directory.is_dir():
        return []
    found = (VERSION_FILE.match(p.name) for p in directory.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def version_path(model_dir: Path, name: str, version: int) -> Path:
    if not MODEL_NAME.match(name):
        raise BundleError(f"invalid model name {name!r}: letters, digits, '_', '-', '.' only")
    return Path(model_dir) / name / f"{int(version)}.npz"


def remove_stale_partials(directory: Path, older_than_seconds: float = STALE_PARTIAL_SECONDS) -> None:
    """Delete temp files that a killed writer left behind. Only old ones: a young one may belong
    to a writer still at work."""
    cutoff = time.time() - older_than_seconds
    for partial in Path(directory).glob(".*.partial"):
        try:
            if partial.stat().st_mtime < cutoff:
                partial.unlink()
        except FileNotFoundError:
            pass  # another trainer cleaned it first


def save_new_version(model_dir: Path, name: str, model: Model, extra: dict[str, Any],
                     image_shape: tuple[int, int] | None = None) -> Bundle:
    """Save `model` as the next version of `name` (one above the highest present)."""
    remove_stale_partials(version_path(model_dir, name, 1).parent)
    for _ in range(100):  # bounded: another trainer may take the version we picked
        version = max(list_versions(model_dir, name), default=0) + 1
        manifest = build_manifest(model, name, version, extra, image_shape)
        path = version_path(model_dir, name, version)
        try:
            write_bundle(path, model, manifest)
        except FileExistsError:
            continue
        return Bundle(model, manifest, path)
    raise BundleError(f"could not claim a new version in {Path(model_dir) / name}")


def load_bundle(path: Path) -> Bundle:
    """Load and verify a bundle. Raises BundleError saying what is wrong with it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BundleError(f"{path}: cannot read: {e.strerror or e}") from e
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as e:  # a corrupt zip can raise almost anything (zlib, struct, ...)
        # allow_pickle=False turns a pickled object into a ValueError: it is refused, not run.
        raise BundleError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from e
    try:
        return _verify(path, arrays)
    except BundleError:
        raise
    except Exception as e:  # a manifest of the wrong shape: missing keys, wrong types
        raise BundleError(f"{path}: malformed manifest ({type(e).__name__}: {e})") from e


def _verify(path: Path, arrays: dict[str, np.ndarray]) -> Bundle:
    def fail(reason: str) -> BundleError:
        return BundleError(f"{path}: {reason}")

    if MANIFEST_KEY not in arrays:
        raise fail("no manifest array")
    manifest = json.loads(arrays.pop(MANIFEST_KEY).tobytes().decode("utf-8"))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise fail(f"not a {FORMAT_NAME} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise fail(f"format version {manifest.get('format_version')!r} is not supported "
                   f"(this code reads version {FORMAT_VERSION})")
    match = VERSION_FILE.match(path.name)
    if match and int(match.group(1)) != manifest["model_version"]:
        raise fail(f"file name says version {match.group(1)}, "
                   f"manifest says {manifest['model_version']}")

    arch = manifest["architecture"]
    sizes = [int(s) for s in arch["layer_sizes"]]
    n_layers = len(sizes) - 1
    hidden = list(arch["activations"])
    if n_layers < 1 or len(hidden) != n_layers - 1:
        raise fail(f"architecture has {n_layers} layers but {len(hidden)} hidden activations")
    if unknown := [a for a in hidden if a not in HIDDEN_ACTIVATIONS]:
        raise fail(f"unknown activation(s) {unknown}")
    if arch["output"] not in ACTIVATIONS:
        raise fail(f"unknown output activation {arch['output']!r}")

    expected = _array_names(n_layers)
    if sorted(arrays) != sorted(expected) or sorted(manifest["arrays"]) != sorted(expected):
        raise fail(f"arrays {sorted(arrays)} do not match the architecture's {expected}")
    for i in range(n_layers):
        shapes = {f"weights_{i}": (sizes[i], sizes[i + 1]), f"biases_{i}": (sizes[i + 1],)}
        for key, shape in shapes.items():
            a, recorded = arrays[key], manifest["arrays"][key]
            if a.shape != shape or tuple(recorded["shape"]) != shape:
                raise fail(f"{key} has shape {a.shape}, the architecture needs {shape}")
            if a.dtype != np.float32 or recorded["dtype"] != "float32":
                raise fail(f"{key} has dtype {a.dtype}, expected float32")
            if array_sha256(a) != recorded["sha256"]:
                raise fail(f"{key} does not match its SHA-256: the file is corrupt")
            if not np.isfinite(a).all():
                raise fail(f"{key} holds NaN or infinite values")

    classes = list(manifest["classes"])
    if len(classes) != sizes[-1]:
        raise fail(f"{len(classes)} classes for an output layer of {sizes[-1]}")
    temperature = float(manifest.get("calibration", {}).get("temperature", 1.0))
    if not 0 < temperature < float("inf"):
        raise fail(f"calibration temperature {temperature!r} must be a positive number")
    scaling = manifest["input"]["scaling"]
    model = Model(
        weights=[arrays[f"weights_{i}"] for i in range(n_layers)],
        biases=[arrays[f"biases_{i}"] for i in range(n_layers)],
        hidden_activations=hidden,
        input_min=float(scaling["min"]),
        input_max=float(scaling["max"]),
        classes=classes,
        output_activation=arch["output"],
        temperature=temperature,
    )
    return Bundle(model, manifest, path)


def latest_bundle_path(model_dir: Path, name: str) -> Path | None:
    versions = list_versions(model_dir, name)
    return version_path(model_dir, name, versions[-1]) if versions else None
